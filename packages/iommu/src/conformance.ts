/**
 * The conformance suite every VT-d IOMMU implementation must pass, in the spirit of
 * unstorage's driver suite and of `@exitless/lapic/conformance`. It programs the unit the
 * way a host OS's VT-d driver does — through the register page (`MmioDevice`) and real
 * in-memory root, context, second-level, interrupt-remapping tables and posted-interrupt
 * descriptors built with this package's builders — and observes it only through the x86
 * interfaces: DMA results and bytes in host memory (`DmaPort`), the messages that reach the
 * interrupt bus (`InterruptMessageSink`), and VT-d registers (GSTS, FSTS, fault recording).
 *
 *   import { describeIommuConformance } from '@exitless/iommu/conformance';
 *   describeIommuConformance('my IOMMU', (o) => new MyIommu(o));
 *
 * Requirements on the unit (VT-d §10.4.2–10.4.3): legacy (root/context) translation mode,
 * SAGAW with 48-bit 4-level tables, ECAP.IR, register-based invalidation (CCMD, IOTLB_REG at
 * ECAP.IRO = 0x10), fault recording registers at CAP.FRO. The suite writes FECTL.IM = 1
 * before anything else, so a blocked request sends no fault event unless a case unmasks it.
 * Optional features are probed from CAP/ECAP and checked either way: with
 * CAP.SLLPS bit 0 a 2 MiB leaf translates, without it its PS bit is reserved (fault 0xC);
 * with CAP.PI a posted IRTE posts, without it the IM bit is reserved (fault 0x24); with
 * ECAP.PT context TT = 10b passes through, without it TT = 10b is invalid (fault 0x3).
 * Extended interrupt mode (x2APIC destinations) is not covered.
 *
 * @module @exitless/iommu/conformance
 */
import { Simulator, Stats } from '@exitless/sim';
import type { InterruptMessage, InterruptMessageSink } from '@exitless/x86';
import {
  DELIVERY_MODE,
  DEST_MODE,
  DMA_OK,
  encodeCompatMsiAddress,
  encodeCompatMsiData,
  encodeRemappableMsiAddress,
  encodeRemappableMsiData,
  requesterId,
  SparseMemory,
  TRIGGER_MODE,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  encodeIrte,
  type PostedIrte,
  type RemappedIrte,
  writeEntry128,
  xapicIrteDestination,
} from './codecs.js';
import {
  CAP,
  ECAP,
  ENTRY128_SIZE,
  FAULT_REASON,
  FECTL,
  FRCD,
  FSTS,
  GCMD,
  GSTS,
  SQ,
  SVT,
  VTD_REG,
} from './constants.js';
import type { IommuFactory, IommuUnderTest } from './part.js';
import {
  DmaRemappingTables,
  type Domain,
  enableDmaRemapping,
  enableInterruptRemapping,
  globalCommand,
  InterruptRemappingTable,
  invalidateContextCacheGlobal,
  invalidateIotlb,
  PageAllocator,
  readPostedInterruptDescriptor,
  writePostedInterruptDescriptor,
} from './tables.js';

export type { IommuFactory, IommuFactoryOptions, IommuUnderTest } from './part.js';

/**
 * Where the suite puts things in the 64 MiB host memory: the table pool the builders
 * allocate from, and the host pages DMA is mapped to (above the pool).
 */
export const CONFORMANCE_LAYOUT = {
  /** Bytes of host memory the suite's machine has (64 MiB). */
  memoryBytes: 0x4000000,
  /** Host-physical base of the pool the table builders allocate from. */
  tablePoolBase: 0x100000,
  /** Bytes of the table pool (4 MiB). */
  tablePoolBytes: 0x400000,
  /** Host-physical target pages (4 KiB apart, first one 2 MiB-aligned). */
  hostPageA: 0x2000000,
  /** Second target page, 4 KiB above the first. */
  hostPageB: 0x2001000,
  /** Third target page, 12 KiB above the first (not adjacent to the second). */
  hostPageC: 0x2003000,
  /** A 2 MiB-aligned host frame for the large-page case. */
  hostLargePage: 0x2400000,
} as const;

const L = CONFORMANCE_LAYOUT;

/** Requester IDs (VT-d §3.4.1: bus 15:8, device 7:3, function 2:0): an SR-IOV PF 03:00.0 and two VFs. */
const PF = requesterId(0x03, 0x00, 0);
const VF0 = requesterId(0x03, 0x10, 0);
const VF1 = requesterId(0x03, 0x10, 2);
/** Function 1 of VF0's device, which only SQ "ignore bits 2:0" matches with VF0's SID. */
const VF0_FN1 = requesterId(0x03, 0x10, 1);
/** A device on bus 4, where no root entry is present. */
const OTHER_BUS = requesterId(0x04, 0x00, 0);

const RW = { read: true, write: true } as const;
const RO = { read: true, write: false } as const;
const WO = { read: false, write: true } as const;
const PATTERN = Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04]);
const ZEROES = [0, 0, 0, 0, 0, 0, 0, 0];
const SIZE_2M = 0x200000;
/** The interrupt remapping table the suite builds: 256 entries, IRTA.S = 7. */
const IRT_ENTRIES = 256;

/** An interrupt bus double: copies every message it is given. */
class MessageRecorder implements InterruptMessageSink {
  readonly messages: InterruptMessage[] = [];

  deliverInterrupt(message: InterruptMessage): void {
    this.messages.push({ ...message });
  }
}

/** A decoded fault recording register (VT-d §10.4.14). */
interface FaultRecordView {
  readonly fault: boolean;
  readonly reason: number;
  readonly sourceId: number;
  /** T: true for a read request. */
  readonly read: boolean;
  /** FI bits 63:32 (the interrupt index is in 63:48 for interrupt-remapping faults). */
  readonly infoHi: number;
  /** FI bits 31:12 (the faulting page for DMA faults). */
  readonly infoLo: number;
}

