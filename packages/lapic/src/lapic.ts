import type { ScopedStats, Simulator, Tracer } from '@exitless/sim';
import { Counter, MAX_TIME_PS, PS_PER_S, psToCycles, SimEvent } from '@exitless/sim';
import type {
  ApicBus,
  InterruptLineListener,
  InterruptMessage,
  LocalApic,
  MmioSize,
  MsrAccessResult,
  MsrValue,
} from '@exitless/x86';
import {
  APIC_BASE_MSR,
  APIC_DEFAULT_BASE,
  APIC_REG,
  DELIVERY_MODE,
  DEST_MODE,
  DEST_SHORTHAND,
  ESR,
  ICR,
  isX2apicMsr,
  LVT,
  MSR,
  MSR_GP,
  MSR_OK,
  makeInterruptMessage,
  priorityClass,
  SVR,
  TIMER_MODE,
  TRIGGER_MODE,
  TWO_POW_32,
  x2apicOffset,
} from '@exitless/x86';
import { LapicConfigError } from './errors.js';

/**
 * The local APIC version register (SDM vol. 3 §10.4.8, figure 10-7): version 15H (an
 * integrated APIC), Max LVT Entry 6 (seven LVT entries including CMCI, "processors based
 * on the Nehalem microarchitecture and onward").
 */
export const LAPIC_VERSION = 0x00060015;
/** Version bit 24: software may suppress EOI broadcasts with SVR bit 12 (§10.4.8, §10.8.5). */
export const LAPIC_VERSION_EOI_BROADCAST_SUPPRESSION = 0x01000000;

/** Operating modes from IA32_APIC_BASE EN and EXTD (SDM vol. 3 §10.12.1, table 10-5). */
export const LAPIC_MODE = {
  /** EN = 0, EXTD = 0: the APIC is disabled. */
  DISABLED: 0,
  /** EN = 1, EXTD = 0: xAPIC mode (the MMIO page). */
  XAPIC: 1,
  /** EN = 1, EXTD = 1: x2APIC mode (the MSRs). */
  X2APIC: 2,
} as const;
/** An operating mode: one of the values of {@link LAPIC_MODE}. */
export type LapicMode = (typeof LAPIC_MODE)[keyof typeof LAPIC_MODE];

/** Options of a LocalApicDevice. */
export interface LocalApicOptions {
  /** The simulator the timer and IPIs run on. */
  readonly sim: Simulator;
  /** The interrupt bus the APIC sends IPIs and EOI broadcasts on; the APIC registers itself. */
  readonly bus: ApicBus;
  /**
   * The initial APIC ID (0 – 0xFFFFFFFE): the x2APIC ID, and (its low 8 bits) the xAPIC ID
   * after reset.
   */
  readonly apicId: number;
  /** The time-stamp counter frequency in Hz, for TSC-deadline mode (TSC = cycles since time 0). */
  readonly tscHz: number;
  /** The APIC timer's input clock in Hz before the divider (the bus clock: 133.33 MHz on Nehalem). */
  readonly timerHz: number;
  /** IA32_APIC_BASE.BSP (bit 8): this is the bootstrap processor. Default false. */
  readonly bsp?: boolean;
  /**
   * Whether version bit 24 is set, so SVR bit 12 can suppress EOI broadcasts (directed EOI).
   * Default true.
   */
  readonly eoiBroadcastSuppression?: boolean;
  /** A name for traces. Default `lapic<apicId>`. */
  readonly name?: string;
  /** Where the APIC's counters go, if given. */
  readonly stats?: ScopedStats;
  /** Where the APIC traces, if given. */
  readonly tracer?: Tracer;
}

/** The counters a LocalApicDevice keeps (also registered in `stats` when given). */
export interface LapicCounters {
  /** Fixed/lowest-priority interrupts that set a new IRR bit. */
  readonly accepted: Counter;
  /** Fixed interrupts whose vector was already pending in IRR (one instance per vector). */
  readonly coalesced: Counter;
  /** INTA cycles that moved an IRR vector to ISR. */
  readonly acknowledged: Counter;
  /** INTA cycles with nothing deliverable: the spurious vector was returned. */
  readonly spurious: Counter;
  /** EOIs that cleared an ISR bit. */
  readonly eoi: Counter;
  /** EOI writes with ISR empty. */
  readonly eoiEmpty: Counter;
  /** EOI broadcasts sent for level-triggered vectors. */
  readonly eoiBroadcasts: Counter;
  /** EOI broadcasts suppressed by SVR bit 12. */
  readonly eoiSuppressed: Counter;
  /** NMIs accepted (from messages or LVT). */
  readonly nmi: Counter;
  /** INIT messages received (recorded; the CPU's reaction is the CPU model's). */
  readonly init: Counter;
  /** Start-up IPIs received (recorded with their vector). */
  readonly sipi: Counter;
  /** SMI, ExtINT and other deliveries this model does not implement (counted, dropped). */
  readonly unsupported: Counter;
  /** Messages dropped because the APIC was globally or software disabled. */
  readonly droppedDisabled: Counter;
  /** Illegal vectors (0–15) sent or received (ESR bits 5, 6). */
  readonly illegalVector: Counter;
  /** IPIs sent from the ICR or the SELF IPI register. */
  readonly ipisSent: Counter;
  /** ICR writes with an invalid combination (SDM table 10-3), not sent. */
  readonly ipisInvalid: Counter;
  /** Timer expirations (one-shot, periodic or TSC-deadline). */
  readonly timerExpired: Counter;
  /** RDMSR/WRMSR that raised #GP. */
  readonly msrFaults: Counter;
  /** MMIO accesses ignored: x2APIC or disabled mode, a non-dword write, an unimplemented register. */
  readonly mmioIgnored: Counter;
}

// LVT entry slots, in the order of the registers' offsets.
const LVT_CMCI = 0;
const LVT_TIMER = 1;
const LVT_THERMAL = 2;
const LVT_PERF = 3;
const LVT_LINT0 = 4;
const LVT_LINT1 = 5;
const LVT_ERROR = 6;
const LVT_COUNT = 7;

// Writable bits of each LVT (SDM vol. 3 §10.5.1, figure 10-8). Delivery status (bit 12) and
// remote IRR (bit 14) are read-only.
const LVT_WRITABLE: Readonly<Uint32Array> = Uint32Array.of(
  0x000107ff, // CMCI: vector, delivery mode, mask
  0x000700ff, // timer: vector, mask, timer mode 18:17
  0x000107ff, // thermal
  0x000107ff, // performance counter
  0x0001a7ff, // LINT0: vector, delivery mode, polarity, trigger mode, mask
  0x0001a7ff, // LINT1
  0x000100ff, // error: vector, mask
);
const LVT_RESET = LVT.MASKED;

