import {
  ETH_FCS_LEN,
  type Mac,
  makeTcpSegmentFields,
  readTcpSegment,
  rewriteTcpSegment,
  TCP_FLAG,
  type TcpSegmentFields,
  tcpHeadersLength,
  writeTcpSegment,
} from '@exitless/net';
import { type EthernetEndpoint, frameTimePs } from '@exitless/nic';
import type { Counter, ScopedStats, SimEvent, Simulator } from '@exitless/sim';
import { WorkloadConfigError } from './errors.js';
import { type PeerKernel, ZERO_COST_PEER } from './peer-host.js';

/**
 * The sender's end of a wire: what TcpStreamSender needs of it. `WirePort` from
 * @exitless/nic is one; a test may wrap one to watch every frame.
 */
export interface SenderPort {
  /** Line rate, bits per second. */
  readonly bitsPerSecond: number;
  /** Time (ps) at which the transmitter will have serialised everything queued. */
  readonly busyUntil: number;
  /** Picoseconds of transmission still queued. */
  backlogPs(): number;
  /** Queues a frame, FCS included; false if the wire refused it. */
  transmit(data: Uint8Array, offset: number, length: number, notBefore?: number): boolean;
  /** Connects the endpoint that receives at this end (the sender connects itself). */
  connect(endpoint: EthernetEndpoint | null, ingressDelayPs?: number): void;
}

/**
 * A SenderPort that reports a wire's line state (rate, busy-until, backlog) and sends and
 * connects through the functions it is given: a peer host's port (frames through its kernel
 * and NIC), a generator's port on a switch. A class rather than an object literal with
 * getters, which V8 keeps in dictionary mode, making each of a sender's loads from its port
 * (several a frame) a hash lookup.
 *
 * `send` may be null: frames then go straight to `line.transmit` (a port that only changes
 * who receives, as a switch's), without a function call in between. A ForwardingPort given
 * another ForwardingPort as its line reads the line state from that port's own line
 * directly (what the inner port would report anyway): a sender's per-frame reads of its
 * backlog cross one layer, however many ports are stacked.
 */
export class ForwardingPort implements SenderPort {
  /** Where the line state is read: `line`, or the line `line` reads it from if `line` is a ForwardingPort. */
  private readonly line: SenderPort;
  /** The line frames go to when `send` is null (`line` as given). */
  private readonly target: SenderPort;
  private readonly send:
    | ((data: Uint8Array, offset: number, length: number, notBefore: number) => boolean)
    | null;
  private readonly attach: (endpoint: EthernetEndpoint | null) => void;

  constructor(
    line: SenderPort,
    send: ((data: Uint8Array, offset: number, length: number, notBefore: number) => boolean) | null,
    attach: (endpoint: EthernetEndpoint | null) => void,
  ) {
    // Only a plain ForwardingPort's getters are known to forward (a subclass may override them).
    this.line =
      Object.getPrototypeOf(line) === ForwardingPort.prototype ? (line as ForwardingPort).line : line;
    this.target = line;
    this.send = send;
    this.attach = attach;
  }

  get bitsPerSecond(): number {
    return this.line.bitsPerSecond;
  }

  get busyUntil(): number {
    return this.line.busyUntil;
  }

  backlogPs(): number {
    return this.line.backlogPs();
  }

  transmit(data: Uint8Array, offset: number, length: number, notBefore?: number): boolean {
    const send = this.send;
    if (send === null) return this.target.transmit(data, offset, length, notBefore ?? 0);
    return send(data, offset, length, notBefore ?? 0);
  }

  connect(endpoint: EthernetEndpoint | null): void {
    this.attach(endpoint);
  }
}

/** A host's link-layer and IPv4 addresses. */
export interface HostAddress {
  /** The MAC address. */
  readonly mac: Mac;
  /** The IPv4 address. */
  readonly ip: number;
}

/** One end of a TCP connection: link-layer and IPv4 addresses and the TCP port. */
export interface TcpEndpointAddress extends HostAddress {
  /** The TCP port. */
  readonly port: number;
}

/**
 * The connection as the three-way handshake left it (the handshake itself, like netperf's
 * control connection, is outside the model).
 */
export interface TcpStreamConnection {
  /** The sender (this side). */
  readonly local: TcpEndpointAddress;
  /** The receiver (the guest). */
  readonly remote: TcpEndpointAddress;
  /** Sequence number of the first data byte (ISS + 1). */
  readonly sendSequence: number;
  /** The peer's ISS + 1: what this side acknowledges (the receiver sends no data in TCP_STREAM). */
  readonly receiveSequence: number;
  /** Window scale shift the receiver announced in its SYN (RFC 7323 §2.3: SND.WND = SEG.WND << shift), 0–14. */
  readonly peerWindowScale: number;
  /** Window field of the receiver's SYN-ACK, bytes (never scaled: RFC 7323 §2.2), the window before the first ACK. */
  readonly peerInitialWindow: number;
  /** Sender maximum segment size, payload bytes (1448 with timestamps on a 1500-byte MTU). */
  readonly mss: number;
  /** Both ends agreed on the timestamps option (RFC 7323 §3), as Linux does by default. */
  readonly timestamps: boolean;
}

