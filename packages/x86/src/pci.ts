/**
 * PCI and PCI Express configuration space: the contract between a PCI function (a NIC's
 * PF or VF) and whoever enumerates and assigns it (the host kernel, the hypervisor).
 * Layouts from the PCI Local Bus Specification 3.0 (§6.1–6.2 header, §6.7 capability
 * list, §6.8.2 MSI-X), the PCI Express Base Specification (§7.8 PCIe capability, §7.9
 * extended capabilities) and the Single Root I/O Virtualization and Sharing
 * Specification 1.1 (§3.3, the SR-IOV extended capability).
 */

/** Access sizes of a configuration read or write, in bytes. */
export type PciConfigSize = 1 | 2 | 4;

/**
 * One PCI function as configuration software sees it. Offsets are byte offsets in the
 * function's 4 KiB configuration space; a multi-byte access is little-endian and must be
 * naturally aligned (an unaligned access is the caller's error, as on real hardware where
 * the host bridge cannot issue it).
 */
export interface PciFunction {
  /** The function's requester ID, bus[15:8] device[7:3] function[2:0] (or an ARI function number in 7:0). */
  readonly requesterId: number;
  configRead(offset: number, size: PciConfigSize): number;
  configWrite(offset: number, size: PciConfigSize, value: number): void;
}

/** Size of a PCI Express function's configuration space. */
export const PCI_CONFIG_SPACE_SIZE = 4096;
/** Where the extended capability list starts (PCIe §7.9.1); below it is the 256-byte PCI-compatible space. */
export const PCI_EXT_CAP_START = 0x100;

/** Type-0 header register offsets (PCI 3.0 §6.1, figure 6-1). */
export const PCI_CFG = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  /** Class code: programming interface 0x09, sub-class 0x0A, base class 0x0B. */
  CLASS_PROG_IF: 0x09,
  CLASS_SUBCLASS: 0x0a,
  CLASS_BASE: 0x0b,
  CACHE_LINE_SIZE: 0x0c,
  LATENCY_TIMER: 0x0d,
  HEADER_TYPE: 0x0e,
  BIST: 0x0f,
  /** BAR n is at 0x10 + 4n, n = 0…5. */
  BAR0: 0x10,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  EXPANSION_ROM: 0x30,
  CAPABILITIES_POINTER: 0x34,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
} as const;

/** Command register bits (PCI 3.0 §6.2.2). */
export const PCI_COMMAND = {
  IO_SPACE: 0x0001,
  /** Memory Space Enable: the function answers memory accesses to its BARs. */
  MEMORY_SPACE: 0x0002,
  /** Bus Master Enable: the function may issue DMA and MSI/MSI-X writes. */
  BUS_MASTER: 0x0004,
  PARITY_ERROR_RESPONSE: 0x0040,
  SERR_ENABLE: 0x0100,
  INTX_DISABLE: 0x0400,
} as const;

/** Status register bits (PCI 3.0 §6.2.3). */
export const PCI_STATUS = {
  INTERRUPT_STATUS: 0x0008,
  /** The function implements the capability list at CAPABILITIES_POINTER. */
  CAPABILITIES_LIST: 0x0010,
  MASTER_DATA_PARITY_ERROR: 0x0100,
  SIGNALED_TARGET_ABORT: 0x0800,
  RECEIVED_TARGET_ABORT: 0x1000,
  RECEIVED_MASTER_ABORT: 0x2000,
  SIGNALED_SYSTEM_ERROR: 0x4000,
  DETECTED_PARITY_ERROR: 0x8000,
} as const;

/** Memory BAR low-dword bits (PCI 3.0 §6.2.5.1). */
export const PCI_BAR = {
  /** Bit 0: 1 for an I/O BAR. */
  IO_SPACE: 0x1,
  /** Bits 2:1 = 10b: a 64-bit memory BAR (the next BAR holds the high dword). */
  MEM_TYPE_64: 0x4,
  PREFETCHABLE: 0x8,
  /** Address bits of a memory BAR's low dword. */
  MEM_ADDRESS_MASK: 0xfffffff0,
} as const;

/** Capability IDs of the PCI-compatible list (PCI Code and ID Assignment Specification). */
export const PCI_CAP_ID = {
  POWER_MANAGEMENT: 0x01,
  MSI: 0x05,
  PCI_EXPRESS: 0x10,
  MSIX: 0x11,
} as const;

/** Extended capability IDs (PCIe §7.9). */
export const PCI_EXT_CAP_ID = {
  AER: 0x0001,
  DEVICE_SERIAL_NUMBER: 0x0003,
  ARI: 0x000e,
  SRIOV: 0x0010,
} as const;

/** MSI-X capability register offsets, relative to the capability (PCI 3.0 §6.8.2). */
export const MSIX_CAP = {
  MESSAGE_CONTROL: 0x02,
  /** Table Offset (31:3) and Table BIR (2:0). */
  TABLE: 0x04,
  /** PBA Offset (31:3) and PBA BIR (2:0). */
  PBA: 0x08,
  SIZE: 0x0c,
} as const;

