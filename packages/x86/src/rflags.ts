/** RFLAGS bits the models read or write (SDM vol. 1 §3.4.3, vol. 3 §2.3). */
export const RFLAGS = {
  /** Carry flag (bit 0). */
  CF: 0x1,
  /** Reserved, always 1 (bit 1). */
  FIXED1: 0x2,
  /** Zero flag (bit 6). */
  ZF: 0x40,
  /** Interrupt enable flag (bit 9): maskable external interrupts are delivered while set. */
  IF: 0x200,
} as const;
