/**
 * Message-signalled interrupts: the address/data pair a device writes.
 * Compatibility format: SDM vol. 3 §10.11.1 (figures 10-24, 10-25).
 * Remappable format: Intel VT-d specification §5.1.2.2 (figure 5-16).
 */

/** Bits 31:20 of every MSI address. */
export const MSI_ADDRESS_BASE = 0xfee00000;
/** The interrupt address range [0xFEE00000, 0xFEEFFFFF]. */
export const MSI_ADDRESS_MASK = 0xfff00000;

/** True if a memory write to `address` is an interrupt message (bits 31:20 = 0xFEE). */
export function isMsiAddress(address: number): boolean {
  return address >= 0xfee00000 && address <= 0xfeefffff;
}

/** Fields of a compatibility-format MSI (address and data). */
export interface CompatMsi {
  /** Destination APIC ID, 8 bits (address 19:12). */
  readonly destination: number;
  /** Redirection hint (address bit 3). */
  readonly redirectionHint: number;
  /** Destination mode: 0 physical, 1 logical (address bit 2). */
  readonly destMode: number;
  /** Vector (data 7:0). */
  readonly vector: number;
  /** Delivery mode (data 10:8). */
  readonly deliveryMode: number;
  /** Level: 1 assert (data bit 14). */
  readonly level: number;
  /** Trigger mode: 0 edge, 1 level (data bit 15). */
  readonly triggerMode: number;
}

/**
 * The address of a compatibility-format MSI: 0xFEE in bits 31:20, the destination APIC ID in bits 19:12,
 * the redirection hint in bit 3 and the destination mode in bit 2 (SDM vol. 3 §10.11.1).
 */
export function encodeCompatMsiAddress(
  m: Pick<CompatMsi, 'destination' | 'redirectionHint' | 'destMode'>,
): number {
  return (
    (MSI_ADDRESS_BASE |
      ((m.destination & 0xff) << 12) |
      ((m.redirectionHint & 1) << 3) |
      ((m.destMode & 1) << 2)) >>>
    0
  );
}

/**
 * The data of a compatibility-format MSI: vector in bits 7:0, delivery mode in bits 10:8, level in bit 14,
 * trigger mode in bit 15 (SDM vol. 3 §10.11.2).
 */
export function encodeCompatMsiData(
  m: Pick<CompatMsi, 'vector' | 'deliveryMode' | 'level' | 'triggerMode'>,
): number {
  return (
    ((m.vector & 0xff) |
      ((m.deliveryMode & 7) << 8) |
      ((m.level & 1) << 14) |
      ((m.triggerMode & 1) << 15)) >>>
    0
  );
}

/**
 * The fields of a compatibility-format MSI from its address and data (the inverse of {@link
 * encodeCompatMsiAddress} and {@link encodeCompatMsiData}).
 */
export function decodeCompatMsi(address: number, data: number): CompatMsi {
  return {
    destination: (address >>> 12) & 0xff,
    redirectionHint: (address >>> 3) & 1,
    destMode: (address >>> 2) & 1,
    vector: data & 0xff,
    deliveryMode: (data >>> 8) & 7,
    level: (data >>> 14) & 1,
    triggerMode: (data >>> 15) & 1,
  };
}

/** Address bit 4: the interrupt format (0 compatibility, 1 remappable). VT-d §5.1.2.2. */
export const MSI_ADDRESS_REMAPPABLE_FORMAT = 0x10;

/** True if the MSI address is in remappable format. */
export function isRemappableMsi(address: number): boolean {
  return (address & MSI_ADDRESS_REMAPPABLE_FORMAT) !== 0;
}

/** Fields of a remappable-format MSI. */
export interface RemappableMsi {
  /** 16-bit handle: address bits 19:5 hold handle[14:0], address bit 2 holds handle[15]. */
  readonly handle: number;
  /** Subhandle valid (address bit 3). */
  readonly shv: boolean;
  /** Subhandle (data 15:0), meaningful when shv. */
  readonly subhandle: number;
}

/**
 * The address of a remappable-format MSI (VT-d §5.1.2.2): 0xFEE in bits 31:20, handle[14:0] in bits 19:5,
 * the format bit 4 set, SHV in bit 3 and handle[15] in bit 2.
 */
export function encodeRemappableMsiAddress(m: Pick<RemappableMsi, 'handle' | 'shv'>): number {
  return (
    (MSI_ADDRESS_BASE |
      ((m.handle & 0x7fff) << 5) |
      MSI_ADDRESS_REMAPPABLE_FORMAT |
      (m.shv ? 1 << 3 : 0) |
      (((m.handle >>> 15) & 1) << 2)) >>>
    0
  );
}

/** The data of a remappable-format MSI: the subhandle in bits 15:0 (VT-d §5.1.2.2). */
export function encodeRemappableMsiData(m: Pick<RemappableMsi, 'subhandle'>): number {
  return m.subhandle & 0xffff;
}

/**
 * The handle, SHV and subhandle of a remappable-format MSI from its address and data (VT-d §5.1.2.2). The
 * caller checks {@link isRemappableMsi} first.
 */
export function decodeRemappableMsi(address: number, data: number): RemappableMsi {
  return {
    handle: ((address >>> 5) & 0x7fff) | (((address >>> 2) & 1) << 15),
    shv: ((address >>> 3) & 1) === 1,
    subhandle: data & 0xffff,
  };
}

/** The interrupt-remapping-table index a remappable MSI selects (VT-d §5.1.3): handle (+ subhandle if SHV). */
export function remappableMsiIndex(address: number, data: number): number {
  const handle = ((address >>> 5) & 0x7fff) | (((address >>> 2) & 1) << 15);
  return (address & (1 << 3)) !== 0 ? (handle + (data & 0xffff)) & 0xffff : handle;
}
