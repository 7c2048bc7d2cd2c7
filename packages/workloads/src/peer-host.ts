import { ETH_FCS_LEN, ETHERTYPE_IPV4, IP_PROTO, OFFSET, readU16, readU32, TCP_FLAG } from '@exitless/net';
import type { EthernetEndpoint } from '@exitless/nic';
import type { Counter, ScopedStats, SimEvent, Simulator } from '@exitless/sim';
import { WorkloadConfigError } from './errors.js';
import { PeerCpu } from './peer-cpu.js';
import { PeerItr, type PeerItrOptions } from './peer-itr.js';
import { ForwardingPort, type SenderPort } from './tcp-stream-sender.js';

/**
 * What a load generator asks of the machine it runs on: CPU time for its own work and its
 * system calls, and the kernel's transmit path. The work queues on the machine's one core
 * (PeerCpu); the frames the generator then hands to its port leave the NIC after it.
 * `ZERO_COST_PEER` is a machine whose CPU takes no time (for protocol tests).
 */
export interface PeerKernel {
  /** When the work queued so far completes, ps (at or before now when the CPU is idle). */
  readonly cpuFreeAt: number;
  /** The application's own work, cycles. */
  compute(cycles: number): void;
  /** A send()/sendto()/write() of `bytes` bytes from user space: the call and the copy. */
  sendCall(bytes: number): void;
  /**
   * The stack and driver transmit one skb that becomes `frames` frames on the wire (TSO):
   * headers, descriptors, the tail write. The next `frames` frames transmitted are its.
   */
  transmitSkb(frames?: number): void;
  /** socket() and connect(): an active TCP open (the SYN itself is an skb). */
  connectCall(): void;
  /** close() of a TCP socket (the FIN itself is an skb). */
  closeCall(): void;
}

/** A machine whose CPU takes no time: the generators behave as protocol engines only. */
export const ZERO_COST_PEER: PeerKernel = {
  cpuFreeAt: 0,
  compute(): void {},
  sendCall(): void {},
  transmitSkb(): void {},
  connectCall(): void {},
  closeCall(): void {},
};

/**
 * CPU cycles of the load generator's kernel, per operation. The machine fills them from the
 * calibration profile: the peer runs the same Linux as the guest on a core of the same
 * generation, so they are the guest's entries.
 */
export interface PeerCosts {
  /** Taking a NIC interrupt: IDT delivery, irq entry, the LAPIC EOI, the driver's hard-IRQ handler (its vector masked, NAPI scheduled). */
  readonly interruptEntry: number;
  /** Leaving it after NAPI completes: the vector unmasked, irq exit, IRET. */
  readonly interruptExit: number;
  /** One NAPI poll's fixed work. */
  readonly napiPollBase: number;
  /** Per frame received: descriptor, skb, buffer refill. */
  readonly rxPerFrame: number;
  /** The RX tail write after a poll that took frames. */
  readonly rxTailWrite: number;
  /** Per TCP skb (after GRO/RSC merging) through IP and TCP receive. */
  readonly tcpRxPerSkb: number;
  /** Per UDP datagram through IP and UDP receive. */
  readonly udpRxPerDatagram: number;
  /** Per transmitted skb cleaned on completion. */
  readonly txCleanPerSkb: number;
  /** Waking the application (try_to_wake_up). */
  readonly wakeup: number;
  /** schedule() between the idle task and the application. */
  readonly contextSwitch: number;
  /** An event loop's wait returning with events (ab's and memslap's epoll), charged on each wake-up. */
  readonly eventWait: number;
  /** recv()/recvfrom() returning data (or the end of the stream). */
  readonly recvSyscall: number;
  /** Copy to user space, per byte. */
  readonly copyToUserPerByte: number;
  /** send()/sendto()/write(): the call's fixed cost. */
  readonly sendSyscall: number;
  /** Copy from user space, per byte. */
  readonly copyFromUserPerByte: number;
  /** Transmitting one skb: the stack, the driver's descriptors and the tail write. */
  readonly txPerSkb: number;
  /** socket() + connect() of an active open. */
  readonly connectCall: number;
  /** close() of a TCP socket. */
  readonly closeCall: number;
  /** The scheduler tick, interrupt entry and exit included. */
  readonly timerTick: number;
}

