/**
 * The board's layout as data: where it maps things (AddressMap), and what a NIC's slot says of
 * its VFs, wire and PCIe link (NicLayout) — checked here, for `new Board` and for
 * `validateMachineConfig` alike, so that a machine file's layout is refused before any run.
 */
import { MachineConfigError } from './errors.js';
import { describeRange, describeValue, inRange, isRecord, type NumberRange } from './validate.js';

const MIB = 1024 * 1024;

/** The most NICs a board takes (PCI buses 3 to 10). */
export const MAX_NICS = 8;

/**
 * Where the board places what it maps into physical address space: the VT-d register page, each
 * NIC's VF BAR windows (host-physical), and where a guest sees its VF's BARs (guest-physical).
 * Every window is below 4 GiB (the VF BARs are 32-bit), outside the interrupt address range
 * 0xFEE0_0000–0xFEEF_FFFF (an MSI's; SDM vol. 3 §10.11.1), and clear of RAM: the host's own
 * pages (0 – 128 MiB under a host) or the bare-metal OS's RAM, and, guest-physical, the guest's
 * RAM.
 */
export interface AddressMap {
  /** The VT-d register page (the DMAR's register base), 4 KiB. Default 0xFED9_0000, as on the era's Intel chipsets. */
  readonly iommuRegisters: number;
  /** NIC 0's VF BAR0 window: the PF's SR-IOV VF BAR0, VF n at n × the BAR's size above it. Default 0xF000_0000. */
  readonly vfBar0: number;
  /** NIC 0's VF BAR3 (MSI-X) window. Default 0xF100_0000. */
  readonly vfBar3: number;
  /** How far NIC k's windows sit above NIC k − 1's; each window may hold this much. Default 2 MiB. */
  readonly nicStride: number;
  /** Where a guest sees its VF's BAR0 (guest-physical); its RAM ends below. Default 0xF000_0000. */
  readonly guestBar0: number;
  /** Where a guest sees its VF's BAR3. Default 0xF100_0000. */
  readonly guestBar3: number;
}

/** The board's address map unless its spec places things otherwise. */
export const DEFAULT_ADDRESS_MAP: AddressMap = {
  iommuRegisters: 0xfed9_0000,
  vfBar0: 0xf000_0000,
  vfBar3: 0xf100_0000,
  nicStride: 0x0020_0000,
  guestBar0: 0xf000_0000,
  guestBar3: 0xf100_0000,
};

/**
 * A NIC's slot as data: how many VFs the host's PF driver enables, its wire to the load
 * generators and its PCIe link's one-way latencies (each default: the profile's).
 */
export interface NicLayout {
  /** How many VFs the host's PF driver enables (at least one per guest on the NIC). */
  readonly vfs: number;
  /** Its wire to the load generators (default the profile's `nic.lineRate` and `nic.linkLatencyNs`). */
  readonly wire?: {
    /** Line rate, bits per second. */
    readonly bitsPerSecond?: number;
    /** One-way latency, ns. */
    readonly latencyNs?: number;
  };
  /** Its PCIe link's one-way latencies (default the profile's `pcie.postedWriteNs` and `pcie.msiNs`). */
  readonly link?: {
    /** A posted write's (the CPU's store to a BAR) one-way latency, ns. */
    readonly postedWriteNs?: number;
    /** An MSI's one-way latency from the device to the root complex, ns. */
    readonly msiNs?: number;
  };
}

/** What a NIC slot's numbers accept (a board's, MachineConfig's `nics`, a machine file's). */
export const NIC_LIMITS: {
  readonly vfs: NumberRange;
  readonly wire: { readonly bitsPerSecond: NumberRange; readonly latencyNs: NumberRange };
  readonly link: { readonly postedWriteNs: NumberRange; readonly msiNs: NumberRange };
} = {
  vfs: { min: 1, max: 64, integer: true, why: "the 82599's VFs" },
  wire: {
    bitsPerSecond: { min: 1e6, max: 1e12, unit: 'b/s', why: '1 Mb/s to 1 Tb/s' },
    latencyNs: { min: 0, max: 1e9, unit: 'ns' },
  },
  link: {
    postedWriteNs: { min: 0, max: 1e6, unit: 'ns' },
    msiNs: { min: 0, max: 1e6, unit: 'ns' },
  },
};

