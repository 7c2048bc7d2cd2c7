import { MSIX_CAP, PCI_CAP_ID, PCIE_CAP } from '@exitless/x86';
import type { ConfigSpace } from './config-space.js';

/** MSI-X table and PBA placement inside the MSI-X BAR (82599 §9.3.8: table at 0, PBA at 0x2000). */
export const MSIX_TABLE_OFFSET = 0x0000;
/** Offset of the MSI-X pending-bit array in the MSI-X BAR (82599 §9.3.8). */
export const MSIX_PBA_OFFSET = 0x2000;
/** Size of the BAR that holds the MSI-X structures (16 KiB on the 82599, PF and VF). */
export const MSIX_BAR_SIZE = 0x4000;

/** Adds an MSI-X capability (PCI 3.0 §6.8.2) with `vectors` entries in BAR `bir`. */
export function addMsixCapability(cs: ConfigSpace, offset: number, vectors: number, bir: number): void {
  cs.addCapability(offset, PCI_CAP_ID.MSIX);
  cs.init(offset + MSIX_CAP.MESSAGE_CONTROL, 2, (vectors - 1) & 0x7ff);
  // Only MSI-X Enable (15) and Function Mask (14) are writable.
  cs.setWritable(offset + MSIX_CAP.MESSAGE_CONTROL, 2, 0xc000);
  cs.init(offset + MSIX_CAP.TABLE, 4, MSIX_TABLE_OFFSET | bir);
  cs.init(offset + MSIX_CAP.PBA, 4, MSIX_PBA_OFFSET | bir);
}

/**
 * Adds a PCI Express capability (PCIe §7.8), version 2, endpoint, with representative
 * 82599 values: max payload 512 B, FLR capable (FLR itself is not modeled), a 5 GT/s x8 link.
 */
export function addPcieCapability(cs: ConfigSpace, offset: number): void {
  cs.addCapability(offset, PCI_CAP_ID.PCI_EXPRESS);
  cs.init(offset + PCIE_CAP.CAPABILITIES, 2, 0x0002);
  cs.init(offset + PCIE_CAP.DEVICE_CAPABILITIES, 4, 0x10008002);
  cs.init(offset + PCIE_CAP.DEVICE_CONTROL, 2, 0x2810);
  cs.setWritable(offset + PCIE_CAP.DEVICE_CONTROL, 2, 0x7fff);
  cs.setClearable(offset + PCIE_CAP.DEVICE_STATUS, 2, 0x000f);
  cs.init(offset + PCIE_CAP.LINK_CAPABILITIES, 4, 0x00000082);
  cs.init(offset + PCIE_CAP.LINK_STATUS, 2, 0x0082);
}
