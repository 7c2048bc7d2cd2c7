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
  /** Reads `size` bytes of configuration space at byte `offset`. */
  configRead(offset: number, size: PciConfigSize): number;
  /** Writes `size` bytes of configuration space at byte `offset`. */
  configWrite(offset: number, size: PciConfigSize, value: number): void;
}

/** Size of a PCI Express function's configuration space. */
export const PCI_CONFIG_SPACE_SIZE = 4096;
/** Where the extended capability list starts (PCIe §7.9.1); below it is the 256-byte PCI-compatible space. */
export const PCI_EXT_CAP_START = 0x100;

/** Type-0 header register offsets (PCI 3.0 §6.1, figure 6-1). */
export const PCI_CFG = {
  /** Vendor ID (16 bits). */
  VENDOR_ID: 0x00,
  /** Device ID (16 bits). */
  DEVICE_ID: 0x02,
  /** Command register (16 bits, {@link PCI_COMMAND}). */
  COMMAND: 0x04,
  /** Status register (16 bits, {@link PCI_STATUS}). */
  STATUS: 0x06,
  /** Revision ID (8 bits). */
  REVISION_ID: 0x08,
  /** Class code: programming interface 0x09, sub-class 0x0A, base class 0x0B. */
  CLASS_PROG_IF: 0x09,
  /** Class code: sub-class. */
  CLASS_SUBCLASS: 0x0a,
  /** Class code: base class. */
  CLASS_BASE: 0x0b,
  /** Cache line size (8 bits). */
  CACHE_LINE_SIZE: 0x0c,
  /** Latency timer (8 bits). */
  LATENCY_TIMER: 0x0d,
  /** Header type (8 bits; bit 7 marks a multi-function device). */
  HEADER_TYPE: 0x0e,
  /** Built-in self test (8 bits). */
  BIST: 0x0f,
  /** BAR n is at 0x10 + 4n, n = 0…5. */
  BAR0: 0x10,
  /** Subsystem vendor ID (16 bits). */
  SUBSYSTEM_VENDOR_ID: 0x2c,
  /** Subsystem ID (16 bits). */
  SUBSYSTEM_ID: 0x2e,
  /** Expansion ROM base address. */
  EXPANSION_ROM: 0x30,
  /** Capabilities pointer: offset of the first capability (8 bits). */
  CAPABILITIES_POINTER: 0x34,
  /** Interrupt line (8 bits; software-written routing information). */
  INTERRUPT_LINE: 0x3c,
  /** Interrupt pin (8 bits; 0 for none, 1–4 for INTA#–INTD#). */
  INTERRUPT_PIN: 0x3d,
} as const;

/** Command register bits (PCI 3.0 §6.2.2). */
export const PCI_COMMAND = {
  /** Bit 0: I/O Space Enable. */
  IO_SPACE: 0x0001,
  /** Memory Space Enable: the function answers memory accesses to its BARs. */
  MEMORY_SPACE: 0x0002,
  /** Bus Master Enable: the function may issue DMA and MSI/MSI-X writes. */
  BUS_MASTER: 0x0004,
  /** Bit 6: Parity Error Response. */
  PARITY_ERROR_RESPONSE: 0x0040,
  /** Bit 8: SERR# Enable. */
  SERR_ENABLE: 0x0100,
  /** Bit 10: Interrupt Disable (INTx emulation off). */
  INTX_DISABLE: 0x0400,
} as const;

