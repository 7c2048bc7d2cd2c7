import type { Counter, ScopedStats } from '@exitless/sim';
import {
  APIC_ACCESS_TYPE,
  APIC_REG,
  type CpuContext,
  EPT_VIOLATION_QUAL,
  EXCEPTION,
  EXIT_REASON,
  EXIT_REASON_ENTRY_FAILURE,
  exitReasonName,
  INTERRUPTIBILITY,
  INTR_INFO,
  INTR_TYPE,
  isX2apicMsr,
  MSR,
  type MsrValue,
  VMCS_FIELD,
  VMX_STATUS,
} from '@exitless/x86';
import type { HostCosts } from './costs.js';
import { EXIT_NOT_HANDLED, type InterruptVirtualization } from './strategy.js';
import { AFTER_EXIT, type Vcpu } from './vcpu.js';
import { APIC_WRITE } from './virtual-apic.js';
import type { Vm } from './vm.js';

/** Interruptibility bits 1:0: blocking by STI and blocking by MOV SS (SDM vol. 3 table 24-3). */
const STI_MOV_SS_BLOCKING = INTERRUPTIBILITY.BLOCKING_BY_STI | INTERRUPTIBILITY.BLOCKING_BY_MOV_SS;

/**
 * Whether an exit of this basic reason is a guest instruction's fault-like exit that the host
 * completes by emulation: in KVM, each of these handlers ends in skip_emulated_instruction (HLT,
 * VMCALL, RDMSR, WRMSR: handle_halt, handle_vmcall, handle_rdmsr, handle_wrmsr in
 * arch/x86/kvm/vmx.c of Linux 2.6.3x) or runs the instruction emulator, which sets the
 * interrupt shadow of the instruction it emulated, none for these (APIC access, EPT violation on
 * MMIO; LIDT/SIDT under descriptor-table exiting). Not: exits between instructions (external
 * interrupt, interrupt window, NMI or exception, preemption timer) and trap-like exits (APIC
 * write, virtualized EOI, TPR below threshold), after which nothing is skipped.
 */
export function completesGuestInstruction(reason: number): boolean {
  switch (reason) {
    case EXIT_REASON.HLT:
    case EXIT_REASON.VMCALL:
    case EXIT_REASON.RDMSR:
    case EXIT_REASON.WRMSR:
    case EXIT_REASON.APIC_ACCESS:
    case EXIT_REASON.EPT_VIOLATION:
    case EXIT_REASON.GDTR_IDTR_ACCESS:
      return true;
    default:
      return false;
  }
}

/**
 * KVM's skip_emulated_instruction, its interruptibility half (vmx_set_interrupt_shadow(vcpu, 0),
 * "skipping an emulated instruction also counts"; the same in arch/x86/kvm/vmx.c of Linux 2.6.3x
 * and in today's arch/x86/kvm/vmx/vmx.c): the instruction the guest exited on is complete once
 * emulated, so the blocking by STI or MOV SS the exit saved for it (SDM vol. 3 §27.3.4; the
 * instruction did not execute, §25.1) has ended. Bits 1:0 of GUEST_INTERRUPTIBILITY_INFO are
 * cleared, written only if set (as vmx_set_interrupt_shadow writes only a changed value). In
 * this model the CPU, not the host, moves the guest past the instruction at the next entry, so
 * this is all that is left of the skip. It runs before any injection decision
 * (injectPendingInterrupt reads those bits): after `sti; hlt` the HLT exit saved bit 0, and the
 * interrupt that wakes the vCPU is injected at once, not after an interrupt-window exit — and an
 * entry injecting an external interrupt with either bit set would fail (§26.3.1.5). Where a
 * handler refuses the instruction with #GP instead, KVM skips nothing; the #GP is then injected,
 * and a vectoring entry leaves no STI or MOV-SS blocking whatever the bits (§26.6.1), so clearing
 * them first changes nothing.
 */
export function skipEmulatedInstruction(cpu: CpuContext): void {
  const intr = cpu.vmread(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO);
  const blocking = intr & STI_MOV_SS_BLOCKING;
  if (blocking !== 0) cpu.vmwrite(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO, intr - blocking);
}

/**
 * Options of the hypervisor's own exit handlers (those that run when the strategy leaves an exit to them).
 */