/** Congestion-control parameters (RFC 5681, RFC 6928). */
export interface TcpCongestionOptions {
  /** Initial congestion window, segments (RFC 6928: 10, Linux's default since 2.6.39). */
  readonly initialWindowSegments: number;
  /** Initial slow-start threshold, bytes (RFC 5681 §3.1: arbitrarily high; Linux: unlimited). */
  readonly initialSsthresh: number;
  /** Duplicate ACKs that trigger fast retransmit (RFC 5681 §3.2: 3). */
  readonly dupAckThreshold: number;
}

/** Timers of the sender, all in picoseconds. */
export interface TcpSenderTiming {
  /** Lower bound of the retransmission timeout (Linux TCP_RTO_MIN: 200 ms; RFC 6298 §2.4 says 1 s). */
  readonly minRtoPs: number;
  /** Upper bound of the RTO after backoff (Linux TCP_RTO_MAX: 120 s; RFC 6298 §2.5 allows ≥ 60 s). */
  readonly maxRtoPs: number;
  /** RTO before the first RTT sample (RFC 6298 §2.1: 1 s). */
  readonly initialRtoPs: number;
  /** Tick of the TSval clock (RFC 7323 §5.4: 1 ms to 1 s; Linux: 1 ms). */
  readonly timestampTickPs: number;
  /**
   * How much serialisation the sender keeps queued at its port, ps: it sends while the
   * port's backlog is below this and wakes when the port goes idle. A few frame times keep
   * the line busy with one event per few frames (a 1518-byte frame is 1230.4 ns at 10 Gb/s).
   */
  readonly txBacklogPs: number;
}

/** Options of a {@link TcpStreamSender}. */
export interface TcpStreamSenderOptions {
  /** The simulator the sender runs on. */
  readonly sim: Simulator;
  /** The sender's end of the wire (the NIC's port is at the other end). */
  readonly port: SenderPort;
  /** Where the sender's counters live. */
  readonly stats: ScopedStats;
  /** The connection's two ends. */
  readonly connection: TcpStreamConnection;
  /** Congestion control parameters. */
  readonly congestion: TcpCongestionOptions;
  /** The sender's timers (RTO bounds, TSval tick, transmit backlog). */
  readonly timing: TcpSenderTiming;
  /** Bytes in the stream: `Infinity` for netperf's timed test (`-l`), a number for a fixed transfer. */
  readonly bytesToSend: number;
  /**
   * The machine netperf runs on (a PeerHost, whose `port` is then `port`): its CPU makes the
   * send() calls and builds the skbs. Default ZERO_COST_PEER (no CPU).
   */
  readonly kernel?: PeerKernel;
  /** netperf's send size (-m), bytes: one send() call per this many bytes of the stream (default 16384). */
  readonly sendSize?: number;
  /**
   * How far netperf's writes may run ahead of what TCP has sent, bytes (default
   * `tsoMaxBytes`: an skb never waits for a send() call). Only with a `kernel`. The real
   * socket buffer is larger; what it holds beyond the next skb changes no timing here, and
   * a one-core FIFO CPU filling it would hold the kernel's ACK processing behind the
   * application's copies.
   */
  readonly writeAhead?: number;
  /** The largest skb the stack hands to the NIC (TSO), bytes (default 65536, Linux's GSO_MAX_SIZE). */
  readonly tsoMaxBytes?: number;
}

// Which timer the one timer event stands for (Linux multiplexes RTO and probe timers the same way).
const TIMER_NONE = 0;
const TIMER_RTO = 1;
const TIMER_PERSIST = 2;

/** RFC 6298 §2.3: RTTVAR gain 1/4, SRTT gain 1/8, K = 4. */
const RTT_ALPHA = 1 / 8;
const RTT_BETA = 1 / 4;
const RTO_K = 4;