/** What an address map's entries accept: page-aligned, 32-bit. */
export const ADDRESS_RANGE: NumberRange = {
  min: 0,
  max: 0xffff_f000,
  integer: true,
  multipleOf: 0x1000,
  why: 'a 4 KiB page below 4 GiB: the VF BARs are 32-bit',
};

/** Checks a NIC slot's data (`where`: `nic`, `nics[1]`) against NIC_LIMITS; a key it does not know is an error too. */
export function checkNicLayout(where: string, slot: NicLayout): void {
  if (!inRange(slot.vfs, NIC_LIMITS.vfs)) {
    throw new MachineConfigError(
      `${where}.vfs must be ${describeRange(NIC_LIMITS.vfs)}, got ${describeValue(slot.vfs)}`,
    );
  }
  for (const part of ['wire', 'link'] as const) {
    const value: unknown = slot[part];
    const limits: Readonly<Record<string, NumberRange>> = NIC_LIMITS[part];
    const keys = Object.keys(limits);
    if (value === undefined) continue;
    if (!isRecord(value)) {
      throw new MachineConfigError(
        `${where}.${part} must be a mapping of ${keys.join(', ')}, got ${describeValue(value)}`,
      );
    }
    for (const [k, v] of Object.entries(value)) {
      const range = limits[k];
      if (range === undefined) {
        throw new MachineConfigError(
          `${where}.${part}.${k} is not a field of ${where}.${part}: use ${keys.join(', ')}`,
        );
      }
      if (v !== undefined && !inRange(v, range)) {
        throw new MachineConfigError(
          `${where}.${part}.${k} must be ${describeRange(range)}, got ${describeValue(v)}`,
        );
      }
    }
  }
}

/** A range of physical addresses a board maps something at, named for its errors. */
interface Window {
  readonly name: string;
  readonly base: number;
  readonly size: number;
}

const FOUR_GIB = 0x1_0000_0000;
/** The interrupt address range: a write here is an MSI, not a memory access (SDM vol. 3 §10.11.1). */
const INTERRUPT_WINDOW: Window = { name: 'the interrupt address range', base: 0xfee0_0000, size: 0x10_0000 };
/** The host's own pages under a host: its kernel, VMCSs, tables, and the IOMMU's (HOST_LAYOUT). */
const HOST_PAGES: Window = { name: "the host's own pages", base: 0, size: 0x0800_0000 };

const hex = (n: number): string => `0x${n.toString(16).toUpperCase()}`;

/** The first two windows of `windows` that overlap, or null. */
function overlapping(windows: readonly Window[]): [Window, Window] | null {
  for (const [i, a] of windows.entries())
    for (const b of windows.slice(i + 1))
      if (a.base < b.base + b.size && b.base < a.base + a.size) return [a, b];
  return null;
}

/** What the address map is checked against: how many NICs, whether a host runs, each guest's RAM. */
export interface AddressMapContext {
  /** How many NICs the machine has. */
  readonly nics: number;
  /** A host runs the guests in VMs (else: bare metal, one OS at host-physical 0). */
  readonly virtualized: boolean;
  /** Each guest's RAM, MiB (bare metal: the OS's). */
  readonly guestMemoryMiB: readonly number[];
}

/**
 * Checks an address map (a board's `addresses`, MachineConfig's): every entry a multiple of
 * 4 KiB below 4 GiB, and no window on another, on RAM or on the interrupt range. Throws a
 * MachineConfigError naming the entries at fault and the addresses.
 */
