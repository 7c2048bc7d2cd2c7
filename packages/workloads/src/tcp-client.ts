import {
  ETH_FCS_LEN,
  makeTcpSegmentFields,
  OFFSET,
  readTcpSegment,
  TCP_FLAG,
  type TcpSegmentFields,
  tcpHeadersLength,
  writeTcpSegment,
} from '@exitless/net';
import type { EthernetEndpoint } from '@exitless/nic';
import type { Counter, RandomStream, ScopedStats, SimEvent, Simulator } from '@exitless/sim';
import { WorkloadConfigError } from './errors.js';
import { type PeerKernel, ZERO_COST_PEER } from './peer-host.js';
import type { HostAddress, SenderPort, TcpEndpointAddress } from './tcp-stream-sender.js';

/** States of a client connection (RFC 9293 §3.3.2), those an active opener passes through. */
export const CLIENT_STATE = {
  /** No connection (the object is free in the pool). */
  CLOSED: 0,
  /** SYN sent, waiting for the SYN-ACK. */
  SYN_SENT: 1,
  /** Established: data flows both ways. */
  ESTABLISHED: 2,
  /** The server closed first (its FIN arrived); the client has not closed yet. */
  CLOSE_WAIT: 3,
  /** The client closed after the server: its FIN waits for the server's ACK. */
  LAST_ACK: 4,
  /** The client closed first. */
  FIN_WAIT_1: 5,
  /** The client's FIN was acknowledged; waiting for the server's FIN. */
  FIN_WAIT_2: 6,
} as const;

/** What a load generator does with its connections' events. */
export interface TcpClientHandler {
  /** The handshake completed (the SYN-ACK arrived and was acknowledged). */
  established(c: ClientConnection): void;
  /** In-order bytes from the server: `data[offset, offset + length)`, valid during the call. */
  data(c: ClientConnection, data: Uint8Array, offset: number, length: number): void;
  /** The server's FIN arrived (after all its data). */
  peerClosed(c: ClientConnection): void;
  /** The connection is gone: closed on both sides and acknowledged, or aborted after retries. */
  closed(c: ClientConnection, aborted: boolean): void;
}

/** The client's TCP parameters. */
/** What every client load generator over TcpClient (ab, memslap) is built from. */
export interface ClientGeneratorOptions {
  /** The simulator the generator runs on. */
  readonly sim: Simulator;
  /** The generator's end of the wire. */
  readonly port: SenderPort;
  /** Where the generator's counters live. */
  readonly stats: ScopedStats;
  /** The generator's own addresses. */
  readonly local: HostAddress;
  /** The guest's server. */
  readonly remote: TcpEndpointAddress;
  /** Requests in flight at once, one per connection (ab -c, memaslap -c). */
  readonly concurrency: number;
  /** The client's TCP. */
  readonly tcp: {
    /** Maximum segment size, payload bytes. */
    readonly mss: number;
    /** Window scale shift. */
    readonly windowScale: number;
    /** Retransmission timeout, ps. */
    readonly rtoPs: number;
    /** Delayed-ACK timeout, ps. */
    readonly delayedAckPs: number;
    /** Period of the client's timer event, ps. */
    readonly timerIntervalPs: number;
  };
  /** ISNs of the client's connections. */
  readonly isnRandom: RandomStream;
  /** The machine the generator runs on (a PeerHost, whose `port` is then `port`); default ZERO_COST_PEER (no CPU). */
  readonly kernel?: PeerKernel;
}

