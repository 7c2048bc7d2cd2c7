import type { Counter, ScopedStats, SimEvent, Simulator } from '@exitless/sim';
import type {
  DmaPort,
  InterruptMessage,
  InterruptMessageSink,
  MmioDevice,
  MmioSize,
  MsiSink,
  PhysicalMemory,
} from '@exitless/x86';
import {
  DELIVERY_MODE,
  DEST_MODE,
  DMA_OK,
  decodeCompatMsi,
  isMsiAddress,
  isRemappableMsi,
  MSI_ADDRESS_BASE,
  makeInterruptMessage,
  remappableMsiIndex,
  TRIGGER_MODE,
} from '@exitless/x86';
import { type FaultRecord, join64 } from './codecs.js';
import {
  ADDRESS_WIDTH,
  CAP,
  CCMD,
  ECAP,
  ENTRY128_SIZE,
  FAULT_REASON,
  FECTL,
  FRCD,
  FSTS,
  GCMD,
  GSTS,
  INVALIDATION_GRANULARITY,
  IOTLB_REG,
  IRTA,
  IVA,
  PID,
  PID_SIZE,
  SL_PTE,
  SL_PTE_SIZE,
  SVT,
  TRANSLATION_TYPE,
  VTD_REG,
  VTD_VERSION,
} from './constants.js';
import { IommuConfigError } from './errors.js';

/**
 * Latencies of the remapping hardware, in picoseconds. All are required: the machine fills
 * them from the calibration profile; nothing here is tuned to a target.
 */
export interface IommuCosts {
  /** A DMA translation that hits the IOTLB, per page touched (ps). */
  readonly iotlbHitPs: number;
  /** Fetching the root and context entries on a context-cache miss (ps). */
  readonly contextFetchPs: number;
  /** One second-level paging-entry read during a page walk, per level walked (ps). */
  readonly pageWalkLevelPs: number;
  /** Fetching an IRTE from the interrupt remapping table (ps; there is no interrupt-entry cache). */
  readonly irteFetchPs: number;
  /** The atomic read-modify-write of a posted-interrupt descriptor (ps). */
  readonly postedDescriptorUpdatePs: number;
}

/** Construction options of an Iommu. */
export interface IommuOptions {
  /** Host physical memory the tables live in and DMA reaches. */
  readonly memory: PhysicalMemory;
  /** Where remapped, posted-notification, compatibility and fault-event interrupts go (the interrupt bus). */
  readonly interruptSink: InterruptMessageSink;
  /** Counters are created under this scope (dma.*, iotlb.*, context-cache.*, ir.*, faults.*). */
  readonly stats: ScopedStats;
  /**
   * The unit's latencies, ps: IOTLB hit, context fetch, page-walk level, IRTE fetch, posted-descriptor
   * update.
   */
  readonly costs: IommuCosts;
  /** IOTLB entries (fully associative, least-recently-used replacement), ≥ 1. */
  readonly iotlbEntries: number;
  /** Fault recording registers, 1–256 (CAP.NFR reports this − 1). */
  readonly faultRecordingRegisters: number;
  /**
   * When given, interrupt messages reach the sink after the remapping latency (in order of
   * arrival); without it they are delivered synchronously inside msiWrite, and the latency is
   * only reported through lastInterruptLatencyPs.
   */
  readonly simulator?: Simulator;
}

// Architectural parameters this implementation advertises.
/** Maximum guest address width: 48 bits (4-level second-level tables). */
const MGAW = 48;
const TWO_48 = 2 ** 48;
/** Host address width: 48 bits; paging-entry and pointer bits 51:48 are reserved. */
const HAW_RESERVED_HI = 0xffff0000;
/** Maximum address mask value for page-selective IOTLB invalidation (covers a 2 MiB page). */
const MAMV = 9;
/** ECAP.IRO: the IOTLB registers' offset / 16. */
const IRO = VTD_REG.IVA / 16;
/** CAP.FRO: the fault recording registers' offset / 16. */
const FRO = VTD_REG.FRCD / 16;

/** ECAP value: coherent walks, IR, EIM, pass-through, IOTLB register offset. No QI, no device TLB, no snoop control. */
const ECAP_LO = (ECAP.C | ECAP.IR | ECAP.EIM | ECAP.PT | (IRO << ECAP.IRO_SHIFT)) >>> 0;

/** ND = 6: 16-bit domain IDs. */
const CAP_ND = 6;

/** The requester-ID bits compared for each SQ value (VT-d §9.10, table "SQ"). */
const SQ_COMPARE_MASK: readonly number[] = [0xffff, 0xfffb, 0xfff9, 0xfff8];

/** Remappable-format MSI address bit 3: SHV, subhandle valid (VT-d §5.1.2.2). */
const MSI_ADDRESS_SHV = 0x8;

/** Sentinel: no fault. */
const OK = DMA_OK;

/** Bytes from `address` to the end of its 4 KiB page (a mask below 2^32, where most DMA is: no division). */
function bytesToPageEnd(address: number): number {
  return address >>> 0 === address ? 4096 - (address & 4095) : 4096 - (address % 4096);
}

/**
 * An Intel VT-d remapping hardware unit in legacy (root/context table) mode: DMA remapping
 * with second-level 4-level page tables, an IOTLB and a context cache, primary fault
 * recording, and interrupt remapping with remapped- and posted-format IRTEs.
 *
 * Devices reach memory only through `dmaRead`/`dmaWrite` (DmaPort) and raise interrupts
 * only through `msiWrite` (MsiSink), each with their requester ID. Software programs it
 * through its register page (MmioDevice), as a VT-d driver does.
 */
export class Iommu implements DmaPort, MsiSink, MmioDevice {
  private readonly memory: PhysicalMemory;
  private readonly sink: InterruptMessageSink;
  private readonly costs: IommuCosts;
  private readonly simulator: Simulator | undefined;
  /** The one reused message object every delivery goes through. */
  private readonly message: InterruptMessage = makeInterruptMessage();

  // ---- registers ----
  private gsts = 0;
  private rtaddrLo = 0;
  private rtaddrHi = 0;
  private ccmdLo = 0;
  private ccmdHi = 0;
  private fstsPfo = 0;
  private fectl: number = FECTL.IM;
  private fedata = 0;
  private feaddr = 0;
  private feuaddr = 0;
  private irtaLo = 0;
  private irtaHi = 0;
  private ivaLo = 0;
  private ivaHi = 0;
  private iotlbHi = 0;
  private readonly capLo: number;
  private readonly capHi: number;

  // ---- latched by SRTP / SIRTP ----
  private rootTableAddress = 0;
  private irtAddress = 0;
  private irtEntries = 0;
  private eime = false;

  // ---- primary fault log ----
  private readonly nfr: number;
  private readonly frcd: Uint32Array;
  private nextRecord = 0;
  private firstPending = 0;
  /** Faults detected, by VT-d fault reason (whether or not recorded). */
  readonly faultCounts: Uint32Array = new Uint32Array(256);
  /** The fault reason of the last blocked DMA access or interrupt (0 if none yet). */
  lastFaultReason = 0;

