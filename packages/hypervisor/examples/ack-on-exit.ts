import {
  EXIT_NOT_HANDLED,
  type InterruptVirtualization,
  injectPendingInterrupt,
  type ProfileReader,
  type VcpuControl,
} from '@exitless/hypervisor';
import {
  type CpuContext,
  EXIT_CONTROLS,
  EXIT_REASON,
  PIN_BASED,
  PROC_BASED,
  PROC_BASED2,
  VMCS_FIELD,
} from '@exitless/x86';

/** Per vCPU: the external-interrupt exits it took (the strategy's own state). */
export interface AckOnExitState {
  externalInterruptExits: number;
}

/**
 * Device assignment as KVM ran it from Linux 3.11: as `baseline`, but the exit acknowledges
 * the interrupt (VM-exit control "acknowledge interrupt on exit"), so the hypervisor runs
 * the host's handler for it right after the exit instead of waiting for IF = 1.
 */
export class AckOnExitStrategy implements InterruptVirtualization<AckOnExitState> {
  readonly name: string = 'ack-on-exit';
  private readonly injection: number;

  constructor(injection: number) {
    this.injection = injection;
  }

  describe(): string {
    return 'external-interrupt exiting, acknowledged on exit; injection at entry; EOI exits';
  }

  createVcpuState(_vcpu: VcpuControl): AckOnExitState {
    return { externalInterruptExits: 0 };
  }

  configureVcpu(cpu: CpuContext, vcpu: VcpuControl, _state: AckOnExitState): void {
    const set = (field: number, value: number) => cpu.vmwrite(field, vcpu.adjustControl(field, value));
    set(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL, PIN_BASED.EXTERNAL_INTERRUPT_EXITING | PIN_BASED.NMI_EXITING);
    const xapic = vcpu.vm.apicAccessPage >= 0;
    set(
      VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
      PROC_BASED.HLT_EXITING |
        PROC_BASED.USE_MSR_BITMAPS |
        (xapic ? PROC_BASED.ACTIVATE_SECONDARY_CONTROLS : 0),
    );
    if (xapic) set(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL, PROC_BASED2.VIRTUALIZE_APIC_ACCESSES);
    set(
      VMCS_FIELD.VM_EXIT_CONTROLS,
      EXIT_CONTROLS.HOST_ADDRESS_SPACE_SIZE | EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT,
    );
    cpu.vmwrite(VMCS_FIELD.EXCEPTION_BITMAP, 0);
  }

  beforeEntry(cpu: CpuContext, vcpu: VcpuControl, _state: AckOnExitState): number {
    return injectPendingInterrupt(cpu, vcpu, { injection: this.injection });
  }

  handleExit(_cpu: CpuContext, _vcpu: VcpuControl, reason: number, state: AckOnExitState): number {
    // Count, and leave every exit to the hypervisor: its handler dispatches the vector the
    // exit acknowledged (VM-exit interruption information) to the host's IDT.
    if (reason === EXIT_REASON.EXTERNAL_INTERRUPT) state.externalInterruptExits++;
    return EXIT_NOT_HANDLED;
  }

  onVirtualEoi(_cpu: CpuContext, _vcpu: VcpuControl, _vector: number, _state: AckOnExitState): number {
    return 0;
  }

  assignedInterrupt(vcpu: VcpuControl, guestVector: number, _state: AckOnExitState): number {
    vcpu.apic.raise(guestVector);
    return 0;
  }
}

/** The factory a strategy package exports: its costs from the calibration profile. */
export function ackOnExitStrategy(options: { readonly value: ProfileReader }): AckOnExitStrategy {
  return new AckOnExitStrategy(options.value('host.injection'));
}
