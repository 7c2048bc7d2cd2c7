import type { Counter, Simulator } from '@exitless/sim';
import { LVT, TIMER_MODE } from '@exitless/x86';
import type { HrTimer } from './hrtimer.js';

/** KVM's default `min_timer_period_us` (arch/x86/kvm/x86.c): the floor of a guest's periodic LAPIC timer. */
export const KVM_MIN_TIMER_PERIOD_US = 200;

/**
 * Options of a {@link VirtualApicTimer}.
 */
export interface VirtualApicTimerOptions {
  /** Its hrtimer's name, for traces. */
  readonly name: string;
  /** The simulator the hrtimer runs on. */
  readonly sim: Simulator;
  /** The guest's TSC frequency, Hz (TSC-deadline mode). */
  readonly tscHz: number;
  /** The timer's input clock, Hz (the bus clock the guest believes in). */
  readonly virtualTimerHz: number;
  /** The shortest period of a periodic timer, ps (KVM's min_timer_period_us). */
  readonly minTimerPeriodPs: number;
  /** Raises the timer's vector in the virtual LAPIC. */
  readonly raise: (vector: number) => void;
  /** The hrtimer's expiry changed: the host must reprogram its TSC deadline. */
  readonly onChange: () => void;
  /** Counts the timer's expiries. */
  readonly fires: Counter;
  /** Periodic timer periods raised to the minimum (KVM logs these as "lapic timer period limited"). */
  readonly periodLimited: Counter;
}

/**
 * The virtual LAPIC's timer, emulated on a host hrtimer as KVM's lapic timer does
 * (arch/x86/kvm/lapic.c): the guest's writes to LVT Timer, Divide Configuration, Initial
 * Count and IA32_TSC_DEADLINE arm `hrtimer`; its expiry raises the timer vector. One-shot,
 * periodic (bounded below by `min_timer_period_us`) and TSC-deadline modes (SDM vol. 3 §10.5.4).
 */
export class VirtualApicTimer {
  /** The host hrtimer the host's timer interrupt runs. */
  readonly hrtimer: HrTimer;
  private mode = 0;
  private vector = 0;
  private masked = true;
  private divisor = 2;
  private periodPs = 0;
  /** The expiry the timer is armed for, or last fired at, ps. */
  private duePs = 0;
  private initial = 0;
  private writes = 0;
  private countWrites = 0;
  private lvtValue: number = LVT.MASKED;
  private divideValue = 0;
  private readonly options: VirtualApicTimerOptions;

  constructor(options: VirtualApicTimerOptions) {
    this.options = options;
    this.hrtimer = { expires: -1, name: options.name, fire: (now) => this.expired(now) };
  }

  /** The initial count last written (TMICT). */
  get initialCount(): number {
    return this.initial;
  }

  /** A write to the LVT Timer register (already stored by the LAPIC model). */
  setLvt(value: number): void {
    this.writes++;
    this.lvtValue = value >>> 0;
    this.vector = value & LVT.VECTOR_MASK;
    this.masked = (value & LVT.MASKED) !== 0;
    const mode = (value >>> LVT.TIMER_MODE_SHIFT) & 3;
    if (mode === this.mode) return;
    const deadline = TIMER_MODE.TSC_DEADLINE;
    if ((mode === deadline) !== (this.mode === deadline)) {
      // Into or out of TSC-deadline mode: the timer is disarmed and the initial count
      // cleared (SDM vol. 3 §10.5.4.1; KVM's apic_update_lvtt does the same).
      this.hrtimer.expires = -1;
      this.initial = 0;
      this.periodPs = 0;
      this.mode = mode;
      this.options.onChange();
      return;
    }
    // One-shot ↔ periodic keeps the running count; a period now in force is bounded.
    this.mode = mode;
    this.limitPeriod();
  }

  /** A write to the Divide Configuration register (SDM vol. 3 figure 10-10). */
  setDivide(value: number): void {
    this.writes++;
    this.divideValue = value & 0xb;
    const v = ((value & 8) >>> 1) | (value & 3);
    this.divisor = v === 7 ? 1 : 2 << v;
  }

