import { ns, type SimEvent, Simulator, Stats } from '@exitless/sim';
import {
  DirectDmaPort,
  DMA_OK,
  type DmaPort,
  MSIX_CAP,
  MSIX_CONTROL,
  MSIX_ENTRY,
  type MsiSink,
  PCI_CFG,
  PCI_COMMAND,
  SparseMemory,
  SRIOV_CAP,
  SRIOV_CONTROL,
} from '@exitless/x86';
import {
  type EthernetEndpoint,
  IVAR,
  NIC_82599,
  type NicOptions,
  type NicTiming,
  PF_LAYOUT,
  RXDCTL,
  SriovNic,
  TXDCTL,
  VF_REG,
  type VirtualFunction,
  Wire,
  type WirePort,
  writeMac,
} from '../src/index.js';

export const TIMING: NicTiming = { dmaReadLatencyPs: ns(800), dmaWriteLatencyPs: ns(400) };
export const PF_RID = 0x0300;
export const PF_MAC = 0x020000000000;
export const LINE_RATE = 10_000_000_000;
export const LINK_LATENCY_PS: number = ns(500);

/** Records every MSI write with its time. */
export class RecordingMsiSink implements MsiSink {
  readonly times: number[] = [];
  readonly addresses: number[] = [];
  readonly data: number[] = [];
  readonly rids: number[] = [];
  /** Called after recording (an interrupt handler stand-in). */
  hook: ((address: number, data: number, rid: number) => void) | null = null;
  private readonly sim: Simulator;

  constructor(sim: Simulator) {
    this.sim = sim;
  }

  msiWrite(address: number, data: number, requesterId: number): void {
    this.times.push(this.sim.now);
    this.addresses.push(address);
    this.data.push(data);
    this.rids.push(requesterId);
    this.hook?.(address, data, requesterId);
  }

  count(data: number): number {
    return this.data.filter((d) => d === data).length;
  }
}

/** A DMA port that reaches memory only inside [lo, hi) and faults (reason 5, "not present") elsewhere. */
export class WindowDmaPort implements DmaPort {
  readonly lastLatencyPs = 0;
  faults = 0;
  lo: number;
  hi: number;
  private readonly inner: DirectDmaPort;

  constructor(memory: SparseMemory, lo: number, hi: number) {
    this.inner = new DirectDmaPort(memory);
    this.lo = lo;
    this.hi = hi;
  }

  private inside(address: number, length: number): boolean {
    return address >= this.lo && address + length <= this.hi;
  }

  dmaRead(rid: number, address: number, dst: Uint8Array, offset: number, length: number): number {
    if (!this.inside(address, length)) {
      this.faults++;
      return 5;
    }
    return this.inner.dmaRead(rid, address, dst, offset, length);
  }

  dmaWrite(rid: number, address: number, src: Uint8Array, offset: number, length: number): number {
    if (!this.inside(address, length)) {
      this.faults++;
      return 5;
    }
    return this.inner.dmaWrite(rid, address, src, offset, length) === DMA_OK ? DMA_OK : 1;
  }
}

/** Keeps what it receives (copies) with arrival times. */
export class RecordingEndpoint implements EthernetEndpoint {
  readonly frames: Uint8Array[] = [];
  readonly times: number[] = [];
  count = 0;
  keep = true;
  private readonly sim: Simulator;

  constructor(sim: Simulator) {
    this.sim = sim;
  }

  receiveFrame(data: Uint8Array, length: number): void {
    this.count++;
    if (!this.keep) return;
    this.frames.push(data.slice(0, length));
    this.times.push(this.sim.now);
  }
}

export interface Rig {
  sim: Simulator;
  stats: Stats;
  memory: SparseMemory;
  msi: RecordingMsiSink;
  nic: SriovNic;
  wire: Wire;
  peer: RecordingEndpoint;
}

export function makeRig(
  options: {
    dma?: (m: SparseMemory) => DmaPort;
    nic?: Partial<NicOptions>;
    timing?: NicTiming;
    framesInFlight?: number;
  } = {},
): Rig {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const memory = new SparseMemory(256 * 1024 * 1024);
  const dma = options.dma?.(memory) ?? new DirectDmaPort(memory);
  const msi = new RecordingMsiSink(sim);
  const nic = new SriovNic(
    sim,
    dma,
    msi,
    options.timing ?? TIMING,
    { ...NIC_82599, requesterId: PF_RID, macAddress: PF_MAC, ...options.nic },
    stats.scope('nic'),
  );
  const wire = new Wire(
    sim,
    { bitsPerSecond: LINE_RATE, latencyPs: LINK_LATENCY_PS },
    { maxFrameBytes: 1518, framesInFlight: options.framesInFlight ?? 4096 },
    stats.scope('wire'),
  );
  nic.connect(wire.a);
  const peer = new RecordingEndpoint(sim);
  wire.b.connect(peer);
  return { sim, stats, memory, msi, nic, wire, peer };
}

/** What the host's PF driver does to create `n` VFs: NumVFs, then VF Enable and VF MSE. */
export function enableVfs(nic: SriovNic, n: number): void {
  const pf = nic.pf;
  pf.configWrite(PCI_CFG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE | PCI_COMMAND.BUS_MASTER);
  pf.configWrite(PF_LAYOUT.SRIOV_EXT_CAP + SRIOV_CAP.NUM_VFS, 2, n);
  pf.configWrite(
    PF_LAYOUT.SRIOV_EXT_CAP + SRIOV_CAP.CONTROL,
    2,
    SRIOV_CONTROL.VF_ENABLE | SRIOV_CONTROL.VF_MSE,
  );
}

