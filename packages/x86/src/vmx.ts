/**
 * VMX architecture (Intel SDM vol. 3, chapters 24–27 and appendices B and C): VMCS field
 * encodings, control bits, exit reasons, and the interruption-information format.
 */

/** VMCS field encodings (SDM vol. 3 appendix B). */
export const VMCS_FIELD = {
  // 16-bit control fields
  VIRTUAL_PROCESSOR_ID: 0x0000,
  POSTED_INTR_NOTIFICATION_VECTOR: 0x0002,
  // 16-bit guest-state fields
  GUEST_INTERRUPT_STATUS: 0x0810,
  // 64-bit control fields
  IO_BITMAP_A: 0x2000,
  IO_BITMAP_B: 0x2002,
  MSR_BITMAP: 0x2004,
  TSC_OFFSET: 0x2010,
  VIRTUAL_APIC_PAGE_ADDR: 0x2012,
  APIC_ACCESS_ADDR: 0x2014,
  POSTED_INTR_DESC_ADDR: 0x2016,
  EPT_POINTER: 0x201a,
  EOI_EXIT_BITMAP0: 0x201c,
  EOI_EXIT_BITMAP1: 0x201e,
  EOI_EXIT_BITMAP2: 0x2020,
  EOI_EXIT_BITMAP3: 0x2022,
  // 64-bit read-only data field
  GUEST_PHYSICAL_ADDRESS: 0x2400,
  // 64-bit guest-state field
  VMCS_LINK_POINTER: 0x2800,
  // 32-bit control fields
  PIN_BASED_VM_EXEC_CONTROL: 0x4000,
  CPU_BASED_VM_EXEC_CONTROL: 0x4002,
  EXCEPTION_BITMAP: 0x4004,
  PAGE_FAULT_ERROR_CODE_MASK: 0x4006,
  PAGE_FAULT_ERROR_CODE_MATCH: 0x4008,
  VM_EXIT_CONTROLS: 0x400c,
  VM_ENTRY_CONTROLS: 0x4012,
  VM_ENTRY_INTR_INFO: 0x4016,
  VM_ENTRY_EXCEPTION_ERROR_CODE: 0x4018,
  VM_ENTRY_INSTRUCTION_LEN: 0x401a,
  TPR_THRESHOLD: 0x401c,
  SECONDARY_VM_EXEC_CONTROL: 0x401e,
  // 32-bit read-only data fields
  VM_INSTRUCTION_ERROR: 0x4400,
  VM_EXIT_REASON: 0x4402,
  VM_EXIT_INTR_INFO: 0x4404,
  VM_EXIT_INTR_ERROR_CODE: 0x4406,
  IDT_VECTORING_INFO: 0x4408,
  IDT_VECTORING_ERROR_CODE: 0x440a,
  VM_EXIT_INSTRUCTION_LEN: 0x440c,
  VMX_INSTRUCTION_INFO: 0x440e,
  // 32-bit guest-state fields
  GUEST_GDTR_LIMIT: 0x4810,
  GUEST_IDTR_LIMIT: 0x4812,
  GUEST_INTERRUPTIBILITY_INFO: 0x4824,
  GUEST_ACTIVITY_STATE: 0x4826,
  VMX_PREEMPTION_TIMER_VALUE: 0x482e,
  // natural-width read-only data fields
  EXIT_QUALIFICATION: 0x6400,
  GUEST_LINEAR_ADDRESS: 0x640a,
  // natural-width guest-state fields
  GUEST_CR0: 0x6800,
  GUEST_CR3: 0x6802,
  GUEST_CR4: 0x6804,
  GUEST_GDTR_BASE: 0x6816,
  GUEST_IDTR_BASE: 0x6818,
  GUEST_RSP: 0x681c,
  GUEST_RIP: 0x681e,
  GUEST_RFLAGS: 0x6820,
  // natural-width host-state fields
  HOST_CR0: 0x6c00,
  HOST_CR3: 0x6c02,
  HOST_CR4: 0x6c04,
  HOST_GDTR_BASE: 0x6c0c,
  HOST_IDTR_BASE: 0x6c0e,
  HOST_RSP: 0x6c14,
  HOST_RIP: 0x6c16,
} as const;
export type VmcsField = (typeof VMCS_FIELD)[keyof typeof VMCS_FIELD];

/** Access type of a VMCS field from its encoding: bits 14:13 width, bits 11:10 type (SDM B). */
export const VMCS_FIELD_WIDTH = { BITS16: 0, BITS64: 1, BITS32: 2, NATURAL: 3 } as const;
export const VMCS_FIELD_TYPE = { CONTROL: 0, READ_ONLY_DATA: 1, GUEST_STATE: 2, HOST_STATE: 3 } as const;

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
  EXTERNAL_INTERRUPT_EXITING: 0x1,
  NMI_EXITING: 0x8,
  VIRTUAL_NMIS: 0x20,
  ACTIVATE_PREEMPTION_TIMER: 0x40,
  PROCESS_POSTED_INTERRUPTS: 0x80,
} as const;