  // ---- context cache: indexed by requester ID, holds decoded present entries ----
  private readonly ccValid = new Uint8Array(0x10000);
  private readonly ccDid = new Uint16Array(0x10000);
  private readonly ccTt = new Uint8Array(0x10000);
  private readonly ccFpd = new Uint8Array(0x10000);
  private readonly ccSlpt = new Float64Array(0x10000);

  // ---- IOTLB: fully associative, LRU ----
  private readonly tlbSize: number;
  private readonly tlbDid: Int32Array;
  /** Input address of the entry's page (page number × its own page size), so a lookup compares instead of dividing. */
  private readonly tlbBase: Float64Array;
  private readonly tlbSizeBytes: Float64Array;
  private readonly tlbHpa: Float64Array;
  private readonly tlbPerm: Uint8Array;
  private readonly tlbStamp: Float64Array;
  private tlbClock = 0;

  // ---- per-access scratch (grows, never shrinks) ----
  private chunkHpa = new Float64Array(32);
  private chunkLen = new Float64Array(32);
  private readonly msiBytes = new Uint8Array(4);
  private xHpa = 0;
  private xRemain = 0;
  private xFpd = false;
  private xQualified = false;

  private _lastLatencyPs = 0;
  private _lastInterruptLatencyPs = 0;

  // ---- delayed interrupt delivery (only with a simulator) ----
  private readonly deliverEvent: SimEvent | undefined;
  private qTime = new Float64Array(16);
  private qFields = new Uint32Array(16 * 7);
  private qHead = 0;
  private qCount = 0;

  // ---- counters ----
  private readonly cDmaReads: Counter;
  private readonly cDmaWrites: Counter;
  private readonly cDmaReadBytes: Counter;
  private readonly cDmaWriteBytes: Counter;
  private readonly cDmaFaults: Counter;
  private readonly cDmaInterruptWrites: Counter;
  private readonly cTlbHits: Counter;
  private readonly cTlbMisses: Counter;
  private readonly cTlbEvictions: Counter;
  private readonly cTlbInvalidations: Counter;
  private readonly cCcHits: Counter;
  private readonly cCcMisses: Counter;
  private readonly cCcInvalidations: Counter;
  private readonly cPageWalkReads: Counter;
  private readonly cIrRequests: Counter;
  private readonly cIrRemapped: Counter;
  private readonly cIrCompat: Counter;
  private readonly cIrPosted: Counter;
  private readonly cIrNotified: Counter;
  private readonly cIrSuppressed: Counter;
  private readonly cIrBlocked: Counter;
  private readonly cFaultsRecorded: Counter;
  private readonly cFaultsFpd: Counter;
  private readonly cFaultsOverflow: Counter;
  private readonly cFaultEvents: Counter;
  private readonly cIgnoredWrites: Counter;

  constructor(options: IommuOptions) {
    const { costs } = options;
    for (const key of [
      'iotlbHitPs',
      'contextFetchPs',
      'pageWalkLevelPs',
      'irteFetchPs',
      'postedDescriptorUpdatePs',
    ] as const) {
      const v = costs[key];
      if (!Number.isFinite(v) || v < 0) {
        throw new IommuConfigError(`costs.${key} must be a non-negative number of picoseconds, got ${v}`);
      }
    }
    if (!Number.isInteger(options.iotlbEntries) || options.iotlbEntries < 1) {
      throw new IommuConfigError(`iotlbEntries must be an integer ≥ 1, got ${options.iotlbEntries}`);
    }
    const nfr = options.faultRecordingRegisters;
    if (!Number.isInteger(nfr) || nfr < 1 || nfr > 256) {
      throw new IommuConfigError(`faultRecordingRegisters must be an integer in 1..256, got ${nfr}`);
    }
    this.memory = options.memory;
    this.sink = options.interruptSink;
    this.costs = costs;
    this.simulator = options.simulator;
    this.nfr = nfr;
    this.frcd = new Uint32Array(nfr * 4);

    this.tlbSize = options.iotlbEntries;
    this.tlbDid = new Int32Array(this.tlbSize).fill(-1);
    this.tlbBase = new Float64Array(this.tlbSize);
    this.tlbSizeBytes = new Float64Array(this.tlbSize);
    this.tlbHpa = new Float64Array(this.tlbSize);
    this.tlbPerm = new Uint8Array(this.tlbSize);
    this.tlbStamp = new Float64Array(this.tlbSize);

    // CAP_REG (VT-d §10.4.2): 16-bit DIDs, SAGAW 48-bit/4-level, MGAW 48, FRO, 2 MiB pages,
    // page-selective invalidation, NFR, MAMV, posted interrupts. CM = 0: not-present and
    // faulting entries are never cached, so software need not invalidate after making an
    // entry present.
    this.capLo =
      (CAP_ND |
        (CAP.SAGAW_48BIT_4LEVEL << CAP.SAGAW_SHIFT) |
        ((MGAW - 1) << CAP.MGAW_SHIFT) |
        ((FRO & 0xff) << CAP.FRO_SHIFT)) >>>
      0;
    this.capHi =
      ((FRO >>> 8) |
        (0x1 << (CAP.SLLPS_SHIFT - 32)) |
        (1 << (CAP.PSI_BIT - 32)) |
        ((nfr - 1) << (CAP.NFR_SHIFT - 32)) |
        (MAMV << (CAP.MAMV_SHIFT - 32)) |
        (1 << (CAP.PI_BIT - 32))) >>>
      0;

    const s = options.stats;
    this.cDmaReads = s.counter('dma.reads');
    this.cDmaWrites = s.counter('dma.writes');
    this.cDmaReadBytes = s.counter('dma.read-bytes');
    this.cDmaWriteBytes = s.counter('dma.write-bytes');
    this.cDmaFaults = s.counter('dma.faults');
    this.cDmaInterruptWrites = s.counter('dma.interrupt-writes');
    this.cTlbHits = s.counter('iotlb.hits');
    this.cTlbMisses = s.counter('iotlb.misses');
    this.cTlbEvictions = s.counter('iotlb.evictions');
    this.cTlbInvalidations = s.counter('iotlb.invalidations');
    this.cCcHits = s.counter('context-cache.hits');
    this.cCcMisses = s.counter('context-cache.misses');
    this.cCcInvalidations = s.counter('context-cache.invalidations');
    this.cPageWalkReads = s.counter('iotlb.walk-reads');
    this.cIrRequests = s.counter('ir.requests');
    this.cIrRemapped = s.counter('ir.remapped');
    this.cIrCompat = s.counter('ir.compat');
    this.cIrPosted = s.counter('ir.posted');
    this.cIrNotified = s.counter('ir.notified');
    this.cIrSuppressed = s.counter('ir.suppressed');
    this.cIrBlocked = s.counter('ir.blocked');
    this.cFaultsRecorded = s.counter('faults.recorded');
    this.cFaultsFpd = s.counter('faults.fpd-suppressed');
    this.cFaultsOverflow = s.counter('faults.overflow');
    this.cFaultEvents = s.counter('faults.events');
    this.cIgnoredWrites = s.counter('mmio.ignored-writes');

    this.deliverEvent =
      this.simulator === undefined
        ? undefined
        : this.simulator.event('iommu.deliver', () => this.drainQueue());
  }

