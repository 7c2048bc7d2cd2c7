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
  /** Local APIC ID register. */
  ID: 0x020,
  /** Local APIC version register (version, max LVT entry, EOI-broadcast suppression support). */
  VERSION: 0x030,
  /** Task priority register (TPR). */
  TPR: 0x080,
  /** Arbitration priority register (APR). */
  APR: 0x090,
  /** Processor priority register (PPR), read-only. */
  PPR: 0x0a0,
  /** EOI register: a write ends the in-service interrupt of highest priority. */
  EOI: 0x0b0,
  /** Remote read register (RRD). */
  RRD: 0x0c0,
  /** Logical destination register (LDR). */
  LDR: 0x0d0,
  /** Destination format register (DFR; xAPIC only). */
  DFR: 0x0e0,
  /** Spurious-interrupt vector register (SVR, {@link SVR}). */
  SVR: 0x0f0,
  /** In-service register, bits 31:0; ISR n (vectors 32n…32n+31) is at ISR0 + 0x10·n, n = 0…7. */
  ISR0: 0x100,
  /** Trigger mode register, bits 31:0; TMR n is at TMR0 + 0x10·n. */
  TMR0: 0x180,
  /** Interrupt request register, bits 31:0; IRR n is at IRR0 + 0x10·n. */
  IRR0: 0x200,
  /** Error status register (ESR, {@link ESR}). */
  ESR: 0x280,
  /** LVT corrected machine-check error interrupt (CMCI). */
  LVT_CMCI: 0x2f0,
  /** Interrupt command register, bits 31:0 (a write sends the IPI). */
  ICR_LOW: 0x300,
  /** Interrupt command register, bits 63:32 (the destination field, bits 63:56, in xAPIC mode). */
  ICR_HIGH: 0x310,
  /** LVT timer register ({@link LVT}, {@link TIMER_MODE}). */
  LVT_TIMER: 0x320,
  /** LVT thermal sensor register. */
  LVT_THERMAL: 0x330,
  /** LVT performance monitoring counters register. */
  LVT_PERF: 0x340,
  /** LVT LINT0 register. */
  LVT_LINT0: 0x350,
  /** LVT LINT1 register. */
  LVT_LINT1: 0x360,
  /** LVT error register. */
  LVT_ERROR: 0x370,
  /** Initial count register of the APIC timer. */
  TIMER_INITIAL_COUNT: 0x380,
  /** Current count register of the APIC timer (read-only). */
  TIMER_CURRENT_COUNT: 0x390,
  /** Divide configuration register of the APIC timer. */
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
  /** IA32_TIME_STAMP_COUNTER (0x10). */
  IA32_TSC: 0x10,
  /** IA32_APIC_BASE (0x1B): APIC base address and mode ({@link APIC_BASE_MSR}). */
  IA32_APIC_BASE: 0x1b,
  /** IA32_FEATURE_CONTROL (0x3A): lock and VMXON enables. */
  IA32_FEATURE_CONTROL: 0x3a,
  /** IA32_TSC_DEADLINE (0x6E0): the TSC-deadline timer's target. */
  IA32_TSC_DEADLINE: 0x6e0,
  /** IA32_VMX_BASIC (0x480): VMCS revision, region size and capability bits (SDM vol. 3 appendix A.1). */
  IA32_VMX_BASIC: 0x480,
  /** IA32_VMX_PINBASED_CTLS (0x481): allowed settings of the pin-based controls. */
  IA32_VMX_PINBASED_CTLS: 0x481,
  /** IA32_VMX_PROCBASED_CTLS (0x482): allowed settings of the primary processor-based controls. */
  IA32_VMX_PROCBASED_CTLS: 0x482,
  /** IA32_VMX_EXIT_CTLS (0x483): allowed settings of the VM-exit controls. */
  IA32_VMX_EXIT_CTLS: 0x483,
  /** IA32_VMX_ENTRY_CTLS (0x484): allowed settings of the VM-entry controls. */
  IA32_VMX_ENTRY_CTLS: 0x484,
  /** IA32_VMX_MISC (0x485): miscellaneous VMX data (e.g. the preemption-timer rate). */
  IA32_VMX_MISC: 0x485,
  /** IA32_VMX_PROCBASED_CTLS2 (0x48B): allowed settings of the secondary processor-based controls. */
  IA32_VMX_PROCBASED_CTLS2: 0x48b,
  /** x2APIC ID register (read-only). */
  X2APIC_ID: 0x802,
  /** x2APIC version register. */
  X2APIC_VERSION: 0x803,
  /** x2APIC TPR. */
  X2APIC_TPR: 0x808,
  /** x2APIC PPR. */
  X2APIC_PPR: 0x80a,
  /** x2APIC EOI register (write 0). */
  X2APIC_EOI: 0x80b,
  /** x2APIC logical destination register (read-only). */
  X2APIC_LDR: 0x80d,
  /** x2APIC spurious-interrupt vector register. */
  X2APIC_SVR: 0x80f,
  /** x2APIC ISR bits 31:0; ISR n is at X2APIC_ISR0 + n. */
  X2APIC_ISR0: 0x810,
  /** x2APIC TMR bits 31:0; TMR n is at X2APIC_TMR0 + n. */
  X2APIC_TMR0: 0x818,
  /** x2APIC IRR bits 31:0; IRR n is at X2APIC_IRR0 + n. */
  X2APIC_IRR0: 0x820,
  /** x2APIC error status register. */
  X2APIC_ESR: 0x828,
  /** x2APIC LVT CMCI register. */
  X2APIC_LVT_CMCI: 0x82f,
  /** x2APIC interrupt command register (one 64-bit MSR). */
  X2APIC_ICR: 0x830,
  /** x2APIC LVT timer register. */
  X2APIC_LVT_TIMER: 0x832,
  /** x2APIC LVT thermal sensor register. */
  X2APIC_LVT_THERMAL: 0x833,
  /** x2APIC LVT performance monitoring register. */
  X2APIC_LVT_PERF: 0x834,
  /** x2APIC LVT LINT0 register. */
  X2APIC_LVT_LINT0: 0x835,
  /** x2APIC LVT LINT1 register. */
  X2APIC_LVT_LINT1: 0x836,
  /** x2APIC LVT error register. */
  X2APIC_LVT_ERROR: 0x837,
  /** x2APIC timer initial count register. */
  X2APIC_TIMER_INITIAL_COUNT: 0x838,
  /** x2APIC timer current count register (read-only). */
  X2APIC_TIMER_CURRENT_COUNT: 0x839,
  /** x2APIC timer divide configuration register. */
  X2APIC_TIMER_DIVIDE_CONFIG: 0x83e,
  /** x2APIC SELF IPI register (write-only: sends the vector in bits 7:0 to this APIC). */
  X2APIC_SELF_IPI: 0x83f,
} as const;

