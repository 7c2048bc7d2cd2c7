/**
 * Architectural constants of Intel VT-d (Intel Virtualization Technology for Directed I/O,
 * Architecture Specification; section numbers are from revisions 2.x–3.x, which keep the
 * legacy-mode layouts of revision 1). Register offsets are from §10.4, field positions from
 * the register descriptions there, fault reasons from Appendix A (§7.1.3 tables).
 */

/** Remapping-hardware register offsets (VT-d §10.4, table 10-x "Register address map"). */
export const VTD_REG = {
  /** Version register, 32-bit. */
  VER: 0x000,
  /** Capability register, 64-bit. */
  CAP: 0x008,
  /** Extended capability register, 64-bit. */
  ECAP: 0x010,
  /** Global command register, 32-bit, write-only. */
  GCMD: 0x018,
  /** Global status register, 32-bit, read-only. */
  GSTS: 0x01c,
  /** Root table address register, 64-bit. */
  RTADDR: 0x020,
  /** Context command register, 64-bit. */
  CCMD: 0x028,
  /** Fault status register, 32-bit. */
  FSTS: 0x034,
  /** Fault event control register, 32-bit. */
  FECTL: 0x038,
  /** Fault event data register, 32-bit. */
  FEDATA: 0x03c,
  /** Fault event address register, 32-bit. */
  FEADDR: 0x040,
  /** Fault event upper address register, 32-bit. */
  FEUADDR: 0x044,
  /** Interrupt remapping table address register, 64-bit. */
  IRTA: 0x0b8,
  /** Invalidate address register (at ECAP.IRO × 16), 64-bit. */
  IVA: 0x100,
  /** IOTLB invalidate register (IVA + 8), 64-bit. */
  IOTLB: 0x108,
  /** First fault recording register (at CAP.FRO × 16), 128 bits each. */
  FRCD: 0x200,
} as const;

/** Size of the register page. */
export const VTD_REG_PAGE_SIZE = 0x1000;

/** VER_REG value: major 1, minor 0 (the VT-d generation of the ELI paper's Nehalem machines). */
export const VTD_VERSION = 0x10;

/** GCMD_REG command bits (VT-d §10.4.4); the same positions report status in GSTS_REG (§10.4.5). */
export const GCMD = {
  /** Compatibility format interrupt (GSTS: CFIS). */
  CFI: 0x00800000,
  /** Set interrupt remapping table pointer (GSTS: IRTPS). */
  SIRTP: 0x01000000,
  /** Interrupt remapping enable (GSTS: IRES). */
  IRE: 0x02000000,
  /** Queued invalidation enable (GSTS: QIES). */
  QIE: 0x04000000,
  /** Write buffer flush (GSTS: WBFS). */
  WBF: 0x08000000,
  /** Enable advanced fault logging (GSTS: AFLS). */
  EAFL: 0x10000000,
  /** Set fault log (GSTS: FLS). */
  SFL: 0x20000000,
  /** Set root table pointer (GSTS: RTPS). */
  SRTP: 0x40000000,
  /** Translation enable (GSTS: TES). */
  TE: 0x80000000,
} as const;

/** GSTS_REG status bits (VT-d §10.4.5). */
export const GSTS = {
  /** Bit 23: compatibility format interrupt status (CFI). */
  CFIS: 0x00800000,
  /** Bit 24: interrupt remapping table pointer status (SIRTP completed). */
  IRTPS: 0x01000000,
  /** Bit 25: interrupt remapping enable status. */
  IRES: 0x02000000,
  /** Bit 26: queued invalidation enable status. */
  QIES: 0x04000000,
  /** Bit 27: write buffer flush status. */
  WBFS: 0x08000000,
  /** Bit 28: advanced fault logging status. */
  AFLS: 0x10000000,
  /** Bit 29: fault log status. */
  FLS: 0x20000000,
  /** Bit 30: root table pointer status (SRTP completed). */
  RTPS: 0x40000000,
  /** Bit 31: translation enable status. */
  TES: 0x80000000,
} as const;

/**
 * CAP_REG fields (VT-d §10.4.2). Positions within the 64-bit register; fields above bit 31
 * are given as bit positions (use them on the high dword minus 32).
 */
