import type { Counter, ScopedStats, SimEvent, Simulator } from '@exitless/sim';
import { NicConfigError } from './errors.js';
import { ETHERNET } from './regs.js';

/**
 * Whatever sits at one end of a wire and takes frames off it: the NIC's port, or the
 * remote load generator. A frame is the bytes from the destination MAC address to the
 * FCS inclusive (the FCS bytes are carried but never computed or checked).
 */
export interface EthernetEndpoint {
  /** A whole frame has arrived; `data[0, length)` is valid only during the call (copy what you keep). */
  receiveFrame(data: Uint8Array, length: number): void;
}

/** Timing of a full-duplex Ethernet link, the same in both directions. */
export interface WireTiming {
  /** Line rate, bits per second (10 GbE: 10_000_000_000). */
  readonly bitsPerSecond: number;
  /** One-way latency from the last bit leaving the sender to the last bit reaching the receiver (cable, PHYs), ps. */
  readonly latencyPs: number;
}

/** Sizes of a wire's frame pools. */
export interface WireOptions {
  /** Largest frame (FCS included) a pool slot holds; longer transmissions are dropped and counted. 1518 standard, up to 9728 jumbo. */
  readonly maxFrameBytes: number;
  /** Frames each direction can hold between transmit and delivery (queued for serialisation or in flight); more are dropped and counted. */
  readonly framesInFlight: number;
}

/** Picoseconds a frame of `frameBytes` (FCS included) occupies a link of `bitsPerSecond`, with preamble, SFD and IFG. */
export function frameTimePs(frameBytes: number, bitsPerSecond: number): number {
  const onWire = Math.max(frameBytes, ETHERNET.MIN_FRAME_BYTES) + ETHERNET.OVERHEAD_BYTES;
  return Math.round((onWire * 8 * 1e12) / bitsPerSecond);
}

/** A pool slot whose buffer is not allocated yet. */
const NO_BUFFER = new Uint8Array(0);

/**
 * One direction of a link: a transmit FIFO serialised at line rate, then the propagation
 * latency, then delivery. Frames live in pooled buffers (each allocated on first use), so
 * the steady state creates no objects, and a single reusable event is always set for the
 * next delivery: one simulator event per frame.
 *
 * The FIFO holds buffer numbers, not buffers: a frame takes the buffer freed most recently
 * (a stack), so with a few frames in flight the same few buffers — still in the CPU's
 * cache — are reused instead of the copy walking through megabytes of cold pool.
 */
class Link {
  private readonly sim: Simulator;
  private readonly psPerByte: number;
  private readonly latencyPs: number;
  private readonly maxFrameBytes: number;
  private readonly slots: Uint8Array[];
  /** The FIFO (a ring): buffer number, length and arrival time of each queued frame. */
  private readonly slotOf: Int32Array;
  private readonly lengths: Int32Array;
  private readonly arrivals: Float64Array;
  /** Buffers not holding a frame, the most recently freed on top. */
  private readonly freeSlots: Int32Array;
  private freeCount: number;
  private head = 0;
  private count = 0;
  private readonly event: SimEvent;
  private endpoint: EthernetEndpoint | null = null;
  private ingressDelayPs = 0;
  private ingressPsPerByte = 0;
  private ingressFreeBytes = 0;
  /** Arrival time of the frame queued last: frames reach the endpoint in order. */
  private lastArrival = 0;
  /** Time the transmitter finishes serialising everything queued so far. */
  busyUntil = 0;
  private readonly frames: Counter;
  private readonly bytes: Counter;
  private readonly delivered: Counter;
  private readonly droppedFull: Counter;
  private readonly droppedOversize: Counter;
  private readonly droppedUnconnected: Counter;
  /** `viewOf.subarray(viewOffset, viewOffset + viewLength)`, the last frame transmitted from. */
  private viewOf: Uint8Array = NO_BUFFER;
  private viewOffset = 0;
  private viewLength = 0;
  private view: Uint8Array = NO_BUFFER;