/** The load generator's NIC: an 82599 physical function with its driver's settings. */
export interface PeerNicOptions {
  /**
   * A posted write of up to 64 bytes reaching memory, ps: a received frame and its
   * descriptor (plus `dmaWritePsPerByte` per byte of the frame beyond 64), a TX descriptor's
   * write-back.
   */
  readonly dmaWriteLatencyPs: number;
  /** Added to a write's latency per byte beyond 64, ps. */
  readonly dmaWritePsPerByte: number;
  /** A read of host memory of up to 64 bytes, ps (a TX descriptor); a frame's buffer adds `dmaReadPsPerByte` per byte beyond 64. */
  readonly dmaReadLatencyPs: number;
  /** Added to a read's latency per byte beyond 64, ps. */
  readonly dmaReadPsPerByte: number;
  /** The tail write (a posted MMIO write) reaching the NIC after the CPU issued it, ps. */
  readonly doorbellLatencyPs: number;
  /** From the NIC's interrupt to the CPU taking it (an MSI is a posted write upstream), ps. */
  readonly msiLatencyPs: number;
  /** RX descriptors (frames the NIC can hold for the driver). */
  readonly rxRingSize: number;
  /** TX descriptors (frames handed to the NIC and not yet cleaned). */
  readonly txRingSize: number;
  /** NAPI weight: frames per poll. */
  readonly napiBudget: number;
  /** The driver's interrupt throttling. */
  readonly itr: PeerItrOptions;
}

/** Bytes up to which a DMA takes its base latency (one cache line). */
const DMA_BASE_BYTES = 64;

/** Picoseconds a DMA of `bytes` takes: the base latency, plus `psPerByte` for each byte beyond 64 (pcie-bench's size dependence). */
function dmaPs(basePs: number, psPerByte: number, bytes: number): number {
  return bytes <= DMA_BASE_BYTES ? basePs : basePs + Math.round(psPerByte * (bytes - DMA_BASE_BYTES));
}

/** Options of a {@link PeerHost}. */
export interface PeerHostOptions {
  /** The simulator the machine runs on. */
  readonly sim: Simulator;
  /** The machine's end of the wire (the guest's NIC is at the other end). */
  readonly port: SenderPort;
  /** The core's clock, Hz. */
  readonly hz: number;
  /** The kernel's and driver's costs. */
  readonly costs: PeerCosts;
  /** The machine's NIC and driver. */
  readonly nic: PeerNicOptions;
  /** The kernel's tick rate (CONFIG_HZ); 0 for none. */
  readonly tickHz: number;
  /** When the first tick falls, ps (ticks then follow every 1/tickHz). */
  readonly tickPhasePs: number;
  /** True when the application waits in an event loop (epoll: ab, memslap), false when it blocks in recv (netperf). */
  readonly eventLoop: boolean;
  /** Largest frame the NIC receives, FCS included. */
  readonly maxFrameBytes?: number;
  /** Where the machine's counters live. */
  readonly stats: ScopedStats;
}

/** How a received frame reaches the application. */
const KIND_KERNEL = 0; // the kernel alone consumes it (a pure TCP ACK, a non-IP frame)
const KIND_APP = 1; // the application reads it: one recv() (or epoll event for a SYN-ACK or FIN)
const KIND_APP_MERGED = 2; // merged by GRO into the previous frame's skb: read by the same recv()

const VECTOR_RX = 0;
const VECTOR_TX = 1;

/** One MSI-X vector of the NIC and the NAPI context its interrupt schedules. */
class Vector {
  readonly itr: PeerItr;
  /** Masked (EIAM auto-mask at the interrupt) until NAPI completes. */
  masked = false;
  /** When NAPI's unmask takes effect, ps (it may lie ahead of the event that computed it). */
  unmaskAt = 0;
  /** When the NIC last asserted this vector, ps (−∞ before the first). */
  lastFire = Number.NEGATIVE_INFINITY;
  /** The event at which the interrupt reaches the CPU (assertion + MSI latency). */
  irqEvent: SimEvent | null = null;
  /** The event at which a poll that must wait for later frames runs. */
  pollEvent: SimEvent | null = null;
  /** The time (ps) the pending poll represents. */
  pollAt = 0;
  readonly interrupts: Counter;
  readonly polls: Counter;

  constructor(itr: PeerItr, stats: ScopedStats) {
    this.itr = itr;
    this.interrupts = stats.counter('interrupts');
    this.polls = stats.counter('polls');
  }
}

/** A pool slot whose buffer is not allocated yet. */
const NO_BUFFER = new Uint8Array(0);