/** Primary processor-based VM-execution controls (SDM vol. 3 §24.6.2, table 24-6). */
export const PROC_BASED = {
  INTERRUPT_WINDOW_EXITING: 0x4,
  USE_TSC_OFFSETTING: 0x8,
  HLT_EXITING: 0x80,
  INVLPG_EXITING: 0x200,
  MWAIT_EXITING: 0x400,
  RDPMC_EXITING: 0x800,
  RDTSC_EXITING: 0x1000,
  CR3_LOAD_EXITING: 0x8000,
  CR3_STORE_EXITING: 0x10000,
  CR8_LOAD_EXITING: 0x80000,
  CR8_STORE_EXITING: 0x100000,
  USE_TPR_SHADOW: 0x200000,
  NMI_WINDOW_EXITING: 0x400000,
  MOV_DR_EXITING: 0x800000,
  UNCONDITIONAL_IO_EXITING: 0x1000000,
  USE_IO_BITMAPS: 0x2000000,
  MONITOR_TRAP_FLAG: 0x8000000,
  USE_MSR_BITMAPS: 0x10000000,
  MONITOR_EXITING: 0x20000000,
  PAUSE_EXITING: 0x40000000,
  ACTIVATE_SECONDARY_CONTROLS: 0x80000000,
} as const;

/** Secondary processor-based VM-execution controls (SDM vol. 3 §24.6.2, table 24-7). */
export const PROC_BASED2 = {
  VIRTUALIZE_APIC_ACCESSES: 0x1,
  ENABLE_EPT: 0x2,
  DESCRIPTOR_TABLE_EXITING: 0x4,
  ENABLE_RDTSCP: 0x8,
  VIRTUALIZE_X2APIC_MODE: 0x10,
  ENABLE_VPID: 0x20,
  WBINVD_EXITING: 0x40,
  UNRESTRICTED_GUEST: 0x80,
  APIC_REGISTER_VIRTUALIZATION: 0x100,
  VIRTUAL_INTERRUPT_DELIVERY: 0x200,
  PAUSE_LOOP_EXITING: 0x400,
} as const;

/** VM-exit controls (SDM vol. 3 §24.7.1). */
export const EXIT_CONTROLS = {
  SAVE_DEBUG_CONTROLS: 0x4,
  HOST_ADDRESS_SPACE_SIZE: 0x200,
  ACKNOWLEDGE_INTERRUPT_ON_EXIT: 0x8000,
  SAVE_IA32_PAT: 0x40000,
  LOAD_IA32_PAT: 0x80000,
  SAVE_IA32_EFER: 0x100000,
  LOAD_IA32_EFER: 0x200000,
  SAVE_PREEMPTION_TIMER: 0x400000,
} as const;

/** VM-entry controls (SDM vol. 3 §24.8.1). */
export const ENTRY_CONTROLS = {
  LOAD_DEBUG_CONTROLS: 0x4,
  IA32E_MODE_GUEST: 0x200,
} as const;

/** Basic VM-exit reasons (SDM vol. 3 appendix C). */
export const EXIT_REASON = {
  EXCEPTION_OR_NMI: 0,
  EXTERNAL_INTERRUPT: 1,
  TRIPLE_FAULT: 2,
  INIT_SIGNAL: 3,
  STARTUP_IPI: 4,
  INTERRUPT_WINDOW: 7,
  NMI_WINDOW: 8,
  TASK_SWITCH: 9,
  CPUID: 10,
  HLT: 12,
  INVLPG: 14,
  RDPMC: 15,
  RDTSC: 16,
  VMCALL: 18,
  VMCLEAR: 19,
  VMLAUNCH: 20,
  VMPTRLD: 21,
  VMPTRST: 22,
  VMREAD: 23,
  VMRESUME: 24,
  VMWRITE: 25,
  VMXOFF: 26,
  VMXON: 27,
  CR_ACCESS: 28,
  DR_ACCESS: 29,
  IO_INSTRUCTION: 30,
  RDMSR: 31,
  WRMSR: 32,
  INVALID_GUEST_STATE: 33,
  MSR_LOADING: 34,
  MWAIT: 36,
  MONITOR_TRAP_FLAG: 37,
  MONITOR: 39,
  PAUSE: 40,
  MACHINE_CHECK_DURING_ENTRY: 41,
  TPR_BELOW_THRESHOLD: 43,
  APIC_ACCESS: 44,
  VIRTUALIZED_EOI: 45,
  GDTR_IDTR_ACCESS: 46,
  LDTR_TR_ACCESS: 47,
  EPT_VIOLATION: 48,
  EPT_MISCONFIGURATION: 49,
  INVEPT: 50,
  RDTSCP: 51,
  PREEMPTION_TIMER: 52,
  INVVPID: 53,
  WBINVD: 54,
  XSETBV: 55,
  APIC_WRITE: 56,
} as const;
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
  VMCALL_IN_ROOT: 1,
  VMCLEAR_INVALID_ADDRESS: 2,
  VMLAUNCH_NON_CLEAR_VMCS: 4,
  VMRESUME_NON_LAUNCHED_VMCS: 5,
  ENTRY_INVALID_CONTROL_FIELDS: 7,
  ENTRY_INVALID_HOST_STATE: 8,
  VMPTRLD_INVALID_ADDRESS: 9,
  UNSUPPORTED_VMCS_COMPONENT: 12,
  VMWRITE_READ_ONLY_COMPONENT: 13,
  ENTRY_EVENTS_BLOCKED_BY_MOV_SS: 26,
} as const;

