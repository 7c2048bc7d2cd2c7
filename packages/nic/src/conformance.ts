/**
 * The conformance suite every SR-IOV NIC model must pass to stand in for `SriovNic`, in
 * the spirit of unstorage's driver suite and of `@exitless/lapic/conformance` and
 * `@exitless/iommu/conformance`. It drives the NIC the way the host's PF driver and a
 * guest's ixgbevf driver do — PCI configuration space, the 82599 VF register map in BAR0,
 * the MSI-X table in BAR3, descriptor rings in memory — and observes it only through
 * those registers, the bytes DMA put in memory (`DmaPort`), the messages it sends
 * (`MsiSink`) and the frames it puts on the wire (`WirePort`).
 *
 *   import { describeNicConformance } from '@exitless/nic/conformance';
 *   describeNicConformance('my NIC', (o) => new MyNic(o));
 *
 * Requirements on the NIC (what `@exitless/machine` uses): the PF is a PCI function with
 * MSI-X and PCI Express capabilities and an SR-IOV extended capability with TotalVFs ≥ 2;
 * each VF has an MSI-X capability whose table and PBA live in BAR3, and answers the 82599
 * VF register map (82599 datasheet §8.3.5, ixgbevf `regs.h`; see this package's README) in
 * BAR0 with at least RX and TX queue 0, legacy descriptors (§7.1.5, §7.2.3.2.2), IVAR,
 * EICR/EICS/EIMS/EIMC/EIAC/EIAM and EITR (§7.3). Received frames have their 4-byte FCS
 * stripped (HLREG0.RXCRCSTRP, the 82599 default). Every check allows the NIC up to
 * `NIC_CONFORMANCE.settlePs` of simulated time to act.
 *
 * @module @exitless/nic/conformance
 */