/** Options of a {@link TcpClient}. */
export interface TcpClientOptions {
  /** The simulator the client runs on. */
  readonly sim: Simulator;
  /** The client's end of the wire. */
  readonly port: SenderPort;
  /** Where the client's counters live. */
  readonly stats: ScopedStats;
  /** The client's own addresses. */
  readonly local: HostAddress;
  /** The server (the guest). */
  readonly remote: TcpEndpointAddress;
  /** Maximum segment size, payload bytes. */
  readonly mss: number;
  /** Window scale shift both ends use (the SYN options other than timestamps are not encoded). */
  readonly windowScale: number;
  /** Connections open at once (pool size). */
  readonly maxConnections: number;
  /** Send buffer per connection, bytes (the largest request). */
  readonly sendBuffer: number;
  /** Ephemeral ports used in turn (Linux ip_local_port_range: 32768–60999). */
  readonly firstPort: number;
  /** The last ephemeral port (inclusive). */
  readonly lastPort: number;
  /** Retransmission timeout (no RTT estimation: a fixed RTO, doubled on each retry), ps. */
  readonly rtoPs: number;
  /** Delayed-ACK timeout (Linux: 40 ms), ps. */
  readonly delayedAckPs: number;
  /** Period of the one timer event that runs every connection's timers, ps. */
  readonly timerIntervalPs: number;
  /** Retransmissions before a connection is aborted. */
  readonly maxRetransmissions: number;
  /** Draws initial sequence numbers. */
  readonly random: RandomStream;
  /** What the load generator does with the connections' events. */
  readonly handler: TcpClientHandler;
  /**
   * The machine the client runs on: connect(), send() and close() are its system calls and
   * every segment is an skb its CPU transmits. Default ZERO_COST_PEER (no CPU).
   */
  readonly kernel?: PeerKernel;
}

const TS_TICK_PS = 1_000_000_000;

/** One client connection (pooled; `id` is stable so a load generator can keep state by it). */
export class ClientConnection {
  /** Index in the client's pool: stable, so a load generator can keep per-connection state by it. */
  readonly id: number;
  /** A CLIENT_STATE value. */
  state: number = CLIENT_STATE.CLOSED;
  /** The connection's local (ephemeral) port. */
  localPort = 0;
  /** Simulated time connect() sent the SYN, ps. */
  openedAt = 0;
  /** @internal */ iss = 0;
  /** Send offsets from ISS + 1 (SYN = −1, FIN = the offset after the data). @internal */
  sndUna = -1;
  /** @internal */ sndNxt = -1;
  /** @internal */ sndMax = -1;
  /** @internal */ written = 0;
  /** @internal */ sndWnd = 0;
  /** @internal */ readonly sndRing: Uint8Array;
  /** @internal */ closing = false;
  /** @internal */ rcvNxt = 0;
  /** @internal */ unackedSegments = 0;
  /** @internal */ unackedSince = -1;
  /** @internal */ tsRecent = 0;
  /** @internal */ rto = 0;
  /** @internal */ rtoDeadline = -1;
  /** @internal */ retries = 0;
  /** @internal */ activeIndex = -1;
  /** Free slots for the load generator's own per-connection numbers. */
  r0 = 0;
  /** Free slot 1 for the load generator. */
  r1 = 0;
  /** Free slot 2 for the load generator. */
  r2 = 0;

  constructor(id: number, sendBuffer: number) {
    this.id = id;
    this.sndRing = new Uint8Array(sendBuffer);
  }
}

/**
 * The TCP of a remote load generator (ab, memslap): active opens, small requests out,
 * responses in, and either close. Its CPU costs are its machine's (`kernel`: connect(),
 * send() and close() calls, an skb per segment; the receive side is the PeerHost's); the
 * protocol behaviour is its own: SYN with timestamps, the third ACK, data within the server's window
 * (SND.WND = window << scale), in-order receive with an ACK every second segment, a
 * duplicate ACK at once for anything out of order, a delayed ACK otherwise, go-back-N
 * retransmission on a fixed, doubling RTO. All connections share one timer event and one
 * frame buffer: no object is created per segment.
 */
export class TcpClient implements EthernetEndpoint {
  /** The options the client was made with. */
  readonly options: TcpClientOptions;
  private readonly sim: Simulator;
  private readonly port: SenderPort;
  private readonly kernel: PeerKernel;
  private readonly handler: TcpClientHandler;
  private readonly pool: ClientConnection[] = [];
  private readonly free: ClientConnection[] = [];
  private readonly active: ClientConnection[] = [];
  /** Connection id by local port, −1 if none. */
  private readonly byPort: Int32Array;
  private nextPort: number;
  private readonly frame: Uint8Array;
  private readonly out: TcpSegmentFields = makeTcpSegmentFields();
  private readonly seg: TcpSegmentFields = makeTcpSegmentFields();
  private readonly timer: SimEvent;
  private readonly windowUnit: number;
  private ipId = 0;

