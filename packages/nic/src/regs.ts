/**
 * The Intel 82599 10 GbE controller's virtual-function register map and bits, as the
 * Linux ixgbevf driver uses them (drivers/net/ethernet/intel/ixgbevf/{regs,defines,mbx}.h)
 * and the 82599 datasheet (rev. 3.x) describes them in §8.3.5 (VF registers), §7.1.5
 * and §7.2.3 (legacy descriptors), §7.3 (interrupts) and §7.9.2 (PF–VF mailbox).
 */

/** PCI IDs (82599 datasheet §9.3.3; ixgbevf defines.h). */
export const INTEL_VENDOR_ID = 0x8086;
/** 82599 10 GbE SFP+ physical function. */
export const DEVICE_ID_82599_SFP = 0x10fb;
/** 82599 virtual function. */
export const DEVICE_ID_82599_VF = 0x10ed;

/** VF BAR0 register offsets (82599 §8.3.5; ixgbevf regs.h). Queue registers repeat every 0x40. */
export const VF_REG = {
  /** Control: bit 26 RST resets the VF (self-clearing). */
  VFCTRL: 0x0000,
  /** Device status (VFSTATUS), read-only. */
  VFSTATUS: 0x0008,
  /** Link status: bit 30 LINK_UP, bits 29:28 speed (11b = 10 Gb/s). */
  VFLINKS: 0x0010,
  /** Extended Interrupt Cause (VTEICR): bit n = MSI-X vector n has a cause; write 1 to clear. */
  VFEICR: 0x0100,
  /** Cause Set (VTEICS): write 1 to set EICR bits (software-raised interrupts). */
  VFEICS: 0x0104,
  /** Mask Set/Read (VTEIMS): write 1 to enable a vector's interrupt; reads the enabled set. */
  VFEIMS: 0x0108,
  /** Mask Clear (VTEIMC): write 1 to disable. */
  VFEIMC: 0x010c,
  /** Auto Clear (VTEIAC): EICR bits cleared when their MSI-X message is sent. */
  VFEIAC: 0x0110,
  /** Auto Mask (VTEIAM): EIMS bits cleared when their MSI-X message is sent. */
  VFEIAM: 0x0114,
  /** VTIVAR(0): queue-to-vector allocation for RX/TX queues 0 and 1 (one byte per cause). */
  VFIVAR0: 0x0120,
  /** VTIVAR_MISC: bits 7:0 allocate the mailbox/misc cause. */
  VFIVAR_MISC: 0x0140,
  /** Mailbox memory (VFMBMEM): 16 dwords shared with the PF. */
  VFMBMEM: 0x0200,
  /** Mailbox control (VFMAILBOX). */
  VFMAILBOX: 0x02fc,
  /** Interrupt Throttle (VTEITR(n)) at 0x0820 + 4n. */
  VFEITR0: 0x0820,
  /**
   * Simulator extension, not an 82599 register: per-vector frame-count threshold at
   * 0x0840 + 4n (bits 15:0; 0 = off). The VF map leaves this range unused.
   */
  VFEITR_FRAMES0: 0x0840,
  /** RX descriptor ring base address, bits 31:0 (VFRDBAL; 128-byte aligned). */
  VFRDBAL: 0x1000,
  /** RX descriptor ring base address, bits 63:32 (VFRDBAH). */
  VFRDBAH: 0x1004,
  /** RX descriptor ring length in bytes (VFRDLEN; a multiple of 128). */
  VFRDLEN: 0x1008,
  /** RX descriptor head (VFRDH): the next descriptor the NIC fills. */
  VFRDH: 0x1010,
  /** Split and replication receive control (VFSRRCTL, {@link SRRCTL}). */
  VFSRRCTL: 0x1014,
  /** RX descriptor tail (VFRDT): one past the last descriptor software gave the NIC. */
  VFRDT: 0x1018,
  /** Good packets received count (VFGPRC), read-only. */
  VFGPRC: 0x101c,
  /** Good octets received count, bits 31:0 (VFGORC_LSB), read-only. */
  VFGORC_LSB: 0x1020,
  /** Good octets received count, bits 35:32 (VFGORC_MSB), read-only. */
  VFGORC_MSB: 0x1024,
  /** RX descriptor control (VFRXDCTL, {@link RXDCTL}). */
  VFRXDCTL: 0x1028,
  /** TX descriptor ring base address, bits 31:0 (VFTDBAL; 128-byte aligned). */
  VFTDBAL: 0x2000,
  /** TX descriptor ring base address, bits 63:32 (VFTDBAH). */
  VFTDBAH: 0x2004,
  /** TX descriptor ring length in bytes (VFTDLEN; a multiple of 128). */
  VFTDLEN: 0x2008,
  /** TX descriptor head (VFTDH): the next descriptor the NIC processes. */
  VFTDH: 0x2010,
  /** TX descriptor tail (VFTDT): one past the last descriptor software queued. */
  VFTDT: 0x2018,
  /** Good packets transmitted count (VFGPTC), read-only. */
  VFGPTC: 0x201c,
  /** Good octets transmitted count, bits 31:0 (VFGOTC_LSB), read-only. */
  VFGOTC_LSB: 0x2020,
  /** Good octets transmitted count, bits 35:32 (VFGOTC_MSB), read-only. */
  VFGOTC_MSB: 0x2024,
  /** TX descriptor control (VFTXDCTL, {@link TXDCTL}). */
  VFTXDCTL: 0x2028,
} as const;

