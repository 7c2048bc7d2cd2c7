import {
  type CpuContext,
  EXIT_CONTROLS,
  INTERRUPTIBILITY,
  PIN_BASED,
  PROC_BASED,
  PROC_BASED2,
  RFLAGS,
  VMCS_FIELD,
} from '@exitless/x86';
import {
  EXIT_NOT_HANDLED,
  type ExitNotHandled,
  type InterruptVirtualization,
  type ProfileReader,
  type VcpuControl,
} from './strategy.js';

/** The cycles an injection costs (the profile's `host.injection`). */
export interface BaselineCosts {
  /** Cycles of one injection. */
  readonly injection: number;
}

/**
 * KVM's interrupt injection (inject_pending_event / enable_irq_window): if the virtual
 * LAPIC has a deliverable interrupt and the guest can take it now (RFLAGS.IF = 1, no STI or
 * MOV SS blocking), acknowledge it in the virtual LAPIC and put it in the VM-entry
 * interruption information; otherwise turn on interrupt-window exiting so that the guest
 * exits (reason 7) as soon as it can. Returns the cycles spent (`costs.injection` when it
 * injected, else 0).
 */
export function injectPendingInterrupt(cpu: CpuContext, vcpu: VcpuControl, costs: BaselineCosts): number {
  if (!vcpu.apic.hasInterrupt()) {
    vcpu.setInterruptWindowExiting(cpu, false);
    return 0;
  }
  const rflags = cpu.vmread(VMCS_FIELD.GUEST_RFLAGS);
  const blocking = cpu.vmread(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO);
  const open =
    (rflags & RFLAGS.IF) !== 0 &&
    (blocking & (INTERRUPTIBILITY.BLOCKING_BY_STI | INTERRUPTIBILITY.BLOCKING_BY_MOV_SS)) === 0;
  if (!open) {
    vcpu.setInterruptWindowExiting(cpu, true);
    return 0;
  }
  vcpu.injectInterrupt(cpu, vcpu.apic.acknowledge());
  vcpu.setInterruptWindowExiting(cpu, false);
  return costs.injection;
}

/**
 * The rest of KVM's vcpu_enter_guest when inject_pending_event re-injected an event the last
 * exit cut (Linux 2.6.38 arch/x86/kvm/x86.c): with an interrupt pending in the virtual LAPIC,
 * interrupt-window exiting is turned on, so that the guest exits (reason 7) once it can take
 * it; nothing is injected over the event being delivered. Returns 0 cycles (the costs of the
 * entry are counted by the caller).
 */
export function requestWindowIfPending(cpu: CpuContext, vcpu: VcpuControl): number {
  if (vcpu.apic.hasInterrupt()) vcpu.setInterruptWindowExiting(cpu, true);
  return 0;
}

/**
 * `baseline`: device assignment as KVM did it in the ELI era. External-interrupt exiting is
 * on, so every physical interrupt — the assigned VF's included — exits (reason 1). As in
 * KVM of Linux 2.6.3x (setup_vmcs_config asks for no VM_EXIT_ACK_INTR_ON_EXIT; KVM used it
 * only from 3.11, with APICv), the exit does not acknowledge it: the interrupt stays pending
 * in the LAPIC and the host takes it through its IDT as soon as it enables interrupts after
 * the exit. The host's handler wakes the IRQ thread, which marks the guest's vector in the
 * virtual LAPIC; the interrupt is injected at the next entry (through an
 * interrupt-window exit if the guest has IF = 0); the guest's EOI (x2APIC WRMSR 0x80B, or
 * an APIC-access write in xAPIC mode) exits and is emulated. HLT exits and blocks the vCPU.
 * It keeps no per-vCPU state.
 */
export class BaselineStrategy implements InterruptVirtualization<null> {
  readonly name: string = 'baseline';
  private readonly costs: BaselineCosts;

  constructor(costs: BaselineCosts) {
    this.costs = costs;
  }

  createVcpuState(_vcpu: VcpuControl): null {
    return null;
  }

  configureVcpu(cpu: CpuContext, vcpu: VcpuControl, _state: null): void {
    const set = (field: number, value: number) => cpu.vmwrite(field, vcpu.adjustControl(field, value));
    set(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL, PIN_BASED.EXTERNAL_INTERRUPT_EXITING | PIN_BASED.NMI_EXITING);
    const secondary = vcpu.vm.apicAccessPage >= 0 ? PROC_BASED2.VIRTUALIZE_APIC_ACCESSES : 0;
    set(
      VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
      PROC_BASED.HLT_EXITING |
        PROC_BASED.USE_MSR_BITMAPS |
        (secondary !== 0 ? PROC_BASED.ACTIVATE_SECONDARY_CONTROLS : 0),
    );
    if (secondary !== 0) set(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL, secondary);
    set(VMCS_FIELD.VM_EXIT_CONTROLS, EXIT_CONTROLS.HOST_ADDRESS_SPACE_SIZE);
    cpu.vmwrite(VMCS_FIELD.EXCEPTION_BITMAP, 0);
  }

  beforeEntry(cpu: CpuContext, vcpu: VcpuControl, _state: null): number {
    return injectPendingInterrupt(cpu, vcpu, this.costs);
  }

  beforeRedeliveringEntry(cpu: CpuContext, vcpu: VcpuControl, _state: null): number {
    return requestWindowIfPending(cpu, vcpu);
  }

  /** Baseline handles no exit itself: every one goes to the hypervisor's handlers. */
  handleExit(_cpu: CpuContext, _vcpu: VcpuControl, _reason: number, _state: null): number | ExitNotHandled {
    return EXIT_NOT_HANDLED;
  }

  onVirtualEoi(_cpu: CpuContext, _vcpu: VcpuControl, _vector: number, _state: null): number {
    return 0;
  }

  assignedInterrupt(vcpu: VcpuControl, guestVector: number, _state: null): number {
    vcpu.apic.raise(guestVector);
    return 0;
  }

  describe(): string {
    return 'external-interrupt exiting (not acknowledged on exit, as in KVM of 2.6.3x); injection at entry; EOI exits';
  }
}

/** What `baselineStrategy` needs: the calibration profile. */
export interface BaselineStrategyOptions {
  /** Reads a profile entry by key; `host.injection` is read. */
  readonly value: ProfileReader;
}

/** The `baseline` mode's strategy, its costs from the calibration profile. */
export function baselineStrategy(options: BaselineStrategyOptions): BaselineStrategy {
  return new BaselineStrategy({ injection: options.value('host.injection') });
}