/**
 * A remote TCP bulk sender: the load generator of netperf TCP_STREAM, a bare-metal machine
 * that is never the bottleneck (it has no CPU model, only protocol timing). It sends
 * MSS-sized segments of one established connection to the receiver as RFC 9293 / RFC 5681
 * / RFC 6298 say:
 *
 * - it keeps SND.UNA, SND.NXT and the highest sequence sent (SND.MAX), and never has more
 *   than min(cwnd, SND.WND) bytes between SND.UNA and SND.NXT, SND.WND being the
 *   receiver's window field shifted by its window scale;
 * - congestion control is Reno-like: an initial window of 10 segments, slow start,
 *   congestion avoidance by bytes acknowledged, fast retransmit on the third duplicate ACK;
 *   because the receiver keeps no out-of-order queue, recovery goes back to SND.UNA and
 *   resends everything from there (go-back-N), with cwnd = ssthresh = FlightSize / 2;
 *   a new fast retransmit waits until the ACKs pass the highest sequence sent before
 *   (RFC 6582's `recover`);
 * - one retransmission timer (RFC 6298) with a 200 ms floor like Linux and exponential
 *   backoff; on expiry cwnd drops to one segment and the sender goes back to SND.UNA;
 * - a persist timer (RFC 9293 §3.8.6.1) probes a zero window with one byte at SND.UNA.
 *
 * Pacing: it sends while its port's backlog is below `txBacklogPs`, then one reusable
 * event wakes it when the port goes idle. Frames are built in one reusable buffer (the
 * wire copies them): no object is created per frame.
 *
 * CPU (on a PeerHost, `kernel`): netperf writes the stream with send() calls of
 * `sendSize` bytes (`sendCall`) whenever the CPU is free, up to `writeAhead` bytes beyond
 * what TCP has sent; TCP sends only what has been written, in skbs of
 * up to `tsoMaxBytes` (TSO: the NIC cuts them into frames), one skb at a time, each built
 * (`transmitSkb`) when the CPU has finished the work queued before it — the previous skb,
 * a send() call, the ACKs the kernel processed. So a sender whose CPU cost per byte exceeds
 * the line's time per byte is limited by its CPU.
 */
export class TcpStreamSender implements EthernetEndpoint {
  /** The connection's two ends. */
  readonly connection: TcpStreamConnection;
  /** Congestion control parameters. */
  readonly congestion: TcpCongestionOptions;
  /** The sender's timers (RTO bounds, TSval tick, transmit backlog). */
  readonly timing: TcpSenderTiming;
  /** Bytes in the stream (`Infinity` for a timed test). */
  readonly bytesToSend: number;

  private readonly sim: Simulator;
  private readonly port: SenderPort;
  private readonly kernel: PeerKernel;
  private readonly sendSize: number;
  /** Full segments per skb (TSO). */
  private readonly tsoSegments: number;
  /** Segments of the current skb still to go out (0: the next segment starts an skb). */
  private skbLeft = 0;
  /** Stream bytes netperf has written with send() so far. */
  private written = 0;
  /** True when a kernel was given: netperf's writes take CPU time and run ahead of TCP. */
  private readonly hasCpu: boolean;
  private readonly writeAhead: number;
  private readonly mss: number;
  private readonly windowMultiplier: number;
  private readonly frame: Uint8Array;
  /**
   * `frame` holds the headers of a segment of this connection (writeTcpSegment wrote them
   * once): the next segments rewrite only what changes (rewriteTcpSegment), which leaves
   * the same bytes.
   */
  private headersWritten = false;
  /** connection.sendSequence: the wire's sequence number of offset 0. */
  private readonly iss1: number;
  /** timing.txBacklogPs, read per segment. */
  private readonly txBacklogPs: number;
  /** The time tsNow() last computed its value for, and that value (segments sent together share it). */
  private tsAt = -1;
  private tsAtValue = 0;
  /** Frame length on the wire for a full segment, FCS included. */
  private readonly fullFrameBytes: number;
  private readonly out: TcpSegmentFields = makeTcpSegmentFields();
  private readonly seg: TcpSegmentFields = makeTcpSegmentFields();
  private readonly pacer: SimEvent;
  private readonly timer: SimEvent;

  // Sequence state as byte offsets from the first data byte (exact in a double for 2^53 bytes);
  // the wire carries them modulo 2^32.
  private una = 0;
  private nxt = 0;
  private sndMax = 0;
  /** SND.WND, bytes. */
  private sndWnd: number;
  /** The window field of the last acceptable ACK (RFC 5681 §2 duplicate-ACK rule (e)); −1 before the first. */
  private lastWindowField = -1;
  private cwndBytes: number;
  private ssthreshBytes: number;
  /** Bytes acknowledged since cwnd last grew in congestion avoidance (RFC 5681 §3.1 byte counting). */
  private bytesAckedCa = 0;
  private dupAcks = 0;
  /** Largest flight since the last ACK of new data, and whether cwnd was what stopped the sender. */
  private flightHigh = 0;
  private cwndLimited = false;
  /** RFC 6582 `recover`: no new fast retransmit until an ACK covers more than this (offset). */
  private recover = -1;
  /** Highest offset (exclusive) ever retransmitted: ACKs at or below it give no Karn sample. */
  private retransmittedHigh = 0;
  private srtt = -1;
  private rttvar = 0;
  private rto: number;
  /** Consecutive RTO expiries without a new RTT sample (RFC 6298 §5.5). */
  private backoff = 0;
  private persistBackoff = 0;
  /** The segment being timed for an RTT sample (Karn): its end offset, −1 if none. */
  private timedEnd = -1;
  private timedAt = 0;
  private timerMode = TIMER_NONE;
  /** The peer's last TSval (TS.Recent, RFC 7323 §4.3), echoed in TSecr. */
  private tsRecent = 0;
  private ipId = 0;
  private running = false;
  private measureStartPs = 0;
  private measureStartBytes = 0;

