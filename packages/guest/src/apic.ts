/**
 * The kernel's local APIC driver (arch/x86/kernel/apic of the 2.6.3x era, reduced to what the
 * model needs): register writes through the xAPIC page (MMIO at 0xFEE00000) or the x2APIC
 * MSRs (SDM vol. 3 §10.12.1.2: MSR 0x800 + offset / 16), the EOI, and the scheduler tick's
 * programming of the LAPIC timer (SDM §10.5.4). CPU-free: each write is one CPU operation
 * the caller's routine step issues.
 */
import { APIC_DEFAULT_BASE, APIC_REG, type CpuContext, LVT, MSR, TIMER_MODE, x2apicMsr } from '@exitless/x86';
import { GUEST_VECTOR } from './layout.js';

/** How the kernel reaches its LAPIC's registers. */
export type ApicAccessMode = 'xapic' | 'x2apic';

/** The CPU operations a LAPIC write needs. */
export type ApicCpu = Pick<CpuContext, 'wrmsr' | 'mmioWrite'>;

/** TIMER_DIVIDE_CONFIG value for divide by 1 (SDM §10.5.4, figure 10-10: 1011b). */
export const APIC_TIMER_DIVIDE_BY_1 = 0xb;

/** The local APIC as the kernel's APIC driver drives it, in xAPIC or x2APIC mode. */
export class LapicDriver {
  /** How the driver reaches the APIC: the xAPIC page or the x2APIC MSRs. */
  readonly mode: ApicAccessMode;
  /** True in x2APIC mode. */
  readonly x2apic: boolean;

  constructor(mode: ApicAccessMode) {
    this.mode = mode;
    this.x2apic = mode === 'x2apic';
  }

  /** Writes `value` to the register at xAPIC `offset`: WRMSR to its x2APIC MSR, or a 32-bit store to the page. */
  write(cpu: ApicCpu, offset: number, value: number): void {
    if (this.x2apic) cpu.wrmsr(x2apicMsr(offset), value >>> 0, 0);
    else cpu.mmioWrite(APIC_DEFAULT_BASE + offset, 4, value >>> 0);
  }

  /** EOI to the local APIC (SDM §10.8.5): WRMSR 0x80B in x2APIC mode, a write to 0xFEE000B0 in xAPIC mode. */
  eoi(cpu: ApicCpu): void {
    if (this.x2apic) cpu.wrmsr(MSR.X2APIC_EOI, 0, 0);
    else cpu.mmioWrite(APIC_DEFAULT_BASE + APIC_REG.EOI, 4, 0);
  }
}

/**
 * The LAPIC writes still owed after a phased first tick (`SchedulerTick.restart`): the LVT
 * timer back to periodic, then the initial count of one period, then none.
 */
export const TICK_RESTART = {
  /** Nothing left to write. */
  NONE: 0,
  /** The initial count of one period is still owed. */
  INITIAL_COUNT: 1,
  /** The LVT timer (back to periodic) and then the initial count are still owed. */
  LVT_TIMER: 2,
} as const;
/** What the tick handler rewrites to restart the tick: one of the values of {@link TICK_RESTART}. */
export type TickRestart = (typeof TICK_RESTART)[keyof typeof TICK_RESTART];

/**
 * The scheduler tick on the LAPIC timer at CONFIG_HZ. Without a phase the timer is periodic
 * from the start; with one, the first tick is one-shot after the phase and the tick handler
 * then turns it into the periodic tick (two LAPIC writes, one per call of `restart`).
 */
export class SchedulerTick {
  /** LAPIC timer counts (divider 1) of one tick period. */
  readonly periodCount: number;
  /** LAPIC timer counts of the phased first tick (0: no phase). */
  readonly phaseCount: number;
  private restartWrites: TickRestart;

  constructor(apicTimerHz: number, hz: number, tickPhasePs: number) {
    this.periodCount = Math.round(apicTimerHz / hz);
    this.phaseCount = Math.round((tickPhasePs * apicTimerHz) / 1e12);
    this.restartWrites = this.phaseCount > 0 ? TICK_RESTART.LVT_TIMER : TICK_RESTART.NONE;
  }

  /** The LAPIC writes that start the tick at boot, as [register offset, value], in order. */
  bootWrites(): readonly (readonly [number, number])[] {
    const phased = this.phaseCount > 0;
    const firstMode = phased ? TIMER_MODE.ONE_SHOT : TIMER_MODE.PERIODIC;
    return [
      [APIC_REG.TIMER_DIVIDE_CONFIG, APIC_TIMER_DIVIDE_BY_1],
      [APIC_REG.LVT_TIMER, GUEST_VECTOR.LOCAL_TIMER | (firstMode << LVT.TIMER_MODE_SHIFT)],
      [APIC_REG.TIMER_INITIAL_COUNT, phased ? this.phaseCount : this.periodCount],
    ];
  }

  /** The LAPIC writes still owed to make the tick periodic. */
  get pendingRestart(): TickRestart {
    return this.restartWrites;
  }

  /**
   * After the phased first tick: issues the next write that makes the tick periodic (the LVT
   * timer, then the initial count). False when none is left.
   */
  restart(cpu: ApicCpu, lapic: LapicDriver): boolean {
    switch (this.restartWrites) {
      case TICK_RESTART.LVT_TIMER:
        this.restartWrites = TICK_RESTART.INITIAL_COUNT;
        lapic.write(
          cpu,
          APIC_REG.LVT_TIMER,
          GUEST_VECTOR.LOCAL_TIMER | (TIMER_MODE.PERIODIC << LVT.TIMER_MODE_SHIFT),
        );
        return true;
      case TICK_RESTART.INITIAL_COUNT:
        this.restartWrites = TICK_RESTART.NONE;
        lapic.write(cpu, APIC_REG.TIMER_INITIAL_COUNT, this.periodCount);
        return true;
      default:
        return false;
    }
  }
}
