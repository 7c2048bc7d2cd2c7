import { Counter, type ScopedStats, type SimEvent, type Simulator, type Tracer } from '@exitless/sim';
import type { MmioDevice, MmioSize, MsiSink } from '@exitless/x86';
import { NicConfigError } from './errors.js';

/** Latencies of a PCI Express link and the root port above it, in picoseconds. */
export interface PcieLinkTiming {
  /**
   * Downstream: from a CPU's uncached store leaving the core (a posted Memory Write TLP) until
   * the device behind the link sees it. The store itself completes on the CPU after its own
   * cost; only the device sees it late. 0 makes the downstream side transparent (at once).
   */
  readonly postedWritePs: number;
  /**
   * Upstream: from the device's MSI (a posted one-dword Memory Write to 0xFEEx_xxxx) until the
   * root complex takes it (its IOMMU, or the interrupt bus without one). 0 makes the upstream
   * side transparent.
   */
  readonly msiPs: number;
}

/** Construction options of a PcieLink. */
export interface PcieLinkOptions {
  /** The simulator the link's deliveries are scheduled on. */
  readonly sim: Simulator;
  /** The link's latencies. */
  readonly timing: PcieLinkTiming;
  /** Where the device's MSIs go when they reach the root complex (the IOMMU). */
  readonly upstream: MsiSink;
  /** Counters (`downstream.writes`, `downstream.reads`, `downstream.flushed-by-read`, `upstream.msis`). */
  readonly stats?: ScopedStats;
  /** Instants on track `pcie`: `posted-write`, `posted-write-arrives`, `msi`, `msi-arrives`. */
  readonly tracer?: Tracer;
}

/** Initial ring capacity (it doubles when full; steady state creates no objects). */
const INITIAL_SLOTS = 16;

/**
 * The PCI Express link between the root complex and one device (every function of it: an
 * SR-IOV NIC's PF and VFs share their card's link), with the latency of each direction and
 * the ordering rules of PCIe (Base Specification 2.0 §2.4.1, the ordering rules summary table):
 *
 * - **Downstream posted writes.** A CPU's store to a BAR behind the link (attach() gives the
 *   view to put on the address map) is a posted write: `mmioWrite` returns at once — the
 *   store's own cost is the CPU's — and the device sees the write `postedWritePs` later.
 *   Posted writes never pass each other (rule A2a): they reach the device in the order they
 *   were issued, whichever function or BAR behind the link they target.
 * - **Reads push posted writes.** A read request must not pass a posted write (rule B2,
 *   and its completion may not pass one either, D2a): so a read through the link first
 *   delivers every write still in flight, in order, then reads. A read therefore observes
 *   every write issued before it. The CPU model performs a read at once and charges the
 *   whole round trip as its own cost (`cpu.mmioReadCycles`), so the device state a read
 *   returns is sampled when it is issued, and the writes it pushes take effect then too —
 *   up to `postedWritePs` before they would have on their own.
 * - **Upstream MSIs.** The device's MSI writes (this link is its MsiSink) reach `upstream`
 *   `msiPs` after the device wrote them, in order (a posted write passes no posted write).
 *
 * The device's DMA is not carried here: the device model charges its own DMA latencies
 * (NicTiming) and performs DMA when it lands in memory, so an MSI the device sends after
 * its writes is never early (it can be late by up to `msiPs`: in hardware it would have
 * followed those writes up the link instead of leaving after they landed). Each direction is a ring of typed arrays with one reusable
 * event set for its head: writes (or MSIs) that arrive in a row, with no other event due in
 * between, are delivered by one event, each at its own arrival time; and no object is created
 * once the rings have grown to the traffic's depth.
 */
export class PcieLink implements MsiSink {
  /** The link's latencies. */
  readonly timing: PcieLinkTiming;
  private readonly sim: Simulator;
  private readonly upstream: MsiSink;
  private readonly tracer: Tracer | undefined;
  private readonly devices: MmioDevice[] = [];

  // ---- downstream posted writes: a FIFO ring ----
  private dTime = new Float64Array(INITIAL_SLOTS);
  private dOffset = new Float64Array(INITIAL_SLOTS);
  private dValue = new Uint32Array(INITIAL_SLOTS);
  /** Device index << 3 | access size. */
  private dTarget = new Int32Array(INITIAL_SLOTS);
  private dHead = 0;
  private dCount = 0;
  private readonly downstreamEvent: SimEvent;

