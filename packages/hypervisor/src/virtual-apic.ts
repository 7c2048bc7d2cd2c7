import { type InterruptBus, LAPIC_MODE, LocalApicDevice } from '@exitless/lapic';
import type { Counter, Simulator } from '@exitless/sim';
import {
  APIC_REG,
  DELIVERY_MODE,
  type InterruptMessage,
  join64,
  MSR,
  MSR_OK,
  type MsrValue,
  makeInterruptMessage,
  x2apicMsr,
} from '@exitless/x86';
import { VirtualApicTimer } from './apic-timer.js';
import type { VirtualLapic } from './strategy.js';

/** How an emulated write to the virtual LAPIC ended. */
export const APIC_WRITE = {
  /** Done (stored, or accepted and ignored). */
  DONE: 0,
  /** An EOI: `eoiVector` holds the vector it ended, or −1 when none was in service. */
  EOI: 1,
  /** Refused: the guest gets #GP(0) (an x2APIC rule, SDM vol. 3 §10.12.1.2). */
  GP: 2,
} as const;
/** The outcome of a write to the virtual LAPIC: one of the values of {@link APIC_WRITE}. */
export type ApicWriteResult = (typeof APIC_WRITE)[keyof typeof APIC_WRITE];

/** Timer-related registers the hypervisor emulates on a host hrtimer (KVM's lapic timer), as x2APIC MSRs. */
const MSR_TIMER_INITIAL = x2apicMsr(APIC_REG.TIMER_INITIAL_COUNT);
const MSR_TIMER_CURRENT = x2apicMsr(APIC_REG.TIMER_CURRENT_COUNT);
const MSR_LVT_TIMER = x2apicMsr(APIC_REG.LVT_TIMER);
const MSR_TIMER_DIVIDE = x2apicMsr(APIC_REG.TIMER_DIVIDE_CONFIG);

/**
 * Options of a {@link VirtualApic}.
 */
export interface VirtualApicOptions {
  /** The vCPU's APIC ID (its index in the VM). */
  readonly apicId: number;
  /** For the LAPIC model's and the timer's names. */
  readonly name: string;
  /** The simulator the LAPIC model and its timer run on. */
  readonly sim: Simulator;
  /** The VM's private interrupt bus. */
  readonly bus: InterruptBus;
  /** The TSC frequency the LAPIC model runs TSC-deadline mode on, Hz (the host's). */
  readonly tscHz: number;
  /** The guest's TSC frequency for TSC-deadline mode, Hz (the VM's). */
  readonly guestTscHz: number;
  /** The emulated timer's input clock, Hz (the bus clock the guest believes in). */
  readonly virtualTimerHz: number;
  /** The shortest period of a periodic timer, ps (KVM's min_timer_period_us). */
  readonly minTimerPeriodPs: number;
  /** The timer's expiry changed (the host reprograms its deadline before the next entry). */
  readonly onTimerChange: () => void;
  /** The vCPU's counters the virtual LAPIC increments. */
  readonly counters: {
    /** Interrupts set pending in the virtual LAPIC. */
    readonly virtualInterrupts: Counter;
    /** EOIs the virtual LAPIC emulated. */
    readonly virtualEois: Counter;
    /** Expiries of the emulated timer. */
    readonly timerFires: Counter;
    /** Periodic timer periods raised to the minimum. */
    readonly timerPeriodLimited: Counter;
  };
}

/**
 * KVM's emulated local APIC of one vCPU (arch/x86/kvm/lapic.c): a full `LocalApicDevice` on
 * the VM's private interrupt bus, with its timer emulated on a host hrtimer
 * (`VirtualApicTimer`). The guest's trapped x2APIC MSR accesses and xAPIC-page accesses are
 * emulated here; the strategy sees it as `VirtualLapic`.
 */
export class VirtualApic implements VirtualLapic {
  /** The LAPIC model (IRR, ISR, TPR, PPR, the LVT…). */
  readonly device: LocalApicDevice;
  readonly timer: VirtualApicTimer;
  eoiVector = -1;
  private readonly apicId: number;
  private readonly msg: InterruptMessage = makeInterruptMessage();
  private readonly scratch: MsrValue = { lo: 0, hi: 0 };
  private readonly virtualInterrupts: Counter;
  private readonly virtualEois: Counter;

  constructor(options: VirtualApicOptions) {
    this.apicId = options.apicId;
    this.device = new LocalApicDevice({
      sim: options.sim,
      bus: options.bus,
      apicId: options.apicId,
      tscHz: options.tscHz,
      timerHz: options.virtualTimerHz,
      bsp: options.apicId === 0,
      name: `${options.name}.vlapic`,
    });
    this.virtualInterrupts = options.counters.virtualInterrupts;
    this.virtualEois = options.counters.virtualEois;
    this.timer = new VirtualApicTimer({
      name: `${options.name}.lapic-timer`,
      sim: options.sim,
      tscHz: options.guestTscHz,
      virtualTimerHz: options.virtualTimerHz,
      minTimerPeriodPs: options.minTimerPeriodPs,
      raise: (vector) => this.raise(vector),
      onChange: options.onTimerChange,
      fires: options.counters.timerFires,
      periodLimited: options.counters.timerPeriodLimited,
    });
  }

  get x2apicMode(): boolean {
    return this.device.x2apicMode;
  }

  get taskPriority(): number {
    return this.device.taskPriority;
  }

  hasInterrupt(): boolean {
    return this.device.hasInterrupt();
  }

  acknowledge(): number {
    return this.device.acknowledge();
  }

  raise(vector: number): void {
    const m = this.msg;
    m.vector = vector;
    m.deliveryMode = DELIVERY_MODE.FIXED;
    m.triggerMode = 0;
    m.level = 1;
    m.destMode = 0;
    m.destination = this.apicId;
    this.device.acceptInterrupt(m);
    this.virtualInterrupts.inc();
  }