export interface ExitHandlersOptions {
  /** The host's software costs, cycles. */
  readonly costs: HostCosts;
  /** The strategy offered every exit first — unless the vCPU carries its VM's own (`Vcpu.strategy`). */
  readonly strategy: InterruptVirtualization;
  /** Where `exits-handled.<reason>` counters go. */
  readonly stats: ScopedStats;
  /** Counts exits nobody expected (each stops its VM). */
  readonly unexpectedExits: Counter;
  /** Stops `vcpu`'s VM with a report (sets `vcpu.stopReason`). */
  readonly stop: (vcpu: Vcpu, reason: string) => void;
  /** Called when the host refuses something a guest tried (a store to a host-owned page); the VM runs on. */
  readonly onGuestViolation?: ((vm: Vm, what: string) => void) | undefined;
}

/**
 * KVM's exit handlers (vmx_handle_exit and its kvm_vmx_exit_handlers table): one per exit
 * reason the host expects, each emulating what the guest did and returning the cycles of
 * host software it costs. The strategy is offered every exit first. They work on a
 * `CpuContext` whose current VMCS holds the exit, and leave their results on the vCPU (an
 * event to deliver, a read to complete, what to do after the exit); an exit nobody expected,
 * or a failed entry, stops the VM (`vcpu.stopReason`).
 */
export class ExitHandlers {
  private readonly options: ExitHandlersOptions;
  private readonly costs: HostCosts;
  private readonly strategy: InterruptVirtualization;
  /** `exits-handled.<reason>` by basic exit reason (an array: a Map look-up per exit costs more). */
  private readonly exitCounters: (Counter | undefined)[] = [];
  private readonly msrScratch: MsrValue = { lo: 0, hi: 0 };

  constructor(options: ExitHandlersOptions) {
    this.options = options;
    this.costs = options.costs;
    this.strategy = options.strategy;
  }

  /**
   * Handles the exit (or failed entry) that just happened on `vcpu`, whose strategy state is
   * `state`. Returns the cycles of host software it costs; the VM was stopped if
   * `vcpu.stopReason` is set afterwards.
   */
  handle(cpu: CpuContext, vcpu: Vcpu, state: unknown): number {
    if (cpu.vmxStatus !== VMX_STATUS.SUCCEED) {
      this.options.stop(
        vcpu,
        `VM entry failed: VMfail with VM-instruction error ${cpu.vmread(VMCS_FIELD.VM_INSTRUCTION_ERROR)}`,
      );
      return 0;
    }
    vcpu.launched = true;
    const raw = cpu.vmread(VMCS_FIELD.VM_EXIT_REASON);
    const reason = raw & 0xffff;
    if ((raw & EXIT_REASON_ENTRY_FAILURE) !== 0) {
      this.options.stop(
        vcpu,
        `VM entry failed: exit reason ${exitReasonName(reason)} (${reason}) with the entry-failure bit`,
      );
      return 0;
    }
    this.countExit(reason);
    // The instruction is emulated here or by the strategy: it counts as executed, whichever
    // handler does it, and before the next entry's injection decision (skipEmulatedInstruction).
    if (completesGuestInstruction(reason)) skipEmulatedInstruction(cpu);
    const cycles = this.costs.exitDispatch;
    const own = (vcpu.strategy ?? this.strategy).handleExit(cpu, vcpu, reason, state);
    if (own !== EXIT_NOT_HANDLED) return cycles + own;
    this.noteCutEvent(cpu, vcpu);
    switch (reason) {
      case EXIT_REASON.EXTERNAL_INTERRUPT:
        return cycles + this.externalInterrupt(cpu, vcpu);
      case EXIT_REASON.INTERRUPT_WINDOW:
        return cycles + this.costs.interruptWindowExit;
      case EXIT_REASON.WRMSR:
        return cycles + this.wrmsr(cpu, vcpu, state);
      case EXIT_REASON.RDMSR:
        return cycles + this.rdmsr(cpu, vcpu);
      case EXIT_REASON.EPT_VIOLATION:
        return cycles + this.eptViolation(cpu, vcpu);
      case EXIT_REASON.APIC_ACCESS:
        return cycles + this.apicAccess(cpu, vcpu, state);
      case EXIT_REASON.HLT:
        return cycles + this.hlt(vcpu);
      case EXIT_REASON.EXCEPTION_OR_NMI:
        if (!this.isNmiExit(cpu)) break;
        // An NMI for the host exited the guest (NMI exiting): the host's NMI handler runs now,
        // interrupts off, through gate 2 of its IDT (KVM's vmx_handle_exit_irqoff → handle_nmi).
        vcpu.dispatchHostInterrupt(EXCEPTION.NMI);
        return cycles + this.costs.otherExit;
      case EXIT_REASON.VMCALL:
        return cycles + this.costs.vmcall;
      case EXIT_REASON.PREEMPTION_TIMER:
        return cycles + this.costs.otherExit;
      default:
        break;
    }
    this.unexpected(cpu, vcpu, reason);
    return cycles;
  }