  /** Picoseconds the last DMA access spent in address translation (sum over its pages). */
  get lastLatencyPs(): number {
    return this._lastLatencyPs;
  }

  /** Picoseconds the last msiWrite spent in interrupt remapping (IRTE fetch, descriptor update). */
  get lastInterruptLatencyPs(): number {
    return this._lastInterruptLatencyPs;
  }

  /** True while DMA remapping is enabled (GSTS.TES). */
  get translationEnabled(): boolean {
    return (this.gsts & GSTS.TES) !== 0;
  }

  /** True while interrupt remapping is enabled (GSTS.IRES). */
  get interruptRemappingEnabled(): boolean {
    return (this.gsts & GSTS.IRES) !== 0;
  }

  // ======================================================================================
  // DMA remapping (VT-d §3)
  // ======================================================================================

  dmaRead(requesterId: number, address: number, dst: Uint8Array, offset: number, length: number): number {
    this.cDmaReads.inc();
    if (this.withinOnePage(address, length)) {
      if (!this.translateOnePage(requesterId, address, false)) return this.lastFaultReason;
      this.memory.readBytes(this.xHpa, dst, offset, length);
      this.cDmaReadBytes.add(length);
      return DMA_OK;
    }
    const n = this.translateRange(requesterId, address, length, false);
    if (n < 0) return this.lastFaultReason;
    let done = 0;
    for (let i = 0; i < n; i++) {
      const len = this.chunkLen[i]!;
      this.memory.readBytes(this.chunkHpa[i]!, dst, offset + done, len);
      done += len;
    }
    this.cDmaReadBytes.add(length);
    return DMA_OK;
  }

  dmaWrite(requesterId: number, address: number, src: Uint8Array, offset: number, length: number): number {
    this.cDmaWrites.inc();
    // Below the interrupt range (so never an interrupt request), inside one 4 KiB page.
    if (this.withinOnePage(address, length)) {
      if (!this.translateOnePage(requesterId, address, true)) return this.lastFaultReason;
      this.memory.writeBytes(this.xHpa, src, offset, length);
      this.cDmaWriteBytes.add(length);
      return DMA_OK;
    }
    // A DWORD write to the interrupt address range is an interrupt request, never DMA
    // (VT-d, "Handling Requests to Interrupt Address Range").
    if (length === 4 && isMsiAddress(address)) {
      this.cDmaInterruptWrites.inc();
      const data =
        (src[offset]! | (src[offset + 1]! << 8) | (src[offset + 2]! << 16) | (src[offset + 3]! << 24)) >>> 0;
      this._lastLatencyPs = 0;
      this.msiWrite(address, data, requesterId);
      return DMA_OK;
    }
    const n = this.translateRange(requesterId, address, length, true);
    if (n < 0) return this.lastFaultReason;
    let done = 0;
    for (let i = 0; i < n; i++) {
      const len = this.chunkLen[i]!;
      this.memory.writeBytes(this.chunkHpa[i]!, src, offset + done, len);
      done += len;
    }
    this.cDmaWriteBytes.add(length);
    return DMA_OK;
  }

  /**
   * True for a well-formed access of ≥ 1 byte that lies inside one 4 KiB page and ends at or
   * below the interrupt address range: translateRange would translate it once (every page
   * size is a multiple of 4 KiB, so the translation covers it) into a single chunk.
   */
  private withinOnePage(address: number, length: number): boolean {
    return (
      address >>> 0 === address &&
      length >>> 0 === length &&
      length > 0 &&
      (address & 4095) + length <= 4096 &&
      address + length <= MSI_ADDRESS_BASE
    );
  }

  /**
   * What translateRange does for an access withinOnePage: one translation (xHpa), the whole
   * access in one chunk. False, with the fault recorded, if it faults.
   */
  private translateOnePage(requesterId: number, address: number, write: boolean): boolean {
    this._lastLatencyPs = 0;
    const rid = requesterId & 0xffff;
    const r = this.translate(rid, address, write);
    if (r === OK) return true;
    this.dmaFault(r, rid, address, write, this.xQualified, this.xFpd);
    return false;
  }

  /**
   * Translates [address, address + length) page by page into the chunk scratch arrays.
   * Returns the chunk count, or −1 if any page faults: then the fault of the first faulting
   * page is recorded and nothing of the access may reach memory.
   */
  private translateRange(rid: number, address: number, length: number, write: boolean): number {
    this._lastLatencyPs = 0;
    rid &= 0xffff;
    if (!Number.isInteger(address) || !Number.isInteger(length) || address < 0 || length < 0) {
      // A malformed request from a device model: treated as an access beyond the address width.
      return this.dmaFault(FAULT_REASON.ADDRESS_BEYOND_MGAW, rid, 0, write, false, false);
    }
    // Reads of, and non-DWORD writes to, the interrupt range are blocked (as QEMU's VT-d does).
    if (address <= 0xfeefffff && address + length > MSI_ADDRESS_BASE) {
      return this.dmaFault(write ? FAULT_REASON.WRITE : FAULT_REASON.READ, rid, address, write, false, false);
    }
    let n = 0;
    let iova = address;
    let remaining = length;
    while (remaining > 0 || n === 0) {
      const r = this.translate(rid, iova, write);
      if (r !== OK) return this.dmaFault(r, rid, iova, write, this.xQualified, this.xFpd);
      const len = Math.min(remaining, this.xRemain);
      if (n === this.chunkHpa.length) this.growChunks();
      this.chunkHpa[n] = this.xHpa;
      this.chunkLen[n] = len;
      n++;
      iova += len;
      remaining -= len;
      if (length === 0) break;
    }
    return n;
  }

  private growChunks(): void {
    const hpa = new Float64Array(this.chunkHpa.length * 2);
    const len = new Float64Array(this.chunkLen.length * 2);
    hpa.set(this.chunkHpa);
    len.set(this.chunkLen);
    this.chunkHpa = hpa;
    this.chunkLen = len;
  }

  private dmaFault(
    reason: number,
    rid: number,
    iova: number,
    write: boolean,
    qualified: boolean,
    fpd: boolean,
  ): number {
    this.cDmaFaults.inc();
    const page = Math.max(0, Math.floor(iova / 4096)) * 4096;
    this.recordFault(
      reason,
      rid,
      page % 0x1_0000_0000,
      Math.floor(page / 0x1_0000_0000),
      !write,
      qualified,
      fpd,
    );
    return -1;
  }

