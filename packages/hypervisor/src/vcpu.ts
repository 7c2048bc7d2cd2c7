import { type InterruptBus, LocalApicDevice } from '@exitless/lapic';
import type { Counter, ScopedStats, Simulator } from '@exitless/sim';
import {
  APIC_REG,
  DELIVERY_MODE,
  type InterruptMessage,
  LVT,
  MSR,
  MSR_OK,
  type MsrValue,
  makeInterruptMessage,
  TIMER_MODE,
} from '@exitless/x86';
import type { HrTimer } from './hrtimer.js';
import type { Vm } from './vm.js';

/** KVM's default `min_timer_period_us` (arch/x86/kvm/x86.c): the floor of a guest's periodic LAPIC timer. */
export const KVM_MIN_TIMER_PERIOD_US = 200;

/** Timer-related virtual LAPIC registers the hypervisor emulates on a host hrtimer (KVM's lapic timer). */
const TIMER_INITIAL = APIC_REG.TIMER_INITIAL_COUNT;
const TIMER_CURRENT = APIC_REG.TIMER_CURRENT_COUNT;

/**
 * One virtual CPU: its VMCS and MSR bitmap, its virtual LAPIC (a full LAPIC model on the
 * VM's private interrupt bus, whose timer the hypervisor emulates on a host hrtimer as KVM
 * does), and the state the vCPU loop carries between an exit and the next entry.
 */
export class Vcpu {
  readonly id: number;
  readonly vm: Vm;
  /** Index of the physical CPU the vCPU is pinned to, and that CPU's APIC ID. */
  readonly pcpu: number;
  readonly pcpuApicId: number;
  readonly vmcsAddress: number;
  readonly msrBitmapAddress: number;
  /** The virtual LAPIC. */
  readonly vlapic: LocalApicDevice;
  /** The guest's emulated LAPIC timer. */
  readonly timer: HrTimer;
  /** Host vector whose handler the vCPU loop must invoke next (an acknowledged interrupt), or −1. */
  dispatchVector = -1;
  /** GPR values to load right before the next entry (an emulated RDMSR or MMIO read completes with them). */
  completeRax = -1;
  completeRdx = 0;
  /** True once VMLAUNCH succeeded. */
  launched = false;
  /** Set when the VM was stopped (an unexpected exit, a failed entry): why. */
  stopReason: string | null = null;
  /** The host hrtimer must be reprogrammed before the next entry. */
  timerReprogram = false;
  /** Re-inject this interruption information at the next entry (an event whose delivery was cut by an exit), or 0. */
  reinject = 0;
  reinjectError = 0;
  /**
   * An MSR access the host must make on the physical CPU before the next entry (a
   * strategy's request: ELI forwards an EOI to the physical LAPIC, reads its ISR). Kind 0:
   * none, 1: RDMSR, 2: WRMSR. `hostOpDone` runs with the RDMSR result and may ask for another.
   */
  hostOpKind = 0;
  hostOpIndex = 0;
  hostOpLo = 0;
  hostOpHi = 0;
  hostOpDone: ((lo: number, hi: number) => void) | null = null;

  /** Asks the vCPU loop to RDMSR `index` on the physical CPU and call `done` with the value. */
  requestHostRdmsr(index: number, done: (lo: number, hi: number) => void): void {
    this.hostOpKind = 1;
    this.hostOpIndex = index;
    this.hostOpDone = done;
  }

  /** Asks the vCPU loop to WRMSR `index` on the physical CPU (e.g. an EOI to the physical LAPIC). */
  requestHostWrmsr(index: number, lo: number, hi: number): void {
    this.hostOpKind = 2;
    this.hostOpIndex = index;
    this.hostOpLo = lo;
    this.hostOpHi = hi;
    this.hostOpDone = null;
  }