/** Status register bits (PCI 3.0 §6.2.3). */
export const PCI_STATUS = {
  /** Bit 3: Interrupt Status (an INTx interrupt is pending). */
  INTERRUPT_STATUS: 0x0008,
  /** The function implements the capability list at CAPABILITIES_POINTER. */
  CAPABILITIES_LIST: 0x0010,
  /** Bit 8: Master Data Parity Error. */
  MASTER_DATA_PARITY_ERROR: 0x0100,
  /** Bit 11: Signaled Target Abort. */
  SIGNALED_TARGET_ABORT: 0x0800,
  /** Bit 12: Received Target Abort. */
  RECEIVED_TARGET_ABORT: 0x1000,
  /** Bit 13: Received Master Abort. */
  RECEIVED_MASTER_ABORT: 0x2000,
  /** Bit 14: Signaled System Error. */
  SIGNALED_SYSTEM_ERROR: 0x4000,
  /** Bit 15: Detected Parity Error. */
  DETECTED_PARITY_ERROR: 0x8000,
} as const;

/** Memory BAR low-dword bits (PCI 3.0 §6.2.5.1). */
export const PCI_BAR = {
  /** Bit 0: 1 for an I/O BAR. */
  IO_SPACE: 0x1,
  /** Bits 2:1 = 10b: a 64-bit memory BAR (the next BAR holds the high dword). */
  MEM_TYPE_64: 0x4,
  /** Bit 3: prefetchable memory. */
  PREFETCHABLE: 0x8,
  /** Address bits of a memory BAR's low dword. */
  MEM_ADDRESS_MASK: 0xfffffff0,
} as const;

/** Capability IDs of the PCI-compatible list (PCI Code and ID Assignment Specification). */
export const PCI_CAP_ID = {
  /** PCI Power Management capability. */
  POWER_MANAGEMENT: 0x01,
  /** MSI capability. */
  MSI: 0x05,
  /** PCI Express capability. */
  PCI_EXPRESS: 0x10,
  /** MSI-X capability. */
  MSIX: 0x11,
} as const;

/** Extended capability IDs (PCIe §7.9). */
export const PCI_EXT_CAP_ID = {
  /** Advanced Error Reporting. */
  AER: 0x0001,
  /** Device Serial Number. */
  DEVICE_SERIAL_NUMBER: 0x0003,
  /** Alternative Routing-ID Interpretation (ARI). */
  ARI: 0x000e,
  /** Single Root I/O Virtualization (SR-IOV). */
  SRIOV: 0x0010,
} as const;

/** MSI-X capability register offsets, relative to the capability (PCI 3.0 §6.8.2). */
export const MSIX_CAP = {
  /** Message Control (16 bits, {@link MSIX_CONTROL}). */
  MESSAGE_CONTROL: 0x02,
  /** Table Offset (31:3) and Table BIR (2:0). */
  TABLE: 0x04,
  /** PBA Offset (31:3) and PBA BIR (2:0). */
  PBA: 0x08,
  /** Size of the capability, bytes. */
  SIZE: 0x0c,
} as const;

/** MSI-X Message Control bits (PCI 3.0 §6.8.2.3). */
export const MSIX_CONTROL = {
  /** Table Size, encoded as N − 1. */
  TABLE_SIZE_MASK: 0x07ff,
  /** Bit 14: Function Mask (every vector masked). */
  FUNCTION_MASK: 0x4000,
  /** Bit 15: MSI-X Enable. */
  ENABLE: 0x8000,
} as const;

/** The BIR field of the MSI-X Table and PBA registers: which BAR holds the structure. */
export const MSIX_BIR_MASK = 0x7;

/** An MSI-X table entry (PCI 3.0 §6.8.2.6–6.8.2.9): four dwords, 16 bytes. */
export const MSIX_ENTRY = {
  /** Message Address, bits 31:0. */
  ADDRESS_LO: 0x0,
  /** Message Upper Address, bits 63:32. */
  ADDRESS_HI: 0x4,
  /** Message Data. */
  DATA: 0x8,
  /** Vector Control ({@link MSIX_ENTRY.MASK_BIT}). */
  VECTOR_CONTROL: 0xc,
  /** Size of an entry, bytes. */
  SIZE: 16,
  /** Vector Control bit 0: the vector is masked (set at reset). */
  MASK_BIT: 0x1,
} as const;

