import type { Counter, ScopedStats, SimEvent, Simulator } from '@exitless/sim';
import { ClockDomain, Stats, Tracer } from '@exitless/sim';
import type {
  CodeSpace,
  CpuContext,
  Frame,
  GuestPhysicalMap,
  InterruptLineListener,
  LocalApic,
  MsrDevice,
  MsrValue,
  PhysicalBus,
  PhysicalMemory,
  Routine,
} from '@exitless/x86';
import {
  ACTIVITY_STATE,
  APIC_ACCESS_TYPE,
  APIC_BASE_MSR,
  APIC_PAGE_SIZE,
  APIC_REG,
  DESCRIPTOR_TABLE_INSTRUCTION,
  EPT_VIOLATION_QUAL,
  EXCEPTION,
  EXIT_CONTROLS,
  EXIT_REASON,
  EXIT_REASON_ENTRY_FAILURE,
  exceptionHasErrorCode,
  exitReasonName,
  GATE_TYPE,
  GPA_ACCESS,
  gateOffsetNumber,
  gatePresent,
  gateType,
  IDT_GATE_SIZE,
  INSTRUCTION_INFO,
  INTERRUPTIBILITY,
  INTR_INFO,
  INTR_TYPE,
  idtErrorCode,
  interruptionInfo,
  isContributoryException,
  MSR,
  MSR_GP,
  MSR_OK,
  msrBitmapPosition,
  PAGE_SIZE,
  PIN_BASED,
  POSTED_INTERRUPT_DESCRIPTOR,
  PROC_BASED,
  PROC_BASED2,
  RFLAGS,
  TWO_POW_32,
  VECTOR_COUNT,
  VM_INSTRUCTION_ERROR,
  VMCS_FIELD,
  VMCS_FIELD_TYPE,
  VMX_STATUS,
  vmcsFieldType,
} from '@exitless/x86';
import { ApicVirtualization, apicAccessVirtualized, isVirtualizedSelfIpi } from './apic-virtualization.js';
import {
  controlsAllowed1,
  ENTRY_ALLOWED1,
  EXIT_ALLOWED1,
  FEATURE_CONTROL_LOCKED_VMX,
  VMX_BASIC,
  VMX_DEFAULT1,
  VMX_MISC_ACTIVITY_HLT,
} from './capabilities.js';
import type { CpuCosts } from './costs.js';
import { validateCpuCosts } from './costs.js';
import { CpuConfigError, CpuUsageError } from './errors.js';
import type { CpuFrame } from './frames.js';
import { FRAME_KIND, FrameStack, MAX_FRAME_DEPTH } from './frames.js';
import type { MeasuredCpu } from './part.js';
import type { Vmcs } from './vmcs.js';
import { VmcsStore, vmcsFieldBase, vmcsFieldSlot } from './vmcs.js';

/**
 * The slots (vmcsFieldSlot) of the VMCS fields the CPU itself reads and writes at VM entry and
 * exit: Vmcs.getAt/setAt with these are get/set without looking each encoding up.
 */