// ICR low bits software can write (vector, delivery mode, destination mode, level, trigger,
// shorthand); delivery status (bit 12) reads 0: the send completes as a bus transaction.
const ICR_LOW_WRITABLE = 0x000ccfff;
// Divide configuration register bits 0, 1 and 3 (§10.5.4, figure 10-10).
const DCR_WRITABLE = 0xb;
// IA32_APIC_BASE bits that may be written (EXTD, EN, base 31:12); BSP is read-only, the
// rest reserved. MAXPHYADDR is 40 on the Xeon 5500: base bits 39:32 in the high half.
const APIC_BASE_LO_WRITABLE = 0xfffffc00 | APIC_BASE_MSR.BSP;
const APIC_BASE_HI_WRITABLE = 0xff;

/** The SELF IPI register's xAPIC-style offset (MSR 0x83F); it exists only as an x2APIC MSR. */
const X2APIC_SELF_IPI_OFFSET = 0x3f0;

/**
 * The bits a WRMSR must leave clear, for every x2APIC register software may write, by the
 * register's xAPIC offset (MSR 0x800 + offset >> 4). In x2APIC mode a WRMSR that sets any of
 * them raises #GP and leaves the register unchanged (SDM vol. 3 §10.12.1.3: reserved bits are
 * RsvdZ, "non-zero writes … raise a general protection fault"); over MMIO the xAPIC page has
 * no #GP and the write masks above apply instead. Registers with no entry (ID, version, APR,
 * PPR, RRD, LDR, DFR, ISR, TMR, IRR, ICR high, current count, reserved MSRs) fault on any
 * WRMSR (table 10-6). Bits 63:32 of every register but the 64-bit ICR are reserved as well
 * (§10.12.1.2) and are checked apart.
 *
 * Read-only status bits are not reserved: the LVT delivery status (bit 12), the LINT remote
 * IRR (bit 14) and ICR bit 12 are ignored by a write, so that a read-modify-write of a live
 * entry cannot fault (figure 10-8 marks them "read only", not "reserved"; for the ICR the
 * x2APIC specification, ref. 318148 §2.4.3 figure 2-5 note 1, says WRMSR ignores bit 12).
 * Two rules depend on the model and are applied in code (`featureReserved`): SVR bit 12 and
 * the reserved timer mode 11b.
 */
const X2APIC_RESERVED: Readonly<Record<number, number>> = {
  [APIC_REG.TPR]: 0xffffff00, // bits 31:8 (table 10-6)
  [APIC_REG.EOI]: 0xffffffff, // only zero may be written (table 10-6: "WRMSR of a non-zero value causes #GP(0)")
  // Bits 31:13 and 11:9 (§10.9, figure 10-23). Focus-processor checking (bit 9) "is reserved
  // and should be cleared to 0" on Pentium 4 and Xeon processors (§10.9), and the x2APIC SVR
  // has no such field (x2APIC specification figure 2-7). Bit 12: see `featureReserved`.
  [APIC_REG.SVR]: 0xffffee00,
  [APIC_REG.ESR]: 0xffffffff, // only zero may be written in x2APIC mode (§10.5.3)
  [APIC_REG.LVT_CMCI]: 0xfffee800, // 31:17, 15:13, 11 (figure 10-8); 12 is read-only
  // ICR bits 31:20, 17:16 and 13 (§10.12.9, figure 10-28); bits 63:32 are the destination.
  [APIC_REG.ICR_LOW]: 0xfff32000,
  // 31:19, 15:13, 11:8 (figure 10-8). Bit 18 would be reserved without TSC-deadline mode
  // (CPUID.01H:ECX[24], §10.5.4.1); this model always offers it.
  [APIC_REG.LVT_TIMER]: 0xfff8ef00,
  [APIC_REG.LVT_THERMAL]: 0xfffee800, // as CMCI
  [APIC_REG.LVT_PERF]: 0xfffee800, // as CMCI
  // 31:17, 11 (figure 10-8): polarity (13) and trigger mode (15) are fields of both LINT
  // entries; "software should always set [LINT1's trigger mode] to 0" is advice, not a
  // reserved bit. Remote IRR (14) and delivery status (12) are read-only.
  [APIC_REG.LVT_LINT0]: 0xfffe0800,
  [APIC_REG.LVT_LINT1]: 0xfffe0800,
  [APIC_REG.LVT_ERROR]: 0xfffeef00, // 31:17, 15:13, 11:8: no delivery-mode field (figure 10-8)
  [APIC_REG.TIMER_INITIAL_COUNT]: 0, // all 32 bits are the count (§10.5.4)
  [APIC_REG.TIMER_DIVIDE_CONFIG]: 0xfffffff4, // 31:4 and 2 (§10.5.4, figure 10-10)
  [X2APIC_SELF_IPI_OFFSET]: 0xffffff00, // 31:8 (§10.12.11, figure 10-30)
};

const X2APIC_BROADCAST = 0xffffffff;
const XAPIC_BROADCAST = 0xff;

/**
 * The local APIC of one logical processor, in xAPIC and x2APIC modes, exact to the Intel
 * SDM vol. 3 ch. 10: IRR/ISR/TMR as 256-bit sets, TPR/PPR/APR, EOI with broadcast for
 * level-triggered vectors, LVTs, the ESR, the timer (one-shot, periodic, TSC-deadline) on
 * the simulation clock, IPIs through the ICR onto an InterruptBus, the xAPIC MMIO page and
 * the x2APIC MSRs, and the IA32_APIC_BASE mode transitions. Faults (#GP) are returned as
 * MSR_GP and counted, never thrown.
 */
export class LocalApicDevice implements LocalApic {
  /** The APIC's name in traces. */
  readonly name: string;
  /** The initial APIC ID (also the x2APIC ID). */
  readonly initialApicId: number;
  /** The APIC's counters (interrupts accepted, coalesced and acknowledged, EOIs, …). */
  readonly counters: LapicCounters;

  private readonly sim: Simulator;
  private readonly bus: ApicBus;
  private readonly tracer: Tracer | undefined;
  private readonly tscHz: number;
  private readonly psPerTimerTick: number;
  private readonly version: number;
  private listener: InterruptLineListener | null = null;

  // IA32_APIC_BASE (SDM §10.4.4): the low and high halves.
  private baseLo: number;
  private baseHi = 0;
  private _mode: LapicMode = LAPIC_MODE.XAPIC;

  // Interrupt request, in-service and trigger-mode registers (§10.8.4): 256 bits each.
  private readonly irr = new Uint32Array(8);
  /** Bits set in IRR, so that the check made before every operation skips the scan when none is. */
  private irrCount = 0;
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  private xapicId = 0;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffffffff;
  private svr = 0xff;
  // The error status register (§10.5.3): `esr` is what reads return; errors collect in
  // `esrPending` until the next write to the ESR moves them into `esr`.
  private esr = 0;
  private esrPending = 0;
  private icrLo = 0;
  private icrHi = 0;
  private readonly lvt = new Uint32Array(LVT_COUNT);
  private nmiPending = false;
  private _lastSipiVector = -1;