interface Rig {
  readonly sim: Simulator;
  readonly memory: SparseMemory;
  readonly sink: MessageRecorder;
  readonly iommu: IommuUnderTest;
  readonly pages: PageAllocator;
  readonly dmar: DmaRemappingTables;
  readonly irt: InterruptRemappingTable;
  /** Runs the simulator until no event is left, so delayed deliveries have happened. */
  settle(): void;
  /** The messages that reached the bus, after settling. */
  delivered(): InterruptMessage[];
  capLo(): number;
  capHi(): number;
  ecap(): number;
  gsts(): number;
  /** The fault record FSTS.FRI points at, or null when FSTS.PPF is clear. */
  firstFault(): FaultRecordView | null;
  bytes(address: number, n: number): number[];
}

interface RigOptions {
  /** Bring up DMA remapping (RTADDR, SRTP, invalidations, TE). Default true. */
  readonly dma?: boolean;
  /** Bring up interrupt remapping (IRTA, SIRTP, IRE). Default true. */
  readonly ir?: boolean;
  /** Set GCMD.CFI during interrupt-remapping bring-up. Default false. */
  readonly cfi?: boolean;
}

function makeRig(factory: IommuFactory, o: RigOptions = {}): Rig {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const memory = new SparseMemory(L.memoryBytes);
  const sink = new MessageRecorder();
  const iommu = factory({ memory, interruptSink: sink, sim, stats: stats.scope('iommu') });
  const pages = new PageAllocator(memory, L.tablePoolBase, L.tablePoolBytes);
  const dmar = new DmaRemappingTables(memory, pages);
  const irt = new InterruptRemappingTable(memory, pages, IRT_ENTRIES);
  // Fault events stay masked (FECTL.IM, VT-d §10.4.10), so a blocked request sends nothing
  // to the bus; the fault-event case unmasks them itself.
  iommu.mmioWrite(VTD_REG.FECTL, 4, FECTL.IM);
  if (o.dma ?? true) enableDmaRemapping(iommu, dmar.rootTableAddress);
  if (o.ir ?? true) {
    enableInterruptRemapping(iommu, irt, {
      extendedInterruptMode: false,
      allowCompatibilityFormat: o.cfi ?? false,
    });
  }
  const read32 = (offset: number) => iommu.mmioRead(offset, 4) >>> 0;
  const rig: Rig = {
    sim,
    memory,
    sink,
    iommu,
    pages,
    dmar,
    irt,
    settle: () => {
      sim.runUntilEmpty();
    },
    delivered: () => {
      sim.runUntilEmpty();
      return sink.messages;
    },
    capLo: () => read32(VTD_REG.CAP),
    capHi: () => read32(VTD_REG.CAP + 4),
    ecap: () => read32(VTD_REG.ECAP),
    gsts: () => read32(VTD_REG.GSTS),
    firstFault: () => {
      const fsts = read32(VTD_REG.FSTS);
      if ((fsts & FSTS.PPF) === 0) return null;
      const fri = (fsts >>> FSTS.FRI_SHIFT) & 0xff;
      // CAP.FRO (bits 33:24) locates the fault recording registers, 16 bytes each.
      const fro = (rig.capLo() >>> CAP.FRO_SHIFT) | ((rig.capHi() & 0x3) << 8);
      const at = fro * 16 + fri * 16;
      const w3 = read32(at + 12);
      return {
        fault: (w3 & FRCD.F) !== 0,
        reason: w3 & FRCD.FR_MASK,
        sourceId: read32(at + 8) & FRCD.SID_MASK,
        read: (w3 & FRCD.T) !== 0,
        infoHi: read32(at + 4),
        infoLo: read32(at) & 0xfffff000,
      };
    },
    bytes: (address, n) => {
      const b = new Uint8Array(n);
      memory.readBytes(address, b);
      return [...b];
    },
  };
  return rig;
}

const bitOf = (dword: number, bit: number): boolean => ((dword >>> bit) & 1) === 1;
const sllps2M = (r: Rig): boolean => bitOf(r.capHi(), CAP.SLLPS_SHIFT - 32);
const psi = (r: Rig): boolean => bitOf(r.capHi(), CAP.PSI_BIT - 32);
const postedSupported = (r: Rig): boolean => bitOf(r.capHi(), CAP.PI_BIT - 32);

/** A remapped-format IRTE (VT-d §9.10) validating VF0's requester ID exactly. */
function remapped(overrides: Partial<RemappedIrte> = {}): RemappedIrte {
  return {
    mode: 'remapped',
    present: true,
    faultProcessingDisable: false,
    destinationMode: DEST_MODE.PHYSICAL,
    redirectionHint: 0,
    triggerMode: TRIGGER_MODE.EDGE,
    deliveryMode: DELIVERY_MODE.FIXED,
    available: 0,
    vector: 0x41,
    destination: xapicIrteDestination(2),
    sourceId: VF0,
    sourceIdQualifier: SQ.ALL,
    sourceValidationType: SVT.REQUESTER_ID,
    ...overrides,
  };
}

/** A posted-format IRTE (VT-d §9.11) for VF0 pointing at the descriptor `pda`. */
function posted(pda: number, overrides: Partial<PostedIrte> = {}): PostedIrte {
  return {
    mode: 'posted',
    present: true,
    faultProcessingDisable: false,
    urgent: false,
    vector: 0x63,
    descriptorAddress: pda,
    sourceId: VF0,
    sourceIdQualifier: SQ.ALL,
    sourceValidationType: SVT.REQUESTER_ID,
    ...overrides,
  };
}

/** The remappable-format MSI address/data (VT-d §5.1.2.2) for interrupt index `handle` (+ subhandle with SHV). */
function remappableMsi(handle: number, subhandle?: number): readonly [number, number] {
  return [
    encodeRemappableMsiAddress({ handle, shv: subhandle !== undefined }),
    encodeRemappableMsiData({ subhandle: subhandle ?? 0 }),
  ];
}

/** A compatibility-format MSI (SDM vol. 3 §10.11): fixed, edge, physical. */
function compatMsi(vector: number, destination: number): readonly [number, number] {
  return [
    encodeCompatMsiAddress({ destination, redirectionHint: 0, destMode: DEST_MODE.PHYSICAL }),
    encodeCompatMsiData({
      vector,
      deliveryMode: DELIVERY_MODE.FIXED,
      level: 1,
      triggerMode: TRIGGER_MODE.EDGE,
    }),
  ];
}

