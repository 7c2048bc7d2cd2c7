/**
 * How a VMX instruction ended (SDM vol. 3 §30.2, conventions): VMsucceed clears CF and ZF,
 * VMfailInvalid (no current VMCS) sets RFLAGS.CF, VMfailValid sets RFLAGS.ZF and writes
 * the error number to the VM-instruction error field. The values are those RFLAGS bits.
 */
export const VMX_STATUS = {
  /** VMsucceed: CF and ZF clear. */
  SUCCEED: 0,
  /** RFLAGS.CF (bit 0). */
  FAIL_INVALID: 0x1,
  /** RFLAGS.ZF (bit 6). */
  FAIL_VALID: 0x40,
} as const;
/** How a VMX instruction ended: one of the values of {@link VMX_STATUS}. */
export type VmxStatus = (typeof VMX_STATUS)[keyof typeof VMX_STATUS];