/** Stride between queue n and n + 1 of the RX (0x1000) and TX (0x2000) register blocks. */
export const VF_QUEUE_STRIDE = 0x40;

/** VFCTRL bits. */
export const VFCTRL = {
  /** Bit 26: VF software reset (self-clearing). */
  RST: 0x04000000,
} as const;

/** VFLINKS bits (ixgbevf defines.h IXGBE_LINKS_*). */
export const VFLINKS = {
  /** Bit 30: the link is up. */
  UP: 0x40000000,
  /** Bits 29:28 = 11b: 10 Gb/s. */
  SPEED_10G: 0x30000000,
} as const;

/** RXDCTL / TXDCTL bits. */
export const RXDCTL = {
  /** Bit 25: the queue is enabled. */
  ENABLE: 0x02000000,
} as const;
/** TXDCTL bits: ENABLE (bit 25, the queue is enabled) and SWFLSH (bit 26, software flush). */
export const TXDCTL = {
  /** Bit 25: the queue is enabled. */
  ENABLE: 0x02000000,
  /** Bit 26: software flush (transmit descriptors are written back). */
  SWFLSH: 0x04000000,
} as const;

/** SRRCTL fields (82599 §8.2.3.8.7). */
export const SRRCTL = {
  /** Receive buffer size in 1 KiB units (bits 6:0); 0 means 2 KiB here (the legacy default). */
  BSIZEPKT_MASK: 0x7f,
  /** Descriptor type (bits 27:25): 000b legacy, the only one modeled. */
  DESCTYPE_MASK: 0x0e000000,
  /** 000b: the legacy descriptor type. */
  DESCTYPE_LEGACY: 0x00000000,
  /** Drop packets when no descriptor is free (set by ixgbe for SR-IOV pools); always on here. */
  DROP_EN: 0x10000000,
} as const;

/** Ring lengths are in bytes and must be multiples of 128 (RDLEN/TDLEN bits 19:7). */
export const RING_LENGTH_MASK = 0x000fff80;
/** Ring bases are 128-byte aligned (RDBAL/TDBAL bits 6:0 read as zero). */
export const RING_BASE_LOW_MASK = 0xffffff80;

/** IVAR entry: bit 7 valid, bits 1:0 (here: bits 6:0, bounded by the table size) the MSI-X vector. */
export const IVAR = {
  /** Bit 7: the entry is valid. */
  ALLOC_VAL: 0x80,
  /** The MSI-X vector the cause is allocated to. */
  VECTOR_MASK: 0x7f,
  /** Byte positions in VTIVAR(0): RX queue 0 in 7:0, TX queue 0 in 15:8. */
  RX0_SHIFT: 0,
  /** Shift of TX queue 0's byte in VTIVAR(0). */
  TX0_SHIFT: 8,
} as const;