/** The fields of the message a remapped IRTE determines (VT-d §5.1.4). */
function fromIrte(e: RemappedIrte): Partial<InterruptMessage> {
  return {
    vector: e.vector,
    deliveryMode: e.deliveryMode,
    destMode: e.destinationMode,
    destination: (e.destination >>> 8) & 0xff,
    triggerMode: e.triggerMode,
    redirectionHint: e.redirectionHint,
    x2apicDestination: false,
  };
}

/** Checks that the request was blocked with `reason` recorded for `sourceId`, and nothing reached the bus. */
function expectInterruptBlocked(r: Rig, reason: number, sourceId: number): void {
  expect(r.delivered()).toEqual([]);
  expect(r.firstFault()).toMatchObject({ fault: true, reason, sourceId });
}

/** A domain with VF0 attached; `map` entries are added before the first DMA. */
function vf0Domain(r: Rig, domainId = 1): Domain {
  const d = r.dmar.createDomain(domainId);
  r.dmar.attachDevice(VF0, d);
  return d;
}

/**
 * Registers the conformance tests for the IOMMU built by `factory` under a describe block
 * named after `name`.
 */
export function describeIommuConformance(name: string, factory: IommuFactory): void {
  describe(`IOMMU conformance: ${name}`, () => {
    describe('bring-up through the register page (VT-d §10.4.4–10.4.5)', () => {
      it('reset: GSTS = 0 (TES, RTPS, IRES, IRTPS clear); ECAP.IR = 1, ECAP.IRO = 0x10; SAGAW has 48-bit 4-level (bit 2)', () => {
        const r = makeRig(factory, { dma: false, ir: false });
        expect(r.gsts() & (GSTS.TES | GSTS.RTPS | GSTS.IRES | GSTS.IRTPS)).toBe(0);
        expect(r.ecap() & ECAP.IR).toBe(ECAP.IR);
        // The invalidation helpers program IVA/IOTLB_REG at 0x100/0x108, i.e. IRO (bits 17:8) = 0x10.
        expect(((r.ecap() >>> ECAP.IRO_SHIFT) & 0x3ff) * 16).toBe(VTD_REG.IVA);
        expect((r.capLo() >>> CAP.SAGAW_SHIFT) & CAP.SAGAW_48BIT_4LEVEL).toBe(CAP.SAGAW_48BIT_4LEVEL);
      });

      it('SRTP then TE sets GSTS.RTPS and GSTS.TES; SIRTP then IRE sets IRTPS and IRES; CFI sets CFIS', () => {
        const r = makeRig(factory, { cfi: true });
        const want = GSTS.TES | GSTS.RTPS | GSTS.IRES | GSTS.IRTPS | GSTS.CFIS;
        expect((r.gsts() & want) >>> 0).toBe(want >>> 0);
        globalCommand(r.iommu, GCMD.TE, false);
        expect(r.gsts() & GSTS.TES).toBe(0);
        expect(r.gsts() & GSTS.IRES).toBe(GSTS.IRES);
      });
    });

    describe('DMA remapping (VT-d §3.4–3.6, fault reasons §7.1.3)', () => {
      it('a mapped 4 KiB page: DMA write at IOVA 0x10123 reaches HPA A + 0x123 (result 0); a read returns those bytes', () => {
        const r = makeRig(factory);
        const d = vf0Domain(r);
        r.dmar.map(d, 0x10000, L.hostPageA, 0x1000, RW);
        expect(r.iommu.dmaWrite(VF0, 0x10123, PATTERN, 0, 8)).toBe(DMA_OK);
        expect(r.bytes(L.hostPageA + 0x123, 8)).toEqual([...PATTERN]);
        expect(r.bytes(0x10123, 8)).toEqual(ZEROES);
        const dst = new Uint8Array(10);
        expect(r.iommu.dmaRead(VF0, 0x10123, dst, 2, 8)).toBe(DMA_OK);
        expect([...dst]).toEqual([0, 0, ...PATTERN]);
      });

      it('an access crossing a page boundary is translated page by page (IOVA 0x10ff8 → A + 0xff8 and C + 0)', () => {
        const r = makeRig(factory);
        const d = vf0Domain(r);
        r.dmar.map(d, 0x10000, L.hostPageA, 0x1000, RW);
        r.dmar.map(d, 0x11000, L.hostPageC, 0x1000, RW);
        const src = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
        expect(r.iommu.dmaWrite(VF0, 0x10ff8, src, 0, 16)).toBe(DMA_OK);
        expect(r.bytes(L.hostPageA + 0xff8, 8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
        expect(r.bytes(L.hostPageC, 8)).toEqual([9, 10, 11, 12, 13, 14, 15, 16]);
        expect(r.bytes(L.hostPageB, 8)).toEqual(ZEROES);
      });

      it('an unmapped IOVA is blocked: write → 0x5, read → 0x6, nothing written, dst untouched, fault recorded', () => {
        const r = makeRig(factory);
        const d = vf0Domain(r);
        r.dmar.map(d, 0x10000, L.hostPageA, 0x1000, RW);
        expect(r.iommu.dmaWrite(VF0, 0x20010, PATTERN, 0, 8)).toBe(FAULT_REASON.WRITE);
        expect(r.bytes(0x20010, 8)).toEqual(ZEROES);
        expect(r.bytes(L.hostPageA + 0x10, 8)).toEqual(ZEROES);
        expect(r.firstFault()).toEqual({
          fault: true,
          reason: FAULT_REASON.WRITE,
          sourceId: VF0,
          read: false,
          infoHi: 0,
          infoLo: 0x20000,
        });
        const dst = new Uint8Array(8).fill(0x5a);
        expect(r.iommu.dmaRead(VF0, 0x20010, dst, 0, 8)).toBe(FAULT_REASON.READ);
        expect([...dst]).toEqual(new Array(8).fill(0x5a));
      });

      it('a fault on any page blocks the whole access: 16 bytes at 0x10ff8 with 0x11000 unmapped write nothing', () => {
        const r = makeRig(factory);
        const d = vf0Domain(r);
        r.dmar.map(d, 0x10000, L.hostPageA, 0x1000, RW);
        const src = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
        expect(r.iommu.dmaWrite(VF0, 0x10ff8, src, 0, 16)).toBe(FAULT_REASON.WRITE);
        expect(r.bytes(L.hostPageA + 0xff8, 8)).toEqual(ZEROES);
      });

      it('R/W per page: a write to a read-only page → 0x5 (nothing written), a read of a write-only page → 0x6', () => {
        const r = makeRig(factory);
        const d = vf0Domain(r);
        r.dmar.map(d, 0x10000, L.hostPageA, 0x1000, RO);
        r.dmar.map(d, 0x11000, L.hostPageB, 0x1000, WO);
        r.memory.writeBytes(L.hostPageA, Uint8Array.from([9, 9, 9, 9]));
        expect(r.iommu.dmaWrite(VF0, 0x10000, PATTERN, 0, 8)).toBe(FAULT_REASON.WRITE);
        expect(r.bytes(L.hostPageA, 8)).toEqual([9, 9, 9, 9, 0, 0, 0, 0]);
        const dst = new Uint8Array(4);
        expect(r.iommu.dmaRead(VF0, 0x10000, dst, 0, 4)).toBe(DMA_OK);
        expect([...dst]).toEqual([9, 9, 9, 9]);
        expect(r.iommu.dmaRead(VF0, 0x11000, new Uint8Array(4), 0, 4)).toBe(FAULT_REASON.READ);
        expect(r.iommu.dmaWrite(VF0, 0x11000, PATTERN, 0, 8)).toBe(DMA_OK);
        expect(r.bytes(L.hostPageB, 8)).toEqual([...PATTERN]);
      });

      it('isolation: VF0 (domain 1) and VF1 (domain 2) map IOVA 0x10000 to A and B; each reaches only its own', () => {
        const r = makeRig(factory);
        const d1 = vf0Domain(r, 1);
        const d2 = r.dmar.createDomain(2);
        r.dmar.attachDevice(VF1, d2);
        r.dmar.map(d1, 0x10000, L.hostPageA, 0x1000, RW);
        r.dmar.map(d2, 0x10000, L.hostPageB, 0x1000, RW);
        r.dmar.map(d2, 0x30000, L.hostPageC, 0x1000, RW);
        expect(r.iommu.dmaWrite(VF0, 0x10000, PATTERN, 0, 4)).toBe(DMA_OK);
        expect(r.iommu.dmaWrite(VF1, 0x10000, PATTERN, 4, 4)).toBe(DMA_OK);
        expect(r.bytes(L.hostPageA, 4)).toEqual([0xde, 0xad, 0xbe, 0xef]);
        expect(r.bytes(L.hostPageB, 4)).toEqual([1, 2, 3, 4]);
        // VF1's other mapping is not VF0's.
        expect(r.iommu.dmaWrite(VF0, 0x30000, PATTERN, 0, 4)).toBe(FAULT_REASON.WRITE);
        expect(r.bytes(L.hostPageC, 4)).toEqual([0, 0, 0, 0]);
      });

      it('no context entry → 0x2 (bus present), no root entry → 0x1; both block and record the SID', () => {
        const r = makeRig(factory);
        const d = vf0Domain(r);
        r.dmar.map(d, 0x10000, L.hostPageA, 0x1000, RW);
        expect(r.iommu.dmaWrite(PF, 0x10000, PATTERN, 0, 8)).toBe(FAULT_REASON.CONTEXT_ENTRY_NOT_PRESENT);
        expect(r.firstFault()).toMatchObject({
          reason: FAULT_REASON.CONTEXT_ENTRY_NOT_PRESENT,
          sourceId: PF,
        });
        expect(r.iommu.dmaWrite(OTHER_BUS, 0x10000, PATTERN, 0, 8)).toBe(FAULT_REASON.ROOT_ENTRY_NOT_PRESENT);
        expect(r.bytes(L.hostPageA, 8)).toEqual(ZEROES);
        expect(r.bytes(0x10000, 8)).toEqual(ZEROES);
      });

      it('an input address ≥ 2^48 (beyond the 48-bit AGAW) → 0x4', () => {
        const r = makeRig(factory);
        const d = vf0Domain(r);
        r.dmar.map(d, 0, L.hostPageA, 0x1000, RW);
        expect(r.iommu.dmaWrite(VF0, 2 ** 48, PATTERN, 0, 8)).toBe(FAULT_REASON.ADDRESS_BEYOND_MGAW);
        expect(r.bytes(L.hostPageA, 8)).toEqual(ZEROES);
      });

      it('2 MiB page (PDE.PS): with CAP.SLLPS[0] IOVA 0x212345 reaches the frame + 0x12345; without it PS is reserved (0xC)', () => {
        const r = makeRig(factory);
        const d = vf0Domain(r);
        r.dmar.map(d, SIZE_2M, L.hostLargePage, SIZE_2M, RW, SIZE_2M);
        const result = r.iommu.dmaWrite(VF0, SIZE_2M + 0x12345, PATTERN, 0, 8);
        if (sllps2M(r)) {
          expect(result).toBe(DMA_OK);
          expect(r.bytes(L.hostLargePage + 0x12345, 8)).toEqual([...PATTERN]);
          // The last bytes of the large page, across what would be a 4 KiB boundary.
          expect(r.iommu.dmaWrite(VF0, 2 * SIZE_2M - 4, PATTERN, 0, 4)).toBe(DMA_OK);
          expect(r.bytes(L.hostLargePage + SIZE_2M - 4, 4)).toEqual([0xde, 0xad, 0xbe, 0xef]);
          // The next 2 MiB is not mapped.
          expect(r.iommu.dmaWrite(VF0, 2 * SIZE_2M, PATTERN, 0, 8)).toBe(FAULT_REASON.WRITE);
        } else {
          expect(result).toBe(FAULT_REASON.PAGING_ENTRY_RESERVED);
          expect(r.bytes(L.hostLargePage + 0x12345, 8)).toEqual(ZEROES);
        }
      });

      for (const scope of ['global', 'domain-selective', 'page-selective'] as const) {
        it(`IOTLB: after unmap + ${scope} invalidation (IOTLB_REG.IVT) the old translation is gone (0x5, nothing written)`, () => {
          const r = makeRig(factory);
          const d = vf0Domain(r, 5);
          r.dmar.map(d, 0x10000, L.hostPageA, 0x1000, RW);
          r.dmar.map(d, 0x11000, L.hostPageB, 0x1000, RW);
          // Warm whatever the unit caches.
          expect(r.iommu.dmaWrite(VF0, 0x10000, PATTERN, 0, 8)).toBe(DMA_OK);
          expect(r.iommu.dmaWrite(VF0, 0x11000, PATTERN, 0, 8)).toBe(DMA_OK);
          r.memory.fill(L.hostPageA, 0x1000, 0);
          r.dmar.unmap(d, 0x10000, 0x1000);
          if (scope === 'global') invalidateIotlb(r.iommu);
          else if (scope === 'domain-selective') invalidateIotlb(r.iommu, { domainId: 5 });
          // Without CAP.PSI the unit performs a coarser invalidation, which must still cover it.
          else invalidateIotlb(r.iommu, { domainId: 5, address: 0x10000, addressMask: 0 });
          expect(r.iommu.dmaWrite(VF0, 0x10000, PATTERN, 0, 8)).toBe(FAULT_REASON.WRITE);
          expect(r.bytes(L.hostPageA, 8)).toEqual(ZEROES);
          // The page left mapped still translates.
          expect(r.iommu.dmaWrite(VF0, 0x11008, PATTERN, 0, 8)).toBe(DMA_OK);
          expect(r.bytes(L.hostPageB + 8, 8)).toEqual([...PATTERN]);
        });
      }

      it('IOTLB: remapping IOVA 0x10000 from A to B + domain invalidation sends the next DMA to B', () => {
        const r = makeRig(factory);
        const d = vf0Domain(r, 3);
        r.dmar.map(d, 0x10000, L.hostPageA, 0x1000, RW);
        expect(r.iommu.dmaWrite(VF0, 0x10000, PATTERN, 0, 4)).toBe(DMA_OK);
        r.dmar.unmap(d, 0x10000, 0x1000);
        r.dmar.map(d, 0x10000, L.hostPageB, 0x1000, RW);
        invalidateIotlb(r.iommu, { domainId: 3 });
        expect(r.iommu.dmaWrite(VF0, 0x10000, PATTERN, 4, 4)).toBe(DMA_OK);
        expect(r.bytes(L.hostPageA, 4)).toEqual([0xde, 0xad, 0xbe, 0xef]);
        expect(r.bytes(L.hostPageB, 4)).toEqual([1, 2, 3, 4]);
        if (psi(r)) {
          // Page-selective invalidation of a 2-page range (AM = 1) covers both pages.
          r.dmar.map(d, 0x11000, L.hostPageC, 0x1000, RW);
          expect(r.iommu.dmaWrite(VF0, 0x11000, PATTERN, 0, 4)).toBe(DMA_OK);
          r.dmar.unmap(d, 0x10000, 0x2000);
          invalidateIotlb(r.iommu, { domainId: 3, address: 0x10000, addressMask: 1 });
          expect(r.iommu.dmaWrite(VF0, 0x10000, PATTERN, 0, 4)).toBe(FAULT_REASON.WRITE);
          expect(r.iommu.dmaWrite(VF0, 0x11000, PATTERN, 0, 4)).toBe(FAULT_REASON.WRITE);
        }
      });

      it('context cache: detach + global CCMD invalidation + IOTLB invalidation → the device is blocked (0x2)', () => {
        const r = makeRig(factory);
        const d = vf0Domain(r);
        r.dmar.map(d, 0x10000, L.hostPageA, 0x1000, RW);
        expect(r.iommu.dmaWrite(VF0, 0x10000, PATTERN, 0, 4)).toBe(DMA_OK);
        r.memory.fill(L.hostPageA, 8, 0);
        r.dmar.detachDevice(VF0);
        invalidateContextCacheGlobal(r.iommu);
        invalidateIotlb(r.iommu);
        expect(r.iommu.dmaWrite(VF0, 0x10000, PATTERN, 0, 8)).toBe(FAULT_REASON.CONTEXT_ENTRY_NOT_PRESENT);
        expect(r.bytes(L.hostPageA, 8)).toEqual(ZEROES);
      });

      it('translation off (GSTS.TES = 0): DMA is passed through, host-physical = IOVA, for any requester', () => {
        const r = makeRig(factory, { dma: false });
        expect(r.gsts() & GSTS.TES).toBe(0);
        expect(r.iommu.dmaWrite(OTHER_BUS, L.hostPageC + 0x10, PATTERN, 0, 8)).toBe(DMA_OK);
        expect(r.bytes(L.hostPageC + 0x10, 8)).toEqual([...PATTERN]);
        const dst = new Uint8Array(8);
        expect(r.iommu.dmaRead(VF0, L.hostPageC + 0x10, dst, 0, 8)).toBe(DMA_OK);
        expect([...dst]).toEqual([...PATTERN]);
        expect(r.firstFault()).toBe(null);
      });

      it('clearing TE with GCMD turns translation off: IOVA 0x2003000 mapped to A is then written at 0x2003000 itself', () => {
        const r = makeRig(factory);
        const d = vf0Domain(r);
        r.dmar.map(d, L.hostPageC, L.hostPageA, 0x1000, RW);
        expect(r.iommu.dmaWrite(VF0, L.hostPageC, PATTERN, 0, 4)).toBe(DMA_OK);
        expect(r.bytes(L.hostPageA, 4)).toEqual([0xde, 0xad, 0xbe, 0xef]);
        globalCommand(r.iommu, GCMD.TE, false);
        expect(r.gsts() & GSTS.TES).toBe(0);
        expect(r.iommu.dmaWrite(VF0, L.hostPageC, PATTERN, 4, 4)).toBe(DMA_OK);
        expect(r.bytes(L.hostPageC, 4)).toEqual([1, 2, 3, 4]);
        expect(r.bytes(L.hostPageA, 4)).toEqual([0xde, 0xad, 0xbe, 0xef]);
      });

      it('context TT = 10b: with ECAP.PT the device is passed through; without it the entry is invalid (0x3)', () => {
        const r = makeRig(factory);
        const d = r.dmar.createDomain(4);
        r.dmar.attachDevice(VF1, d, { passThrough: true });
        const result = r.iommu.dmaWrite(VF1, L.hostPageB, PATTERN, 0, 8);
        if ((r.ecap() & ECAP.PT) !== 0) {
          expect(result).toBe(DMA_OK);
          expect(r.bytes(L.hostPageB, 8)).toEqual([...PATTERN]);
        } else {
          expect(result).toBe(FAULT_REASON.CONTEXT_ENTRY_INVALID);
          expect(r.bytes(L.hostPageB, 8)).toEqual(ZEROES);
        }
      });

      it('fault log: F is RW1C and FSTS.PPF follows it; an unmasked fault event sends FEDATA to FEADDR', () => {
        const r = makeRig(factory);
        vf0Domain(r);
        expect(r.iommu.dmaRead(VF0, 0x40000, new Uint8Array(4), 0, 4)).toBe(FAULT_REASON.READ);
        const first = r.firstFault();
        expect(first).toMatchObject({ fault: true, reason: FAULT_REASON.READ, read: true, infoLo: 0x40000 });
        // Fault events are masked (FECTL.IM = 1): no message, FECTL.IP pending instead.
        expect(r.delivered()).toEqual([]);
        expect(r.iommu.mmioRead(VTD_REG.FECTL, 4) & FECTL.IP).toBe(FECTL.IP);
        const fri = (r.iommu.mmioRead(VTD_REG.FSTS, 4) >>> FSTS.FRI_SHIFT) & 0xff;
        const fro = (r.capLo() >>> CAP.FRO_SHIFT) | ((r.capHi() & 0x3) << 8);
        r.iommu.mmioWrite(fro * 16 + fri * 16 + 12, 4, FRCD.F);
        expect(r.firstFault()).toBe(null);
        // Program the fault event: vector 0xE5 to APIC 1, then unmask; the next fault sends it.
        const [feaddr, fedata] = compatMsi(0xe5, 1);
        r.iommu.mmioWrite(VTD_REG.FEDATA, 4, fedata);
        r.iommu.mmioWrite(VTD_REG.FEADDR, 4, feaddr);
        r.iommu.mmioWrite(VTD_REG.FEUADDR, 4, 0);
        r.iommu.mmioWrite(VTD_REG.FECTL, 4, 0);
        expect(r.iommu.dmaWrite(VF0, 0x40000, PATTERN, 0, 4)).toBe(FAULT_REASON.WRITE);
        expect(r.delivered()).toMatchObject([
          { vector: 0xe5, destination: 1, deliveryMode: DELIVERY_MODE.FIXED },
        ]);
      });
    });

    describe('interrupt remapping: remapped format (VT-d §5.1, §9.10)', () => {
      it("a remappable MSI (handle 5) through a present IRTE reaches the bus with the IRTE's vector and destination", () => {
        const r = makeRig(factory);
        const e5 = remapped({ vector: 0x41, destination: xapicIrteDestination(2) });
        const e6 = remapped({
          vector: 0x9c,
          destination: xapicIrteDestination(0x0c),
          destinationMode: DEST_MODE.LOGICAL,
          deliveryMode: DELIVERY_MODE.LOWEST_PRIORITY,
          redirectionHint: 1,
          triggerMode: TRIGGER_MODE.LEVEL,
        });
        r.irt.write(5, e5);
        r.irt.write(6, e6);
        r.iommu.msiWrite(...remappableMsi(5), VF0);
        r.iommu.msiWrite(...remappableMsi(6), VF0);
        const got = r.delivered();
        expect(got).toHaveLength(2);
        expect(got[0]).toMatchObject(fromIrte(e5));
        expect(got[1]).toMatchObject({ ...fromIrte(e6), level: 1 });
        expect(r.firstFault()).toBe(null);
      });

      it('SHV: handle 8 with subhandle 3 selects IRTE 11 (index = handle + subhandle)', () => {
        const r = makeRig(factory);
        r.irt.write(8, remapped({ vector: 0x48 }));
        r.irt.write(11, remapped({ vector: 0x4b }));
        r.iommu.msiWrite(...remappableMsi(8, 3), VF0);
        expect(r.delivered()).toMatchObject([{ vector: 0x4b }]);
      });

      it('a not-present IRTE (P = 0, other fields valid) blocks the request: nothing reaches the bus, fault 0x22', () => {
        const r = makeRig(factory);
        r.irt.write(5, remapped({ present: false, vector: 0x41 }));
        r.iommu.msiWrite(...remappableMsi(5), VF0);
        expectInterruptBlocked(r, FAULT_REASON.IR_IRTE_NOT_PRESENT, VF0);
        // FI bits 63:48 hold the interrupt index.
        expect((r.firstFault()?.infoHi ?? 0) >>> 16).toBe(5);
      });

      it('SVT = 01b, SQ = 00b: a request from another requester ID (VF1 for VF0’s IRTE) is blocked with 0x26', () => {
        const r = makeRig(factory);
        r.irt.write(5, remapped());
        r.iommu.msiWrite(...remappableMsi(5), VF1);
        expectInterruptBlocked(r, FAULT_REASON.IR_SOURCE_ID, VF1);
        r.iommu.msiWrite(...remappableMsi(5), VF0);
        expect(r.delivered()).toMatchObject([{ vector: 0x41 }]);
      });

      it('SQ = 11b ignores function bits 2:0: 03:10.1 passes VF0’s IRTE, 03:11.0 does not', () => {
        const r = makeRig(factory);
        r.irt.write(5, remapped({ sourceIdQualifier: SQ.IGNORE_BITS_2_0 }));
        r.iommu.msiWrite(...remappableMsi(5), VF0_FN1);
        expect(r.delivered()).toMatchObject([{ vector: 0x41 }]);
        r.iommu.msiWrite(...remappableMsi(5), requesterId(0x03, 0x11, 0));
        expect(r.delivered()).toHaveLength(1);
        expect(r.firstFault()).toMatchObject({ reason: FAULT_REASON.IR_SOURCE_ID });
      });

      it('SVT = 10b checks the bus against SID[15:8]..SID[7:0]; SVT = 00b checks nothing', () => {
        const r = makeRig(factory);
        r.irt.write(5, remapped({ sourceValidationType: SVT.BUS_RANGE, sourceId: 0x0203, vector: 0x45 }));
        r.irt.write(6, remapped({ sourceValidationType: SVT.NONE, sourceId: 0, vector: 0x46 }));
        r.iommu.msiWrite(...remappableMsi(5), OTHER_BUS);
        expectInterruptBlocked(r, FAULT_REASON.IR_SOURCE_ID, OTHER_BUS);
        r.iommu.msiWrite(...remappableMsi(5), requesterId(0x02, 0x1f, 7));
        r.iommu.msiWrite(...remappableMsi(5), VF1);
        r.iommu.msiWrite(...remappableMsi(6), OTHER_BUS);
        expect(r.delivered().map((m) => m.vector)).toEqual([0x45, 0x45, 0x46]);
      });

      it('an index beyond the table (IRTA.S = 7: 256 entries) is blocked with 0x21 even if memory there looks like an IRTE', () => {
        const r = makeRig(factory);
        // A valid IRTE just past the end of the table: a unit that ignored IRTA.S would use it.
        const words = new Uint32Array(4);
        encodeIrte(remapped({ vector: 0x77 }), words);
        writeEntry128(r.memory, r.irt.address + IRT_ENTRIES * ENTRY128_SIZE, words);
        r.irt.write(IRT_ENTRIES - 1, remapped({ vector: 0x76 }));
        r.iommu.msiWrite(...remappableMsi(IRT_ENTRIES - 1), VF0);
        expect(r.delivered()).toMatchObject([{ vector: 0x76 }]);
        r.iommu.msiWrite(...remappableMsi(IRT_ENTRIES), VF0);
        expect(r.delivered()).toHaveLength(1);
        expect(r.firstFault()).toMatchObject({ reason: FAULT_REASON.IR_INDEX_BEYOND_TABLE, sourceId: VF0 });
      });

      it('with SHV set, reserved data bits 31:16 block a remappable request with 0x20', () => {
        const r = makeRig(factory);
        r.irt.write(5, remapped());
        const [address, data] = remappableMsi(5, 0);
        r.iommu.msiWrite(address, (data | 0x10000) >>> 0, VF0);
        expectInterruptBlocked(r, FAULT_REASON.IR_REQUEST_RESERVED, VF0);
      });

      it('with SHV clear, the data payload is ignored: bits 31:16 set still remap through the handle', () => {
        const r = makeRig(factory);
        r.irt.write(5, remapped({ vector: 0x47 }));
        const [address] = remappableMsi(5);
        r.iommu.msiWrite(address, 0xffff_0003, VF0);
        expect(r.delivered()).toMatchObject([{ vector: 0x47 }]);
        expect(r.firstFault()).toBeNull();
      });
    });

    describe('interrupt remapping: compatibility format (VT-d §5.1.2.1)', () => {
      it('with IRES = 1 and CFIS = 0 a compatibility-format MSI is blocked with 0x25', () => {
        const r = makeRig(factory);
        r.iommu.msiWrite(...compatMsi(0x51, 1), VF0);
        expectInterruptBlocked(r, FAULT_REASON.IR_COMPAT_BLOCKED, VF0);
      });

      it('with CFIS = 1 it passes through with its own vector and destination', () => {
        const r = makeRig(factory, { cfi: true });
        r.iommu.msiWrite(...compatMsi(0x51, 1), VF0);
        expect(r.delivered()).toMatchObject([
          { vector: 0x51, destination: 1, deliveryMode: DELIVERY_MODE.FIXED, destMode: DEST_MODE.PHYSICAL },
        ]);
      });

      it('with interrupt remapping off (IRES = 0) it passes through', () => {
        const r = makeRig(factory, { ir: false });
        expect(r.gsts() & GSTS.IRES).toBe(0);
        r.iommu.msiWrite(...compatMsi(0x52, 3), VF1);
        expect(r.delivered()).toMatchObject([{ vector: 0x52, destination: 3 }]);
      });
    });

    describe('interrupt remapping: posted format (VT-d §5.2, §9.11–9.12; CAP.PI)', () => {
      const NV = 0xf2;
      const NDST_APIC = 3;
      function descriptor(r: Rig, on: boolean, sn: boolean): number {
        const pda = r.pages.allocate() + 0x40;
        writePostedInterruptDescriptor(r.memory, pda, {
          pir: new Uint32Array(8),
          outstandingNotification: on,
          suppressNotification: sn,
          notificationVector: NV,
          notificationDestination: xapicIrteDestination(NDST_APIC),
        });
        return pda;
      }
      /** Without CAP.PI the IRTE's IM bit is reserved: the request is blocked with 0x24 and nothing is posted. */
      function expectPostedReserved(r: Rig, pda: number): void {
        expectInterruptBlocked(r, FAULT_REASON.IR_IRTE_RESERVED, VF0);
        expect([...readPostedInterruptDescriptor(r.memory, pda).pir]).toEqual(new Array(8).fill(0));
      }

      it('ON = 0, SN = 0: sets PIR bit 0x63 and ON, and sends NV to NDST (fixed, physical, edge)', () => {
        const r = makeRig(factory);
        const pda = descriptor(r, false, false);
        r.irt.write(3, posted(pda, { vector: 0x63 }));
        r.iommu.msiWrite(...remappableMsi(3), VF0);
        if (!postedSupported(r)) {
          expectPostedReserved(r, pda);
          return;
        }
        const pd = readPostedInterruptDescriptor(r.memory, pda);
        expect([...pd.pir]).toEqual([0, 0, 0, 1 << 3, 0, 0, 0, 0]);
        expect(pd.outstandingNotification).toBe(true);
        expect(r.delivered()).toMatchObject([
          {
            vector: NV,
            deliveryMode: DELIVERY_MODE.FIXED,
            destMode: DEST_MODE.PHYSICAL,
            destination: NDST_APIC,
            triggerMode: TRIGGER_MODE.EDGE,
            x2apicDestination: false,
          },
        ]);
      });

      it('ON already set: a second vector is posted into PIR with no second notification', () => {
        const r = makeRig(factory);
        const pda = descriptor(r, false, false);
        r.irt.write(3, posted(pda, { vector: 0x63 }));
        r.irt.write(4, posted(pda, { vector: 0xa0 }));
        r.iommu.msiWrite(...remappableMsi(3), VF0);
        r.iommu.msiWrite(...remappableMsi(4), VF0);
        if (!postedSupported(r)) {
          expectPostedReserved(r, pda);
          return;
        }
        const pd = readPostedInterruptDescriptor(r.memory, pda);
        expect([...pd.pir]).toEqual([0, 0, 0, 1 << 3, 0, 1, 0, 0]);
        expect(pd.outstandingNotification).toBe(true);
        expect(r.delivered()).toMatchObject([{ vector: NV }]);
      });

      it('SN = 1: a non-urgent interrupt is posted (PIR) with ON left clear and no notification; URG = 1 notifies', () => {
        const r = makeRig(factory);
        const pda = descriptor(r, false, true);
        r.irt.write(3, posted(pda, { vector: 0x63 }));
        r.irt.write(4, posted(pda, { vector: 0x64, urgent: true }));
        r.iommu.msiWrite(...remappableMsi(3), VF0);
        if (!postedSupported(r)) {
          expectPostedReserved(r, pda);
          return;
        }
        let pd = readPostedInterruptDescriptor(r.memory, pda);
        expect(pd.pir[3]).toBe(1 << 3);
        expect(pd.outstandingNotification).toBe(false);
        expect(pd.suppressNotification).toBe(true);
        expect(r.delivered()).toEqual([]);
        r.iommu.msiWrite(...remappableMsi(4), VF0);
        pd = readPostedInterruptDescriptor(r.memory, pda);
        expect(pd.pir[3]).toBe((1 << 3) | (1 << 4));
        expect(pd.outstandingNotification).toBe(true);
        expect(r.delivered()).toMatchObject([{ vector: NV, destination: NDST_APIC }]);
      });

      it('the posted IRTE is read as VT-d §9.11 lays it out: raw words with P (bit 0), vector 0x63 (23:16), IM (15), PDA 31:6 in bits 63:38 and 63:32 in 127:96, SID 79:64, SVT 83:82', () => {
        const r = makeRig(factory);
        const pda = descriptor(r, false, false);
        const at = r.irt.address + 3 * 16;
        r.memory.write32(at, (0x63 << 16) | 0x8000 | 1);
        r.memory.write32(at + 4, pda & 0xffffffc0);
        r.memory.write32(at + 8, (SVT.REQUESTER_ID << 18) | (SQ.ALL << 16) | VF0);
        r.memory.write32(at + 12, Math.floor(pda / 2 ** 32));
        r.iommu.msiWrite(...remappableMsi(3), VF0);
        if (!postedSupported(r)) {
          expectPostedReserved(r, pda);
          return;
        }
        expect(readPostedInterruptDescriptor(r.memory, pda).pir[3]).toBe(1 << 3);
        expect(r.delivered()).toMatchObject([{ vector: NV, destination: NDST_APIC }]);
      });

      it('AVAIL (bits 11:8) of a posted IRTE is ignored; a set RsvdZ bit (7:2 or 13:12) is 0x24 and nothing is posted', () => {
        const r = makeRig(factory);
        const pda = descriptor(r, false, false);
        r.irt.write(3, posted(pda, { vector: 0x63, available: 0xf }));
        r.iommu.msiWrite(...remappableMsi(3), VF0);
        if (!postedSupported(r)) {
          expectPostedReserved(r, pda);
          return;
        }
        expect(readPostedInterruptDescriptor(r.memory, pda).pir[3]).toBe(1 << 3);
        expect(r.delivered()).toMatchObject([{ vector: NV, destination: NDST_APIC }]);
        expect(r.firstFault()).toBeNull();
        for (const bit of [1 << 2, 1 << 7, 1 << 12, 1 << 13]) {
          const q = makeRig(factory);
          const other = descriptor(q, false, false);
          q.irt.write(4, posted(other, { vector: 0x70 }));
          const at = q.irt.address + 4 * 16;
          q.memory.write32(at, (q.memory.read32(at) | bit) >>> 0);
          q.iommu.msiWrite(...remappableMsi(4), VF0);
          expectInterruptBlocked(q, FAULT_REASON.IR_IRTE_RESERVED, VF0);
          expect([...readPostedInterruptDescriptor(q.memory, other).pir]).toEqual(new Array(8).fill(0));
        }
      });

      it('a descriptor with a reserved bit in 511:320 is not updated: the request is blocked with 0x28', () => {
        const r = makeRig(factory);
        const pda = descriptor(r, false, false);
        r.memory.write32(pda + 60, 0x8000_0000); // bit 511
        r.irt.write(3, posted(pda, { vector: 0x63 }));
        r.iommu.msiWrite(...remappableMsi(3), VF0);
        if (!postedSupported(r)) {
          expectPostedReserved(r, pda);
          return;
        }
        expectInterruptBlocked(r, FAULT_REASON.IR_PID_RESERVED, VF0);
        const pd = readPostedInterruptDescriptor(r.memory, pda);
        expect([...pd.pir]).toEqual(new Array(8).fill(0));
        expect(pd.outstandingNotification).toBe(false);
      });

      it('a compatibility-format MSI is never posted: with posted IRTEs in the table it is blocked with 0x25 (CFIS = 0) and PIR stays empty', () => {
        const r = makeRig(factory);
        const pda = descriptor(r, false, false);
        for (let i = 0; i < 8; i++) r.irt.write(i, posted(pda, { vector: 0x63 }));
        r.iommu.msiWrite(...compatMsi(0x63, NDST_APIC), VF0);
        expectInterruptBlocked(r, FAULT_REASON.IR_COMPAT_BLOCKED, VF0);
        const pd = readPostedInterruptDescriptor(r.memory, pda);
        expect([...pd.pir]).toEqual(new Array(8).fill(0));
        expect(pd.outstandingNotification).toBe(false);
      });

      it('source-ID validation applies to posted IRTEs too: VF1 is blocked with 0x26 and nothing is posted', () => {
        const r = makeRig(factory);
        const pda = descriptor(r, false, false);
        r.irt.write(3, posted(pda));
        r.iommu.msiWrite(...remappableMsi(3), VF1);
        expect(r.delivered()).toEqual([]);
        expect([...readPostedInterruptDescriptor(r.memory, pda).pir]).toEqual(new Array(8).fill(0));
        const reason = postedSupported(r) ? FAULT_REASON.IR_SOURCE_ID : FAULT_REASON.IR_IRTE_RESERVED;
        expect(r.firstFault()).toMatchObject({ reason, sourceId: VF1 });
      });
    });
  });
}
