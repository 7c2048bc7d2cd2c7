import {
  type CpuContext,
  EXIT_CONTROLS,
  INTERRUPTIBILITY,
  INTR_TYPE,
  interruptionInfo,
  PIN_BASED,
  PROC_BASED,
  PROC_BASED2,
  VMCS_FIELD,
} from '@exitless/x86';
import type { InterruptVirtualization } from './strategy.js';
import type { Vcpu } from './vcpu.js';

const RFLAGS_IF = 0x200;

/** The cycles an injection costs, settable by the hypervisor (the profile's `injection`). */
export interface BaselineCosts {
  readonly injection: number;
}

/**
 * KVM's interrupt injection (inject_pending_event / enable_irq_window): if the virtual
 * LAPIC has a deliverable interrupt and the guest can take it now (RFLAGS.IF = 1, no STI or
 * MOV SS blocking), acknowledge it in the virtual LAPIC and put it in the VM-entry
 * interruption information; otherwise turn on interrupt-window exiting so that the guest
 * exits (reason 7) as soon as it can. Returns the cycles spent.
 */
export function injectPendingInterrupt(cpu: CpuContext, vcpu: Vcpu, costs: BaselineCosts): number {
  const proc = cpu.vmread(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
  if (!vcpu.vlapic.hasInterrupt()) {
    if ((proc & PROC_BASED.INTERRUPT_WINDOW_EXITING) !== 0) {
      cpu.vmwrite(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, proc - PROC_BASED.INTERRUPT_WINDOW_EXITING);
    }
    return 0;
  }
  const rflags = cpu.vmread(VMCS_FIELD.GUEST_RFLAGS);
  const blocking = cpu.vmread(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO);
  const open =
    (rflags & RFLAGS_IF) !== 0 &&
    (blocking & (INTERRUPTIBILITY.BLOCKING_BY_STI | INTERRUPTIBILITY.BLOCKING_BY_MOV_SS)) === 0;
  if (!open) {
    if ((proc & PROC_BASED.INTERRUPT_WINDOW_EXITING) === 0) {
      cpu.vmwrite(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, proc + PROC_BASED.INTERRUPT_WINDOW_EXITING);
    }
    return 0;
  }
  const vector = vcpu.vlapic.acknowledge();
  cpu.vmwrite(VMCS_FIELD.VM_ENTRY_INTR_INFO, interruptionInfo(vector, INTR_TYPE.EXTERNAL_INTERRUPT, false));
  if ((proc & PROC_BASED.INTERRUPT_WINDOW_EXITING) !== 0) {
    cpu.vmwrite(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, proc - PROC_BASED.INTERRUPT_WINDOW_EXITING);
  }
  vcpu.injections.inc();
  return costs.injection;
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
 */
export class BaselineStrategy implements InterruptVirtualization {
  readonly name: string = 'baseline';
  private readonly costs: BaselineCosts;

  constructor(costs: BaselineCosts) {
    this.costs = costs;
  }

  configureVcpu(cpu: CpuContext, vcpu: Vcpu): void {
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

  beforeEntry(cpu: CpuContext, vcpu: Vcpu): number {
    return injectPendingInterrupt(cpu, vcpu, this.costs);
  }

  handleExit(_cpu: CpuContext, _vcpu: Vcpu, _reason: number): number {
    return -1;
  }

  onVirtualEoi(_cpu: CpuContext, _vcpu: Vcpu, _vector: number): number {
    return 0;
  }

  assignedInterrupt(vcpu: Vcpu, guestVector: number): number {
    vcpu.raise(guestVector);
    return 0;
  }

  describe(): string {
    return 'external-interrupt exiting (not acknowledged on exit, as in KVM of 2.6.3x); injection at entry; EOI exits';
  }
}
