/**
 * VMX architecture (Intel SDM vol. 3, chapters 24–27 and appendices B and C): VMCS field
 * encodings, control bits, exit reasons, and the interruption-information format.
 */

/** VMCS field encodings (SDM vol. 3 appendix B). */
export const VMCS_FIELD = {
  // 16-bit control fields
  /** Virtual-processor identifier (VPID): tags the guest's TLB entries (used with ENABLE_VPID). */
  VIRTUAL_PROCESSOR_ID: 0x0000,
  /**
   * Posted-interrupt notification vector: the physical vector that makes the CPU process the posted-interrupt
   * descriptor (SDM vol. 3 §29.6).
   */
  POSTED_INTR_NOTIFICATION_VECTOR: 0x0002,
  // 16-bit guest-state fields
  /**
   * Guest interrupt status: RVI in bits 7:0, SVI in bits 15:8 (virtual-interrupt delivery, SDM vol. 3
   * §24.4.2).
   */
  GUEST_INTERRUPT_STATUS: 0x0810,
  // 64-bit control fields
  /** Address of I/O bitmap A (ports 0x0000–0x7FFF). */
  IO_BITMAP_A: 0x2000,
  /** Address of I/O bitmap B (ports 0x8000–0xFFFF). */
  IO_BITMAP_B: 0x2002,
  /** Address of the 4 KiB MSR bitmap (SDM vol. 3 §24.6.9). */
  MSR_BITMAP: 0x2004,
  /** TSC offset added to the guest's RDTSC results when USE_TSC_OFFSETTING is set. */
  TSC_OFFSET: 0x2010,
  /** Physical address of the virtual-APIC page (SDM vol. 3 §24.6.8). */
  VIRTUAL_APIC_PAGE_ADDR: 0x2012,
  /**
   * Physical address of the APIC-access page: guest accesses to it cause APIC-access exits or are virtualized
   * (SDM vol. 3 §29.4).
   */
  APIC_ACCESS_ADDR: 0x2014,
  /** Physical address of the 64-byte posted-interrupt descriptor (SDM vol. 3 §29.6). */
  POSTED_INTR_DESC_ADDR: 0x2016,
  /** EPT pointer: the root of the EPT paging structures and their memory type (SDM vol. 3 §24.6.11). */
  EPT_POINTER: 0x201a,
  /**
   * EOI-exit bitmap for vectors 0–63: a set bit makes the guest's EOI of that vector exit (virtual-interrupt
   * delivery).
   */
  EOI_EXIT_BITMAP0: 0x201c,
  /** EOI-exit bitmap for vectors 64–127. */
  EOI_EXIT_BITMAP1: 0x201e,
  /** EOI-exit bitmap for vectors 128–191. */
  EOI_EXIT_BITMAP2: 0x2020,
  /** EOI-exit bitmap for vectors 192–255. */
  EOI_EXIT_BITMAP3: 0x2022,
  // 64-bit read-only data field
  /**
   * Guest-physical address of the access that caused an EPT violation or misconfiguration (exit information).
   */
  GUEST_PHYSICAL_ADDRESS: 0x2400,
  // 64-bit guest-state field
  /** VMCS link pointer (all ones when unused). */
  VMCS_LINK_POINTER: 0x2800,
  // 32-bit control fields
  /** Pin-based VM-execution controls ({@link PIN_BASED}). */
  PIN_BASED_VM_EXEC_CONTROL: 0x4000,
  /** Primary processor-based VM-execution controls ({@link PROC_BASED}). */
  CPU_BASED_VM_EXEC_CONTROL: 0x4002,
  /** Exception bitmap: bit n set makes exception vector n exit. */
  EXCEPTION_BITMAP: 0x4004,
  /** Page-fault error-code mask: with the match field, selects which page faults exit (SDM vol. 3 §25.2). */
  PAGE_FAULT_ERROR_CODE_MASK: 0x4006,
  /** Page-fault error-code match. */
  PAGE_FAULT_ERROR_CODE_MATCH: 0x4008,
  /** VM-exit controls ({@link EXIT_CONTROLS}). */
  VM_EXIT_CONTROLS: 0x400c,
  /** VM-entry controls ({@link ENTRY_CONTROLS}). */
  VM_ENTRY_CONTROLS: 0x4012,
  /** VM-entry interruption-information: the event injected at the next VM entry (SDM vol. 3 §24.8.3). */
  VM_ENTRY_INTR_INFO: 0x4016,
  /** Error code delivered with the injected exception. */
  VM_ENTRY_EXCEPTION_ERROR_CODE: 0x4018,
  /** Instruction length for an injected software interrupt or exception. */
  VM_ENTRY_INSTRUCTION_LEN: 0x401a,
  /** TPR threshold: a VTPR below it causes a TPR-below-threshold exit (USE_TPR_SHADOW). */
  TPR_THRESHOLD: 0x401c,
  /** Secondary processor-based VM-execution controls ({@link PROC_BASED2}). */
  SECONDARY_VM_EXEC_CONTROL: 0x401e,
  // 32-bit read-only data fields
  /** VM-instruction error number of the last VMfailValid ({@link VM_INSTRUCTION_ERROR}). */
  VM_INSTRUCTION_ERROR: 0x4400,
  /** Exit reason: basic reason in bits 15:0, VM-entry failure in bit 31 (SDM vol. 3 §24.9.1). */
  VM_EXIT_REASON: 0x4402,
  /** VM-exit interruption information: the event that caused the exit (SDM vol. 3 §24.9.2). */
  VM_EXIT_INTR_INFO: 0x4404,
  /** Error code of the event that caused the exit. */
  VM_EXIT_INTR_ERROR_CODE: 0x4406,
  /** IDT-vectoring information: the event being delivered when the exit occurred (SDM vol. 3 §24.9.3). */
  IDT_VECTORING_INFO: 0x4408,
  /** Error code of the event being delivered when the exit occurred. */
  IDT_VECTORING_ERROR_CODE: 0x440a,
  /** Length of the instruction that caused the exit. */
  VM_EXIT_INSTRUCTION_LEN: 0x440c,
  /** VM-exit instruction information (SDM vol. 3 §27.2.4). */
  VMX_INSTRUCTION_INFO: 0x440e,
  // 32-bit guest-state fields
  /** Guest GDTR limit. */
  GUEST_GDTR_LIMIT: 0x4810,
  /** Guest IDTR limit. */
  GUEST_IDTR_LIMIT: 0x4812,
  /** Guest interruptibility state ({@link INTERRUPTIBILITY}). */
  GUEST_INTERRUPTIBILITY_INFO: 0x4824,
  /** Guest activity state ({@link ACTIVITY_STATE}). */
  GUEST_ACTIVITY_STATE: 0x4826,
  /**
   * VMX-preemption timer value: counts down while the guest runs and causes an exit at zero (SDM vol. 3
   * §25.5.1).
   */
  VMX_PREEMPTION_TIMER_VALUE: 0x482e,
  // natural-width read-only data fields
  /** Exit qualification: more information about the exit, by exit reason (SDM vol. 3 §27.2.1). */
  EXIT_QUALIFICATION: 0x6400,
  /** Guest linear address of the access that caused the exit (for some exits). */
  GUEST_LINEAR_ADDRESS: 0x640a,
  // natural-width guest-state fields
  /** Guest CR0. */
  GUEST_CR0: 0x6800,
  /** Guest CR3. */
  GUEST_CR3: 0x6802,
  /** Guest CR4. */
  GUEST_CR4: 0x6804,
  /** Guest GDTR base. */
  GUEST_GDTR_BASE: 0x6816,
  /** Guest IDTR base. */
  GUEST_IDTR_BASE: 0x6818,
  /** Guest RSP. */
  GUEST_RSP: 0x681c,
  /** Guest RIP. */
  GUEST_RIP: 0x681e,
  /** Guest RFLAGS. */
  GUEST_RFLAGS: 0x6820,
  // natural-width host-state fields
  /** Host CR0, loaded on VM exit. */
  HOST_CR0: 0x6c00,
  /** Host CR3, loaded on VM exit. */
  HOST_CR3: 0x6c02,
  /** Host CR4, loaded on VM exit. */
  HOST_CR4: 0x6c04,
  /** Host GDTR base, loaded on VM exit. */
  HOST_GDTR_BASE: 0x6c0c,
  /** Host IDTR base, loaded on VM exit. */
  HOST_IDTR_BASE: 0x6c0e,
  /** Host RSP, loaded on VM exit. */
  HOST_RSP: 0x6c14,
  /** Host RIP: where the host resumes after a VM exit. */
  HOST_RIP: 0x6c16,
} as const;
/** A VMCS field encoding: one of the values of {@link VMCS_FIELD}. */
export type VmcsField = (typeof VMCS_FIELD)[keyof typeof VMCS_FIELD];