/**
 * The machine a load generator runs on, in the paper's setup a second server with its own
 * 10 GbE NIC running Linux on bare metal: one core (PeerCpu) on which the NIC's interrupts,
 * the kernel's network stack and the application all run, one after the other.
 *
 * Receive: a frame's last bit arrives; the NIC writes it and its descriptor by DMA
 * (`dmaWriteLatencyPs`, plus `dmaWritePsPerByte` beyond 64 bytes) and raises its RX
 * vector's cause; the vector's interrupt is sent
 * no sooner than its ITR interval after its previous one, and not while NAPI has it
 * masked; the MSI reaches the core `msiLatencyPs` later; the core takes the interrupt
 * (`interruptEntry`) after the work already queued, then polls: the frames whose DMA had
 * completed when the poll starts, up to the budget (`napiPollBase`, `rxPerFrame` each, the
 * stack per skb — consecutive TCP segments of a connection merge as GRO/RSC would — and
 * the RX tail write); more polls while the budget is used up; then NAPI completes (ITR
 * updated, vector unmasked, `interruptExit`). Frames that landed meanwhile raise the next
 * interrupt at the unmask, ITR permitting. Then the application: if it was asleep it is
 * woken (`wakeup`, `contextSwitch`, and `eventWait` for an event loop), reads each skb
 * with one recv() (`recvSyscall` + `copyToUserPerByte` per byte), and the generator's
 * endpoint gets each frame when its recv() returns — and reacts, queueing its own work
 * behind. Frames only the kernel consumes (pure ACKs) are handed over in order, without a
 * recv(). When nothing is left the application sleeps again (`contextSwitch`).
 *
 * Transmit: the generator charges its send path (PeerKernel) before handing frames to its
 * port; a frame leaves when the core has finished the work queued so far (the tail write is
 * the last of it), the tail write has crossed the link (`doorbellLatencyPs`), the NIC has
 * fetched the descriptor and then the frame's buffer (`dmaReadLatencyPs` each, the buffer
 * read growing with its size), serialised by the wire. The descriptor's write-back
 * (`dmaWriteLatencyPs` later) raises the TX vector, whose NAPI cleans completed skbs
 * (`txCleanPerSkb`).
 *
 * The kernel's tick (`timerTick`, `tickHz`) takes the core periodically.
 *
 * Events: one per interrupt, one per delivery to the application (several frames that
 * need no CPU in between share it), one per tick; a poll that must wait for frames still
 * on the wire takes one more. Frames live in a pool (each buffer allocated on first use)
 * and queues are rings of slot numbers.
 */
export class PeerHost implements EthernetEndpoint, PeerKernel {
  /** The machine's core. */
  readonly cpu: PeerCpu;
  /** The port the load generator uses: its frames go through this machine's NIC. */
  readonly port: SenderPort;
  /** The options the machine was made with. */
  readonly options: PeerHostOptions;
  private readonly sim: Simulator;
  private readonly wire: SenderPort;
  private readonly costs: PeerCosts;
  private readonly nic: PeerNicOptions;
  private endpoint: EthernetEndpoint | null = null;

  // Frame pool: a slot per frame between the NIC and the application.
  private readonly pool: Uint8Array[] = [];
  /** Bytes of each pool buffer. */
  private readonly maxFrame: number;
  private readonly lengths: Int32Array;
  private readonly readyAt: Float64Array;
  private readonly kinds: Uint8Array;
  private readonly payloads: Int32Array;
  private readonly freeSlots: Int32Array;
  private freeCount: number;
  /** The RX ring: slots written by the NIC, not yet polled. */
  private readonly rxQueue: Int32Array;
  private rxHead = 0;
  private rxCount = 0;
  /** Polled frames on their way to the application, in order. */
  private readonly deliveryQueue: Int32Array;
  private deliveryHead = 0;
  private deliveryCount = 0;
  private readonly deliverEvent: SimEvent;
  private appSleeping = true;
  /**
   * The view of the last frame received (`data.subarray(0, length)`), kept while frames come
   * in the same buffer with the same length (the wire delivers from a few reused buffers, and
   * a stream's ACKs are all alike): the same bytes copied without a new view per frame.
   */
  private rxViewOf: Uint8Array = NO_BUFFER;
  private rxViewLength = -1;
  private rxView: Uint8Array = NO_BUFFER;

