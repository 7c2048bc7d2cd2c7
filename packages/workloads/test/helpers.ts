import {
  ETH_FCS_LEN,
  ipv4,
  ipv4ChecksumOk,
  makeTcpSegmentFields,
  readTcpSegment,
  TCP_FLAG,
  type TcpSegmentFields,
  writeTcpSegment,
} from '@exitless/net';
import { type EthernetEndpoint, Wire, type WirePort } from '@exitless/nic';
import { ms, ns, type SimEvent, Simulator, Stats, us } from '@exitless/sim';
import {
  type SenderPort,
  type TcpCongestionOptions,
  type TcpSenderTiming,
  type TcpStreamConnection,
  TcpStreamSender,
} from '../src/index.js';

export const LINE_RATE = 10_000_000_000;
export const MSS = 1448;
export const ISS = 0xfffff000; // close to 2^32, so every test crosses the sequence wrap
export const GUEST_MAC = 0x02000000aa01;
export const PEER_MAC = 0x02000000bb01;
export const GUEST_IP: number = ipv4(10, 0, 0, 2);
export const PEER_IP: number = ipv4(10, 0, 0, 1);
export const GUEST_PORT = 12865;
export const PEER_PORT = 40000;

export const TIMING: TcpSenderTiming = {
  minRtoPs: ms(200),
  maxRtoPs: ms(120_000),
  initialRtoPs: ms(1000),
  timestampTickPs: ms(1),
  txBacklogPs: ns(5000),
};

export const CONGESTION: TcpCongestionOptions = {
  initialWindowSegments: 10,
  initialSsthresh: 2 ** 40,
  dupAckThreshold: 3,
};

export function connection(windowScale: number, initialWindow: number): TcpStreamConnection {
  return {
    local: { mac: PEER_MAC, ip: PEER_IP, port: PEER_PORT },
    remote: { mac: GUEST_MAC, ip: GUEST_IP, port: GUEST_PORT },
    sendSequence: ISS,
    receiveSequence: 1,
    peerWindowScale: windowScale,
    peerInitialWindow: initialWindow,
    mss: MSS,
    timestamps: true,
  };
}

/** One data segment as the sender handed it to the wire, with the sender's state at that moment. */
export interface SentRecord {
  readonly time: number;
  /** Offset of the first byte from ISS (unwrapped through the sender's view). */
  readonly offset: number;
  readonly length: number;
  readonly frameBytes: number;
  /** offset + length − SND.UNA at transmit time. */
  readonly flightAfter: number;
  readonly cwnd: number;
  readonly sendWindow: number;
  readonly highestSentBefore: number;
}

/** Wraps the sender's WirePort and records every data segment with the sender's state. */
export class WatchingPort implements SenderPort {
  readonly sent: SentRecord[] = [];
  sender: TcpStreamSender | null = null;
  private readonly inner: WirePort;
  private readonly sim: Simulator;
  private readonly f: TcpSegmentFields = makeTcpSegmentFields();

  constructor(sim: Simulator, inner: WirePort) {
    this.sim = sim;
    this.inner = inner;
  }

  get bitsPerSecond(): number {
    return this.inner.bitsPerSecond;
  }

  get busyUntil(): number {
    return this.inner.busyUntil;
  }

  backlogPs(): number {
    return this.inner.backlogPs();
  }

  connect(endpoint: EthernetEndpoint | null, ingressDelayPs?: number): void {
    this.inner.connect(endpoint, ingressDelayPs);
  }

  transmit(data: Uint8Array, offset: number, length: number, notBefore?: number): boolean {
    const s = this.sender;
    const f = this.f;
    if (s !== null && readTcpSegment(data.subarray(offset), length - ETH_FCS_LEN, f)) {
      const una = s.bytesAcknowledged;
      const off = una + ((f.seq - s.sndUna) | 0);
      this.sent.push({
        time: this.sim.now,
        offset: off,
        length: f.payloadLength,
        frameBytes: length,
        flightAfter: off + f.payloadLength - una,
        cwnd: s.cwnd,
        sendWindow: s.sendWindow,
        highestSentBefore: s.highestSent,
      });
    }
    return this.inner.transmit(data, offset, length, notBefore);
  }
}