  private readonly synsSent: Counter;
  private readonly synAcksReceived: Counter;
  private readonly establishedCount: Counter;
  private readonly finsReceived: Counter;
  private readonly finsSent: Counter;
  private readonly closedCount: Counter;
  private readonly abortedCount: Counter;
  private readonly segmentsOut: Counter;
  private readonly segmentsIn: Counter;
  private readonly bytesIn: Counter;
  private readonly retransmits: Counter;
  private readonly timeouts: Counter;
  /** What a report reads: segments sent again, and retransmission timeouts. */
  readonly counters: {
    /** Segments sent again after a retransmission timeout. */
    readonly retransmittedSegments: Counter;
    /** Retransmission timeouts. */
    readonly timeouts: Counter;
  };
  private readonly outOfOrder: Counter;
  private readonly ignored: Counter;
  private readonly wireRefused: Counter;
  private readonly poolExhausted: Counter;

  constructor(options: TcpClientOptions) {
    validate(options);
    this.options = options;
    this.sim = options.sim;
    this.port = options.port;
    this.kernel = options.kernel ?? ZERO_COST_PEER;
    this.handler = options.handler;
    this.byPort = new Int32Array(65536).fill(-1);
    this.nextPort = options.firstPort;
    this.frame = new Uint8Array(tcpHeadersLength(true) + options.mss + ETH_FCS_LEN);
    this.windowUnit = 2 ** options.windowScale;
    const o = this.out;
    o.srcMac = options.local.mac;
    o.dstMac = options.remote.mac;
    o.srcIp = options.local.ip;
    o.dstIp = options.remote.ip;
    o.dstPort = options.remote.port;
    o.timestamps = true;
    // The client never limits the server: the largest window field.
    o.window = 0xffff;
    const s = options.stats;
    this.synsSent = s.counter('syn-sent');
    this.synAcksReceived = s.counter('syn-ack-received');
    this.establishedCount = s.counter('established');
    this.finsReceived = s.counter('fin-received');
    this.finsSent = s.counter('fin-sent');
    this.closedCount = s.counter('closed');
    this.abortedCount = s.counter('aborted');
    this.segmentsOut = s.counter('segments-out');
    this.segmentsIn = s.counter('segments-in');
    this.bytesIn = s.counter('bytes-in');
    this.retransmits = s.counter('retransmitted-segments');
    this.timeouts = s.counter('timeouts');
    this.counters = { retransmittedSegments: this.retransmits, timeouts: this.timeouts };
    this.outOfOrder = s.counter('out-of-order');
    this.ignored = s.counter('rx-ignored');
    this.wireRefused = s.counter('wire-refused');
    this.poolExhausted = s.counter('pool-exhausted');
    this.timer = this.sim.event('tcp-client.timer', () => this.tick());
    this.port.connect(this);
  }

  /** Connections not yet fully closed. */
  get openConnections(): number {
    return this.active.length;
  }

  /** connect(): sends a SYN from the next ephemeral port; null (counted) if the pool is exhausted. */
  connect(): ClientConnection | null {
    let c = this.free.pop();
    if (c === undefined) {
      if (this.pool.length >= this.options.maxConnections) {
        this.poolExhausted.inc();
        return null;
      }
      c = new ClientConnection(this.pool.length, this.options.sendBuffer);
      this.pool.push(c);
    }
    const o = this.options;
    // The next ephemeral port not in use.
    for (;;) {
      const p = this.nextPort;
      this.nextPort = p >= o.lastPort ? o.firstPort : p + 1;
      if (this.byPort[p] === -1) {
        c.localPort = p;
        break;
      }
    }
    this.byPort[c.localPort] = c.id;
    c.state = CLIENT_STATE.SYN_SENT;
    // socket() and connect() start when the CPU gets to them.
    c.openedAt = Math.max(this.sim.now, this.kernel.cpuFreeAt);
    this.kernel.connectCall();
    c.iss = o.random.nextUint32();
    c.sndUna = -1;
    c.sndNxt = -1;
    c.sndMax = -1;
    c.written = 0;
    c.sndWnd = 0;
    c.closing = false;
    c.rcvNxt = 0;
    c.unackedSegments = 0;
    c.unackedSince = -1;
    c.tsRecent = 0;
    c.rto = o.rtoPs;
    c.rtoDeadline = -1;
    c.retries = 0;
    c.r0 = c.r1 = c.r2 = 0;
    c.activeIndex = this.active.length;
    this.active.push(c);
    this.output(c);
    if (!this.timer.scheduled) this.sim.reschedule(this.timer, this.sim.now + o.timerIntervalPs);
    return c;
  }