export const CAP = {
  /** Number of domains supported, bits 2:0 (value n: 2^(4 + 2n) domains). */
  ND_SHIFT: 0,
  /** Supported adjusted guest address widths, bits 12:8 (bit 2 of the field: 48-bit, 4-level). */
  SAGAW_SHIFT: 8,
  /** SAGAW bit for a 48-bit AGAW with a 4-level page table. */
  SAGAW_48BIT_4LEVEL: 0x4,
  /** Maximum guest address width − 1, bits 21:16. */
  MGAW_SHIFT: 16,
  /** Fault-recording register offset / 16, bits 33:24. */
  FRO_SHIFT: 24,
  /** Second-level large page support, bits 37:34 (bit 0 of the field: 2 MiB). */
  SLLPS_SHIFT: 34,
  /** Page-selective invalidation supported, bit 39. */
  PSI_BIT: 39,
  /** Number of fault-recording registers − 1, bits 47:40. */
  NFR_SHIFT: 40,
  /** Maximum address mask value for page-selective invalidation, bits 53:48. */
  MAMV_SHIFT: 48,
  /** Posted interrupts supported, bit 59. */
  PI_BIT: 59,
} as const;

/** ECAP_REG fields (VT-d §10.4.3). */
export const ECAP = {
  /** Page-walk coherency, bit 0. */
  C: 0x1,
  /** Queued invalidation supported, bit 1. */
  QI: 0x2,
  /** Device-TLB supported, bit 2. */
  DT: 0x4,
  /** Interrupt remapping supported, bit 3. */
  IR: 0x8,
  /** Extended interrupt mode (32-bit x2APIC destination IDs), bit 4. */
  EIM: 0x10,
  /** Pass-through translation type (context TT = 10b) supported, bit 6. */
  PT: 0x40,
  /** Snoop control, bit 7. */
  SC: 0x80,
  /** IOTLB register offset / 16, bits 17:8. */
  IRO_SHIFT: 8,
} as const;

/** RTADDR_REG fields (VT-d §10.4.6). */
export const RTADDR = {
  /** Root table address, bits 63:12 (low dword mask). */
  RTA_MASK_LO: 0xfffff000,
  /** Translation table mode, bits 11:10: 00b legacy, the only mode this unit reports (ECAP.SMTS = 0). */
  TTM_SHIFT: 10,
} as const;

/** CCMD_REG fields (VT-d §10.4.7), as positions in the high dword where noted. */
export const CCMD = {
  /** Domain-ID, bits 15:0 (low dword). */
  DID_MASK: 0xffff,
  /** Source-ID, bits 31:16 (low dword). */
  SID_SHIFT: 16,
  /** Function mask, bits 33:32 (high dword bits 1:0). */
  FM_HI_MASK: 0x3,
  /** Context actual invalidation granularity, bits 60:59 (high dword bits 28:27). */
  CAIG_HI_SHIFT: 27,
  /** Context invalidation request granularity, bits 62:61 (high dword bits 30:29). */
  CIRG_HI_SHIFT: 29,
  /** Invalidate context cache, bit 63 (high dword bit 31). */
  ICC_HI: 0x80000000,
} as const;

/** Context-cache and IOTLB invalidation granularities (CIRG/CAIG, IIRG/IAIG encodings). */
export const INVALIDATION_GRANULARITY = {
  /** Reserved encoding: the request is not performed (actual granularity reports 0). */
  RESERVED: 0,
  /** Global invalidation. */
  GLOBAL: 1,
  /** Domain-selective invalidation. */
  DOMAIN: 2,
  /** Device-selective (context cache) or page-selective-within-domain (IOTLB). */
  DEVICE_OR_PAGE: 3,
} as const;

/** IOTLB_REG fields (VT-d §10.4.8.1), all in the high dword. */
export const IOTLB_REG = {
  /** Domain-ID, bits 47:32 (high dword bits 15:0). */
  DID_HI_MASK: 0xffff,
  /** Drain writes, bit 48. */
  DW_HI: 0x10000,
  /** Drain reads, bit 49. */
  DR_HI: 0x20000,
  /** IOTLB actual invalidation granularity, bits 58:57 (high dword bits 26:25). */
  IAIG_HI_SHIFT: 25,
  /** IOTLB invalidation request granularity, bits 61:60 (high dword bits 29:28). */
  IIRG_HI_SHIFT: 28,
  /** Invalidate IOTLB, bit 63. */
  IVT_HI: 0x80000000,
} as const;