export function checkAddresses(given: unknown, context: AddressMapContext): AddressMap {
  if (given !== undefined && !isRecord(given)) {
    throw new MachineConfigError(
      `addresses must be a mapping of ${Object.keys(DEFAULT_ADDRESS_MAP).join(', ')}, got ${describeValue(given)}`,
    );
  }
  const a = { ...DEFAULT_ADDRESS_MAP, ...given } as AddressMap;
  for (const key of Object.keys(given ?? {})) {
    if (!(key in DEFAULT_ADDRESS_MAP)) {
      throw new MachineConfigError(
        `addresses.${key} is not an address the board places: use ${Object.keys(DEFAULT_ADDRESS_MAP).join(', ')}`,
      );
    }
  }
  for (const [key, value] of Object.entries(a)) {
    if (!inRange(value, ADDRESS_RANGE)) {
      throw new MachineConfigError(
        `addresses.${key} must be a multiple of 4 KiB below 4 GiB (the VF BARs are 32-bit), got ${typeof value === 'number' && Number.isInteger(value) ? hex(value) : describeValue(value)}`,
      );
    }
  }
  if (a.nicStride === 0) throw new MachineConfigError('addresses.nicStride must be at least 4 KiB, got 0');
  const host: Window[] = [{ name: 'addresses.iommuRegisters', base: a.iommuRegisters, size: 0x1000 }];
  for (let k = 0; k < context.nics; k++) {
    const nic = k === 0 ? '' : ` + ${k} × nicStride (NIC ${k})`;
    host.push({ name: `addresses.vfBar0${nic}`, base: a.vfBar0 + k * a.nicStride, size: a.nicStride });
    host.push({ name: `addresses.vfBar3${nic}`, base: a.vfBar3 + k * a.nicStride, size: a.nicStride });
  }
  const ram: Window = context.virtualized
    ? HOST_PAGES
    : { name: "the OS's RAM", base: 0, size: (context.guestMemoryMiB[0] ?? 0) * MIB };
  for (const w of host) {
    if (w.base + w.size > FOUR_GIB) {
      throw new MachineConfigError(`${w.name} (${hex(w.base)}, ${hex(w.size)} bytes) must end below 4 GiB`);
    }
  }
  const clash = overlapping([...host, INTERRUPT_WINDOW, ram]);
  if (clash !== null) {
    const [x, y] = clash;
    throw new MachineConfigError(
      `${x.name} (${hex(x.base)}–${hex(x.base + x.size - 1)}) overlaps ${y.name} (${hex(y.base)}–${hex(y.base + y.size - 1)})`,
    );
  }
  if (context.virtualized) {
    const lowest = Math.min(a.guestBar0, a.guestBar3);
    for (const [i, mib] of context.guestMemoryMiB.entries()) {
      if (mib * MIB > lowest) {
        throw new MachineConfigError(
          `guests[${i}].memoryMiB (${mib}) must end at or below the guest's VF BARs (addresses.guestBar0/guestBar3, the lowest at ${hex(lowest)}: ${lowest / MIB} MiB)`,
        );
      }
    }
  }
  return a;
}

/** Checks the guest-physical windows of a guest's VF BARs, once the NIC has said their sizes. */
export function checkGuestBars(a: AddressMap, size0: number, size3: number): void {
  const bars: Window[] = [
    { name: 'addresses.guestBar0', base: a.guestBar0, size: size0 },
    { name: 'addresses.guestBar3', base: a.guestBar3, size: size3 },
  ];
  for (const w of bars) {
    if (w.base % w.size !== 0 || w.base + w.size > FOUR_GIB) {
      throw new MachineConfigError(
        `${w.name} (${hex(w.base)}) must be a multiple of the BAR's size (${hex(w.size)} bytes) and end below 4 GiB`,
      );
    }
  }
  const clash = overlapping([...bars, INTERRUPT_WINDOW]);
  if (clash !== null) {
    throw new MachineConfigError(`${clash[0].name} overlaps ${clash[1].name} in the guest's address space`);
  }
}