export interface ScriptedReceiverOptions {
  /** Window offered, bytes (the field is this >> windowScale). */
  windowBytes: number;
  windowScale: number;
  /** Drop the n-th data frame that arrives (0-based). */
  dropData: (n: number) => boolean;
  /** Drop the n-th ACK this receiver would send (0-based), given the time. */
  dropAck: (n: number, now: number) => boolean;
  /** ACK once this many in-order segments are unacknowledged. */
  ackEvery: number;
  delayedAckPs: number;
}

/**
 * A minimal TCP receiver written for the tests: no CPU, an in-order-only receive window
 * (no out-of-order queue, like the guest's), an ACK every `ackEvery` in-order segments or
 * at the delayed-ACK timeout, an immediate duplicate ACK for anything out of order, and a
 * fixed window (the application consumes everything at once) that the test may change.
 */
export class ScriptedReceiver implements EthernetEndpoint {
  readonly options: ScriptedReceiverOptions;
  /** RCV.NXT as an offset from ISS. */
  rcvNxt = 0;
  /** Right edge of the window last advertised, offset from ISS. */
  rightEdge: number;
  dataFrames = 0;
  dropped = 0;
  acceptedBytes = 0;
  /** Bytes that arrived again below RCV.NXT. */
  duplicateBytes = 0;
  outOfOrder = 0;
  /** Segments that ended beyond the advertised right edge (other than one-byte zero-window probes). */
  windowViolations = 0;
  zeroWindowProbes = 0;
  probeTimes: number[] = [];
  acksSent = 0;
  acksDropped = 0;
  ackTimes: number[] = [];
  badChecksums = 0;
  private ackIndex = 0;
  private unacked = 0;
  private lastTsVal = 0;
  private ipId = 0;
  private readonly sim: Simulator;
  private readonly port: WirePort;
  private readonly seg: TcpSegmentFields = makeTcpSegmentFields();
  private readonly ack: TcpSegmentFields = makeTcpSegmentFields();
  private readonly buf = new Uint8Array(128);
  private readonly delack: SimEvent;

  constructor(sim: Simulator, port: WirePort, options: ScriptedReceiverOptions, initialWindow: number) {
    this.sim = sim;
    this.port = port;
    this.options = options;
    this.rightEdge = initialWindow;
    const a = this.ack;
    a.srcMac = GUEST_MAC;
    a.dstMac = PEER_MAC;
    a.srcIp = GUEST_IP;
    a.dstIp = PEER_IP;
    a.srcPort = GUEST_PORT;
    a.dstPort = PEER_PORT;
    a.seq = 1;
    a.flags = TCP_FLAG.ACK;
    a.timestamps = true;
    this.delack = sim.event('test.delack', () => {
      if (this.unacked > 0) this.sendAck();
    });
    port.connect(this);
  }

  /** Offset of a wire sequence number, relative to ISS, near RCV.NXT. */
  private offsetOf(seq: number): number {
    return this.rcvNxt + ((seq - ((ISS + this.rcvNxt) >>> 0)) | 0);
  }

  receiveFrame(data: Uint8Array, length: number): void {
    const s = this.seg;
    if (!readTcpSegment(data, length - ETH_FCS_LEN, s)) throw new Error('not a TCP frame');
    if (!ipv4ChecksumOk(data)) this.badChecksums++;
    const n = this.dataFrames++;
    if (this.options.dropData(n)) {
      this.dropped++;
      return;
    }
    const off = this.offsetOf(s.seq);
    const end = off + s.payloadLength;
    const isProbe = s.payloadLength === 1 && this.rightEdge <= off;
    if (isProbe) {
      this.zeroWindowProbes++;
      this.probeTimes.push(this.sim.now);
    } else if (end > this.rightEdge) this.windowViolations++;
    this.lastTsVal = s.tsVal;
    if (off !== this.rcvNxt) {
      if (off < this.rcvNxt) this.duplicateBytes += Math.min(end, this.rcvNxt) - off;
      else this.outOfOrder++;
      this.sendAck();
      return;
    }
    // The application consumes at once: whatever fits under the advertised right edge is taken.
    const accepted = Math.min(s.payloadLength, Math.max(0, this.rightEdge - this.rcvNxt));
    this.rcvNxt += accepted;
    this.acceptedBytes += accepted;
    if (accepted < s.payloadLength) {
      this.sendAck();
      return;
    }
    this.unacked++;
    if (this.unacked >= this.options.ackEvery) this.sendAck();
    else if (!this.delack.scheduled) this.sim.schedule(this.delack, this.sim.now + this.options.delayedAckPs);
  }