  // Timer state: counting started at `timerOrigin` from `timerInitial` with the divider
  // fixed at that load; the k-th expiry is at origin + round((k + 1) × period).
  private timerInitial = 0;
  private dcr = 0;
  private timerDivisor = 2;
  private timerOrigin = 0;
  private timerPeriods = 0;
  private timerRunning = false;
  private deadlineLo = 0;
  private deadlineHi = 0;
  private readonly timerEvent: SimEvent;

  private readonly msg: InterruptMessage = makeInterruptMessage();

  constructor(options: LocalApicOptions) {
    const { apicId, tscHz, timerHz } = options;
    if (!Number.isInteger(apicId) || apicId < 0 || apicId > 0xfffffffe) {
      throw new LapicConfigError(
        `LocalApicDevice: apicId must be an integer in 0..0xFFFFFFFE (0xFFFFFFFF is the x2APIC broadcast), got ${apicId}`,
      );
    }
    if (!Number.isFinite(tscHz) || tscHz <= 0) {
      throw new LapicConfigError(`LocalApicDevice: tscHz must be a positive number of Hz, got ${tscHz}`);
    }
    if (!Number.isFinite(timerHz) || timerHz <= 0 || timerHz > PS_PER_S) {
      throw new LapicConfigError(
        `LocalApicDevice: timerHz must be a positive number of Hz up to 1e12 (one tick per ps), got ${timerHz}`,
      );
    }
    this.sim = options.sim;
    this.bus = options.bus;
    this.tracer = options.tracer;
    this.tscHz = tscHz;
    this.psPerTimerTick = PS_PER_S / timerHz;
    this.initialApicId = apicId;
    this.name = options.name ?? `lapic${apicId}`;
    this.version =
      options.eoiBroadcastSuppression === false
        ? LAPIC_VERSION
        : (LAPIC_VERSION | LAPIC_VERSION_EOI_BROADCAST_SUPPRESSION) >>> 0;
    this.baseLo =
      (APIC_DEFAULT_BASE | APIC_BASE_MSR.ENABLE | (options.bsp === true ? APIC_BASE_MSR.BSP : 0)) >>> 0;
    const s = options.stats;
    const c = (n: string): Counter => (s !== undefined ? s.counter(n) : new Counter(n));
    this.counters = {
      accepted: c('accepted'),
      coalesced: c('coalesced'),
      acknowledged: c('acknowledged'),
      spurious: c('spurious'),
      eoi: c('eoi'),
      eoiEmpty: c('eoi-empty'),
      eoiBroadcasts: c('eoi-broadcasts'),
      eoiSuppressed: c('eoi-suppressed'),
      nmi: c('nmi'),
      init: c('init'),
      sipi: c('sipi'),
      unsupported: c('unsupported'),
      droppedDisabled: c('dropped-disabled'),
      illegalVector: c('illegal-vector'),
      ipisSent: c('ipis-sent'),
      ipisInvalid: c('ipis-invalid'),
      timerExpired: c('timer-expired'),
      msrFaults: c('msr-faults'),
      mmioIgnored: c('mmio-ignored'),
    };
    this.timerEvent = new SimEvent(`${this.name}.timer`, () => this.timerFired());
    this.resetRegisters();
    this.bus.register(this);
  }

  // ---------------------------------------------------------------- LocalApic surface

  /** The current APIC ID: the xAPIC ID register (bits 31:24) or the 32-bit x2APIC ID. */
  get apicId(): number {
    return this._mode === LAPIC_MODE.X2APIC ? this.initialApicId : this.xapicId;
  }

  get x2apicMode(): boolean {
    return this._mode === LAPIC_MODE.X2APIC;
  }

  /** Globally enabled (IA32_APIC_BASE.EN) and software-enabled (SVR bit 8). */
  get enabled(): boolean {
    return this._mode !== LAPIC_MODE.DISABLED && (this.svr & SVR.APIC_SOFTWARE_ENABLE) !== 0;
  }

  /** The operating mode (disabled, xAPIC, x2APIC). */
  get mode(): LapicMode {
    return this._mode;
  }

  /** The APIC page's physical address (IA32_APIC_BASE bits 39:12). */
  get apicBase(): number {
    return ((this.baseLo & APIC_BASE_MSR.BASE_MASK) >>> 0) + this.baseHi * TWO_POW_32;
  }

  /** The vector of the last start-up IPI received, or −1. */
  get lastSipiVector(): number {
    return this._lastSipiVector;
  }

  /**
   * Destination matching (SDM vol. 3 §10.6.2 and §10.12.9/10). xAPIC: physical compares
   * the 8-bit APIC ID (0xFF broadcasts); logical uses the LDR in the flat or cluster model
   * the DFR selects. x2APIC: physical compares the 32-bit ID (0xFFFFFFFF broadcasts);
   * logical is the x2APIC cluster model (cluster in 31:16, member bitmap in 15:0). A
   * message in the other format is matched as KVM does: 0xFF from an 8-bit source is a
   * broadcast to x2APIC APICs, otherwise the number is compared as it stands.
   */
  matchesDestination(destination: number, destMode: number, x2apicDestination: boolean): boolean {
    if (this._mode === LAPIC_MODE.DISABLED) return false;
    const dest = destination >>> 0;
    if (this._mode === LAPIC_MODE.X2APIC) {
      if (dest === X2APIC_BROADCAST || (!x2apicDestination && dest === XAPIC_BROADCAST)) return true;
      if (destMode === DEST_MODE.PHYSICAL) return dest === this.initialApicId;
      return dest >>> 16 === this.ldr >>> 16 && (dest & this.ldr & 0xffff) !== 0;
    }
    if (x2apicDestination && dest === X2APIC_BROADCAST) return true;
    if (dest > 0xff) return false;
    if (destMode === DEST_MODE.PHYSICAL) return dest === XAPIC_BROADCAST || dest === this.xapicId;
    const logicalId = this.ldr >>> 24;
    if (this.dfr >>> 28 === 0xf) return (dest & logicalId) !== 0; // flat model
    // Cluster model: cluster 15 addresses every cluster (§10.6.2.2).
    const cluster = dest >>> 4;
    return (cluster === 0xf || cluster === logicalId >>> 4) && (dest & logicalId & 0xf) !== 0;
  }

  /**
   * The arbitration priority (SDM vol. 3 §10.6.2.4, APR): TPR when its class is at least
   * the highest IRR class and above the highest ISR class, else
   * max(TPR[7:4] AND ISRV[7:4], IRRV[7:4]) in bits 7:4.
   */
  get arbitrationPriority(): number {
    const tprClass = this.tpr >>> 4;
    const irrv = highest(this.irr);
    const isrv = highest(this.isr);
    const irrClass = irrv < 0 ? 0 : irrv >>> 4;
    const isrClass = isrv < 0 ? 0 : isrv >>> 4;
    if (tprClass >= irrClass && tprClass > isrClass) return this.tpr;
    const a = tprClass & isrClass;
    return Math.max(a, irrClass) << 4;
  }