/** Access type of a VMCS field from its encoding: bits 14:13 width, bits 11:10 type (SDM B). */
export const VMCS_FIELD_WIDTH = {
  /** 16-bit field. */
  BITS16: 0,
  /** 64-bit field (its high half has its own encoding, access type bit 0 set). */
  BITS64: 1,
  /** 32-bit field. */
  BITS32: 2,
  /** Natural-width field (64 bits on a processor supporting Intel 64). */
  NATURAL: 3,
} as const;
/**
 * The type class of a VMCS field encoding, bits 11:10 (SDM vol. 3 appendix B): control, read-only data
 * (exit information), guest state or host state.
 */
export const VMCS_FIELD_TYPE = {
  /** Control field. */
  CONTROL: 0,
  /** Read-only data field (VM-exit information). */
  READ_ONLY_DATA: 1,
  /** Guest-state field. */
  GUEST_STATE: 2,
  /** Host-state field. */
  HOST_STATE: 3,
} as const;

/** The width class of a VMCS field encoding (bits 14:13). */
export function vmcsFieldWidth(encoding: number): number {
  return (encoding >>> 13) & 3;
}

/** The type class of a VMCS field encoding (bits 11:10). */
export function vmcsFieldType(encoding: number): number {
  return (encoding >>> 10) & 3;
}