  /** A control field's value adjusted to what the CPU requires and allows (set by the hypervisor). */
  adjustControl: (field: number, desired: number) => number = (_field, desired) => desired;
  /** Free slots for a strategy's own state (ELI's mode, say). */
  mode = 0;
  modeVector = -1;

  private timerMode = 0;
  private timerVector = 0;
  private timerMasked = true;
  private timerDivisor = 2;
  private timerPeriodPs = 0;
  /** The expiry the timer is armed for, or last fired at, ps. */
  private timerDuePs = 0;
  private timerInitial = 0;
  private readonly virtualTimerHz: number;
  private readonly minTimerPeriodPs: number;
  private readonly sim: Simulator;
  private readonly msg: InterruptMessage = makeInterruptMessage();
  private readonly scratch: MsrValue = { lo: 0, hi: 0 };

  readonly injections: Counter;
  readonly virtualInterrupts: Counter;
  readonly virtualEois: Counter;
  readonly timerFires: Counter;
  /** Periodic timer periods raised to the minimum (KVM logs these as "lapic timer period limited"). */
  readonly timerPeriodLimited: Counter;

  constructor(options: {
    readonly id: number;
    readonly vm: Vm;
    readonly pcpu: number;
    readonly pcpuApicId: number;
    readonly vmcsAddress: number;
    readonly msrBitmapAddress: number;
    readonly sim: Simulator;
    readonly bus: InterruptBus;
    readonly tscHz: number;
    readonly virtualTimerHz: number;
    /** The shortest period a periodic virtual LAPIC timer may have, ps (KVM's min_timer_period_us; default 200 µs). */
    readonly minTimerPeriodPs?: number;
    readonly stats: ScopedStats;
    readonly onTimerChange: () => void;
  }) {
    this.id = options.id;
    this.vm = options.vm;
    this.pcpu = options.pcpu;
    this.pcpuApicId = options.pcpuApicId;
    this.vmcsAddress = options.vmcsAddress;
    this.msrBitmapAddress = options.msrBitmapAddress;
    this.sim = options.sim;
    this.virtualTimerHz = options.virtualTimerHz;
    this.minTimerPeriodPs = options.minTimerPeriodPs ?? KVM_MIN_TIMER_PERIOD_US * 1e6;
    this.vlapic = new LocalApicDevice({
      sim: options.sim,
      bus: options.bus,
      apicId: options.id,
      tscHz: options.tscHz,
      timerHz: options.virtualTimerHz,
      bsp: options.id === 0,
      name: `${options.vm.name}.vcpu${options.id}.vlapic`,
    });
    const s = options.stats;
    this.injections = s.counter('injections');
    this.virtualInterrupts = s.counter('virtual-interrupts');
    this.virtualEois = s.counter('virtual-eois');
    this.timerFires = s.counter('timer-fires');
    this.timerPeriodLimited = s.counter('timer-period-limited');
    this.timer = {
      expires: -1,
      name: `${options.vm.name}.vcpu${options.id}.lapic-timer`,
      fire: (now) => this.timerExpired(now),
    };
    this.onTimerChange = options.onTimerChange;
  }

  private readonly onTimerChange: () => void;

  /** Raises a fixed, edge-triggered virtual interrupt in the virtual LAPIC's IRR. */
  raise(vector: number): void {
    const m = this.msg;
    m.vector = vector;
    m.deliveryMode = DELIVERY_MODE.FIXED;
    m.triggerMode = 0;
    m.level = 1;
    m.destMode = 0;
    m.destination = this.id;
    this.vlapic.acceptInterrupt(m);
    this.virtualInterrupts.inc();
  }