  constructor(sim: Simulator, name: string, timing: WireTiming, options: WireOptions, stats: ScopedStats) {
    this.sim = sim;
    this.psPerByte = 8e12 / timing.bitsPerSecond;
    this.latencyPs = timing.latencyPs;
    this.maxFrameBytes = options.maxFrameBytes;
    // Buffers are allocated on first use: the free stack hands out the same few again and
    // again, so most of a large pool is never touched.
    this.slots = [];
    for (let i = 0; i < options.framesInFlight; i++) this.slots.push(NO_BUFFER);
    this.slotOf = new Int32Array(options.framesInFlight);
    this.freeSlots = new Int32Array(options.framesInFlight);
    // Buffer 0 on top of the stack.
    for (let i = 0; i < options.framesInFlight; i++) this.freeSlots[i] = options.framesInFlight - 1 - i;
    this.freeCount = options.framesInFlight;
    this.lengths = new Int32Array(options.framesInFlight);
    this.arrivals = new Float64Array(options.framesInFlight);
    this.event = sim.event(`wire.${name}.deliver`, () => this.deliver());
    this.frames = stats.counter('tx.frames');
    this.bytes = stats.counter('tx.bytes');
    this.delivered = stats.counter('rx.frames');
    this.droppedFull = stats.counter('tx.dropped-queue-full');
    this.droppedOversize = stats.counter('tx.dropped-oversize');
    this.droppedUnconnected = stats.counter('rx.dropped-unconnected');
  }

  connect(
    endpoint: EthernetEndpoint | null,
    ingressDelayPs: number,
    psPerByte: number,
    freeBytes: number,
  ): void {
    this.endpoint = endpoint;
    this.ingressDelayPs = ingressDelayPs;
    this.ingressPsPerByte = psPerByte;
    this.ingressFreeBytes = freeBytes;
  }

  /** Picoseconds of frames queued but not yet serialised. */
  backlogPs(): number {
    return Math.max(0, this.busyUntil - this.sim.now);
  }

  /** Frames accepted but not yet delivered. */
  get queued(): number {
    return this.count;
  }

  transmit(data: Uint8Array, offset: number, length: number, notBefore: number): boolean {
    if (length > this.maxFrameBytes || length < 1) {
      this.droppedOversize.inc();
      return false;
    }
    const cap = this.slots.length;
    // No free buffer: the pool is full (a buffer being delivered counts until the
    // endpoint returns, so a frame sent from inside delivery never overwrites it).
    if (this.freeCount === 0) {
      this.droppedFull.inc();
      return false;
    }
    const now = this.sim.now;
    let start = Math.max(this.busyUntil, now);
    if (notBefore > start) start = notBefore;
    const onWire = Math.max(length, ETHERNET.MIN_FRAME_BYTES) + ETHERNET.OVERHEAD_BYTES;
    const end = start + Math.round(onWire * this.psPerByte);
    this.busyUntil = end;
    // (head + count) % cap without a division: head < cap and count < cap here.
    let i = this.head + this.count;
    if (i >= cap) i -= cap;
    const slot = this.freeSlots[--this.freeCount]!;
    this.slotOf[i] = slot;
    let buffer = this.slots[slot]!;
    if (buffer === NO_BUFFER) {
      buffer = new Uint8Array(this.maxFrameBytes);
      this.slots[slot] = buffer;
    }
    // The view of the sender's frame is kept while the sender sends from the same place
    // (it rebuilds its frame in one buffer): the same bytes copied without a new view.
    if (data !== this.viewOf || offset !== this.viewOffset || length !== this.viewLength) {
      this.viewOf = data;
      this.viewOffset = offset;
      this.viewLength = length;
      this.view = data.subarray(offset, offset + length);
    }
    buffer.set(this.view);
    this.lengths[i] = length;
    let arrival = end + this.latencyPs + this.ingressDelayPs;
    if (this.ingressPsPerByte > 0 && length > this.ingressFreeBytes) {
      arrival += Math.round(this.ingressPsPerByte * (length - this.ingressFreeBytes));
    }
    // A short frame behind a long one has the shorter ingress delay, but the endpoint takes
    // frames in order (a NIC's posted DMA writes do not pass each other).
    if (arrival < this.lastArrival) arrival = this.lastArrival;
    this.lastArrival = arrival;
    this.arrivals[i] = arrival;
    this.count++;
    this.frames.inc();
    this.bytes.add(length);
    if (!this.event.scheduled && this.count === 1) this.sim.schedule(this.event, arrival);
    return true;
  }

  /**
   * Delivers every frame that has arrived; then, while the next frame arrives before any
   * other event is due (so nothing can happen, or look, in between), moves the clock to its
   * arrival and delivers it too: a burst of back-to-back frames in one event, at exactly the
   * times and in exactly the order one event per frame would give (Simulator.tryAdvanceTo).
   */
  private deliver(): void {
    const cap = this.slots.length;
    const sim = this.sim;
    for (;;) {
      const now = sim.now;
      while (this.count > 0 && this.arrivals[this.head]! <= now) {
        const i = this.head;
        this.head = i + 1 === cap ? 0 : i + 1;
        this.count--;
        const slot = this.slotOf[i]!;
        const ep = this.endpoint;
        if (ep === null) this.droppedUnconnected.inc();
        else {
          this.delivered.inc();
          ep.receiveFrame(this.slots[slot]!, this.lengths[i]!);
        }
        // Freed only after the endpoint returns: the frame is valid during the call.
        this.freeSlots[this.freeCount++] = slot;
      }
      if (this.count === 0) return;
      const next = this.arrivals[this.head]!;
      if (!sim.tryAdvanceTo(next)) {
        sim.reschedule(this.event, next);
        return;
      }
    }
  }
}