  private readonly segmentsSent: Counter;
  private readonly retransmissions: Counter;
  /** What it counts that a report reads: segments sent again (fast retransmit or timeout). */
  readonly counters: {
    /** Segments that resent bytes already sent. */
    readonly retransmittedSegments: Counter;
    /** Segments sent, retransmissions and probes included. */
    readonly segmentsSent: Counter;
  };
  private readonly fastRetransmitCount: Counter;
  private readonly timeoutCount: Counter;
  private readonly probes: Counter;
  private readonly ackedBytes: Counter;
  private readonly acks: Counter;
  private readonly duplicateAcks: Counter;
  private readonly acksOfUnsent: Counter;
  private readonly ignored: Counter;
  private readonly wireRefused: Counter;

  constructor(options: TcpStreamSenderOptions) {
    validate(options);
    const c = options.connection;
    this.connection = c;
    this.congestion = options.congestion;
    this.timing = options.timing;
    this.bytesToSend = options.bytesToSend;
    this.sim = options.sim;
    this.port = options.port;
    this.kernel = options.kernel ?? ZERO_COST_PEER;
    this.hasCpu = options.kernel !== undefined;
    this.sendSize = options.sendSize ?? 16384;
    this.writeAhead = options.writeAhead ?? options.tsoMaxBytes ?? 65536;
    this.tsoSegments = Math.max(1, Math.floor((options.tsoMaxBytes ?? 65536) / c.mss));
    this.mss = c.mss;
    this.iss1 = c.sendSequence;
    this.txBacklogPs = options.timing.txBacklogPs;
    this.windowMultiplier = 2 ** c.peerWindowScale;
    const frameBytes = tcpHeadersLength(c.timestamps) + c.mss + ETH_FCS_LEN;
    this.frame = new Uint8Array(frameBytes);
    this.fullFrameBytes = frameBytes;
    this.sndWnd = c.peerInitialWindow;
    this.cwndBytes = options.congestion.initialWindowSegments * c.mss;
    this.ssthreshBytes = options.congestion.initialSsthresh;
    this.rto = options.timing.initialRtoPs;

    const o = this.out;
    o.srcMac = c.local.mac;
    o.dstMac = c.remote.mac;
    o.srcIp = c.local.ip;
    o.dstIp = c.remote.ip;
    o.srcPort = c.local.port;
    o.dstPort = c.remote.port;
    o.ack = c.receiveSequence >>> 0;
    o.flags = TCP_FLAG.ACK;
    // The sender receives no data: it offers the largest unscaled window.
    o.window = 0xffff;
    o.timestamps = c.timestamps;

    const s = options.stats;
    this.segmentsSent = s.counter('segments');
    this.retransmissions = s.counter('retransmitted-segments');
    this.counters = { retransmittedSegments: this.retransmissions, segmentsSent: this.segmentsSent };
    this.fastRetransmitCount = s.counter('fast-retransmits');
    this.timeoutCount = s.counter('timeouts');
    this.probes = s.counter('zero-window-probes');
    this.ackedBytes = s.counter('acked-bytes');
    this.acks = s.counter('acks');
    this.duplicateAcks = s.counter('dup-acks');
    this.acksOfUnsent = s.counter('acks-of-unsent');
    this.ignored = s.counter('rx-ignored');
    this.wireRefused = s.counter('wire-refused');

    this.pacer = this.sim.event('tcp-sender.pacer', () => this.pump());
    this.timer = this.sim.event('tcp-sender.timer', () => this.timerExpired());
    this.port.connect(this);
  }

  /** Starts sending at time `at` (ps, default now). */
  start(at: number = this.sim.now): void {
    this.running = true;
    this.sim.reschedule(this.pacer, at);
  }

  /** Stops the stream (netperf's test end): nothing more is sent and the timers are cancelled. */
  stop(): void {
    this.running = false;
    this.sim.cancel(this.pacer);
    this.sim.cancel(this.timer);
    this.timerMode = TIMER_NONE;
  }

  /** Starts a measurement window now (the end of warm-up). */
  resetMeasurement(): void {
    this.measureStartPs = this.sim.now;
    this.measureStartBytes = this.una;
  }

  /** Bytes acknowledged since the last resetMeasurement(). */
  get measuredBytes(): number {
    return this.una - this.measureStartBytes;
  }

  /** Goodput since the last resetMeasurement(): bytes acknowledged × 8 per simulated second (0 if no time passed). */
  goodputBitsPerSecond(): number {
    const span = this.sim.now - this.measureStartPs;
    if (span <= 0) return 0;
    return ((this.una - this.measureStartBytes) * 8 * 1e12) / span;
  }

  /** Every byte of a fixed-size stream has been acknowledged. */
  get complete(): boolean {
    return this.una >= this.bytesToSend;
  }

  /** SND.UNA as it appears on the wire (mod 2^32). */
  get sndUna(): number {
    return this.seqOf(this.una);
  }