/** Event types in interruption-information fields (SDM vol. 3 §24.8.3, §24.9.2). */
export const INTR_TYPE = {
  EXTERNAL_INTERRUPT: 0,
  NMI: 2,
  HARDWARE_EXCEPTION: 3,
  SOFTWARE_INTERRUPT: 4,
  PRIVILEGED_SOFTWARE_EXCEPTION: 5,
  SOFTWARE_EXCEPTION: 6,
  OTHER_EVENT: 7,
} as const;

/** Bits of the interruption-information format. */
export const INTR_INFO = {
  VECTOR_MASK: 0xff,
  TYPE_SHIFT: 8,
  TYPE_MASK: 0x700,
  ERROR_CODE_VALID: 0x800,
  NMI_UNBLOCKING: 0x1000,
  VALID: 0x80000000,
} as const;

/** A decoded interruption-information field. */
export interface InterruptionInfo {
  readonly vector: number;
  readonly type: number;
  readonly errorCodeValid: boolean;
  readonly nmiUnblocking: boolean;
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
  BLOCKING_BY_STI: 0x1,
  BLOCKING_BY_MOV_SS: 0x2,
  BLOCKING_BY_SMI: 0x4,
  BLOCKING_BY_NMI: 0x8,
} as const;

/** Guest activity states (SDM vol. 3 §24.4.2). */
export const ACTIVITY_STATE = { ACTIVE: 0, HLT: 1, SHUTDOWN: 2, WAIT_FOR_SIPI: 3 } as const;

/**
 * VM-exit instruction-information for LIDT/SIDT/LGDT/SGDT (SDM vol. 3 §27.2.4, table 27-10):
 * bits 29:28 say which instruction; an operand with base and index both invalid has its
 * address in the exit qualification (the displacement).
 */
export const DESCRIPTOR_TABLE_INSTRUCTION = { SGDT: 0, SIDT: 1, LGDT: 2, LIDT: 3 } as const;
export const INSTRUCTION_INFO = {
  ADDRESS_SIZE_64: 0x100,
  INDEX_INVALID: 0x400000,
  BASE_INVALID: 0x8000000,
  IDENTITY_SHIFT: 28,
} as const;

/** APIC-access exit qualification (SDM vol. 3 §27.2.1, table 27-6): offset 11:0, access type 15:12. */
export const APIC_ACCESS_TYPE = {
  LINEAR_READ: 0,
  LINEAR_WRITE: 1,
  LINEAR_FETCH: 2,
  LINEAR_EVENT_DELIVERY: 3,
  GUEST_PHYSICAL_EVENT_DELIVERY: 10,
  GUEST_PHYSICAL_FETCH: 15,
} as const;

/** EPT-violation exit qualification bits (SDM vol. 3 §27.2.1, table 27-7). */
export const EPT_VIOLATION_QUAL = {
  READ: 0x1,
  WRITE: 0x2,
  FETCH: 0x4,
  READABLE: 0x8,
  WRITABLE: 0x10,
  EXECUTABLE: 0x20,
  LINEAR_ADDRESS_VALID: 0x80,
} as const;

/** MSR-bitmap layout (SDM vol. 3 §24.6.9): byte offsets of the four 1 KiB quarters. */
export const MSR_BITMAP = {
  READ_LOW: 0,
  READ_HIGH: 1024,
  WRITE_LOW: 2048,
  WRITE_HIGH: 3072,
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
export const GUEST_INTERRUPT_STATUS_BITS = { RVI_MASK: 0xff, SVI_SHIFT: 8 } as const;

/**
 * The 64-byte posted-interrupt descriptor of VMX posted-interrupt processing (SDM vol. 3
 * §29.6, table 29-1; the same layout as VT-d §9.12): byte offsets and control-dword bits.
 * PIR is bits 255:0, ON bit 256, SN bit 257, NV bits 279:272, NDST bits 319:288.
 */
export const POSTED_INTERRUPT_DESCRIPTOR = {
  PIR: 0,
  /** The dword holding ON (bit 0), SN (bit 1) and NV (bits 23:16). */
  CONTROL: 32,
  ON: 0x1,
  SN: 0x2,
  NV_SHIFT: 16,
  NDST: 36,
  /** Size and required alignment, bytes (SDM §26.2.1.1: address bits 5:0 are 0). */
  SIZE: 64,
} as const;