  /** The processor priority (SDM vol. 3 §10.8.3.1): TPR, or the highest ISR vector's class if higher. */
  get processorPriority(): number {
    const isrv = highest(this.isr);
    const isrvOr0 = Math.max(isrv, 0);
    return priorityClass(this.tpr) >= priorityClass(isrvOr0) ? this.tpr : isrvOr0 & 0xf0;
  }

  /**
   * The highest vector set in the ISR, or −1: what reading the eight ISR words from the top
   * (RDMSR 817H down to 810H in x2APIC mode, or offsets 170H down to 100H in xAPIC mode) finds,
   * without the reads. Whatever the mode; no side effects.
   */
  highestInServiceVector(): number {
    return highest(this.isr);
  }

  /** The highest vector set in the IRR, or −1 (as highestInServiceVector, for IRR words 827H–820H / 270H–200H). */
  highestRequestedVector(): number {
    return highest(this.irr);
  }

  /** The task priority (TPR bits 7:0). */
  get taskPriority(): number {
    return this.tpr;
  }

  acceptInterrupt(message: InterruptMessage): void {
    if (this._mode === LAPIC_MODE.DISABLED) {
      this.counters.droppedDisabled.inc();
      return;
    }
    switch (message.deliveryMode) {
      case DELIVERY_MODE.FIXED:
      case DELIVERY_MODE.LOWEST_PRIORITY:
        // A software-disabled APIC responds only to NMI, SMI, INIT and SIPI (§10.4.7.2).
        if ((this.svr & SVR.APIC_SOFTWARE_ENABLE) === 0) {
          this.counters.droppedDisabled.inc();
          return;
        }
        this.acceptFixed(message.vector & 0xff, message.triggerMode === TRIGGER_MODE.LEVEL);
        return;
      case DELIVERY_MODE.NMI:
        this.raiseNmi();
        return;
      case DELIVERY_MODE.INIT:
        // INIT level de-assert (trigger level, level 0) is not supported since the
        // Pentium 4 (table 10-3): it changes nothing.
        if (message.triggerMode === TRIGGER_MODE.LEVEL && message.level === 0) {
          this.counters.unsupported.inc();
          return;
        }
        this.counters.init.inc();
        this.trace('init', 0);
        return;
      case DELIVERY_MODE.STARTUP:
        this.counters.sipi.inc();
        this._lastSipiVector = message.vector & 0xff;
        this.trace('sipi', this._lastSipiVector);
        return;
      default:
        this.counters.unsupported.inc();
        return;
    }
  }

  // ---------------------------------------------------------------- InterruptLine

  connect(listener: InterruptLineListener): void {
    this.listener = listener;
  }

  /** True when the highest IRR vector's priority class exceeds the PPR's (§10.8.3.1). */
  hasInterrupt(): boolean {
    return this.deliverableVector() >= 0;
  }

  /**
   * The INTA cycle: the highest deliverable IRR vector moves to ISR and is returned; with
   * nothing deliverable, the spurious vector (SVR 7:0) is returned and ISR is untouched (§10.9).
   */
  acknowledge(): number {
    const v = this.deliverableVector();
    if (v < 0) {
      this.counters.spurious.inc();
      return this.svr & SVR.VECTOR_MASK;
    }
    const w = v >>> 5;
    const bit = 1 << (v & 31);
    this.irr[w] = this.irr[w]! & ~bit;
    this.irrCount--;
    this.isr[w] = this.isr[w]! | bit;
    this.counters.acknowledged.inc();
    this.trace('ack', v);
    return v;
  }

  hasNmi(): boolean {
    return this.nmiPending;
  }

  acknowledgeNmi(): void {
    this.nmiPending = false;
  }

  // ---------------------------------------------------------------- MSRs

  ownsMsr(index: number): boolean {
    return index === MSR.IA32_APIC_BASE || index === MSR.IA32_TSC_DEADLINE || isX2apicMsr(index);
  }

  readMsr(index: number, out: MsrValue): MsrAccessResult {
    if (index === MSR.IA32_APIC_BASE) {
      out.lo = this.baseLo;
      out.hi = this.baseHi;
      return MSR_OK;
    }
    if (index === MSR.IA32_TSC_DEADLINE) {
      // Reads zero outside TSC-deadline mode (§10.5.4.1).
      const deadlineMode = this.timerMode() === TIMER_MODE.TSC_DEADLINE && this._mode !== LAPIC_MODE.DISABLED;
      out.lo = deadlineMode ? this.deadlineLo : 0;
      out.hi = deadlineMode ? this.deadlineHi : 0;
      return MSR_OK;
    }
    // x2APIC registers are reachable through MSRs only in x2APIC mode (§10.12.2).
    if (!isX2apicMsr(index) || this._mode !== LAPIC_MODE.X2APIC) return this.gp();
    const offset = x2apicOffset(index);
    out.hi = 0;
    switch (offset) {
      case APIC_REG.ICR_LOW:
        out.lo = this.icrLo;
        out.hi = this.icrHi;
        return MSR_OK;
      // Write-only, or not present in x2APIC mode (APR, RRD, DFR, ICR high) — §10.12.1.2, table 10-6.
      case APIC_REG.EOI:
      case X2APIC_SELF_IPI_OFFSET:
      case APIC_REG.APR:
      case APIC_REG.RRD:
      case APIC_REG.DFR:
      case APIC_REG.ICR_HIGH:
        return this.gp();
      case APIC_REG.SVR:
        // Reserved bits read 0 (RsvdZ, §10.12.1.3): a focus bit set over MMIO before the
        // switch to x2APIC mode is not seen, so a read-modify-write of the SVR cannot fault.
        out.lo = (this.svr & ~X2APIC_RESERVED[APIC_REG.SVR]!) >>> 0;
        return MSR_OK;
      default:
        if (!isImplemented(offset)) return this.gp();
        out.lo = this.readRegister(offset);
        return MSR_OK;
    }
  }

  writeMsr(index: number, lo: number, hi: number): MsrAccessResult {
    lo >>>= 0;
    hi >>>= 0;
    if (index === MSR.IA32_APIC_BASE) return this.writeApicBase(lo, hi);
    if (index === MSR.IA32_TSC_DEADLINE) {
      this.writeTscDeadline(lo, hi);
      return MSR_OK;
    }
    if (!isX2apicMsr(index) || this._mode !== LAPIC_MODE.X2APIC) return this.gp();
    const offset = x2apicOffset(index);
    // Read-only, absent or reserved MSRs have no entry in the table (table 10-6).
    const reserved = X2APIC_RESERVED[offset];
    if (reserved === undefined) return this.gp();
    // Bits 63:32 of every register but the 64-bit ICR are reserved (§10.12.1.2).
    if (hi !== 0 && offset !== APIC_REG.ICR_LOW) return this.gp();
    // A reserved bit set: #GP, and the register keeps its value (§10.12.1.3).
    if ((lo & reserved) !== 0 || this.featureReserved(offset, lo)) return this.gp();
    switch (offset) {
      case APIC_REG.ICR_LOW:
        // The 64-bit ICR: one WRMSR sends, destination in 63:32 (§10.12.9); bit 12 is ignored.
        this.icrLo = lo & ICR_LOW_WRITABLE;
        this.icrHi = hi;
        this.sendIcr(this.icrLo, hi, true);
        return MSR_OK;
      case APIC_REG.EOI:
        this.eoi();
        return MSR_OK;
      case X2APIC_SELF_IPI_OFFSET:
        this.selfIpi(lo);
        return MSR_OK;
      default:
        // TPR, SVR, ESR, the LVT entries, initial count, divide configuration.
        this.writeRegister(offset, lo);
        return MSR_OK;
    }
  }