/** PCI Express capability offsets, relative to the capability (PCIe §7.8). */
export const PCIE_CAP = {
  /** PCI Express Capabilities register (16 bits). */
  CAPABILITIES: 0x02,
  /** Device Capabilities register. */
  DEVICE_CAPABILITIES: 0x04,
  /** Device Control register (16 bits). */
  DEVICE_CONTROL: 0x08,
  /** Device Status register (16 bits). */
  DEVICE_STATUS: 0x0a,
  /** Link Capabilities register. */
  LINK_CAPABILITIES: 0x0c,
  /** Link Control register (16 bits). */
  LINK_CONTROL: 0x10,
  /** Link Status register (16 bits). */
  LINK_STATUS: 0x12,
  /** A version-2 capability structure for an endpoint is 0x3C bytes long. */
  SIZE: 0x3c,
} as const;

/** SR-IOV extended capability offsets, relative to the capability (SR-IOV 1.1 §3.3, figure 3-1). */
export const SRIOV_CAP = {
  /** SR-IOV Capabilities register. */
  CAPABILITIES: 0x04,
  /** SR-IOV Control register (16 bits, {@link SRIOV_CONTROL}). */
  CONTROL: 0x08,
  /** SR-IOV Status register (16 bits). */
  STATUS: 0x0a,
  /** InitialVFs (16 bits). */
  INITIAL_VFS: 0x0c,
  /** TotalVFs (16 bits). */
  TOTAL_VFS: 0x0e,
  /** NumVFs (16 bits): how many VFs are visible after VF Enable. */
  NUM_VFS: 0x10,
  /** Function Dependency Link (8 bits). */
  FUNCTION_DEPENDENCY_LINK: 0x12,
  /** First VF Offset (16 bits): the first VF's routing ID minus the PF's. */
  FIRST_VF_OFFSET: 0x14,
  /** VF Stride (16 bits): the routing-ID distance between consecutive VFs. */
  VF_STRIDE: 0x16,
  /** VF Device ID (16 bits). */
  VF_DEVICE_ID: 0x1a,
  /** Supported Page Sizes. */
  SUPPORTED_PAGE_SIZES: 0x1c,
  /** System Page Size. */
  SYSTEM_PAGE_SIZE: 0x20,
  /** VF BAR n is at 0x24 + 4n, n = 0…5. */
  VF_BAR0: 0x24,
  /** VF Migration State Array Offset. */
  VF_MIGRATION_STATE_ARRAY: 0x3c,
  /** Size of the capability, bytes. */
  SIZE: 0x40,
} as const;

/** SR-IOV Control bits (SR-IOV 1.1 §3.3.3). */
export const SRIOV_CONTROL = {
  /** Bit 0: VF Enable. */
  VF_ENABLE: 0x0001,
  /** Bit 1: VF Migration Enable. */
  VF_MIGRATION_ENABLE: 0x0002,
  /** Bit 2: VF Migration Interrupt Enable. */
  VF_MIGRATION_INTERRUPT_ENABLE: 0x0004,
  /** VF Memory Space Enable: the VFs answer accesses to their BARs. */
  VF_MSE: 0x0008,
  /** Bit 4: ARI Capable Hierarchy. */
  ARI_CAPABLE_HIERARCHY: 0x0010,
} as const;

/** The next-capability pointer of a PCI-compatible capability at `offset` (byte offset + 1). */
export const PCI_CAP_NEXT = 1;

/** Fields of an extended capability header (PCIe §7.9.3): ID 15:0, version 19:16, next 31:20. */
export function decodeExtCapHeader(header: number): {
  /** Capability ID, bits 15:0. */
  id: number;
  /** Capability version, bits 19:16. */
  version: number;
  /** Offset of the next capability, bits 31:20 (its bits 1:0 read as 0), or 0 at the end of the list. */
  next: number;
} {
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