/**
 * EITR (82599 §8.2.3.5.12): ITR_INTERVAL in bits 11:3, in units of 2 µs, so the register
 * value for an interval of `us` microseconds is `us * 4` (ixgbe's IXGBE_20K_ITR = 200 is
 * 50 µs). 0 disables throttling. A write with bit 31 CNT_WDIS clear also clears the ITR
 * counter ("the timer bits"), so the running interval ends and a cause waiting on it is
 * signalled at once; with CNT_WDIS set the counter keeps running (ixgbevf 2.0.0-k2,
 * ixgbevf_write_eitr: "set the WDIS bit to not clear the timer bits and cause an immediate
 * assertion of the interrupt").
 */
export const EITR = {
  /** ITR_INTERVAL, bits 11:3. */
  INTERVAL_MASK: 0x00000ff8,
  /** Shift of ITR_INTERVAL. */
  INTERVAL_SHIFT: 3,
  /** Picoseconds per unit of the ITR_INTERVAL field (2 µs). */
  UNIT_PS: 2_000_000,
  /**
   * Bit 31, CNT_WDIS (counter write disable): when set, a write leaves the ITR counter
   * running; when clear, the write also clears it (ends the running interval).
   */
  CNT_WDIS: 0x80000000,
} as const;

/** The EITR register value for a minimum interval of `us` microseconds (rounded down to 2 µs). */
export function eitrForInterval(us: number): number {
  const units = Math.min(0x1ff, Math.max(0, Math.floor(us / 2)));
  return (units << EITR.INTERVAL_SHIFT) >>> 0;
}

/** The minimum interval, in picoseconds, that an EITR value programs. */
export function eitrIntervalPs(eitr: number): number {
  return ((eitr & EITR.INTERVAL_MASK) >>> EITR.INTERVAL_SHIFT) * EITR.UNIT_PS;
}

/** VFMAILBOX bits (ixgbevf mbx.h). PFSTS, PFACK and RSTD clear when read (R2C). */
export const VFMAILBOX = {
  /** Write: request the PF to read the message in VFMBMEM. */
  REQ: 0x01,
  /** Write: acknowledge the PF's message. */
  ACK: 0x02,
  /** The VF owns the mailbox memory (write 1 to take it, 0 to release). */
  VFU: 0x04,
  /** The PF owns the mailbox memory (read-only for the VF). */
  PFU: 0x08,
  /** The PF wrote a message (read to clear). */
  PFSTS: 0x10,
  /** The PF acknowledged the VF's message (read to clear). */
  PFACK: 0x20,
  /** Reset in progress. */
  RSTI: 0x40,
  /** Reset done (read to clear). */
  RSTD: 0x80,
  /** The bits that clear when read: PFSTS, PFACK and RSTD. */
  R2C_BITS: 0xb0,
} as const;

/** Mailbox memory size in dwords. */
export const MAILBOX_WORDS = 16;

/** PF BAR0 mailbox registers (82599 §8.2.3.x; ixgbe mbx.h). */
export const PF_REG = {
  /** MBVFICR(n) at 0x0710 + 4n: VFREQ bits 15:0 and VFACK bits 31:16 for VFs 16n…16n+15 (W1C). */
  MBVFICR0: 0x0710,
  /** PFMAILBOX(v) at 0x04B00 + 4v. */
  PFMAILBOX0: 0x04b00,
  /** PFMBMEM(v) at 0x13000 + 64v: the VF's 16 mailbox dwords. */
  PFMBMEM0: 0x13000,
} as const;