  /** send(): queues `src[offset, offset + length)` and transmits within the server's window; the bytes queued. */
  send(c: ClientConnection, src: Uint8Array, offset: number, length: number): number {
    if (c.closing || (c.state !== CLIENT_STATE.ESTABLISHED && c.state !== CLIENT_STATE.CLOSE_WAIT)) return 0;
    const ring = c.sndRing;
    const size = ring.length;
    const n = Math.min(length, size - (c.written - Math.max(c.sndUna, 0)));
    let at = c.written % size;
    let done = 0;
    while (done < n) {
      const chunk = Math.min(n - done, size - at);
      ring.set(src.subarray(offset + done, offset + done + chunk), at);
      done += chunk;
      at = (at + chunk) % size;
    }
    c.written += n;
    this.kernel.sendCall(n);
    this.output(c);
    return n;
  }

  /** close(): a FIN after the queued data. */
  close(c: ClientConnection): void {
    if (c.closing || c.state === CLIENT_STATE.CLOSED) return;
    c.closing = true;
    this.kernel.closeCall();
    if (c.state === CLIENT_STATE.CLOSE_WAIT) c.state = CLIENT_STATE.LAST_ACK;
    else if (c.state === CLIENT_STATE.ESTABLISHED) c.state = CLIENT_STATE.FIN_WAIT_1;
    this.output(c);
  }

  receiveFrame(data: Uint8Array, length: number): void {
    const seg = this.seg;
    const o = this.options;
    if (
      !readTcpSegment(data, length - ETH_FCS_LEN, seg) ||
      seg.srcIp !== o.remote.ip ||
      seg.srcPort !== o.remote.port ||
      seg.dstIp !== o.local.ip
    ) {
      this.ignored.inc();
      return;
    }
    const id = this.byPort[seg.dstPort]!;
    if (id < 0) {
      this.ignored.inc();
      return;
    }
    const c = this.pool[id]!;
    this.segmentsIn.inc();
    const flags = seg.flags;
    if (seg.timestamps) c.tsRecent = seg.tsVal;
    if (c.state === CLIENT_STATE.SYN_SENT) {
      if (
        (flags & (TCP_FLAG.SYN | TCP_FLAG.ACK)) !== (TCP_FLAG.SYN | TCP_FLAG.ACK) ||
        seg.ack !== (c.iss + 1) >>> 0
      ) {
        this.ignored.inc();
        return;
      }
      this.synAcksReceived.inc();
      this.establishedCount.inc();
      c.rcvNxt = (seg.seq + 1) >>> 0;
      c.sndUna = 0;
      c.sndNxt = Math.max(c.sndNxt, 0);
      c.sndWnd = seg.window; // never scaled in a SYN (RFC 7323 §2.2)
      c.state = CLIENT_STATE.ESTABLISHED;
      c.retries = 0;
      c.rtoDeadline = -1;
      c.rto = o.rtoPs;
      // The third ACK of the handshake, then whatever the application sends.
      this.sendSegment(c, this.seqOf(c, 0), TCP_FLAG.ACK, 0);
      this.handler.established(c);
      return;
    }
    if ((flags & TCP_FLAG.SYN) !== 0) {
      // A retransmitted SYN-ACK: our third ACK was lost; acknowledge again.
      this.sendSegment(c, this.seqOf(c, c.sndNxt), TCP_FLAG.ACK, 0);
      return;
    }
    if ((flags & TCP_FLAG.ACK) !== 0) {
      const ackOff = c.sndUna + ((seg.ack - this.seqOf(c, c.sndUna)) | 0);
      if (ackOff > c.sndUna && ackOff <= c.sndMax) {
        c.sndUna = ackOff;
        if (c.sndNxt < ackOff) c.sndNxt = ackOff;
        c.retries = 0;
        c.rto = o.rtoPs;
        c.rtoDeadline = c.sndMax > c.sndUna ? this.sim.now + c.rto : -1;
        if (c.closing && c.sndUna === c.written + 1) {
          if (c.state === CLIENT_STATE.LAST_ACK) {
            this.release(c, false);
            return;
          }
          if (c.state === CLIENT_STATE.FIN_WAIT_1) c.state = CLIENT_STATE.FIN_WAIT_2;
        }
      }
      c.sndWnd = seg.window * this.windowUnit;
    }
    const len = seg.payloadLength;
    const fin = (flags & TCP_FLAG.FIN) !== 0;
    if (len > 0 || fin) {
      if (seg.seq >>> 0 !== c.rcvNxt) {
        this.outOfOrder.inc();
        this.sendSegment(c, this.seqOf(c, c.sndNxt), TCP_FLAG.ACK, 0);
        return;
      }
      if (len > 0) {
        c.rcvNxt = (c.rcvNxt + len) >>> 0;
        this.bytesIn.add(len);
        c.unackedSegments++;
        if (c.unackedSince < 0) c.unackedSince = this.sim.now;
        const before = c.unackedSegments;
        // The payload starts after the headers (IHL and data offset, RFC 791 and RFC 9293 §3.1).
        const ihl = (data[OFFSET.IP]! & 0xf) * 4;
        const start = OFFSET.IP + ihl + (data[OFFSET.IP + ihl + 12]! >>> 4) * 4;
        this.handler.data(c, data, start, len);
        // Whatever the handler sent carried the ACK; otherwise ACK every second segment.
        if (c.unackedSegments === before && c.unackedSegments >= 2 && !fin)
          this.sendSegment(c, this.seqOf(c, c.sndNxt), TCP_FLAG.ACK, 0);
      }
      if (fin) {
        this.finsReceived.inc();
        c.rcvNxt = (c.rcvNxt + 1) >>> 0;
        if (c.state === CLIENT_STATE.ESTABLISHED) c.state = CLIENT_STATE.CLOSE_WAIT;
        else if (c.state === CLIENT_STATE.FIN_WAIT_2 || c.state === CLIENT_STATE.FIN_WAIT_1) {
          // Both FINs: acknowledge and finish (TIME-WAIT on the client is not kept).
          this.sendSegment(c, this.seqOf(c, c.sndNxt), TCP_FLAG.ACK, 0);
          this.release(c, false);
          return;
        }
        this.handler.peerClosed(c);
        // If the application did not close at once (its FIN would carry the ACK), ACK the FIN now.
        if (c.state === CLIENT_STATE.CLOSE_WAIT)
          this.sendSegment(c, this.seqOf(c, c.sndNxt), TCP_FLAG.ACK, 0);
      }
    }
  }