  // TX: skbs handed to the NIC and not yet cleaned (a ring of skbs).
  private readonly txDoneAt: Float64Array;
  private readonly txFrames: Int32Array;
  private readonly txBytes: Float64Array;
  private txHead = 0;
  private txCount = 0;
  private txFramesQueued = 0;
  /** The last frame length transmit() computed the NIC's buffer read for, and that read's time (ps). */
  private txReadLength = -1;
  private txReadPs = 0;
  /** Frames the skb being transmitted still expects (0: the next frame starts a new skb). */
  private skbFramesLeft = 0;
  /** transmitSkb() was called: the next frame starts its skb. */
  private openSkb = false;

  private readonly vectors: readonly Vector[];
  private readonly tickPs: number;

  private readonly rxFrames: Counter;
  private readonly rxMissed: Counter;
  private readonly socketDrops: Counter;
  private readonly skbsIn: Counter;
  private readonly delivered: Counter;
  private readonly recvCalls: Counter;
  private readonly wakeups: Counter;
  private readonly txFramesCounter: Counter;
  private readonly txSkbs: Counter;
  private readonly txRingFull: Counter;
  private readonly ticks: Counter;
  private readonly unconnected: Counter;

  constructor(options: PeerHostOptions) {
    validate(options);
    this.options = options;
    this.sim = options.sim;
    this.wire = options.port;
    this.costs = options.costs;
    this.nic = options.nic;
    const s = options.stats;
    this.cpu = new PeerCpu(options.sim, options.hz, s.scope('cpu'));
    const nic = options.nic;
    const maxFrame = options.maxFrameBytes ?? 1518;
    // The ring, and as many again for frames polled but not yet read by the application.
    const slots = 2 * nic.rxRingSize;
    // Buffers are allocated on first use: the free stack hands out the same few again and again.
    this.maxFrame = maxFrame;
    for (let i = 0; i < slots; i++) this.pool.push(NO_BUFFER);
    this.lengths = new Int32Array(slots);
    this.readyAt = new Float64Array(slots);
    this.kinds = new Uint8Array(slots);
    this.payloads = new Int32Array(slots);
    this.freeSlots = new Int32Array(slots);
    for (let i = 0; i < slots; i++) this.freeSlots[i] = slots - 1 - i;
    this.freeCount = slots;
    this.rxQueue = new Int32Array(nic.rxRingSize);
    this.deliveryQueue = new Int32Array(slots);
    this.txDoneAt = new Float64Array(nic.txRingSize);
    this.txFrames = new Int32Array(nic.txRingSize);
    this.txBytes = new Float64Array(nic.txRingSize);

    const rx = new Vector(new PeerItr(nic.itr, nic.itr.rxInitialRate), s.scope('rx'));
    const tx = new Vector(new PeerItr(nic.itr, nic.itr.txInitialRate), s.scope('tx'));
    rx.irqEvent = this.sim.event('peer.rx-irq', () => this.interrupt(VECTOR_RX));
    rx.pollEvent = this.sim.event('peer.rx-poll', () => this.pollRx(rx.pollAt));
    tx.irqEvent = this.sim.event('peer.tx-irq', () => this.interrupt(VECTOR_TX));
    this.vectors = [rx, tx];
    this.deliverEvent = this.sim.event('peer.deliver', () => this.deliver());

    this.rxFrames = s.counter('rx-frames');
    this.rxMissed = s.counter('rx-missed');
    this.socketDrops = s.counter('socket-drops');
    this.skbsIn = s.counter('rx-skbs');
    this.delivered = s.counter('delivered');
    this.recvCalls = s.counter('recv-calls');
    this.wakeups = s.counter('wakeups');
    this.txFramesCounter = s.counter('tx-frames');
    this.txSkbs = s.counter('tx-skbs');
    this.txRingFull = s.counter('tx-ring-full');
    this.ticks = s.counter('ticks');
    this.unconnected = s.counter('rx-unconnected');

    this.tickPs = options.tickHz > 0 ? Math.round(1e12 / options.tickHz) : 0;
    if (this.tickPs > 0) {
      const ev = this.sim.event('peer.tick', () => {
        this.ticks.inc();
        this.cpu.run(this.costs.timerTick);
        this.sim.reschedule(ev, this.sim.now + this.tickPs);
      });
      this.sim.schedule(ev, Math.max(this.sim.now, options.tickPhasePs));
    }

    this.port = new ForwardingPort(
      this.wire,
      (data, offset, length, notBefore) => this.transmit(data, offset, length, notBefore),
      (endpoint) => {
        this.endpoint = endpoint;
      },
    );
    this.wire.connect(this);
  }