  // ---------------------------------------------------------------- xAPIC MMIO

  /**
   * A read of the APIC page. In x2APIC or disabled mode the page behaves as a globally
   * disabled xAPIC's (§10.12.2): nothing answers, reads return all ones (a master abort).
   * Registers sit at 16-byte slots; bytes 4–15 of a slot read zero.
   */
  mmioRead(offset: number, size: MmioSize): number {
    if (this._mode !== LAPIC_MODE.XAPIC) {
      this.counters.mmioIgnored.inc();
      return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    }
    const reg = offset & 0xff0;
    const byte = offset & 0xf;
    if (offset > 0x3ff) return 0;
    if (!isImplemented(reg)) {
      this.illegalRegister();
      return 0;
    }
    if (byte >= 4) return 0;
    const value = this.readRegister(reg) >>> (byte * 8);
    return size === 4 ? value >>> 0 : size === 2 ? value & 0xffff : value & 0xff;
  }

  /** A write to the APIC page: aligned 32-bit writes only (others are ignored and counted). */
  mmioWrite(offset: number, size: MmioSize, value: number): void {
    if (this._mode !== LAPIC_MODE.XAPIC) {
      this.counters.mmioIgnored.inc();
      return;
    }
    if (offset > 0x3ff) return;
    const reg = offset & 0xff0;
    if (!isImplemented(reg)) {
      this.illegalRegister();
      return;
    }
    if (size !== 4 || (offset & 0xf) !== 0) {
      this.counters.mmioIgnored.inc();
      return;
    }
    value >>>= 0;
    switch (reg) {
      case APIC_REG.ID:
        this.xapicId = value >>> 24;
        return;
      case APIC_REG.EOI:
        this.eoi();
        return;
      case APIC_REG.LDR:
        this.ldr = (value & 0xff000000) >>> 0;
        return;
      case APIC_REG.DFR:
        this.dfr = ((value & 0xf0000000) | 0x0fffffff) >>> 0;
        return;
      case APIC_REG.ICR_LOW:
        this.icrLo = value & ICR_LOW_WRITABLE;
        this.sendIcr(this.icrLo, this.icrHi >>> 24, false);
        return;
      case APIC_REG.ICR_HIGH:
        this.icrHi = (value & 0xff000000) >>> 0;
        return;
      default:
        // Writes to read-only registers are ignored in xAPIC mode.
        this.writeRegister(reg, value);
    }
  }

  // ---------------------------------------------------------------- other hardware inputs

  /**
   * The LINT0 or LINT1 pin is asserted (edge): delivered as its LVT entry says (fixed or
   * NMI; ExtINT, SMI and INIT are counted as unsupported).
   */
  assertLint(pin: 0 | 1): void {
    if (this._mode === LAPIC_MODE.DISABLED) return;
    this.deliverLvt(pin === 0 ? LVT_LINT0 : LVT_LINT1);
  }

  /**
   * INIT reset of the APIC (SDM vol. 3 §10.4.7.3): every register returns to its power-up
   * value except the APIC ID; IA32_APIC_BASE and the mode are kept. A CPU model calls it when
   * it processes an INIT.
   */
  initReset(): void {
    const id = this.xapicId;
    this.resetRegisters();
    this.xapicId = id;
  }

  /**
   * Any register by its xAPIC offset, without side effects (a debugger's view; the mode
   * does not matter). ISR/TMR/IRR offsets select 32-bit words.
   */
  readRegister(offset: number): number {
    switch (offset) {
      case APIC_REG.ID:
        return this._mode === LAPIC_MODE.X2APIC ? this.initialApicId : (this.xapicId << 24) >>> 0;
      case APIC_REG.VERSION:
        return this.version;
      case APIC_REG.TPR:
        return this.tpr;
      case APIC_REG.APR:
        return this.arbitrationPriority;
      case APIC_REG.PPR:
        return this.processorPriority;
      case APIC_REG.EOI:
      case APIC_REG.RRD:
        return 0;
      case APIC_REG.LDR:
        return this.ldr;
      case APIC_REG.DFR:
        return this.dfr;
      case APIC_REG.SVR:
        return this.svr;
      case APIC_REG.ESR:
        return this.esr;
      case APIC_REG.ICR_LOW:
        return this.icrLo;
      case APIC_REG.ICR_HIGH:
        return this.icrHi;
      case APIC_REG.TIMER_INITIAL_COUNT:
        return this.timerInitial;
      case APIC_REG.TIMER_CURRENT_COUNT:
        return this.currentCount();
      case APIC_REG.TIMER_DIVIDE_CONFIG:
        return this.dcr;
      default:
        break;
    }
    if (offset >= APIC_REG.ISR0 && offset < APIC_REG.ISR0 + 0x80)
      return this.isr[(offset - APIC_REG.ISR0) >>> 4]!;
    if (offset >= APIC_REG.TMR0 && offset < APIC_REG.TMR0 + 0x80)
      return this.tmr[(offset - APIC_REG.TMR0) >>> 4]!;
    if (offset >= APIC_REG.IRR0 && offset < APIC_REG.IRR0 + 0x80)
      return this.irr[(offset - APIC_REG.IRR0) >>> 4]!;
    const slot = lvtSlot(offset);
    if (slot >= 0) return this.lvt[slot]!;
    return 0;
  }

  // ---------------------------------------------------------------- internals

  private gp(): MsrAccessResult {
    this.counters.msrFaults.inc();
    return MSR_GP;
  }

  /**
   * The x2APIC reserved bits that depend on this APIC's features or on a field's encoding,
   * beyond the fixed masks of X2APIC_RESERVED (§10.12.1.3).
   */
  private featureReserved(offset: number, value: number): boolean {
    switch (offset) {
      case APIC_REG.SVR:
        // Bit 12 (EOI-broadcast suppression) "is reserved to 0 if the processor does not
        // support suppression of EOI broadcasts", which version bit 24 reports (§10.8.5).
        return (
          (value & SVR.EOI_BROADCAST_SUPPRESSION) !== 0 &&
          (this.version & LAPIC_VERSION_EOI_BROADCAST_SUPPRESSION) === 0
        );
      case APIC_REG.LVT_TIMER:
        // Timer mode 11b is reserved (figure 10-8). Over MMIO the old mode is kept; a WRMSR
        // refuses the whole write rather than apply part of it, so the register is unchanged.
        return ((value >>> LVT.TIMER_MODE_SHIFT) & 3) === 3;
      default:
        return false;
    }
  }

