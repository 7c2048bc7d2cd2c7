import type { MmioDevice, MmioSize } from './devices.js';
import type { PhysicalMemory } from './memory.js';

/** Thrown when a machine's address map is built wrong (overlapping or misaligned regions). */
export class AddressMapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressMapError';
  }
}

interface Region {
  readonly base: number;
  readonly size: number;
  readonly device: MmioDevice;
  readonly name: string;
}

/**
 * The host-physical address space as a CPU sees it: MMIO regions claimed by devices, and
 * RAM everywhere else that memory implements. Built once, in one readable place, by the
 * machine (like rp2040js's address map). An access that hits neither is an architectural
 * master abort: reads return all ones, writes are dropped, and both are counted.
 */
export class PhysicalBus {
  /** RAM: what an address no device claims reaches, below `memory.size`. */
  readonly memory: PhysicalMemory;
  private regions: Region[] = [];
  /** Accesses that hit no device and no RAM. */
  unclaimedAccesses = 0;

  constructor(memory: PhysicalMemory) {
    this.memory = memory;
  }

  /** Maps `device` at [base, base + size). Regions must not overlap. */
  map(name: string, base: number, size: number, device: MmioDevice): void {
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(size) || size <= 0 || base < 0) {
      throw new AddressMapError(`region '${name}': base and size must be non-negative integers (size > 0)`);
    }
    for (const r of this.regions) {
      if (base < r.base + r.size && r.base < base + size) {
        throw new AddressMapError(
          `region '${name}' [0x${base.toString(16)}, +0x${size.toString(16)}) overlaps '${r.name}' at 0x${r.base.toString(16)}`,
        );
      }
    }
    this.regions.push({ base, size, device, name });
    this.regions.sort((a, b) => a.base - b.base);
  }

  /** Removes the region mapped at `base` (a BAR moved or disabled). Returns false if none. */
  unmap(base: number): boolean {
    const i = this.regions.findIndex((r) => r.base === base);
    if (i < 0) return false;
    this.regions.splice(i, 1);
    return true;
  }

  /** The device region containing `address`, if any. */
  regionAt(address: number):
    | {
        /** Host-physical address of the region's first byte. */
        readonly base: number;
        /** The region's size, bytes. */
        readonly size: number;
        /** The device that claims the region. */
        readonly device: MmioDevice;
        /** The region's name. */
        readonly name: string;
      }
    | undefined {
    for (const r of this.regions) {
      if (address >= r.base && address < r.base + r.size) return r;
    }
    return undefined;
  }

  /** True if `address` is claimed by a device (not RAM). */
  isMmio(address: number): boolean {
    return this.regionAt(address) !== undefined;
  }

  /**
   * Reads `size` bytes at host-physical `address`: from the device that claims it, else RAM, else all ones
   * (counted as unclaimed).
   */
  read(address: number, size: MmioSize): number {
    const r = this.regionAt(address);
    if (r !== undefined) return r.device.mmioRead(address - r.base, size);
    if (address >= 0 && address + size <= this.memory.size) {
      return size === 4
        ? this.memory.read32(address)
        : size === 2
          ? this.memory.read16(address)
          : this.memory.read8(address);
    }
    this.unclaimedAccesses++;
    return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  }

  /**
   * Writes `size` bytes at host-physical `address`: to the device that claims it, else RAM, else dropped
   * (counted as unclaimed).
   */
  write(address: number, size: MmioSize, value: number): void {
    const r = this.regionAt(address);
    if (r !== undefined) {
      r.device.mmioWrite(address - r.base, size, value);
      return;
    }
    if (address >= 0 && address + size <= this.memory.size) {
      if (size === 4) this.memory.write32(address, value);
      else if (size === 2) this.memory.write16(address, value);
      else this.memory.write8(address, value);
      return;
    }
    this.unclaimedAccesses++;
  }
}

/** Access kinds for a guest-physical translation (the EPT's R/W/X). */
export const GPA_ACCESS = {
  /** A read. */
  READ: 1,
  /** A write. */
  WRITE: 2,
  /** An instruction fetch. */
  EXECUTE: 4,
} as const;

/**
 * The translation of guest-physical to host-physical addresses that EPT performs for a
 * VM (SDM vol. 3 §28.3). The paging structures themselves are not modeled bit by bit: the
 * hypervisor provides this map and binds it to a VMCS. A -1 result is an EPT violation.
 */
export interface GuestPhysicalMap {
  /** The host-physical address for `gpa` with access kind `access`, or -1 for an EPT violation. */
  translate(gpa: number, access: number): number;
  /**
   * The accesses (GPA_ACCESS bits) the map allows at `gpa`, 0 where nothing is mapped: the
   * CPU reports them in bits 5:3 of an EPT violation's exit qualification ("readable",
   * "writable", "executable", SDM vol. 3 §27.2.1, Table 27-7), which is how a hypervisor
   * tells a store to a read-only page from an access to an unmapped one. A map without it
   * reports 0 there.
   */
  permissions?(gpa: number): number;
}