/**
 * One end of a wire: transmits towards the other end, and delivers what the other end
 * sent to the endpoint connected here.
 */
export class WirePort {
  private readonly out: Link;
  private readonly in: Link;
  /** Line rate, bits per second. */
  readonly bitsPerSecond: number;

  /** @internal */
  constructor(out: Link, inbound: Link, bitsPerSecond: number) {
    this.out = out;
    this.in = inbound;
    this.bitsPerSecond = bitsPerSecond;
  }

  /**
   * Connects the endpoint that receives at this end. `ingressDelayPs` is the time from
   * the frame's last bit arriving to the endpoint handling it (a NIC's receive DMA), so
   * that handling costs no extra event; `ingressPsPerByte` adds to it for each byte of
   * the frame beyond the first `ingressFreeBytes` (a DMA whose latency grows with its
   * size). Frames still reach the endpoint in the order they were sent.
   */
  connect(
    endpoint: EthernetEndpoint | null,
    ingressDelayPs = 0,
    ingressPsPerByte = 0,
    ingressFreeBytes = 0,
  ): void {
    this.in.connect(endpoint, ingressDelayPs, ingressPsPerByte, ingressFreeBytes);
  }

  /**
   * Queues a frame (FCS included) for transmission: serialisation starts when the
   * transmitter is free and not before `notBefore` (ps). Returns false, counted, if the
   * frame is longer than the pool slots or the pool is full.
   */
  transmit(data: Uint8Array, offset: number, length: number, notBefore = 0): boolean {
    return this.out.transmit(data, offset, length, notBefore);
  }

  /** Time (ps) at which the transmitter will have serialised everything queued. */
  get busyUntil(): number {
    return this.out.busyUntil;
  }

  /** Picoseconds of transmission still queued at this end. */
  backlogPs(): number {
    return this.out.backlogPs();
  }

  /** Frames queued or in flight from this end. */
  get framesQueued(): number {
    return this.out.queued;
  }
}

/**
 * A full-duplex point-to-point Ethernet link: two independent directions, each serialising
 * at line rate with 20 bytes of preamble, SFD and inter-frame gap per frame (RFC 5180 §5:
 * 14,880,952 frames/s at 64 bytes and 812,743 at 1518 bytes on 10 Gb/s), then the
 * propagation latency. End `a` is usually the NIC's port, end `b` the peer.
 */
export class Wire {
  /** End a (usually the NIC's port). */
  readonly a: WirePort;
  /** End b (usually the peer). */
  readonly b: WirePort;
  /** The wire's line rate and latency. */
  readonly timing: WireTiming;

  constructor(sim: Simulator, timing: WireTiming, options: WireOptions, stats: ScopedStats) {
    if (!(timing.bitsPerSecond > 0) || !Number.isFinite(timing.bitsPerSecond)) {
      throw new NicConfigError(`wire: bitsPerSecond must be a positive number, got ${timing.bitsPerSecond}`);
    }
    if (!Number.isSafeInteger(timing.latencyPs) || timing.latencyPs < 0) {
      throw new NicConfigError(`wire: latencyPs must be a non-negative integer, got ${timing.latencyPs}`);
    }
    if (!Number.isInteger(options.maxFrameBytes) || options.maxFrameBytes < ETHERNET.MIN_FRAME_BYTES) {
      throw new NicConfigError(`wire: maxFrameBytes must be an integer ≥ 64, got ${options.maxFrameBytes}`);
    }
    if (!Number.isInteger(options.framesInFlight) || options.framesInFlight < 1) {
      throw new NicConfigError(
        `wire: framesInFlight must be a positive integer, got ${options.framesInFlight}`,
      );
    }
    this.timing = timing;
    const ab = new Link(sim, 'a-to-b', timing, options, stats.scope('a-to-b'));
    const ba = new Link(sim, 'b-to-a', timing, options, stats.scope('b-to-a'));
    this.a = new WirePort(ab, ba, timing.bitsPerSecond);
    this.b = new WirePort(ba, ab, timing.bitsPerSecond);
  }
}

export type { Link };
