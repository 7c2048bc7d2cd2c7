/**
 * Local APIC architecture shared by everything that talks to an APIC (SDM vol. 3 ch. 10):
 * the xAPIC MMIO register offsets, the x2APIC MSR numbers, and IA32_APIC_BASE bits. The
 * guest and hypervisor need these without depending on any LAPIC implementation.
 */

/** Default physical base of the xAPIC register page. */
export const APIC_DEFAULT_BASE = 0xfee00000;
/** Size of the xAPIC register page. */
export const APIC_PAGE_SIZE = 4096;

/** xAPIC register offsets within the APIC page (SDM vol. 3 table 10-1). */
export const APIC_REG = {
  ID: 0x020,
  VERSION: 0x030,
  TPR: 0x080,
  APR: 0x090,
  PPR: 0x0a0,
  EOI: 0x0b0,
  RRD: 0x0c0,
  LDR: 0x0d0,
  DFR: 0x0e0,
  SVR: 0x0f0,
  ISR0: 0x100,
  TMR0: 0x180,
  IRR0: 0x200,
  ESR: 0x280,
  LVT_CMCI: 0x2f0,
  ICR_LOW: 0x300,
  ICR_HIGH: 0x310,
  LVT_TIMER: 0x320,
  LVT_THERMAL: 0x330,
  LVT_PERF: 0x340,
  LVT_LINT0: 0x350,
  LVT_LINT1: 0x360,
  LVT_ERROR: 0x370,
  TIMER_INITIAL_COUNT: 0x380,
  TIMER_CURRENT_COUNT: 0x390,
  TIMER_DIVIDE_CONFIG: 0x3e0,
} as const;

/** The x2APIC MSR for an xAPIC register offset: 0x800 + (offset >> 4) (SDM vol. 3 §10.12.1.2). */
export function x2apicMsr(offset: number): number {
  return 0x800 + (offset >>> 4);
}

/** The xAPIC register offset of an x2APIC MSR. */
export function x2apicOffset(msr: number): number {
  return (msr - 0x800) << 4;
}

/** True for MSRs in the x2APIC range 0x800–0x8FF. */
export function isX2apicMsr(msr: number): boolean {
  return msr >= 0x800 && msr <= 0x8ff;
}

/** Model-specific registers used across the project (SDM vol. 4). */
export const MSR = {
  IA32_TSC: 0x10,
  IA32_APIC_BASE: 0x1b,
  IA32_FEATURE_CONTROL: 0x3a,
  IA32_TSC_DEADLINE: 0x6e0,
  IA32_VMX_BASIC: 0x480,
  IA32_VMX_PINBASED_CTLS: 0x481,
  IA32_VMX_PROCBASED_CTLS: 0x482,
  IA32_VMX_EXIT_CTLS: 0x483,
  IA32_VMX_ENTRY_CTLS: 0x484,
  IA32_VMX_MISC: 0x485,
  IA32_VMX_PROCBASED_CTLS2: 0x48b,
  X2APIC_ID: 0x802,
  X2APIC_VERSION: 0x803,
  X2APIC_TPR: 0x808,
  X2APIC_PPR: 0x80a,
  X2APIC_EOI: 0x80b,
  X2APIC_LDR: 0x80d,
  X2APIC_SVR: 0x80f,
  X2APIC_ISR0: 0x810,
  X2APIC_TMR0: 0x818,
  X2APIC_IRR0: 0x820,
  X2APIC_ESR: 0x828,
  X2APIC_LVT_CMCI: 0x82f,
  X2APIC_ICR: 0x830,
  X2APIC_LVT_TIMER: 0x832,
  X2APIC_LVT_THERMAL: 0x833,
  X2APIC_LVT_PERF: 0x834,
  X2APIC_LVT_LINT0: 0x835,
  X2APIC_LVT_LINT1: 0x836,
  X2APIC_LVT_ERROR: 0x837,
  X2APIC_TIMER_INITIAL_COUNT: 0x838,
  X2APIC_TIMER_CURRENT_COUNT: 0x839,
  X2APIC_TIMER_DIVIDE_CONFIG: 0x83e,
  X2APIC_SELF_IPI: 0x83f,
} as const;

/** IA32_APIC_BASE bits (SDM vol. 3 §10.4.4, §10.12.1). */
export const APIC_BASE_MSR = {
  BSP: 0x100,
  /** x2APIC mode enable (EXTD). */
  EXTD: 0x400,
  /** APIC global enable (EN). */
  ENABLE: 0x800,
  /** Bits 35:12 (32-bit part here: 31:12) hold the base. */
  BASE_MASK: 0xfffff000,
} as const;

/** Local vector table entry bits (SDM vol. 3 §10.5.1). */
export const LVT = {
  VECTOR_MASK: 0xff,
  DELIVERY_MODE_SHIFT: 8,
  DELIVERY_STATUS: 0x1000,
  POLARITY: 0x2000,
  REMOTE_IRR: 0x4000,
  TRIGGER_LEVEL: 0x8000,
  MASKED: 0x10000,
  TIMER_MODE_SHIFT: 17,
} as const;

/** LVT timer modes (bits 18:17). */
export const TIMER_MODE = { ONE_SHOT: 0, PERIODIC: 1, TSC_DEADLINE: 2 } as const;

/** ICR fields (SDM vol. 3 §10.6.1). */
export const ICR = {
  VECTOR_MASK: 0xff,
  DELIVERY_MODE_SHIFT: 8,
  DEST_MODE_LOGICAL: 0x800,
  DELIVERY_STATUS: 0x1000,
  LEVEL_ASSERT: 0x4000,
  TRIGGER_LEVEL: 0x8000,
  SHORTHAND_SHIFT: 18,
} as const;

/** Destination shorthands (ICR bits 19:18). */
export const DEST_SHORTHAND = { NONE: 0, SELF: 1, ALL_INCLUDING_SELF: 2, ALL_EXCLUDING_SELF: 3 } as const;

/** Error status register bits (SDM vol. 3 §10.5.3). */
export const ESR = {
  SEND_CHECKSUM: 0x1,
  RECEIVE_CHECKSUM: 0x2,
  SEND_ACCEPT: 0x4,
  RECEIVE_ACCEPT: 0x8,
  REDIRECTABLE_IPI: 0x10,
  SEND_ILLEGAL_VECTOR: 0x20,
  RECEIVED_ILLEGAL_VECTOR: 0x40,
  ILLEGAL_REGISTER_ADDRESS: 0x80,
} as const;

/** Spurious-interrupt vector register bits (SDM vol. 3 §10.9). */
export const SVR = {
  VECTOR_MASK: 0xff,
  APIC_SOFTWARE_ENABLE: 0x100,
  FOCUS_CHECK_DISABLE: 0x200,
  EOI_BROADCAST_SUPPRESSION: 0x1000,
} as const;