  /** Changes the offered window; `update` sends a window-update ACK at once. */
  setWindow(bytes: number, update: boolean): void {
    this.options.windowBytes = bytes;
    if (update) this.sendAck();
  }

  sendAck(): void {
    this.unacked = 0;
    this.sim.cancel(this.delack);
    const o = this.options;
    // The right edge never moves left (RFC 9293 §3.8.6: a receiver should not shrink the window).
    const unit = 2 ** o.windowScale;
    const offered = Math.min(0xffff * unit, Math.floor(o.windowBytes / unit) * unit);
    if (this.rcvNxt + offered > this.rightEdge) this.rightEdge = this.rcvNxt + offered;
    const field = Math.min(0xffff, Math.floor((this.rightEdge - this.rcvNxt) / unit));
    const i = this.ackIndex++;
    if (o.dropAck(i, this.sim.now)) {
      this.acksDropped++;
      return;
    }
    const a = this.ack;
    a.ack = (ISS + this.rcvNxt) >>> 0;
    a.window = field;
    a.tsEcr = this.lastTsVal;
    a.ipId = this.ipId = (this.ipId + 1) & 0xffff;
    const len = writeTcpSegment(this.buf, a);
    this.port.transmit(this.buf, 0, len + ETH_FCS_LEN);
    this.acksSent++;
    this.ackTimes.push(this.sim.now);
  }
}

export interface Harness {
  sim: Simulator;
  stats: Stats;
  wire: Wire;
  port: WatchingPort;
  sender: TcpStreamSender;
  receiver: ScriptedReceiver;
}

export interface HarnessOptions {
  windowBytes: number;
  windowScale: number;
  initialWindow: number;
  bytesToSend: number;
  dropData?: (n: number) => boolean;
  dropAck?: (n: number, now: number) => boolean;
  ackEvery?: number;
  delayedAckPs?: number;
  congestion?: TcpCongestionOptions;
  timing?: TcpSenderTiming;
  framesInFlight?: number;
  /** One-way wire latency (default 500 ns). */
  latencyPs?: number;
}

/** A sender on end b of a real 10 Gb/s wire and a scripted receiver on end a (where the NIC would be). */
export function harness(o: HarnessOptions): Harness {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const wire = new Wire(
    sim,
    { bitsPerSecond: LINE_RATE, latencyPs: o.latencyPs ?? ns(500) },
    { maxFrameBytes: 1518, framesInFlight: o.framesInFlight ?? 4096 },
    stats.scope('wire'),
  );
  const receiver = new ScriptedReceiver(
    sim,
    wire.a,
    {
      windowBytes: o.windowBytes,
      windowScale: o.windowScale,
      dropData: o.dropData ?? (() => false),
      dropAck: o.dropAck ?? (() => false),
      ackEvery: o.ackEvery ?? 2,
      delayedAckPs: o.delayedAckPs ?? us(40),
    },
    o.initialWindow,
  );
  const port = new WatchingPort(sim, wire.b);
  const sender = new TcpStreamSender({
    sim,
    port,
    stats: stats.scope('peer.tcp'),
    connection: connection(o.windowScale, o.initialWindow),
    congestion: o.congestion ?? CONGESTION,
    timing: o.timing ?? TIMING,
    bytesToSend: o.bytesToSend,
  });
  port.sender = sender;
  return { sim, stats, wire, port, sender, receiver };
}

/** Checks every transmission: contiguous new data, retransmissions from below SND.MAX, flight within min(cwnd, SND.WND). */
export function checkTransmissions(sent: readonly SentRecord[]): string[] {
  const problems: string[] = [];
  let high = 0;
  for (const r of sent) {
    const probe = r.length === 1 && r.sendWindow === 0;
    if (r.offset > high) problems.push(`gap: segment at ${r.offset} while highest sent is ${high}`);
    if (!probe && r.flightAfter > Math.min(r.cwnd, r.sendWindow)) {
      problems.push(`flight ${r.flightAfter} > min(cwnd ${r.cwnd}, wnd ${r.sendWindow}) at ${r.time}`);
    }
    if (r.highestSentBefore !== high) problems.push(`SND.MAX ${r.highestSentBefore} ≠ ${high}`);
    high = Math.max(high, r.offset + r.length);
  }
  return problems;
}