/** Pin-based VM-execution controls (SDM vol. 3 §24.6.1). */
export const PIN_BASED = {
  /** Bit 0: external interrupts cause VM exits. */
  EXTERNAL_INTERRUPT_EXITING: 0x1,
  /** Bit 3: NMIs cause VM exits. */
  NMI_EXITING: 0x8,
  /** Bit 5: virtual NMIs (NMI blocking tracked for the guest, NMI-window exiting allowed). */
  VIRTUAL_NMIS: 0x20,
  /** Bit 6: the VMX-preemption timer counts down in the guest and exits at zero. */
  ACTIVATE_PREEMPTION_TIMER: 0x40,
  /** Bit 7: process posted interrupts (an interrupt with the notification vector is posted to the guest). */
  PROCESS_POSTED_INTERRUPTS: 0x80,
} as const;

/** Primary processor-based VM-execution controls (SDM vol. 3 §24.6.2, table 24-6). */
export const PROC_BASED = {
  /**
   * Bit 2: exit at the start of any instruction when the guest can take an interrupt (RFLAGS.IF = 1, no
   * blocking).
   */
  INTERRUPT_WINDOW_EXITING: 0x4,
  /** Bit 3: add the TSC offset to the guest's TSC reads. */
  USE_TSC_OFFSETTING: 0x8,
  /** Bit 7: HLT exits. */
  HLT_EXITING: 0x80,
  /** Bit 9: INVLPG exits. */
  INVLPG_EXITING: 0x200,
  /** Bit 10: MWAIT exits. */
  MWAIT_EXITING: 0x400,
  /** Bit 11: RDPMC exits. */
  RDPMC_EXITING: 0x800,
  /** Bit 12: RDTSC (and RDTSCP) exit. */
  RDTSC_EXITING: 0x1000,
  /** Bit 15: MOV to CR3 exits (subject to the CR3-target controls). */
  CR3_LOAD_EXITING: 0x8000,
  /** Bit 16: MOV from CR3 exits. */
  CR3_STORE_EXITING: 0x10000,
  /** Bit 19: MOV to CR8 exits. */
  CR8_LOAD_EXITING: 0x80000,
  /** Bit 20: MOV from CR8 exits. */
  CR8_STORE_EXITING: 0x100000,
  /** Bit 21: use the TPR shadow in the virtual-APIC page. */
  USE_TPR_SHADOW: 0x200000,
  /** Bit 22: exit at the start of any instruction when there is no virtual-NMI blocking. */
  NMI_WINDOW_EXITING: 0x400000,
  /** Bit 23: MOV DR exits. */
  MOV_DR_EXITING: 0x800000,
  /** Bit 24: every I/O instruction exits (ignored when USE_IO_BITMAPS is set). */
  UNCONDITIONAL_IO_EXITING: 0x1000000,
  /** Bit 25: the I/O bitmaps decide which I/O instructions exit. */
  USE_IO_BITMAPS: 0x2000000,
  /** Bit 27: monitor trap flag (an exit after each guest instruction). */
  MONITOR_TRAP_FLAG: 0x8000000,
  /** Bit 28: the MSR bitmap decides which RDMSR and WRMSR exit; without it every one exits. */
  USE_MSR_BITMAPS: 0x10000000,
  /** Bit 29: MONITOR exits. */
  MONITOR_EXITING: 0x20000000,
  /** Bit 30: PAUSE exits. */
  PAUSE_EXITING: 0x40000000,
  /** Bit 31: the secondary processor-based controls are used. */
  ACTIVATE_SECONDARY_CONTROLS: 0x80000000,
} as const;