  /** Emulates a guest WRMSR to an x2APIC MSR or IA32_APIC_BASE; returns the vector EOI'd (≥ 0), −1 otherwise, −2 on #GP. */
  writeApicMsr(index: number, lo: number, hi: number): number {
    if (index === MSR.X2APIC_EOI) {
      const before = this.highestInService();
      if (this.vlapic.writeMsr(index, lo, hi) !== MSR_OK) return -2;
      this.virtualEois.inc();
      return before;
    }
    if (index === 0x800 + (TIMER_INITIAL >>> 4)) {
      // Emulated here, not in the virtual LAPIC: its x2APIC rules still apply (a 32-bit
      // register: bits 63:32 reserved; no x2APIC MSR outside x2APIC mode, SDM §10.12.1.2).
      if (!this.vlapic.x2apicMode || hi !== 0) return -2;
      this.setTimerInitial(lo >>> 0);
      return -1;
    }
    if (index === MSR.IA32_TSC_DEADLINE) {
      this.setTscDeadline(hi * 4294967296 + (lo >>> 0));
      return -1;
    }
    if (this.vlapic.writeMsr(index, lo, hi) !== MSR_OK) return -2;
    if (index === 0x800 + (APIC_REG.LVT_TIMER >>> 4)) this.setTimerLvt(lo >>> 0);
    else if (index === 0x800 + (APIC_REG.TIMER_DIVIDE_CONFIG >>> 4)) this.setTimerDivide(lo >>> 0);
    return -1;
  }

  /** Emulates a guest RDMSR; the value lands in `out`. False means #GP. */
  readApicMsr(index: number, out: MsrValue): boolean {
    const timerRegister = index === 0x800 + (TIMER_CURRENT >>> 4) || index === 0x800 + (TIMER_INITIAL >>> 4);
    if (timerRegister && !this.vlapic.x2apicMode) return false;
    if (index === 0x800 + (TIMER_CURRENT >>> 4)) {
      out.lo = this.timerCurrentCount();
      out.hi = 0;
      return true;
    }
    if (index === 0x800 + (TIMER_INITIAL >>> 4)) {
      out.lo = this.timerInitial;
      out.hi = 0;
      return true;
    }
    return this.vlapic.readMsr(index, out) === MSR_OK;
  }

  /** Emulates a guest access to the xAPIC page (an APIC-access exit). Returns the vector EOI'd on an EOI write, else −1. */
  writeApicMmio(offset: number, value: number): number {
    if (offset === APIC_REG.EOI) {
      const before = this.highestInService();
      this.vlapic.mmioWrite(offset, 4, value);
      this.virtualEois.inc();
      return before;
    }
    if (offset === TIMER_INITIAL) {
      this.setTimerInitial(value >>> 0);
      return -1;
    }
    this.vlapic.mmioWrite(offset, 4, value);
    if (offset === APIC_REG.LVT_TIMER) this.setTimerLvt(value >>> 0);
    else if (offset === APIC_REG.TIMER_DIVIDE_CONFIG) this.setTimerDivide(value >>> 0);
    return -1;
  }

  readApicMmio(offset: number): number {
    if (offset === TIMER_CURRENT) return this.timerCurrentCount();
    if (offset === TIMER_INITIAL) return this.timerInitial;
    return this.vlapic.mmioRead(offset, 4);
  }

  /** The highest vector in the virtual ISR, or −1. */
  highestInService(): number {
    return this.highestIn(MSR.X2APIC_ISR0, APIC_REG.ISR0);
  }

  /** The highest vector in the virtual IRR (deliverable or not), or −1. */
  highestPending(): number {
    return this.highestIn(MSR.X2APIC_IRR0, APIC_REG.IRR0);
  }

  private highestIn(msr0: number, offset0: number): number {
    const out = this.scratch;
    const x2 = this.vlapic.x2apicMode;
    for (let i = 7; i >= 0; i--) {
      let w = 0;
      if (x2) {
        this.vlapic.readMsr(msr0 + i, out);
        w = out.lo >>> 0;
      } else {
        w = this.vlapic.mmioRead(offset0 + i * 0x10, 4) >>> 0;
      }
      if (w !== 0) return i * 32 + 31 - Math.clz32(w);
    }
    return -1;
  }