  private illegalRegister(): void {
    this.counters.mmioIgnored.inc();
    this.raiseError(ESR.ILLEGAL_REGISTER_ADDRESS);
  }

  // Register writes common to both modes (x2APIC restrictions are checked by the caller).
  private writeRegister(offset: number, value: number): void {
    switch (offset) {
      case APIC_REG.TPR: {
        const old = this.tpr;
        this.tpr = value & 0xff;
        if (this.tpr < old) this.notifyIfDeliverable();
        return;
      }
      case APIC_REG.SVR:
        this.writeSvr(value);
        return;
      case APIC_REG.ESR:
        // A write latches the errors collected since the last write (the value is ignored).
        this.esr = this.esrPending;
        this.esrPending = 0;
        return;
      case APIC_REG.TIMER_INITIAL_COUNT:
        this.writeInitialCount(value >>> 0);
        return;
      case APIC_REG.TIMER_DIVIDE_CONFIG:
        this.dcr = value & DCR_WRITABLE;
        return;
      default: {
        const slot = lvtSlot(offset);
        if (slot >= 0) this.writeLvt(slot, value);
      }
    }
  }

  private writeSvr(value: number): void {
    let mask = SVR.VECTOR_MASK | SVR.APIC_SOFTWARE_ENABLE | SVR.FOCUS_CHECK_DISABLE;
    if ((this.version & LAPIC_VERSION_EOI_BROADCAST_SUPPRESSION) !== 0) mask |= SVR.EOI_BROADCAST_SUPPRESSION;
    const wasEnabled = (this.svr & SVR.APIC_SOFTWARE_ENABLE) !== 0;
    this.svr = value & mask;
    if (wasEnabled && (this.svr & SVR.APIC_SOFTWARE_ENABLE) === 0) {
      // Software disable masks every LVT entry (§10.4.7.2).
      for (let i = 0; i < LVT_COUNT; i++) this.lvt[i] = (this.lvt[i]! | LVT.MASKED) >>> 0;
    }
  }

  private writeLvt(slot: number, value: number): void {
    let v = value & LVT_WRITABLE[slot]!;
    // While software-disabled the mask bits cannot be cleared (§10.4.7.2).
    if ((this.svr & SVR.APIC_SOFTWARE_ENABLE) === 0) v |= LVT.MASKED;
    if (slot === LVT_TIMER) {
      const oldMode = this.timerMode();
      const newMode = (v >>> LVT.TIMER_MODE_SHIFT) & 3;
      // Mode 3 is reserved: keep the old mode bits.
      if (newMode === 3) v = (v & ~(3 << LVT.TIMER_MODE_SHIFT)) | (oldMode << LVT.TIMER_MODE_SHIFT);
      this.lvt[slot] = v >>> 0;
      const mode = this.timerMode();
      // Switching into or out of TSC-deadline mode disarms the timer (§10.5.4.1).
      if ((oldMode === TIMER_MODE.TSC_DEADLINE) !== (mode === TIMER_MODE.TSC_DEADLINE)) this.disarmTimer();
      return;
    }
    this.lvt[slot] = v >>> 0;
  }

  private writeApicBase(lo: number, hi: number): MsrAccessResult {
    if ((lo & ~APIC_BASE_LO_WRITABLE) !== 0 || (hi & ~APIC_BASE_HI_WRITABLE) !== 0) return this.gp();
    const en = (lo & APIC_BASE_MSR.ENABLE) !== 0;
    const extd = (lo & APIC_BASE_MSR.EXTD) !== 0;
    // EN = 0 with EXTD = 1 is invalid; x2APIC → xAPIC and disabled → x2APIC are illegal
    // transitions (§10.12.5, figure 10-27).
    if (!en && extd) return this.gp();
    const next: LapicMode = !en ? LAPIC_MODE.DISABLED : extd ? LAPIC_MODE.X2APIC : LAPIC_MODE.XAPIC;
    const prev = this._mode;
    if (prev === LAPIC_MODE.X2APIC && next === LAPIC_MODE.XAPIC) return this.gp();
    if (prev === LAPIC_MODE.DISABLED && next === LAPIC_MODE.X2APIC) return this.gp();
    this.baseLo =
      ((lo & (APIC_BASE_MSR.BASE_MASK | APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.EXTD)) |
        (this.baseLo & APIC_BASE_MSR.BSP)) >>>
      0;
    this.baseHi = hi;
    this._mode = next;
    if (next === LAPIC_MODE.DISABLED && prev !== LAPIC_MODE.DISABLED) {
      // A globally disabled APIC loses its state: re-enabling finds the power-up state
      // (§10.4.3), with the APIC ID back at the initial ID.
      this.resetRegisters();
    } else if (next === LAPIC_MODE.X2APIC && prev === LAPIC_MODE.XAPIC) {
      // Entering x2APIC mode: the ID becomes the x2APIC ID, the LDR is derived from it and
      // the DFR no longer exists (§10.12.5.1, §10.12.10.2).
      this.ldr = x2apicLdr(this.initialApicId);
    }
    return MSR_OK;
  }

  private resetRegisters(): void {
    this.irr.fill(0);
    this.irrCount = 0;
    this.isr.fill(0);
    this.tmr.fill(0);
    this.xapicId = this.initialApicId & 0xff;
    this.tpr = 0;
    this.ldr = this._mode === LAPIC_MODE.X2APIC ? x2apicLdr(this.initialApicId) : 0;
    this.dfr = 0xffffffff;
    this.svr = 0xff;
    this.esr = 0;
    this.esrPending = 0;
    this.icrLo = 0;
    this.icrHi = 0;
    this.lvt.fill(LVT_RESET);
    this.nmiPending = false;
    this.timerInitial = 0;
    this.dcr = 0;
    this.disarmTimer();
  }

  private acceptFixed(vector: number, level: boolean): void {
    if (vector < 16) {
      // Vectors 0–15 are illegal for fixed interrupts (§10.5.2): not accepted, ESR bit 6.
      this.counters.illegalVector.inc();
      this.raiseError(ESR.RECEIVED_ILLEGAL_VECTOR);
      return;
    }
    this.setIrr(vector, level);
  }

  private setIrr(vector: number, level: boolean): void {
    const w = vector >>> 5;
    const bit = 1 << (vector & 31);
    // The TMR follows the trigger mode of the latest acceptance (§10.8.4).
    this.tmr[w] = level ? this.tmr[w]! | bit : this.tmr[w]! & ~bit;
    if ((this.irr[w]! & bit) !== 0) {
      this.counters.coalesced.inc();
      return;
    }
    this.irr[w] = this.irr[w]! | bit;
    this.irrCount++;
    this.counters.accepted.inc();
    this.trace('irr', vector);
    if (priorityClass(vector) > priorityClass(this.processorPriority)) this.notifyIfDeliverable();
  }