  /** SND.NXT as it appears on the wire (mod 2^32). */
  get sndNxt(): number {
    return this.seqOf(this.nxt);
  }

  /** Bytes of the stream acknowledged so far (SND.UNA − first sequence, not wrapped). */
  get bytesAcknowledged(): number {
    return this.una;
  }

  /** Highest byte offset sent so far, exclusive (SND.MAX − first sequence). */
  get highestSent(): number {
    return this.sndMax;
  }

  /** SND.NXT − SND.UNA: what the sender counts as in flight. */
  get bytesInFlight(): number {
    return this.nxt - this.una;
  }

  /** Congestion window, bytes. */
  get cwnd(): number {
    return this.cwndBytes;
  }

  /** Slow-start threshold, bytes. */
  get ssthresh(): number {
    return this.ssthreshBytes;
  }

  /** SND.WND: the receiver's window, bytes (field << scale). */
  get sendWindow(): number {
    return this.sndWnd;
  }

  /** The current retransmission timeout, ps (backoff included). */
  get rtoPs(): number {
    return this.rto;
  }

  /** Smoothed RTT, ps (−1 before the first sample). */
  get srttPs(): number {
    return this.srtt;
  }

  /** Segments sent, retransmissions and probes included (since the last Stats reset). */
  get segmentCount(): number {
    return this.segmentsSent.value;
  }

  /** Segments that resent bytes already sent once (go-back-N after a loss). */
  get retransmittedSegments(): number {
    return this.retransmissions.value;
  }

  /** Fast retransmits (RFC 5681 §3.2, after `dupAckThreshold` duplicate ACKs). */
  get fastRetransmits(): number {
    return this.fastRetransmitCount.value;
  }

  /** Retransmission timeouts. */
  get timeouts(): number {
    return this.timeoutCount.value;
  }

  /** Zero-window probes sent. */
  get zeroWindowProbes(): number {
    return this.probes.value;
  }

  /** ACKs received. */
  get acksReceived(): number {
    return this.acks.value;
  }

  /** Duplicate ACKs received. */
  get duplicateAckCount(): number {
    return this.duplicateAcks.value;
  }

  private seqOf(offset: number): number {
    return (this.iss1 + offset) >>> 0;
  }

  // ---- receiving ACKs ------------------------------------------------------------------

  receiveFrame(data: Uint8Array, length: number): void {
    const seg = this.seg;
    const c = this.connection;
    if (
      !readTcpSegment(data, length - ETH_FCS_LEN, seg) ||
      seg.dstIp !== c.local.ip ||
      seg.dstPort !== c.local.port ||
      seg.srcIp !== c.remote.ip ||
      seg.srcPort !== c.remote.port ||
      (seg.flags & TCP_FLAG.ACK) === 0
    ) {
      // Not this connection's ACK (or RST/SYN/FIN handling, which is not modeled).
      this.ignored.inc();
      return;
    }
    this.acks.inc();
    if (seg.timestamps) this.tsRecent = seg.tsVal;
    // SEG.ACK relative to SND.UNA, modulo 2^32 (RFC 9293 §3.4).
    const ackOff = this.una + ((seg.ack - this.seqOf(this.una)) | 0);
    if (ackOff > this.sndMax) {
      // RFC 9293 §3.10.7.4: an ACK of something not yet sent is dropped.
      this.acksOfUnsent.inc();
      return;
    }
    if (ackOff < this.una) {
      // An old ACK (reordered): ignored, window included (SND.WL2 rule).
      return;
    }
    if (ackOff > this.una) {
      this.newAck(ackOff, seg);
    } else if (
      // RFC 5681 §2: a duplicate ACK acknowledges SND.UNA, carries no data, no SYN/FIN, the
      // same window, while data is outstanding (a probe's answer is not one: nothing is in
      // flight then).
      this.nxt > this.una &&
      seg.payloadLength === 0 &&
      (seg.flags & (TCP_FLAG.SYN | TCP_FLAG.FIN)) === 0 &&
      seg.window === this.lastWindowField
    ) {
      this.duplicateAcks.inc();
      this.dupAcks++;
      // RFC 6582 §3.2 step 1: only if the ACK covers more than `recover`.
      if (this.dupAcks === this.congestion.dupAckThreshold && ackOff > this.recover) this.fastRetransmit();
    }
    this.lastWindowField = seg.window;
    this.sndWnd = seg.window * this.windowMultiplier;
    this.pump();
  }