  /** The RX vector's current interrupt rate (ints/s) and latency class. */
  get rxItr(): PeerItr {
    return this.vectors[VECTOR_RX]!.itr;
  }

  /** The TX vector's current interrupt rate (ints/s) and latency class. */
  get txItr(): PeerItr {
    return this.vectors[VECTOR_TX]!.itr;
  }

  // ---- PeerKernel ----------------------------------------------------------------------

  get cpuFreeAt(): number {
    return this.cpu.freeAt;
  }

  compute(cycles: number): void {
    this.cpu.run(cycles);
  }

  sendCall(bytes: number): void {
    this.cpu.run(this.costs.sendSyscall + bytes * this.costs.copyFromUserPerByte);
  }

  transmitSkb(frames = 1): void {
    // An skb that got fewer frames than announced is complete now: its write-back counts.
    if (this.skbFramesLeft > 0 && !this.openSkb && this.txCount > 0) {
      this.raiseCause(VECTOR_TX, this.txDoneAt[(this.txHead + this.txCount - 1) % this.nic.txRingSize]!);
    }
    this.cpu.run(this.costs.txPerSkb);
    this.txSkbs.inc();
    this.skbFramesLeft = Math.max(1, frames);
    this.openSkb = true;
  }

  connectCall(): void {
    this.cpu.run(this.costs.connectCall);
  }

  closeCall(): void {
    this.cpu.run(this.costs.closeCall);
  }

  // ---- Transmit ------------------------------------------------------------------------

  private transmit(data: Uint8Array, offset: number, length: number, notBefore: number): boolean {
    const nic = this.nic;
    const newSkb = this.openSkb || this.skbFramesLeft === 0 || this.txCount === 0;
    if (this.txFramesQueued >= nic.txRingSize) {
      this.txRingFull.inc();
      return false;
    }
    // The tail write ends the work queued so far; it crosses the link, then the NIC fetches
    // the descriptor and the frame's buffer.
    const doorbell = this.cpu.startTime;
    // A stream's frames are mostly of one length: the buffer read's time is computed once for it.
    if (length !== this.txReadLength) {
      this.txReadLength = length;
      this.txReadPs = dmaPs(nic.dmaReadLatencyPs, nic.dmaReadPsPerByte, length - ETH_FCS_LEN);
    }
    let start = doorbell + nic.doorbellLatencyPs + nic.dmaReadLatencyPs + this.txReadPs;
    if (notBefore > start) start = notBefore;
    if (!this.wire.transmit(data, offset, length, start)) return false;
    this.txFramesCounter.inc();
    // Its descriptor is written back once its data has been read.
    const done = start + nic.dmaWriteLatencyPs;
    const cap = nic.txRingSize;
    if (newSkb) {
      // A frame with no transmitSkb() before it is an skb of its own (its CPU cost uncharged).
      this.openSkb = false;
      if (this.skbFramesLeft === 0) this.skbFramesLeft = 1;
      // (txHead + txCount) % cap without a division: txHead < cap, and txCount ≤ the frames
      // queued < cap.
      let i = this.txHead + this.txCount;
      if (i >= cap) i -= cap;
      this.txDoneAt[i] = done;
      this.txFrames[i] = 1;
      this.txBytes[i] = length - ETH_FCS_LEN;
      this.txCount++;
    } else {
      // (txHead + txCount − 1) % cap as above (txCount ≥ 1: an open skb).
      let i = this.txHead + this.txCount - 1;
      if (i >= cap) i -= cap;
      this.txDoneAt[i] = done;
      this.txFrames[i]!++;
      this.txBytes[i]! += length - ETH_FCS_LEN;
    }
    this.skbFramesLeft--;
    this.txFramesQueued++;
    // The last descriptor of a packet carries RS: its write-back raises the TX cause.
    if (this.skbFramesLeft === 0) this.raiseCause(VECTOR_TX, done);
    return true;
  }

  // ---- Receive -------------------------------------------------------------------------