/** IVA_REG fields (VT-d §10.4.8.2). */
export const IVA = {
  /** Address mask: invalidate 2^AM pages, bits 5:0. */
  AM_MASK: 0x3f,
  /** Invalidation hint, bit 6 (only leaf entries changed; no paging-structure cache here, so unused). */
  IH: 0x40,
  /** Address bits 63:12. */
  ADDR_MASK_LO: 0xfffff000,
} as const;

/** FSTS_REG bits (VT-d §10.4.9). */
export const FSTS = {
  /** Primary fault overflow (RW1C). */
  PFO: 0x1,
  /** Primary pending fault (RO: set while any fault recording register has F set). */
  PPF: 0x2,
  /** Fault record index, bits 15:8. */
  FRI_SHIFT: 8,
} as const;

/** FECTL_REG bits (VT-d §10.4.10). */
export const FECTL = {
  /** Interrupt pending (RO). */
  IP: 0x40000000,
  /** Interrupt mask (RW). */
  IM: 0x80000000,
} as const;

/** IRTA_REG fields (VT-d §10.4.29). */
export const IRTA = {
  /** Table size: 2^(S + 1) entries, bits 3:0. */
  S_MASK: 0xf,
  /** Extended interrupt mode enable (x2APIC destination IDs), bit 11. */
  EIME: 0x800,
  /** Table address bits 63:12 (low dword mask). */
  IRTA_MASK_LO: 0xfffff000,
} as const;

/**
 * Fault recording register fields (VT-d §10.4.14): 128 bits; FI in bits 63:12, SID 79:64,
 * FR 103:96, AT 125:124, T 126 (0 write, 1 read), F 127 (RW1C). Given per dword (0–3).
 */
export const FRCD = {
  /** Dword 2: source identifier, bits 15:0. */
  SID_MASK: 0xffff,
  /** Dword 3: fault reason, bits 7:0. */
  FR_MASK: 0xff,
  /** Dword 3: type, bit 30 (0 write request, 1 read request). */
  T: 0x40000000,
  /** Dword 3: fault, bit 31. */
  F: 0x80000000,
} as const;

/**
 * Non-recoverable fault reasons (VT-d Appendix A / §7.1.3). The DMA-remapping reasons are
 * those of legacy mode; the interrupt-remapping reasons are 0x20–0x28.
 */
export const FAULT_REASON = {
  /** The present field of the root entry used for the request is clear. */
  ROOT_ENTRY_NOT_PRESENT: 0x1,
  /** The present field of the context entry used for the request is clear. */
  CONTEXT_ENTRY_NOT_PRESENT: 0x2,
  /** Invalid context-entry programming: AW not supported, TT reserved or not supported. */
  CONTEXT_ENTRY_INVALID: 0x3,
  /** Input address above 2^X − 1, X = min(MGAW, the context entry's AGAW). */
  ADDRESS_BEYOND_MGAW: 0x4,
  /** A write request to a page without write permission. */
  WRITE: 0x5,
  /** A read request to a page without read permission. */
  READ: 0x6,
  /** Error accessing a second-level paging entry. */
  PAGING_ENTRY_ACCESS: 0x7,
  /** Error accessing the root entry. */
  ROOT_TABLE_ACCESS: 0x8,
  /** Error accessing the context entry. */
  CONTEXT_TABLE_ACCESS: 0x9,
  /** Non-zero reserved field in a present root entry. */
  ROOT_ENTRY_RESERVED: 0xa,
  /** Non-zero reserved field in a present context entry. */
  CONTEXT_ENTRY_RESERVED: 0xb,
  /** Non-zero reserved field in a second-level paging entry with R or W set. */
  PAGING_ENTRY_RESERVED: 0xc,
  /** Reserved field set in a remappable-format interrupt request. */
  IR_REQUEST_RESERVED: 0x20,
  /** Interrupt index beyond the table size configured in IRTA_REG. */
  IR_INDEX_BEYOND_TABLE: 0x21,
  /** The present field of the IRTE is clear. */
  IR_IRTE_NOT_PRESENT: 0x22,
  /** Error reading the IRTE through IRTA_REG. */
  IR_IRTE_ACCESS: 0x23,
  /** Non-zero reserved field (or an invalid encoding) in a present IRTE. */
  IR_IRTE_RESERVED: 0x24,
  /** Compatibility-format interrupt blocked (IRE set and CFIS clear, or EIME set). */
  IR_COMPAT_BLOCKED: 0x25,
  /** Source-ID verification failed per the IRTE's SVT/SQ/SID. */
  IR_SOURCE_ID: 0x26,
  /** Error reading the posted-interrupt descriptor. */
  IR_PID_ACCESS: 0x27,
  /** Non-zero reserved field in the posted-interrupt descriptor. */
  IR_PID_RESERVED: 0x28,
} as const;
/** A fault reason (FR) code: one of the values of {@link FAULT_REASON}. */
export type FaultReason = (typeof FAULT_REASON)[keyof typeof FAULT_REASON];

