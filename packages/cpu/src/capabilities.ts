import { ENTRY_CONTROLS, EXIT_CONTROLS, PIN_BASED, PROC_BASED, PROC_BASED2 } from '@exitless/x86';

/**
 * The VMX capabilities this CPU model reports in its IA32_VMX_* MSRs (SDM vol. 3
 * appendix A). Each control MSR holds the allowed-0 settings in bits 31:0 (a 1 there means
 * the control must be 1) and the allowed-1 settings in bits 63:32 (a 0 there means the
 * control must be 0). Allowed-1 lists exactly the controls this model implements, plus the
 * default1 bits, which are accepted and have no effect here (there are no CR3 loads, I/O
 * instructions or debug registers in the operation set).
 */

/** Default1 classes of the control MSRs without "true" controls (SDM vol. 3 appendix A.3–A.5). */
export const VMX_DEFAULT1 = {
  /** Pin-based: bits 1, 2, 4. */
  PIN_BASED: 0x16,
  /** Primary processor-based: bits 1, 4–6, 8, 13–16, 26. */
  PROC_BASED: 0x0401e172,
  /** VM-exit: bits 0–8, 10, 11, 13, 14, 16, 17. */
  EXIT: 0x00036dff,
  /** VM-entry: bits 0–8, 12. */
  ENTRY: 0x11ff,
} as const;

/**
 * Allowed-1 pin-based controls: external-interrupt exiting, NMI exiting, virtual NMIs,
 * preemption timer, process posted interrupts (SDM vol. 3 §29.6). Posted interrupts (and
 * the APIC-virtualization controls below) came after the ELI-era Nehalem (with Ivy Bridge-EP);
 * the model offers them so that the designs that followed ELI run on the same machine.
 */
export const PIN_BASED_ALLOWED1: number =
  (VMX_DEFAULT1.PIN_BASED |
    PIN_BASED.EXTERNAL_INTERRUPT_EXITING |
    PIN_BASED.NMI_EXITING |
    PIN_BASED.VIRTUAL_NMIS |
    PIN_BASED.ACTIVATE_PREEMPTION_TIMER |
    PIN_BASED.PROCESS_POSTED_INTERRUPTS) >>>
  0;

/**
 * Allowed-1 primary processor-based controls: interrupt-window and HLT exiting, use TPR
 * shadow (the virtual-APIC page, SDM vol. 3 §29.1), MSR bitmaps, secondary controls.
 */
export const PROC_BASED_ALLOWED1: number =
  (VMX_DEFAULT1.PROC_BASED |
    PROC_BASED.INTERRUPT_WINDOW_EXITING |
    PROC_BASED.HLT_EXITING |
    PROC_BASED.USE_TPR_SHADOW |
    PROC_BASED.USE_MSR_BITMAPS |
    PROC_BASED.ACTIVATE_SECONDARY_CONTROLS) >>>
  0;

/**
 * Allowed-1 secondary controls: virtualize APIC accesses, enable EPT (the bound
 * GuestPhysicalMap), descriptor-table exiting, virtualize x2APIC mode, APIC-register
 * virtualization, virtual-interrupt delivery (SDM vol. 3 ch. 29). No default1 bits (SDM A.3.3).
 */
export const PROC_BASED2_ALLOWED1: number =
  PROC_BASED2.VIRTUALIZE_APIC_ACCESSES |
  PROC_BASED2.ENABLE_EPT |
  PROC_BASED2.DESCRIPTOR_TABLE_EXITING |
  PROC_BASED2.VIRTUALIZE_X2APIC_MODE |
  PROC_BASED2.APIC_REGISTER_VIRTUALIZATION |
  PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY;

/**
 * The APIC-virtualization controls among the allowed-1 settings above (SDM vol. 3 ch. 29):
 * Intel's CPUs offer them from Ivy Bridge-EP (Xeon E5 v2) on, so a CPU model of an earlier
 * generation (the ELI paper's Nehalem) reports them as not allowed
 * (`CpuOptions.apicVirtualization: false`).
 */
export const APICV_CONTROLS: {
  /** Pin-based: process posted interrupts. */
  readonly pin: number;
  /** Primary processor-based: use TPR shadow. */
  readonly proc: number;
  /** Secondary processor-based: virtualize x2APIC mode, APIC-register virtualization, virtual-interrupt delivery. */
  readonly proc2: number;
} = {
  pin: PIN_BASED.PROCESS_POSTED_INTERRUPTS,
  proc: PROC_BASED.USE_TPR_SHADOW,
  proc2:
    PROC_BASED2.VIRTUALIZE_X2APIC_MODE |
    PROC_BASED2.APIC_REGISTER_VIRTUALIZATION |
    PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY,
};

/** The allowed-1 settings of the pin-based, primary and secondary controls, with or without APIC virtualization. */
export function controlsAllowed1(apicVirtualization: boolean): {
  /** Allowed-1 pin-based controls. */
  readonly pin: number;
  /** Allowed-1 primary processor-based controls. */
  readonly proc: number;
  /** Allowed-1 secondary processor-based controls. */
  readonly proc2: number;
} {
  if (apicVirtualization)
    return { pin: PIN_BASED_ALLOWED1, proc: PROC_BASED_ALLOWED1, proc2: PROC_BASED2_ALLOWED1 };
  return {
    pin: (PIN_BASED_ALLOWED1 & ~APICV_CONTROLS.pin) >>> 0,
    proc: (PROC_BASED_ALLOWED1 & ~APICV_CONTROLS.proc) >>> 0,
    proc2: (PROC_BASED2_ALLOWED1 & ~APICV_CONTROLS.proc2) >>> 0,
  };
}

/** Allowed-1 VM-exit controls: host address-space size, acknowledge interrupt on exit, save preemption timer. */
export const EXIT_ALLOWED1: number =
  (VMX_DEFAULT1.EXIT |
    EXIT_CONTROLS.HOST_ADDRESS_SPACE_SIZE |
    EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT |
    EXIT_CONTROLS.SAVE_PREEMPTION_TIMER) >>>
  0;

/** Allowed-1 VM-entry controls: IA-32e mode guest. */
export const ENTRY_ALLOWED1: number = (VMX_DEFAULT1.ENTRY | ENTRY_CONTROLS.IA32E_MODE_GUEST) >>> 0;

/**
 * IA32_VMX_BASIC (SDM vol. 3 appendix A.1): revision identifier 0xE in bits 30:0 (the
 * Nehalem value), VMCS region size 1024 in bits 44:32, write-back (6) VMCS memory type in
 * bits 53:50; no dual-monitor treatment, no INS/OUTS information, no true-control MSRs.
 */
export const VMX_BASIC = {
  /** Bits 31:0: the VMCS revision identifier (0xE). */
  LO: 0x0000000e,
  /** Bits 63:32: region size 1024 (bits 44:32) and write-back memory type (bits 53:50). */
  HI: 0x00180400,
} as const;

/** IA32_VMX_MISC bit 6: the HLT activity state is supported (SDM vol. 3 appendix A.6). */
export const VMX_MISC_ACTIVITY_HLT = 0x40;

/**
 * IA32_FEATURE_CONTROL as firmware leaves it for a hypervisor: lock (bit 0) and VMXON
 * outside SMX (bit 2) set (SDM vol. 3 §23.7). Read-only once locked: writes #GP.
 */
export const FEATURE_CONTROL_LOCKED_VMX = 0x5;
