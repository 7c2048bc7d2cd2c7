import type { PhysicalMemory } from '@exitless/x86';
import { APIC_REG, POSTED_INTERRUPT_DESCRIPTOR } from '@exitless/x86';

/**
 * The processor's side of APIC virtualization (Intel SDM vol. 3 ch. 29): the virtualized
 * APIC registers on the virtual-APIC page, RVI and SVI (the guest interrupt status), the
 * EOI-exit bitmap, and the pseudocode of §29.1.2–29.1.5 (TPR, PPR, EOI and self-IPI
 * virtualization), §29.2 (evaluation and delivery of pending virtual interrupts) and §29.6
 * (posted-interrupt processing). The CPU owns the control flow (when these run, the IDT
 * delivery and the VM exits); this object owns the state they read and write.
 *
 * The virtual-APIC page and the posted-interrupt descriptor are host-physical memory that
 * the processor reads and writes as 32-bit words: VTPR at 80H, VPPR at A0H, VEOI at B0H,
 * VISR at 100H–170H and VIRR at 200H–270H (each 256-bit register as eight dwords 16 bytes
 * apart), VICR_LO at 300H (§29.1.1). Nothing here allocates.
 */
export class ApicVirtualization {
  /** RVI: the requesting virtual interrupt, the guest interrupt status bits 7:0 (§29.1.1). */
  rvi = 0;
  /** SVI: the servicing virtual interrupt, bits 15:8. */
  svi = 0;
  /** True once a pending virtual interrupt is recognized (§29.2.1), until it is delivered. */
  recognized = false;
  /** Host-physical address of the virtual-APIC page (VMCS field 0x2012). */
  private page = 0;
  /** The EOI-exit bitmap, 256 bits as eight dwords (EOI_EXIT_BITMAP0 bits 31:0 first). */
  readonly eoiExitBitmap: Uint32Array = new Uint32Array(8);

  constructor(private readonly memory: PhysicalMemory) {}

  /** At VM entry: the virtual-APIC page and the guest interrupt status (§26.3.2.5). */
  load(virtualApicAddress: number, guestInterruptStatus: number): void {
    this.page = virtualApicAddress;
    this.rvi = guestInterruptStatus & 0xff;
    this.svi = (guestInterruptStatus >>> 8) & 0xff;
    this.recognized = false;
  }

  /** The guest interrupt status to save at VM exit: SVI in bits 15:8, RVI in bits 7:0 (§27.3.4). */
  get guestInterruptStatus(): number {
    return (this.svi << 8) | this.rvi;
  }

  /** A 32-bit word of the virtual-APIC page. */
  read(offset: number): number {
    return this.memory.read32(this.page + offset) >>> 0;
  }

  write(offset: number, value: number): void {
    this.memory.write32(this.page + offset, value >>> 0);
  }

  /**
   * `size` bytes of the virtual-APIC page at `offset`, little-endian: what a virtualized read
   * of the APIC-access page returns (SDM vol. 3 §29.4.2).
   */
  readBytes(offset: number, size: 1 | 2 | 4): number {
    const at = this.page + offset;
    if (size === 4) return this.memory.read32(at) >>> 0;
    return size === 2 ? this.memory.read16(at) : this.memory.read8(at);
  }

  /** Stores the low `size` bytes of `value` at `offset`: a virtualized write (§29.4.3.1). */
  writeBytes(offset: number, size: 1 | 2 | 4, value: number): void {
    const at = this.page + offset;
    if (size === 4) this.memory.write32(at, value >>> 0);
    else if (size === 2) this.memory.write16(at, value);
    else this.memory.write8(at, value);
  }

  /** VTPR bits 7:0. */
  get vtpr(): number {
    return this.read(APIC_REG.TPR) & 0xff;
  }

  /**
   * PPR virtualization (§29.1.3): VPPR ← VTPR & FFH if VTPR[7:4] ≥ SVI[7:4], else SVI & F0H.
   */
  virtualizePpr(): void {
    const vtpr = this.vtpr;
    this.write(APIC_REG.PPR, vtpr >>> 4 >= this.svi >>> 4 ? vtpr : this.svi & 0xf0);
  }

  /**
   * Evaluation of pending virtual interrupts (§29.2.1): a virtual interrupt is recognized when
   * "interrupt-window exiting" is 0 and RVI[7:4] > VPPR[7:4].
   */
  evaluate(interruptWindowExiting: boolean): void {
    const vppr = this.read(APIC_REG.PPR) & 0xff;
    this.recognized = !interruptWindowExiting && this.rvi >>> 4 > vppr >>> 4;
  }