/** Secondary processor-based VM-execution controls (SDM vol. 3 §24.6.2, table 24-7). */
export const PROC_BASED2 = {
  /** Bit 0: virtualize APIC accesses (accesses to the APIC-access page exit or are virtualized). */
  VIRTUALIZE_APIC_ACCESSES: 0x1,
  /** Bit 1: enable EPT. */
  ENABLE_EPT: 0x2,
  /** Bit 2: LGDT, LIDT, LLDT, LTR, SGDT, SIDT, SLDT and STR exit. */
  DESCRIPTOR_TABLE_EXITING: 0x4,
  /** Bit 3: RDTSCP does not raise #UD. */
  ENABLE_RDTSCP: 0x8,
  /** Bit 4: virtualize x2APIC mode (x2APIC MSR accesses use the virtual-APIC page). */
  VIRTUALIZE_X2APIC_MODE: 0x10,
  /** Bit 5: enable VPID. */
  ENABLE_VPID: 0x20,
  /** Bit 6: WBINVD exits. */
  WBINVD_EXITING: 0x40,
  /** Bit 7: unrestricted guest (the guest may run unpaged or in real-address mode; needs EPT). */
  UNRESTRICTED_GUEST: 0x80,
  /**
   * Bit 8: APIC-register virtualization (reads of most APIC registers are satisfied from the virtual-APIC
   * page).
   */
  APIC_REGISTER_VIRTUALIZATION: 0x100,
  /**
   * Bit 9: virtual-interrupt delivery (the CPU evaluates and delivers pending virtual interrupts, RVI/SVI).
   */
  VIRTUAL_INTERRUPT_DELIVERY: 0x200,
  /** Bit 10: PAUSE-loop exiting. */
  PAUSE_LOOP_EXITING: 0x400,
} as const;

/** VM-exit controls (SDM vol. 3 §24.7.1). */
export const EXIT_CONTROLS = {
  /** Bit 2: save DR7 and IA32_DEBUGCTL on exit. */
  SAVE_DEBUG_CONTROLS: 0x4,
  /** Bit 9: host address-space size (the host runs in 64-bit mode after the exit). */
  HOST_ADDRESS_SPACE_SIZE: 0x200,
  /**
   * Bit 15: acknowledge interrupt on exit (the exit acknowledges the external interrupt and stores its
   * vector).
   */
  ACKNOWLEDGE_INTERRUPT_ON_EXIT: 0x8000,
  /** Bit 18: save IA32_PAT on exit. */
  SAVE_IA32_PAT: 0x40000,
  /** Bit 19: load IA32_PAT on exit. */
  LOAD_IA32_PAT: 0x80000,
  /** Bit 20: save IA32_EFER on exit. */
  SAVE_IA32_EFER: 0x100000,
  /** Bit 21: load IA32_EFER on exit. */
  LOAD_IA32_EFER: 0x200000,
  /** Bit 22: save the VMX-preemption timer value on exit. */
  SAVE_PREEMPTION_TIMER: 0x400000,
} as const;

/** VM-entry controls (SDM vol. 3 §24.8.1). */
export const ENTRY_CONTROLS = {
  /** Bit 2: load DR7 and IA32_DEBUGCTL on entry. */
  LOAD_DEBUG_CONTROLS: 0x4,
  /** Bit 9: IA-32e mode guest (the guest runs in IA-32e mode after entry). */
  IA32E_MODE_GUEST: 0x200,
} as const;