  /** A write to the Initial Count register: arms (or, with 0, disarms) the timer. */
  setInitialCount(count: number): void {
    this.writes++;
    this.countWrites++;
    this.initial = count;
    if (count === 0 || this.mode === TIMER_MODE.TSC_DEADLINE) {
      this.hrtimer.expires = -1;
    } else {
      this.periodPs = Math.round((count * this.divisor * 1e12) / this.options.virtualTimerHz);
      this.limitPeriod();
      this.duePs = this.options.sim.now + this.periodPs;
      this.hrtimer.expires = this.duePs;
    }
    this.options.onChange();
  }

  /** A write to IA32_TSC_DEADLINE (ignored outside TSC-deadline mode; 0 disarms). */
  setTscDeadline(tsc: number): void {
    if (this.mode !== TIMER_MODE.TSC_DEADLINE) return;
    this.writes++;
    this.countWrites++;
    const sim = this.options.sim;
    this.hrtimer.expires = tsc === 0 ? -1 : Math.max(sim.now, Math.round((tsc * 1e12) / this.options.tscHz));
    this.options.onChange();
  }

  /** Bumped by every guest write of LVT Timer, Divide Configuration, Initial Count or IA32_TSC_DEADLINE. */
  get generation(): number {
    return this.writes;
  }

  /** Bumped by every guest write of Initial Count or IA32_TSC_DEADLINE (each starts the count again). */
  get countGeneration(): number {
    return this.countWrites;
  }

  /** The LVT Timer register as the guest last wrote it. */
  get lvt(): number {
    return this.lvtValue;
  }

  /** The Divide Configuration register as the guest last wrote it. */
  get divideConfig(): number {
    return this.divideValue;
  }

  /** The timer's mode (LVT Timer bits 18:17: TIMER_MODE). */
  get timerMode(): number {
    return this.mode;
  }

  /**
   * The Initial Count the timer runs with: as written — for a periodic timer, raised to
   * `min_timer_period_us` as the emulation does.
   */
  get runCount(): number {
    if (this.initial === 0 || this.mode !== TIMER_MODE.PERIODIC) return this.initial;
    return Math.max(1, Math.round((this.periodPs * this.options.virtualTimerHz) / (this.divisor * 1e12)));
  }

  /** The armed TSC deadline as a TSC value (TSC-deadline mode), or 0 when none is armed. */
  get deadlineTsc(): number {
    if (this.mode !== TIMER_MODE.TSC_DEADLINE || this.hrtimer.expires < 0) return 0;
    return Math.max(1, Math.ceil((this.hrtimer.expires * this.options.tscHz) / 1e12));
  }

  /**
   * Stops the emulation's hrtimer: the physical LAPIC timer, programmed as the guest programmed
   * this one, runs it instead (a design that gives the guest the core's timer: did). A guest
   * write re-arms it (and bumps `generation`).
   */
  disarm(): void {
    this.hrtimer.expires = -1;
  }

  /** The Current Count register. */
  currentCount(): number {
    if (this.initial === 0 || this.hrtimer.expires < 0 || this.periodPs === 0) return 0;
    const left = this.hrtimer.expires - this.options.sim.now;
    return Math.max(0, Math.floor((left * this.options.virtualTimerHz) / (this.divisor * 1e12)));
  }

  /**
   * KVM's limit_periodic_timer_frequency: a periodic timer's period below
   * `min_timer_period_us` (200 µs by default) is raised to it, "since the hrtimers are not
   * throttled by the host scheduler" (arch/x86/kvm/lapic.c). Without it a guest programming
   * initial count 1 at divide-by-1 (an interrupt every 7.5 ns of bus clock) keeps its
   * core in the host's timer interrupt forever.
   */
  private limitPeriod(): void {
    if (this.mode !== TIMER_MODE.PERIODIC || this.periodPs === 0) return;
    if (this.periodPs >= this.options.minTimerPeriodPs) return;
    this.periodPs = this.options.minTimerPeriodPs;
    this.options.periodLimited.inc();
  }

  /** The host hrtimer ran out: raise the timer vector (unless masked) and re-arm a periodic timer. Returns 0 cycles (the host counts). */
  private expired(now: number): number {
    this.options.fires.inc();
    if (!this.masked) this.options.raise(this.vector);
    if (this.mode === TIMER_MODE.PERIODIC && this.periodPs > 0) {
      // The next period starts at the expiry that just fired (KVM's
      // advance_periodic_target_expiration); periods the host missed are skipped, not replayed.
      let next = this.duePs + this.periodPs;
      while (next <= now) next += this.periodPs;
      this.duePs = next;
      this.hrtimer.expires = next;
    }
    return 0;
  }
}