  private deliverableVector(): number {
    if (this._mode === LAPIC_MODE.DISABLED || this.irrCount === 0) return -1;
    const v = highest(this.irr);
    if (v < 0) return -1;
    return priorityClass(v) > priorityClass(this.processorPriority) ? v : -1;
  }

  private notifyIfDeliverable(): void {
    if (this.listener !== null && this.deliverableVector() >= 0) this.listener.interruptLineChanged();
  }

  private raiseNmi(): void {
    this.counters.nmi.inc();
    this.nmiPending = true;
    this.trace('nmi', 2);
    if (this.listener !== null) this.listener.interruptLineChanged();
  }

  /** EOI (§10.8.5): clears the highest ISR bit; broadcasts for a level-triggered vector. */
  private eoi(): void {
    const v = highest(this.isr);
    if (v < 0) {
      this.counters.eoiEmpty.inc();
      return;
    }
    const w = v >>> 5;
    const bit = 1 << (v & 31);
    this.isr[w] = this.isr[w]! & ~bit;
    this.counters.eoi.inc();
    this.trace('eoi', v);
    if ((this.tmr[w]! & bit) !== 0) {
      if ((this.svr & SVR.EOI_BROADCAST_SUPPRESSION) !== 0) {
        this.counters.eoiSuppressed.inc();
      } else {
        this.counters.eoiBroadcasts.inc();
        this.bus.broadcastEoi(v);
      }
    }
    this.notifyIfDeliverable();
  }

  private raiseError(bits: number): void {
    this.esrPending |= bits;
    this.deliverLvt(LVT_ERROR);
  }

  // A local interrupt through an LVT entry (§10.5.1).
  private deliverLvt(slot: number): void {
    const entry = this.lvt[slot]!;
    if ((entry & LVT.MASKED) !== 0) return;
    // The timer and error entries have no delivery-mode field: they are always fixed.
    const mode =
      slot === LVT_TIMER || slot === LVT_ERROR
        ? DELIVERY_MODE.FIXED
        : (entry >>> LVT.DELIVERY_MODE_SHIFT) & 7;
    if (mode === DELIVERY_MODE.NMI) {
      this.raiseNmi();
      return;
    }
    if (mode !== DELIVERY_MODE.FIXED) {
      this.counters.unsupported.inc();
      return;
    }
    const vector = entry & LVT.VECTOR_MASK;
    if (vector < 16) {
      this.counters.illegalVector.inc();
      this.esrPending |= ESR.RECEIVED_ILLEGAL_VECTOR;
      // An illegal vector in the error entry itself is logged without another error interrupt.
      if (slot !== LVT_ERROR) this.deliverLvt(LVT_ERROR);
      return;
    }
    const level = (slot === LVT_LINT0 || slot === LVT_LINT1) && (entry & LVT.TRIGGER_LEVEL) !== 0;
    this.setIrr(vector, level);
  }

  // Sends the IPI an ICR write describes (§10.6.1; table 10-3 for the valid combinations).
  private sendIcr(lo: number, destination: number, x2apic: boolean): void {
    const vector = lo & ICR.VECTOR_MASK;
    const dm = (lo >>> ICR.DELIVERY_MODE_SHIFT) & 7;
    const shorthand = (lo >>> ICR.SHORTHAND_SHIFT) & 3;
    const levelTriggered = (lo & ICR.TRIGGER_LEVEL) !== 0;
    const assert = (lo & ICR.LEVEL_ASSERT) !== 0;
    // Reserved delivery modes (3, and ExtINT which an ICR cannot send); INIT level
    // de-assert, which the Pentium 4 and later (and x2APIC) do not support.
    if (dm === 3 || dm === DELIVERY_MODE.EXTINT || (dm === DELIVERY_MODE.INIT && levelTriggered && !assert)) {
      this.counters.ipisInvalid.inc();
      return;
    }
    // The x2APIC ICR has no lowest-priority mode (001b is reserved, SDM vol. 3 §10.12.9,
    // figure 10-28): the APIC sets ESR bit 4, "Redirectable IPI", and does not process the
    // interrupt; with an illegal vector that is the only error logged (§10.5.3, ESR bits 4 and
    // 5; x2APIC specification, ref. 318148, §2.3.5). In xAPIC mode sending one is model
    // specific (table 10-3, note 1); this model sends it.
    if (x2apic && dm === DELIVERY_MODE.LOWEST_PRIORITY) {
      this.counters.ipisInvalid.inc();
      this.raiseError(ESR.REDIRECTABLE_IPI);
      return;
    }
    // Self and all-including-self carry fixed interrupts only.
    if (
      (shorthand === DEST_SHORTHAND.SELF || shorthand === DEST_SHORTHAND.ALL_INCLUDING_SELF) &&
      dm !== DELIVERY_MODE.FIXED
    ) {
      this.counters.ipisInvalid.inc();
      return;
    }
    if ((dm === DELIVERY_MODE.FIXED || dm === DELIVERY_MODE.LOWEST_PRIORITY) && vector < 16) {
      // A vector in 0–15 sets "Send Illegal Vector" (ESR bit 5) here, and the message still
      // goes out: each APIC that receives it, this one too for a self IPI, sets "Receive
      // Illegal Vector" (bit 6) and sets no IRR bit (SDM vol. 3 §10.5.3, ESR bits 5 and 6, and
      // "x2APIC Differences in Error Handling"; VirtualBox's APICAll.cpp does the same).
      this.counters.illegalVector.inc();
      this.raiseError(ESR.SEND_ILLEGAL_VECTOR);
    }
    this.counters.ipisSent.inc();
    if (shorthand === DEST_SHORTHAND.SELF) {
      this.selfDeliver(vector);
      return;
    }
    const m = this.msg;
    m.vector = vector;
    m.deliveryMode = dm;
    m.destMode = (lo & ICR.DEST_MODE_LOGICAL) !== 0 ? DEST_MODE.LOGICAL : DEST_MODE.PHYSICAL;
    m.destination = destination >>> 0;
    // A level trigger in the ICR is sent as edge (table 10-3, note 2).
    m.triggerMode = TRIGGER_MODE.EDGE;
    m.level = 1;
    m.redirectionHint = 0;
    m.x2apicDestination = x2apic;
    this.bus.sendIpi(this, m, shorthand);
  }

  // The x2APIC SELF IPI register (§10.12.11): a fixed, edge-triggered IPI to this APIC. An
  // illegal vector sets ESR bit 5 as the sender and bit 6 as the receiver (§10.5.3).
  private selfIpi(vector: number): void {
    if (vector < 16) {
      this.counters.illegalVector.inc();
      this.raiseError(ESR.SEND_ILLEGAL_VECTOR);
    }
    this.counters.ipisSent.inc();
    this.selfDeliver(vector);
  }