  /**
   * Translates one input address for requester `rid`. On success sets xHpa (the host
   * address) and xRemain (bytes to the end of its page) and returns OK; on a fault returns
   * the VT-d fault reason and sets xQualified / xFpd for fault-recording.
   */
  private translate(rid: number, iova: number, write: boolean): number {
    this.xQualified = false;
    this.xFpd = false;
    if ((this.gsts & GSTS.TES) === 0) {
      // Translation disabled: requests are processed as pass-through (VT-d §10.4.4, TE).
      this.xHpa = iova;
      this.xRemain = bytesToPageEnd(iova);
      return OK;
    }
    // ---- context (VT-d §3.4.2) ----
    if (this.ccValid[rid] === 1) {
      this.cCcHits.inc();
    } else {
      this.cCcMisses.inc();
      const r = this.fetchContext(rid);
      if (r !== OK) return r;
    }
    this.xFpd = this.ccFpd[rid] === 1;
    if (this.ccTt[rid] === TRANSLATION_TYPE.PASS_THROUGH) {
      this.xHpa = iova;
      this.xRemain = bytesToPageEnd(iova);
      return OK;
    }
    this.xQualified = true;
    if (iova >= TWO_48) return FAULT_REASON.ADDRESS_BEYOND_MGAW;
    const did = this.ccDid[rid]!;
    const need = write ? SL_PTE.W : SL_PTE.R;
    const denied = write ? FAULT_REASON.WRITE : FAULT_REASON.READ;

    // ---- IOTLB ----
    for (let i = 0; i < this.tlbSize; i++) {
      if (this.tlbDid[i] !== did) continue;
      const size = this.tlbSizeBytes[i]!;
      // base ≤ iova < base + size, i.e. floor(iova / size) is the entry's page number.
      const within = iova - this.tlbBase[i]!;
      if (within < 0 || within >= size) continue;
      this.cTlbHits.inc();
      this._lastLatencyPs += this.costs.iotlbHitPs;
      this.tlbStamp[i] = ++this.tlbClock;
      if ((this.tlbPerm[i]! & need) === 0) return denied;
      this.xHpa = this.tlbHpa[i]! + within;
      this.xRemain = size - within;
      return OK;
    }

    return this.walk(rid, iova, did, need, denied);
  }

  /** An IOTLB miss: the page walk (VT-d §3.6, second-level translation) for translate. */
  private walk(rid: number, iova: number, did: number, need: number, denied: number): number {
    this.cTlbMisses.inc();
    let table = this.ccSlpt[rid]!;
    let perm = SL_PTE.R | SL_PTE.W;
    for (let level = 4; level >= 1; level--) {
      const shift = 12 + 9 * (level - 1);
      const index = Math.floor(iova / 2 ** shift) & 0x1ff;
      const entryAddress = table + index * SL_PTE_SIZE;
      this._lastLatencyPs += this.costs.pageWalkLevelPs;
      this.cPageWalkReads.inc();
      if (entryAddress + SL_PTE_SIZE > this.memory.size) return FAULT_REASON.PAGING_ENTRY_ACCESS;
      const lo = this.memory.read32(entryAddress);
      const hi = this.memory.read32(entryAddress + 4);
      perm &= lo & (SL_PTE.R | SL_PTE.W);
      // An entry with R = W = 0 is not present: the request lacks the permission it needs.
      if ((lo & need) === 0) return denied;
      const leaf = level === 1 || (level === 2 && (lo & SL_PTE.PS) !== 0);
      if (this.slpteReserved(lo, hi, level, leaf)) return FAULT_REASON.PAGING_ENTRY_RESERVED;
      const next = join64(lo & 0xfffff000, hi & 0xfffff);
      if (leaf) {
        const size = 2 ** shift;
        const within = iova % size;
        this.xHpa = next + within;
        this.xRemain = size - within;
        // Only successful translations are cached (CAP.CM = 0).
        this.tlbInsert(did, Math.floor(iova / size), size, next, perm);
        return OK;
      }
      table = next;
    }
    return FAULT_REASON.PAGING_ENTRY_ACCESS;
  }

  /** Reserved bits of a second-level entry (VT-d §9.8) given what this unit supports. */
  private slpteReserved(lo: number, hi: number, level: number, leaf: boolean): boolean {
    // Bits 51:48 (beyond HAW) and 62 (TM, no device TLB); bit 11 (SNP, ECAP.SC = 0).
    if ((hi & 0x000f0000) !== 0 || (hi & SL_PTE.TM_HI) !== 0 || (lo & SL_PTE.SNP) !== 0) return true;
    // PS is reserved in a PML4E, and in a PDPTE (no 1 GiB pages in SLLPS).
    if ((level === 4 || level === 3) && (lo & SL_PTE.PS) !== 0) return true;
    // A 2 MiB leaf's address bits 20:12 must be zero.
    if (leaf && level === 2 && (lo & 0x001ff000) !== 0) return true;
    return false;
  }

