/**
 * A NIC of the example's own in the board's NIC slot. `CountingNic` implements `NicUnderTest`
 * (what the NIC slot takes and `describeNicConformance` checks) by composition around
 * `@exitless/nic`'s `SriovNic`. What it adds, and all it adds:
 *
 * - per VF, a counter of the unicast frames that reached the port for the VF's MAC, and of
 *   the MSI-X messages the VF sent (`rxFrames[n]`, `msis[n]`; in the board's statistics as
 *   `nic.counting.vf<n>.*`, so they cover the measured interval like every other counter);
 * - a fixed receive delay (`extraRxDelayPs`, default 0): every received frame reaches the
 *   82599's switch and its receive DMA that much later, as a store-and-forward stage in
 *   front of the port would.
 *
 * Everything else — configuration space and SR-IOV, the VF register map, descriptor rings,
 * interrupt moderation, DMA, the switch, transmit — is SriovNic's, reached only through its
 * public methods. With no extra delay a board runs event for event as with SriovNic itself;
 * with it, every frame the guests receive arrives later and nothing else changes (on bare
 * metal, UDP_RR's round trip grows by exactly the delay).
 *
 * The delay is the wire's ingress delay (`WirePort.connect`), so a delayed frame still
 * occupies the wire: the conformance suite's line-rate receive check, whose source keeps at
 * most 64 frames queued or in flight, passes with 1 µs (the test runs the suite with none and
 * with 1 µs) and runs dry with 2 µs (30 more 64-byte frames held).
 *
 *   node --conditions=source --import tsx examples/own-nic.ts
 */
import { Board, type BoardSpec, type RunReport, runMachine } from '@exitless/machine';
import {
  DMA_BASE_BYTES,
  destinationMac,
  ETHERNET,
  NIC_82599,
  type NicFactoryOptions,
  type NicUnderTest,
  type NicVirtualFunctionUnderTest,
  SriovNic,
  type WirePort,
} from '@exitless/nic';
import { type Counter, us } from '@exitless/sim';
import type { MsiSink, PciFunction } from '@exitless/x86';
import { type ExampleOptions, exampleRun, fmt, isMain } from './common.js';
import { smallestBoard } from './smallest-board.js';

export interface CountingNicOptions {
  /** Added to every received frame's way from the port to the switch and its DMA, ps (default 0). */
  readonly extraRxDelayPs?: number;
}

export class CountingNic implements NicUnderTest {
  /** The 82599 model that does the work. */
  readonly inner: SriovNic;
  readonly extraRxDelayPs: number;
  /** Unicast frames that reached the port for VF n's MAC. */
  readonly rxFrames: readonly Counter[];
  /** MSI-X messages VF n sent. */
  readonly msis: readonly Counter[];
  private readonly options: NicFactoryOptions;
  /** VF n by its requester ID. */
  private readonly vfByRid = new Map<number, number>();

  constructor(options: NicFactoryOptions, own: CountingNicOptions = {}) {
    this.options = options;
    this.extraRxDelayPs = own.extraRxDelayPs ?? 0;
    const stats = options.stats.scope('counting');
    const vfs = Array.from({ length: NIC_82599.totalVfs }, (_, n) => n);
    this.rxFrames = vfs.map((n) => stats.counter(`vf${n}.rx-frames`));
    this.msis = vfs.map((n) => stats.counter(`vf${n}.msis`));
    // The 82599's MSIs pass through here on their way to the board's sink.
    const msi: MsiSink = {
      msiWrite: (address, data, requesterId) => {
        const n = this.vfByRid.get(requesterId);
        if (n !== undefined) this.msis[n]!.inc();
        options.msi.msiWrite(address, data, requesterId);
      },
    };
    const nic = { ...NIC_82599, requesterId: options.requesterId, macAddress: options.macAddress };
    this.inner = new SriovNic(options.sim, options.dma, msi, options.timing, nic, options.stats);
    for (const n of vfs) this.vfByRid.set(this.inner.vfRequesterId(n), n);
  }

  // ---- NicUnderTest: the 82599's, forwarded ----------------------------------------------

  get pf(): PciFunction {
    return this.inner.pf;
  }

  vf(n: number): NicVirtualFunctionUnderTest | undefined {
    return this.inner.vf(n);
  }

  vfBarAddress(n: number, bar: 0 | 3): number {
    return this.inner.vfBarAddress(n, bar);
  }

  vfBarSize(bar: 0 | 3): number {
    return this.inner.vfBarSize(bar);
  }

  // ---- The port: the 82599 transmits on it, this NIC receives from it --------------------

  connect(port: WirePort): void {
    this.inner.connect(port);
    // Take the port's frames at SriovNic's own ingress timing (its `connect` documents it:
    // the DMA write latency, plus its per-byte term beyond 64 bytes), plus the extra delay.
    const t = this.options.timing;
    port.connect(
      this,
      t.dmaWriteLatencyPs + this.extraRxDelayPs,
      t.dmaWritePsPerByte ?? 0,
      DMA_BASE_BYTES + ETHERNET.FCS_BYTES,
    );
  }

  receiveFrame(data: Uint8Array, length: number): void {
    // Unicast (I/G bit clear), not a runt: count it for the VF whose MAC it is addressed to.
    if ((data[0]! & 1) === 0 && length >= ETHERNET.MIN_FRAME_BYTES) {
      const mac = destinationMac(data);
      const vfs = this.inner.vfs;
      for (let n = 0; n < vfs.length; n++) if (vfs[n]!.mac === mac) this.rxFrames[n]!.inc();
    }
    this.inner.receiveFrame(data, length);
  }
}

/** The smallest board running netperf UDP_RR, its NIC slot holding a CountingNic. */
export function countingNicBoard(own: CountingNicOptions = {}): BoardSpec<CountingNic> {
  return {
    ...smallestBoard,
    nic: { factory: (o) => new CountingNic(o, own), vfs: 1 },
    workload: 'netperf-udp-rr',
  };
}

/** Runs the board with no extra delay and with 1 µs of it; prints what the NIC counted and the round trips. */
export function main(options: ExampleOptions = {}): {
  readonly direct: RunReport;
  readonly delayed: RunReport;
  readonly counted: { readonly rxFrames: number; readonly msis: number };
} {
  const { run, log } = exampleRun(options);
  const board = new Board(countingNicBoard());
  const direct = runMachine(board, run);
  const counted = { rxFrames: board.nic.rxFrames[0]!.value, msis: board.nic.msis[0]!.value };
  const delayed = runMachine(new Board(countingNicBoard({ extraRxDelayPs: us(1) })), run);
  log(`VF 0 received ${fmt(counted.rxFrames)} frames and sent ${fmt(counted.msis)} MSIs`);
  for (const [name, r] of [
    ['no extra delay', direct],
    ['1 us receive delay', delayed],
  ] as const) {
    log(
      `${name.padEnd(18)} ${fmt(r.throughput.value)} ${r.throughput.unit}, ` +
        `p50 ${fmt(r.latency?.p50 ?? Number.NaN, 1)} us, p99 ${fmt(r.latency?.p99 ?? Number.NaN, 1)} us`,
    );
  }
  return { direct, delayed, counted };
}

if (isMain(import.meta.url)) main();
