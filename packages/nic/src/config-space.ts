import {
  encodeExtCapHeader,
  type MmioDevice,
  type MmioSize,
  PCI_BAR,
  PCI_CAP_NEXT,
  PCI_CFG,
  PCI_CONFIG_SPACE_SIZE,
  PCI_EXT_CAP_START,
  PCI_STATUS,
  type PciConfigSize,
  TWO_POW_32,
} from '@exitless/x86';
import { NicConfigError } from './errors.js';

/**
 * A BAR's MMIO window that answers only while its function decodes memory (reads all ones,
 * writes dropped otherwise, as an unclaimed PCI access ends).
 */
export function decodedWhen(
  enabled: () => boolean,
  read: (offset: number, size: MmioSize) => number,
  write: (offset: number, size: MmioSize, value: number) => void,
): MmioDevice {
  return {
    mmioRead: (offset, size) => (enabled() ? read(offset, size) : 0xffffffff),
    mmioWrite: (offset, size, value) => {
      if (enabled()) write(offset, size, value);
    },
  };
}

/**
 * A function's 4 KiB configuration space as bytes plus two per-byte masks: which bits
 * software may write (everything else is read-only, hardware-initialised) and which are
 * write-1-to-clear (status bits). BAR size probing falls out of the write mask: a memory
 * BAR's writable bits are exactly its address bits above the size, so writing all ones
 * reads back ~(size − 1) with the read-only type bits (PCI 3.0 §6.2.5.1).
 */
export class ConfigSpace {
  /** The 4 KiB of configuration space, as the function reads it. */
  readonly bytes: Uint8Array = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  private readonly writable = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  private readonly clearable = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  private lastCap = 0;
  private lastExtCap = 0;
  /** Accesses that were unaligned or beyond 4 KiB (reads return all ones, writes are dropped). */
  badAccesses = 0;

  /** Sets bytes as hardware initialises them (ignores the write masks). */
  init(offset: number, size: PciConfigSize, value: number): void {
    for (let i = 0; i < size; i++) this.bytes[offset + i] = (value >>> (8 * i)) & 0xff;
  }

  /** Marks `mask` bits of the `size`-byte register at `offset` as software-writable. */
  setWritable(offset: number, size: PciConfigSize, mask: number): void {
    for (let i = 0; i < size; i++) this.writable[offset + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Marks `mask` bits as write-1-to-clear. */
  setClearable(offset: number, size: PciConfigSize, mask: number): void {
    for (let i = 0; i < size; i++) this.clearable[offset + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** A configuration read as the function answers it: all ones outside the implemented space. */
  readAnswer(offset: number, size: PciConfigSize): number {
    if (!this.valid(offset, size)) return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    return this.read(offset, size);
  }

  /**
   * True for an access that real configuration cycles can carry (naturally aligned, inside 4 KiB); counts the
   * others as bad accesses.
   */
  valid(offset: number, size: PciConfigSize): boolean {
    if (
      Number.isInteger(offset) &&
      offset >= 0 &&
      offset + size <= PCI_CONFIG_SPACE_SIZE &&
      offset % size === 0
    ) {
      return true;
    }
    this.badAccesses++;
    return false;
  }

  /** Reads `size` bytes at `offset`, little-endian (the caller checked {@link ConfigSpace.valid}). */
  read(offset: number, size: PciConfigSize): number {
    const b = this.bytes;
    if (size === 1) return b[offset]!;
    if (size === 2) return b[offset]! | (b[offset + 1]! << 8);
    return (b[offset]! | (b[offset + 1]! << 8) | (b[offset + 2]! << 16) | (b[offset + 3]! << 24)) >>> 0;
  }

  /** Applies a software write through the masks. */
  write(offset: number, size: PciConfigSize, value: number): void {
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      const v = (value >>> (8 * i)) & 0xff;
      const w = this.writable[o]!;
      let byte = (this.bytes[o]! & ~w) | (v & w);
      byte &= ~(v & this.clearable[o]!);
      this.bytes[o] = byte & 0xff;
    }
  }

  /** Links a PCI-compatible capability with `id` at `offset` (≥ 0x40, dword aligned) into the list. */
  addCapability(offset: number, id: number): void {
    if (offset < 0x40 || offset > 0xfc || offset % 4 !== 0) {
      throw new NicConfigError(
        `capability 0x${id.toString(16)} at 0x${offset.toString(16)}: use a dword-aligned offset in 0x40…0xFC`,
      );
    }
    this.init(offset, 1, id);
    this.init(offset + PCI_CAP_NEXT, 1, 0);
    if (this.lastCap === 0) this.init(PCI_CFG.CAPABILITIES_POINTER, 1, offset);
    else this.init(this.lastCap + PCI_CAP_NEXT, 1, offset);
    this.lastCap = offset;
    this.init(PCI_CFG.STATUS, 2, this.read(PCI_CFG.STATUS, 2) | PCI_STATUS.CAPABILITIES_LIST);
  }

  /** Links an extended capability with `id` at `offset` (≥ 0x100, dword aligned) into the list. */
  addExtendedCapability(offset: number, id: number, version: number): void {
    if (offset < PCI_EXT_CAP_START || offset % 4 !== 0 || offset >= PCI_CONFIG_SPACE_SIZE) {
      throw new NicConfigError(
        `extended capability 0x${id.toString(16)}: offset must be dword aligned in 0x100…0xFFC`,
      );
    }
    if (this.lastExtCap === 0 && offset !== PCI_EXT_CAP_START) {
      throw new NicConfigError('the first extended capability must be at 0x100 (PCIe §7.9.2)');
    }
    this.init(offset, 4, encodeExtCapHeader(id, version, 0));
    if (this.lastExtCap !== 0) {
      const h = this.read(this.lastExtCap, 4);
      this.init(this.lastExtCap, 4, ((h & 0x000fffff) | (offset << 20)) >>> 0);
    }
    this.lastExtCap = offset;
  }

  /**
   * Defines a 64-bit memory BAR whose low dword is at `regOffset` (a header BAR or an
   * SR-IOV VF BAR) and whose size is `size` bytes (a power of two ≥ 16).
   */
  defineMemoryBar64(regOffset: number, size: number, prefetchable: boolean): void {
    if (!Number.isSafeInteger(size) || size < 16 || (size & (size - 1)) !== 0 || size > 0x80000000) {
      throw new NicConfigError(
        `BAR at 0x${regOffset.toString(16)}: size must be a power of two from 16 B to 2 GiB, got ${size}`,
      );
    }
    this.init(regOffset, 4, PCI_BAR.MEM_TYPE_64 | (prefetchable ? PCI_BAR.PREFETCHABLE : 0));
    this.init(regOffset + 4, 4, 0);
    this.setWritable(regOffset, 4, (~(size - 1) & PCI_BAR.MEM_ADDRESS_MASK) >>> 0);
    this.setWritable(regOffset + 4, 4, 0xffffffff);
  }

  /** The address a 64-bit memory BAR at `regOffset` decodes (type bits stripped). */
  memoryBar64(regOffset: number): number {
    const lo = (this.read(regOffset, 4) & PCI_BAR.MEM_ADDRESS_MASK) >>> 0;
    return this.read(regOffset + 4, 4) * TWO_POW_32 + lo;
  }
}