/** Basic VM-exit reasons (SDM vol. 3 appendix C). */
export const EXIT_REASON = {
  /** 0: an exception or NMI (an exception whose bitmap bit is set, or an NMI with NMI exiting). */
  EXCEPTION_OR_NMI: 0,
  /** 1: an external interrupt (with external-interrupt exiting). */
  EXTERNAL_INTERRUPT: 1,
  /** 2: a triple fault. */
  TRIPLE_FAULT: 2,
  /** 3: an INIT signal. */
  INIT_SIGNAL: 3,
  /** 4: a start-up IPI (SIPI). */
  STARTUP_IPI: 4,
  /** 7: interrupt window (with interrupt-window exiting). */
  INTERRUPT_WINDOW: 7,
  /** 8: NMI window (with NMI-window exiting). */
  NMI_WINDOW: 8,
  /** 9: a task switch. */
  TASK_SWITCH: 9,
  /** 10: CPUID (always exits). */
  CPUID: 10,
  /** 12: HLT (with HLT exiting). */
  HLT: 12,
  /** 14: INVLPG (with INVLPG exiting). */
  INVLPG: 14,
  /** 15: RDPMC (with RDPMC exiting). */
  RDPMC: 15,
  /** 16: RDTSC (with RDTSC exiting). */
  RDTSC: 16,
  /** 18: VMCALL. */
  VMCALL: 18,
  /** 19: VMCLEAR. */
  VMCLEAR: 19,
  /** 20: VMLAUNCH. */
  VMLAUNCH: 20,
  /** 21: VMPTRLD. */
  VMPTRLD: 21,
  /** 22: VMPTRST. */
  VMPTRST: 22,
  /** 23: VMREAD. */
  VMREAD: 23,
  /** 24: VMRESUME. */
  VMRESUME: 24,
  /** 25: VMWRITE. */
  VMWRITE: 25,
  /** 26: VMXOFF. */
  VMXOFF: 26,
  /** 27: VMXON. */
  VMXON: 27,
  /** 28: control-register access (MOV CR, CLTS, LMSW). */
  CR_ACCESS: 28,
  /** 29: MOV DR (with MOV-DR exiting). */
  DR_ACCESS: 29,
  /** 30: an I/O instruction. */
  IO_INSTRUCTION: 30,
  /** 31: RDMSR (an MSR whose bitmap bit is set, or every MSR without MSR bitmaps). */
  RDMSR: 31,
  /** 32: WRMSR (as RDMSR). */
  WRMSR: 32,
  /** 33: VM-entry failure due to invalid guest state. */
  INVALID_GUEST_STATE: 33,
  /** 34: VM-entry failure due to MSR loading. */
  MSR_LOADING: 34,
  /** 36: MWAIT (with MWAIT exiting). */
  MWAIT: 36,
  /** 37: monitor trap flag. */
  MONITOR_TRAP_FLAG: 37,
  /** 39: MONITOR (with MONITOR exiting). */
  MONITOR: 39,
  /** 40: PAUSE (with PAUSE exiting or PAUSE-loop exiting). */
  PAUSE: 40,
  /** 41: VM-entry failure due to a machine-check event. */
  MACHINE_CHECK_DURING_ENTRY: 41,
  /** 43: TPR below threshold (with the TPR shadow). */
  TPR_BELOW_THRESHOLD: 43,
  /** 44: APIC access (an access to the APIC-access page that is not virtualized). */
  APIC_ACCESS: 44,
  /** 45: virtualized EOI (an EOI of a vector whose EOI-exit bitmap bit is set). */
  VIRTUALIZED_EOI: 45,
  /** 46: access to GDTR or IDTR (LGDT, LIDT, SGDT, SIDT with descriptor-table exiting). */
  GDTR_IDTR_ACCESS: 46,
  /** 47: access to LDTR or TR (LLDT, LTR, SLDT, STR with descriptor-table exiting). */
  LDTR_TR_ACCESS: 47,
  /** 48: EPT violation. */
  EPT_VIOLATION: 48,
  /** 49: EPT misconfiguration. */
  EPT_MISCONFIGURATION: 49,
  /** 50: INVEPT. */
  INVEPT: 50,
  /** 51: RDTSCP (with RDTSC exiting). */
  RDTSCP: 51,
  /** 52: the VMX-preemption timer reached zero. */
  PREEMPTION_TIMER: 52,
  /** 53: INVVPID. */
  INVVPID: 53,
  /** 54: WBINVD (with WBINVD exiting). */
  WBINVD: 54,
  /** 55: XSETBV. */
  XSETBV: 55,
  /** 56: APIC write (a write to the virtual-APIC page that needs emulation after the fact; trap-like). */
  APIC_WRITE: 56,
} as const;
/** A basic exit reason (bits 15:0 of the exit-reason field): one of the values of {@link EXIT_REASON}. */
export type ExitReason = (typeof EXIT_REASON)[keyof typeof EXIT_REASON];