/** PFMAILBOX bits. */
export const PFMAILBOX = {
  /** Write: the PF's message to the VF is ready (sets the VF's PFSTS). */
  STS: 0x01,
  /** Write: acknowledge the VF's message (sets the VF's PFACK). */
  ACK: 0x02,
  /** Read-only: the VF owns the buffer. */
  VFU: 0x04,
  /** The PF owns the buffer. */
  PFU: 0x08,
  /** Write: force the VF to release the buffer. */
  RVFU: 0x10,
} as const;

/**
 * Legacy receive descriptor (82599 §7.1.5.1), 16 bytes. Read format: buffer address in
 * bytes 7:0. Write-back: buffer address kept, length 9:8, fragment checksum 11:10,
 * status 12, errors 13, VLAN 15:14.
 */
export const RX_DESC = {
  /** Descriptor size, bytes. */
  SIZE: 16,
  /** Byte offset of the buffer address (8 bytes). */
  BUFFER_ADDRESS: 0,
  /** Byte offset of the length written back (2 bytes). */
  LENGTH: 8,
  /** Byte offset of the fragment checksum (2 bytes). */
  CHECKSUM: 10,
  /** Byte offset of the status byte ({@link RXD_STAT}). */
  STATUS: 12,
  /** Byte offset of the errors byte. */
  ERRORS: 13,
  /** Byte offset of the VLAN tag (2 bytes). */
  VLAN: 14,
} as const;

/** Legacy RX status bits (ixgbevf defines.h IXGBE_RXD_STAT_*). */
export const RXD_STAT = {
  /** Descriptor done: the NIC wrote the descriptor back. */
  DD: 0x01,
  /** End of packet: the last descriptor of a frame. */
  EOP: 0x02,
} as const;

/**
 * Legacy transmit descriptor (82599 §7.2.3.2.2), 16 bytes: buffer address 7:0, length
 * 9:8, CSO 10, CMD 11, STA 12 (bits 3:0), CSS 13, VLAN 15:14.
 */
export const TX_DESC = {
  /** Descriptor size, bytes. */
  SIZE: 16,
  /** Byte offset of the buffer address (8 bytes). */
  BUFFER_ADDRESS: 0,
  /** Byte offset of the length (2 bytes). */
  LENGTH: 8,
  /** Byte offset of CSO, the checksum offset. */
  CSO: 10,
  /** Byte offset of CMD ({@link TXD_CMD}). */
  CMD: 11,
  /** Byte offset of STA ({@link TXD_STAT}). */
  STATUS: 12,
  /** Byte offset of CSS, the checksum start. */
  CSS: 13,
  /** Byte offset of the VLAN tag (2 bytes). */
  VLAN: 14,
} as const;

/** Legacy TX CMD byte bits (the top byte of IXGBE_TXD_CMD_*). */
export const TXD_CMD = {
  /** End of packet: the last descriptor of a frame. */
  EOP: 0x01,
  /** Insert FCS: the NIC appends the CRC. */
  IFCS: 0x02,
  /** Insert checksum at CSO. */
  IC: 0x04,
  /** Report status: write DD back when done. */
  RS: 0x08,
  /** Descriptor extension: 0 for the legacy format. */
  DEXT: 0x20,
  /** VLAN packet enable: insert the VLAN tag. */
  VLE: 0x40,
} as const;
/** Legacy TX STA bits. */
export const TXD_STAT = {
  /** Descriptor done (written back when RS was set). */
  DD: 0x01,
} as const;

/** Ethernet framing (IEEE 802.3). */
export const ETHERNET = {
  /** Frame check sequence: the CRC-32 trailer of every frame. */
  FCS_BYTES: 4,
  /** Preamble (7) + SFD (1) + minimum inter-frame gap (12): per-frame overhead on the wire (RFC 5180 §5). */
  OVERHEAD_BYTES: 20,
  /** Shortest frame, FCS included; shorter transmissions are padded. */
  MIN_FRAME_BYTES: 64,
  /** Longest untagged standard frame, FCS included. */
  MAX_STANDARD_FRAME_BYTES: 1518,
  /** Destination MAC (6), source MAC (6) and EtherType (2): the header bytes. */
  HEADER_BYTES: 14,
} as const;
