import { DMA_OK } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  CCMD,
  encodeSecondLevelEntry,
  FAULT_REASON,
  FSTS,
  INVALIDATION_GRANULARITY,
  invalidateContextCacheGlobal,
  invalidateIotlb,
  SL_PTE,
  VTD_REG,
} from '../src/index.js';
import { COSTS, PF_RID, rig, VF0_RID, VF1_RID } from './helpers.js';

const RW = { read: true, write: true } as const;
const RO = { read: true, write: false } as const;
const WO = { read: false, write: true } as const;
const GUEST_RAM = 0x2000000;
const DATA = Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);

function bytes(
  memory: { readBytes(a: number, d: Uint8Array): boolean },
  address: number,
  n: number,
): number[] {
  const b = new Uint8Array(n);
  memory.readBytes(address, b);
  return [...b];
}

describe('DMA remapping: blocked requests (VT-d §3.4, fault reasons §7.1.3)', () => {
  it("a VF's DMA write with no root entry for its bus faults with reason 0x1 and writes nothing", () => {
    const r = rig();
    expect(r.iommu.dmaWrite(VF0_RID, GUEST_RAM, DATA, 0, 8)).toBe(FAULT_REASON.ROOT_ENTRY_NOT_PRESENT);
    expect(bytes(r.memory, GUEST_RAM, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(r.counter('dma.faults')).toBe(1);
    const rec = r.iommu.faultRecord(0);
    expect(rec).toEqual({ fault: true, reason: 0x1, sourceId: VF0_RID, read: false, faultInfo: GUEST_RAM });
  });

  it("a VF's DMA with its bus present but no context entry faults with reason 0x2 and writes nothing", () => {
    const r = rig();
    const d = r.tables.createDomain(1);
    r.tables.attachDevice(PF_RID, d); // bus 3 gets a context table, the VF's entry stays clear
    r.tables.map(d, GUEST_RAM, GUEST_RAM, 4096, RW);
    expect(r.iommu.dmaWrite(VF0_RID, GUEST_RAM, DATA, 0, 8)).toBe(FAULT_REASON.CONTEXT_ENTRY_NOT_PRESENT);
    expect(bytes(r.memory, GUEST_RAM, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    // FSTS: PPF set, FRI = 0 (the first pending record).
    expect(r.iommu.mmioRead(VTD_REG.FSTS, 4)).toBe(FSTS.PPF);
    expect(r.iommu.mmioRead(VTD_REG.FRCD + 12, 4)).toBe(0x8000_0002);
    expect(r.iommu.mmioRead(VTD_REG.FRCD + 8, 4)).toBe(VF0_RID);
  });

  it("a VF's DMA to an unmapped address of its domain faults with reason 0x5 (write) / 0x6 (read)", () => {
    const r = rig();
    const d = r.tables.createDomain(7);
    r.tables.attachDevice(VF0_RID, d);
    r.tables.map(d, 0x10000, GUEST_RAM, 4096, RW);
    expect(r.iommu.dmaWrite(VF0_RID, 0x20000, DATA, 0, 8)).toBe(FAULT_REASON.WRITE);
    const dst = new Uint8Array(8).fill(0x5a);
    expect(r.iommu.dmaRead(VF0_RID, 0x20000, dst, 0, 8)).toBe(FAULT_REASON.READ);
    expect([...dst]).toEqual(new Array(8).fill(0x5a));
    expect(r.iommu.faultRecord(0).reason).toBe(0x5);
    expect(r.iommu.faultRecord(0).read).toBe(false);
    expect(r.iommu.faultRecord(1).reason).toBe(0x6);
    expect(r.iommu.faultRecord(1).read).toBe(true);
    expect(r.iommu.faultRecord(1).faultInfo).toBe(0x20000);
  });

  it('checks R and W per page: a write to a read-only page is 0x5, a read of a write-only page is 0x6', () => {
    const r = rig();
    const d = r.tables.createDomain(1);
    r.tables.attachDevice(VF0_RID, d);
    r.tables.map(d, 0x0, GUEST_RAM, 4096, RO);
    r.tables.map(d, 0x1000, GUEST_RAM + 0x1000, 4096, WO);
    expect(r.iommu.dmaWrite(VF0_RID, 0x10, DATA, 0, 8)).toBe(FAULT_REASON.WRITE);
    expect(r.iommu.dmaRead(VF0_RID, 0x1010, new Uint8Array(8), 0, 8)).toBe(FAULT_REASON.READ);
    expect(r.iommu.dmaRead(VF0_RID, 0x10, new Uint8Array(8), 0, 8)).toBe(DMA_OK);
    expect(r.iommu.dmaWrite(VF0_RID, 0x1010, DATA, 0, 8)).toBe(DMA_OK);
    expect(bytes(r.memory, GUEST_RAM + 0x1010, 8)).toEqual([...DATA]);
    expect(bytes(r.memory, GUEST_RAM + 0x10, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('a multi-page access with one unmapped page is blocked as a whole (nothing written)', () => {
    const r = rig();
    const d = r.tables.createDomain(1);
    r.tables.attachDevice(VF0_RID, d);
    r.tables.map(d, 0x0, GUEST_RAM, 4096, RW);
    r.tables.map(d, 0x2000, GUEST_RAM + 0x2000, 4096, RW); // 0x1000 is the hole
    const src = new Uint8Array(3 * 4096).fill(0x77);
    expect(r.iommu.dmaWrite(VF0_RID, 0x0, src, 0, src.length)).toBe(FAULT_REASON.WRITE);
    expect(bytes(r.memory, GUEST_RAM, 4)).toEqual([0, 0, 0, 0]);
    expect(bytes(r.memory, GUEST_RAM + 0x2000, 4)).toEqual([0, 0, 0, 0]);
    expect(r.iommu.faultRecord(0).faultInfo).toBe(0x1000);
  });

  it('an address at or above 2^48 (MGAW) faults with reason 0x4', () => {
    const r = rig();
    const d = r.tables.createDomain(1);
    r.tables.attachDevice(VF0_RID, d);
    expect(r.iommu.dmaRead(VF0_RID, 2 ** 48, new Uint8Array(4), 0, 4)).toBe(FAULT_REASON.ADDRESS_BEYOND_MGAW);
  });

  it('a set reserved bit in a present paging entry faults with reason 0xC', () => {
    const r = rig();
    const d = r.tables.createDomain(1);
    r.tables.attachDevice(VF0_RID, d);
    r.tables.map(d, 0x0, GUEST_RAM, 4096, RW);
    // Set SNP (bit 11) in the PML4 entry: reserved because ECAP.SC = 0.
    r.memory.write32(d.pageTable, r.memory.read32(d.pageTable) | SL_PTE.SNP);
    expect(r.iommu.dmaRead(VF0_RID, 0x0, new Uint8Array(4), 0, 4)).toBe(FAULT_REASON.PAGING_ENTRY_RESERVED);
  });

  it('FPD in the context entry suppresses recording (the access is still blocked and counted)', () => {
    const r = rig();
    const d = r.tables.createDomain(1);
    r.tables.attachDevice(VF0_RID, d, { faultProcessingDisable: true });
    expect(r.iommu.dmaWrite(VF0_RID, 0x0, DATA, 0, 8)).toBe(FAULT_REASON.WRITE);
    expect(r.iommu.faultRecord(0).fault).toBe(false);
    expect(r.iommu.mmioRead(VTD_REG.FSTS, 4) & FSTS.PPF).toBe(0);
    expect(r.counter('dma.faults')).toBe(1);
    expect(r.counter('faults.fpd-suppressed')).toBe(1);
  });

  it('the interrupt address range is never DMA: a read there is blocked (0x6)', () => {
    const r = rig();
    const d = r.tables.createDomain(1);
    r.tables.attachDevice(VF0_RID, d);
    r.tables.map(d, 0xfee00000, GUEST_RAM, 4096, RW);
    expect(r.iommu.dmaRead(VF0_RID, 0xfee00000, new Uint8Array(8), 0, 8)).toBe(FAULT_REASON.READ);
  });
});

describe('DMA remapping: translation', () => {
  it('translates 4 KiB pages of the device domain, page by page across a boundary', () => {
    const r = rig();
    const d = r.tables.createDomain(3);
    r.tables.attachDevice(VF0_RID, d);
    r.tables.map(d, 0x40000, GUEST_RAM + 0x5000, 4096, RW);
    r.tables.map(d, 0x41000, GUEST_RAM + 0x9000, 4096, RW);
    expect(r.iommu.dmaWrite(VF0_RID, 0x40ffc, DATA, 0, 8)).toBe(DMA_OK);
    expect(bytes(r.memory, GUEST_RAM + 0x5ffc, 4)).toEqual([0xde, 0xad, 0xbe, 0xef]);
    expect(bytes(r.memory, GUEST_RAM + 0x9000, 4)).toEqual([1, 2, 3, 4]);
    const back = new Uint8Array(8);
    expect(r.iommu.dmaRead(VF0_RID, 0x40ffc, back, 0, 8)).toBe(DMA_OK);
    expect([...back]).toEqual([...DATA]);
    expect(r.counter('dma.writes')).toBe(1);
    expect(r.counter('dma.reads')).toBe(1);
  });

  it('2 MiB superpages (PS in the PDE; CAP.SLLPS bit 0) translate the whole 2 MiB', () => {
    const r = rig();
    const d = r.tables.createDomain(3);
    r.tables.attachDevice(VF0_RID, d);
    r.tables.map(d, 0x20_0000, 0x60_0000, 0x20_0000, RW, 0x200000);
    expect(r.iommu.dmaWrite(VF0_RID, 0x3f_fffc, DATA, 0, 4)).toBe(DMA_OK);
    expect(bytes(r.memory, 0x7f_fffc, 4)).toEqual([0xde, 0xad, 0xbe, 0xef]);
    // The first access walks 3 levels (PML4E, PDPTE, PDE), then the rest of the 2 MiB hits.
    expect(r.iommu.lastLatencyPs).toBe(COSTS.contextFetchPs + 3 * COSTS.pageWalkLevelPs);
    expect(r.iommu.dmaWrite(VF0_RID, 0x20_0000, DATA, 0, 4)).toBe(DMA_OK);
    expect(r.iommu.lastLatencyPs).toBe(COSTS.iotlbHitPs);
    expect(r.counter('iotlb.misses')).toBe(1);
    expect(r.counter('iotlb.hits')).toBe(1);
    expect(bytes(r.memory, 0x60_0000, 4)).toEqual([0xde, 0xad, 0xbe, 0xef]);
    // A PS bit in a PDPTE is reserved (no 1 GiB pages advertised).
    expect(r.iommu.mmioRead(VTD_REG.CAP + 4, 4) & 0x3c).toBe(0x4);
  });

  it('a 2 MiB leaf whose address bits 20:12 are set is a reserved-field fault (0xC)', () => {
    const r = rig();
    const d = r.tables.createDomain(3);
    r.tables.attachDevice(VF0_RID, d);
    r.tables.map(d, 0x20_0000, 0x60_0000, 0x20_0000, RW, 0x200000);
    const pdpt = r.memory.read32(d.pageTable) & 0xfffff000;
    const pd = r.memory.read32(pdpt) & 0xfffff000;
    const w = new Uint32Array(2);
    encodeSecondLevelEntry({ read: true, write: true, pageSize: true, address: 0x60_1000 }, w);
    r.memory.write32(pd + 8, w[0]!);
    expect(r.iommu.dmaRead(VF0_RID, 0x20_0000, new Uint8Array(4), 0, 4)).toBe(
      FAULT_REASON.PAGING_ENTRY_RESERVED,
    );
  });

  it('reports latency: context fetch + 4 walk levels on a miss, the IOTLB hit cost afterwards', () => {
    const r = rig();
    const d = r.tables.createDomain(3);
    r.tables.attachDevice(VF0_RID, d);
    r.tables.map(d, 0x0, GUEST_RAM, 8192, RW);
    r.iommu.dmaRead(VF0_RID, 0x0, new Uint8Array(4), 0, 4);
    expect(r.iommu.lastLatencyPs).toBe(COSTS.contextFetchPs + 4 * COSTS.pageWalkLevelPs);
    r.iommu.dmaRead(VF0_RID, 0x8, new Uint8Array(4), 0, 4);
    expect(r.iommu.lastLatencyPs).toBe(COSTS.iotlbHitPs);
    // Two pages: one hit, one miss (context already cached).
    r.iommu.dmaRead(VF0_RID, 0xffc, new Uint8Array(8), 0, 8);
    expect(r.iommu.lastLatencyPs).toBe(COSTS.iotlbHitPs + 4 * COSTS.pageWalkLevelPs);
    expect(r.counter('context-cache.misses')).toBe(1);
    expect(r.counter('context-cache.hits')).toBe(3);
  });

  it('the IOTLB is bounded with LRU replacement', () => {
    const r = rig({ iotlbEntries: 2 });
    const d = r.tables.createDomain(3);
    r.tables.attachDevice(VF0_RID, d);
    r.tables.map(d, 0x0, GUEST_RAM, 3 * 4096, RW);
    const b = new Uint8Array(4);
    r.iommu.dmaRead(VF0_RID, 0x0000, b, 0, 4); // miss A
    r.iommu.dmaRead(VF0_RID, 0x1000, b, 0, 4); // miss B
    r.iommu.dmaRead(VF0_RID, 0x0000, b, 0, 4); // hit A (B is now least recently used)
    r.iommu.dmaRead(VF0_RID, 0x2000, b, 0, 4); // miss C evicts B
    r.iommu.dmaRead(VF0_RID, 0x0000, b, 0, 4); // hit A
    r.iommu.dmaRead(VF0_RID, 0x1000, b, 0, 4); // miss B
    expect(r.counter('iotlb.misses')).toBe(4);
    expect(r.counter('iotlb.hits')).toBe(2);
    expect(r.counter('iotlb.evictions')).toBe(2);
  });

  it('pass-through context entries (TT = 10b, ECAP.PT) and TE = 0 reach host-physical = input address', () => {
    const r = rig();
    const d = r.tables.createDomain(9);
    r.tables.attachDevice(VF1_RID, d, { passThrough: true });
    expect(r.iommu.dmaWrite(VF1_RID, GUEST_RAM, DATA, 0, 4)).toBe(DMA_OK);
    expect(bytes(r.memory, GUEST_RAM, 4)).toEqual([0xde, 0xad, 0xbe, 0xef]);
    const off = rig({ dmaRemapping: false });
    expect(off.iommu.translationEnabled).toBe(false);
    expect(off.iommu.dmaWrite(VF0_RID, GUEST_RAM, DATA, 0, 4)).toBe(DMA_OK);
    expect(bytes(off.memory, GUEST_RAM, 4)).toEqual([0xde, 0xad, 0xbe, 0xef]);
  });
});

describe('IOTLB and context-cache invalidation (VT-d ch. 6 caching, §10.4.7–10.4.8)', () => {
  function mapped() {
    const r = rig();
    const d = r.tables.createDomain(5);
    r.tables.attachDevice(VF0_RID, d);
    r.tables.map(d, 0x0, GUEST_RAM, 4096, RW);
    r.tables.map(d, 0x200000, GUEST_RAM + 0x4000, 4096, RW);
    r.iommu.dmaRead(VF0_RID, 0x0, new Uint8Array(4), 0, 4);
    r.iommu.dmaRead(VF0_RID, 0x200000, new Uint8Array(4), 0, 4);
    return { r, d };
  }

  it('a stale IOTLB entry keeps translating after unmap until the IOTLB is invalidated', () => {
    const { r, d } = mapped();
    r.tables.unmap(d, 0x0, 4096);
    // Hardware may use the cached translation: the write still lands in the old page.
    expect(r.iommu.dmaWrite(VF0_RID, 0x0, DATA, 0, 4)).toBe(DMA_OK);
    expect(bytes(r.memory, GUEST_RAM, 4)).toEqual([0xde, 0xad, 0xbe, 0xef]);
    invalidateIotlb(r.iommu, { domainId: 5, address: 0x0, addressMask: 0 });
    expect(r.iommu.dmaWrite(VF0_RID, 0x0, Uint8Array.of(9, 9, 9, 9), 0, 4)).toBe(FAULT_REASON.WRITE);
    expect(bytes(r.memory, GUEST_RAM, 4)).toEqual([0xde, 0xad, 0xbe, 0xef]);
  });

  it('page-selective invalidation drops only the pages it names; IVT clears and IAIG reports page granularity', () => {
    const { r } = mapped();
    const missesBefore = r.counter('iotlb.misses');
    invalidateIotlb(r.iommu, { domainId: 5, address: 0x0, addressMask: 0 });
    expect(r.iommu.mmioRead(VTD_REG.IOTLB + 4, 4) >>> 31).toBe(0);
    expect((r.iommu.mmioRead(VTD_REG.IOTLB + 4, 4) >>> 25) & 3).toBe(3);
    r.iommu.dmaRead(VF0_RID, 0x200000, new Uint8Array(4), 0, 4);
    expect(r.counter('iotlb.misses')).toBe(missesBefore);
    r.iommu.dmaRead(VF0_RID, 0x0, new Uint8Array(4), 0, 4);
    expect(r.counter('iotlb.misses')).toBe(missesBefore + 1);
  });

  it('domain-selective invalidation drops only that domain; global drops all', () => {
    const { r } = mapped();
    const m0 = r.counter('iotlb.misses');
    invalidateIotlb(r.iommu, { domainId: 6 });
    r.iommu.dmaRead(VF0_RID, 0x0, new Uint8Array(4), 0, 4);
    expect(r.counter('iotlb.misses')).toBe(m0);
    invalidateIotlb(r.iommu, { domainId: 5 });
    r.iommu.dmaRead(VF0_RID, 0x0, new Uint8Array(4), 0, 4);
    expect(r.counter('iotlb.misses')).toBe(m0 + 1);
    invalidateIotlb(r.iommu);
    expect((r.iommu.mmioRead(VTD_REG.IOTLB + 4, 4) >>> 25) & 3).toBe(1);
    r.iommu.dmaRead(VF0_RID, 0x200000, new Uint8Array(4), 0, 4);
    expect(r.counter('iotlb.misses')).toBe(m0 + 2);
  });

  it('a detached device keeps its cached context until the context cache is invalidated', () => {
    const { r } = mapped();
    r.tables.detachDevice(VF0_RID);
    expect(r.iommu.dmaRead(VF0_RID, 0x0, new Uint8Array(4), 0, 4)).toBe(DMA_OK);
    invalidateContextCacheGlobal(r.iommu);
    expect(r.iommu.mmioRead(VTD_REG.CCMD + 4, 4) >>> 31).toBe(0);
    expect((r.iommu.mmioRead(VTD_REG.CCMD + 4, 4) >>> 27) & 3).toBe(1);
    expect(r.iommu.dmaRead(VF0_RID, 0x0, new Uint8Array(4), 0, 4)).toBe(
      FAULT_REASON.CONTEXT_ENTRY_NOT_PRESENT,
    );
  });

  it('a newly made-present mapping is seen without invalidation (CAP.CM = 0: faults are not cached)', () => {
    const { r, d } = mapped();
    expect(r.iommu.dmaRead(VF0_RID, 0x5000, new Uint8Array(4), 0, 4)).toBe(FAULT_REASON.READ);
    r.tables.map(d, 0x5000, GUEST_RAM + 0x5000, 4096, RO);
    expect(r.iommu.dmaRead(VF0_RID, 0x5000, new Uint8Array(4), 0, 4)).toBe(DMA_OK);
  });
});

describe('context cache and IOTLB state of several requesters', () => {
  // The context cache holds each requester's FPD, translation type and 16-bit domain ID, and
  // the IOTLB each entry's domain, page, permissions and host address: domain IDs with bit 15
  // set, and several requesters and domains at once, must come back exactly (a guard for any
  // change to how that state is stored).
  function invalidateContextDomain(r: ReturnType<typeof rig>, did: number): void {
    r.iommu.mmioWrite(VTD_REG.CCMD, 4, did);
    r.iommu.mmioWrite(
      VTD_REG.CCMD + 4,
      4,
      (CCMD.ICC_HI | (INVALIDATION_GRANULARITY.DOMAIN << CCMD.CIRG_HI_SHIFT)) >>> 0,
    );
  }

  it('keeps domain IDs ≥ 0x8000 apart, with FPD and pass-through per requester', () => {
    const r = rig();
    const high = r.tables.createDomain(0xfffe);
    const other = r.tables.createDomain(0x8001);
    r.tables.attachDevice(VF0_RID, high, { faultProcessingDisable: true });
    r.tables.attachDevice(VF1_RID, other);
    r.tables.attachDevice(PF_RID, r.tables.createDomain(0x7fff), { passThrough: true });
    r.tables.map(high, 0x0, GUEST_RAM, 4096, RW);
    r.tables.map(other, 0x0, GUEST_RAM + 0x1000, 4096, RO);
    const b = new Uint8Array(4);
    expect(r.iommu.dmaWrite(VF0_RID, 0x10, DATA, 0, 4)).toBe(DMA_OK);
    expect(bytes(r.memory, GUEST_RAM + 0x10, 4)).toEqual([0xde, 0xad, 0xbe, 0xef]);
    // The same input address in the other domain is its own page, read-only.
    expect(r.iommu.dmaWrite(VF1_RID, 0x10, DATA, 0, 4)).toBe(FAULT_REASON.WRITE);
    expect(r.iommu.dmaRead(VF1_RID, 0x10, b, 0, 4)).toBe(DMA_OK);
    expect([...b]).toEqual([0, 0, 0, 0]);
    expect(r.iommu.dmaRead(VF0_RID, 0x10, b, 0, 4)).toBe(DMA_OK);
    expect([...b]).toEqual([0xde, 0xad, 0xbe, 0xef]);
    // Pass-through reaches the host address itself.
    expect(r.iommu.dmaWrite(PF_RID, GUEST_RAM + 0x20, DATA, 4, 4)).toBe(DMA_OK);
    expect(bytes(r.memory, GUEST_RAM + 0x20, 4)).toEqual([1, 2, 3, 4]);
    // FPD on VF0 only: its unmapped access is not recorded; VF1's is.
    const recorded = r.counter('faults.recorded');
    expect(r.iommu.dmaRead(VF0_RID, 0x5000, b, 0, 4)).toBe(FAULT_REASON.READ);
    expect(r.counter('faults.recorded')).toBe(recorded);
    expect(r.iommu.dmaRead(VF1_RID, 0x5000, b, 0, 4)).toBe(FAULT_REASON.READ);
    expect(r.counter('faults.recorded')).toBe(recorded + 1);
    // Misses: VF0's write; VF1's refused write (not cached) and its read; both unmapped reads.
    expect(r.counter('iotlb.misses')).toBe(5);
    expect(r.counter('context-cache.misses')).toBe(3);
    // Domain-selective invalidation of 0xfffe drops VF0's context only.
    invalidateContextDomain(r, 0xfffe);
    r.iommu.dmaRead(VF1_RID, 0x10, b, 0, 4);
    expect(r.counter('context-cache.misses')).toBe(3);
    r.iommu.dmaRead(VF0_RID, 0x10, b, 0, 4);
    expect(r.counter('context-cache.misses')).toBe(4);
    // Domain-selective IOTLB invalidation of 0x8001 drops VF1's translation only.
    invalidateIotlb(r.iommu, { domainId: 0x8001 });
    r.iommu.dmaRead(VF0_RID, 0x10, b, 0, 4);
    expect(r.counter('iotlb.misses')).toBe(5);
    r.iommu.dmaRead(VF1_RID, 0x10, b, 0, 4);
    expect(r.counter('iotlb.misses')).toBe(6);
  });
});