/** IA32_APIC_BASE bits (SDM vol. 3 §10.4.4, §10.12.1). */
export const APIC_BASE_MSR = {
  /** Bit 8: this processor is the bootstrap processor (BSP). */
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
  /** Bits 7:0: the vector. */
  VECTOR_MASK: 0xff,
  /** Shift of the delivery mode (bits 10:8). */
  DELIVERY_MODE_SHIFT: 8,
  /** Bit 12: delivery status (send pending; read-only). */
  DELIVERY_STATUS: 0x1000,
  /** Bit 13: interrupt input pin polarity (LINT0/LINT1). */
  POLARITY: 0x2000,
  /** Bit 14: remote IRR (level-triggered LINT0/LINT1; read-only). */
  REMOTE_IRR: 0x4000,
  /** Bit 15: level-triggered (LINT0/LINT1). */
  TRIGGER_LEVEL: 0x8000,
  /** Bit 16: the entry is masked. */
  MASKED: 0x10000,
  /** Shift of the timer mode (bits 18:17, LVT timer only; {@link TIMER_MODE}). */
  TIMER_MODE_SHIFT: 17,
} as const;

/** LVT timer modes (bits 18:17). */
export const TIMER_MODE = {
  /** One-shot, counting down from the initial count. */
  ONE_SHOT: 0,
  /** Periodic, reloading the initial count at zero. */
  PERIODIC: 1,
  /** TSC-deadline: fires when the TSC reaches IA32_TSC_DEADLINE. */
  TSC_DEADLINE: 2,
} as const;

/** ICR fields (SDM vol. 3 §10.6.1). */
export const ICR = {
  /** Bits 7:0: the vector. */
  VECTOR_MASK: 0xff,
  /** Shift of the delivery mode (bits 10:8). */
  DELIVERY_MODE_SHIFT: 8,
  /** Bit 11: logical destination mode (0 physical). */
  DEST_MODE_LOGICAL: 0x800,
  /** Bit 12: delivery status (send pending; xAPIC only). */
  DELIVERY_STATUS: 0x1000,
  /** Bit 14: level assert (0 for an INIT level de-assert). */
  LEVEL_ASSERT: 0x4000,
  /** Bit 15: level-triggered. */
  TRIGGER_LEVEL: 0x8000,
  /** Shift of the destination shorthand (bits 19:18; {@link DEST_SHORTHAND}). */
  SHORTHAND_SHIFT: 18,
} as const;

/** Destination shorthands (ICR bits 19:18). */
export const DEST_SHORTHAND = {
  /** No shorthand: the destination field says where. */
  NONE: 0,
  /** Self. */
  SELF: 1,
  /** All including self. */
  ALL_INCLUDING_SELF: 2,
  /** All excluding self. */
  ALL_EXCLUDING_SELF: 3,
} as const;

/** Error status register bits (SDM vol. 3 §10.5.3). */
export const ESR = {
  /** Bit 0: send checksum error (P6 and Pentium only). */
  SEND_CHECKSUM: 0x1,
  /** Bit 1: receive checksum error (P6 and Pentium only). */
  RECEIVE_CHECKSUM: 0x2,
  /** Bit 2: send accept error (P6 and Pentium only). */
  SEND_ACCEPT: 0x4,
  /** Bit 3: receive accept error (P6 and Pentium only). */
  RECEIVE_ACCEPT: 0x8,
  /** Bit 4: redirectable IPI (a lowest-priority IPI the processor does not support). */
  REDIRECTABLE_IPI: 0x10,
  /** Bit 5: send illegal vector. */
  SEND_ILLEGAL_VECTOR: 0x20,
  /** Bit 6: received illegal vector. */
  RECEIVED_ILLEGAL_VECTOR: 0x40,
  /** Bit 7: illegal register address. */
  ILLEGAL_REGISTER_ADDRESS: 0x80,
} as const;

/** Spurious-interrupt vector register bits (SDM vol. 3 §10.9). */
export const SVR = {
  /** Bits 7:0: the spurious vector. */
  VECTOR_MASK: 0xff,
  /** Bit 8: APIC software enable. */
  APIC_SOFTWARE_ENABLE: 0x100,
  /** Bit 9: focus processor checking disabled. */
  FOCUS_CHECK_DISABLE: 0x200,
  /** Bit 12: EOI-broadcast suppression. */
  EOI_BROADCAST_SUPPRESSION: 0x1000,
} as const;