  private seqOf(c: ClientConnection, offset: number): number {
    return (c.iss + 1 + offset) >>> 0;
  }

  private output(c: ClientConnection): void {
    const o = this.options;
    if (c.state === CLIENT_STATE.SYN_SENT) {
      if (c.sndNxt < 0) {
        if (!this.sendSegment(c, c.iss, TCP_FLAG.SYN, 0)) return;
        this.synsSent.inc();
        if (c.sndMax >= 0) this.retransmits.inc();
        c.sndNxt = 0;
        c.sndMax = Math.max(c.sndMax, 0);
      }
    } else {
      for (;;) {
        if (c.sndNxt < c.written) {
          const flight = c.sndNxt - c.sndUna;
          const len = Math.min(o.mss, c.written - c.sndNxt, c.sndWnd - flight);
          if (len <= 0) break;
          const fin = c.closing && c.sndNxt + len === c.written;
          let flags = TCP_FLAG.ACK | TCP_FLAG.PSH;
          if (fin) flags |= TCP_FLAG.FIN;
          if (!this.sendSegment(c, this.seqOf(c, c.sndNxt), flags, len)) break;
          if (c.sndNxt < c.sndMax) this.retransmits.inc();
          if (fin) this.finsSent.inc();
          c.sndNxt += len + (fin ? 1 : 0);
        } else if (c.closing && c.sndNxt === c.written) {
          if (!this.sendSegment(c, this.seqOf(c, c.sndNxt), TCP_FLAG.FIN | TCP_FLAG.ACK, 0)) break;
          if (c.sndNxt < c.sndMax) this.retransmits.inc();
          this.finsSent.inc();
          c.sndNxt += 1;
        } else break;
        if (c.sndNxt > c.sndMax) c.sndMax = c.sndNxt;
      }
    }
    if (c.sndNxt > c.sndMax) c.sndMax = c.sndNxt;
    if (c.rtoDeadline < 0 && c.sndMax > c.sndUna) c.rtoDeadline = this.sim.now + c.rto;
  }