  // Self-directed IPIs do not cross the bus: accepted at once, as a fixed edge-triggered
  // message (vectors 0–15 are refused with ESR bit 6 by acceptFixed).
  private selfDeliver(vector: number): void {
    if ((this.svr & SVR.APIC_SOFTWARE_ENABLE) === 0) {
      this.counters.droppedDisabled.inc();
      return;
    }
    this.acceptFixed(vector, false);
  }

  // ---------------------------------------------------------------- timer (§10.5.4)

  private timerMode(): number {
    return (this.lvt[LVT_TIMER]! >>> LVT.TIMER_MODE_SHIFT) & 3;
  }

  private disarmTimer(): void {
    this.sim.cancel(this.timerEvent);
    this.timerRunning = false;
    this.deadlineLo = 0;
    this.deadlineHi = 0;
  }

  private writeInitialCount(value: number): void {
    // Ignored in TSC-deadline mode (§10.5.4.1).
    if (this.timerMode() === TIMER_MODE.TSC_DEADLINE) return;
    this.sim.cancel(this.timerEvent);
    this.timerInitial = value;
    this.timerRunning = false;
    if (value === 0) return; // an initial count of 0 stops the timer
    // The divide configuration is sampled at each load: divide by 2^((DCR[3,1:0] + 1) mod 8).
    const code = ((this.dcr >>> 1) & 4) | (this.dcr & 3);
    this.timerDivisor = 1 << ((code + 1) & 7);
    this.timerOrigin = this.sim.now;
    this.timerPeriods = 0;
    this.timerRunning = true;
    this.sim.schedule(this.timerEvent, this.expiryTime(0));
  }

  private expiryTime(k: number): number {
    return (
      this.timerOrigin + Math.round((k + 1) * this.timerInitial * this.timerDivisor * this.psPerTimerTick)
    );
  }

  // The current count from time, not from ticking: the initial count minus the input-clock
  // ticks (after the divider) since the last load or reload.
  private currentCount(): number {
    if (!this.timerRunning || this.timerMode() === TIMER_MODE.TSC_DEADLINE) return 0;
    const ticks = Math.floor(
      (this.sim.now - this.timerOrigin) / (this.timerDivisor * this.psPerTimerTick) + 1e-9,
    );
    if (this.timerMode() === TIMER_MODE.PERIODIC) {
      const r = ticks % this.timerInitial;
      return r === 0 && ticks > 0 ? this.timerInitial : this.timerInitial - r;
    }
    return ticks >= this.timerInitial ? 0 : this.timerInitial - ticks;
  }

  private writeTscDeadline(lo: number, hi: number): void {
    // Writes are ignored outside TSC-deadline mode (§10.5.4.1).
    if (this.timerMode() !== TIMER_MODE.TSC_DEADLINE || this._mode === LAPIC_MODE.DISABLED) return;
    this.sim.cancel(this.timerEvent);
    this.deadlineLo = lo;
    this.deadlineHi = hi;
    if ((lo | hi) === 0) return; // zero disarms
    const t = this.timeOfTsc(hi * TWO_POW_32 + lo);
    if (t > MAX_TIME_PS) return; // beyond the end of simulated time: never fires
    this.sim.schedule(this.timerEvent, Math.max(t, this.sim.now));
  }

  // The first picosecond at which the TSC (cycles at tscHz since time 0) reaches `tsc`.
  private timeOfTsc(tsc: number): number {
    let t = Math.ceil((tsc * PS_PER_S) / this.tscHz);
    if (!(t <= MAX_TIME_PS)) return Number.POSITIVE_INFINITY;
    while (t > 0 && psToCycles(t - 1, this.tscHz) >= tsc) t--;
    while (psToCycles(t, this.tscHz) < tsc) t++;
    return t;
  }

  private timerFired(): void {
    this.counters.timerExpired.inc();
    const mode = this.timerMode();
    if (mode === TIMER_MODE.TSC_DEADLINE) {
      // The deadline MSR reads zero once the timer has fired.
      this.deadlineLo = 0;
      this.deadlineHi = 0;
    } else if (mode === TIMER_MODE.PERIODIC) {
      this.timerPeriods++;
      this.sim.schedule(this.timerEvent, this.expiryTime(this.timerPeriods));
    } else {
      this.timerRunning = false;
    }
    this.deliverLvt(LVT_TIMER);
  }

  private trace(what: string, vector: number): void {
    const t = this.tracer;
    if (t?.enabled) t.instant(this.name, what, this.sim.now, { vector });
  }
}

/** The x2APIC logical ID (§10.12.10.2): cluster ID[19:4] in 31:16, bit ID[3:0] in 15:0. */
export function x2apicLdr(x2apicId: number): number {
  return ((((x2apicId >>> 4) & 0xffff) << 16) | (1 << (x2apicId & 0xf))) >>> 0;
}

// The highest set bit of a 256-bit set, or −1.
function highest(set: Uint32Array): number {
  for (let w = 7; w >= 0; w--) {
    const word = set[w]!;
    if (word !== 0) return (w << 5) + 31 - Math.clz32(word);
  }
  return -1;
}

function lvtSlot(offset: number): number {
  switch (offset) {
    case APIC_REG.LVT_CMCI:
      return LVT_CMCI;
    case APIC_REG.LVT_TIMER:
      return LVT_TIMER;
    case APIC_REG.LVT_THERMAL:
      return LVT_THERMAL;
    case APIC_REG.LVT_PERF:
      return LVT_PERF;
    case APIC_REG.LVT_LINT0:
      return LVT_LINT0;
    case APIC_REG.LVT_LINT1:
      return LVT_LINT1;
    case APIC_REG.LVT_ERROR:
      return LVT_ERROR;
    default:
      return -1;
  }
}

// Registers implemented at an xAPIC offset (SDM table 10-1), 0x000–0x3F0. The SELF IPI
// offset exists only as an x2APIC MSR, and is handled there.
function isImplemented(offset: number): boolean {
  if (offset >= APIC_REG.ISR0 && offset < APIC_REG.IRR0 + 0x80) return true; // ISR, TMR, IRR
  switch (offset) {
    case APIC_REG.ID:
    case APIC_REG.VERSION:
    case APIC_REG.TPR:
    case APIC_REG.APR:
    case APIC_REG.PPR:
    case APIC_REG.EOI:
    case APIC_REG.RRD:
    case APIC_REG.LDR:
    case APIC_REG.DFR:
    case APIC_REG.SVR:
    case APIC_REG.ESR:
    case APIC_REG.ICR_LOW:
    case APIC_REG.ICR_HIGH:
    case APIC_REG.TIMER_INITIAL_COUNT:
    case APIC_REG.TIMER_CURRENT_COUNT:
    case APIC_REG.TIMER_DIVIDE_CONFIG:
      return true;
    default:
      return lvtSlot(offset) >= 0;
  }
}
