import type { InterruptBus } from '@exitless/lapic';
import type { Counter, ScopedStats, Simulator } from '@exitless/sim';
import {
  type CpuContext,
  exceptionHasErrorCode,
  INTR_TYPE,
  interruptionInfo,
  PROC_BASED,
  VMCS_FIELD,
} from '@exitless/x86';
import { KVM_MIN_TIMER_PERIOD_US } from './apic-timer.js';
import type { HostMsrContinuation, InterruptVirtualization, VcpuControl } from './strategy.js';
import { VirtualApic } from './virtual-apic.js';
import type { Vm } from './vm.js';

/** What the vCPU loop does once an exit's handler has run. */
export const AFTER_EXIT = {
  /** Prepare the next entry (after the exit's IF = 1 window and any IRQ thread it woke). */
  RESUME: 0,
  /**
   * First invoke the host IDT handler of `afterExitVector`, interrupts off: a physical
   * interrupt the CPU acknowledged on exit (KVM's handle_external_interrupt).
   */
  DISPATCH_HOST_INTERRUPT: 1,
  /** HLT: block the vCPU (kvm_vcpu_block) until its virtual LAPIC has an interrupt to deliver. */
  HALT: 2,
} as const;
/** What the vCPU loop does after an exit is handled: one of the values of {@link AFTER_EXIT}. */
export type AfterExit = (typeof AFTER_EXIT)[keyof typeof AFTER_EXIT];

/** A host MSR access a strategy requested: none, RDMSR or WRMSR. */
export const HOST_MSR_OP = {
  /** No access requested. */
  NONE: 0,
  /** RDMSR. */
  RDMSR: 1,
  /** WRMSR. */
  WRMSR: 2,
} as const;
/** A host MSR access kind: one of the values of {@link HOST_MSR_OP}. */
export type HostMsrOp = (typeof HOST_MSR_OP)[keyof typeof HOST_MSR_OP];

/** The host MSR access waiting for the vCPU loop (one object per vCPU, reused). */
export interface HostMsrRequest {
  /** Which access ({@link HOST_MSR_OP}). */
  kind: HostMsrOp;
  /** The MSR's index. */
  index: number;
  /** EAX: the value to write (WRMSR), bits 31:0. */
  lo: number;
  /** EDX: the value to write (WRMSR), bits 63:32. */
  hi: number;
  /** Runs with the RDMSR's value (0, 0 after a WRMSR); may request another access. */
  done: HostMsrContinuation | null;
}

/** A vCPU's counters, under `<vm>.vcpu<i>.` in the hypervisor's stats. */
export interface VcpuCounters {
  /** Virtual interrupts injected at VM entry (`injections`). */
  readonly injections: Counter;
  /** Interrupts set pending in the virtual LAPIC (`virtual-interrupts`). */
  readonly virtualInterrupts: Counter;
  /** EOIs the virtual LAPIC emulated (`virtual-eois`). */
  readonly virtualEois: Counter;
  /** Expiries of the emulated LAPIC timer (`timer-fires`). */
  readonly timerFires: Counter;
  /** Periodic timer periods raised to `min_timer_period_us` (`timer-period-limited`). */
  readonly timerPeriodLimited: Counter;
}

/** Options of a {@link Vcpu}. */
export interface VcpuOptions {
  /** The vCPU's index in its VM. */
  readonly id: number;
  /** The VM the vCPU belongs to. */
  readonly vm: Vm;
  /** The physical CPU the vCPU is pinned to, and its APIC ID. */
  readonly pcpu: number;
  /** The APIC ID of that physical CPU. */
  readonly pcpuApicId: number;
  /** Host-physical address of the vCPU's VMCS region. */
  readonly vmcsAddress: number;
  /** Host-physical address of the vCPU's 4 KiB MSR bitmap. */
  readonly msrBitmapAddress: number;
  /** Host pages kept for the vCPU's virtual-APIC page and posted-interrupt descriptor (APICv; default −1, none). */
  readonly virtualApicAddress?: number;
  /** Host-physical address of the vCPU's posted-interrupt descriptor (default −1, none). */
  readonly postedDescriptorAddress?: number;
  /** The simulator the vCPU's timers run on. */
  readonly sim: Simulator;
  /** The VM's private interrupt bus (the virtual LAPIC registers on it). */
  readonly bus: InterruptBus;
  /** The TSC frequency, Hz (the host's, which the VM's `tscHz` equals). */
  readonly tscHz: number;
  /** The emulated LAPIC timer's input clock, Hz. */
  readonly virtualTimerHz: number;
  /** The shortest period a periodic virtual LAPIC timer may have, ps (KVM's min_timer_period_us; default 200 µs). */
  readonly minTimerPeriodPs?: number;
  /** Where the vCPU's counters go. */
  readonly stats: ScopedStats;
}