  receiveFrame(data: Uint8Array, length: number): void {
    const nic = this.nic;
    if (this.rxCount >= nic.rxRingSize || length > this.maxFrame) {
      this.rxMissed.inc();
      return;
    }
    if (this.freeCount === 0) {
      // Every buffer holds a frame the application has not read: the socket queue is full.
      this.socketDrops.inc();
      return;
    }
    const slot = this.freeSlots[--this.freeCount]!;
    let buffer = this.pool[slot]!;
    if (buffer === NO_BUFFER) {
      buffer = new Uint8Array(this.maxFrame);
      this.pool[slot] = buffer;
    }
    if (data !== this.rxViewOf || length !== this.rxViewLength) {
      this.rxViewOf = data;
      this.rxViewLength = length;
      this.rxView = data.subarray(0, length);
    }
    buffer.set(this.rxView);
    this.lengths[slot] = length;
    const ready = this.sim.now + dmaPs(nic.dmaWriteLatencyPs, nic.dmaWritePsPerByte, length - ETH_FCS_LEN);
    this.readyAt[slot] = ready;
    this.rxQueue[(this.rxHead + this.rxCount) % nic.rxRingSize] = slot;
    this.rxCount++;
    this.rxFrames.inc();
    this.raiseCause(VECTOR_RX, ready);
  }

  /**
   * A cause of vector `v` from time `t`: its interrupt is asserted at the earliest when the
   * cause exists, the vector is unmasked and its ITR interval has passed since its last
   * interrupt (82599 §7.3.2.1), and reaches the CPU an MSI latency later.
   */
  private raiseCause(v: number, t: number): void {
    const vec = this.vectors[v]!;
    if (vec.masked) return;
    let at = t;
    if (vec.unmaskAt > at) at = vec.unmaskAt;
    const earliest = vec.lastFire + vec.itr.intervalPs;
    if (earliest > at) at = earliest;
    const ev = vec.irqEvent!;
    const arrival = at + this.nic.msiLatencyPs;
    if (!ev.scheduled || ev.when > arrival) this.sim.reschedule(ev, arrival);
  }

  /** The interrupt of vector `v` reaches the core. */
  private interrupt(v: number): void {
    const vec = this.vectors[v]!;
    vec.lastFire = this.sim.now - this.nic.msiLatencyPs;
    vec.masked = true;
    vec.interrupts.inc();
    vec.itr.interrupted();
    const pollAt = this.cpu.run(this.costs.interruptEntry);
    if (v === VECTOR_TX) this.pollTx(pollAt);
    else this.schedulePollRx(pollAt);
  }

  /**
   * Runs the RX poll that starts at `at` now if every frame whose DMA completes by then has
   * already arrived (its last bit came in a DMA write's latency before), else when it has.
   */
  private schedulePollRx(at: number): void {
    const vec = this.vectors[VECTOR_RX]!;
    // Frames ready by `at` have arrived by `at` less the shortest DMA write.
    const knownBy = at - this.nic.dmaWriteLatencyPs;
    if (knownBy <= this.sim.now) {
      this.pollRx(at);
      return;
    }
    vec.pollAt = at;
    this.sim.reschedule(vec.pollEvent!, knownBy);
  }