  /**
   * Virtual-interrupt delivery (§29.2.2), the part before the IDT: VISR[RVI] ← 1, SVI ← RVI,
   * VPPR ← vector & F0H, VIRR[vector] ← 0, RVI ← the highest VIRR bit (0 if none), recognition
   * ceases. Returns the vector, which the CPU then delivers through the guest IDT.
   */
  deliver(): number {
    const vector = this.rvi;
    this.setBit(APIC_REG.ISR0, vector, true);
    this.svi = vector;
    this.write(APIC_REG.PPR, vector & 0xf0);
    this.setBit(APIC_REG.IRR0, vector, false);
    this.rvi = Math.max(0, this.highest(APIC_REG.IRR0));
    this.recognized = false;
    return vector;
  }

  /**
   * EOI virtualization (§29.1.4) up to the EOI-exit bitmap test: VISR[SVI] ← 0, SVI ← the
   * highest VISR bit (0 if none), PPR virtualization. Returns the vector whose EOI was
   * virtualized; the CPU then exits (reason 45) if `eoiExits(vector)`, else evaluates.
   */
  eoi(): number {
    const vector = this.svi;
    this.setBit(APIC_REG.ISR0, vector, false);
    this.svi = Math.max(0, this.highest(APIC_REG.ISR0));
    this.virtualizePpr();
    return vector;
  }

  /** EOI_EXIT_BITMAP[vector] (§24.6.8). */
  eoiExits(vector: number): boolean {
    return ((this.eoiExitBitmap[vector >>> 5]! >>> (vector & 31)) & 1) === 1;
  }

  /** Self-IPI virtualization (§29.1.5): VIRR[vector] ← 1, RVI ← max(RVI, vector); the CPU then evaluates. */
  selfIpi(vector: number): void {
    this.setBit(APIC_REG.IRR0, vector, true);
    if (vector > this.rvi) this.rvi = vector;
  }

  /**
   * Step 3 of posted-interrupt processing (§29.6) on the 64-byte descriptor at `descriptor`: ON
   * cleared, as a locked AND that leaves the rest of the descriptor alone.
   */
  clearOutstandingNotification(descriptor: number): void {
    const m = this.memory;
    const control = descriptor + POSTED_INTERRUPT_DESCRIPTOR.CONTROL;
    m.write32(control, (m.read32(control) & ~POSTED_INTERRUPT_DESCRIPTOR.ON) >>> 0);
  }

  /**
   * Steps 5 and 6 of posted-interrupt processing (§29.6): PIR ORed into VIRR and cleared, one
   * dword at a time with nothing in between (the simulator runs no other agent meanwhile, which
   * makes it atomic); RVI ← max(RVI, highest PIR bit), unchanged if PIR was empty. The CPU does
   * step 3 (clearOutstandingNotification) and step 4 (the LAPIC EOI) before, and 7 (evaluate)
   * after.
   */
  mergePostedRequests(descriptor: number): void {
    const m = this.memory;
    let highest = -1;
    for (let i = 7; i >= 0; i--) {
      const at = descriptor + POSTED_INTERRUPT_DESCRIPTOR.PIR + 4 * i;
      const pir = m.read32(at) >>> 0;
      if (pir === 0) continue;
      m.write32(at, 0);
      const virr = APIC_REG.IRR0 + 16 * i;
      this.write(virr, this.read(virr) | pir);
      if (highest < 0) highest = 32 * i + 31 - Math.clz32(pir);
    }
    if (highest > this.rvi) this.rvi = highest;
  }

  /** Sets or clears bit `vector` of the 256-bit register at `base` (VISR or VIRR). */
  private setBit(base: number, vector: number, on: boolean): void {
    const at = base + 16 * (vector >>> 5);
    const bit = 1 << (vector & 31);
    const w = this.read(at);
    this.write(at, on ? w | bit : w & ~bit);
  }

  /** The highest vector set in the 256-bit register at `base` (VISR or VIRR), or −1. */
  private highest(base: number): number {
    for (let i = 7; i >= 0; i--) {
      const w = this.read(base + 16 * i);
      if (w !== 0) return 32 * i + 31 - Math.clz32(w);
    }
    return -1;
  }
}

// ---------------------------------------------------------------- the APIC-access page

/**
 * The registers of SDM vol. 3 §29.4.2 whose reads "APIC-register virtualization" virtualizes,
 * by page offset: ID, version, TPR, EOI, LDR, DFR, SVR, ISR, TMR and IRR (eight each), ESR,
 * ICR low and high, the six LVT entries 320H–370H, the timer's initial count and divide
 * configuration. PPR (0A0H), APR, RRD, LVT CMCI (2F0H) and the current count (390H) are not in
 * the SDM's list, so their reads exit.
 */