/**
 * One virtual CPU: its VMCS and MSR bitmap, its virtual LAPIC (`apic`), and what the vCPU
 * loop carries from an exit to the next entry — an event to deliver, a read to complete, a
 * host MSR access, what to do after the exit. Strategies see it as `VcpuControl`.
 */
export class Vcpu implements VcpuControl {
  readonly id: number;
  readonly vm: Vm;
  /** The physical CPU the vCPU is pinned to. */
  readonly pcpu: number;
  readonly pcpuApicId: number;
  /** Host-physical address of the vCPU's VMCS region. */
  readonly vmcsAddress: number;
  readonly msrBitmapAddress: number;
  readonly virtualApicAddress: number;
  readonly postedDescriptorAddress: number;
  readonly apic: VirtualApic;
  /** The vCPU's counters. */
  readonly counters: VcpuCounters;

  /** What the loop does after the exit's handler (reset to RESUME by the loop). */
  afterExit: AfterExit = AFTER_EXIT.RESUME;
  /** The host vector of `AFTER_EXIT.DISPATCH_HOST_INTERRUPT`. */
  afterExitVector = 0;
  /** The host MSR access a strategy asked for. */
  readonly hostMsr: HostMsrRequest = {
    kind: HOST_MSR_OP.NONE,
    index: 0,
    lo: 0,
    hi: 0,
    done: null,
  };
  /** An event to deliver at the next entry (VM-entry interruption information), or 0; and its error code. */
  pendingEvent = 0;
  /** The error code of `pendingEvent` (if it has one). */
  pendingEventError = 0;
  /** An emulated read completes at the next entry with EDX:EAX = completeHi:completeLo. */
  readPending = false;
  /** EAX of the emulated read's result. */
  completeLo = 0;
  /** EDX of the emulated read's result. */
  completeHi = 0;
  /** True once VMLAUNCH succeeded. */
  launched = false;
  /** Set when the VM was stopped (an unexpected exit, a failed entry): why. */
  stopReason: string | null = null;
  /** The host's TSC deadline must be reprogrammed before the next entry (the virtual timer changed). */
  timerReprogram = false;
  /**
   * How long the host polls before it blocks this vCPU after a HLT, ns: KVM's per-vCPU
   * vcpu->halt_poll_ns, 0 at creation, moved after each block (see halt-poll.ts).
   */
  haltPollNs = 0;
  /**
   * The interrupt-virtualization strategy of this vCPU's VM (set by the hypervisor when it
   * creates the VM; null in a vCPU built on its own, whose exit handlers then use theirs).
   */
  strategy: InterruptVirtualization | null = null;
  /** A control field's value adjusted to what the CPU requires and allows (set by the hypervisor). */
  adjustControl: (field: number, desired: number) => number = (_field, desired) => desired;
  /** The host's timers on the vCPU's CPU (set by the hypervisor when it pins the vCPU). */
  hostTimers: {
    /** The earliest armed host-timer expiry on the CPU, ps, with or without the guest's emulated LAPIC timer; −1 if none. */
    expiry(includeGuestTimer: boolean): number;
    /** Runs the host timers due at `now` (with or without the guest's); returns the cycles they cost. */
    run(now: number, includeGuestTimer: boolean): number;
  } = { expiry: () => -1, run: () => 0 };