  /** Whether the exit (reason 0) is an NMI's (interruption type 2 in the exit's interruption information). */
  private isNmiExit(cpu: CpuContext): boolean {
    const info = cpu.vmread(VMCS_FIELD.VM_EXIT_INTR_INFO);
    return (
      (info & INTR_INFO.VALID) !== 0 &&
      (info & INTR_INFO.TYPE_MASK) >>> INTR_INFO.TYPE_SHIFT === INTR_TYPE.NMI
    );
  }

  private countExit(reason: number): void {
    let c = this.exitCounters[reason];
    if (c === undefined) {
      c = this.options.stats.counter(`exits-handled.${exitReasonName(reason)}`);
      this.exitCounters[reason] = c;
    }
    c.inc();
  }

  /** An exit during delivery of an event: put it back for the next entry (KVM's vmx_complete_interrupts). */
  private noteCutEvent(cpu: CpuContext, vcpu: Vcpu): void {
    const info = cpu.vmread(VMCS_FIELD.IDT_VECTORING_INFO);
    if ((info & INTR_INFO.VALID) === 0) return;
    const type = (info & INTR_INFO.TYPE_MASK) >>> INTR_INFO.TYPE_SHIFT;
    if (
      type === INTR_TYPE.EXTERNAL_INTERRUPT ||
      type === INTR_TYPE.HARDWARE_EXCEPTION ||
      type === INTR_TYPE.NMI
    ) {
      vcpu.redeliver(info, cpu.vmread(VMCS_FIELD.IDT_VECTORING_ERROR_CODE));
    }
  }

  /**
   * Reason 1. Acknowledged on exit (VM-exit interruption information valid): the host's
   * handler for it runs right after, interrupts off. Not acknowledged: the interrupt stays
   * pending in the LAPIC and the loop's IF = 1 window takes it.
   */
  private externalInterrupt(cpu: CpuContext, vcpu: Vcpu): number {
    const info = cpu.vmread(VMCS_FIELD.VM_EXIT_INTR_INFO);
    if ((info & INTR_INFO.VALID) !== 0) vcpu.dispatchHostInterrupt(info & INTR_INFO.VECTOR_MASK);
    return this.costs.externalInterruptExit;
  }

  /** Reason 32: WRMSR to the virtual x2APIC (EOI included), IA32_APIC_BASE or IA32_TSC_DEADLINE; other MSRs are ignored. */
  private wrmsr(cpu: CpuContext, vcpu: Vcpu, state: unknown): number {
    const index = cpu.rcx >>> 0;
    let cycles = this.costs.msrEmulation;
    if (isX2apicMsr(index) || index === MSR.IA32_APIC_BASE || index === MSR.IA32_TSC_DEADLINE) {
      const apic = vcpu.apic;
      const result = apic.writeMsr(index, cpu.rax >>> 0, cpu.rdx >>> 0);
      if (result === APIC_WRITE.GP) {
        // The virtual x2APIC refused the write: the guest gets #GP(0) (SDM §10.12.1.2).
        vcpu.queueException(EXCEPTION.GP, 0);
        return cycles;
      }
      if (result === APIC_WRITE.EOI && apic.eoiVector >= 0) {
        cycles +=
          this.costs.eoiEmulation +
          (vcpu.strategy ?? this.strategy).onVirtualEoi(cpu, vcpu, apic.eoiVector, state);
      }
    }
    return cycles;
  }

  /** Reason 31: RDMSR of the virtual x2APIC or IA32_APIC_BASE (#GP where x2APIC refuses it); other MSRs read 0. */
  private rdmsr(cpu: CpuContext, vcpu: Vcpu): number {
    const index = cpu.rcx >>> 0;
    const out = this.msrScratch;
    if (isX2apicMsr(index) || index === MSR.IA32_APIC_BASE) {
      if (!vcpu.apic.readMsr(index, out)) {
        vcpu.queueException(EXCEPTION.GP, 0);
        return this.costs.msrEmulation;
      }
    } else {
      out.lo = 0;
      out.hi = 0;
    }
    vcpu.completeRead(out.lo, out.hi);
    return this.costs.msrEmulation;
  }