  private newAck(ackOff: number, seg: TcpSegmentFields): void {
    const acked = ackOff - this.una;
    const prevUna = this.una;
    this.una = ackOff;
    if (this.nxt < ackOff) this.nxt = ackOff;
    this.ackedBytes.add(acked);
    this.dupAcks = 0;

    // RTT sample: Karn's rule (RFC 6298 §3) for data sent once; for ACKs of retransmitted data
    // the echoed timestamp (RFC 7323 §4.1 RTTM), as Linux does.
    if (prevUna >= this.retransmittedHigh) {
      if (this.timedEnd >= 0 && ackOff >= this.timedEnd) {
        this.rttSample(this.sim.now - this.timedAt);
        this.timedEnd = -1;
      }
    } else if (seg.timestamps && seg.tsEcr !== 0) {
      const ticks = (this.tsNow() - seg.tsEcr) >>> 0;
      if (ticks < 0x80000000) this.rttSample(ticks * this.timing.timestampTickPs);
    }

    // RFC 5681 §3.1: slow start below ssthresh (growth per ACK capped at 2 SMSS, RFC 3465
    // §2.2's L), congestion avoidance above it (one SMSS per cwnd of bytes acknowledged).
    // cwnd grows only while it is what limits the sender (RFC 7661's concern; Linux
    // tcp_is_cwnd_limited: in slow start, up to twice the largest recent flight), so a flow
    // limited by the receiver's window or by the wire does not inflate it without bound.
    if (this.cwndBytes < this.ssthreshBytes) {
      if (this.cwndBytes < 2 * this.flightHigh) this.cwndBytes += Math.min(acked, 2 * this.mss);
    } else if (this.cwndLimited) {
      this.bytesAckedCa += acked;
      if (this.bytesAckedCa >= this.cwndBytes) {
        this.bytesAckedCa -= this.cwndBytes;
        this.cwndBytes += this.mss;
      }
    }
    this.flightHigh = this.nxt - this.una;
    this.cwndLimited = false;
    // RFC 6298 §5.3: restart the timer on an ACK of new data (re-armed after the pump).
    if (this.timerMode === TIMER_RTO) {
      this.sim.cancel(this.timer);
      this.timerMode = TIMER_NONE;
    }
    this.persistBackoff = 0;
  }

  private rttSample(r: number): void {
    if (this.srtt < 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = (1 - RTT_BETA) * this.rttvar + RTT_BETA * Math.abs(this.srtt - r);
      this.srtt = (1 - RTT_ALPHA) * this.srtt + RTT_ALPHA * r;
    }
    // RFC 6298 §2.3 (clock granularity G taken as 0: the floor dominates), §2.4 floor, §2.5 cap.
    const t = this.timing;
    this.rto = Math.min(t.maxRtoPs, Math.max(t.minRtoPs, Math.round(this.srtt + RTO_K * this.rttvar)));
    // A valid sample ends the backoff (RFC 6298 §5.7 discussion; Linux tcp_ack_update_rtt).
    this.backoff = 0;
  }

  /** RFC 5681 §3.2, with go-back-N recovery (the receiver keeps no out-of-order queue). */
  private fastRetransmit(): void {
    this.fastRetransmitCount.inc();
    const flight = this.sndMax - this.una;
    this.ssthreshBytes = Math.max(Math.floor(flight / 2), 2 * this.mss);
    // No inflation by the three duplicate ACKs: the segments that caused them were discarded
    // by the receiver, not buffered, so they are resent rather than counted as gone.
    this.cwndBytes = this.ssthreshBytes;
    this.goBack();
  }

  private goBack(): void {
    // What is resent goes in new skbs.
    this.skbLeft = 0;
    this.recover = this.sndMax;
    this.nxt = this.una;
    this.timedEnd = -1;
    this.bytesAckedCa = 0;
    this.dupAcks = 0;
  }

  // ---- timers --------------------------------------------------------------------------

  private timerExpired(): void {
    const mode = this.timerMode;
    this.timerMode = TIMER_NONE;
    if (!this.running) return;
    if (mode === TIMER_RTO) this.retransmissionTimeout();
    else if (mode === TIMER_PERSIST) this.persistTimeout();
  }

  /** RFC 6298 §5.4–5.6 and RFC 5681 §3.1. */
  private retransmissionTimeout(): void {
    this.timeoutCount.inc();
    // ssthresh is held on repeated expiries of the same loss (RFC 5681 §3.1, after eq. 4).
    if (this.backoff === 0) {
      this.ssthreshBytes = Math.max(Math.floor((this.sndMax - this.una) / 2), 2 * this.mss);
    }
    this.cwndBytes = this.mss; // the loss window
    this.backoff++;
    this.rto = Math.min(this.rto * 2, this.timing.maxRtoPs);
    this.goBack();
    this.pump();
  }

  /** RFC 9293 §3.8.6.1: a zero window is probed with one byte; the interval backs off. */
  private persistTimeout(): void {
    if (this.sndWnd === 0 && this.nxt === this.una && this.una < this.bytesToSend) {
      this.probes.inc();
      this.kernel.transmitSkb();
      this.sendSegment(this.una, 1, true);
      if (this.una + 1 > this.sndMax) this.sndMax = this.una + 1;
      this.persistBackoff++;
      this.armTimer(TIMER_PERSIST, Math.min(this.rto * 2 ** this.persistBackoff, this.timing.maxRtoPs));
      return;
    }
    this.pump();
  }

  private armTimer(mode: number, delay: number): void {
    this.timerMode = mode;
    this.sim.reschedule(this.timer, this.sim.now + delay);
  }