import { type SimEvent, Simulator, Stats } from '@exitless/sim';
import {
  DirectDmaPort,
  DMA_OK,
  type DmaPort,
  encodeCompatMsiAddress,
  encodeCompatMsiData,
  encodeRemappableMsiAddress,
  encodeRemappableMsiData,
  findCapability,
  findExtendedCapability,
  type MmioDevice,
  MSIX_BIR_MASK,
  MSIX_CAP,
  MSIX_CONTROL,
  MSIX_ENTRY,
  type MsiSink,
  PCI_BAR,
  PCI_CAP_ID,
  PCI_CFG,
  PCI_COMMAND,
  PCI_EXT_CAP_ID,
  PCI_EXT_CAP_START,
  PCI_STATUS,
  type PciFunction,
  SparseMemory,
  SRIOV_CAP,
  SRIOV_CONTROL,
  TWO_POW_32,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { writeMac } from './nic.js';
import type { NicFactory, NicUnderTest, NicVirtualFunctionUnderTest } from './part.js';
import {
  ETHERNET,
  eitrForInterval,
  IVAR,
  RX_DESC,
  RXD_STAT,
  RXDCTL,
  TX_DESC,
  TXD_CMD,
  TXD_STAT,
  TXDCTL,
  VF_REG,
} from './regs.js';
import { type EthernetEndpoint, frameTimePs, Wire } from './wire.js';

export type { NicFactory, NicFactoryOptions, NicUnderTest, NicVirtualFunctionUnderTest } from './part.js';

/**
 * The machine the suite builds around the NIC: PF 03:00.0, a 10 Gb/s wire with 500 ns of
 * latency, 64 MiB of memory, and how long the NIC may take to act on a frame, a tail write
 * or a register write before the suite looks (50 µs).
 */
export const NIC_CONFORMANCE = {
  /** The PF's requester ID: 03:00.0. */
  requesterId: 0x0300,
  /** The PF's MAC address, 02:00:00:00:00:00 (locally administered). */
  macAddress: 0x020000000000,
  /** DMA latencies: 800 ns for reads, 400 ns for writes. */
  timing: {
    /** DMA read latency: 800 ns, in ps. */
    dmaReadLatencyPs: 800_000,
    /** DMA write latency: 400 ns, in ps. */
    dmaWriteLatencyPs: 400_000,
  },
  /** Line rate of the wire: 10 Gb/s. */
  bitsPerSecond: 10_000_000_000,
  /** Propagation latency of the wire: 500 ns. */
  linkLatencyPs: 500_000,
  /** Bytes of host memory: 64 MiB. */
  memoryBytes: 0x4000000,
  /** How long the NIC may take to act before the suite looks: 50 µs. */
  settlePs: 50_000_000,
} as const;

const C = NIC_CONFORMANCE;
/** The peer's MAC on the far end of the wire. */
const PEER_MAC = 0x0a0000000001;
/** Where rings and buffers go: VF n's at base + n × stride. */
const RX_RING = 0x100000;
const TX_RING = 0x200000;
const RING_STRIDE = 0x10000;
const RX_BUFFERS = 0x400000;
const TX_BUFFERS = 0x800000;
const BUFFER_STRIDE = 0x100000;
const BUFFER_BYTES = 2048;
/** Message data of VF n's MSI-X vector v (any value works; distinct ones make the checks readable). */
const msiData = (vf: number, v: number): number => 0x40 + 0x10 * vf + v;
const MSI_ADDRESS = 0xfee00000;
/** Any non-zero DmaPort result is a fault. */
const DMA_BLOCKED = 1;
/** Legacy TX command of a whole packet in one descriptor: EOP, insert FCS, report status. */
const EOP_IFCS_RS = TXD_CMD.EOP | TXD_CMD.IFCS | TXD_CMD.RS;

/** A DmaPort to 64 MiB of memory that records who accessed what and can block address ranges. */
class ConformanceDmaPort implements DmaPort {
  readonly lastLatencyPs = 0;
  readonly inner: DirectDmaPort;
  /** [lo, hi) ranges whose accesses fault (nothing reaches memory). */
  blocked: Array<readonly [number, number]> = [];
  /** Successful writes, when `recording`. */
  readonly writes: Array<{ rid: number; address: number; length: number }> = [];
  /** Requester IDs of every access, successful or not. */
  readonly rids: Set<number> = new Set();
  recording = true;
  faults = 0;

  constructor(memory: SparseMemory) {
    this.inner = new DirectDmaPort(memory);
  }

  private isBlocked(address: number, length: number): boolean {
    for (const [lo, hi] of this.blocked) if (address < hi && address + length > lo) return true;
    return false;
  }

  dmaRead(rid: number, address: number, dst: Uint8Array, offset: number, length: number): number {
    this.rids.add(rid);
    if (this.isBlocked(address, length)) {
      this.faults++;
      return DMA_BLOCKED;
    }
    return this.inner.dmaRead(rid, address, dst, offset, length);
  }

  dmaWrite(rid: number, address: number, src: Uint8Array, offset: number, length: number): number {
    this.rids.add(rid);
    if (this.isBlocked(address, length)) {
      this.faults++;
      return DMA_BLOCKED;
    }
    const r = this.inner.dmaWrite(rid, address, src, offset, length);
    if (r === DMA_OK && this.recording) this.writes.push({ rid, address, length });
    return r;
  }
}

/** Records every MSI write with its time; `hook` runs after recording (an interrupt handler stand-in). */
class MsiRecorder implements MsiSink {
  readonly times: number[] = [];
  readonly addresses: number[] = [];
  readonly data: number[] = [];
  readonly rids: number[] = [];
  hook: (() => void) | null = null;
  private readonly sim: Simulator;

  constructor(sim: Simulator) {
    this.sim = sim;
  }

  msiWrite(address: number, data: number, rid: number): void {
    this.times.push(this.sim.now);
    this.addresses.push(address);
    this.data.push(data);
    this.rids.push(rid);
    this.hook?.();
  }
}

/** The peer at the far end of the wire: copies what it receives, or only counts it. */
class PeerRecorder implements EthernetEndpoint {
  readonly frames: Uint8Array[] = [];
  readonly times: number[] = [];
  count = 0;
  keep = true;
  /** Frames whose length differed from `expectLength` (when set). */
  badLength = 0;
  expectLength = 0;
  private readonly sim: Simulator;

  constructor(sim: Simulator) {
    this.sim = sim;
  }

  receiveFrame(data: Uint8Array, length: number): void {
    this.count++;
    if (this.expectLength > 0 && length !== this.expectLength) this.badLength++;
    if (!this.keep) return;
    this.frames.push(data.slice(0, length));
    this.times.push(this.sim.now);
  }
}

interface Vf {
  readonly n: number;
  readonly fn: NicVirtualFunctionUnderTest;
  /** Offset of the VF's MSI-X capability in its configuration space. */
  readonly msixCap: number;
  /** Offsets of the MSI-X table and PBA in BAR3. */
  readonly table: number;
  readonly pba: number;
  readonly regs: MmioDevice;
}

interface Rig {
  readonly sim: Simulator;
  readonly memory: SparseMemory;
  readonly dma: ConformanceDmaPort;
  readonly msi: MsiRecorder;
  readonly nic: NicUnderTest;
  readonly wire: Wire;
  readonly peer: PeerRecorder;
  /** The PF's SR-IOV capability offset. */
  readonly sriov: number;
  /** Lets the NIC act: runs the simulator `NIC_CONFORMANCE.settlePs` on. */
  settle(): void;
}

function makeRig(factory: NicFactory): Rig {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const memory = new SparseMemory(C.memoryBytes);
  const dma = new ConformanceDmaPort(memory);
  const msi = new MsiRecorder(sim);
  const nic = factory({
    sim,
    dma,
    msi,
    requesterId: C.requesterId,
    macAddress: C.macAddress,
    timing: C.timing,
    stats: stats.scope('nic'),
  });
  const wire = new Wire(
    sim,
    { bitsPerSecond: C.bitsPerSecond, latencyPs: C.linkLatencyPs },
    { maxFrameBytes: ETHERNET.MAX_STANDARD_FRAME_BYTES, framesInFlight: 4096 },
    stats.scope('wire'),
  );
  nic.connect(wire.a);
  const peer = new PeerRecorder(sim);
  wire.b.connect(peer);
  const sriov = findExtendedCapability(nic.pf, PCI_EXT_CAP_ID.SRIOV);
  return { sim, memory, dma, msi, nic, wire, peer, sriov, settle: () => sim.runUntil(sim.now + C.settlePs) };
}

/** What the host's PF driver does to create `count` VFs: Memory Space and Bus Master, NumVFs, then VF Enable and VF MSE. */
function enableVfs(rig: Rig, count: number): Vf[] {
  const pf = rig.nic.pf;
  expect(rig.sriov, 'SR-IOV extended capability').toBeGreaterThanOrEqual(PCI_EXT_CAP_START);
  pf.configWrite(PCI_CFG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE | PCI_COMMAND.BUS_MASTER);
  pf.configWrite(rig.sriov + SRIOV_CAP.NUM_VFS, 2, count);
  pf.configWrite(rig.sriov + SRIOV_CAP.CONTROL, 2, SRIOV_CONTROL.VF_ENABLE | SRIOV_CONTROL.VF_MSE);
  const vfs: Vf[] = [];
  for (let n = 0; n < count; n++) {
    const fn = rig.nic.vf(n);
    if (fn === undefined) throw new Error(`VF ${n} does not exist after VF Enable with NumVFs = ${count}`);
    const msixCap = findCapability(fn, PCI_CAP_ID.MSIX);
    expect(msixCap, `VF ${n} MSI-X capability`).toBeGreaterThanOrEqual(0x40);
    const table = fn.configRead(msixCap + MSIX_CAP.TABLE, 4);
    const pba = fn.configRead(msixCap + MSIX_CAP.PBA, 4);
    expect([table & MSIX_BIR_MASK, pba & MSIX_BIR_MASK], 'VF MSI-X Table and PBA BIR').toEqual([3, 3]);
    vfs.push({
      n,
      fn,
      msixCap,
      table: table & ~MSIX_BIR_MASK,
      pba: pba & ~MSIX_BIR_MASK,
      regs: fn.registers,
    });
  }
  return vfs;
}

function msixVectors(vf: Vf): number {
  return (vf.fn.configRead(vf.msixCap + MSIX_CAP.MESSAGE_CONTROL, 2) & MSIX_CONTROL.TABLE_SIZE_MASK) + 1;
}

/** Bus Master and MSI-X Enable on; vector v → 0xFEE00000 / msiData(n, v), unmasked. */
function enableMsix(vf: Vf): void {
  vf.fn.configWrite(PCI_CFG.COMMAND, 2, PCI_COMMAND.BUS_MASTER);
  vf.fn.configWrite(vf.msixCap + MSIX_CAP.MESSAGE_CONTROL, 2, MSIX_CONTROL.ENABLE);
  for (let v = 0; v < msixVectors(vf); v++) {
    const e = vf.table + v * MSIX_ENTRY.SIZE;
    vf.fn.msixBar.mmioWrite(e + MSIX_ENTRY.ADDRESS_LO, 4, MSI_ADDRESS);
    vf.fn.msixBar.mmioWrite(e + MSIX_ENTRY.ADDRESS_HI, 4, 0);
    vf.fn.msixBar.mmioWrite(e + MSIX_ENTRY.DATA, 4, msiData(vf.n, v));
    vf.fn.msixBar.mmioWrite(e + MSIX_ENTRY.VECTOR_CONTROL, 4, 0);
  }
}

/** ixgbevf's routing: IVAR RX queue 0 → vector 0, TX queue 0 → vector 1, mailbox → 2; auto-clear and enable all three. */
function setupInterrupts(vf: Vf): void {
  vf.regs.mmioWrite(VF_REG.VFIVAR0, 4, IVAR.ALLOC_VAL | 0 | ((IVAR.ALLOC_VAL | 1) << IVAR.TX0_SHIFT));
  vf.regs.mmioWrite(VF_REG.VFIVAR_MISC, 4, IVAR.ALLOC_VAL | 2);
  vf.regs.mmioWrite(VF_REG.VFEIAC, 4, 0b111);
  vf.regs.mmioWrite(VF_REG.VFEIMS, 4, 0b111);
}

interface RxRing {
  readonly ring: number;
  readonly count: number;
  readonly buffers: number;
}

function rxRing(vf: Vf, count = 8): RxRing {
  return { ring: RX_RING + vf.n * RING_STRIDE, count, buffers: RX_BUFFERS + vf.n * BUFFER_STRIDE };
}

/** Programs RX queue 0 as ixgbevf does: descriptor i → buffer i (2 KiB), RDH = 0, RDT = `give`. */
function setupRx(rig: Rig, vf: Vf, r: RxRing, give: number = r.count - 1): void {
  for (let i = 0; i < r.count; i++) {
    rig.memory.write64(r.ring + i * RX_DESC.SIZE, BigInt(r.buffers + i * BUFFER_BYTES));
    rig.memory.write64(r.ring + i * RX_DESC.SIZE + 8, 0n);
  }
  vf.regs.mmioWrite(VF_REG.VFRDBAL, 4, r.ring);
  vf.regs.mmioWrite(VF_REG.VFRDBAH, 4, 0);
  vf.regs.mmioWrite(VF_REG.VFRDLEN, 4, r.count * RX_DESC.SIZE);
  vf.regs.mmioWrite(VF_REG.VFRDH, 4, 0);
  vf.regs.mmioWrite(VF_REG.VFSRRCTL, 4, BUFFER_BYTES / 1024);
  vf.regs.mmioWrite(VF_REG.VFRXDCTL, 4, RXDCTL.ENABLE);
  vf.regs.mmioWrite(VF_REG.VFRDT, 4, give);
}

function setupTx(vf: Vf, count: number): number {
  const ring = TX_RING + vf.n * RING_STRIDE;
  vf.regs.mmioWrite(VF_REG.VFTDBAL, 4, ring);
  vf.regs.mmioWrite(VF_REG.VFTDBAH, 4, 0);
  vf.regs.mmioWrite(VF_REG.VFTDLEN, 4, count * TX_DESC.SIZE);
  vf.regs.mmioWrite(VF_REG.VFTDH, 4, 0);
  vf.regs.mmioWrite(VF_REG.VFTDT, 4, 0);
  vf.regs.mmioWrite(VF_REG.VFTXDCTL, 4, TXDCTL.ENABLE);
  return ring;
}

/** A VF fully brought up: MSI-X, interrupt routing and an RX ring of `count` descriptors. */
function rxVf(rig: Rig, vf: Vf, count = 8): RxRing {
  enableMsix(vf);
  setupInterrupts(vf);
  const r = rxRing(vf, count);
  setupRx(rig, vf, r);
  return r;
}

/** A frame of `length` bytes (FCS included) to `dst`: IPv4 ethertype, a 32-bit tag at byte 14, then `fill`. */
function makeFrame(dst: number, length: number, tag: number, fill = 0xa5): Uint8Array {
  const f = new Uint8Array(length).fill(fill);
  writeMac(f, 0, dst);
  writeMac(f, 6, PEER_MAC);
  f[12] = 0x08;
  f[13] = 0x00;
  new DataView(f.buffer).setUint32(14, tag, true);
  return f;
}

/** Hands the NIC a frame as the wire does, then scribbles over it: the bytes are the NIC's only during the call. */
function deliver(rig: Rig, frame: Uint8Array): void {
  const scratch = frame.slice();
  rig.nic.receiveFrame(scratch, scratch.length);
  scratch.fill(0xee);
}

function bytes(rig: Rig, address: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  rig.memory.readBytes(address, out);
  return out;
}

function rxStatus(rig: Rig, r: RxRing, i: number): number {
  return rig.memory.read8(r.ring + i * RX_DESC.SIZE + RX_DESC.STATUS);
}

function rxLength(rig: Rig, r: RxRing, i: number): number {
  return rig.memory.read16(r.ring + i * RX_DESC.SIZE + RX_DESC.LENGTH);
}

/** Sizes a BAR by writing all ones (PCI 3.0 §6.2.5.1), restores it, and returns what it found. */
function sizeBar(
  fn: PciFunction,
  reg: number,
): { readonly size: number; readonly is64: boolean; readonly low: number } {
  const origLo = fn.configRead(reg, 4);
  fn.configWrite(reg, 4, 0xffffffff);
  const low = fn.configRead(reg, 4);
  const is64 = (low & 0x6) === PCI_BAR.MEM_TYPE_64;
  let high = 0;
  if (is64) {
    const origHi = fn.configRead(reg + 4, 4);
    fn.configWrite(reg + 4, 4, 0xffffffff);
    high = fn.configRead(reg + 4, 4);
    fn.configWrite(reg + 4, 4, origHi);
  }
  fn.configWrite(reg, 4, origLo);
  const mask = (low & PCI_BAR.MEM_ADDRESS_MASK) >>> 0;
  const size = mask === 0 && is64 ? (~high >>> 0) * TWO_POW_32 + TWO_POW_32 : (~mask >>> 0) + 1;
  return { size, is64, low };
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Keeps the wire's far end sending tagged frames back to back to `dst` until `stopAt`. */
class BackToBackSource {
  sent = 0;
  private readonly event: SimEvent;

  constructor(rig: Rig, dst: number, length: number, stopAt: number) {
    const frame = makeFrame(dst, length, 0);
    const view = new DataView(frame.buffer);
    const port = rig.wire.b;
    const refill = frameTimePs(length, C.bitsPerSecond) * 32;
    this.event = rig.sim.event('conformance.back-to-back', () => {
      if (rig.sim.now >= stopAt) return;
      while (port.framesQueued < 64) {
        view.setUint32(14, this.sent, true);
        if (!port.transmit(frame, 0, length)) break;
        this.sent++;
      }
      rig.sim.scheduleIn(this.event, refill);
    });
    rig.sim.schedule(this.event, rig.sim.now);
  }
}

/** Registers the conformance tests for the NIC built by `factory` under a describe block named after `name`. */
export function describeNicConformance(name: string, factory: NicFactory): void {
  describe(`NIC conformance: ${name}`, () => {
    describe('PCI configuration (PCI 3.0 §6.7, PCIe §7.9, SR-IOV 1.1 §3.3–3.4)', () => {
      it('PF: MSI-X and PCI Express in the capability list, SR-IOV in the extended list at ≥ 0x100 with TotalVFs ≥ 2', () => {
        const rig = makeRig(factory);
        const pf = rig.nic.pf;
        expect(pf.requesterId).toBe(C.requesterId);
        expect(pf.configRead(PCI_CFG.VENDOR_ID, 2)).not.toBe(0xffff);
        expect(pf.configRead(PCI_CFG.STATUS, 2) & PCI_STATUS.CAPABILITIES_LIST).toBe(
          PCI_STATUS.CAPABILITIES_LIST,
        );
        expect(findCapability(pf, PCI_CAP_ID.MSIX)).toBeGreaterThanOrEqual(0x40);
        expect(findCapability(pf, PCI_CAP_ID.PCI_EXPRESS)).toBeGreaterThanOrEqual(0x40);
        expect(rig.sriov).toBeGreaterThanOrEqual(PCI_EXT_CAP_START);
        expect(pf.configRead(rig.sriov + SRIOV_CAP.TOTAL_VFS, 2)).toBeGreaterThanOrEqual(2);
        expect(pf.configRead(rig.sriov + SRIOV_CAP.VF_STRIDE, 2)).toBeGreaterThan(0);
        expect(pf.configRead(rig.sriov + SRIOV_CAP.FIRST_VF_OFFSET, 2)).toBeGreaterThan(0);
        // VF Enable is clear at reset: no VF exists.
        expect(rig.nic.vf(0)).toBeUndefined();
      });

      it('VF: Vendor and Device ID read 0xFFFF; MSI-X (table and PBA in BAR3) and PCI Express in the capability list', () => {
        const rig = makeRig(factory);
        const [vf] = enableVfs(rig, 1);
        expect(vf!.fn.configRead(PCI_CFG.VENDOR_ID, 2)).toBe(0xffff);
        expect(vf!.fn.configRead(PCI_CFG.DEVICE_ID, 2)).toBe(0xffff);
        expect(findCapability(vf!.fn, PCI_CAP_ID.PCI_EXPRESS)).toBeGreaterThanOrEqual(0x40);
        expect(msixVectors(vf!)).toBeGreaterThanOrEqual(3);
      });

      it('VF Enable with NumVFs = N creates VFs 0…N−1 with RID = PF RID + First VF Offset + n × VF Stride; clearing it removes them', () => {
        const rig = makeRig(factory);
        const pf = rig.nic.pf;
        const n = Math.min(4, pf.configRead(rig.sriov + SRIOV_CAP.TOTAL_VFS, 2));
        const offset = pf.configRead(rig.sriov + SRIOV_CAP.FIRST_VF_OFFSET, 2);
        const stride = pf.configRead(rig.sriov + SRIOV_CAP.VF_STRIDE, 2);
        const vfs = enableVfs(rig, n);
        expect(vfs.map((v) => v.fn.requesterId)).toEqual(
          vfs.map((v) => (C.requesterId + offset + v.n * stride) & 0xffff),
        );
        expect(rig.nic.vf(n)).toBeUndefined();
        expect(pf.configRead(rig.sriov + SRIOV_CAP.NUM_VFS, 2)).toBe(n);
        pf.configWrite(rig.sriov + SRIOV_CAP.CONTROL, 2, 0);
        expect(rig.nic.vf(0)).toBeUndefined();
      });

      it('BAR sizing: all ones read back as ~(size − 1) | type for PF BAR0, the PF MSI-X BAR and VF BAR0/BAR3; VF n decodes at VF BARk + n × size', () => {
        const rig = makeRig(factory);
        const pf = rig.nic.pf;
        const pfMsix = findCapability(pf, PCI_CAP_ID.MSIX);
        const pfMsixBir = pf.configRead(pfMsix + MSIX_CAP.TABLE, 4) & MSIX_BIR_MASK;
        for (const reg of [PCI_CFG.BAR0, PCI_CFG.BAR0 + 4 * pfMsixBir]) {
          const bar = sizeBar(pf, reg);
          expect(bar.low & PCI_BAR.IO_SPACE, `PF BAR at 0x${reg.toString(16)} is memory`).toBe(0);
          expect(isPowerOfTwo(bar.size), `PF BAR at 0x${reg.toString(16)} size ${bar.size}`).toBe(true);
          expect(bar.size).toBeGreaterThanOrEqual(16);
        }
        const vfBar = (k: number): number => rig.sriov + SRIOV_CAP.VF_BAR0 + 4 * k;
        const bar0 = sizeBar(pf, vfBar(0));
        const bar3 = sizeBar(pf, vfBar(3));
        for (const bar of [bar0, bar3]) {
          expect(bar.low & PCI_BAR.IO_SPACE).toBe(0);
          expect(isPowerOfTwo(bar.size)).toBe(true);
        }
        // The VF register map reaches VFTXDCTL at 0x2028: BAR0 is at least 16 KiB.
        expect(bar0.size).toBeGreaterThanOrEqual(0x4000);
        expect(rig.nic.vfBarSize(0)).toBe(bar0.size);
        expect(rig.nic.vfBarSize(3)).toBe(bar3.size);
        // Place the VF BARs (the high dword of a 64-bit BAR is 0) and check where each VF decodes.
        const base0 = 0xe0000000;
        const base3 = 0xe8000000;
        pf.configWrite(vfBar(0), 4, base0);
        if (bar0.is64) pf.configWrite(vfBar(1), 4, 0);
        pf.configWrite(vfBar(3), 4, base3);
        if (bar3.is64) pf.configWrite(vfBar(4), 4, 0);
        expect((pf.configRead(vfBar(0), 4) & PCI_BAR.MEM_ADDRESS_MASK) >>> 0).toBe(base0);
        const vfs = enableVfs(rig, 2);
        for (const v of vfs) {
          expect(rig.nic.vfBarAddress(v.n, 0)).toBe(base0 + v.n * bar0.size);
          expect(rig.nic.vfBarAddress(v.n, 3)).toBe(base3 + v.n * bar3.size);
        }
        // The MSI-X table and PBA fit in BAR3.
        const vf = vfs[0]!;
        expect(vf.table + msixVectors(vf) * MSIX_ENTRY.SIZE).toBeLessThanOrEqual(bar3.size);
        expect(vf.pba + 8).toBeLessThanOrEqual(bar3.size);
      });
    });

    describe('MSI-X (PCI 3.0 §6.8.2)', () => {
      /** VF 1 with MSI-X on and the cause/mask registers enabled; EICS raises causes by hand. */
      function msixRig(): { rig: Rig; vf: Vf } {
        const rig = makeRig(factory);
        const vf = enableVfs(rig, 2)[1]!;
        enableMsix(vf);
        setupInterrupts(vf);
        return { rig, vf };
      }
      const vcOf = (vf: Vf, v: number): number => vf.table + v * MSIX_ENTRY.SIZE + MSIX_ENTRY.VECTOR_CONTROL;

      it('entries reset masked (Vector Control bit 0 = 1)', () => {
        const rig = makeRig(factory);
        const vf = enableVfs(rig, 1)[0]!;
        for (let v = 0; v < msixVectors(vf); v++) {
          expect(vf.fn.msixBar.mmioRead(vcOf(vf, v), 4) & MSIX_ENTRY.MASK_BIT).toBe(MSIX_ENTRY.MASK_BIT);
        }
      });

      it('a masked vector sets its PBA bit and sends nothing; unmasking sends the message once and clears the bit', () => {
        const { rig, vf } = msixRig();
        vf.fn.msixBar.mmioWrite(vcOf(vf, 1), 4, MSIX_ENTRY.MASK_BIT);
        vf.regs.mmioWrite(VF_REG.VFEICS, 4, 0b010);
        rig.settle();
        expect(rig.msi.data).toEqual([]);
        expect(vf.fn.msixBar.mmioRead(vf.pba, 4) & 0b111).toBe(0b010);
        vf.fn.msixBar.mmioWrite(vcOf(vf, 1), 4, 0);
        rig.settle();
        expect(rig.msi.data).toEqual([msiData(1, 1)]);
        expect(vf.fn.msixBar.mmioRead(vf.pba, 4) & 0b111).toBe(0);
      });

      it('Function Mask holds every vector pending (PBA bits) until it is cleared', () => {
        const { rig, vf } = msixRig();
        const ctl = vf.msixCap + MSIX_CAP.MESSAGE_CONTROL;
        vf.fn.configWrite(ctl, 2, MSIX_CONTROL.ENABLE | MSIX_CONTROL.FUNCTION_MASK);
        vf.regs.mmioWrite(VF_REG.VFEICS, 4, 0b011);
        rig.settle();
        expect(rig.msi.data).toEqual([]);
        expect(vf.fn.msixBar.mmioRead(vf.pba, 4) & 0b111).toBe(0b011);
        vf.fn.configWrite(ctl, 2, MSIX_CONTROL.ENABLE);
        rig.settle();
        expect([...rig.msi.data].sort((x, y) => x - y)).toEqual([msiData(1, 0), msiData(1, 1)]);
        expect(vf.fn.msixBar.mmioRead(vf.pba, 4) & 0b111).toBe(0);
      });

      it('the message is the table entry exactly (remappable and compatibility formats) with the VF’s requester ID', () => {
        const { rig, vf } = msixRig();
        const remapAddress = encodeRemappableMsiAddress({ handle: 0x1234, shv: true });
        const remapData = encodeRemappableMsiData({ subhandle: 7 });
        const compatAddress = encodeCompatMsiAddress({ destination: 0x05, redirectionHint: 0, destMode: 0 });
        const compatData = encodeCompatMsiData({ vector: 0x61, deliveryMode: 0, level: 0, triggerMode: 0 });
        const e0 = vf.table;
        const e1 = vf.table + MSIX_ENTRY.SIZE;
        vf.fn.msixBar.mmioWrite(e0 + MSIX_ENTRY.ADDRESS_LO, 4, remapAddress);
        vf.fn.msixBar.mmioWrite(e0 + MSIX_ENTRY.DATA, 4, remapData);
        vf.fn.msixBar.mmioWrite(e1 + MSIX_ENTRY.ADDRESS_LO, 4, compatAddress);
        vf.fn.msixBar.mmioWrite(e1 + MSIX_ENTRY.DATA, 4, compatData);
        expect(vf.fn.msixBar.mmioRead(e0 + MSIX_ENTRY.ADDRESS_LO, 4)).toBe(remapAddress);
        vf.regs.mmioWrite(VF_REG.VFEICS, 4, 0b001);
        rig.settle();
        vf.regs.mmioWrite(VF_REG.VFEICS, 4, 0b010);
        rig.settle();
        expect(rig.msi.addresses).toEqual([remapAddress, compatAddress]);
        expect(rig.msi.data).toEqual([remapData, compatData]);
        expect(rig.msi.rids).toEqual([vf.fn.requesterId, vf.fn.requesterId]);
        expect(vf.fn.requesterId).not.toBe(rig.nic.vf(0)!.requesterId);
      });

      it('MSI-X Enable clear or Bus Master Enable clear: no message is sent', () => {
        const { rig, vf } = msixRig();
        vf.fn.configWrite(vf.msixCap + MSIX_CAP.MESSAGE_CONTROL, 2, 0);
        vf.regs.mmioWrite(VF_REG.VFEICS, 4, 0b001);
        rig.settle();
        vf.fn.configWrite(vf.msixCap + MSIX_CAP.MESSAGE_CONTROL, 2, MSIX_CONTROL.ENABLE);
        vf.fn.configWrite(PCI_CFG.COMMAND, 2, 0);
        vf.regs.mmioWrite(VF_REG.VFEIMS, 4, 0b111);
        vf.regs.mmioWrite(VF_REG.VFEICS, 4, 0b010);
        rig.settle();
        expect(rig.msi.data).toEqual([]);
      });
    });

    describe('receive (legacy descriptors, 82599 §7.1)', () => {
      it('a frame to the VF’s MAC: DMA into descriptor RDH’s buffer with the VF’s RID, write-back length/DD/EOP, RDH + 1, VFGPRC/VFGORC, then the RX vector', () => {
        const rig = makeRig(factory);
        const vfs = enableVfs(rig, 2);
        const vf = vfs[1]!;
        const r = rxVf(rig, vf);
        rxVf(rig, vfs[0]!);
        const atInterrupt: Array<{ status: number; data: Uint8Array }> = [];
        rig.msi.hook = () => {
          if (atInterrupt.length === 0)
            atInterrupt.push({ status: rxStatus(rig, r, 0), data: bytes(rig, r.buffers, 124) });
        };
        const frame = makeFrame(vf.fn.mac, 128, 0x11223344, 0x5a);
        deliver(rig, frame);
        rig.settle();
        // The FCS is stripped: 124 bytes land in the buffer, nothing after them.
        expect(bytes(rig, r.buffers, 124)).toEqual(frame.subarray(0, 124));
        expect(rig.memory.read8(r.buffers + 124)).toBe(0);
        expect(rxLength(rig, r, 0)).toBe(124);
        expect(rxStatus(rig, r, 0)).toBe(RXD_STAT.DD | RXD_STAT.EOP);
        expect(rig.memory.read8(r.ring + RX_DESC.ERRORS)).toBe(0);
        expect(rxStatus(rig, r, 1)).toBe(0);
        expect(vf.regs.mmioRead(VF_REG.VFRDH, 4)).toBe(1);
        expect(vf.regs.mmioRead(VF_REG.VFGPRC, 4)).toBe(1);
        expect(vf.regs.mmioRead(VF_REG.VFGORC_LSB, 4)).toBe(124);
        expect(rig.dma.writes.length).toBeGreaterThan(0);
        expect(new Set(rig.dma.writes.map((w) => w.rid))).toEqual(new Set([vf.fn.requesterId]));
        // VF 0's ring is untouched.
        expect(vfs[0]!.regs.mmioRead(VF_REG.VFRDH, 4)).toBe(0);
        // One message, on VF 1's RX vector (IVAR RX0 → 0), sent after the data and write-back.
        expect(rig.msi.data).toEqual([msiData(1, 0)]);
        expect(rig.msi.rids).toEqual([vf.fn.requesterId]);
        expect(atInterrupt).toHaveLength(1);
        expect(atInterrupt[0]!.status & RXD_STAT.DD).toBe(RXD_STAT.DD);
        expect(atInterrupt[0]!.data).toEqual(frame.subarray(0, 124));
      });

      it('frames fill descriptors in ring order and wrap at RDLEN', () => {
        const rig = makeRig(factory);
        const vf = enableVfs(rig, 1)[0]!;
        const r = rxVf(rig, vf);
        for (let i = 0; i < 7; i++) deliver(rig, makeFrame(vf.fn.mac, 64, i));
        rig.settle();
        expect(vf.regs.mmioRead(VF_REG.VFRDH, 4)).toBe(7);
        // The driver cleans descriptors 0…6 and gives them back: RDT = 6.
        for (let i = 0; i < 8; i++) rig.memory.write8(r.ring + i * RX_DESC.SIZE + RX_DESC.STATUS, 0);
        vf.regs.mmioWrite(VF_REG.VFRDT, 4, 6);
        for (let i = 7; i < 10; i++) deliver(rig, makeFrame(vf.fn.mac, 64, i));
        rig.settle();
        expect(vf.regs.mmioRead(VF_REG.VFRDH, 4)).toBe(2);
        const tagAt = (d: number): number => rig.memory.read32(r.buffers + d * BUFFER_BYTES + 14);
        expect([tagAt(7), tagAt(0), tagAt(1)]).toEqual([7, 8, 9]);
        expect([rxStatus(rig, r, 7), rxStatus(rig, r, 0), rxStatus(rig, r, 1), rxStatus(rig, r, 2)]).toEqual([
          RXD_STAT.DD | RXD_STAT.EOP,
          RXD_STAT.DD | RXD_STAT.EOP,
          RXD_STAT.DD | RXD_STAT.EOP,
          0,
        ]);
      });

      it('a full ring (RDH = RDT) drops the frame: no DMA write at all, RDH stays; once RDT moves the next frame lands in the next descriptor', () => {
        const rig = makeRig(factory);
        const vf = enableVfs(rig, 1)[0]!;
        enableMsix(vf);
        setupInterrupts(vf);
        const r = rxRing(vf);
        setupRx(rig, vf, r, 2);
        deliver(rig, makeFrame(vf.fn.mac, 64, 1));
        deliver(rig, makeFrame(vf.fn.mac, 64, 2));
        rig.settle();
        expect(vf.regs.mmioRead(VF_REG.VFRDH, 4)).toBe(2);
        const writes = rig.dma.writes.length;
        const interrupts = rig.msi.data.length;
        deliver(rig, makeFrame(vf.fn.mac, 64, 3, 0x33));
        rig.settle();
        expect(rig.dma.writes.length, 'DMA writes for a frame with no descriptor').toBe(writes);
        expect(vf.regs.mmioRead(VF_REG.VFRDH, 4)).toBe(2);
        expect(rxStatus(rig, r, 2)).toBe(0);
        expect(rig.msi.data.length).toBe(interrupts);
        vf.regs.mmioWrite(VF_REG.VFRDT, 4, 5);
        deliver(rig, makeFrame(vf.fn.mac, 64, 4));
        rig.settle();
        expect(vf.regs.mmioRead(VF_REG.VFRDH, 4)).toBe(3);
        expect(rig.memory.read32(r.buffers + 2 * BUFFER_BYTES + 14)).toBe(4);
        expect(rxStatus(rig, r, 2)).toBe(RXD_STAT.DD | RXD_STAT.EOP);
      });

      it('a faulting DMA writes nothing: buffer unmapped → no byte of the frame in memory, no DD, RDH stays, no RX interrupt; mapped again, the frame lands there', () => {
        const rig = makeRig(factory);
        const vf = enableVfs(rig, 1)[0]!;
        const r = rxVf(rig, vf);
        rig.dma.blocked = [[r.buffers, r.buffers + r.count * BUFFER_BYTES]];
        deliver(rig, makeFrame(vf.fn.mac, 256, 0xbad, 0x77));
        rig.settle();
        expect(rig.dma.faults).toBeGreaterThan(0);
        // Whatever did reach memory stayed inside the ring, and no descriptor claims a frame.
        for (const w of rig.dma.writes) {
          expect(w.address >= r.ring && w.address + w.length <= r.ring + r.count * RX_DESC.SIZE).toBe(true);
        }
        for (let i = 0; i < r.count; i++) expect(rxStatus(rig, r, i) & RXD_STAT.DD).toBe(0);
        expect(vf.regs.mmioRead(VF_REG.VFRDH, 4)).toBe(0);
        expect(rig.msi.data).toEqual([]);
        rig.dma.blocked = [];
        const frame = makeFrame(vf.fn.mac, 256, 0x600d, 0x66);
        deliver(rig, frame);
        rig.settle();
        expect(bytes(rig, r.buffers, 252)).toEqual(frame.subarray(0, 252));
        expect(rxStatus(rig, r, 0)).toBe(RXD_STAT.DD | RXD_STAT.EOP);
        expect(vf.regs.mmioRead(VF_REG.VFRDH, 4)).toBe(1);
        expect(rig.msi.data).toEqual([msiData(0, 0)]);
      });

      it('IVAR routes the RX cause: vector 2 when RX0 = 0x82, nothing when its valid bit is clear; EIMC holds the cause in EICR, EIMS sends it', () => {
        const rig = makeRig(factory);
        const vf = enableVfs(rig, 1)[0]!;
        const r = rxVf(rig, vf, 16);
        vf.regs.mmioWrite(VF_REG.VFIVAR0, 4, IVAR.ALLOC_VAL | 2);
        deliver(rig, makeFrame(vf.fn.mac, 64, 1));
        rig.settle();
        expect(rig.msi.data).toEqual([msiData(0, 2)]);
        vf.regs.mmioWrite(VF_REG.VFIVAR0, 4, 2);
        deliver(rig, makeFrame(vf.fn.mac, 64, 2));
        rig.settle();
        expect(rig.msi.data).toEqual([msiData(0, 2)]);
        expect(vf.regs.mmioRead(VF_REG.VFEICS, 4) & 0b111).toBe(0);
        vf.regs.mmioWrite(VF_REG.VFIVAR0, 4, IVAR.ALLOC_VAL | 2);
        vf.regs.mmioWrite(VF_REG.VFEIMC, 4, 0b100);
        expect(vf.regs.mmioRead(VF_REG.VFEIMS, 4) & 0b111).toBe(0b011);
        deliver(rig, makeFrame(vf.fn.mac, 64, 3));
        rig.settle();
        expect(rig.msi.data).toEqual([msiData(0, 2)]);
        expect(vf.regs.mmioRead(VF_REG.VFEICS, 4) & 0b111).toBe(0b100);
        vf.regs.mmioWrite(VF_REG.VFEIMS, 4, 0b100);
        rig.settle();
        expect(rig.msi.data).toEqual([msiData(0, 2), msiData(0, 2)]);
        expect(vf.regs.mmioRead(VF_REG.VFRDH, 4)).toBe(3);
        expect(rxStatus(rig, r, 2)).toBe(RXD_STAT.DD | RXD_STAT.EOP);
      });

      it('EIAM auto-masks and EIAC auto-clears when the message is sent; EICR is write-1-to-clear', () => {
        const rig = makeRig(factory);
        const vf = enableVfs(rig, 1)[0]!;
        rxVf(rig, vf, 16);
        const r = vf.regs;
        r.mmioWrite(VF_REG.VFEIAC, 4, 0);
        r.mmioWrite(VF_REG.VFEIAM, 4, 0b001);
        deliver(rig, makeFrame(vf.fn.mac, 64, 1));
        rig.settle();
        expect(rig.msi.data).toEqual([msiData(0, 0)]);
        expect(r.mmioRead(VF_REG.VFEIMS, 4) & 0b111).toBe(0b110);
        expect(r.mmioRead(VF_REG.VFEICS, 4) & 0b111).toBe(0b001);
        // Auto-masked: the next frame sends nothing.
        deliver(rig, makeFrame(vf.fn.mac, 64, 2));
        rig.settle();
        expect(rig.msi.data).toHaveLength(1);
        // Re-enabling with the cause still set sends it (and masks again).
        r.mmioWrite(VF_REG.VFEIMS, 4, 0b001);
        rig.settle();
        expect(rig.msi.data).toHaveLength(2);
        expect(r.mmioRead(VF_REG.VFEIMS, 4) & 0b001).toBe(0);
        r.mmioWrite(VF_REG.VFEICR, 4, 0b001);
        expect(r.mmioRead(VF_REG.VFEICS, 4) & 0b111).toBe(0);
        // Auto-clear: EICR drops the cause as the message goes; EIMS is left alone.
        r.mmioWrite(VF_REG.VFEIAM, 4, 0);
        r.mmioWrite(VF_REG.VFEIAC, 4, 0b001);
        r.mmioWrite(VF_REG.VFEIMS, 4, 0b001);
        deliver(rig, makeFrame(vf.fn.mac, 64, 3));
        rig.settle();
        expect(rig.msi.data).toHaveLength(3);
        expect(r.mmioRead(VF_REG.VFEICS, 4) & 0b111).toBe(0);
        expect(r.mmioRead(VF_REG.VFEIMS, 4) & 0b111).toBe(0b111);
      });

      describe('interrupt moderation (EITR, 82599 §7.3.2.1)', () => {
        /** One 64-byte frame every 5 µs for `frames` frames, EITR0 = `eitr`. */
        function paced(eitr: number, frames: number): { rig: Rig; vf: Vf } {
          const rig = makeRig(factory);
          const vf = enableVfs(rig, 1)[0]!;
          rxVf(rig, vf, 256);
          vf.regs.mmioWrite(VF_REG.VFEITR0, 4, eitr);
          const frame = makeFrame(vf.fn.mac, 64, 0);
          let sent = 0;
          const tick = rig.sim.event('conformance.paced', () => {
            rig.nic.receiveFrame(frame, frame.length);
            if (++sent < frames) rig.sim.scheduleIn(tick, 5_000_000);
          });
          rig.sim.schedule(tick, 0);
          rig.sim.runUntil(frames * 5_000_000 + 2 * 100_000_000);
          expect(vf.regs.mmioRead(VF_REG.VFGPRC, 4)).toBe(frames);
          return { rig, vf };
        }

        it('EITR = 0: every frame interrupts', () => {
          const { rig } = paced(0, 10);
          expect(rig.msi.data).toEqual(new Array(10).fill(msiData(0, 0)));
        });

        it('EITR = 100 µs (0x190): a frame every 5 µs for 1 ms → messages at least 100 µs apart, and 10–11 of them', () => {
          const { rig } = paced(eitrForInterval(100), 200);
          const t = rig.msi.times;
          for (let i = 1; i < t.length; i++) expect(t[i]! - t[i - 1]!).toBeGreaterThanOrEqual(100_000_000);
          // Causes never stop, so the vector fires about once per interval (the last one may drain after 1 ms).
          expect(t.length).toBeGreaterThanOrEqual(10);
          expect(t.length).toBeLessThanOrEqual(11);
        });
      });
    });

    describe('transmit (legacy descriptors, 82599 §7.2)', () => {
      it('a descriptor posted and TDT written puts the bytes on the wire (padded to 60 + FCS); DD written back only where RS; TDH = TDT; VFGPTC; the TX vector after the write-back; reads carry the VF’s RID', () => {
        const rig = makeRig(factory);
        const vf = enableVfs(rig, 2)[1]!;
        enableMsix(vf);
        setupInterrupts(vf);
        const ring = setupTx(vf, 8);
        const bufs = TX_BUFFERS + vf.n * BUFFER_STRIDE;
        const a = makeFrame(PEER_MAC, 104, 0xa, 0x11).subarray(0, 100);
        const b = makeFrame(PEER_MAC, 44, 0xb, 0x22).subarray(0, 40);
        const c1 = makeFrame(PEER_MAC, 304, 0xc, 0x33).subarray(0, 300);
        // Descriptor 0: a (RS); 1: b (no RS); 2–3: c gathered from two buffers (RS on the last).
        const post = (i: number, data: Uint8Array, cmd: number): void => {
          rig.memory.writeBytes(bufs + i * BUFFER_BYTES, data);
          const d = ring + i * TX_DESC.SIZE;
          rig.memory.write64(d + TX_DESC.BUFFER_ADDRESS, BigInt(bufs + i * BUFFER_BYTES));
          rig.memory.write16(d + TX_DESC.LENGTH, data.length);
          rig.memory.write8(d + TX_DESC.CMD, cmd);
          rig.memory.write8(d + TX_DESC.STATUS, 0);
        };
        post(0, a, EOP_IFCS_RS);
        post(1, b, TXD_CMD.EOP | TXD_CMD.IFCS);
        post(2, c1.subarray(0, 120), TXD_CMD.IFCS);
        post(3, c1.subarray(120), EOP_IFCS_RS);
        let ddAtInterrupt = -1;
        rig.msi.hook = () => {
          if (ddAtInterrupt < 0) ddAtInterrupt = rig.memory.read8(ring + TX_DESC.STATUS) & TXD_STAT.DD;
        };
        // The tail first covers only half of packet c: c waits for its EOP descriptor.
        vf.regs.mmioWrite(VF_REG.VFTDT, 4, 3);
        rig.settle();
        expect(rig.peer.frames.map((f) => f.length)).toEqual([104, 64]);
        vf.regs.mmioWrite(VF_REG.VFTDT, 4, 4);
        rig.settle();
        expect(rig.peer.frames.map((f) => f.length)).toEqual([104, 64, 304]);
        const [fa, fb, fc] = rig.peer.frames as [Uint8Array, Uint8Array, Uint8Array];
        expect(fa.subarray(0, 100)).toEqual(a);
        expect(fb.subarray(0, 40)).toEqual(b);
        expect(fb.subarray(40, 60).every((x) => x === 0)).toBe(true);
        expect(fc.subarray(0, 300)).toEqual(c1);
        const status = (i: number): number => rig.memory.read8(ring + i * TX_DESC.SIZE + TX_DESC.STATUS);
        expect([0, 1, 2, 3].map((i) => status(i) & TXD_STAT.DD)).toEqual([TXD_STAT.DD, 0, 0, TXD_STAT.DD]);
        expect(vf.regs.mmioRead(VF_REG.VFTDH, 4)).toBe(4);
        expect(vf.regs.mmioRead(VF_REG.VFGPTC, 4)).toBe(3);
        expect(rig.msi.data.length).toBeGreaterThanOrEqual(1);
        expect(new Set(rig.msi.data)).toEqual(new Set([msiData(1, 1)]));
        expect(ddAtInterrupt).toBe(TXD_STAT.DD);
        expect(rig.dma.rids).toEqual(new Set([vf.fn.requesterId]));
      });

      it('TXDCTL.ENABLE clear: a tail write sends nothing', () => {
        const rig = makeRig(factory);
        const vf = enableVfs(rig, 1)[0]!;
        enableMsix(vf);
        const ring = setupTx(vf, 8);
        vf.regs.mmioWrite(VF_REG.VFTXDCTL, 4, 0);
        rig.memory.write64(ring + TX_DESC.BUFFER_ADDRESS, BigInt(TX_BUFFERS));
        rig.memory.writeBytes(TX_BUFFERS, makeFrame(PEER_MAC, 64, 1).subarray(0, 60));
        rig.memory.write16(ring + TX_DESC.LENGTH, 60);
        rig.memory.write8(ring + TX_DESC.CMD, EOP_IFCS_RS);
        vf.regs.mmioWrite(VF_REG.VFTDT, 4, 1);
        rig.settle();
        expect(rig.peer.count).toBe(0);
      });
    });

    describe('layer-2 switching (pool selection by destination MAC, 82599 §7.10)', () => {
      it('a unicast frame goes only to the VF with that destination MAC; a MAC no VF has reaches no VF ring', () => {
        const rig = makeRig(factory);
        const [vf0, vf1] = enableVfs(rig, 2) as [Vf, Vf];
        const r0 = rxVf(rig, vf0);
        const r1 = rxVf(rig, vf1);
        expect(vf0.fn.mac).not.toBe(vf1.fn.mac);
        // Unicast MACs: bit 0 of the first octet (I/G) clear.
        for (const mac of [vf0.fn.mac, vf1.fn.mac]) expect(Math.floor(mac / 0x10000000000) & 1).toBe(0);
        deliver(rig, makeFrame(vf1.fn.mac, 64, 0x1111));
        rig.settle();
        expect([vf0.regs.mmioRead(VF_REG.VFRDH, 4), vf1.regs.mmioRead(VF_REG.VFRDH, 4)]).toEqual([0, 1]);
        expect(rig.memory.read32(r1.buffers + 14)).toBe(0x1111);
        deliver(rig, makeFrame(vf0.fn.mac, 64, 0x0000));
        deliver(rig, makeFrame(vf0.fn.mac, 64, 0x0001));
        rig.settle();
        expect([vf0.regs.mmioRead(VF_REG.VFRDH, 4), vf1.regs.mmioRead(VF_REG.VFRDH, 4)]).toEqual([2, 1]);
        expect(rig.memory.read32(r0.buffers + BUFFER_BYTES + 14)).toBe(1);
        expect(rig.msi.rids).toEqual([vf1.fn.requesterId, vf0.fn.requesterId, vf0.fn.requesterId]);
        const stranger = Math.max(vf0.fn.mac, vf1.fn.mac, C.macAddress) + 0x100;
        deliver(rig, makeFrame(stranger, 64, 0x2222));
        rig.settle();
        expect([vf0.regs.mmioRead(VF_REG.VFRDH, 4), vf1.regs.mmioRead(VF_REG.VFRDH, 4)]).toEqual([2, 1]);
      });
    });

    describe('10 Gb/s line rate (RFC 5180: 14,880,952 frames/s at 64 B, 812,743 at 1518 B)', () => {
      const WINDOW_PS = 1_000_000_000; // 1 ms
      const WARMUP_PS = 100_000_000;
      const POLL_PS = 10_000_000;
      for (const size of [64, 1518] as const) {
        const perWindow = WINDOW_PS / frameTimePs(size, C.bitsPerSecond);

        it(`RX: back-to-back ${size}-byte frames to a VF over 1 ms all land in its ring, in order (${Math.floor(perWindow)} per ms)`, () => {
          const rig = makeRig(factory);
          rig.dma.recording = false;
          const vf = enableVfs(rig, 1)[0]!;
          const count = 4096;
          const r = rxRing(vf, count);
          enableMsix(vf);
          setupRx(rig, vf, r);
          // A polling driver: checks each completed descriptor, then gives it back.
          let next = 0;
          let good = 0;
          let bad = 0;
          const poll = rig.sim.event('conformance.rx-poll', () => {
            while ((rxStatus(rig, r, next) & RXD_STAT.DD) !== 0) {
              const tag = rig.memory.read32(r.buffers + next * BUFFER_BYTES + 14);
              const ok =
                rxStatus(rig, r, next) === (RXD_STAT.DD | RXD_STAT.EOP) &&
                rxLength(rig, r, next) === size - ETHERNET.FCS_BYTES &&
                tag === good + bad;
              if (ok) good++;
              else bad++;
              rig.memory.write8(r.ring + next * RX_DESC.SIZE + RX_DESC.STATUS, 0);
              next = (next + 1) % count;
            }
            vf.regs.mmioWrite(VF_REG.VFRDT, 4, (next + count - 1) % count);
            rig.sim.scheduleIn(poll, POLL_PS);
          });
          rig.sim.schedule(poll, 0);
          const stopAt = WARMUP_PS + WINDOW_PS + WARMUP_PS;
          const source = new BackToBackSource(rig, vf.fn.mac, size, stopAt);
          rig.sim.runUntil(WARMUP_PS);
          const before = vf.regs.mmioRead(VF_REG.VFGPRC, 4);
          rig.sim.runUntil(WARMUP_PS + WINDOW_PS);
          const inWindow = vf.regs.mmioRead(VF_REG.VFGPRC, 4) - before;
          expect(Math.abs(inWindow - perWindow)).toBeLessThanOrEqual(1);
          rig.sim.runUntil(stopAt + 2 * WARMUP_PS);
          expect(bad).toBe(0);
          expect(good).toBe(source.sent);
          expect(vf.regs.mmioRead(VF_REG.VFGPRC, 4)).toBe(source.sent);
          expect(rig.dma.rids).toEqual(new Set([vf.fn.requesterId]));
        });

        it(`TX: a VF posting ${size}-byte packets keeps the wire busy: ${Math.floor(perWindow)} frames per ms reach the peer`, () => {
          const rig = makeRig(factory);
          rig.dma.recording = false;
          rig.peer.keep = false;
          rig.peer.expectLength = size;
          const vf = enableVfs(rig, 1)[0]!;
          enableMsix(vf);
          const count = 4096;
          const ring = setupTx(vf, count);
          // Every descriptor sends the same buffer; a polling driver re-posts what TDH passed.
          const payload = size - ETHERNET.FCS_BYTES;
          rig.memory.writeBytes(TX_BUFFERS, makeFrame(PEER_MAC, size, 0).subarray(0, payload));
          for (let i = 0; i < count; i++) {
            const d = ring + i * TX_DESC.SIZE;
            rig.memory.write64(d + TX_DESC.BUFFER_ADDRESS, BigInt(TX_BUFFERS));
            rig.memory.write16(d + TX_DESC.LENGTH, payload);
            rig.memory.write8(d + TX_DESC.CMD, EOP_IFCS_RS);
          }
          const poll = rig.sim.event('conformance.tx-poll', () => {
            const head = vf.regs.mmioRead(VF_REG.VFTDH, 4);
            vf.regs.mmioWrite(VF_REG.VFTDT, 4, (head + count - 1) % count);
            rig.sim.scheduleIn(poll, POLL_PS);
          });
          rig.sim.schedule(poll, 0);
          rig.sim.runUntil(WARMUP_PS);
          const before = rig.peer.count;
          rig.sim.runUntil(WARMUP_PS + WINDOW_PS);
          expect(Math.abs(rig.peer.count - before - perWindow)).toBeLessThanOrEqual(1);
          expect(rig.peer.badLength).toBe(0);
          expect(vf.regs.mmioRead(VF_REG.VFGPTC, 4)).toBeGreaterThanOrEqual(rig.peer.count);
          expect(rig.dma.rids).toEqual(new Set([vf.fn.requesterId]));
        });
      }
    });
  });
}