  private tlbInsert(did: number, page: number, size: number, hpa: number, perm: number): void {
    let victim = 0;
    let oldest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.tlbSize; i++) {
      if (this.tlbDid[i] === -1) {
        victim = i;
        oldest = -1;
        break;
      }
      if (this.tlbStamp[i]! < oldest) {
        oldest = this.tlbStamp[i]!;
        victim = i;
      }
    }
    if (oldest !== -1) this.cTlbEvictions.inc();
    this.tlbDid[victim] = did;
    this.tlbBase[victim] = page * size;
    this.tlbSizeBytes[victim] = size;
    this.tlbHpa[victim] = hpa;
    this.tlbPerm[victim] = perm;
    this.tlbStamp[victim] = ++this.tlbClock;
  }

  /** Walks the root and context tables for `rid` and fills the context cache (VT-d §3.4.2). */
  private fetchContext(rid: number): number {
    this._lastLatencyPs += this.costs.contextFetchPs;
    const bus = rid >>> 8;
    const rootAddress = this.rootTableAddress + bus * ENTRY128_SIZE;
    if (rootAddress + ENTRY128_SIZE > this.memory.size) return FAULT_REASON.ROOT_TABLE_ACCESS;
    const r0 = this.memory.read32(rootAddress);
    const r1 = this.memory.read32(rootAddress + 4);
    if ((r0 & 1) === 0) return FAULT_REASON.ROOT_ENTRY_NOT_PRESENT;
    if (
      (r0 & 0xffe) !== 0 ||
      (r1 & HAW_RESERVED_HI) !== 0 ||
      this.memory.read32(rootAddress + 8) !== 0 ||
      this.memory.read32(rootAddress + 12) !== 0
    ) {
      return FAULT_REASON.ROOT_ENTRY_RESERVED;
    }
    const contextAddress = join64(r0 & 0xfffff000, r1) + (rid & 0xff) * ENTRY128_SIZE;
    if (contextAddress + ENTRY128_SIZE > this.memory.size) return FAULT_REASON.CONTEXT_TABLE_ACCESS;
    const c0 = this.memory.read32(contextAddress);
    const c1 = this.memory.read32(contextAddress + 4);
    const c2 = this.memory.read32(contextAddress + 8);
    const c3 = this.memory.read32(contextAddress + 12);
    // FPD is honoured for qualified faults even in a not-present context entry (VT-d ch. 7, fault processing and FPD).
    this.xFpd = (c0 & 2) !== 0;
    this.xQualified = true;
    if ((c0 & 1) === 0) return FAULT_REASON.CONTEXT_ENTRY_NOT_PRESENT;
    this.xQualified = false;
    if ((c0 & 0xff0) !== 0 || (c1 & HAW_RESERVED_HI) !== 0 || (c2 & 0xff000080) !== 0 || c3 !== 0) {
      return FAULT_REASON.CONTEXT_ENTRY_RESERVED;
    }
    this.xQualified = true;
    const tt = (c0 >>> 2) & 3;
    if (tt === TRANSLATION_TYPE.ALL || tt === 3) return FAULT_REASON.CONTEXT_ENTRY_INVALID;
    if (tt === TRANSLATION_TYPE.UNTRANSLATED && (c2 & 7) !== ADDRESS_WIDTH.AGAW_48) {
      return FAULT_REASON.CONTEXT_ENTRY_INVALID;
    }
    this.ccValid[rid] = 1;
    this.ccDid[rid] = (c2 >>> 8) & 0xffff;
    this.ccTt[rid] = tt;
    this.ccFpd[rid] = (c0 & 2) !== 0 ? 1 : 0;
    this.ccSlpt[rid] = join64(c0 & 0xfffff000, c1);
    return OK;
  }

  // ======================================================================================
  // Interrupt remapping (VT-d §5)
  // ======================================================================================

  /**
   * An upstream interrupt write from `requesterId`: remapped (or posted) through the IRTE its handle selects,
   * or blocked and recorded as a fault (VT-d §5).
   */
  msiWrite(address: number, data: number, requesterId: number): void {
    this._lastInterruptLatencyPs = 0;
    const rid = requesterId & 0xffff;
    if (!isMsiAddress(address)) {
      // Not an interrupt: an MSI programmed with a non-interrupt address is a DWORD DMA write.
      const b = this.msiBytes;
      b[0] = data;
      b[1] = data >>> 8;
      b[2] = data >>> 16;
      b[3] = data >>> 24;
      this.dmaWrite(rid, address, b, 0, 4);
      return;
    }
    this.cIrRequests.inc();
    const ires = (this.gsts & GSTS.IRES) !== 0;
    if (ires && isRemappableMsi(address)) {
      this.remap(address, data, rid);
      return;
    }
    if (ires && ((this.gsts & GSTS.CFIS) === 0 || this.eime)) {
      // VT-d §5.1.2.1: with remapping on, compatibility format is blocked unless CFIS is set
      // and EIME is clear. Not a qualified fault: there is no IRTE whose FPD could apply.
      this.irFault(FAULT_REASON.IR_COMPAT_BLOCKED, rid, 0, false, false);
      return;
    }
    // Pass-through: remapping off (a remappable-format request is then decoded as the
    // compatibility format, as QEMU does), or compatibility format allowed.
    const msi = decodeCompatMsi(address, data);
    const m = this.message;
    m.vector = msi.vector;
    m.deliveryMode = msi.deliveryMode;
    m.destMode = msi.destMode;
    m.destination = msi.destination;
    m.triggerMode = msi.triggerMode;
    m.level = msi.level;
    m.redirectionHint = msi.redirectionHint;
    m.x2apicDestination = false;
    this.cIrCompat.inc();
    this.deliver();
  }

  /** Remaps a remappable-format request through its IRTE (VT-d §5.1.3, §5.2.3). */
  private remap(address: number, data: number, rid: number): void {
    const index = remappableMsiIndex(address, data);
    // Data bits 31:16 are reserved (0) only when SHV (address bit 3) is set; with SHV clear
    // hardware ignores the whole data payload, subhandle included (VT-d §5.1.2.2, table
    // "Data Fields in Remappable Interrupt Request Format"; QEMU's vtd_interrupt_remap_msi
    // checks them only for a valid subhandle too).
    if ((address & MSI_ADDRESS_SHV) !== 0 && (data & 0xffff0000) !== 0) {
      this.irFault(FAULT_REASON.IR_REQUEST_RESERVED, rid, index, false, false);
      return;
    }
    if (index >= this.irtEntries) {
      this.irFault(FAULT_REASON.IR_INDEX_BEYOND_TABLE, rid, index, false, false);
      return;
    }
    const irteAddress = this.irtAddress + index * ENTRY128_SIZE;
    if (irteAddress + ENTRY128_SIZE > this.memory.size) {
      this.irFault(FAULT_REASON.IR_IRTE_ACCESS, rid, index, false, false);
      return;
    }
    this._lastInterruptLatencyPs += this.costs.irteFetchPs;
    const w0 = this.memory.read32(irteAddress);
    const w1 = this.memory.read32(irteAddress + 4);
    const w2 = this.memory.read32(irteAddress + 8);
    const w3 = this.memory.read32(irteAddress + 12);
    // FPD applies to the qualified faults below, even when P is clear (VT-d ch. 7, fault processing and FPD).
    const fpd = (w0 & 2) !== 0;
    if ((w0 & 1) === 0) {
      this.irFault(FAULT_REASON.IR_IRTE_NOT_PRESENT, rid, index, true, fpd);
      return;
    }
    const posted = (w0 & 0x8000) !== 0;
    if (this.irteReserved(w0, w1, w2, w3, posted)) {
      this.irFault(FAULT_REASON.IR_IRTE_RESERVED, rid, index, true, fpd);
      return;
    }
    // Source-ID validation (VT-d §9.10: SVT, SQ, SID).
    const svt = (w2 >>> 18) & 3;
    const sid = w2 & 0xffff;
    if (svt === SVT.REQUESTER_ID) {
      const mask = SQ_COMPARE_MASK[(w2 >>> 16) & 3]!;
      if ((rid & mask) !== (sid & mask)) {
        this.irFault(FAULT_REASON.IR_SOURCE_ID, rid, index, true, fpd);
        return;
      }
    } else if (svt === SVT.BUS_RANGE) {
      const bus = rid >>> 8;
      if (bus < sid >>> 8 || bus > (sid & 0xff)) {
        this.irFault(FAULT_REASON.IR_SOURCE_ID, rid, index, true, fpd);
        return;
      }
    }
    const vector = (w0 >>> 16) & 0xff;
    if (!posted) {
      const m = this.message;
      m.vector = vector;
      m.deliveryMode = (w0 >>> 5) & 7;
      m.destMode = (w0 >>> 2) & 1;
      m.redirectionHint = (w0 >>> 3) & 1;
      m.triggerMode = (w0 >>> 4) & 1;
      m.level = 1;
      // EIME: a 32-bit x2APIC ID; otherwise the 8-bit xAPIC ID in DST bits 15:8 (VT-d §9.10).
      m.destination = this.eime ? w1 >>> 0 : (w1 >>> 8) & 0xff;
      m.x2apicDestination = this.eime;
      this.cIrRemapped.inc();
      this.deliver();
      return;
    }
    this.post(rid, index, vector, (w0 & 0x4000) !== 0, join64(w1 & 0xffffffc0, w3), fpd);
  }

  /** Reserved fields of a present IRTE (VT-d §9.10, §9.11) given this unit's capabilities. */
  private irteReserved(w0: number, w1: number, w2: number, w3: number, posted: boolean): boolean {
    if ((w2 & 0xfff00000) !== 0) return true; // bits 95:84
    if (((w2 >>> 18) & 3) === 3) return true; // SVT = 11b is a reserved encoding
    if (posted) {
      // RsvdZ bits 7:2, 13:12 and 37:24. Bits 11:8 are AVAIL in the posted format as in the
      // remapped one: ignored by hardware (VT-d figure "Interrupt Remap Table Entry Format for
      // Posted Interrupts"; Linux's struct irte has p_avail there and dmar_copy_shared_irte
      // carries avail over when it turns a remapped IRTE into a posted one).
      return (w0 & 0xff0030fc) !== 0 || (w1 & 0x3f) !== 0;
    }
    // Bits 14:12, 31:24 and 127:96; DLM 011b and 110b are reserved encodings.
    if ((w0 & 0xff007000) !== 0 || w3 !== 0) return true;
    const dlm = (w0 >>> 5) & 7;
    if (dlm === 3 || dlm === 6) return true;
    // In xAPIC mode only DST bits 15:8 are defined.
    return !this.eime && (w1 & 0xffff00ff) !== 0;
  }

  /** Posts an interrupt into a posted-interrupt descriptor (VT-d §5.2.3, §9.12). */
  private post(rid: number, index: number, vector: number, urgent: boolean, pda: number, fpd: boolean): void {
    if (pda + PID_SIZE > this.memory.size) {
      this.irFault(FAULT_REASON.IR_PID_ACCESS, rid, index, true, fpd);
      return;
    }
    const controlAddress = pda + PID.CONTROL;
    const control = this.memory.read32(controlAddress);
    const ndst = this.memory.read32(pda + PID.NDST);
    // Bits 271:258 and 287:280 are reserved; in xAPIC mode so are NDST bits other than 15:8;
    // and bits 511:320 (VT-d §9.12, figure "Posted Interrupt Descriptor Format": RsvdZ).
    // A descriptor with a non-zero reserved field blocks the request (VT-d §5.2.3).
    if (
      (control & 0xff00fffc) !== 0 ||
      (!this.eime && (ndst & 0xffff00ff) !== 0) ||
      this.pidUpperReserved(pda)
    ) {
      this.irFault(FAULT_REASON.IR_PID_RESERVED, rid, index, true, fpd);
      return;
    }
    this._lastInterruptLatencyPs += this.costs.postedDescriptorUpdatePs;
    // The whole update is one atomic read-modify-write in hardware; the simulator runs it
    // without interleaving, which is the same thing.
    const pirAddress = pda + PID.PIR + (vector >>> 5) * 4;
    this.memory.write32(pirAddress, (this.memory.read32(pirAddress) | (1 << (vector & 31))) >>> 0);
    this.cIrPosted.inc();
    if ((control & PID.ON) !== 0 || ((control & PID.SN) !== 0 && !urgent)) {
      this.cIrSuppressed.inc();
      return;
    }
    this.memory.write32(controlAddress, (control | PID.ON) >>> 0);
    const m = this.message;
    m.vector = (control >>> PID.NV_SHIFT) & 0xff;
    m.deliveryMode = DELIVERY_MODE.FIXED;
    m.destMode = DEST_MODE.PHYSICAL;
    m.destination = this.eime ? ndst >>> 0 : (ndst >>> 8) & 0xff;
    m.triggerMode = TRIGGER_MODE.EDGE;
    m.level = 1;
    m.redirectionHint = 0;
    m.x2apicDestination = this.eime;
    this.cIrNotified.inc();
    this.deliver();
  }

  /** True if any of the descriptor's bits 511:320 (bytes 40–63) is set. */
  private pidUpperReserved(pda: number): boolean {
    for (let at = PID.NDST + 4; at < PID_SIZE; at += 4) {
      if (this.memory.read32(pda + at) !== 0) return true;
    }
    return false;
  }

  private irFault(reason: number, rid: number, index: number, qualified: boolean, fpd: boolean): void {
    this.cIrBlocked.inc();
    // For interrupt-remapping faults FI bits 63:48 hold the interrupt index (VT-d §10.4.14).
    this.recordFault(reason, rid, 0, ((index & 0xffff) << 16) >>> 0, false, qualified, fpd);
  }

  /** Delivers `this.message` now, or queues it for after the remapping latency. */
  private deliver(): void {
    if (this.simulator === undefined || this.deliverEvent === undefined) {
      this.sink.deliverInterrupt(this.message);
      return;
    }
    const sim = this.simulator;
    let when = sim.now + Math.round(this._lastInterruptLatencyPs);
    if (this.qCount > 0) {
      const lastTime = this.qTime[(this.qHead + this.qCount - 1) % this.qTime.length]!;
      if (lastTime > when) when = lastTime;
    }
    if (this.qCount === this.qTime.length) this.growQueue();
    const slot = (this.qHead + this.qCount) % this.qTime.length;
    const m = this.message;
    this.qTime[slot] = when;
    const f = slot * 7;
    this.qFields[f] = m.vector;
    this.qFields[f + 1] = m.deliveryMode;
    this.qFields[f + 2] = m.destMode;
    this.qFields[f + 3] = m.destination;
    this.qFields[f + 4] =
      m.triggerMode | (m.level << 1) | (m.redirectionHint << 2) | (m.x2apicDestination ? 8 : 0);
    this.qCount++;
    if (!this.deliverEvent.scheduled) sim.schedule(this.deliverEvent, this.qTime[this.qHead]!);
  }

  private growQueue(): void {
    const cap = this.qTime.length;
    const time = new Float64Array(cap * 2);
    const fields = new Uint32Array(cap * 2 * 7);
    for (let i = 0; i < this.qCount; i++) {
      const from = (this.qHead + i) % cap;
      time[i] = this.qTime[from]!;
      fields.set(this.qFields.subarray(from * 7, from * 7 + 7), i * 7);
    }
    this.qTime = time;
    this.qFields = fields;
    this.qHead = 0;
  }

  private drainQueue(): void {
    const sim = this.simulator!;
    const m = this.message;
    while (this.qCount > 0 && this.qTime[this.qHead]! <= sim.now) {
      const f = this.qHead * 7;
      m.vector = this.qFields[f]!;
      m.deliveryMode = this.qFields[f + 1]!;
      m.destMode = this.qFields[f + 2]!;
      m.destination = this.qFields[f + 3]!;
      const flags = this.qFields[f + 4]!;
      m.triggerMode = flags & 1;
      m.level = (flags >>> 1) & 1;
      m.redirectionHint = (flags >>> 2) & 1;
      m.x2apicDestination = (flags & 8) !== 0;
      this.qHead = (this.qHead + 1) % this.qTime.length;
      this.qCount--;
      this.sink.deliverInterrupt(m);
    }
    if (this.qCount > 0 && !this.deliverEvent!.scheduled)
      sim.schedule(this.deliverEvent!, this.qTime[this.qHead]!);
  }

  // ======================================================================================
  // Primary fault logging (VT-d §7.3.1) and the fault event (§7.4)
  // ======================================================================================

  private recordFault(
    reason: number,
    rid: number,
    infoLo: number,
    infoHi: number,
    read: boolean,
    qualified: boolean,
    fpd: boolean,
  ): void {
    this.lastFaultReason = reason;
    this.faultCounts[reason & 0xff]!++;
    if (qualified && fpd) {
      this.cFaultsFpd.inc();
      return;
    }
    // While PFO is set, no new faults are recorded.
    if (this.fstsPfo !== 0) {
      this.cFaultsOverflow.inc();
      return;
    }
    const hadPending = this.primaryPending();
    const i = this.nextRecord;
    if ((this.frcd[i * 4 + 3]! & FRCD.F) !== 0) {
      this.fstsPfo = FSTS.PFO;
      this.cFaultsOverflow.inc();
      if (!hadPending) this.faultEvent();
      return;
    }
    this.frcd[i * 4] = infoLo & 0xfffff000;
    this.frcd[i * 4 + 1] = infoHi >>> 0;
    this.frcd[i * 4 + 2] = rid & FRCD.SID_MASK;
    this.frcd[i * 4 + 3] = (FRCD.F | (read ? FRCD.T : 0) | (reason & FRCD.FR_MASK)) >>> 0;
    this.nextRecord = (i + 1) % this.nfr;
    this.cFaultsRecorded.inc();
    if (!hadPending) {
      this.firstPending = i;
      this.faultEvent();
    }
  }

  private primaryPending(): boolean {
    for (let i = 0; i < this.nfr; i++) if ((this.frcd[i * 4 + 3]! & FRCD.F) !== 0) return true;
    return false;
  }

  /** Signals a fault event: the FEDATA/FEADDR message if FECTL.IM is clear, else IP is set. */
  private faultEvent(): void {
    if ((this.fectl & FECTL.IM) !== 0) {
      this.fectl |= FECTL.IP;
      return;
    }
    this.fectl &= ~FECTL.IP;
    this.sendFaultEvent();
  }

  private sendFaultEvent(): void {
    // The fault event is the unit's own compatibility-format MSI; it is not remapped. With
    // EIM, FEUADDR supplies destination bits 31:8 (VT-d §10.4.11–13).
    const msi = decodeCompatMsi(this.feaddr, this.fedata);
    const m = this.message;
    m.vector = msi.vector;
    m.deliveryMode = msi.deliveryMode;
    m.destMode = msi.destMode;
    m.triggerMode = TRIGGER_MODE.EDGE;
    m.level = 1;
    m.redirectionHint = msi.redirectionHint;
    m.x2apicDestination = this.eime;
    m.destination = this.eime ? (((this.feuaddr & 0xffffff) << 8) | msi.destination) >>> 0 : msi.destination;
    this.cFaultEvents.inc();
    this.sink.deliverInterrupt(m);
  }

  /** The fault recording register `index` decoded (for reports and tests; allocates). */
  faultRecord(index: number): FaultRecord {
    if (!Number.isInteger(index) || index < 0 || index >= this.nfr) {
      throw new IommuConfigError(`fault record index must be in 0..${this.nfr - 1}, got ${index}`);
    }
    const w3 = this.frcd[index * 4 + 3]!;
    return {
      fault: (w3 & FRCD.F) !== 0,
      reason: w3 & FRCD.FR_MASK,
      sourceId: this.frcd[index * 4 + 2]! & FRCD.SID_MASK,
      read: (w3 & FRCD.T) !== 0,
      faultInfo: join64(this.frcd[index * 4]!, this.frcd[index * 4 + 1]!),
    };
  }

  // ======================================================================================
  // Register interface (VT-d §10.4)
  // ======================================================================================

  /** Reads the remapping unit's register at `offset` (VT-d §10.4). */
  mmioRead(offset: number, size: MmioSize): number {
    const dword = this.readDword(offset & ~3);
    if (size === 4) return dword;
    const shift = (offset & 3) * 8;
    return size === 2 ? (dword >>> shift) & 0xffff : (dword >>> shift) & 0xff;
  }

  private readDword(offset: number): number {
    switch (offset) {
      case VTD_REG.VER:
        return VTD_VERSION;
      case VTD_REG.CAP:
        return this.capLo;
      case VTD_REG.CAP + 4:
        return this.capHi;
      case VTD_REG.ECAP:
        return ECAP_LO;
      case VTD_REG.GSTS:
        return this.gsts >>> 0;
      case VTD_REG.RTADDR:
        return this.rtaddrLo;
      case VTD_REG.RTADDR + 4:
        return this.rtaddrHi;
      case VTD_REG.CCMD:
        return this.ccmdLo;
      case VTD_REG.CCMD + 4:
        return this.ccmdHi;
      case VTD_REG.FSTS:
        return (
          (this.fstsPfo | (this.primaryPending() ? FSTS.PPF : 0) | (this.firstPending << FSTS.FRI_SHIFT)) >>>
          0
        );
      case VTD_REG.FECTL:
        return this.fectl >>> 0;
      case VTD_REG.FEDATA:
        return this.fedata;
      case VTD_REG.FEADDR:
        return this.feaddr;
      case VTD_REG.FEUADDR:
        return this.feuaddr;
      case VTD_REG.IRTA:
        return this.irtaLo;
      case VTD_REG.IRTA + 4:
        return this.irtaHi;
      case VTD_REG.IVA:
        return this.ivaLo;
      case VTD_REG.IVA + 4:
        return this.ivaHi;
      case VTD_REG.IOTLB + 4:
        return this.iotlbHi;
      default:
        if (offset >= VTD_REG.FRCD && offset < VTD_REG.FRCD + this.nfr * 16) {
          return this.frcd[(offset - VTD_REG.FRCD) >>> 2]!;
        }
        // GCMD is write-only; reserved and unimplemented registers read as zero.
        return 0;
    }
  }

  /** Writes the remapping unit's register at `offset` (VT-d §10.4). */
  mmioWrite(offset: number, size: MmioSize, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) {
      // Registers are accessed as aligned 32- or 64-bit quantities (VT-d §10.2).
      this.cIgnoredWrites.inc();
      return;
    }
    const v = value >>> 0;
    switch (offset) {
      case VTD_REG.GCMD:
        this.globalCommand(v);
        return;
      case VTD_REG.RTADDR:
        this.rtaddrLo = v & 0xfffffc00;
        return;
      case VTD_REG.RTADDR + 4:
        this.rtaddrHi = v & 0xffff;
        return;
      case VTD_REG.CCMD:
        this.ccmdLo = v;
        return;
      case VTD_REG.CCMD + 4:
        this.ccmdHi = v & 0xe0000003;
        if ((v & CCMD.ICC_HI) !== 0) this.invalidateContextCache();
        return;
      case VTD_REG.FSTS:
        if ((v & FSTS.PFO) !== 0) this.fstsPfo = 0;
        this.updateInterruptPending();
        return;
      case VTD_REG.FECTL: {
        const wasMasked = (this.fectl & FECTL.IM) !== 0;
        this.fectl = (this.fectl & FECTL.IP) | (v & FECTL.IM);
        if (wasMasked && (v & FECTL.IM) === 0 && (this.fectl & FECTL.IP) !== 0) {
          this.fectl &= ~FECTL.IP;
          this.sendFaultEvent();
        }
        return;
      }
      case VTD_REG.FEDATA:
        this.fedata = v & 0xffff;
        return;
      case VTD_REG.FEADDR:
        this.feaddr = v & 0xfffffffc;
        return;
      case VTD_REG.FEUADDR:
        this.feuaddr = v;
        return;
      case VTD_REG.IRTA:
        this.irtaLo = v & (IRTA.IRTA_MASK_LO | IRTA.EIME | IRTA.S_MASK);
        return;
      case VTD_REG.IRTA + 4:
        this.irtaHi = v & 0xffff;
        return;
      case VTD_REG.IVA:
        this.ivaLo = v & (IVA.ADDR_MASK_LO | IVA.IH | IVA.AM_MASK);
        return;
      case VTD_REG.IVA + 4:
        this.ivaHi = v & 0xffff;
        return;
      case VTD_REG.IOTLB:
        return; // bits 31:0 are reserved
      case VTD_REG.IOTLB + 4:
        this.iotlbHi = v & 0xb003ffff;
        if ((v & IOTLB_REG.IVT_HI) !== 0) this.invalidateIotlb();
        return;
      default:
        if (offset >= VTD_REG.FRCD && offset < VTD_REG.FRCD + this.nfr * 16 && (offset & 0xf) === 12) {
          // F is RW1C; the rest of a fault record is read-only.
          const i = (offset - VTD_REG.FRCD) >>> 4;
          if ((v & FRCD.F) !== 0) this.frcd[i * 4 + 3] = this.frcd[i * 4 + 3]! & ~FRCD.F;
          this.updateInterruptPending();
          return;
        }
        this.cIgnoredWrites.inc();
    }
  }

  /** FECTL.IP clears when software has serviced every recorded fault and the overflow (VT-d §10.4.10). */
  private updateInterruptPending(): void {
    if (this.fstsPfo === 0 && !this.primaryPending()) this.fectl &= ~FECTL.IP;
  }

  /**
   * GCMD_REG (VT-d §10.4.4): software changes one command at a time, writing the current
   * GSTS persistent bits with one bit changed or one one-shot command set. A write that
   * changes more than one is undefined in the specification; it is ignored here and counted.
   */
  private globalCommand(v: number): void {
    const persistent = GCMD.TE | GCMD.IRE | GCMD.CFI | GCMD.QIE | GCMD.EAFL;
    const oneShot = GCMD.SRTP | GCMD.SIRTP | GCMD.WBF | GCMD.SFL;
    const changed = (((v ^ this.gsts) & persistent) | (v & oneShot)) >>> 0;
    if (changed === 0) return;
    if ((changed & (changed - 1)) !== 0) {
      this.cIgnoredWrites.inc();
      return;
    }
    switch (changed) {
      case GCMD.TE:
        this.gsts ^= GSTS.TES;
        break;
      case GCMD.IRE:
        this.gsts ^= GSTS.IRES;
        break;
      case GCMD.CFI:
        this.gsts ^= GSTS.CFIS;
        break;
      case GCMD.SRTP:
        // Latches RTADDR_REG. The root table is read in legacy mode (TTM 00b), the only mode
        // this unit reports (ECAP.SMTS = 0: no scalable mode). Cached context and
        // IOTLB entries survive: software must invalidate them globally afterwards.
        this.rootTableAddress = join64(this.rtaddrLo & 0xfffff000, this.rtaddrHi);
        this.gsts |= GSTS.RTPS;
        break;
      case GCMD.SIRTP:
        // Latches IRTA_REG. No interrupt-entry cache is modeled, so nothing else to flush.
        this.irtAddress = join64(this.irtaLo & IRTA.IRTA_MASK_LO, this.irtaHi);
        this.irtEntries = 2 ** ((this.irtaLo & IRTA.S_MASK) + 1);
        this.eime = (this.irtaLo & IRTA.EIME) !== 0;
        this.gsts |= GSTS.IRTPS;
        break;
      case GCMD.WBF:
        // CAP.RWBF = 0: there are no write buffers to flush; completes at once.
        break;
      default:
        // QIE, EAFL, SFL: queued invalidation and advanced fault logging are not supported
        // (ECAP.QI = 0, CAP.AFL = 0), so the status bits stay clear.
        this.cIgnoredWrites.inc();
    }
  }

  /** CCMD_REG with ICC set (VT-d §10.4.7): invalidates the context cache; completes at once. */
  private invalidateContextCache(): void {
    const cirg = (this.ccmdHi >>> CCMD.CIRG_HI_SHIFT) & 3;
    const did = this.ccmdLo & CCMD.DID_MASK;
    if (cirg === INVALIDATION_GRANULARITY.GLOBAL) {
      this.ccValid.fill(0);
    } else if (cirg === INVALIDATION_GRANULARITY.DOMAIN) {
      for (let rid = 0; rid < 0x10000; rid++) if (this.ccDid[rid] === did) this.ccValid[rid] = 0;
    } else if (cirg === INVALIDATION_GRANULARITY.DEVICE_OR_PAGE) {
      const mask = SQ_COMPARE_MASK[this.ccmdHi & CCMD.FM_HI_MASK]!;
      const sid = this.ccmdLo >>> CCMD.SID_SHIFT;
      for (let rid = 0; rid < 0x10000; rid++) {
        if ((rid & mask) === (sid & mask) && this.ccDid[rid] === did) this.ccValid[rid] = 0;
      }
    }
    if (cirg !== INVALIDATION_GRANULARITY.RESERVED) this.cCcInvalidations.inc();
    // ICC clears on completion; CAIG reports the granularity performed.
    this.ccmdHi =
      ((this.ccmdHi & ~CCMD.ICC_HI & ~(3 << CCMD.CAIG_HI_SHIFT)) | (cirg << CCMD.CAIG_HI_SHIFT)) >>> 0;
  }

  /** IOTLB_REG with IVT set (VT-d §10.4.8): invalidates the IOTLB; completes at once. */
  private invalidateIotlb(): void {
    const iirg = (this.iotlbHi >>> IOTLB_REG.IIRG_HI_SHIFT) & 3;
    const did = this.iotlbHi & IOTLB_REG.DID_HI_MASK;
    if (iirg === INVALIDATION_GRANULARITY.GLOBAL) {
      this.tlbDid.fill(-1);
    } else if (iirg === INVALIDATION_GRANULARITY.DOMAIN) {
      for (let i = 0; i < this.tlbSize; i++) if (this.tlbDid[i] === did) this.tlbDid[i] = -1;
    } else if (iirg === INVALIDATION_GRANULARITY.DEVICE_OR_PAGE) {
      // Page-selective: 2^AM pages at ADDR, naturally aligned (AM beyond MAMV is clamped).
      const am = Math.min(this.ivaLo & IVA.AM_MASK, MAMV);
      const span = 4096 * 2 ** am;
      const base = Math.floor(join64(this.ivaLo & IVA.ADDR_MASK_LO, this.ivaHi) / span) * span;
      for (let i = 0; i < this.tlbSize; i++) {
        if (this.tlbDid[i] !== did) continue;
        const size = this.tlbSizeBytes[i]!;
        const start = this.tlbBase[i]!;
        if (start < base + span && base < start + size) this.tlbDid[i] = -1;
      }
    }
    if (iirg !== INVALIDATION_GRANULARITY.RESERVED) this.cTlbInvalidations.inc();
    this.iotlbHi =
      ((this.iotlbHi & ~IOTLB_REG.IVT_HI & ~(3 << IOTLB_REG.IAIG_HI_SHIFT)) |
        (iirg << IOTLB_REG.IAIG_HI_SHIFT)) >>>
      0;
  }
}