/** MSI-X Message Control bits (PCI 3.0 §6.8.2.3). */
export const MSIX_CONTROL = {
  /** Table Size, encoded as N − 1. */
  TABLE_SIZE_MASK: 0x07ff,
  FUNCTION_MASK: 0x4000,
  ENABLE: 0x8000,
} as const;

/** The BIR field of the MSI-X Table and PBA registers: which BAR holds the structure. */
export const MSIX_BIR_MASK = 0x7;

/** An MSI-X table entry (PCI 3.0 §6.8.2.6–6.8.2.9): four dwords, 16 bytes. */
export const MSIX_ENTRY = {
  ADDRESS_LO: 0x0,
  ADDRESS_HI: 0x4,
  DATA: 0x8,
  VECTOR_CONTROL: 0xc,
  SIZE: 16,
  /** Vector Control bit 0: the vector is masked (set at reset). */
  MASK_BIT: 0x1,
} as const;

/** PCI Express capability offsets, relative to the capability (PCIe §7.8). */
export const PCIE_CAP = {
  CAPABILITIES: 0x02,
  DEVICE_CAPABILITIES: 0x04,
  DEVICE_CONTROL: 0x08,
  DEVICE_STATUS: 0x0a,
  LINK_CAPABILITIES: 0x0c,
  LINK_CONTROL: 0x10,
  LINK_STATUS: 0x12,
  /** A version-2 capability structure for an endpoint is 0x3C bytes long. */
  SIZE: 0x3c,
} as const;

/** SR-IOV extended capability offsets, relative to the capability (SR-IOV 1.1 §3.3, figure 3-1). */
export const SRIOV_CAP = {
  CAPABILITIES: 0x04,
  CONTROL: 0x08,
  STATUS: 0x0a,
  INITIAL_VFS: 0x0c,
  TOTAL_VFS: 0x0e,
  NUM_VFS: 0x10,
  FUNCTION_DEPENDENCY_LINK: 0x12,
  FIRST_VF_OFFSET: 0x14,
  VF_STRIDE: 0x16,
  VF_DEVICE_ID: 0x1a,
  SUPPORTED_PAGE_SIZES: 0x1c,
  SYSTEM_PAGE_SIZE: 0x20,
  /** VF BAR n is at 0x24 + 4n, n = 0…5. */
  VF_BAR0: 0x24,
  VF_MIGRATION_STATE_ARRAY: 0x3c,
  SIZE: 0x40,
} as const;

/** SR-IOV Control bits (SR-IOV 1.1 §3.3.3). */
export const SRIOV_CONTROL = {
  VF_ENABLE: 0x0001,
  VF_MIGRATION_ENABLE: 0x0002,
  VF_MIGRATION_INTERRUPT_ENABLE: 0x0004,
  /** VF Memory Space Enable: the VFs answer accesses to their BARs. */
  VF_MSE: 0x0008,
  ARI_CAPABLE_HIERARCHY: 0x0010,
} as const;

/** The next-capability pointer of a PCI-compatible capability at `offset` (byte offset + 1). */
export const PCI_CAP_NEXT = 1;

/** Fields of an extended capability header (PCIe §7.9.3): ID 15:0, version 19:16, next 31:20. */
export function decodeExtCapHeader(header: number): { id: number; version: number; next: number } {
  return { id: header & 0xffff, version: (header >>> 16) & 0xf, next: (header >>> 20) & 0xffc };
}

/** Encodes an extended capability header. */
export function encodeExtCapHeader(id: number, version: number, next: number): number {
  return ((id & 0xffff) | ((version & 0xf) << 16) | ((next & 0xfff) << 20)) >>> 0;
}

/**
 * Walks the PCI-compatible capability list (PCI 3.0 §6.7) and returns the offset of the
 * first capability with `id`, or 0 if absent. Stops after 48 entries (the most that fit
 * in 192 bytes), so a looping list cannot hang configuration software.
 */
export function findCapability(fn: PciFunction, id: number): number {
  if ((fn.configRead(PCI_CFG.STATUS, 2) & PCI_STATUS.CAPABILITIES_LIST) === 0) return 0;
  let ptr = fn.configRead(PCI_CFG.CAPABILITIES_POINTER, 1) & 0xfc;
  for (let n = 0; ptr >= 0x40 && n < 48; n++) {
    if (fn.configRead(ptr, 1) === id) return ptr;
    ptr = fn.configRead(ptr + PCI_CAP_NEXT, 1) & 0xfc;
  }
  return 0;
}

/**
 * Walks the extended capability list from 0x100 (PCIe §7.9.2) and returns the offset of
 * the first capability with `id`, or 0. A header of 0 (or all ones) ends the list.
 */
export function findExtendedCapability(fn: PciFunction, id: number): number {
  let ptr = PCI_EXT_CAP_START;
  for (let n = 0; ptr >= PCI_EXT_CAP_START && n < 960; n++) {
    const header = fn.configRead(ptr, 4);
    if (header === 0 || header === 0xffffffff) return 0;
    if ((header & 0xffff) === id) return ptr;
    ptr = (header >>> 20) & 0xffc;
  }
  return 0;
}