/** Bit 31 of the exit-reason field: the VM entry failed (SDM vol. 3 §24.9.1). */
export const EXIT_REASON_ENTRY_FAILURE = 0x80000000;

const EXIT_REASON_NAMES = new Map<number, string>(
  Object.entries(EXIT_REASON).map(([k, v]) => [v, k.toLowerCase().replaceAll('_', '-')]),
);

/** A stable, readable name for an exit reason ('external-interrupt', 'wrmsr'…), or 'reason-N'. */
export function exitReasonName(reason: number): string {
  return EXIT_REASON_NAMES.get(reason & 0xffff) ?? `reason-${reason & 0xffff}`;
}

/** VM-instruction error numbers (SDM vol. 3 §30.4). */
export const VM_INSTRUCTION_ERROR = {
  /** 1: VMCALL executed in VMX root operation. */
  VMCALL_IN_ROOT: 1,
  /** 2: VMCLEAR with an invalid physical address. */
  VMCLEAR_INVALID_ADDRESS: 2,
  /** 4: VMLAUNCH with a VMCS that is not clear. */
  VMLAUNCH_NON_CLEAR_VMCS: 4,
  /** 5: VMRESUME with a VMCS that is not launched. */
  VMRESUME_NON_LAUNCHED_VMCS: 5,
  /** 7: VM entry with invalid control fields. */
  ENTRY_INVALID_CONTROL_FIELDS: 7,
  /** 8: VM entry with invalid host-state fields. */
  ENTRY_INVALID_HOST_STATE: 8,
  /** 9: VMPTRLD with an invalid physical address. */
  VMPTRLD_INVALID_ADDRESS: 9,
  /** 12: VMREAD or VMWRITE of an unsupported VMCS component. */
  UNSUPPORTED_VMCS_COMPONENT: 12,
  /** 13: VMWRITE to a read-only VMCS component. */
  VMWRITE_READ_ONLY_COMPONENT: 13,
  /** 26: VM entry with events blocked by MOV SS. */
  ENTRY_EVENTS_BLOCKED_BY_MOV_SS: 26,
} as const;

/** Event types in interruption-information fields (SDM vol. 3 §24.8.3, §24.9.2). */
export const INTR_TYPE = {
  /** 0: an external interrupt. */
  EXTERNAL_INTERRUPT: 0,
  /** 2: a non-maskable interrupt. */
  NMI: 2,
  /** 3: a hardware exception (a fault or abort other than #BP and #OF). */
  HARDWARE_EXCEPTION: 3,
  /** 4: a software interrupt (INT n). */
  SOFTWARE_INTERRUPT: 4,
  /** 5: a privileged software exception (INT1). */
  PRIVILEGED_SOFTWARE_EXCEPTION: 5,
  /** 6: a software exception (INT3 or INTO). */
  SOFTWARE_EXCEPTION: 6,
  /** 7: another event (e.g. the pending MTF VM exit). */
  OTHER_EVENT: 7,
} as const;

/** Bits of the interruption-information format. */
export const INTR_INFO = {
  /** Bits 7:0: the vector. */
  VECTOR_MASK: 0xff,
  /** Shift of the event type (bits 10:8, an {@link INTR_TYPE} value). */
  TYPE_SHIFT: 8,
  /** Bits 10:8: the event type. */
  TYPE_MASK: 0x700,
  /** Bit 11: an error code is delivered (or was, for exit information). */
  ERROR_CODE_VALID: 0x800,
  /** Bit 12: NMI unblocking due to IRET (exit information only). */
  NMI_UNBLOCKING: 0x1000,
  /** Bit 31: the field is valid. */
  VALID: 0x80000000,
} as const;

/** A decoded interruption-information field. */
export interface InterruptionInfo {
  /** Bits 7:0: the vector. */
  readonly vector: number;
  /** Bits 10:8: the event type ({@link INTR_TYPE}). */
  readonly type: number;
  /** Bit 11: an error code is delivered. */
  readonly errorCodeValid: boolean;
  /** Bit 12: NMI unblocking due to IRET. */
  readonly nmiUnblocking: boolean;
  /** Bit 31: the field is valid. */
  readonly valid: boolean;
}