  // ---- sending -------------------------------------------------------------------------

  /**
   * Sends what the windows allow while the port's backlog is short; leaves the pacer set
   * for when the port goes idle, or the timers as RFC 6298 and RFC 9293 want them.
   */
  private pump(): void {
    if (!this.running) return;
    const port = this.port;
    const mss = this.mss;
    for (;;) {
      const remaining = this.bytesToSend - this.nxt;
      if (remaining <= 0) break;
      const inFlight = this.nxt - this.una;
      const usable = Math.min(this.cwndBytes, this.sndWnd) - inFlight;
      const len = Math.min(mss, remaining, usable);
      if (len <= 0) {
        if (this.cwndBytes <= this.sndWnd) this.cwndLimited = true;
        break;
      }
      // Sender silly-window avoidance (RFC 9293 §3.8.6.2.1, with Nagle): a short segment
      // only when it ends the stream or nothing is in flight (so an ACK is not awaited).
      if (len < mss && len < remaining && inFlight > 0) break;
      if (port.backlogPs() >= this.txBacklogPs) {
        // Wake while half the backlog is still queued: what a NIC takes between the tail
        // write and the wire (descriptor and buffer fetches) must not leave the line idle.
        this.wakeAt(port.busyUntil - this.txBacklogPs / 2);
        break;
      }
      if (this.skbLeft === 0) {
        // A new skb: built when the CPU is done with the work queued before it.
        const k = this.kernel;
        if (k.cpuFreeAt > this.sim.now) {
          this.wakeAt(k.cpuFreeAt);
          break;
        }
        // TCP sends what netperf has written; short of a segment, its next send() comes first.
        if (this.written - this.nxt < Math.min(mss, remaining)) {
          this.write();
          continue;
        }
        const room = Math.min(usable, remaining, this.tsoSegments * mss, this.written - this.nxt);
        const segments = Math.max(1, Math.floor(room / mss));
        k.transmitSkb(segments);
        this.skbLeft = segments;
      }
      if (!this.sendSegment(this.nxt, len)) {
        // The wire's frame pool is full: try again a frame time later.
        this.sim.reschedule(this.pacer, this.sim.now + frameTimePs(this.fullFrameBytes, port.bitsPerSecond));
        break;
      }
      this.skbLeft--;
      if (this.timedEnd < 0 && this.nxt >= this.sndMax) {
        // Time this segment for an RTT sample (one at a time, never a retransmission: Karn).
        this.timedEnd = this.nxt + len;
        this.timedAt = this.sim.now;
      }
      this.nxt += len;
      if (this.nxt > this.sndMax) this.sndMax = this.nxt;
      if (this.nxt - this.una > this.flightHigh) this.flightHigh = this.nxt - this.una;
    }
    // netperf writes ahead while the CPU is free and the socket buffer has room.
    if (
      this.hasCpu &&
      this.kernel.cpuFreeAt <= this.sim.now &&
      this.written < this.bytesToSend &&
      this.written - this.nxt < this.writeAhead
    ) {
      this.write();
      this.wakeAt(this.kernel.cpuFreeAt);
    }
    // RFC 6298 §5.1/§5.2: the retransmission timer runs while data is in flight.
    if (this.nxt > this.una) {
      if (this.timerMode !== TIMER_RTO) this.armTimer(TIMER_RTO, this.rto);
    } else if (this.timerMode === TIMER_RTO) {
      this.sim.cancel(this.timer);
      this.timerMode = TIMER_NONE;
    }
    // A zero window with nothing in flight: only the persist timer can reopen it.
    if (this.nxt === this.una && this.sndWnd === 0 && this.una < this.bytesToSend) {
      if (this.timerMode === TIMER_NONE) {
        this.armTimer(TIMER_PERSIST, Math.min(this.rto * 2 ** this.persistBackoff, this.timing.maxRtoPs));
      }
    } else if (this.timerMode === TIMER_PERSIST) {
      this.sim.cancel(this.timer);
      this.timerMode = TIMER_NONE;
    }
  }

  /** One send() call of netperf's: up to `sendSize` more bytes of the stream into the socket buffer. */
  private write(): void {
    const n = Math.min(this.sendSize, this.bytesToSend - this.written);
    this.kernel.sendCall(n);
    this.written += n;
  }

  /** Sets the pacer for `time` (not before now), unless it is set for earlier. */
  private wakeAt(time: number): void {
    const t = Math.max(this.sim.now, time);
    const p = this.pacer;
    if (p.scheduled && p.when <= t) return;
    this.sim.reschedule(p, t);
  }