  /** One NAPI poll of the RX ring starting at `at` (or when the core is free after it). */
  private pollRx(at: number): void {
    const vec = this.vectors[VECTOR_RX]!;
    const nic = this.nic;
    const c = this.costs;
    const start = Math.max(at, this.cpu.startTime);
    vec.polls.inc();
    let cycles = c.napiPollBase;
    let frames = 0;
    // GRO: the connection (ports) and next sequence number of the skb being merged.
    let aggFlow = -1;
    let aggNext = 0;
    let aggBytes = 0;
    const cap = nic.rxRingSize;
    while (frames < nic.napiBudget && this.rxCount > 0) {
      const slot = this.rxQueue[this.rxHead]!;
      if (this.readyAt[slot]! > start) break;
      this.rxHead = (this.rxHead + 1) % cap;
      this.rxCount--;
      frames++;
      const length = this.lengths[slot]!;
      vec.itr.packets++;
      vec.itr.bytes += length - ETH_FCS_LEN;
      cycles += c.rxPerFrame;
      // Classify from the headers (Ethernet, IPv4 with its IHL, UDP or TCP with its data offset).
      const b = this.pool[slot]!;
      let kind = KIND_KERNEL;
      let payload = 0;
      if (
        length >= OFFSET.IP + 20 &&
        readU16(b, OFFSET.ETH_TYPE) === ETHERTYPE_IPV4 &&
        b[OFFSET.IP]! >>> 4 === 4
      ) {
        const ihl = (b[OFFSET.IP]! & 0xf) * 4;
        const total = readU16(b, OFFSET.IP + 2);
        const proto = b[OFFSET.IP + 9];
        const l4 = OFFSET.IP + ihl;
        if (proto === IP_PROTO.UDP) {
          kind = KIND_APP;
          payload = Math.max(0, total - ihl - 8);
          cycles += c.udpRxPerDatagram;
          aggFlow = -1;
        } else if (proto === IP_PROTO.TCP) {
          const doff = (b[l4 + 12]! >>> 4) * 4;
          const flags = b[l4 + 13]!;
          payload = Math.max(0, total - ihl - doff);
          const flow = readU32(b, l4);
          const seq = readU32(b, l4 + 4);
          const plain = (flags & (TCP_FLAG.SYN | TCP_FLAG.FIN | TCP_FLAG.RST)) === 0;
          if (payload > 0 && plain && flow === aggFlow && seq === aggNext && aggBytes + payload <= 65535) {
            kind = KIND_APP_MERGED;
            aggBytes += payload;
            aggNext = (aggNext + payload) >>> 0;
          } else {
            this.skbsIn.inc();
            cycles += c.tcpRxPerSkb;
            kind = payload > 0 || (flags & (TCP_FLAG.SYN | TCP_FLAG.FIN)) !== 0 ? KIND_APP : KIND_KERNEL;
            if (payload > 0 && plain) {
              aggFlow = flow;
              aggNext = (seq + payload) >>> 0;
              aggBytes = payload;
            } else aggFlow = -1;
          }
        }
      }
      this.kinds[slot] = kind;
      this.payloads[slot] = payload;
      this.deliveryQueue[(this.deliveryHead + this.deliveryCount) % this.deliveryQueue.length] = slot;
      this.deliveryCount++;
    }
    if (frames > 0) cycles += c.rxTailWrite;
    const end = this.cpu.runAt(start, cycles);
    const more = this.rxCount > 0 && this.readyAt[this.rxQueue[this.rxHead]!]! <= end;
    if (frames >= nic.napiBudget && more) {
      // The budget was used up: NAPI polls again before the application runs.
      this.schedulePollRx(end);
      return;
    }
    this.completeNapi(VECTOR_RX, end);
    if (this.deliveryCount > 0 && !this.deliverEvent.scheduled) this.scheduleDelivery();
  }

  /** The TX vector's NAPI: cleans the skbs whose descriptors were written back by `at`. */
  private pollTx(at: number): void {
    const vec = this.vectors[VECTOR_TX]!;
    const c = this.costs;
    const cap = this.nic.txRingSize;
    vec.polls.inc();
    let cycles = c.napiPollBase;
    while (this.txHeadCompleteBy(at)) {
      cycles += c.txCleanPerSkb;
      vec.itr.packets += this.txFrames[this.txHead]!;
      vec.itr.bytes += this.txBytes[this.txHead]!;
      this.txFramesQueued -= this.txFrames[this.txHead]!;
      this.txHead = (this.txHead + 1) % cap;
      this.txCount--;
    }
    const end = this.cpu.runAt(at, cycles);
    this.completeNapi(VECTOR_TX, end);
  }

  /** True when the oldest uncleaned skb had all its frames sent and written back by `at`. */
  private txHeadCompleteBy(at: number): boolean {
    if (this.txCount === 0 || this.txDoneAt[this.txHead]! > at) return false;
    // The newest skb may still expect frames (TSO segments not yet handed over).
    return !(this.txCount === 1 && this.skbFramesLeft > 0 && !this.openSkb);
  }

  /**
   * napi_complete at `end`: the vector's rate is recomputed, the vector unmasked, the
   * interrupt left. A cause that arrived while it was masked fires from the unmask on.
   */
  private completeNapi(v: number, end: number): void {
    const vec = this.vectors[v]!;
    vec.itr.update();
    vec.masked = false;
    vec.unmaskAt = end;
    this.cpu.run(this.costs.interruptExit);
    if (v === VECTOR_RX) {
      if (this.rxCount > 0) this.raiseCause(VECTOR_RX, this.readyAt[this.rxQueue[this.rxHead]!]!);
    } else if (this.txHeadCompleteBy(Number.POSITIVE_INFINITY)) {
      this.raiseCause(VECTOR_TX, this.txDoneAt[this.txHead]!);
    }
  }

  // ---- To the application --------------------------------------------------------------