  // ---- upstream MSIs: a FIFO ring ----
  private uTime = new Float64Array(INITIAL_SLOTS);
  private uAddress = new Float64Array(INITIAL_SLOTS);
  private uData = new Uint32Array(INITIAL_SLOTS);
  private uRid = new Int32Array(INITIAL_SLOTS);
  private uHead = 0;
  private uCount = 0;
  private readonly upstreamEvent: SimEvent;

  private readonly cWrites: Counter;
  private readonly cReads: Counter;
  private readonly cFlushed: Counter;
  private readonly cMsis: Counter;

  constructor(options: PcieLinkOptions) {
    const { timing } = options;
    for (const key of ['postedWritePs', 'msiPs'] as const) {
      const v = timing[key];
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new NicConfigError(
          `PcieLink: timing.${key} must be a non-negative integer of picoseconds, got ${v}`,
        );
      }
    }
    this.timing = timing;
    this.sim = options.sim;
    this.upstream = options.upstream;
    this.tracer = options.tracer;
    const s = options.stats;
    const c = (name: string): Counter => (s !== undefined ? s.counter(name) : new Counter(name));
    this.cWrites = c('downstream.writes');
    this.cReads = c('downstream.reads');
    this.cFlushed = c('downstream.flushed-by-read');
    this.cMsis = c('upstream.msis');
    this.downstreamEvent = this.sim.event('pcie.downstream', () => this.deliverWrites());
    this.upstreamEvent = this.sim.event('pcie.upstream', () => this.deliverMsis());
  }

  /**
   * The view of `device` (one BAR of a function behind this link) as the CPU reaches it:
   * map the returned MmioDevice on the machine's address map instead of the device itself.
   */
  attach(device: MmioDevice): MmioDevice {
    const index = this.devices.length;
    this.devices.push(device);
    return {
      mmioRead: (offset, size) => this.read(index, offset, size),
      mmioWrite: (offset, size, value) => this.write(index, offset, size, value),
    };
  }

  /** Posted writes issued but not yet seen by their device. */
  get writesInFlight(): number {
    return this.dCount;
  }

  /** MSIs written by the device but not yet taken by the root complex. */
  get msisInFlight(): number {
    return this.uCount;
  }

  /** Slots in each ring (they grow to the deepest traffic seen, then stay). */
  get capacity(): {
    /** Slots in the downstream (posted-write) ring. */
    readonly downstream: number;
    /** Slots in the upstream (MSI) ring. */
    readonly upstream: number;
  } {
    return { downstream: this.dTime.length, upstream: this.uTime.length };
  }

  // ======================================================================================
  // Downstream: posted writes, and reads that push them
  // ======================================================================================

  private write(index: number, offset: number, size: MmioSize, value: number): void {
    this.cWrites.inc();
    const latency = this.timing.postedWritePs;
    if (latency === 0 && this.dCount === 0) {
      this.devices[index]!.mmioWrite(offset, size, value);
      return;
    }
    const sim = this.sim;
    let when = sim.now + latency;
    if (this.dCount > 0) {
      // In order behind the writes already in flight (A2a).
      const last = this.dTime[(this.dHead + this.dCount - 1) % this.dTime.length]!;
      if (last > when) when = last;
    }
    if (this.dCount === this.dTime.length) this.growDownstream();
    const slot = (this.dHead + this.dCount) % this.dTime.length;
    this.dTime[slot] = when;
    this.dOffset[slot] = offset;
    this.dValue[slot] = value >>> 0;
    this.dTarget[slot] = (index << 3) | size;
    this.dCount++;
    if (this.tracer?.enabled) this.tracer.instant('pcie', 'posted-write', sim.now, { offset, value });
    if (!this.downstreamEvent.scheduled) sim.schedule(this.downstreamEvent, this.dTime[this.dHead]!);
  }

  private read(index: number, offset: number, size: MmioSize): number {
    this.cReads.inc();
    if (this.dCount > 0) {
      // The read request travels behind every posted write in flight (B2): they land first.
      this.cFlushed.add(this.dCount);
      this.sim.cancel(this.downstreamEvent);
      this.deliverWritesUntil(Number.POSITIVE_INFINITY);
    }
    return this.devices[index]!.mmioRead(offset, size);
  }

  /**
   * Delivers the posted writes that have arrived; then, while the next one arrives before any
   * other event is due (so nothing can happen, or look, in between), moves the clock to its
   * arrival and delivers it too: writes in a row in one event, each at its own arrival time and
   * in the same order as one event each (Simulator.tryAdvanceTo, as the wire's bursts).
   */
  private deliverWrites(): void {
    const sim = this.sim;
    for (;;) {
      this.deliverWritesUntil(sim.now);
      if (this.dCount === 0 || this.downstreamEvent.scheduled) return;
      if (!sim.tryAdvanceTo(this.dTime[this.dHead]!)) {
        sim.schedule(this.downstreamEvent, this.dTime[this.dHead]!);
        return;
      }
    }
  }

  private deliverWritesUntil(limit: number): void {
    const traced = this.tracer?.enabled === true;
    while (this.dCount > 0 && this.dTime[this.dHead]! <= limit) {
      const slot = this.dHead;
      const target = this.dTarget[slot]!;
      const offset = this.dOffset[slot]!;
      const value = this.dValue[slot]!;
      // Popped before the device runs: a device reacting to the write may use the link.
      this.dHead = (slot + 1) % this.dTime.length;
      this.dCount--;
      if (traced) this.tracer!.instant('pcie', 'posted-write-arrives', this.sim.now, { offset, value });
      this.devices[target >>> 3]!.mmioWrite(offset, (target & 7) as MmioSize, value);
    }
  }

  private growDownstream(): void {
    const cap = this.dTime.length;
    const time = new Float64Array(cap * 2);
    const offset = new Float64Array(cap * 2);
    const value = new Uint32Array(cap * 2);
    const target = new Int32Array(cap * 2);
    for (let i = 0; i < this.dCount; i++) {
      const from = (this.dHead + i) % cap;
      time[i] = this.dTime[from]!;
      offset[i] = this.dOffset[from]!;
      value[i] = this.dValue[from]!;
      target[i] = this.dTarget[from]!;
    }
    this.dTime = time;
    this.dOffset = offset;
    this.dValue = value;
    this.dTarget = target;
    this.dHead = 0;
  }

  // ======================================================================================
  // Upstream: the device's MSIs
  // ======================================================================================

  msiWrite(address: number, data: number, requesterId: number): void {
    this.cMsis.inc();
    const latency = this.timing.msiPs;
    if (latency === 0 && this.uCount === 0) {
      this.upstream.msiWrite(address, data, requesterId);
      return;
    }
    const sim = this.sim;
    let when = sim.now + latency;
    if (this.uCount > 0) {
      // A posted write does not pass another (A2a).
      const last = this.uTime[(this.uHead + this.uCount - 1) % this.uTime.length]!;
      if (last > when) when = last;
    }
    if (this.uCount === this.uTime.length) this.growUpstream();
    const slot = (this.uHead + this.uCount) % this.uTime.length;
    this.uTime[slot] = when;
    this.uAddress[slot] = address;
    this.uData[slot] = data >>> 0;
    this.uRid[slot] = requesterId;
    this.uCount++;
    if (this.tracer?.enabled) this.tracer.instant('pcie', 'msi', sim.now, { address, data, requesterId });
    if (!this.upstreamEvent.scheduled) sim.schedule(this.upstreamEvent, this.uTime[this.uHead]!);
  }

  /** Delivers the MSIs that have arrived, and those that follow in a row (as deliverWrites). */
  private deliverMsis(): void {
    const sim = this.sim;
    for (;;) {
      this.deliverMsisUntilNow();
      if (this.uCount === 0 || this.upstreamEvent.scheduled) return;
      if (!sim.tryAdvanceTo(this.uTime[this.uHead]!)) {
        sim.schedule(this.upstreamEvent, this.uTime[this.uHead]!);
        return;
      }
    }
  }

  private deliverMsisUntilNow(): void {
    const sim = this.sim;
    const traced = this.tracer?.enabled === true;
    while (this.uCount > 0 && this.uTime[this.uHead]! <= sim.now) {
      const slot = this.uHead;
      const address = this.uAddress[slot]!;
      const data = this.uData[slot]!;
      const rid = this.uRid[slot]!;
      this.uHead = (slot + 1) % this.uTime.length;
      this.uCount--;
      if (traced) this.tracer!.instant('pcie', 'msi-arrives', sim.now, { address, data, requesterId: rid });
      this.upstream.msiWrite(address, data, rid);
    }
  }

  private growUpstream(): void {
    const cap = this.uTime.length;
    const time = new Float64Array(cap * 2);
    const address = new Float64Array(cap * 2);
    const data = new Uint32Array(cap * 2);
    const rid = new Int32Array(cap * 2);
    for (let i = 0; i < this.uCount; i++) {
      const from = (this.uHead + i) % cap;
      time[i] = this.uTime[from]!;
      address[i] = this.uAddress[from]!;
      data[i] = this.uData[from]!;
      rid[i] = this.uRid[from]!;
    }
    this.uTime = time;
    this.uAddress = address;
    this.uData = data;
    this.uRid = rid;
    this.uHead = 0;
  }
}