  /** Builds and transmits one segment; false (counted) if the wire refused it. */
  private sendSegment(c: ClientConnection, seq: number, flags: number, length: number): boolean {
    const f = this.out;
    f.srcPort = c.localPort;
    f.seq = seq;
    f.ack = c.state === CLIENT_STATE.SYN_SENT ? 0 : c.rcvNxt;
    f.flags = flags;
    f.payloadLength = length;
    f.ipId = this.ipId = (this.ipId + 1) & 0xffff;
    f.tsVal = (Math.floor(this.sim.now / TS_TICK_PS) + 1) >>> 0;
    f.tsEcr = c.tsRecent;
    const hdr = tcpHeadersLength(true);
    const frameLen = writeTcpSegment(this.frame, f);
    if (length > 0) {
      const ring = c.sndRing;
      const start = (seq - this.seqOf(c, 0)) >>> 0;
      const at = start % ring.length;
      const first = Math.min(length, ring.length - at);
      this.frame.set(ring.subarray(at, at + first), hdr);
      if (length > first) this.frame.set(ring.subarray(0, length - first), hdr + first);
    }
    this.kernel.transmitSkb();
    if (!this.port.transmit(this.frame, 0, frameLen + ETH_FCS_LEN)) {
      this.wireRefused.inc();
      return false;
    }
    this.segmentsOut.inc();
    if ((flags & TCP_FLAG.ACK) !== 0) {
      c.unackedSegments = 0;
      c.unackedSince = -1;
    }
    return true;
  }

  /** Every connection's timers: retransmission (go back to SND.UNA) and the delayed ACK. */
  private tick(): void {
    const now = this.sim.now;
    const o = this.options;
    for (let i = 0; i < this.active.length; i++) {
      const c = this.active[i]!;
      if (c.rtoDeadline >= 0 && now >= c.rtoDeadline) {
        c.rtoDeadline = -1;
        this.timeouts.inc();
        if (++c.retries > o.maxRetransmissions) {
          this.release(c, true);
          i--;
          continue;
        }
        c.rto *= 2;
        c.sndNxt = c.sndUna;
        this.output(c);
      }
      if (c.unackedSince >= 0 && now - c.unackedSince >= o.delayedAckPs) {
        this.sendSegment(c, this.seqOf(c, c.sndNxt), TCP_FLAG.ACK, 0);
      }
    }
    if (this.active.length > 0) this.sim.reschedule(this.timer, now + o.timerIntervalPs);
  }

  private release(c: ClientConnection, aborted: boolean): void {
    (aborted ? this.abortedCount : this.closedCount).inc();
    c.state = CLIENT_STATE.CLOSED;
    this.byPort[c.localPort] = -1;
    const i = c.activeIndex;
    const last = this.active.pop()!;
    if (last !== c) {
      this.active[i] = last;
      last.activeIndex = i;
    }
    c.activeIndex = -1;
    this.free.push(c);
    this.handler.closed(c, aborted);
  }
}

function validate(o: TcpClientOptions): void {
  const int = (v: number, lo: number, hi: number, what: string): void => {
    if (!Number.isSafeInteger(v) || v < lo || v > hi) {
      throw new WorkloadConfigError(`tcp client: ${what} must be an integer in [${lo}, ${hi}], got ${v}`);
    }
  };
  int(o.mss, 1, 1460, 'mss');
  int(o.windowScale, 0, 14, 'windowScale');
  int(o.maxConnections, 1, 28232, 'maxConnections');
  int(o.sendBuffer, 1, 2 ** 24, 'sendBuffer');
  int(o.firstPort, 1, 0xffff, 'firstPort');
  int(o.lastPort, o.firstPort, 0xffff, 'lastPort (at least firstPort)');
  if (o.lastPort - o.firstPort + 1 < o.maxConnections) {
    throw new WorkloadConfigError(
      `tcp client: the port range ${o.firstPort}–${o.lastPort} is smaller than maxConnections (${o.maxConnections})`,
    );
  }
  int(o.rtoPs, 1, Number.MAX_SAFE_INTEGER, 'rtoPs');
  int(o.delayedAckPs, 1, Number.MAX_SAFE_INTEGER, 'delayedAckPs');
  int(o.timerIntervalPs, 1, Number.MAX_SAFE_INTEGER, 'timerIntervalPs');
  int(o.maxRetransmissions, 1, 1000, 'maxRetransmissions');
  int(o.remote.port, 1, 0xffff, 'remote.port');
}