  private setTimerLvt(value: number): void {
    this.timerVector = value & LVT.VECTOR_MASK;
    this.timerMasked = (value & LVT.MASKED) !== 0;
    const mode = (value >>> LVT.TIMER_MODE_SHIFT) & 3;
    if (mode === this.timerMode) return;
    const deadline = TIMER_MODE.TSC_DEADLINE;
    if ((mode === deadline) !== (this.timerMode === deadline)) {
      // Into or out of TSC-deadline mode: the timer is disarmed and the initial count
      // cleared (SDM vol. 3 §10.5.4.1; KVM's apic_update_lvtt does the same).
      this.timer.expires = -1;
      this.timerInitial = 0;
      this.timerPeriodPs = 0;
      this.timerMode = mode;
      this.onTimerChange();
      return;
    }
    // One-shot ↔ periodic keeps the running count; a period now in force is bounded.
    this.timerMode = mode;
    this.limitPeriod();
  }

  /**
   * KVM's limit_periodic_timer_frequency: a periodic timer's period below
   * `min_timer_period_us` (200 µs by default) is raised to it, "since the hrtimers are not
   * throttled by the host scheduler" (arch/x86/kvm/lapic.c). Without it a guest programming
   * initial count 1 at divide-by-1 (an interrupt every 7.5 ns of bus clock) keeps its
   * core in the host's timer interrupt forever.
   */
  private limitPeriod(): void {
    if (this.timerMode !== TIMER_MODE.PERIODIC || this.timerPeriodPs === 0) return;
    if (this.timerPeriodPs >= this.minTimerPeriodPs) return;
    this.timerPeriodPs = this.minTimerPeriodPs;
    this.timerPeriodLimited.inc();
  }

  private setTimerDivide(value: number): void {
    const v = ((value & 8) >>> 1) | (value & 3);
    this.timerDivisor = v === 7 ? 1 : 2 << v;
  }

  private setTimerInitial(count: number): void {
    this.timerInitial = count;
    if (count === 0 || this.timerMode === TIMER_MODE.TSC_DEADLINE) {
      this.timer.expires = -1;
    } else {
      this.timerPeriodPs = Math.round((count * this.timerDivisor * 1e12) / this.virtualTimerHz);
      this.limitPeriod();
      this.timerDuePs = this.sim.now + this.timerPeriodPs;
      this.timer.expires = this.timerDuePs;
    }
    this.onTimerChange();
  }

  private setTscDeadline(tsc: number): void {
    if (this.timerMode !== TIMER_MODE.TSC_DEADLINE) return;
    this.timer.expires =
      tsc === 0 ? -1 : Math.max(this.sim.now, Math.round((tsc * 1e12) / this.tscHzValue()));
    this.onTimerChange();
  }

  private tscHzValue(): number {
    return this.vm.tscHz;
  }

  private timerCurrentCount(): number {
    if (this.timerInitial === 0 || this.timer.expires < 0 || this.timerPeriodPs === 0) return 0;
    const left = this.timer.expires - this.sim.now;
    return Math.max(0, Math.floor((left * this.virtualTimerHz) / (this.timerDivisor * 1e12)));
  }

  /** The host hrtimer ran out: raise the timer vector (unless masked) and re-arm a periodic timer. Returns 0 cycles (the host counts). */
  private timerExpired(now: number): number {
    this.timerFires.inc();
    if (!this.timerMasked) this.raise(this.timerVector);
    if (this.timerMode === TIMER_MODE.PERIODIC && this.timerPeriodPs > 0) {
      // The next period starts at the expiry that just fired (KVM's
      // advance_periodic_target_expiration); periods the host missed are skipped, not replayed.
      let next = this.timerDuePs + this.timerPeriodPs;
      while (next <= now) next += this.timerPeriodPs;
      this.timerDuePs = next;
      this.timer.expires = next;
    }
    return 0;
  }
}