const VIRTUALIZED_READS: readonly number[] = [
  0x020, 0x030, 0x080, 0x0b0, 0x0d0, 0x0e0, 0x0f0, 0x100, 0x110, 0x120, 0x130, 0x140, 0x150, 0x160, 0x170,
  0x180, 0x190, 0x1a0, 0x1b0, 0x1c0, 0x1d0, 0x1e0, 0x1f0, 0x200, 0x210, 0x220, 0x230, 0x240, 0x250, 0x260,
  0x270, 0x280, 0x300, 0x310, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370, 0x380, 0x3e0,
];

/**
 * The registers of SDM vol. 3 §29.4.3.1 whose writes "APIC-register virtualization"
 * virtualizes: ID, TPR, EOI, LDR, DFR, SVR, ESR, ICR low and high, the LVT entries 320H–370H,
 * the initial count and divide configuration (not version, ISR, TMR or IRR).
 */
const VIRTUALIZED_WRITES: readonly number[] = [
  0x020, 0x080, 0x0b0, 0x0d0, 0x0e0, 0x0f0, 0x280, 0x300, 0x310, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370,
  0x380, 0x3e0,
];

/** A 64-bit set of the registers at offsets 000H–3F0H (bit n is the register at n << 4). */
function registerSet(offsets: readonly number[]): Uint32Array {
  const set = new Uint32Array(2);
  for (const offset of offsets) {
    const n = offset >>> 4;
    set[n >>> 5] = (set[n >>> 5]! | (1 << (n & 31))) >>> 0;
  }
  return set;
}

const READ_SET = registerSet(VIRTUALIZED_READS);
const WRITE_SET = registerSet(VIRTUALIZED_WRITES);

/**
 * Is a linear access of `size` bytes at `offset` of the APIC-access page virtualized rather
 * than an APIC-access VM exit, given that "use TPR shadow" is 1 (SDM vol. 3 §29.4.2 for reads,
 * §29.4.3.1 for writes)? The access must lie in the low 4 bytes of a 16-byte-aligned register
 * (bits 3:2 of its first and last byte 0; an access of more than 32 bits, which no operation
 * here makes, always exits). Then with "APIC-register virtualization" 1 it is virtualized when
 * it falls in a listed register. With it 0, a read only at page offset 080H (TPR), and a write
 * at 080H, or, with "virtual-interrupt delivery" 1, also at 0B0H (EOI) and 300H (ICR low).
 * "Page offset" is the access's first byte: a byte written at 081H exits.
 */
export function apicAccessVirtualized(
  offset: number,
  size: 1 | 2 | 4,
  write: boolean,
  apicRegisterVirtualization: boolean,
  virtualInterruptDelivery: boolean,
): boolean {
  if ((offset & 0xf) + size > 4) return false;
  if (apicRegisterVirtualization) {
    const n = offset >>> 4;
    if (n >= 64) return false;
    const set = write ? WRITE_SET : READ_SET;
    return ((set[n >>> 5]! >>> (n & 31)) & 1) === 1;
  }
  if (offset === APIC_REG.TPR) return true;
  return write && virtualInterruptDelivery && (offset === APIC_REG.EOI || offset === APIC_REG.ICR_LOW);
}

/**
 * VICR_LO bits that must be 0 for self-IPI virtualization (SDM vol. 3 §29.4.3.2): the
 * reserved bits 31:20, 17:16 and 13, delivery status (12), trigger mode (15, edge) and
 * delivery mode (10:8, fixed). Destination mode (11) and level (14) are not examined.
 */
const SELF_IPI_ZERO_BITS = 0xfff3b700;
/** VICR_LO bits 19:18, the destination shorthand, and the value 01B (self). */
const SHORTHAND_MASK = 0xc0000;
const SHORTHAND_SELF = 0x40000;

/**
 * Does a write to VICR_LO (300H) with "virtual-interrupt delivery" 1 perform self-IPI
 * virtualization (SDM vol. 3 §29.4.3.2)? All the bits of SELF_IPI_ZERO_BITS 0, the shorthand
 * self, and vector bits 7:4 not 0000B. Otherwise the write takes an APIC-write VM exit.
 */
export function isVirtualizedSelfIpi(vicrLo: number): boolean {
  return (
    (vicrLo & SELF_IPI_ZERO_BITS) === 0 &&
    (vicrLo & SHORTHAND_MASK) === SHORTHAND_SELF &&
    (vicrLo & 0xf0) !== 0
  );
}
