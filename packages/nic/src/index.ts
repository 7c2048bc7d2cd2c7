/**
 * `@exitless/nic`: an SR-IOV 10 GbE NIC after the Intel 82599: its PF, VFs, MSI-X, layer-2
 * switch and wire.
 *
 * @module @exitless/nic
 */
export { ConfigSpace } from './config-space.js';
export { NicConfigError } from './errors.js';
export { MsixTable } from './msix.js';
export { destinationMac, PF_LAYOUT, PhysicalFunction, SriovNic, sriovNic82599, writeMac } from './nic.js';
export type { NicOptions, NicTiming } from './options.js';
export { DMA_BASE_BYTES, dmaLatencyPs, NIC_82599 } from './options.js';
export type { NicFactory, NicFactoryOptions, NicUnderTest, NicVirtualFunctionUnderTest } from './part.js';
export { MSIX_BAR_SIZE, MSIX_PBA_OFFSET, MSIX_TABLE_OFFSET } from './pci-header.js';
export type { PcieLinkOptions, PcieLinkTiming } from './pcie-link.js';
export { PcieLink } from './pcie-link.js';
export {
  DEVICE_ID_82599_SFP,
  DEVICE_ID_82599_VF,
  EITR,
  ETHERNET,
  eitrForInterval,
  eitrIntervalPs,
  INTEL_VENDOR_ID,
  IVAR,
  MAILBOX_WORDS,
  PF_REG,
  PFMAILBOX,
  RING_BASE_LOW_MASK,
  RING_LENGTH_MASK,
  RX_DESC,
  RXD_STAT,
  RXDCTL,
  SRRCTL,
  TX_DESC,
  TXD_CMD,
  TXD_STAT,
  TXDCTL,
  VF_QUEUE_STRIDE,
  VF_REG,
  VFCTRL,
  VFLINKS,
  VFMAILBOX,
} from './regs.js';
export type { VfCounters } from './vf.js';
export { VF_BAR0_SIZE, VF_BAR3_SIZE, VF_MSIX_BAR, VirtualFunction } from './vf.js';
export type { EthernetEndpoint, WireOptions, WireTiming } from './wire.js';
export { frameTimePs, Wire, WirePort } from './wire.js';