/** Encodes an interruption-information field as an unsigned 32-bit number. */
export function encodeInterruptionInfo(info: InterruptionInfo): number {
  return (
    ((info.vector & 0xff) |
      ((info.type & 7) << 8) |
      (info.errorCodeValid ? INTR_INFO.ERROR_CODE_VALID : 0) |
      (info.nmiUnblocking ? INTR_INFO.NMI_UNBLOCKING : 0) |
      (info.valid ? 0x80000000 : 0)) >>>
    0
  );
}

/** Decodes an interruption-information field. */
export function decodeInterruptionInfo(value: number): InterruptionInfo {
  return {
    vector: value & 0xff,
    type: (value >>> 8) & 7,
    errorCodeValid: (value & INTR_INFO.ERROR_CODE_VALID) !== 0,
    nmiUnblocking: (value & INTR_INFO.NMI_UNBLOCKING) !== 0,
    valid: (value & 0x80000000) !== 0,
  };
}

/** A valid interruption-information value without allocating (hot paths). */
export function interruptionInfo(vector: number, type: number, errorCodeValid: boolean): number {
  return (
    ((vector & 0xff) | ((type & 7) << 8) | (errorCodeValid ? INTR_INFO.ERROR_CODE_VALID : 0) | 0x80000000) >>>
    0
  );
}

/** Guest interruptibility-state bits (SDM vol. 3 §24.4.2, table 24-3). */
export const INTERRUPTIBILITY = {
  /** Bit 0: blocking by STI. */
  BLOCKING_BY_STI: 0x1,
  /** Bit 1: blocking by MOV SS. */
  BLOCKING_BY_MOV_SS: 0x2,
  /** Bit 2: blocking by SMI. */
  BLOCKING_BY_SMI: 0x4,
  /** Bit 3: blocking by NMI. */
  BLOCKING_BY_NMI: 0x8,
} as const;

/** Guest activity states (SDM vol. 3 §24.4.2). */
export const ACTIVITY_STATE = {
  /** The logical processor executes instructions. */
  ACTIVE: 0,
  /** HLT: the processor is halted. */
  HLT: 1,
  /** Shutdown (after a triple fault). */
  SHUTDOWN: 2,
  /** Wait-for-SIPI. */
  WAIT_FOR_SIPI: 3,
} as const;

/**
 * VM-exit instruction-information for LIDT/SIDT/LGDT/SGDT (SDM vol. 3 §27.2.4, table 27-10):
 * bits 29:28 say which instruction; an operand with base and index both invalid has its
 * address in the exit qualification (the displacement).
 */
export const DESCRIPTOR_TABLE_INSTRUCTION = {
  /** SGDT. */
  SGDT: 0,
  /** SIDT. */
  SIDT: 1,
  /** LGDT. */
  LGDT: 2,
  /** LIDT. */
  LIDT: 3,
} as const;
/**
 * Fields of the VM-exit instruction-information word for LIDT/SIDT/LGDT/SGDT (SDM vol. 3 §27.2.4, table
 * 27-10): masks of the address-size, index-invalid and base-invalid bits, and the shift of the instruction
 * identity (bits 29:28, a {@link DESCRIPTOR_TABLE_INSTRUCTION} value).
 */
export const INSTRUCTION_INFO = {
  /** Bits 9:7 = 2: 64-bit address size (this mask tests bit 8). */
  ADDRESS_SIZE_64: 0x100,
  /** Bit 22: IndexReg invalid. */
  INDEX_INVALID: 0x400000,
  /** Bit 27: BaseReg invalid. */
  BASE_INVALID: 0x8000000,
  /** Shift of the instruction identity (bits 29:28). */
  IDENTITY_SHIFT: 28,
} as const;

/** APIC-access exit qualification (SDM vol. 3 §27.2.1, table 27-6): offset 11:0, access type 15:12. */
export const APIC_ACCESS_TYPE = {
  /** 0: linear access for a data read during instruction execution. */
  LINEAR_READ: 0,
  /** 1: linear access for a data write during instruction execution. */
  LINEAR_WRITE: 1,
  /** 2: linear access for an instruction fetch. */
  LINEAR_FETCH: 2,
  /** 3: linear access during event delivery. */
  LINEAR_EVENT_DELIVERY: 3,
  /** 10: guest-physical access during event delivery. */
  GUEST_PHYSICAL_EVENT_DELIVERY: 10,
  /** 15: guest-physical access for an instruction fetch or during instruction execution. */
  GUEST_PHYSICAL_FETCH: 15,
} as const;