  /**
   * Reason 48: a store to a host-owned read-only page is refused (dropped, counted,
   * reported); an access to an assigned function's MSI-X table is emulated; anything else
   * (nothing mapped, a fetch from a page that is not executable) stops the VM.
   */
  private eptViolation(cpu: CpuContext, vcpu: Vcpu): number {
    const gpa = cpu.vmread(VMCS_FIELD.GUEST_PHYSICAL_ADDRESS);
    const qual = cpu.vmread(VMCS_FIELD.EXIT_QUALIFICATION);
    const vm = vcpu.vm;
    const fetch = (qual & EPT_VIOLATION_QUAL.FETCH) !== 0;
    if ((qual & EPT_VIOLATION_QUAL.WRITE) !== 0 && vm.isHostPage(gpa)) {
      // A store to a page the host keeps for itself and maps read-only (ELI's shadow IDT):
      // refused. The store is dropped, the instruction completes (as a write to ROM does),
      // and the attempt is counted and reported; the guest runs on, the page unchanged.
      vm.refusedWrites.inc();
      this.options.onGuestViolation?.(
        vm,
        `store to host-owned read-only guest-physical 0x${gpa.toString(16)} refused (EPT violation, qualification 0x${qual.toString(16)})`,
      );
      return this.costs.mmioEmulation;
    }
    const owner = fetch ? undefined : vm.msixOwner(gpa);
    if (owner !== undefined) {
      if ((qual & EPT_VIOLATION_QUAL.WRITE) !== 0) owner.writeMsix(gpa, cpu.rax >>> 0);
      else vcpu.completeRead(owner.readMsix(gpa), 0);
      return this.costs.mmioEmulation;
    }
    this.options.unexpectedExits.inc();
    this.options.stop(
      vcpu,
      fetch
        ? `EPT violation at guest-physical 0x${gpa.toString(16)} (qualification 0x${qual.toString(16)}): an instruction fetch from ${vm.permissions(gpa) === 0 ? 'an address where nothing is mapped' : 'a page that is not executable'} (KVM cannot emulate it)`
        : `EPT violation at guest-physical 0x${gpa.toString(16)} (qualification 0x${qual.toString(16)}): nothing is mapped there`,
    );
    return 0;
  }

  /** Reason 44: an xAPIC guest's access to the APIC-access page, emulated in the virtual LAPIC. */
  private apicAccess(cpu: CpuContext, vcpu: Vcpu, state: unknown): number {
    const qual = cpu.vmread(VMCS_FIELD.EXIT_QUALIFICATION);
    const offset = qual & 0xfff;
    const type = (qual >>> 12) & 0xf;
    let cycles = this.costs.mmioEmulation;
    const apic = vcpu.apic;
    if (type === APIC_ACCESS_TYPE.LINEAR_WRITE) {
      const result = apic.writeMmio(offset, cpu.rax >>> 0);
      if (offset === APIC_REG.EOI && result === APIC_WRITE.EOI && apic.eoiVector >= 0) {
        cycles +=
          this.costs.eoiEmulation +
          (vcpu.strategy ?? this.strategy).onVirtualEoi(cpu, vcpu, apic.eoiVector, state);
      }
    } else {
      vcpu.completeRead(apic.readMmio(offset), 0);
    }
    return cycles;
  }

  /** Reason 12: block the vCPU (kvm_emulate_halt → kvm_vcpu_block) once the exit is handled. */
  private hlt(vcpu: Vcpu): number {
    vcpu.afterExit = AFTER_EXIT.HALT;
    return this.costs.haltBlock;
  }

  private unexpected(cpu: CpuContext, vcpu: Vcpu, reason: number): void {
    this.options.unexpectedExits.inc();
    this.options.stop(
      vcpu,
      `unexpected VM exit: reason ${exitReasonName(reason)} (${reason}), qualification 0x${cpu
        .vmread(VMCS_FIELD.EXIT_QUALIFICATION)
        .toString(16)}, interruption info 0x${cpu.vmread(VMCS_FIELD.VM_EXIT_INTR_INFO).toString(16)}`,
    );
  }
}