/** Context-entry translation types (TT, VT-d §9.3). */
export const TRANSLATION_TYPE = {
  /** Untranslated requests translated through the second-level tables. */
  UNTRANSLATED: 0,
  /** Also translation requests from a device TLB (ECAP.DT; not supported here). */
  ALL: 1,
  /** Pass-through: untranslated requests reach host-physical = input address (ECAP.PT). */
  PASS_THROUGH: 2,
} as const;

/** Context-entry address widths (AW, VT-d §9.3). */
export const ADDRESS_WIDTH = {
  /** 39-bit AGAW, 3-level table (not advertised in SAGAW here). */
  AGAW_39: 1,
  /** 48-bit AGAW, 4-level table. */
  AGAW_48: 2,
} as const;

/** Second-level paging-entry bits (VT-d §9.8). */
export const SL_PTE = {
  /** Bit 0: read permission. */
  R: 0x1,
  /** Bit 1: write permission. */
  W: 0x2,
  /** Page size: a 2 MiB (PDE) or 1 GiB (PDPTE) leaf. */
  PS: 0x80,
  /** Snoop behaviour; reserved because ECAP.SC = 0. */
  SNP: 0x800,
  /** Transient mapping (high dword bit 30 = bit 62); reserved because ECAP.DT = 0. */
  TM_HI: 0x40000000,
} as const;

/** Source validation types of an IRTE (SVT, VT-d §9.10). */
export const SVT = {
  /** No requester-ID verification. */
  NONE: 0,
  /** Verify the requester ID against SID, with the function bits SQ masks. */
  REQUESTER_ID: 1,
  /** Verify the requester's bus is in [SID 15:8, SID 7:0]. */
  BUS_RANGE: 2,
} as const;

/** Source-ID qualifiers (SQ, VT-d §9.10 table "Source-ID qualifier"): which requester-ID bits are compared. */
export const SQ = {
  /** All 16 bits. */
  ALL: 0,
  /** Ignore bit 2. */
  IGNORE_BIT_2: 1,
  /** Ignore bits 2:1. */
  IGNORE_BITS_2_1: 2,
  /** Ignore bits 2:0 (any function of the device). */
  IGNORE_BITS_2_0: 3,
} as const;

/** Byte size of a root, context or interrupt-remapping-table entry. */
export const ENTRY128_SIZE = 16;
/** Byte size of a second-level paging entry. */
export const SL_PTE_SIZE = 8;
/** Byte size of a posted-interrupt descriptor (VT-d §9.12). */
export const PID_SIZE = 64;

/** Posted-interrupt descriptor byte offsets (VT-d §9.12): PIR 255:0, ON 256, SN 257, NV 279:272, NDST 319:288. */
export const PID = {
  /** Posted interrupt requests, 256 bits at byte 0. */
  PIR: 0,
  /** Dword holding ON (bit 0), SN (bit 1) and NV (bits 23:16). */
  CONTROL: 32,
  /** ON, bit 0 of the control dword: outstanding notification. */
  ON: 0x1,
  /** SN, bit 1 of the control dword: suppress notification. */
  SN: 0x2,
  /** Shift of NV, the notification vector (bits 23:16 of the control dword). */
  NV_SHIFT: 16,
  /** Notification destination, dword at byte 36. */
  NDST: 36,
} as const;