/** EPT-violation exit qualification bits (SDM vol. 3 §27.2.1, table 27-7). */
export const EPT_VIOLATION_QUAL = {
  /** Bit 0: the access was a data read. */
  READ: 0x1,
  /** Bit 1: the access was a data write. */
  WRITE: 0x2,
  /** Bit 2: the access was an instruction fetch. */
  FETCH: 0x4,
  /** Bit 3: the guest-physical address was readable. */
  READABLE: 0x8,
  /** Bit 4: the guest-physical address was writable. */
  WRITABLE: 0x10,
  /** Bit 5: the guest-physical address was executable. */
  EXECUTABLE: 0x20,
  /** Bit 7: the guest linear-address field is valid. */
  LINEAR_ADDRESS_VALID: 0x80,
} as const;

/** MSR-bitmap layout (SDM vol. 3 §24.6.9): byte offsets of the four 1 KiB quarters. */
export const MSR_BITMAP = {
  /** Read bitmap for low MSRs (0x00000000–0x00001FFF). */
  READ_LOW: 0,
  /** Read bitmap for high MSRs (0xC0000000–0xC0001FFF). */
  READ_HIGH: 1024,
  /** Write bitmap for low MSRs. */
  WRITE_LOW: 2048,
  /** Write bitmap for high MSRs. */
  WRITE_HIGH: 3072,
  /** Size of the whole bitmap, bytes. */
  SIZE: 4096,
} as const;

/**
 * Where the bit for an MSR access lives in the 4 KiB MSR bitmap: the byte offset and bit,
 * or −1 for MSRs outside both ranges (always exit).
 */
export function msrBitmapPosition(msr: number, write: boolean): number {
  let base: number;
  let n: number;
  if (msr >= 0 && msr <= 0x1fff) {
    base = write ? MSR_BITMAP.WRITE_LOW : MSR_BITMAP.READ_LOW;
    n = msr;
  } else if (msr >= 0xc0000000 && msr <= 0xc0001fff) {
    base = write ? MSR_BITMAP.WRITE_HIGH : MSR_BITMAP.READ_HIGH;
    n = msr - 0xc0000000;
  } else {
    return -1;
  }
  return (base + (n >>> 3)) * 8 + (n & 7);
}

/** Sets or clears the intercept bit of `msr` in a 4 KiB MSR bitmap held in `bitmap`. */
export function setMsrIntercept(bitmap: Uint8Array, msr: number, write: boolean, intercept: boolean): void {
  const pos = msrBitmapPosition(msr, write);
  if (pos < 0) throw new RangeError(`MSR 0x${msr.toString(16)} has no bit in the MSR bitmap`);
  const byte = pos >>> 3;
  const bit = 1 << (pos & 7);
  bitmap[byte] = intercept ? bitmap[byte]! | bit : bitmap[byte]! & ~bit;
}

/**
 * The guest interrupt status (VMCS field 0x0810, SDM vol. 3 §24.4.2): RVI, the requesting
 * virtual interrupt, in bits 7:0; SVI, the servicing virtual interrupt, in bits 15:8.
 */
export const GUEST_INTERRUPT_STATUS_BITS = {
  /** RVI, bits 7:0. */
  RVI_MASK: 0xff,
  /** Shift of SVI (bits 15:8). */
  SVI_SHIFT: 8,
} as const;

/**
 * The 64-byte posted-interrupt descriptor of VMX posted-interrupt processing (SDM vol. 3
 * §29.6, table 29-1; the same layout as VT-d §9.12): byte offsets and control-dword bits.
 * PIR is bits 255:0, ON bit 256, SN bit 257, NV bits 279:272, NDST bits 319:288.
 */
export const POSTED_INTERRUPT_DESCRIPTOR = {
  /** Byte offset of the PIR, the 256-bit posted-interrupt requests (one bit per vector). */
  PIR: 0,
  /** The dword holding ON (bit 0), SN (bit 1) and NV (bits 23:16). */
  CONTROL: 32,
  /** ON, bit 0 of the control dword: outstanding notification. */
  ON: 0x1,
  /** SN, bit 1 of the control dword: suppress notification. */
  SN: 0x2,
  /** Shift of NV, the notification vector (bits 23:16 of the control dword). */
  NV_SHIFT: 16,
  /** Byte offset of NDST, the notification destination (an APIC ID). */
  NDST: 36,
  /** Size and required alignment, bytes (SDM §26.2.1.1: address bits 5:0 are 0). */
  SIZE: 64,
} as const;