  /** Builds and transmits the segment [offset, offset + len); false if the wire refused it. */
  private sendSegment(offset: number, len: number, probe = false): boolean {
    const o = this.out;
    o.seq = this.seqOf(offset);
    // o.ack, flags, window and the addresses were set in the constructor and do not change.
    o.payloadLength = len;
    o.ipId = this.ipId = (this.ipId + 1) & 0xffff;
    if (o.timestamps) {
      o.tsVal = this.tsNow();
      o.tsEcr = this.tsRecent;
    }
    // The payload bytes are whatever the buffer holds (netperf sends a fixed buffer too).
    // After the first segment only the fields that change are rewritten (the same bytes).
    let length: number;
    if (this.headersWritten) length = rewriteTcpSegment(this.frame, o) + ETH_FCS_LEN;
    else {
      length = writeTcpSegment(this.frame, o) + ETH_FCS_LEN;
      this.headersWritten = true;
    }
    if (!this.port.transmit(this.frame, 0, length)) {
      this.wireRefused.inc();
      return false;
    }
    this.segmentsSent.inc();
    if (offset < this.sndMax && !probe) {
      this.retransmissions.inc();
      const end = Math.min(offset + len, this.sndMax);
      if (end > this.retransmittedHigh) this.retransmittedHigh = end;
    }
    return true;
  }

  /** The TSval clock (RFC 7323 §5.4), offset by one so that it is never 0 (0 means "no echo"). */
  private tsNow(): number {
    const now = this.sim.now;
    if (now !== this.tsAt) {
      this.tsAt = now;
      this.tsAtValue = (Math.floor(now / this.timing.timestampTickPs) + 1) >>> 0;
    }
    return this.tsAtValue;
  }
}

function validate(o: TcpStreamSenderOptions): void {
  const c = o.connection;
  const int = (v: number, lo: number, hi: number, what: string): void => {
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new WorkloadConfigError(`tcp sender: ${what} must be an integer in [${lo}, ${hi}], got ${v}`);
    }
  };
  int(c.mss, 1, 9000 - 52, 'connection.mss (payload bytes per segment)');
  int(c.local.port, 0, 0xffff, 'connection.local.port');
  int(c.remote.port, 0, 0xffff, 'connection.remote.port');
  int(c.sendSequence, 0, 0xffffffff, 'connection.sendSequence');
  int(c.receiveSequence, 0, 0xffffffff, 'connection.receiveSequence');
  // RFC 7323 §2.3: a shift above 14 is treated as 14; reject it so the two ends agree.
  int(c.peerWindowScale, 0, 14, 'connection.peerWindowScale');
  int(c.peerInitialWindow, 0, 0xffff, 'connection.peerInitialWindow (an unscaled SYN-ACK window)');
  int(o.congestion.initialWindowSegments, 1, 1000, 'congestion.initialWindowSegments');
  int(o.congestion.dupAckThreshold, 1, 1000, 'congestion.dupAckThreshold');
  if (!(o.congestion.initialSsthresh >= 2 * c.mss)) {
    throw new WorkloadConfigError(
      `tcp sender: congestion.initialSsthresh must be at least 2 × mss (${2 * c.mss} bytes), got ${o.congestion.initialSsthresh}`,
    );
  }
  const t = o.timing;
  const pos = (v: number, what: string): void => {
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new WorkloadConfigError(`tcp sender: timing.${what} must be a positive integer of ps, got ${v}`);
    }
  };
  pos(t.minRtoPs, 'minRtoPs');
  pos(t.maxRtoPs, 'maxRtoPs');
  pos(t.initialRtoPs, 'initialRtoPs');
  pos(t.timestampTickPs, 'timestampTickPs');
  pos(t.txBacklogPs, 'txBacklogPs');
  if (t.maxRtoPs < t.minRtoPs || t.initialRtoPs < t.minRtoPs || t.initialRtoPs > t.maxRtoPs) {
    throw new WorkloadConfigError(
      `tcp sender: need timing.minRtoPs ≤ timing.initialRtoPs ≤ timing.maxRtoPs, got ${t.minRtoPs}, ${t.initialRtoPs}, ${t.maxRtoPs}`,
    );
  }
  const sendSize = o.sendSize ?? 16384;
  if (!Number.isSafeInteger(sendSize) || sendSize < 1) {
    throw new WorkloadConfigError(
      `tcp sender: sendSize must be a positive integer of bytes, got ${sendSize}`,
    );
  }
  const ahead = o.writeAhead ?? o.tsoMaxBytes ?? 65536;
  if (!Number.isSafeInteger(ahead) || ahead < 1) {
    throw new WorkloadConfigError(`tcp sender: writeAhead must be a positive integer of bytes, got ${ahead}`);
  }
  const tso = o.tsoMaxBytes ?? 65536;
  if (!Number.isSafeInteger(tso) || tso < 1 || tso > 2 ** 20) {
    throw new WorkloadConfigError(
      `tcp sender: tsoMaxBytes must be an integer of 1–1048576 bytes, got ${tso}`,
    );
  }
  if (!(o.bytesToSend > 0) || (Number.isFinite(o.bytesToSend) && !Number.isSafeInteger(o.bytesToSend))) {
    throw new WorkloadConfigError(
      `tcp sender: bytesToSend must be a positive integer or Infinity (a timed test), got ${o.bytesToSend}`,
    );
  }
}