export const VF_MSIX_CAP = 0x70;

/** Bus master on, MSI-X on, vector v → address 0xFEE00000, data = baseVector + v, unmasked. */
export function enableVfMsix(vf: VirtualFunction, baseVector: number, address = 0xfee00000): void {
  vf.configWrite(PCI_CFG.COMMAND, 2, PCI_COMMAND.BUS_MASTER);
  vf.configWrite(VF_MSIX_CAP + MSIX_CAP.MESSAGE_CONTROL, 2, MSIX_CONTROL.ENABLE);
  for (let v = 0; v < vf.msix.vectors; v++) {
    vf.msixBar.mmioWrite(v * 16 + MSIX_ENTRY.ADDRESS_LO, 4, address);
    vf.msixBar.mmioWrite(v * 16 + MSIX_ENTRY.ADDRESS_HI, 4, 0);
    vf.msixBar.mmioWrite(v * 16 + MSIX_ENTRY.DATA, 4, baseVector + v);
    vf.msixBar.mmioWrite(v * 16 + MSIX_ENTRY.VECTOR_CONTROL, 4, 0);
  }
}

export interface RingLayout {
  ringBase: number;
  count: number;
  bufferBase: number;
  bufferBytes: number;
}

/** Programs RX queue 0 like ixgbevf: descriptors with buffer addresses, RDT = count − 1 (all but one given). */
export function setupRx(
  rig: Rig,
  vf: VirtualFunction,
  ring: RingLayout,
  give: number = ring.count - 1,
): void {
  for (let i = 0; i < ring.count; i++) {
    rig.memory.write64(ring.ringBase + i * 16, BigInt(ring.bufferBase + i * ring.bufferBytes));
    rig.memory.write64(ring.ringBase + i * 16 + 8, 0n);
  }
  const r = vf.registers;
  r.mmioWrite(VF_REG.VFRDBAL, 4, ring.ringBase % 0x100000000);
  r.mmioWrite(VF_REG.VFRDBAH, 4, Math.floor(ring.ringBase / 0x100000000));
  r.mmioWrite(VF_REG.VFRDLEN, 4, ring.count * 16);
  r.mmioWrite(VF_REG.VFRDH, 4, 0);
  r.mmioWrite(VF_REG.VFSRRCTL, 4, Math.ceil(ring.bufferBytes / 1024));
  r.mmioWrite(VF_REG.VFRXDCTL, 4, RXDCTL.ENABLE);
  r.mmioWrite(VF_REG.VFRDT, 4, give);
}

/** RX → vector 0, TX → vector 1, mailbox → vector 2; all enabled with auto-clear. */
export function setupInterrupts(vf: VirtualFunction): void {
  const r = vf.registers;
  r.mmioWrite(VF_REG.VFIVAR0, 4, IVAR.ALLOC_VAL | 0 | ((IVAR.ALLOC_VAL | 1) << 8));
  r.mmioWrite(VF_REG.VFIVAR_MISC, 4, IVAR.ALLOC_VAL | 2);
  r.mmioWrite(VF_REG.VFEIAC, 4, 7);
  r.mmioWrite(VF_REG.VFEIMS, 4, 7);
}

export function setupTx(vf: VirtualFunction, ringBase: number, count: number): void {
  const r = vf.registers;
  r.mmioWrite(VF_REG.VFTDBAL, 4, ringBase % 0x100000000);
  r.mmioWrite(VF_REG.VFTDBAH, 4, Math.floor(ringBase / 0x100000000));
  r.mmioWrite(VF_REG.VFTDLEN, 4, count * 16);
  r.mmioWrite(VF_REG.VFTDH, 4, 0);
  r.mmioWrite(VF_REG.VFTDT, 4, 0);
  r.mmioWrite(VF_REG.VFTXDCTL, 4, TXDCTL.ENABLE);
}

/** A frame of `length` bytes (FCS included) to `dst` from `src`, payload bytes = `fill`. */
export function makeFrame(dst: number, src: number, length: number, fill = 0xa5): Uint8Array {
  const f = new Uint8Array(length).fill(fill);
  writeMac(f, 0, dst);
  writeMac(f, 6, src);
  f[12] = 0x08;
  f[13] = 0x00;
  return f;
}

export const BROADCAST = 0xffffffffffff;
export const PEER_MAC = 0x0a0000000001;

/**
 * Transmits `frame` back to back from `port` for ever: keeps about `depth` frames queued,
 * topping up with one event per `depth / 2` frames.
 */
export class LineRateSource {
  private readonly event: SimEvent;
  private readonly sim: Simulator;
  private readonly port: WirePort;
  private readonly frame: Uint8Array;
  private readonly depth: number;
  sent = 0;
  running = true;

  constructor(sim: Simulator, port: WirePort, frame: Uint8Array, depth: number = 64) {
    this.sim = sim;
    this.port = port;
    this.frame = frame;
    this.depth = depth;
    this.event = sim.event('line-rate-source', () => this.refill());
    sim.schedule(this.event, sim.now);
  }

  private refill(): void {
    if (!this.running) return;
    while (this.port.framesQueued < this.depth) {
      if (!this.port.transmit(this.frame, 0, this.frame.length)) break;
      this.sent++;
    }
    const perFrame = (this.port.busyUntil - this.sim.now) / Math.max(1, this.port.framesQueued);
    this.sim.schedule(this.event, this.sim.now + Math.max(1, Math.floor((perFrame * this.depth) / 2)));
  }
}
