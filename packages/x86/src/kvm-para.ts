/**
 * KVM's paravirtual interface as a guest sees it (Linux arch/x86/include/uapi/asm/kvm_para.h,
 * Documentation/virtual/kvm/msr.txt and cpuid.txt): the custom MSRs in 0x4B564D00–0x4B564DFF
 * and their bits. Shared by the host (which emulates them) and the guest kernel (which writes
 * them), so they live here once.
 */

/** KVM's custom MSRs (kvm_para.h: "Custom MSRs falls in the range 0x4b564d00-0x4b564dff"). */
export const KVM_MSR = {
  /**
   * MSR_KVM_PV_EOI_EN: bit 0 enables paravirtual EOI; bit 1 is reserved and must be 0; bits
   * 63:2 hold the 4-byte-aligned guest-physical address of a 4-byte area in guest RAM, zeroed
   * by the guest before it writes the MSR (msr.txt).
   */
  PV_EOI_EN: 0x4b56_4d04,
} as const;

/** CPUID 0x40000001 EAX bit that says the host offers PV EOI (KVM_FEATURE_PV_EOI, cpuid.txt). */
export const KVM_FEATURE_PV_EOI = 6;

/** Bits of MSR_KVM_PV_EOI_EN's value and of the flag it points at. */
export const KVM_PV_EOI = {
  /** MSR bit 0 (KVM_MSR_ENABLED): PV EOI on. */
  MSR_ENABLED: 0x1,
  /** MSR bit 1: reserved, must be 0 (KVM refuses a value whose address part is not 4-byte aligned). */
  MSR_RESERVED: 0x2,
  /** The address must be 4-byte aligned (bits 1:0 of the address are the enable bit and the reserved bit). */
  ALIGNMENT: 4,
  /** The bit of the flag the host sets when the guest may skip its EOI write (KVM_PV_EOI_BIT). */
  FLAG_BIT: 0,
  /** The flag's value with that bit set (KVM_PV_EOI_ENABLED). */
  FLAG_ENABLED: 0x1,
  /** The flag's value with it clear (KVM_PV_EOI_DISABLED). */
  FLAG_DISABLED: 0x0,
} as const;

/** MSR_KVM_PV_EOI_EN's value for the flag at guest-physical `address` (4-byte aligned), enabled. */
export function encodePvEoiMsr(
  address: number,
  enabled: boolean,
): {
  /** EAX: bits 31:0 of the MSR value (the address's low bits, bit 0 the enable). */
  lo: number;
  /** EDX: bits 63:32 of the MSR value. */
  hi: number;
} {
  const lo = (address % 2 ** 32) >>> 0;
  return { lo: (lo | (enabled ? KVM_PV_EOI.MSR_ENABLED : 0)) >>> 0, hi: Math.floor(address / 2 ** 32) >>> 0 };
}