const F_APIC_ACCESS_ADDR = vmcsFieldSlot(VMCS_FIELD.APIC_ACCESS_ADDR);
const F_CPU_BASED_VM_EXEC_CONTROL = vmcsFieldSlot(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
const F_EXCEPTION_BITMAP = vmcsFieldSlot(VMCS_FIELD.EXCEPTION_BITMAP);
const F_EXIT_QUALIFICATION = vmcsFieldSlot(VMCS_FIELD.EXIT_QUALIFICATION);
const F_GUEST_ACTIVITY_STATE = vmcsFieldSlot(VMCS_FIELD.GUEST_ACTIVITY_STATE);
const F_GUEST_IDTR_BASE = vmcsFieldSlot(VMCS_FIELD.GUEST_IDTR_BASE);
const F_GUEST_IDTR_LIMIT = vmcsFieldSlot(VMCS_FIELD.GUEST_IDTR_LIMIT);
const F_GUEST_INTERRUPTIBILITY_INFO = vmcsFieldSlot(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO);
const F_GUEST_INTERRUPT_STATUS = vmcsFieldSlot(VMCS_FIELD.GUEST_INTERRUPT_STATUS);
const F_GUEST_PHYSICAL_ADDRESS = vmcsFieldSlot(VMCS_FIELD.GUEST_PHYSICAL_ADDRESS);
const F_GUEST_RFLAGS = vmcsFieldSlot(VMCS_FIELD.GUEST_RFLAGS);
const F_GUEST_RIP = vmcsFieldSlot(VMCS_FIELD.GUEST_RIP);
const F_HOST_IDTR_BASE = vmcsFieldSlot(VMCS_FIELD.HOST_IDTR_BASE);
const F_IDT_VECTORING_ERROR_CODE = vmcsFieldSlot(VMCS_FIELD.IDT_VECTORING_ERROR_CODE);
const F_IDT_VECTORING_INFO = vmcsFieldSlot(VMCS_FIELD.IDT_VECTORING_INFO);
const F_MSR_BITMAP = vmcsFieldSlot(VMCS_FIELD.MSR_BITMAP);
const F_PIN_BASED_VM_EXEC_CONTROL = vmcsFieldSlot(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL);
const F_POSTED_INTR_DESC_ADDR = vmcsFieldSlot(VMCS_FIELD.POSTED_INTR_DESC_ADDR);
const F_POSTED_INTR_NOTIFICATION_VECTOR = vmcsFieldSlot(VMCS_FIELD.POSTED_INTR_NOTIFICATION_VECTOR);
const F_SECONDARY_VM_EXEC_CONTROL = vmcsFieldSlot(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL);
const F_TPR_THRESHOLD = vmcsFieldSlot(VMCS_FIELD.TPR_THRESHOLD);
const F_VIRTUAL_APIC_PAGE_ADDR = vmcsFieldSlot(VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR);
const F_VMX_INSTRUCTION_INFO = vmcsFieldSlot(VMCS_FIELD.VMX_INSTRUCTION_INFO);
const F_VMX_PREEMPTION_TIMER_VALUE = vmcsFieldSlot(VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE);
const F_VM_ENTRY_CONTROLS = vmcsFieldSlot(VMCS_FIELD.VM_ENTRY_CONTROLS);
const F_VM_ENTRY_EXCEPTION_ERROR_CODE = vmcsFieldSlot(VMCS_FIELD.VM_ENTRY_EXCEPTION_ERROR_CODE);
const F_VM_ENTRY_INSTRUCTION_LEN = vmcsFieldSlot(VMCS_FIELD.VM_ENTRY_INSTRUCTION_LEN);
const F_VM_ENTRY_INTR_INFO = vmcsFieldSlot(VMCS_FIELD.VM_ENTRY_INTR_INFO);
const F_VM_EXIT_CONTROLS = vmcsFieldSlot(VMCS_FIELD.VM_EXIT_CONTROLS);
const F_VM_EXIT_INSTRUCTION_LEN = vmcsFieldSlot(VMCS_FIELD.VM_EXIT_INSTRUCTION_LEN);
const F_VM_EXIT_INTR_ERROR_CODE = vmcsFieldSlot(VMCS_FIELD.VM_EXIT_INTR_ERROR_CODE);
const F_VM_EXIT_INTR_INFO = vmcsFieldSlot(VMCS_FIELD.VM_EXIT_INTR_INFO);
const F_VM_EXIT_REASON = vmcsFieldSlot(VMCS_FIELD.VM_EXIT_REASON);
const F_VM_INSTRUCTION_ERROR = vmcsFieldSlot(VMCS_FIELD.VM_INSTRUCTION_ERROR);

/** The ELI paper's machine: Intel Xeon X5570 (Nehalem) at 2.93 GHz. */
export const DEFAULT_CPU_HZ = 2_930_000_000;

/**
 * IA32_VMX_MISC[4:0] on the ELI-era Nehalem: the preemption timer counts once every 2^5
 * TSC cycles. An estimate (the Xeon X5570 value is not published in a source we hold).
 */
export const DEFAULT_VMX_PREEMPTION_RATE = 5;

/** Options of a CPU core. */
/**
 * What a CPU counts, as typed counters (the pattern of `LocalApicDevice.counters`): a report
 * reads these objects rather than looking names up. Each is also registered in the CPU's
 * stats scope (`cpu<id>.time.guest`, `cpu<id>.exits.<reason>`, …), so `reset()` at the end of a
 * warm-up zeroes them and a snapshot lists them.
 */
export interface CpuCounters {
  /** Time in each category since the start, ps (they sum to the time since the start, after `flushAccounting`). */
  readonly time: {
    /** Running guest software (non-root operation), or the OS on bare metal in root operation: `host`. */
    readonly guest: Counter;
    /** Running host software in VMX root operation. */
    readonly host: Counter;
    /** VM entry and exit transitions. */
    readonly transition: Counter;
    /** Halted (HLT) in a guest. */
    readonly haltedGuest: Counter;
    /** Halted (HLT) in root operation. */
    readonly haltedHost: Counter;
    /** Guest work spent paying exits' indirect costs (refills after the entry). */
    readonly exitIndirect: Counter;
    /** No software to run. */
    readonly idle: Counter;
  };
  /** Events delivered through the IDT. */
  readonly interruptsDelivered: Counter;
  /** Interrupts acknowledged from the LAPIC (INTA). */
  readonly interruptsAcknowledged: Counter;
  /** VM entries (VMLAUNCH, VMRESUME) that reached the guest. */
  readonly vmEntries: Counter;
  /**
   * VM entries that failed the guest-state checks and exited with the VM-entry-failure bit (SDM vol. 3
   * §26.8).
   */
  readonly vmEntryFailures: Counter;
  /** VM exits by basic exit reason (index: the reason; a slot is filled at the first exit of that reason). */
  readonly exits: readonly (Counter | undefined)[];
  /** The indirect cost charged for exits of each basic reason, ps (index: the reason). */
  readonly exitIndirectPs: readonly (Counter | undefined)[];
}

/** Options of a {@link Cpu}. */
export interface CpuOptions {
  /** Index of the CPU (0, 1, …); names its statistics `cpu<id>.…`. */
  readonly id: number;
  /** The simulator the core runs on. */
  readonly sim: Simulator;
  /** Core clock in Hz (default DEFAULT_CPU_HZ, 2.93 GHz). */
  readonly hz?: number;
  /** The host-physical address space: RAM and MMIO. */
  readonly bus: PhysicalBus;
  /** Routines by host-physical address: IDT gate offsets, GUEST_RIP and call targets are looked up here. */
  readonly code: CodeSpace;
  /** This core's local APIC: its interrupt line, the owner of its MSRs, and (in xAPIC mode) its register page. */
  readonly lapic: LocalApic;
  /** Further MSR owners, asked after the CPU itself and the LAPIC. */
  readonly msrDevices?: readonly MsrDevice[];
  /** Cycle costs of operations and transitions (all required, see CpuCosts). */
  readonly costs: CpuCosts;
  /** IA32_VMX_MISC[4:0]: the preemption timer ticks every 2^rate TSC cycles (default 5). */
  readonly vmxMiscPreemptionRate?: number;
  /**
   * Whether the CPU offers the APIC-virtualization controls (use TPR shadow, virtualize x2APIC
   * mode, APIC-register virtualization, virtual-interrupt delivery, process posted interrupts;
   * SDM vol. 3 ch. 29) in its capability MSRs and accepts them at VM entry. Intel's CPUs have
   * them from Ivy Bridge-EP on; default true. A Nehalem model sets false.
   */
  readonly apicVirtualization?: boolean;
  /** Where statistics go: a Stats registry is scoped to `cpu<id>`; a ScopedStats is used as given. */
  readonly stats: ScopedStats | Stats;
  /** Where the core traces, if given. */
  readonly tracer?: Tracer;
  /** VMCS regions by address; share one store between the CPUs of a machine (default: one per CPU). */
  readonly vmcsStore?: VmcsStore;
}

// What the CPU is doing.
const P_IDLE = 0; // not started, or no software left (the entry routine returned)
const P_RUN = 1; // the run loop owns the CPU (transient, inside an event)
const P_DELAY = 2; // an operation's cycles are elapsing (interruptible)
const P_HALTED = 3;
const P_EXIT = 4; // VM-exit transition (not interruptible)
const P_ENTRY = 5; // VM-entry transition (not interruptible)
const P_SHUTDOWN = 6; // triple fault in root operation
const P_POSTED = 7; // posted-interrupt processing (not interruptible, SDM vol. 3 §29.6)

// Time categories, accounted in ps; their sum is the time since start().
const C_GUEST = 0;
const C_HOST = 1;
const C_TRANSITION = 2;
const C_HALTED_GUEST = 3;
const C_HALTED_HOST = 4;
const C_EXIT_INDIRECT = 5;
const C_IDLE = 6;
/**
 * Host time in a spin-wait (`spin`): reported as host time (its counter is C_HOST's), but kept
 * apart so that it adds nothing to the host's footprint after an exit (`hostWorkPs`).
 */
const C_HOST_SPIN = 7;
const CATEGORY_NAMES = [
  'time.guest',
  'time.host',
  'time.transition',
  'time.halted-guest',
  'time.halted-host',
  'time.exit-indirect',
  'time.idle',
] as const;

// Events that can be taken at an operation boundary, in the order they are checked.
const A_NONE = 0;
const A_TIMER_EXIT = 1;
const A_NMI_EXIT = 2;
const A_NMI_DELIVER = 3;
const A_WINDOW_EXIT = 4;
const A_EXTINT_EXIT = 5;
const A_INTR_DELIVER = 6;
const A_VINTR_DELIVER = 7; // virtual-interrupt delivery (SDM vol. 3 §29.2.2)
const A_EXTINT_POSTED = 8; // an external interrupt with "process posted interrupts" (§29.6)
const A_TPR_EXIT = 9; // the TPR-threshold VM exit right after VM entry (SDM vol. 3 §26.6.7)

// What a WRMSR to an x2APIC MSR did under "virtualize x2APIC mode" (SDM vol. 3 §29.5).
const VW_NORMAL = 0; // not virtualized: the WRMSR operates normally
const VW_DONE = 1; // virtualized, no exit
const VW_EXITED = 2; // virtualized, then a trap-like VM exit (EOI-induced, TPR below threshold or APIC write)
const VW_GP = 3; // #GP(0)

/** guestAccessHpa's answer for an access to the APIC-access page that is virtualized (SDM vol. 3 §29.4). */
const APIC_VIRTUALIZED = -2;

// How the guest operation that exited completes at the next VM entry.
const EC_NONE = 0;
const EC_RDMSR = 1; // EDX:EAX (rdx:rax) set by the hypervisor's emulation → resultHi:resultLo
const EC_MMIO_READ = 2; // the load's destination register (rax) → resultLo
const EC_OP = 3; // nothing to take from the hypervisor (WRMSR, a store, HLT, VMCALL, LIDT, SIDT)

/** RFLAGS bits that VM entry requires to be 0: 3, 5, 15 and 31:22 (SDM vol. 3 §26.3.1.4). */
const RFLAGS_RESERVED0 = 0xffc08028;
/** Interruption-information bits 30:12 must be 0 at VM entry (SDM vol. 3 §26.2.1.3). */
const INTR_INFO_RESERVED = 0x7ffff000;
/** Interruptibility-state bits 31:4 must be 0 (SDM vol. 3 §26.3.1.5). */
const INTERRUPTIBILITY_RESERVED = 0xfffffff0;
/** Gate descriptor bit 12 of the second dword: S = 1 marks a code/data segment, not a gate. */
const DESCRIPTOR_S = 0x1000;
/** VM-exit instruction information bits 17:15: segment register DS (3) (SDM vol. 3 table 27-10). */
const INSTRUCTION_INFO_SEGMENT_DS = 3 << 15;
/** Reset value of IDTR.limit, and the limit VM exit loads (SDM vol. 3 §9.1.1, §27.5.2). */
const IDTR_LIMIT_RESET = 0xffff;
/** Instruction lengths recorded in VM_EXIT_INSTRUCTION_LEN (0F 32, 0F 30, F4, 0F 01 C1, 0F 01 /3 with SIB+disp32). */
const LEN_RDMSR = 2;
const LEN_WRMSR = 2;
const LEN_HLT = 1;
const LEN_VMCALL = 3;
const LEN_DESCRIPTOR_TABLE = 8;
/** LIDT's and SIDT's memory operand in 64-bit mode: a 2-byte limit, then an 8-byte base (SDM vol. 2, LGDT/LIDT). */
const DESCRIPTOR_TABLE_OPERAND_BYTES = 10;

/** Consecutive operations or events without simulated time passing before the CPU reports a livelock. */
const MAX_ZERO_TIME_STEPS = 1_000_000;

/**
 * An x86 core with VMX, running software written against x86's Routine/CpuContext
 * contract. See the package README for what is modeled exactly and what is not.
 */
export class Cpu implements CpuContext, InterruptLineListener, MeasuredCpu {
  readonly id: number;
  readonly hz: number;
  /** The core's clock domain (cycles ↔ ps). */
  readonly clock: ClockDomain;
  /** This core's local APIC. */
  readonly lapic: LocalApic;
  /** The VMCS regions this core can load, by address. */
  readonly vmcsStore: VmcsStore;
  /** IA32_VMX_MISC[4:0]. */
  readonly preemptionRate: number;
  /** The allowed-1 settings of the pin-based, primary and secondary controls this CPU reports and accepts. */
  private readonly allowed1: { readonly pin: number; readonly proc: number; readonly proc2: number };
  /** IDT deliveries in VMX root operation, by vector. */
  readonly deliveredRoot: Float64Array = new Float64Array(VECTOR_COUNT);
  /** IDT deliveries in VMX non-root operation (to guests), by vector. */
  readonly deliveredGuest: Float64Array = new Float64Array(VECTOR_COUNT);

  rax = 0;
  /** RBX. */
  rbx = 0;
  /** RCX. */
  rcx = 0;
  /** RDX. */
  rdx = 0;

  private readonly sim: Simulator;
  private readonly bus: PhysicalBus;
  private readonly code: CodeSpace;
  private readonly msrDevices: readonly MsrDevice[];
  private readonly stats: ScopedStats | Stats;
  private readonly tracer: Tracer;
  private readonly track: string;

  // Costs in ps.
  private readonly psExit: number;
  private readonly psEntry: number;
  private readonly psIndirect: number;
  private readonly pollutionPerHost: number;
  private readonly psPollutionMax: number;
  private readonly psDelivery: number;
  private readonly psIret: number;
  private readonly psRdmsr: number;
  private readonly psWrmsr: number;
  private readonly psMmioRead: number;
  private readonly psMmioWrite: number;
  private readonly psCliSti: number;
  private readonly psDescriptorTable: number;
  private readonly psPause: number;

  // Architectural state.
  private _resultLo = 0;
  private _resultHi = 0;
  private _vmxStatus = 0;
  private _if = false;
  private stiShadow = false;
  /**
   * Blocking by MOV SS (SDM vol. 3 table 24-3): only a VM entry sets it here (there is no MOV SS
   * operation). Kept apart from blocking by STI because it also blocks NMIs and because a VM
   * exit saves it as interruptibility bit 1, not bit 0.
   */
  private movSsShadow = false;
  /**
   * Blocking by STI and by MOV SS (interruptibility bits 0 and 1) that was in effect when the
   * operation being stepped began. beginOp ends the blocking (the operation has begun, so an
   * event may come during its cycles), but an operation that causes a fault-like VM exit has
   * not executed (SDM vol. 3 §25.1: "the instruction causing the VM exit does not execute and
   * no processor state is updated by the instruction"), so that exit saves this blocking as the
   * interruptibility before the exit (§27.3.4).
   */
  private opBlocking = 0;
  /**
   * True while the operation being stepped can cause a fault-like VM exit (set around the
   * instruction's own exit or the address translation of its operand; vmExit reads and clears
   * it). Exits with it false — trap-like exits after a completed operation (APIC write, EOI
   * induced, TPR below threshold) and exits between operations — save the blocking in effect at
   * the time (§27.1).
   */
  private faultLike = false;
  /**
   * A TPR-threshold VM exit is due immediately after this VM entry (SDM vol. 3 §26.6.7): "use
   * TPR shadow" and "virtualize APIC accesses" 1, "virtual-interrupt delivery" 0, and TPR
   * threshold[3:0] > VTPR[7:4].
   */
  private tprExitAfterEntry = false;
  private nmiBlocked = false;
  private halted = false;
  private nonRoot = false;
  private idtrBase = 0;
  /**
   * IDTR.base exactly, as two 32-bit halves: a 64-bit base above 2^53 has no exact
   * JavaScript number, and SIDT must store what LIDT loaded. `idtrBase` is what delivery
   * uses (such a base is non-canonical and reaches nothing there anyway).
   */
  private idtrBaseLo = 0;
  private idtrBaseHi = 0;
  private idtrLimit = IDTR_LIMIT_RESET;
  private tscZeroPs = 0;
  private tscOffset = 0;

  // VMX.
  private readonly rootStack: FrameStack;
  private stack: FrameStack;
  private current: Vmcs | null = null;
  private active: Vmcs | null = null;
  private entryFails = false;
  /** The VMCS whose control fields last passed the entry checks without reading memory, and its controlWrites then. */
  private passedControlsOf: Vmcs | null = null;
  private passedControlWrites = 0;
  private pin = 0;
  private proc = 0;
  private proc2 = 0;
  private exitControls = 0;
  private exceptionBitmap = 0;
  private msrBitmapAddress = 0;
  private apicAccessAddress = 0;
  /** The page offset of the access that guestAccessHpa last found virtualized. */
  private apicOffset = 0;
  /** The virtual-APIC page, RVI/SVI and the EOI-exit bitmap (SDM vol. 3 ch. 29). */
  private readonly vapic: ApicVirtualization;
  /** TPR threshold bits 3:0 (SDM vol. 3 §24.6.8). */
  private tprThreshold = 0;
  /** The posted-interrupt notification vector and descriptor address (SDM vol. 3 §24.6.8). */
  private notificationVector = -1;
  private postedDescriptorAddress = 0;
  private timerStartPs = 0;
  private timerValue = 0;
  private timerExpired = false;
  private debtPs = 0;
  /** Time the host spent working (category host) since the last VM exit, ps. */
  private hostWorkPs = 0;
  /** The basic reason of the last VM exit (whose host episode the next entry ends). */
  private lastExitReason = 0;
  /** True from a VM exit to the next VM entry (whose guest work owes the exit's indirect cost). */
  private exitEpisode = false;
  /** Per exit reason: the indirect cost charged for exits of that reason, ps. */
  private readonly indirectCounters: (Counter | undefined)[] = [];

  // Execution machinery.
  private phase = P_IDLE;
  private delayEnd = 0;
  private delayIsDebt = false;
  private inStep = false;
  private opIssued = false;
  private stepping: CpuFrame | null = null;
  private readonly opEvent: SimEvent;
  private readonly checkEvent: SimEvent;
  private readonly timerEvent: SimEvent;
  private readonly msrScratch: MsrValue = { lo: 0, hi: 0 };
  /**
   * Of the last operand operandHpa translated: how many of its bytes lie in its first page (all
   * of them unless it crosses a page boundary), and the host-physical address of the rest.
   */
  private splitAt = 0;
  private splitHpa = 0;

  // Accounting.
  private started = false;
  private startPs = 0;
  private category = C_IDLE;
  private categorySince = 0;
  private readonly timeCounters: Counter[];
  private readonly exitCounters: (Counter | undefined)[] = [];
  /** What the CPU counts, as typed counters (each also registered in its stats scope under `cpu<id>.…`). */
  readonly counters: CpuCounters;
  private readonly cDelivered: Counter;
  private readonly cAcknowledged: Counter;
  private readonly cEntries: Counter;
  private readonly cEntryFailures: Counter;
  private readonly cVmfail: Counter;
  private readonly cDoubleFaults: Counter;
  private readonly cTripleFaults: Counter;
  private readonly cUnknownCode: Counter;
  private readonly cMsrGp: Counter;
  private readonly cShutdowns: Counter;
  private readonly cStackOverflows: Counter;
  private readonly cVirtualDelivered: Counter;
  private readonly cEoiVirtualized: Counter;
  private readonly cPostedProcessed: Counter;

  constructor(options: CpuOptions) {
    const hz = options.hz ?? DEFAULT_CPU_HZ;
    if (!Number.isInteger(options.id) || options.id < 0) {
      throw new CpuConfigError(`Cpu id must be a non-negative integer, got ${options.id}`);
    }
    if (!Number.isFinite(hz) || hz <= 0) {
      throw new CpuConfigError(`Cpu ${options.id}: hz must be a positive number of Hz, got ${hz}`);
    }
    const rate = options.vmxMiscPreemptionRate ?? DEFAULT_VMX_PREEMPTION_RATE;
    if (!Number.isInteger(rate) || rate < 0 || rate > 31) {
      throw new CpuConfigError(
        `Cpu ${options.id}: vmxMiscPreemptionRate is IA32_VMX_MISC[4:0], an integer 0–31, got ${rate}`,
      );
    }
    validateCpuCosts(options.costs);
    this.id = options.id;
    this.hz = hz;
    this.clock = new ClockDomain(hz);
    this.sim = options.sim;
    this.bus = options.bus;
    this.code = options.code;
    this.lapic = options.lapic;
    this.msrDevices = options.msrDevices ?? [];
    this.preemptionRate = rate;
    this.allowed1 = controlsAllowed1(options.apicVirtualization ?? true);
    this.vmcsStore = options.vmcsStore ?? new VmcsStore();
    this.tracer = options.tracer ?? new Tracer();
    this.track = `cpu${this.id}`;
    this.stats = options.stats instanceof Stats ? options.stats.scope(this.track) : options.stats;

    const c = options.costs;
    const ps = (cycles: number): number => this.clock.cyclesToPs(cycles);
    this.psExit = ps(c.vmExitCycles);
    this.psEntry = ps(c.vmEntryCycles);
    this.psIndirect = ps(c.exitIndirectCycles);
    this.pollutionPerHost = c.exitPollutionPerHostCycle;
    this.psPollutionMax = ps(c.exitPollutionMaxCycles);
    this.psDelivery = ps(c.eventDeliveryCycles);
    this.psIret = ps(c.iretCycles);
    this.psRdmsr = ps(c.rdmsrCycles);
    this.psWrmsr = ps(c.wrmsrCycles);
    this.psMmioRead = ps(c.mmioReadCycles);
    this.psMmioWrite = ps(c.mmioWriteCycles);
    this.psCliSti = ps(c.cliStiCycles);
    this.psDescriptorTable = ps(c.descriptorTableCycles);
    this.psPause = ps(c.pauseCycles);

    this.rootStack = new FrameStack(`${this.track}.root`);
    this.stack = this.rootStack;
    this.opEvent = this.sim.event(`${this.track}.op`, () => this.onOpEvent());
    this.checkEvent = this.sim.event(`${this.track}.interrupt-check`, () => this.onAsync());
    this.timerEvent = this.sim.event(`${this.track}.preemption-timer`, () => {
      this.timerExpired = true;
      this.onAsync();
    });

    const s = this.stats;
    const named = CATEGORY_NAMES.map((n) => s.counter(n));
    this.timeCounters = [...named, named[C_HOST]!];
    this.cDelivered = s.counter('interrupts.delivered');
    this.cAcknowledged = s.counter('interrupts.acknowledged');
    this.cEntries = s.counter('vmentries');
    this.cEntryFailures = s.counter('vmentry-failures');
    this.cVmfail = s.counter('vmfail');
    this.cDoubleFaults = s.counter('faults.double');
    this.cTripleFaults = s.counter('faults.triple');
    this.cUnknownCode = s.counter('faults.unknown-code');
    this.cMsrGp = s.counter('faults.msr-gp');
    this.cShutdowns = s.counter('shutdowns');
    this.cStackOverflows = s.counter('faults.stack-overflow');
    this.cVirtualDelivered = s.counter('apicv.virtual-interrupts-delivered');
    this.cEoiVirtualized = s.counter('apicv.eoi-virtualized');
    this.cPostedProcessed = s.counter('apicv.posted-interrupt-processing');
    this.vapic = new ApicVirtualization(this.bus.memory);
    const t = this.timeCounters;
    this.counters = {
      time: {
        guest: t[C_GUEST]!,
        host: t[C_HOST]!,
        transition: t[C_TRANSITION]!,
        haltedGuest: t[C_HALTED_GUEST]!,
        haltedHost: t[C_HALTED_HOST]!,
        exitIndirect: t[C_EXIT_INDIRECT]!,
        idle: t[C_IDLE]!,
      },
      interruptsDelivered: this.cDelivered,
      interruptsAcknowledged: this.cAcknowledged,
      vmEntries: this.cEntries,
      vmEntryFailures: this.cEntryFailures,
      exits: this.exitCounters,
      exitIndirectPs: this.indirectCounters,
    };

    this.tscZeroPs = this.sim.now;
    this.lapic.connect(this);
  }

  // ---------------------------------------------------------------- state readers

  get now(): number {
    return this.sim.now;
  }

  get tsc(): number {
    return this.clock.psToCycles(this.sim.now - this.tscZeroPs) + this.tscOffset;
  }

  get vmxNonRoot(): boolean {
    return this.nonRoot;
  }

  get interruptsEnabled(): boolean {
    return this._if;
  }

  get resultLo(): number {
    return this._resultLo;
  }

  get resultHi(): number {
    return this._resultHi;
  }

  get vmxStatus(): number {
    return this._vmxStatus;
  }

  /** True while the CPU sits in HLT (in the current VMX mode). */
  get isHalted(): boolean {
    return this.phase === P_HALTED;
  }

  /** True after a triple fault in VMX root operation: the CPU stopped (SDM vol. 3 §6.15, interrupt 8). */
  get isShutdown(): boolean {
    return this.phase === P_SHUTDOWN;
  }

  /** True when no software is left to run (the entry routine returned). */
  get isStopped(): boolean {
    return this.started && this.phase === P_IDLE;
  }

  /** The current IDTR (the guest's while in non-root operation). */
  get idtr(): {
    /** IDTR.base, the table's linear address. */
    readonly base: number;
    /** IDTR.limit, the table's size in bytes minus 1. */
    readonly limit: number;
  } {
    return { base: this.idtrBase, limit: this.idtrLimit };
  }

  /** True while NMIs are blocked (from NMI delivery until the next IRET). */
  get nmisBlocked(): boolean {
    return this.nmiBlocked;
  }

  /** Depth of the running stack (frames). */
  get stackDepth(): number {
    return this.stack.depth;
  }

  /**
   * The frame at depth `i` of the running stack (0: the bottom, `stackDepth − 1`: the running
   * one), or undefined: for debuggers and test harnesses, e.g. to see a handler delivered but
   * not yet started under one delivered after it. Frames are reused once popped: read, do not keep.
   */
  frameAt(i: number): Frame | undefined {
    return this.stack.at(i);
  }

  /** Host-physical address of the current VMCS, or −1 if none (VMPTRST). */
  get currentVmcsAddress(): number {
    return this.current === null ? -1 : this.current.address;
  }

  /** Simulated time start() was called at (ps). */
  get startTime(): number {
    return this.startPs;
  }

  /** Brings the time counters up to now (call before reading them). */
  flushAccounting(): void {
    this.setCategory(this.category);
  }

  /** Zeroes the per-vector delivery counts (pair with Stats.reset() at the end of warm-up). */
  resetDeliveredCounts(): void {
    this.deliveredRoot.fill(0);
    this.deliveredGuest.fill(0);
  }

  // ---------------------------------------------------------------- start

  /** Starts running the routine registered at host-physical `entryAddress`, in VMX root operation. */
  start(entryAddress: number): void {
    if (this.started) throw new CpuUsageError(`cpu${this.id} was already started`);
    const routine = this.code.lookup(entryAddress);
    if (routine === undefined) {
      throw new CpuConfigError(
        `cpu${this.id}: no routine is registered at 0x${entryAddress.toString(16)}: register the host entry point in the CodeSpace first`,
      );
    }
    this.started = true;
    this.startPs = this.sim.now;
    this.category = C_HOST;
    this.categorySince = this.sim.now;
    this.rootStack.push(routine, FRAME_KIND.ENTRY, -1, -1);
    this.phase = P_RUN;
    this.sim.schedule(this.opEvent, this.sim.now);
  }

  // ---------------------------------------------------------------- interrupt line

  /** Called by the LAPIC (possibly from inside another component's event): re-check at this picosecond. */
  interruptLineChanged(): void {
    if (!this.checkEvent.scheduled) this.sim.schedule(this.checkEvent, this.sim.now);
  }

  // ---------------------------------------------------------------- operations (CpuContext)

  compute(cycles: number): void {
    const f = this.beginOp();
    if (!Number.isFinite(cycles) || cycles < 0) {
      throw new CpuUsageError(
        `compute(${cycles}) in '${f.routine.name}': cycles must be a finite number ≥ 0`,
      );
    }
    f.remainingPs = this.clock.cyclesToPs(cycles);
  }

  spin(cycles: number): void {
    const f = this.beginOp();
    if (!Number.isFinite(cycles) || cycles < 0) {
      throw new CpuUsageError(`spin(${cycles}) in '${f.routine.name}': cycles must be a finite number ≥ 0`);
    }
    f.remainingPs = this.clock.cyclesToPs(cycles);
    f.spin = true;
  }

  rdmsr(index: number): void {
    const f = this.beginOp();
    this.rcx = index;
    if (this.nonRoot && this.msrAccessExits(index, false)) {
      this.active!.exitCompletion = EC_RDMSR;
      this.instructionExit(EXIT_REASON.RDMSR, 0, LEN_RDMSR, 0);
      return;
    }
    const out = this.msrScratch;
    if (this.nonRoot && this.virtualizedX2apicRead(index)) {
      // SDM vol. 3 §29.5: 8 bytes of the virtual-APIC page at (ECX & FFH) << 4, whatever the
      // mode of the real LAPIC.
      const offset = (index & 0xff) << 4;
      out.lo = this.vapic.read(offset);
      out.hi = this.vapic.read(offset + 4);
    } else if (this.readMsrValue(index, out) !== MSR_OK) {
      this.cMsrGp.inc();
      this.raiseFault(EXCEPTION.GP, 0);
      return;
    }
    this._resultLo = out.lo >>> 0;
    this._resultHi = out.hi >>> 0;
    this.rax = this._resultLo;
    this.rdx = this._resultHi;
    f.remainingPs = this.psRdmsr;
  }

  wrmsr(index: number, lo: number, hi: number): void {
    const f = this.beginOp();
    this.rcx = index;
    this.rax = lo >>> 0;
    this.rdx = hi >>> 0;
    if (this.nonRoot && this.msrAccessExits(index, true)) {
      this.instructionExit(EXIT_REASON.WRMSR, 0, LEN_WRMSR, 0);
      return;
    }
    if (this.nonRoot && (this.proc2 & PROC_BASED2.VIRTUALIZE_X2APIC_MODE) !== 0) {
      const r = this.virtualizeX2apicWrite(index, lo >>> 0, hi >>> 0);
      // A trap-like exit follows the virtualized write at once (the WRMSR itself has completed).
      if (r === VW_EXITED) return;
      if (r === VW_DONE) {
        f.remainingPs = this.psWrmsr;
        return;
      }
      if (r === VW_GP) {
        this.cMsrGp.inc();
        this.raiseFault(EXCEPTION.GP, 0);
        return;
      }
    }
    if (this.writeMsrValue(index, lo >>> 0, hi >>> 0) !== MSR_OK) {
      this.cMsrGp.inc();
      this.raiseFault(EXCEPTION.GP, 0);
      return;
    }
    f.remainingPs = this.psWrmsr;
  }

  mmioRead(address: number, size: 1 | 2 | 4): void {
    const f = this.beginOp();
    let hpa = address;
    this.splitAt = size;
    if (this.nonRoot) {
      // If it exits, the host's emulated value completes the read.
      this.active!.exitCompletion = EC_MMIO_READ;
      this.faultLike = true;
      hpa = this.guestAccessHpa(address, size, GPA_ACCESS.READ, APIC_ACCESS_TYPE.LINEAR_READ);
      if (hpa === -1) return;
      this.faultLike = false;
      this.active!.exitCompletion = EC_NONE;
    }
    // A virtualized read returns the virtual-APIC page's bytes at the same offset (§29.4.2).
    const value =
      (hpa === APIC_VIRTUALIZED
        ? this.vapic.readBytes(this.apicOffset, size)
        : this.splitAt < size
          ? this.readAcross(hpa, 0, size, true)
          : this.physicalRead(hpa, size)) >>> 0;
    this._resultLo = value;
    this.rax = value;
    f.remainingPs = this.psMmioRead;
  }

  mmioWrite(address: number, size: 1 | 2 | 4, value: number): void {
    const f = this.beginOp();
    this.rax = value >>> 0;
    let hpa = address;
    this.splitAt = size;
    if (this.nonRoot) {
      // An EPT violation or APIC-access exit is fault-like: the store has not happened.
      this.faultLike = true;
      hpa = this.guestAccessHpa(address, size, GPA_ACCESS.WRITE, APIC_ACCESS_TYPE.LINEAR_WRITE);
      if (hpa === -1) return;
      this.faultLike = false;
      if (hpa === APIC_VIRTUALIZED) {
        // A trap-like exit of APIC-write emulation follows the completed store at once.
        if (this.virtualizeApicWrite(this.apicOffset, size, value >>> 0) === VW_EXITED) return;
        f.remainingPs = this.psMmioWrite;
        return;
      }
    }
    if (this.splitAt < size) this.writeAcross(hpa, 0, size, value >>> 0, true);
    else this.physicalWrite(hpa, size, value >>> 0);
    f.remainingPs = this.psMmioWrite;
  }

  cli(): void {
    const f = this.beginOp();
    this._if = false;
    f.remainingPs = this.psCliSti;
  }

  sti(): void {
    const f = this.beginOp();
    // Blocking by STI only arises when STI sets IF from 0 (SDM vol. 3 §24.4.2 table 24-3, STI).
    if (!this._if) this.stiShadow = true;
    this._if = true;
    f.remainingPs = this.psCliSti;
  }

  hlt(): void {
    this.beginOp();
    if (this.nonRoot && (this.proc & PROC_BASED.HLT_EXITING) !== 0) {
      // Fault-like: the CPU does not halt, and blocking by STI from a preceding STI is saved.
      this.instructionExit(EXIT_REASON.HLT, 0, LEN_HLT, 0);
      return;
    }
    this.halted = true;
  }

  pause(): void {
    const f = this.beginOp();
    f.remainingPs = this.psPause;
  }

  iret(): void {
    const f = this.beginOp();
    if (f.kind !== FRAME_KIND.EVENT) {
      throw new CpuUsageError(
        `iret() in '${f.routine.name}', which was not entered through the IDT (use ret() to return from a call)`,
      );
    }
    this._if = f.savedIf;
    // IRET ends blocking by NMI whatever the frame (SDM vol. 3 §6.7.1) — except in VMX non-root
    // operation with "NMI exiting" 1 and "virtual NMIs" 0, where IRET does not affect blocking
    // of NMIs (SDM vol. 3 §25.3, IRET); with "virtual NMIs" 1 it ends virtual-NMI blocking.
    if (
      !this.nonRoot ||
      (this.pin & (PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS)) !== PIN_BASED.NMI_EXITING
    ) {
      this.nmiBlocked = false;
    }
    this.rax = f.savedRax;
    this.rbx = f.savedRbx;
    this.rcx = f.savedRcx;
    this.rdx = f.savedRdx;
    this._resultLo = f.savedResultLo;
    this._resultHi = f.savedResultHi;
    this.stack.pop();
    const resumed = this.stack.top();
    // The IRET's own cycles are paid before the interrupted work goes on.
    if (resumed !== undefined) resumed.remainingPs += this.psIret;
  }

  call(address: number): void {
    this.beginOp();
    let hpa = address;
    if (this.nonRoot) {
      hpa = this.translate(address, GPA_ACCESS.EXECUTE);
      if (hpa < 0) {
        this.eptViolation(address, GPA_ACCESS.EXECUTE, 0, 0);
        return;
      }
    }
    const routine = this.code.lookup(hpa);
    if (routine === undefined) {
      this.cUnknownCode.inc();
      this.raiseFault(EXCEPTION.GP, 0);
      return;
    }
    if (this.stack.depth >= MAX_FRAME_DEPTH) {
      // The return address cannot be pushed: #SS(0), as a stack overflow would raise.
      this.cStackOverflows.inc();
      this.raiseFault(EXCEPTION.SS, 0);
      return;
    }
    this.stack.push(routine, FRAME_KIND.CALL, -1, -1);
  }

  invokeInterruptHandler(address: number, vector: number): void {
    this.beginOp();
    if (this.nonRoot) {
      throw new CpuUsageError('invokeInterruptHandler() is for the host in VMX root operation');
    }
    const routine = this.code.lookup(address);
    if (routine === undefined) {
      this.cUnknownCode.inc();
      this.raiseFault(EXCEPTION.GP, 0);
      return;
    }
    if (this.stack.depth >= MAX_FRAME_DEPTH) {
      this.cStackOverflows.inc();
      this.raiseFault(EXCEPTION.SS, 0);
      return;
    }
    const f = this.stack.push(routine, FRAME_KIND.EVENT, vector & 0xff, -1);
    f.savedIf = this._if;
    f.savedRax = this.rax;
    f.savedRbx = this.rbx;
    f.savedRcx = this.rcx;
    f.savedRdx = this.rdx;
    f.savedResultLo = this._resultLo;
    f.savedResultHi = this._resultHi;
    this.deliveredRoot[vector & 0xff]!++;
  }

  ret(): void {
    const f = this.beginOp();
    if (f.kind === FRAME_KIND.CALL) {
      this.stack.pop();
      return;
    }
    if (f.kind === FRAME_KIND.ENTRY && !this.nonRoot) {
      // The host entry routine returned: nothing is left to run on this CPU.
      this.stack.pop();
      return;
    }
    throw new CpuUsageError(
      f.kind === FRAME_KIND.EVENT
        ? `ret() in '${f.routine.name}', an interrupt handler: return with iret()`
        : `ret() from the guest's entry routine '${f.routine.name}': a guest kernel does not return from GUEST_RIP`,
    );
  }

  lidt(address: number): void {
    const f = this.beginOp();
    if (this.descriptorTableExiting()) {
      this.descriptorTableExit(DESCRIPTOR_TABLE_INSTRUCTION.LIDT, address);
      return;
    }
    this.faultLike = true;
    const hpa = this.operandHpa(address, GPA_ACCESS.READ, DESCRIPTOR_TABLE_OPERAND_BYTES);
    if (hpa < 0) return;
    this.faultLike = false;
    const limit = this.operandRead(hpa, 0, 2);
    const lo = this.operandRead(hpa, 2, 4);
    const hi = this.operandRead(hpa, 6, 4);
    this.idtrLimit = limit;
    this.setIdtrBase(lo >>> 0, hi >>> 0);
    f.remainingPs = this.psDescriptorTable;
  }

  sidt(address: number): void {
    const f = this.beginOp();
    if (this.descriptorTableExiting()) {
      this.descriptorTableExit(DESCRIPTOR_TABLE_INSTRUCTION.SIDT, address);
      return;
    }
    this.faultLike = true;
    const hpa = this.operandHpa(address, GPA_ACCESS.WRITE, DESCRIPTOR_TABLE_OPERAND_BYTES);
    if (hpa < 0) return;
    this.faultLike = false;
    this.operandWrite(hpa, 0, 2, this.idtrLimit);
    this.operandWrite(hpa, 2, 4, this.idtrBaseLo);
    this.operandWrite(hpa, 6, 4, this.idtrBaseHi);
    f.remainingPs = this.psDescriptorTable;
  }

  vmcall(): void {
    this.beginOp();
    if (this.nonRoot) {
      this.instructionExit(EXIT_REASON.VMCALL, 0, LEN_VMCALL, 0);
      return;
    }
    // VMCALL in VMX root operation without the dual-monitor treatment (SDM vol. 3 §30.3, VMCALL).
    this.vmfail(VM_INSTRUCTION_ERROR.VMCALL_IN_ROOT);
  }

  // ---------------------------------------------------------------- VMX instructions

  vmclear(address: number): void {
    this.rootOnly('VMCLEAR');
    if (!isPageAligned(address)) {
      this.vmfail(VM_INSTRUCTION_ERROR.VMCLEAR_INVALID_ADDRESS);
      return;
    }
    const v = this.vmcsStore.region(address);
    v.launched = false;
    if (this.current === v) this.current = null;
    this.vmsucceed();
  }

  vmptrld(address: number): void {
    this.rootOnly('VMPTRLD');
    if (!isPageAligned(address)) {
      this.vmfail(VM_INSTRUCTION_ERROR.VMPTRLD_INVALID_ADDRESS);
      return;
    }
    this.current = this.vmcsStore.region(address);
    this.vmsucceed();
  }

  vmread(field: number): number {
    this.rootOnly('VMREAD');
    const v = this.current;
    if (v === null) {
      this.vmfailInvalid();
      return 0;
    }
    const base = vmcsFieldBase(field);
    if (base < 0) {
      this.vmfail(VM_INSTRUCTION_ERROR.UNSUPPORTED_VMCS_COMPONENT);
      return 0;
    }
    this.vmsucceed();
    return base === field ? v.get(base) : v.getHalf(base, true);
  }

  vmwrite(field: number, value: number): void {
    this.rootOnly('VMWRITE');
    const v = this.current;
    if (v === null) {
      this.vmfailInvalid();
      return;
    }
    const base = vmcsFieldBase(field);
    if (base < 0) {
      this.vmfail(VM_INSTRUCTION_ERROR.UNSUPPORTED_VMCS_COMPONENT);
      return;
    }
    if (vmcsFieldType(base) === VMCS_FIELD_TYPE.READ_ONLY_DATA) {
      // IA32_VMX_MISC bit 29 is 0 here: VM-exit information fields are read-only (SDM §30.3, VMWRITE).
      this.vmfail(VM_INSTRUCTION_ERROR.VMWRITE_READ_ONLY_COMPONENT);
      return;
    }
    if (base === field) v.set(base, value);
    else v.setHalf(base, true, value);
    this.vmsucceed();
  }

  setGuestPhysicalMap(map: GuestPhysicalMap | null): void {
    this.rootOnly('setGuestPhysicalMap');
    if (this.current === null) {
      this.vmfailInvalid();
      return;
    }
    this.current.map = map;
    this.vmsucceed();
  }

  vmlaunch(): void {
    this.vmEnter(true);
  }

  vmresume(): void {
    this.vmEnter(false);
  }

  // ---------------------------------------------------------------- run loop

  private beginOp(): CpuFrame {
    const f = this.stepping;
    if (!this.inStep || f === null) {
      throw new CpuUsageError(`cpu${this.id}: an operation was issued outside a routine's step()`);
    }
    if (this.opIssued) {
      throw new CpuUsageError(
        `routine '${f.routine.name}' issued two operations in one step (pc ${f.pc}): issue exactly one per step`,
      );
    }
    this.opIssued = true;
    f.spin = false;
    // Blocking by STI (or MOV SS) ends once the next operation has begun (SDM vol. 3 §6.8.3):
    // an event may come during its cycles. What was in effect is kept for a fault-like VM exit
    // of this operation, which has then not executed (opBlocking).
    this.opBlocking =
      (this.stiShadow ? INTERRUPTIBILITY.BLOCKING_BY_STI : 0) |
      (this.movSsShadow ? INTERRUPTIBILITY.BLOCKING_BY_MOV_SS : 0);
    this.stiShadow = false;
    this.movSsShadow = false;
    return f;
  }

  private onOpEvent(): void {
    switch (this.phase) {
      case P_DELAY:
        if (this.delayIsDebt) this.debtPs = 0;
        else this.stack.top()!.remainingPs = 0;
        this.phase = P_RUN;
        break;
      case P_EXIT:
        this.finishExit();
        break;
      case P_ENTRY:
        this.finishEntry();
        break;
      case P_POSTED:
        this.phase = P_RUN;
        break;
      case P_RUN:
        break;
      default:
        return;
    }
    this.run();
  }

  /** The interrupt line changed or the preemption timer expired: interrupt a delay or HLT if an event is due. */
  private onAsync(): void {
    if (this.phase !== P_DELAY && this.phase !== P_HALTED) return;
    if (this.evaluateEvents() === A_NONE) return;
    if (this.phase === P_DELAY) {
      this.sim.cancel(this.opEvent);
      const left = this.delayEnd - this.sim.now;
      if (this.delayIsDebt) this.debtPs = left;
      else this.stack.top()!.remainingPs = left;
    }
    this.phase = P_RUN;
    this.run();
  }

  private run(): void {
    for (;;) {
      this.runSteps();
      // A VM entry or exit just begun whose end is the next event due (nothing can happen, or
      // look, before it): it ends here, as its event would have ended it next, one event fewer.
      // run() is only ever the last thing of the CPU's own event callbacks.
      if (this.phase === P_ENTRY) {
        if (!this.sim.consumeIfNext(this.opEvent)) return;
        this.finishEntry();
      } else if (this.phase === P_EXIT) {
        if (!this.sim.consumeIfNext(this.opEvent)) return;
        this.finishExit();
      } else return;
    }
  }

  private runSteps(): void {
    let steps = 0;
    while (this.phase === P_RUN) {
      if (++steps > MAX_ZERO_TIME_STEPS) {
        const top = this.stack.top();
        throw new CpuUsageError(
          `cpu${this.id}: ${MAX_ZERO_TIME_STEPS} operations without simulated time passing (in '${top?.routine.name}'): a routine loops on zero-cost operations`,
        );
      }
      const action = this.evaluateEvents();
      if (action !== A_NONE) {
        this.perform(action);
        continue;
      }
      if (this.halted) {
        this.phase = P_HALTED;
        this.setCategory(this.nonRoot ? C_HALTED_GUEST : C_HALTED_HOST);
        return;
      }
      const f = this.stack.top();
      if (f === undefined) {
        this.phase = P_IDLE;
        this.setCategory(C_IDLE);
        return;
      }
      if (f.remainingPs > 0) {
        if (!this.startDelay(f)) return;
        // Nothing could happen during the delay: it ran to its end without an event.
        steps = 0;
        // A paid exit debt: the frame's own delay follows, from the top of the loop.
        if (f.remainingPs > 0) continue;
        // No event ran, so nothing evaluateEvents reads has changed (it found none due), the
        // CPU is not halted and `f` is still the top frame: it steps now, as the next round
        // of the loop would have it do.
        steps = 1;
      }
      this.step(f);
    }
  }

  private step(f: CpuFrame): void {
    this.stepping = f;
    this.inStep = true;
    this.opIssued = false;
    try {
      f.routine.step(this, f);
    } finally {
      this.inStep = false;
      this.stepping = null;
    }
    if (!this.opIssued) {
      throw new CpuUsageError(
        `routine '${f.routine.name}' issued no operation at pc ${f.pc}: every step must issue exactly one`,
      );
    }
  }

  /** Starts the delay owed by `f` (or the exit's indirect cost); true if it completed at once. */
  private startDelay(f: CpuFrame): boolean {
    let ps: number;
    if (this.nonRoot && this.debtPs > 0) {
      // The exit's indirect cost is paid first by the guest work that follows it.
      ps = this.debtPs;
      this.delayIsDebt = true;
      this.setCategory(C_EXIT_INDIRECT);
    } else {
      ps = f.remainingPs;
      this.delayIsDebt = false;
      this.setCategory(this.nonRoot ? C_GUEST : f.spin ? C_HOST_SPIN : C_HOST);
    }
    this.delayEnd = this.sim.now + ps;
    // When no event is due before the delay ends (so nothing could interrupt it: every
    // interrupt, timer and exit condition arrives through an event), the CPU moves the clock
    // to the end of the delay and goes on: the same times as with an event of its own, one
    // event fewer.
    if (this.sim.tryAdvanceTo(this.delayEnd)) {
      if (this.delayIsDebt) this.debtPs = 0;
      else f.remainingPs = 0;
      return true;
    }
    this.phase = P_DELAY;
    this.sim.schedule(this.opEvent, this.delayEnd);
    return false;
  }

  private setCategory(c: number): void {
    const now = this.sim.now;
    if (this.category === C_HOST) this.hostWorkPs += now - this.categorySince;
    if (this.started) this.timeCounters[this.category]!.add(now - this.categorySince);
    this.categorySince = now;
    this.category = c;
  }

  /**
   * Which event is taken at this boundary. Order (SDM vol. 3 §6.9 table 6-2 and §25.2; the
   * same order as Bochs's handleAsyncEvent): VMX-preemption timer exit, NMI (exit or
   * delivery), interrupt-window exit, maskable external interrupt (exit or delivery).
   * Blocking by STI holds back the interrupt window and maskable interrupts (also their
   * exits); it does not hold back NMIs or the preemption timer. A recognized virtual
   * interrupt is delivered with the priority of an interrupt-window exit, above external
   * interrupts and their exits, when IF = 1 and nothing blocks (SDM vol. 3 §29.2.2).
   */
  private evaluateEvents(): number {
    const lapic = this.lapic;
    if (this.nonRoot) {
      // Not blocked by RFLAGS.IF or the interruptibility state, and above SMIs, INIT and every
      // lower-priority event (SDM vol. 3 §26.6.7).
      if (this.tprExitAfterEntry) return A_TPR_EXIT;
      if (this.timerExpired) return A_TIMER_EXIT;
      // Blocking by MOV SS blocks NMIs as well as maskable interrupts (SDM vol. 3 table 24-3).
      if (this.movSsShadow) return A_NONE;
      if (lapic.hasNmi()) {
        if ((this.pin & PIN_BASED.NMI_EXITING) !== 0) {
          // With virtual NMIs, blocking by NMI is virtual and does not hold back physical NMIs.
          if ((this.pin & PIN_BASED.VIRTUAL_NMIS) !== 0 || !this.nmiBlocked) return A_NMI_EXIT;
        } else if (!this.nmiBlocked) {
          return A_NMI_DELIVER;
        }
      }
      if (this.stiShadow) return A_NONE;
      if ((this.proc & PROC_BASED.INTERRUPT_WINDOW_EXITING) !== 0 && this._if) return A_WINDOW_EXIT;
      if (this.vapic.recognized && this._if) return A_VINTR_DELIVER;
      if (lapic.hasInterrupt()) {
        // External-interrupt exiting ignores RFLAGS.IF (SDM vol. 3 §25.2); with "process
        // posted interrupts" the interrupt is acknowledged first and may not exit (§29.6).
        if ((this.pin & PIN_BASED.EXTERNAL_INTERRUPT_EXITING) !== 0) {
          return (this.pin & PIN_BASED.PROCESS_POSTED_INTERRUPTS) !== 0 ? A_EXTINT_POSTED : A_EXTINT_EXIT;
        }
        if (this._if) return A_INTR_DELIVER;
      }
      return A_NONE;
    }
    if (this.phase === P_SHUTDOWN) return A_NONE;
    if (lapic.hasNmi() && !this.nmiBlocked) return A_NMI_DELIVER;
    if (this._if && !this.stiShadow && lapic.hasInterrupt()) return A_INTR_DELIVER;
    return A_NONE;
  }

  private perform(action: number): void {
    switch (action) {
      case A_TPR_EXIT:
        this.vmExit(EXIT_REASON.TPR_BELOW_THRESHOLD, 0, 0, 0, 0, 0, 0, 0);
        return;
      case A_TIMER_EXIT:
        this.vmExit(EXIT_REASON.PREEMPTION_TIMER, 0, 0, 0, 0, 0, 0, 0);
        return;
      case A_NMI_EXIT:
        this.lapic.acknowledgeNmi();
        this.vmExit(
          EXIT_REASON.EXCEPTION_OR_NMI,
          0,
          interruptionInfo(EXCEPTION.NMI, INTR_TYPE.NMI, false),
          0,
          0,
          0,
          0,
          0,
        );
        // A VM exit caused directly by an NMI blocks NMIs once it completes, until the host's
        // next IRET (SDM vol. 3 §27.1, §27.5.5); the guest state it saved is the guest's own.
        this.nmiBlocked = true;
        return;
      case A_NMI_DELIVER:
        this.lapic.acknowledgeNmi();
        this.deliver(EXCEPTION.NMI, INTR_TYPE.NMI, -1, false);
        return;
      case A_WINDOW_EXIT:
        this.vmExit(EXIT_REASON.INTERRUPT_WINDOW, 0, 0, 0, 0, 0, 0, 0);
        return;
      case A_EXTINT_EXIT: {
        let info = 0;
        if ((this.exitControls & EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT) !== 0) {
          // The INTA cycle happens as part of the exit; the vector is reported valid (SDM §27.2.2).
          const vector = this.lapic.acknowledge();
          this.cAcknowledged.inc();
          info = interruptionInfo(vector, INTR_TYPE.EXTERNAL_INTERRUPT, false);
        }
        this.vmExit(EXIT_REASON.EXTERNAL_INTERRUPT, 0, info, 0, 0, 0, 0, 0);
        return;
      }
      case A_INTR_DELIVER: {
        const vector = this.lapic.acknowledge();
        this.cAcknowledged.inc();
        this.deliver(vector, INTR_TYPE.EXTERNAL_INTERRUPT, -1, false);
        return;
      }
      case A_VINTR_DELIVER:
        this.cVirtualDelivered.inc();
        this.deliver(this.vapic.deliver(), INTR_TYPE.EXTERNAL_INTERRUPT, -1, false);
        return;
      case A_EXTINT_POSTED: {
        // Step 1 of §29.6: the LAPIC is acknowledged ("acknowledge interrupt on exit" is 1,
        // a VM-entry check, so an exit reports the vector).
        const vector = this.lapic.acknowledge();
        this.cAcknowledged.inc();
        if (vector !== this.notificationVector) {
          const info = interruptionInfo(vector, INTR_TYPE.EXTERNAL_INTERRUPT, false);
          this.vmExit(EXIT_REASON.EXTERNAL_INTERRUPT, 0, info, 0, 0, 0, 0, 0);
          return;
        }
        this.processPostedInterrupts();
        return;
      }
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- APIC virtualization

  /**
   * Posted-interrupt processing (SDM vol. 3 §29.6), steps 3–7 in the SDM's order, for a
   * notification-vector interrupt in VMX non-root operation: ON cleared (3), 0 written to the
   * LAPIC's EOI, dismissing the notification (4), PIR ORed into VIRR and cleared (5), RVI raised
   * (6), pending virtual interrupts evaluated (7). The steps are uninterruptible; they take the
   * time of an event delivery (the microcoded handling of an acknowledged interrupt,
   * `eventDeliveryCycles`), after which the CPU goes on where it was (in HLT it returns to HLT
   * unless a virtual interrupt wakes it).
   */
  private processPostedInterrupts(): void {
    const descriptor = this.postedDescriptorAddress;
    this.vapic.clearOutstandingNotification(descriptor);
    this.lapicEoi();
    this.vapic.mergePostedRequests(descriptor);
    this.evaluateVirtualInterrupts();
    this.cPostedProcessed.inc();
    if (this.tracer.enabled) this.tracer.instant(this.track, 'posted-interrupt-processing', this.sim.now);
    this.phase = P_POSTED;
    this.setCategory(C_GUEST);
    this.sim.schedule(this.opEvent, this.sim.now + this.psDelivery);
  }

  /** The processor's own write of 0 to the LAPIC's EOI register: x2APIC MSR 80BH, or xAPIC offset B0H. */
  private lapicEoi(): void {
    if (this.lapic.x2apicMode) this.lapic.writeMsr(MSR.X2APIC_EOI, 0, 0);
    else this.lapic.mmioWrite(APIC_REG.EOI, 4, 0);
  }

  /** Evaluation of pending virtual interrupts (SDM vol. 3 §29.2.1). */
  private evaluateVirtualInterrupts(): void {
    this.vapic.evaluate((this.proc & PROC_BASED.INTERRUPT_WINDOW_EXITING) !== 0);
  }

  /**
   * EOI virtualization (SDM vol. 3 §29.1.4): the EOI of SVI on the virtual-APIC page, then a
   * trap-like EOI-induced VM exit (reason 45, the vector as exit qualification) if the
   * EOI-exit bitmap has the vector's bit, else evaluation of pending virtual interrupts.
   * Returns VW_EXITED or VW_DONE.
   */
  private virtualizeEoi(): number {
    const vector = this.vapic.eoi();
    this.cEoiVirtualized.inc();
    if (this.vapic.eoiExits(vector)) {
      this.vmExit(EXIT_REASON.VIRTUALIZED_EOI, vector, 0, 0, 0, 0, 0, 0);
      return VW_EXITED;
    }
    this.evaluateVirtualInterrupts();
    return VW_DONE;
  }

  /**
   * TPR virtualization (SDM vol. 3 §29.1.2), after a write of VTPR: without virtual-interrupt
   * delivery, a trap-like TPR-below-threshold exit (reason 43) if VTPR[7:4] < the threshold;
   * with it, PPR virtualization and evaluation of pending virtual interrupts.
   */
  private virtualizeTpr(): number {
    if ((this.proc2 & PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY) === 0) {
      if (this.vapic.vtpr >>> 4 < this.tprThreshold) {
        this.vmExit(EXIT_REASON.TPR_BELOW_THRESHOLD, 0, 0, 0, 0, 0, 0, 0);
        return VW_EXITED;
      }
      return VW_DONE;
    }
    this.vapic.virtualizePpr();
    this.evaluateVirtualInterrupts();
    return VW_DONE;
  }

  /**
   * WRMSR of an x2APIC MSR that the MSR bitmap let through, with "virtualize x2APIC mode"
   * (SDM vol. 3 §29.5): TPR (808H) always, EOI (80BH) and SELF IPI (83FH) with virtual-interrupt
   * delivery. EDX:EAX must be 0 for EOI, and EDX and EAX[31:8] must be 0 for the others, else
   * #GP(0); then EDX:EAX is stored at offset X = (ECX & FFH) << 4 of the virtual-APIC page (80H,
   * B0H, 3F0H), followed by TPR virtualization, EOI virtualization, or for SELF IPI: self-IPI
   * virtualization of EAX[7:0] if EAX[7:4] ≠ 0, else a trap-like APIC-write VM exit (reason 56)
   * as for a write to offset 3F0H, which is its exit qualification (§29.4.3.3, §27.2.1). Every
   * other MSR operates normally (the real LAPIC).
   */
  private virtualizeX2apicWrite(index: number, lo: number, hi: number): number {
    const vid = (this.proc2 & PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY) !== 0;
    const virtualized =
      index === MSR.X2APIC_TPR || (vid && (index === MSR.X2APIC_EOI || index === MSR.X2APIC_SELF_IPI));
    if (!virtualized) return VW_NORMAL;
    if (hi !== 0 || (lo & (index === MSR.X2APIC_EOI ? 0xffffffff : 0xffffff00)) !== 0) return VW_GP;
    const offset = (index & 0xff) << 4;
    this.vapic.write(offset, lo);
    this.vapic.write(offset + 4, 0);
    if (index === MSR.X2APIC_TPR) return this.virtualizeTpr();
    if (index === MSR.X2APIC_EOI) return this.virtualizeEoi();
    return (lo & 0xf0) !== 0 ? this.virtualizeSelfIpi(lo & 0xff) : this.apicWriteExit(offset);
  }

  /** Self-IPI virtualization of `vector` (SDM vol. 3 §29.1.5), then evaluation of pending virtual interrupts. */
  private virtualizeSelfIpi(vector: number): number {
    this.vapic.selfIpi(vector);
    this.evaluateVirtualInterrupts();
    return VW_DONE;
  }

  /** The trap-like APIC-write VM exit after a virtualized write at `offset`, its exit qualification (§29.4.3.3, §27.2.1). */
  private apicWriteExit(offset: number): number {
    this.vmExit(EXIT_REASON.APIC_WRITE, offset, 0, 0, 0, 0, 0, 0);
    return VW_EXITED;
  }

  /**
   * A virtualized write of `size` bytes of `value` at `offset` of the APIC-access page (SDM
   * vol. 3 §29.4.3.1): the bytes go to the same offset of the virtual-APIC page, then
   * APIC-write emulation (§29.4.3.2) runs by the write's page offset:
   * - 080H: VTPR bytes 3:1 cleared, then TPR virtualization (§29.1.2);
   * - 0B0H: with virtual-interrupt delivery, VEOI cleared, then EOI virtualization (§29.1.4);
   * - 300H: with virtual-interrupt delivery and VICR_LO a self IPI the SDM accepts
   *   (isVirtualizedSelfIpi), self-IPI virtualization of VICR_LO[7:0] (§29.1.5), then
   *   evaluation of pending virtual interrupts;
   * - 310H–313H: VICR_HI bytes 2:0 cleared, and nothing else;
   * - any other offset (0B0H and 300H among them when the above does not apply): a trap-like
   *   APIC-write VM exit (reason 56) whose exit qualification is the page offset (§29.4.3.3,
   *   §27.2.1).
   * Emulation is not held back by IF = 0 or by STI or MOV-SS blocking (§29.4.3.2), so it runs
   * here, before any event at the next boundary. Returns VW_EXITED or VW_DONE.
   */
  private virtualizeApicWrite(offset: number, size: 1 | 2 | 4, value: number): number {
    const vapic = this.vapic;
    vapic.writeBytes(offset, size, value);
    const vid = (this.proc2 & PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY) !== 0;
    if (offset === APIC_REG.TPR) {
      vapic.write(APIC_REG.TPR, vapic.read(APIC_REG.TPR) & 0xff);
      return this.virtualizeTpr();
    }
    if (offset === APIC_REG.EOI && vid) {
      vapic.write(APIC_REG.EOI, 0);
      return this.virtualizeEoi();
    }
    if (offset === APIC_REG.ICR_LOW && vid) {
      const vicr = vapic.read(APIC_REG.ICR_LOW);
      if (isVirtualizedSelfIpi(vicr)) return this.virtualizeSelfIpi(vicr & 0xff);
    }
    if (offset >= APIC_REG.ICR_HIGH && offset <= APIC_REG.ICR_HIGH + 3) {
      vapic.write(APIC_REG.ICR_HIGH, vapic.read(APIC_REG.ICR_HIGH) & 0xff000000);
      return VW_DONE;
    }
    return this.apicWriteExit(offset);
  }

  // ---------------------------------------------------------------- event delivery

  /** A fault raised by the operation being stepped (the operation counts as completed). */
  private raiseFault(vector: number, errorCode: number): void {
    this.deliver(vector, INTR_TYPE.HARDWARE_EXCEPTION, errorCode, false);
  }

  /**
   * Delivers an event through the current IDT (SDM vol. 3 §6.12, §6.14), with the nested
   * fault rules of §6.15 table 6-5: a fault while delivering a benign event or an
   * interrupt is delivered in its place; a contributory fault while delivering a
   * contributory exception becomes #DF; any fault while delivering #DF is a triple fault.
   * In non-root operation every hardware exception is first checked against the exception
   * bitmap (not the injected event itself, SDM §26.5.1.2), and an exit during delivery
   * reports the event being delivered in the IDT-vectoring information.
   */
  private deliver(vector: number, type: number, errorCode: number, injected: boolean): void {
    let v = vector;
    let t = type;
    let ec = errorCode;
    let vecInfo = 0;
    let vecErr = 0;
    let checkBitmap = !injected;
    // An event being delivered wakes the CPU from HLT whatever the outcome, and ends a
    // spin-wait (the routine looks again once the handler returns). It ends blocking by STI and
    // MOV SS (SDM vol. 3 §26.6.1: "or incurs an exception"; STI: "ends after delivery of another
    // event"); if its delivery causes a VM exit, "there is no blocking by STI or by MOV SS when
    // the VM exit commences" (§27.1). (A fault of the operation being stepped found blocking
    // already ended by beginOp.)
    this.halted = false;
    this.stiShadow = false;
    this.movSsShadow = false;
    const top = this.stack.top();
    if (top?.spin) top.remainingPs = 0;
    for (;;) {
      const hasEc = ec >= 0;
      if (
        this.nonRoot &&
        checkBitmap &&
        t === INTR_TYPE.HARDWARE_EXCEPTION &&
        ((this.exceptionBitmap >>> v) & 1) === 1
      ) {
        this.vmExit(
          EXIT_REASON.EXCEPTION_OR_NMI,
          0,
          interruptionInfo(v, t, hasEc),
          hasEc ? ec : 0,
          vecInfo,
          vecErr,
          0,
          0,
        );
        return;
      }
      checkBitmap = true;
      // EXT: the event is external to the program, or an exception raised while delivering one (§6.13).
      const ext =
        t === INTR_TYPE.EXTERNAL_INTERRUPT || t === INTR_TYPE.NMI || t === INTR_TYPE.HARDWARE_EXCEPTION;
      const thisInfo = interruptionInfo(v, t, hasEc);
      const thisErr = hasEc ? ec : 0;
      let fault: number = EXCEPTION.GP;
      const offset = v * IDT_GATE_SIZE;
      if (offset + IDT_GATE_SIZE - 1 <= this.idtrLimit) {
        // The gate's 16 bytes, each page of them translated (a misaligned IDT can split a gate).
        const gateAddress = this.operandHpa(
          this.idtrBase + offset,
          GPA_ACCESS.READ,
          IDT_GATE_SIZE,
          thisInfo,
          thisErr,
        );
        if (gateAddress < 0) return;
        const w0 = this.operandRead(gateAddress, 0, 4);
        const w1 = this.operandRead(gateAddress, 4, 4);
        const w2 = this.operandRead(gateAddress, 8, 4);
        const gt = gateType(w1);
        // Type is checked before presence: a not-present gate must still be a gate to raise #NP.
        if ((w1 & DESCRIPTOR_S) === 0 && (gt === GATE_TYPE.INTERRUPT || gt === GATE_TYPE.TRAP)) {
          if (!gatePresent(w1)) {
            fault = EXCEPTION.NP;
          } else {
            const target = gateOffsetNumber(w0, w1, w2);
            let hpa = target;
            if (this.nonRoot && target >= 0) {
              hpa = this.translate(target, GPA_ACCESS.EXECUTE);
              if (hpa < 0) {
                this.eptViolation(target, GPA_ACCESS.EXECUTE, thisInfo, thisErr);
                return;
              }
            }
            const routine = hpa >= 0 ? this.code.lookup(hpa) : undefined;
            if (routine === undefined) {
              // No code at the gate's target: treated as a bad code-segment reference, #GP(vector).
              this.cUnknownCode.inc();
            } else if (this.stack.depth >= MAX_FRAME_DEPTH) {
              // The handler's frame cannot be pushed: a stack fault during delivery, #SS(EXT).
              this.cStackOverflows.inc();
              fault = EXCEPTION.SS;
            } else {
              this.enterHandler(routine, v, t, hasEc ? ec : -1, gt);
              return;
            }
          }
        }
      }
      // A fault while delivering (v, t).
      if (t === INTR_TYPE.HARDWARE_EXCEPTION && v === EXCEPTION.DF) {
        this.tripleFault(thisInfo, thisErr);
        return;
      }
      vecInfo = thisInfo;
      vecErr = thisErr;
      if (
        t === INTR_TYPE.HARDWARE_EXCEPTION &&
        isContributoryException(v) &&
        isContributoryException(fault)
      ) {
        this.cDoubleFaults.inc();
        v = EXCEPTION.DF;
        ec = 0;
      } else {
        ec = fault === EXCEPTION.SS ? (ext ? 1 : 0) : idtErrorCode(v, ext);
        v = fault;
      }
      t = INTR_TYPE.HARDWARE_EXCEPTION;
    }
  }

  private enterHandler(routine: Routine, vector: number, type: number, errorCode: number, gt: number): void {
    const f = this.stack.push(routine, FRAME_KIND.EVENT, vector, errorCode);
    f.savedIf = this._if;
    f.savedRax = this.rax;
    f.savedRbx = this.rbx;
    f.savedRcx = this.rcx;
    f.savedRdx = this.rdx;
    f.savedResultLo = this._resultLo;
    f.savedResultHi = this._resultHi;
    f.remainingPs = this.psDelivery;
    // An interrupt gate clears IF; a trap gate leaves it (SDM vol. 3 §6.12.1.3).
    if (gt === GATE_TYPE.INTERRUPT) this._if = false;
    if (type === INTR_TYPE.NMI) this.nmiBlocked = true;
    this.cDelivered.inc();
    if (this.nonRoot) this.deliveredGuest[vector]!++;
    else this.deliveredRoot[vector]!++;
    if (this.tracer.enabled) {
      this.tracer.instant(this.track, 'deliver', this.sim.now, { vector, guest: this.nonRoot });
    }
  }

  private tripleFault(vecInfo: number, vecErr: number): void {
    this.cTripleFaults.inc();
    if (this.nonRoot) {
      this.vmExit(EXIT_REASON.TRIPLE_FAULT, 0, 0, 0, vecInfo, vecErr, 0, 0);
      return;
    }
    this.cShutdowns.inc();
    this.phase = P_SHUTDOWN;
    this.setCategory(C_IDLE);
    if (this.tracer.enabled) this.tracer.instant(this.track, 'shutdown', this.sim.now);
  }

  // ---------------------------------------------------------------- memory and MSRs

  private setIdtrBase(lo: number, hi: number): void {
    this.idtrBaseLo = lo;
    this.idtrBaseHi = hi;
    this.idtrBase = hi * TWO_POW_32 + lo;
  }

  private translate(gpa: number, access: number): number {
    if ((this.proc2 & PROC_BASED2.ENABLE_EPT) === 0) return gpa;
    const map = this.active!.map;
    return map === null ? gpa : map.translate(gpa, access);
  }

  private isApicAccess(hpa: number): boolean {
    return (
      (this.proc2 & PROC_BASED2.VIRTUALIZE_APIC_ACCESSES) !== 0 &&
      hpa - (hpa % PAGE_SIZE) === this.apicAccessAddress
    );
  }

  private eptViolation(gpa: number, access: number, vecInfo: number, vecErr: number): void {
    const qual =
      access === GPA_ACCESS.READ
        ? EPT_VIOLATION_QUAL.READ
        : access === GPA_ACCESS.WRITE
          ? EPT_VIOLATION_QUAL.WRITE
          : EPT_VIOLATION_QUAL.FETCH;
    // Bits 5:3: whether the guest-physical address was readable, writable, executable (the
    // EPT entry's R/W/X, SDM vol. 3 Table 27-7); GPA_ACCESS uses the same bit order.
    const map = this.active!.map;
    const allowed = map?.permissions === undefined ? 0 : map.permissions(gpa) & 7;
    this.active!.setAt(F_GUEST_PHYSICAL_ADDRESS, gpa);
    this.vmExit(EXIT_REASON.EPT_VIOLATION, qual | (allowed << 3), 0, 0, vecInfo, vecErr, 0, 0);
  }

  /** Base of the xAPIC register page if IA32_APIC_BASE says xAPIC mode, else −1. */
  private xapicBase(): number {
    const out = this.msrScratch;
    if (this.lapic.readMsr(MSR.IA32_APIC_BASE, out) !== MSR_OK) return -1;
    if ((out.lo & APIC_BASE_MSR.ENABLE) === 0 || (out.lo & APIC_BASE_MSR.EXTD) !== 0) return -1;
    return (out.hi >>> 0) * TWO_POW_32 + ((out.lo & APIC_BASE_MSR.BASE_MASK) >>> 0);
  }

  private physicalRead(hpa: number, size: 1 | 2 | 4): number {
    const base = this.xapicBase();
    if (base >= 0 && hpa >= base && hpa < base + APIC_PAGE_SIZE) return this.lapic.mmioRead(hpa - base, size);
    return this.bus.read(hpa, size);
  }

  private physicalWrite(hpa: number, size: 1 | 2 | 4, value: number): void {
    const base = this.xapicBase();
    if (base >= 0 && hpa >= base && hpa < base + APIC_PAGE_SIZE) {
      this.lapic.mmioWrite(hpa - base, size, value);
      return;
    }
    this.bus.write(hpa, size, value);
  }

  /**
   * Is this RDMSR (not intercepted) read from the virtual-APIC page? With "virtualize x2APIC
   * mode": TPR (808H) always; every MSR in 800H–8FFH with "APIC-register virtualization"
   * (SDM vol. 3 §29.5).
   */
  private virtualizedX2apicRead(index: number): boolean {
    if ((this.proc2 & PROC_BASED2.VIRTUALIZE_X2APIC_MODE) === 0 || index < 0x800 || index > 0x8ff)
      return false;
    return index === MSR.X2APIC_TPR || (this.proc2 & PROC_BASED2.APIC_REGISTER_VIRTUALIZATION) !== 0;
  }

  /** Does this guest MSR access exit? Always without MSR bitmaps; else by the bitmap bit (SDM §25.1.3). */
  private msrAccessExits(index: number, write: boolean): boolean {
    if ((this.proc & PROC_BASED.USE_MSR_BITMAPS) === 0) return true;
    const pos = msrBitmapPosition(index, write);
    if (pos < 0) return true;
    const byte = this.bus.memory.read8(this.msrBitmapAddress + (pos >>> 3));
    return ((byte >>> (pos & 7)) & 1) === 1;
  }

  private readMsrValue(index: number, out: MsrValue): number {
    switch (index) {
      case MSR.IA32_TSC: {
        const t = this.tsc;
        out.lo = t % TWO_POW_32;
        out.hi = Math.floor(t / TWO_POW_32) >>> 0;
        return MSR_OK;
      }
      case MSR.IA32_FEATURE_CONTROL:
        return set(out, FEATURE_CONTROL_LOCKED_VMX, 0);
      case MSR.IA32_VMX_BASIC:
        return set(out, VMX_BASIC.LO, VMX_BASIC.HI);
      case MSR.IA32_VMX_PINBASED_CTLS:
        return set(out, VMX_DEFAULT1.PIN_BASED, this.allowed1.pin);
      case MSR.IA32_VMX_PROCBASED_CTLS:
        return set(out, VMX_DEFAULT1.PROC_BASED, this.allowed1.proc);
      case MSR.IA32_VMX_EXIT_CTLS:
        return set(out, VMX_DEFAULT1.EXIT, EXIT_ALLOWED1);
      case MSR.IA32_VMX_ENTRY_CTLS:
        return set(out, VMX_DEFAULT1.ENTRY, ENTRY_ALLOWED1);
      case MSR.IA32_VMX_MISC:
        return set(out, this.preemptionRate | VMX_MISC_ACTIVITY_HLT, 0);
      case MSR.IA32_VMX_PROCBASED_CTLS2:
        return set(out, 0, this.allowed1.proc2);
      default:
        break;
    }
    if (this.lapic.ownsMsr(index)) return this.lapic.readMsr(index, out);
    for (const d of this.msrDevices) if (d.ownsMsr(index)) return d.readMsr(index, out);
    return MSR_GP;
  }

  private writeMsrValue(index: number, lo: number, hi: number): number {
    if (index === MSR.IA32_TSC) {
      this.tscOffset = hi * TWO_POW_32 + lo - this.clock.psToCycles(this.sim.now - this.tscZeroPs);
      return MSR_OK;
    }
    // IA32_FEATURE_CONTROL is locked and the VMX capability MSRs are read-only.
    if (
      index === MSR.IA32_FEATURE_CONTROL ||
      (index >= MSR.IA32_VMX_BASIC && index <= MSR.IA32_VMX_PROCBASED_CTLS2)
    ) {
      return MSR_GP;
    }
    if (this.lapic.ownsMsr(index)) return this.lapic.writeMsr(index, lo, hi);
    for (const d of this.msrDevices) if (d.ownsMsr(index)) return d.writeMsr(index, lo, hi);
    return MSR_GP;
  }

  // ---------------------------------------------------------------- VMX transitions

  private rootOnly(what: string): void {
    if (this.nonRoot) {
      throw new CpuUsageError(
        `${what} in VMX non-root operation: nested virtualization is not modeled (a guest must not use VMX instructions)`,
      );
    }
  }

  private vmsucceed(): void {
    this._vmxStatus = VMX_STATUS.SUCCEED;
  }

  private vmfailInvalid(): void {
    this._vmxStatus = VMX_STATUS.FAIL_INVALID;
    this.cVmfail.inc();
  }

  /** VMfail(error): VMfailValid with a current VMCS, else VMfailInvalid (SDM vol. 3 §30.2). */
  private vmfail(error: number): void {
    if (this.current === null) {
      this.vmfailInvalid();
      return;
    }
    this.current.setAt(F_VM_INSTRUCTION_ERROR, error);
    this._vmxStatus = VMX_STATUS.FAIL_VALID;
    this.cVmfail.inc();
  }

  private vmEnter(launch: boolean): void {
    this.beginOp();
    this.rootOnly(launch ? 'VMLAUNCH' : 'VMRESUME');
    const v = this.current;
    if (v === null) {
      this.vmfailInvalid();
      return;
    }
    if (launch && v.launched) {
      this.vmfail(VM_INSTRUCTION_ERROR.VMLAUNCH_NON_CLEAR_VMCS);
      return;
    }
    if (!launch && !v.launched) {
      this.vmfail(VM_INSTRUCTION_ERROR.VMRESUME_NON_LAUNCHED_VMCS);
      return;
    }
    if (!this.controlsValid(v)) {
      this.vmfail(VM_INSTRUCTION_ERROR.ENTRY_INVALID_CONTROL_FIELDS);
      return;
    }
    this.entryFails = !guestStateValid(v);
    this.active = v;
    this.vmsucceed();
    this.phase = P_ENTRY;
    this.setCategory(C_TRANSITION);
    this.sim.schedule(this.opEvent, this.sim.now + this.psEntry);
  }

  /**
   * The VM-entry checks on the control fields (SDM vol. 3 §26.2.1). Those of §26.2.1.1–§26.2.1.2
   * read only the control fields (CONTROL_CHECK_SLOT in vmcs.ts), this CPU's allowed-1 settings
   * and the size of memory — except the TPR-threshold check against VTPR, which reads the
   * virtual-APIC page — so while the same VMCS has had no write to those fields since they last
   * passed without reading memory (`Vmcs.controlWrites` unchanged), they pass again and are
   * not repeated. The event-injection checks (§26.2.1.3) run at every entry.
   */
  private controlsValid(v: Vmcs): boolean {
    if (v !== this.passedControlsOf || v.controlWrites !== this.passedControlWrites) {
      const r = controlFieldsValid(v, this.bus.memory, this.allowed1);
      if (r === CONTROLS_INVALID) return false;
      if (r === CONTROLS_VALID) {
        this.passedControlsOf = v;
        this.passedControlWrites = v.controlWrites;
      }
    }
    return entryEventValid(v);
  }

  private finishEntry(): void {
    const v = this.active!;
    this.phase = P_RUN;
    if (this.entryFails) {
      // VM-entry failure due to invalid guest state: host state is loaded as on a VM exit (SDM §26.8).
      this.entryFails = false;
      this.cEntryFailures.inc();
      v.setAt(F_VM_EXIT_REASON, EXIT_REASON.INVALID_GUEST_STATE | EXIT_REASON_ENTRY_FAILURE);
      v.setAt(F_EXIT_QUALIFICATION, 0);
      this.countExit(EXIT_REASON.INVALID_GUEST_STATE);
      this.loadHostState(v);
      this.setCategory(C_HOST);
      return;
    }
    v.launched = true;
    this.cEntries.inc();
    this.pin = v.getAt(F_PIN_BASED_VM_EXEC_CONTROL);
    this.proc = v.getAt(F_CPU_BASED_VM_EXEC_CONTROL);
    this.proc2 =
      (this.proc & PROC_BASED.ACTIVATE_SECONDARY_CONTROLS) !== 0 ? v.getAt(F_SECONDARY_VM_EXEC_CONTROL) : 0;
    this.exitControls = v.getAt(F_VM_EXIT_CONTROLS);
    this.exceptionBitmap = v.getAt(F_EXCEPTION_BITMAP);
    this.msrBitmapAddress = v.getAt(F_MSR_BITMAP);
    this.apicAccessAddress = v.getAt(F_APIC_ACCESS_ADDR);
    this.tprThreshold = v.getAt(F_TPR_THRESHOLD) & 0xf;
    this.vapic.load(v.getAt(F_VIRTUAL_APIC_PAGE_ADDR), v.getAt(F_GUEST_INTERRUPT_STATUS));
    // SDM vol. 3 §26.6.7: with "use TPR shadow" and "virtualize APIC accesses" 1 and
    // "virtual-interrupt delivery" 0 (the one case where the VM-entry check of §26.2.1.1 lets the
    // threshold exceed VTPR[7:4]), a TPR-threshold exit follows the entry (and any injection).
    this.tprExitAfterEntry =
      (this.proc & PROC_BASED.USE_TPR_SHADOW) !== 0 &&
      (this.proc2 & (PROC_BASED2.VIRTUALIZE_APIC_ACCESSES | PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY)) ===
        PROC_BASED2.VIRTUALIZE_APIC_ACCESSES &&
      this.tprThreshold > this.vapic.vtpr >>> 4;
    if ((this.proc2 & PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY) !== 0) {
      const bitmap = this.vapic.eoiExitBitmap;
      for (let i = 0; i < 4; i++) {
        const field = VMCS_FIELD.EOI_EXIT_BITMAP0 + 2 * i;
        bitmap[2 * i] = v.getHalf(field, false);
        bitmap[2 * i + 1] = v.getHalf(field, true);
      }
      // VM entry loads RVI and SVI, virtualizes PPR and evaluates pending virtual interrupts
      // (SDM vol. 3 §26.3.2.5); a recognized one is delivered once IF = 1 and nothing blocks,
      // after any injected event.
      this.vapic.virtualizePpr();
      this.evaluateVirtualInterrupts();
    }
    this.notificationVector =
      (this.pin & PIN_BASED.PROCESS_POSTED_INTERRUPTS) !== 0
        ? v.getAt(F_POSTED_INTR_NOTIFICATION_VECTOR) & 0xff
        : -1;
    this.postedDescriptorAddress = v.getAt(F_POSTED_INTR_DESC_ADDR);

    this.nonRoot = true;
    this.stack = v.guestStack;
    const rflags = v.getAt(F_GUEST_RFLAGS);
    this._if = (rflags & RFLAGS.IF) !== 0;
    const idtrBase = v.getAt(F_GUEST_IDTR_BASE);
    // The exact halves saved at the last exit, unless the hypervisor wrote a new base since.
    if (idtrBase === v.savedIdtrBase) this.setIdtrBase(v.savedIdtrBaseLo, v.savedIdtrBaseHi);
    else this.setIdtrBase((idtrBase % TWO_POW_32) >>> 0, Math.floor(idtrBase / TWO_POW_32) >>> 0);
    this.idtrLimit = v.getAt(F_GUEST_IDTR_LIMIT) & 0xffff;
    const intr = v.getAt(F_GUEST_INTERRUPTIBILITY_INFO);
    const entryInfo = v.getAt(F_VM_ENTRY_INTR_INFO);
    const vectoring = (entryInfo & INTR_INFO.VALID) !== 0;
    // A vectoring entry leaves no blocking by STI or MOV SS (SDM §26.6.1). Otherwise the blocking
    // the field loads "is cleared after the guest executes one instruction" (§26.6.1): when the
    // last exit was a guest operation's fault-like exit, that operation is the one this entry
    // completes (the model's stand-in for the hardware executing it again from the same RIP), so
    // the blocking covers it and has ended once it completes. A hypervisor that leaves bits 1:0
    // set after emulating the operation (KVM clears them in skip_emulated_instruction) thus
    // extends no blocking past it; it meets only the entry checks (§26.3.1.5: no injection of an
    // external interrupt, no HLT activity state, with either bit set).
    const loadsBlocking = !vectoring && v.exitCompletion === EC_NONE;
    this.stiShadow = loadsBlocking && (intr & INTERRUPTIBILITY.BLOCKING_BY_STI) !== 0;
    this.movSsShadow = loadsBlocking && (intr & INTERRUPTIBILITY.BLOCKING_BY_MOV_SS) !== 0;
    this.nmiBlocked = (intr & INTERRUPTIBILITY.BLOCKING_BY_NMI) !== 0;
    this.halted = !vectoring && v.getAt(F_GUEST_ACTIVITY_STATE) === ACTIVITY_STATE.HLT;
    this.setCategory(C_GUEST);
    if (this.exitEpisode) this.chargeIndirect();

    // The guest's registers come back as the exit left them (KVM's vcpu->arch.regs); the
    // guest operation that exited completes with what the hypervisor's emulation put in
    // RAX (and RDX for RDMSR) before the entry.
    this.rbx = v.savedRbx;
    this.rcx = v.savedRcx;
    this._resultLo = v.savedResultLo;
    this._resultHi = v.savedResultHi;
    if (v.exitCompletion === EC_RDMSR) {
      this._resultLo = this.rax >>> 0;
      this._resultHi = this.rdx >>> 0;
    } else if (v.exitCompletion === EC_MMIO_READ) {
      this._resultLo = this.rax >>> 0;
      this.rdx = v.savedRdx;
    } else {
      this.rax = v.savedRax;
      this.rdx = v.savedRdx;
    }
    v.exitCompletion = EC_NONE;

    this.timerExpired = false;
    if ((this.pin & PIN_BASED.ACTIVATE_PREEMPTION_TIMER) !== 0) {
      this.timerValue = v.getAt(F_VMX_PREEMPTION_TIMER_VALUE) >>> 0;
      this.timerStartPs = this.sim.now;
      if (this.timerValue === 0) this.timerExpired = true;
      else {
        const cycles = this.timerValue * 2 ** this.preemptionRate;
        this.sim.schedule(this.timerEvent, this.sim.now + this.clock.cyclesToPs(cycles));
      }
    }
    if (this.tracer.enabled) this.tracer.begin(this.track, 'guest', this.sim.now);

    if (this.stack.depth === 0) {
      const rip = v.getAt(F_GUEST_RIP);
      const hpa = this.translate(rip, GPA_ACCESS.EXECUTE);
      if (hpa < 0) {
        this.eptViolation(rip, GPA_ACCESS.EXECUTE, 0, 0);
        return;
      }
      const routine = this.code.lookup(hpa);
      if (routine === undefined) {
        throw new CpuConfigError(
          `cpu${this.id}: GUEST_RIP 0x${rip.toString(16)} (host-physical 0x${hpa.toString(16)}) holds no routine: register the guest's entry point in the CodeSpace`,
        );
      }
      this.stack.push(routine, FRAME_KIND.ENTRY, -1, -1);
    }
    if (vectoring) {
      const type = (entryInfo >>> INTR_INFO.TYPE_SHIFT) & 7;
      const ec =
        (entryInfo & INTR_INFO.ERROR_CODE_VALID) !== 0 ? v.getAt(F_VM_ENTRY_EXCEPTION_ERROR_CODE) : -1;
      this.deliver(entryInfo & INTR_INFO.VECTOR_MASK, type, ec, true);
    }
  }

  /**
   * A VM exit (SDM vol. 3 ch. 27): records the exit information, saves guest state,
   * clears the valid bit of the VM-entry interruption information, and starts the exit
   * transition, after which host state is loaded and the VMLAUNCH/VMRESUME completes.
   */
  private vmExit(
    reason: number,
    qualification: number,
    intrInfo: number,
    intrError: number,
    vecInfo: number,
    vecError: number,
    instructionLength: number,
    instructionInfo: number,
  ): void {
    const v = this.active!;
    const faultLike = this.faultLike;
    this.faultLike = false;
    // A fault-like exit of the operation being stepped leaves it to be completed at the next
    // entry (its result, if any, from the hypervisor: EC_RDMSR, EC_MMIO_READ).
    if (faultLike && v.exitCompletion === EC_NONE) v.exitCompletion = EC_OP;
    v.savedRax = this.rax;
    v.savedRbx = this.rbx;
    v.savedRcx = this.rcx;
    v.savedRdx = this.rdx;
    v.savedResultLo = this._resultLo;
    v.savedResultHi = this._resultHi;
    v.setAt(F_VM_EXIT_REASON, reason);
    v.setAt(F_EXIT_QUALIFICATION, qualification);
    v.setAt(F_VM_EXIT_INTR_INFO, intrInfo);
    v.setAt(F_VM_EXIT_INTR_ERROR_CODE, intrError);
    v.setAt(F_IDT_VECTORING_INFO, vecInfo);
    v.setAt(F_IDT_VECTORING_ERROR_CODE, vecError);
    v.setAt(F_VM_EXIT_INSTRUCTION_LEN, instructionLength);
    v.setAt(F_VMX_INSTRUCTION_INFO, instructionInfo);

    const rflags = v.getAt(F_GUEST_RFLAGS);
    v.setAt(F_GUEST_RFLAGS, (rflags - (rflags & RFLAGS.IF)) | RFLAGS.FIXED1 | (this._if ? RFLAGS.IF : 0));
    // The interruptibility before the exit (SDM vol. 3 §27.3.4). After a fault-like exit of an
    // operation, the blocking by STI or MOV SS in effect before it: the operation has not
    // executed (§25.1), so the blocking it would have ended is still in effect — `sti; hlt` with
    // HLT exiting saves bit 0. After a trap-like exit the operation completed and its blocking
    // "is no longer in effect" (§27.1); between operations, the blocking of the moment.
    v.setAt(
      F_GUEST_INTERRUPTIBILITY_INFO,
      (faultLike
        ? this.opBlocking
        : (this.stiShadow ? INTERRUPTIBILITY.BLOCKING_BY_STI : 0) |
          (this.movSsShadow ? INTERRUPTIBILITY.BLOCKING_BY_MOV_SS : 0)) |
        (this.nmiBlocked ? INTERRUPTIBILITY.BLOCKING_BY_NMI : 0),
    );
    v.setAt(F_GUEST_ACTIVITY_STATE, this.halted ? ACTIVITY_STATE.HLT : ACTIVITY_STATE.ACTIVE);
    v.setAt(F_GUEST_IDTR_BASE, this.idtrBase);
    v.savedIdtrBase = this.idtrBase;
    v.savedIdtrBaseLo = this.idtrBaseLo;
    v.savedIdtrBaseHi = this.idtrBaseHi;
    v.setAt(F_GUEST_IDTR_LIMIT, this.idtrLimit);
    if ((this.pin & PIN_BASED.ACTIVATE_PREEMPTION_TIMER) !== 0) {
      this.sim.cancel(this.timerEvent);
      if ((this.exitControls & EXIT_CONTROLS.SAVE_PREEMPTION_TIMER) !== 0) {
        const ticks = Math.floor(
          this.clock.psToCycles(this.sim.now - this.timerStartPs) / 2 ** this.preemptionRate,
        );
        v.setAt(F_VMX_PREEMPTION_TIMER_VALUE, this.timerExpired ? 0 : Math.max(0, this.timerValue - ticks));
      }
    }
    this.timerExpired = false;
    // Every VM exit clears the valid bit of the VM-entry interruption-information field (SDM §27.2.4).
    const entryInfo = v.getAt(F_VM_ENTRY_INTR_INFO);
    if ((entryInfo & INTR_INFO.VALID) !== 0) v.setAt(F_VM_ENTRY_INTR_INFO, entryInfo - INTR_INFO.VALID);

    // With virtual-interrupt delivery the exit saves RVI and SVI (SDM vol. 3 §27.3.4).
    if ((this.proc2 & PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY) !== 0) {
      v.setAt(F_GUEST_INTERRUPT_STATUS, this.vapic.guestInterruptStatus);
    }
    this.countExit(reason);
    this.hostWorkPs = 0;
    this.lastExitReason = reason & 0xffff;
    this.exitEpisode = true;
    if (this.tracer.enabled) {
      this.tracer.end(this.track, this.sim.now);
      this.tracer.instant(this.track, exitReasonName(reason), this.sim.now, { reason });
    }
    this.loadHostState(v);
    this.phase = P_EXIT;
    this.setCategory(C_TRANSITION);
    this.sim.schedule(this.opEvent, this.sim.now + this.psExit);
  }

  /** Processor state after a VM exit (SDM vol. 3 §27.5): RFLAGS cleared but bit 1, HOST_IDTR_BASE, limit FFFFh. */
  private loadHostState(v: Vmcs): void {
    this.nonRoot = false;
    this.stack = this.rootStack;
    this._if = false;
    // No blocking by STI or MOV SS after a VM exit (SDM vol. 3 §27.5.5).
    this.stiShadow = false;
    this.movSsShadow = false;
    this.tprExitAfterEntry = false;
    // Blocking by NMI in the guest is physical blocking when "NMI exiting" is 0 and then lasts
    // until an IRET, across the exit; with "NMI exiting" 1 it lasts only while in VMX non-root
    // operation, and virtual-NMI blocking is the guest's alone (SDM vol. 3 §26.6.1). Other than
    // an exit caused by an NMI (perform), a VM exit does not block NMIs (§27.5.5).
    if ((this.pin & PIN_BASED.NMI_EXITING) !== 0) this.nmiBlocked = false;
    this.halted = false;
    const hostIdtr = v.getAt(F_HOST_IDTR_BASE);
    this.setIdtrBase((hostIdtr % TWO_POW_32) >>> 0, Math.floor(hostIdtr / TWO_POW_32) >>> 0);
    this.idtrLimit = IDTR_LIMIT_RESET;
    this.pin = 0;
    this.proc = 0;
    this.proc2 = 0;
    this.vapic.recognized = false;
    this.active = null;
  }

  private finishExit(): void {
    // The VMLAUNCH/VMRESUME at the top of the root stack completes here (HOST_RIP).
    this.phase = P_RUN;
    this.setCategory(C_HOST);
  }

  /**
   * The indirect cost of the exit this entry ends, owed by the guest work that follows: the
   * world switch's fixed part plus refills in proportion to the host's work since the exit
   * (its footprint), at most a whole working set; added to the exit reason's account.
   */
  private chargeIndirect(): void {
    const pollution = Math.min(this.psPollutionMax, Math.round(this.hostWorkPs * this.pollutionPerHost));
    const ps = this.psIndirect + pollution;
    this.hostWorkPs = 0;
    this.exitEpisode = false;
    if (ps === 0) return;
    this.debtPs += ps;
    const reason = this.lastExitReason;
    let c = this.indirectCounters[reason];
    if (c === undefined) {
      c = this.stats.counter(`exit-indirect-ps.${exitReasonName(reason)}`);
      this.indirectCounters[reason] = c;
    }
    c.add(ps);
  }

  private countExit(reason: number): void {
    const basic = reason & 0xffff;
    let c = this.exitCounters[basic];
    if (c === undefined) {
      c = this.stats.counter(`exits.${exitReasonName(basic)}`);
      this.exitCounters[basic] = c;
    }
    c.inc();
  }

  /**
   * The host-physical address of a `length`-byte operand at `address` (at most 16 bytes, so at
   * most one page boundary), or −1 after an EPT-violation exit. In a guest each page the
   * operand touches is translated through the EPT's map, as the processor translates each page
   * of an access that crosses a page boundary; a page that does not translate ends the
   * instruction, before any byte is read or written, with the EPT violation of the first byte
   * in that page. Then `splitAt` and `splitHpa` say where the bytes past the boundary are
   * (operandRead, operandWrite): guest-physical pages next to each other need not be next to
   * each other in host memory, and the one after the guest's last page is not its own.
   */
  private operandHpa(address: number, access: number, length: number, vecInfo = 0, vecErr = 0): number {
    this.splitAt = length;
    if (!this.nonRoot) return address;
    const hpa = this.translate(address, access);
    if (hpa < 0) {
      this.eptViolation(address, access, vecInfo, vecErr);
      return -1;
    }
    const inPage = PAGE_SIZE - (address % PAGE_SIZE);
    if (inPage < length) {
      const next = address + inPage;
      const hpa2 = this.translate(next, access);
      if (hpa2 < 0) {
        this.eptViolation(next, access, vecInfo, vecErr);
        return -1;
      }
      this.splitAt = inPage;
      this.splitHpa = hpa2;
    }
    return hpa;
  }

  /** The host-physical address of byte `i` of the operand at `hpa` (after operandHpa). */
  private operandByte(hpa: number, i: number): number {
    return i < this.splitAt ? hpa + i : this.splitHpa + (i - this.splitAt);
  }

  /** Reads `size` bytes at `offset` in the operand at `hpa` (after operandHpa), little-endian. */
  private operandRead(hpa: number, offset: number, size: 2 | 4): number {
    if (offset + size <= this.splitAt) return this.bus.read(hpa + offset, size);
    if (offset >= this.splitAt) return this.bus.read(this.splitHpa + (offset - this.splitAt), size);
    return this.readAcross(hpa, offset, size, false);
  }

  /** Writes `size` bytes of `value` at `offset` in the operand at `hpa` (after operandHpa), little-endian. */
  private operandWrite(hpa: number, offset: number, size: 2 | 4, value: number): void {
    if (offset + size <= this.splitAt) this.bus.write(hpa + offset, size, value);
    else if (offset >= this.splitAt) this.bus.write(this.splitHpa + (offset - this.splitAt), size, value);
    else this.writeAcross(hpa, offset, size, value, false);
  }

  /**
   * For a guest's load or store of `size` bytes at `address`: the host-physical address (each
   * page the access touches translated, as operandHpa does); APIC_VIRTUALIZED, with its page
   * offset in `apicOffset`, for an access to the APIC-access page that is virtualized; or −1
   * after the exit it causes — an EPT violation, or an APIC-access exit when a byte falls in
   * the APIC-access page (its offset there: the access's own, or 0 for the part past a page
   * boundary). The EPT violation comes first: an APIC-access exit ranks below any EPT
   * violation the access incurs (SDM vol. 3 §29.4.1). An access that crosses a page boundary
   * is never virtualized: its part in the APIC-access page starts at offset 0 or ends at FFFH,
   * neither of which is a virtualized register (§29.4.2, §29.4.3.1).
   */
  private guestAccessHpa(address: number, size: 1 | 2 | 4, access: number, apicAccessType: number): number {
    const hpa = this.operandHpa(address, access, size);
    if (hpa < 0) return -1;
    const apic = this.isApicAccess(hpa)
      ? hpa
      : this.splitAt < size && this.isApicAccess(this.splitHpa)
        ? this.splitHpa
        : -1;
    if (apic >= 0) {
      const offset = apic % PAGE_SIZE;
      if (
        this.splitAt === size &&
        (this.proc & PROC_BASED.USE_TPR_SHADOW) !== 0 &&
        apicAccessVirtualized(
          offset,
          size,
          access === GPA_ACCESS.WRITE,
          (this.proc2 & PROC_BASED2.APIC_REGISTER_VIRTUALIZATION) !== 0,
          (this.proc2 & PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY) !== 0,
        )
      ) {
        this.apicOffset = offset;
        return APIC_VIRTUALIZED;
      }
      this.vmExit(EXIT_REASON.APIC_ACCESS, offset | (apicAccessType << 12), 0, 0, 0, 0, 0, 0);
      return -1;
    }
    return hpa;
  }

  /**
   * Reads `size` bytes at `offset` of an operand that crosses its page boundary there (after
   * operandHpa): byte by byte, each from its own page, little-endian; through physicalRead (the
   * xAPIC page included) for a load, or straight from the bus for a descriptor-table operand.
   */
  private readAcross(hpa: number, offset: number, size: number, physical: boolean): number {
    let value = 0;
    for (let k = size - 1; k >= 0; k--) {
      const a = this.operandByte(hpa, offset + k);
      value = value * 256 + (physical ? this.physicalRead(a, 1) : this.bus.read(a, 1));
    }
    return value;
  }

  /** Writes what readAcross reads, byte by byte, each to its own page. */
  private writeAcross(hpa: number, offset: number, size: number, value: number, physical: boolean): void {
    for (let k = 0; k < size; k++) {
      const a = this.operandByte(hpa, offset + k);
      const b = (value >>> (8 * k)) & 0xff;
      if (physical) this.physicalWrite(a, 1, b);
      else this.bus.write(a, 1, b);
    }
  }

  /**
   * A fault-like VM exit caused by the operation being stepped (SDM vol. 3 §25.1: "the
   * instruction causing the VM exit does not execute"): RDMSR, WRMSR, HLT, VMCALL, LIDT, SIDT.
   */
  private instructionExit(reason: number, qualification: number, length: number, info: number): void {
    this.faultLike = true;
    this.vmExit(reason, qualification, 0, 0, 0, 0, length, info);
  }

  private descriptorTableExiting(): boolean {
    return this.nonRoot && (this.proc2 & PROC_BASED2.DESCRIPTOR_TABLE_EXITING) !== 0;
  }

  /**
   * Exit 46 for LIDT/SIDT (SDM vol. 3 §27.2.5 table 27-10): the operand's address is its
   * displacement, with base and index registers invalid, 64-bit address size, segment DS.
   */
  private descriptorTableExit(identity: number, address: number): void {
    const info =
      INSTRUCTION_INFO.ADDRESS_SIZE_64 |
      INSTRUCTION_INFO.INDEX_INVALID |
      INSTRUCTION_INFO.BASE_INVALID |
      INSTRUCTION_INFO_SEGMENT_DS |
      (identity << INSTRUCTION_INFO.IDENTITY_SHIFT);
    this.instructionExit(EXIT_REASON.GDTR_IDTR_ACCESS, address, LEN_DESCRIPTOR_TABLE, info);
  }
}

function set(out: MsrValue, lo: number, hi: number): number {
  out.lo = lo >>> 0;
  out.hi = hi >>> 0;
  return MSR_OK;
}

function isPageAligned(address: number): boolean {
  return Number.isSafeInteger(address) && address >= 0 && address % PAGE_SIZE === 0;
}

/** A control value respects its capability MSR: every default1 bit set, no bit outside allowed-1. */
function fits(value: number, default1: number, allowed1: number): boolean {
  return (value & default1) >>> 0 === default1 >>> 0 && (value & ~allowed1) >>> 0 === 0;
}

/** controlFieldsValid's answers. */
const CONTROLS_INVALID = 0;
/** Valid, from the control fields alone. */
const CONTROLS_VALID = 1;
/** Valid, and the answer read memory (the virtual-APIC page's VTPR): it may change with no VMCS write. */
const CONTROLS_VALID_READ_MEMORY = 2;

/**
 * VM-entry checks on VM-execution, VM-exit and VM-entry control fields (SDM vol. 3 §26.2.1.1,
 * §26.2.1.2); the event-injection checks of §26.2.1.3 are entryEventValid's.
 */
function controlFieldsValid(
  v: Vmcs,
  memory: PhysicalMemory,
  allowed1: { readonly pin: number; readonly proc: number; readonly proc2: number },
): number {
  const pin = v.getAt(F_PIN_BASED_VM_EXEC_CONTROL);
  const proc = v.getAt(F_CPU_BASED_VM_EXEC_CONTROL);
  const exit = v.getAt(F_VM_EXIT_CONTROLS);
  const entry = v.getAt(F_VM_ENTRY_CONTROLS);
  if (!fits(pin, VMX_DEFAULT1.PIN_BASED, allowed1.pin)) return CONTROLS_INVALID;
  if (!fits(proc, VMX_DEFAULT1.PROC_BASED, allowed1.proc)) return CONTROLS_INVALID;
  // Secondary controls count only when "activate secondary controls" is 1.
  const proc2 =
    (proc & PROC_BASED.ACTIVATE_SECONDARY_CONTROLS) !== 0 ? v.getAt(F_SECONDARY_VM_EXEC_CONTROL) : 0;
  if (!fits(proc2, 0, allowed1.proc2)) return CONTROLS_INVALID;
  if ((proc & PROC_BASED.USE_MSR_BITMAPS) !== 0 && !isPageAligned(v.getAt(F_MSR_BITMAP)))
    return CONTROLS_INVALID;
  if ((pin & PIN_BASED.NMI_EXITING) === 0 && (pin & PIN_BASED.VIRTUAL_NMIS) !== 0) return CONTROLS_INVALID;
  if ((proc2 & PROC_BASED2.VIRTUALIZE_APIC_ACCESSES) !== 0 && !isPageAligned(v.getAt(F_APIC_ACCESS_ADDR))) {
    return CONTROLS_INVALID;
  }
  const apic = apicVirtualizationControlsValid(v, pin, proc, proc2, exit, memory);
  if (apic === CONTROLS_INVALID) return CONTROLS_INVALID;
  if (!fits(exit, VMX_DEFAULT1.EXIT, EXIT_ALLOWED1)) return CONTROLS_INVALID;
  if (
    (pin & PIN_BASED.ACTIVATE_PREEMPTION_TIMER) === 0 &&
    (exit & EXIT_CONTROLS.SAVE_PREEMPTION_TIMER) !== 0
  ) {
    return CONTROLS_INVALID;
  }
  if (!fits(entry, VMX_DEFAULT1.ENTRY, ENTRY_ALLOWED1)) return CONTROLS_INVALID;
  return apic;
}

/** The checks of SDM vol. 3 §26.2.1.1 on the controls of APIC virtualization and posted interrupts (a controlFieldsValid answer). */
function apicVirtualizationControlsValid(
  v: Vmcs,
  pin: number,
  proc: number,
  proc2: number,
  exit: number,
  memory: PhysicalMemory,
): number {
  const vid = (proc2 & PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY) !== 0;
  let readMemory = false;
  if ((proc & PROC_BASED.USE_TPR_SHADOW) !== 0) {
    const vapic = v.getAt(F_VIRTUAL_APIC_PAGE_ADDR);
    // Bits 11:0 are 0 and no bit lies beyond the physical address space (here: its RAM).
    if (!isPageAligned(vapic) || vapic + PAGE_SIZE > memory.size) return CONTROLS_INVALID;
    const threshold = v.getAt(F_TPR_THRESHOLD);
    if (!vid && threshold >>> 4 !== 0) return CONTROLS_INVALID;
    // Without APIC-access virtualization or virtual-interrupt delivery the threshold may not
    // exceed VTPR[7:4], read from the virtual-APIC page.
    if (!vid && (proc2 & PROC_BASED2.VIRTUALIZE_APIC_ACCESSES) === 0) {
      if ((threshold & 0xf) > ((memory.read32(vapic + APIC_REG.TPR) >>> 4) & 0xf)) return CONTROLS_INVALID;
      readMemory = true;
    }
  } else if (
    (proc2 &
      (PROC_BASED2.VIRTUALIZE_X2APIC_MODE |
        PROC_BASED2.APIC_REGISTER_VIRTUALIZATION |
        PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY)) !==
    0
  ) {
    return CONTROLS_INVALID;
  }
  if (
    (proc2 & PROC_BASED2.VIRTUALIZE_X2APIC_MODE) !== 0 &&
    (proc2 & PROC_BASED2.VIRTUALIZE_APIC_ACCESSES) !== 0
  ) {
    return CONTROLS_INVALID;
  }
  if (vid && (pin & PIN_BASED.EXTERNAL_INTERRUPT_EXITING) === 0) return CONTROLS_INVALID;
  if ((pin & PIN_BASED.PROCESS_POSTED_INTERRUPTS) !== 0) {
    if (!vid) return CONTROLS_INVALID;
    if ((exit & EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT) === 0) return CONTROLS_INVALID;
    // The notification vector is a 16-bit field whose bits 15:8 must be 0.
    if ((v.getAt(F_POSTED_INTR_NOTIFICATION_VECTOR) & 0xff00) !== 0) return CONTROLS_INVALID;
    const pda = v.getAt(F_POSTED_INTR_DESC_ADDR);
    const size = POSTED_INTERRUPT_DESCRIPTOR.SIZE;
    if (!Number.isSafeInteger(pda) || pda < 0 || pda % size !== 0 || pda + size > memory.size)
      return CONTROLS_INVALID;
  }
  return readMemory ? CONTROLS_VALID_READ_MEMORY : CONTROLS_VALID;
}

/** VM-entry control checks on event injection (SDM vol. 3 §26.2.1.3). */
function entryEventValid(v: Vmcs): boolean {
  const info = v.getAt(F_VM_ENTRY_INTR_INFO);
  if ((info & INTR_INFO.VALID) === 0) return true;
  const type = (info >>> INTR_INFO.TYPE_SHIFT) & 7;
  const vector = info & INTR_INFO.VECTOR_MASK;
  // Type 1 is reserved; type 7 (other event) needs monitor-trap-flag support, which is not offered.
  if (type === 1 || type === INTR_TYPE.OTHER_EVENT) return false;
  if (type === INTR_TYPE.NMI && vector !== EXCEPTION.NMI) return false;
  if (type === INTR_TYPE.HARDWARE_EXCEPTION && vector > 31) return false;
  const deliversError = (info & INTR_INFO.ERROR_CODE_VALID) !== 0;
  if (deliversError !== (type === INTR_TYPE.HARDWARE_EXCEPTION && exceptionHasErrorCode(vector)))
    return false;
  if ((info & INTR_INFO_RESERVED) !== 0) return false;
  if (deliversError && v.getAt(F_VM_ENTRY_EXCEPTION_ERROR_CODE) >>> 16 !== 0) return false;
  if (
    type === INTR_TYPE.SOFTWARE_INTERRUPT ||
    type === INTR_TYPE.PRIVILEGED_SOFTWARE_EXCEPTION ||
    type === INTR_TYPE.SOFTWARE_EXCEPTION
  ) {
    const len = v.getAt(F_VM_ENTRY_INSTRUCTION_LEN);
    if (len < 1 || len > 15) return false;
  }
  return true;
}

/**
 * Checks on the guest-state area that this model holds (SDM vol. 3 §26.3.1.4, §26.3.1.5): RFLAGS,
 * the activity state (HLT only with an injectable event; active whenever blocking by STI or MOV
 * SS is set) and the interruptibility state (bits 31:4 and blocking by SMI, outside SMM, 0).
 */
function guestStateValid(v: Vmcs): boolean {
  const rflags = v.getAt(F_GUEST_RFLAGS);
  if (rflags >= TWO_POW_32 || rflags < 0) return false;
  if ((rflags & RFLAGS.FIXED1) === 0 || (rflags & RFLAGS_RESERVED0) !== 0) return false;
  const ifSet = (rflags & RFLAGS.IF) !== 0;
  const info = v.getAt(F_VM_ENTRY_INTR_INFO);
  const injecting = (info & INTR_INFO.VALID) !== 0;
  const type = (info >>> INTR_INFO.TYPE_SHIFT) & 7;
  if (injecting && type === INTR_TYPE.EXTERNAL_INTERRUPT && !ifSet) return false;

  const activity = v.getAt(F_GUEST_ACTIVITY_STATE);
  if (activity !== ACTIVITY_STATE.ACTIVE && activity !== ACTIVITY_STATE.HLT) return false;
  if (activity === ACTIVITY_STATE.HLT && injecting) {
    const vector = info & INTR_INFO.VECTOR_MASK;
    const allowed =
      type === INTR_TYPE.EXTERNAL_INTERRUPT ||
      type === INTR_TYPE.NMI ||
      (type === INTR_TYPE.HARDWARE_EXCEPTION && (vector === EXCEPTION.DB || vector === EXCEPTION.MC));
    if (!allowed) return false;
  }

  const intr = v.getAt(F_GUEST_INTERRUPTIBILITY_INFO);
  if ((intr & INTERRUPTIBILITY_RESERVED) !== 0) return false;
  // Blocking by SMI must be 0 outside SMM, and this model never runs in SMM.
  if ((intr & INTERRUPTIBILITY.BLOCKING_BY_SMI) !== 0) return false;
  const sti = (intr & INTERRUPTIBILITY.BLOCKING_BY_STI) !== 0;
  const movSs = (intr & INTERRUPTIBILITY.BLOCKING_BY_MOV_SS) !== 0;
  if (sti && movSs) return false;
  // The activity state must be active with blocking by STI or MOV SS (the activity-state checks).
  if ((sti || movSs) && activity !== ACTIVITY_STATE.ACTIVE) return false;
  if (sti && !ifSet) return false;
  if (injecting && type === INTR_TYPE.EXTERNAL_INTERRUPT && (sti || movSs)) return false;
  if (injecting && type === INTR_TYPE.NMI && movSs) return false;
  const pin = v.getAt(F_PIN_BASED_VM_EXEC_CONTROL);
  if (
    injecting &&
    type === INTR_TYPE.NMI &&
    (pin & PIN_BASED.VIRTUAL_NMIS) !== 0 &&
    (intr & INTERRUPTIBILITY.BLOCKING_BY_NMI) !== 0
  ) {
    return false;
  }
  return true;
}