  writeMsr(index: number, lo: number, hi: number): ApicWriteResult {
    if (index === MSR.X2APIC_EOI) {
      const before = this.highestInService();
      if (this.device.writeMsr(index, lo, hi) !== MSR_OK) return APIC_WRITE.GP;
      this.virtualEois.inc();
      this.eoiVector = before;
      return APIC_WRITE.EOI;
    }
    if (index === MSR_TIMER_INITIAL) {
      // Emulated here, not in the LAPIC model: its x2APIC rules still apply (a 32-bit
      // register: bits 63:32 reserved; no x2APIC MSR outside x2APIC mode, SDM §10.12.1.2).
      if (!this.device.x2apicMode || hi !== 0) return APIC_WRITE.GP;
      this.timer.setInitialCount(lo >>> 0);
      return APIC_WRITE.DONE;
    }
    if (index === MSR.IA32_TSC_DEADLINE) {
      this.timer.setTscDeadline(join64(hi, lo));
      return APIC_WRITE.DONE;
    }
    if (this.device.writeMsr(index, lo, hi) !== MSR_OK) return APIC_WRITE.GP;
    if (index === MSR_LVT_TIMER) this.timer.setLvt(lo >>> 0);
    else if (index === MSR_TIMER_DIVIDE) this.timer.setDivide(lo >>> 0);
    return APIC_WRITE.DONE;
  }

  readMsr(index: number, out: MsrValue): boolean {
    const timerRegister = index === MSR_TIMER_CURRENT || index === MSR_TIMER_INITIAL;
    if (timerRegister && !this.device.x2apicMode) return false;
    if (index === MSR_TIMER_CURRENT) {
      out.lo = this.timer.currentCount();
      out.hi = 0;
      return true;
    }
    if (index === MSR_TIMER_INITIAL) {
      out.lo = this.timer.initialCount;
      out.hi = 0;
      return true;
    }
    return this.device.readMsr(index, out) === MSR_OK;
  }

  writeMmio(offset: number, value: number): ApicWriteResult {
    if (offset === APIC_REG.EOI) {
      const before = this.highestInService();
      this.device.mmioWrite(offset, 4, value);
      this.virtualEois.inc();
      this.eoiVector = before;
      return APIC_WRITE.EOI;
    }
    if (offset === APIC_REG.TIMER_INITIAL_COUNT) {
      this.timer.setInitialCount(value >>> 0);
      return APIC_WRITE.DONE;
    }
    this.device.mmioWrite(offset, 4, value);
    if (offset === APIC_REG.LVT_TIMER) this.timer.setLvt(value >>> 0);
    else if (offset === APIC_REG.TIMER_DIVIDE_CONFIG) this.timer.setDivide(value >>> 0);
    return APIC_WRITE.DONE;
  }

  readMmio(offset: number): number {
    if (offset === APIC_REG.TIMER_CURRENT_COUNT) return this.timer.currentCount();
    if (offset === APIC_REG.TIMER_INITIAL_COUNT) return this.timer.initialCount;
    return this.device.mmioRead(offset, 4);
  }

  takePending(): number {
    // Only an interrupt the LAPIC would deliver now: not one its PPR holds back, nothing from a
    // disabled LAPIC — and never the spurious vector an INTA with nothing deliverable returns.
    if (!this.device.hasInterrupt()) return -1;
    const v = this.highestPending();
    if (v < 0) return -1;
    // The LAPIC model's own INTA and EOI: IRR → ISR → cleared. Nothing else is ever in
    // service here while a design keeps the guest's ISR elsewhere, so the EOI ends `v`.
    if (this.device.acknowledge() !== v) return -1;
    if (this.device.x2apicMode) this.device.writeMsr(MSR.X2APIC_EOI, 0, 0);
    else this.device.mmioWrite(APIC_REG.EOI, 4, 0);
    return v;
  }

  highestInService(): number {
    // Enabled (x2APIC or xAPIC mode), the LAPIC model's ISR MSRs or page registers read the ISR
    // words with no side effect: its own answer is the scan's, without up to eight emulated
    // register reads (a scan per emulated EOI). A disabled LAPIC's page reads all ones and
    // counts each read: that stays the scan's.
    if (this.device.mode !== LAPIC_MODE.DISABLED) return this.device.highestInServiceVector();
    return this.highestIn(MSR.X2APIC_ISR0, APIC_REG.ISR0);
  }

  highestPending(): number {
    if (this.device.mode !== LAPIC_MODE.DISABLED) return this.device.highestRequestedVector();
    return this.highestIn(MSR.X2APIC_IRR0, APIC_REG.IRR0);
  }

  /**
   * The highest vector set in the ISR (`inService`) or IRR as the guest would find it, reading
   * the eight registers from the top through RDMSR (x2APIC mode) or the APIC page (otherwise):
   * what highestInService and highestPending answer. @internal (for tests)
   */
  scanRegisters(inService: boolean): number {
    return inService
      ? this.highestIn(MSR.X2APIC_ISR0, APIC_REG.ISR0)
      : this.highestIn(MSR.X2APIC_IRR0, APIC_REG.IRR0);
  }

  private highestIn(msr0: number, offset0: number): number {
    const out = this.scratch;
    const x2 = this.device.x2apicMode;
    for (let i = 7; i >= 0; i--) {
      let w = 0;
      if (x2) {
        this.device.readMsr(msr0 + i, out);
        w = out.lo >>> 0;
      } else {
        w = this.device.mmioRead(offset0 + i * 0x10, 4) >>> 0;
      }
      if (w !== 0) return i * 32 + 31 - Math.clz32(w);
    }
    return -1;
  }
}