  constructor(options: VcpuOptions) {
    this.id = options.id;
    this.vm = options.vm;
    this.pcpu = options.pcpu;
    this.pcpuApicId = options.pcpuApicId;
    this.vmcsAddress = options.vmcsAddress;
    this.msrBitmapAddress = options.msrBitmapAddress;
    this.virtualApicAddress = options.virtualApicAddress ?? -1;
    this.postedDescriptorAddress = options.postedDescriptorAddress ?? -1;
    const s = options.stats;
    this.counters = {
      injections: s.counter('injections'),
      virtualInterrupts: s.counter('virtual-interrupts'),
      virtualEois: s.counter('virtual-eois'),
      timerFires: s.counter('timer-fires'),
      timerPeriodLimited: s.counter('timer-period-limited'),
    };
    this.apic = new VirtualApic({
      apicId: options.id,
      name: `${options.vm.name}.vcpu${options.id}`,
      sim: options.sim,
      bus: options.bus,
      tscHz: options.tscHz,
      guestTscHz: options.vm.tscHz,
      virtualTimerHz: options.virtualTimerHz,
      minTimerPeriodPs: options.minTimerPeriodPs ?? KVM_MIN_TIMER_PERIOD_US * 1e6,
      onTimerChange: () => {
        this.timerReprogram = true;
      },
      counters: this.counters,
    });
  }

  // ---- VcpuControl ------------------------------------------------------------------------

  requestHostRdmsr(index: number, done: HostMsrContinuation): void {
    const op = this.hostMsr;
    op.kind = HOST_MSR_OP.RDMSR;
    op.index = index;
    op.done = done;
  }

  requestHostWrmsr(index: number, lo: number, hi: number, done?: HostMsrContinuation): void {
    const op = this.hostMsr;
    op.kind = HOST_MSR_OP.WRMSR;
    op.index = index;
    op.lo = lo;
    op.hi = hi;
    op.done = done ?? null;
  }

  get hostMsrPending(): boolean {
    return this.hostMsr.kind !== HOST_MSR_OP.NONE;
  }

  dispatchHostInterrupt(vector: number): void {
    this.afterExit = AFTER_EXIT.DISPATCH_HOST_INTERRUPT;
    this.afterExitVector = vector;
  }

  queueException(vector: number, errorCode: number): void {
    this.pendingEvent = interruptionInfo(vector, INTR_TYPE.HARDWARE_EXCEPTION, exceptionHasErrorCode(vector));
    this.pendingEventError = errorCode;
  }

  completeRead(lo: number, hi: number): void {
    this.readPending = true;
    this.completeLo = lo >>> 0;
    this.completeHi = hi >>> 0;
  }

  setInterruptWindowExiting(cpu: CpuContext, on: boolean): void {
    const proc = cpu.vmread(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
    const set = (proc & PROC_BASED.INTERRUPT_WINDOW_EXITING) !== 0;
    if (on === set) return;
    cpu.vmwrite(
      VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
      on ? proc + PROC_BASED.INTERRUPT_WINDOW_EXITING : proc - PROC_BASED.INTERRUPT_WINDOW_EXITING,
    );
  }

  injectInterrupt(cpu: CpuContext, vector: number): void {
    cpu.vmwrite(VMCS_FIELD.VM_ENTRY_INTR_INFO, interruptionInfo(vector, INTR_TYPE.EXTERNAL_INTERRUPT, false));
    this.counters.injections.inc();
  }

  hostTimerExpiry(includeGuestTimer: boolean): number {
    return this.hostTimers.expiry(includeGuestTimer);
  }

  runHostTimers(cpu: CpuContext, includeGuestTimer: boolean): number {
    return this.hostTimers.run(cpu.now, includeGuestTimer);
  }

  // ---- the hypervisor's own -----------------------------------------------------------------

  /** Puts back an event whose delivery an exit cut (IDT-vectoring information), for the next entry. */
  redeliver(info: number, errorCode: number): void {
    this.pendingEvent = info >>> 0;
    this.pendingEventError = errorCode;
  }
}