  /**
   * Charges what the application does before the next frame reaches its endpoint (waking
   * up, the recv() of its skb) and sets the delivery event for when that is done.
   */
  private scheduleDelivery(): void {
    const c = this.costs;
    if (this.deliveryCount === 0) {
      if (!this.appSleeping) {
        // recv() finds nothing more: the application blocks and the core goes idle.
        this.appSleeping = true;
        this.cpu.run(c.contextSwitch);
      }
      return;
    }
    const slot = this.deliveryQueue[this.deliveryHead]!;
    const kind = this.kinds[slot]!;
    let t: number;
    if (kind === KIND_KERNEL || kind === KIND_APP_MERGED) t = this.cpu.startTime;
    else {
      let cycles = c.recvSyscall + this.payloads[slot]! * c.copyToUserPerByte;
      if (this.appSleeping) {
        this.appSleeping = false;
        this.wakeups.inc();
        cycles += c.wakeup + c.contextSwitch + (this.options.eventLoop ? c.eventWait : 0);
      }
      this.recvCalls.inc();
      t = this.cpu.run(cycles);
    }
    this.sim.reschedule(this.deliverEvent, t);
  }

  /** Hands frames to the generator: the one whose recv() just returned, and the kernel-only or merged ones after it. */
  private deliver(): void {
    const n = this.deliveryQueue.length;
    for (;;) {
      const slot = this.deliveryQueue[this.deliveryHead]!;
      this.deliveryHead = (this.deliveryHead + 1) % n;
      this.deliveryCount--;
      const ep = this.endpoint;
      if (ep === null) this.unconnected.inc();
      else {
        this.delivered.inc();
        ep.receiveFrame(this.pool[slot]!, this.lengths[slot]!);
      }
      // Freed only after the endpoint returns: the frame is valid during the call.
      this.freeSlots[this.freeCount++] = slot;
      if (this.deliveryCount === 0) break;
      // Kernel-only frames were processed in the softirq and the rest of a merged skb came
      // with the same recv(): they follow at once, whatever the reaction queued meanwhile.
      if (this.kinds[this.deliveryQueue[this.deliveryHead]!] === KIND_APP) break;
    }
    if (!this.deliverEvent.scheduled) this.scheduleDelivery();
  }
}

function validate(o: PeerHostOptions): void {
  const nonNeg = (v: number, what: string): void => {
    if (!Number.isFinite(v) || v < 0) {
      throw new WorkloadConfigError(`peer host: ${what} must be a finite number ≥ 0, got ${v}`);
    }
  };
  for (const [k, v] of Object.entries(o.costs)) nonNeg(v, `costs.${k}`);
  const n = o.nic;
  for (const k of ['dmaWriteLatencyPs', 'dmaReadLatencyPs', 'doorbellLatencyPs', 'msiLatencyPs'] as const) {
    if (!Number.isSafeInteger(n[k]) || n[k] < 0) {
      throw new WorkloadConfigError(`peer host: nic.${k} must be an integer of ps ≥ 0, got ${n[k]}`);
    }
  }
  for (const k of ['dmaWritePsPerByte', 'dmaReadPsPerByte'] as const) {
    if (!Number.isFinite(n[k]) || n[k] < 0) {
      throw new WorkloadConfigError(`peer host: nic.${k} must be a finite number of ps ≥ 0, got ${n[k]}`);
    }
  }
  for (const k of ['rxRingSize', 'txRingSize', 'napiBudget'] as const) {
    if (!Number.isInteger(n[k]) || n[k] < 1 || n[k] > 65536) {
      throw new WorkloadConfigError(`peer host: nic.${k} must be an integer of 1–65536, got ${n[k]}`);
    }
  }
  if (!Number.isFinite(o.tickHz) || o.tickHz < 0) {
    throw new WorkloadConfigError(`peer host: tickHz must be ≥ 0, got ${o.tickHz}`);
  }
  if (!Number.isSafeInteger(o.tickPhasePs) || o.tickPhasePs < 0) {
    throw new WorkloadConfigError(
      `peer host: tickPhasePs must be an integer of ps ≥ 0, got ${o.tickPhasePs}`,
    );
  }
  const max = o.maxFrameBytes ?? 1518;
  if (!Number.isInteger(max) || max < 64 || max > 65536) {
    throw new WorkloadConfigError(`peer host: maxFrameBytes must be an integer of 64–65536, got ${max}`);
  }
}
