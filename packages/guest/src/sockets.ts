import { TCP_FLAG, type TcpSegmentFields, type UdpDatagramFields } from '@exitless/net';
import type { Counter, Gauge, ScopedStats } from '@exitless/sim';
import type { PhysicalMemory } from '@exitless/x86';

/**
 * What the socket layer needs from the kernel: its transmit path (frames written into the
 * VF's TX ring, handed over by the caller's next TDT write), a way to charge stack cycles
 * to whichever context runs the protocol (NET_RX softirq, a system call, the timer tick),
 * and the clock. `GuestKernel` implements it.
 */
export interface SocketTransmit {
  /**
   * Builds a TCP segment from `f` in the next TX buffer, its payload (`f.payloadLength`
   * bytes) copied from `ring` starting at index `start` and wrapping at the ring's end, and
   * posts its descriptor. Returns false (nothing written) when the TX ring is full.
   */
  transmitTcp(f: TcpSegmentFields, ring: Uint8Array | null, start: number): boolean;
  /** Builds and posts a UDP datagram from `f` (payload bytes are the buffer's); false when the ring is full. */
  transmitUdp(f: UdpDatagramFields): boolean;
  /** Adds stack cycles to the running context's cost. */
  charge(cycles: number): void;
  /** Current simulated time, ps. */
  readonly now: number;
}

/** A TCP listening socket and the connections it accepts (RFC 9293 §3.3.2's passive open). */
export interface TcpServerOptions {
  /** Local port the server listens on. */
  readonly port: number;
  /** Connections open at once (the pool of connection objects); a SYN beyond it is dropped and counted. */
  readonly maxConnections: number;
  /** listen() backlog: connections in SYN-RECEIVED or not yet accepted; a SYN beyond it is dropped. */
  readonly backlog: number;
  /** Maximum segment size, payload bytes (1448 with timestamps on a 1500-byte MTU). */
  readonly mss: number;
  /** Socket receive buffer per connection, bytes (its free space is the advertised window). */
  readonly receiveBuffer: number;
  /** Socket send buffer per connection, bytes (what write() can queue before it blocks). */
  readonly sendBuffer: number;
  /**
   * Window scale shift (RFC 7323 §2.3) both ends use. The SYN options other than timestamps
   * are not encoded on the wire, so the two ends are configured alike.
   */
  readonly windowScale: number;
  /** Initial congestion window, segments (RFC 6928: 10; Linux since 2.6.39). */
  readonly initialWindowSegments: number;
  /** RTO before the first ACK (RFC 6298 §2.1: 1 s), ps. */
  readonly initialRtoPs: number;
  /** RTO floor once the connection is up (Linux TCP_RTO_MIN: 200 ms), ps. */
  readonly minRtoPs: number;
  /** RTO ceiling after backoff (Linux TCP_RTO_MAX: 120 s), ps. */
  readonly maxRtoPs: number;
  /** Retransmissions of one segment before the connection is aborted (Linux tcp_retries2: 15). */
  readonly maxRetransmissions: number;
  /** Delayed-ACK timeout (Linux TCP_DELACK_MIN: 40 ms), ps. */
  readonly delayedAckPs: number;
}

/** A bound UDP socket. */
export interface UdpSocketOptions {
  /** The UDP port bound. */
  readonly port: number;
  /** Datagrams the receive queue holds; more are dropped and counted (a full SO_RCVBUF). */
  readonly queueLength: number;
}

/** TCP connection states (RFC 9293 §3.3.2), those a passive opener passes through. */
export const TCP_STATE = {
  /** No connection (the object is free in the pool). */
  CLOSED: 0,
  /** SYN received, SYN-ACK sent. */
  SYN_RECEIVED: 1,
  /** Established: data flows both ways. */
  ESTABLISHED: 2,
  /** The peer closed (FIN received); the application has not. */
  CLOSE_WAIT: 3,
  /** FIN sent after the peer's; waiting for its ACK. */
  LAST_ACK: 4,
  /** The application closed first: FIN sent, not yet acknowledged. */
  FIN_WAIT_1: 5,
  /** Our FIN acknowledged; waiting for the peer's FIN. */
  FIN_WAIT_2: 6,
  /** Both sides sent FIN at once; waiting for the ACK of ours. */
  CLOSING: 7,
  /** Both FINs acknowledged; waiting out 2·MSL. */
  TIME_WAIT: 8,
} as const;

/** Linux's TCP timestamp clock ticks once per millisecond (RFC 7323 §5.4: 1 ms to 1 s). */
const TS_TICK_PS = 1_000_000_000;

/**
 * One TCP connection of a server (a pooled object: the `id` stays, the connection it holds
 * changes). Sequence numbers of the send side are kept as offsets from ISS + 1 (the SYN is
 * offset −1, data bytes 0…, the FIN the offset after the last data byte), exact in a double;
 * the wire carries them modulo 2^32. Bytes really flow: the payload the NIC wrote into the
 * RX buffer is copied into the receive ring, and segments are built from the send ring.
 */
export class TcpConnection {
  /** Index in the listener's pool: stable, so an application can keep per-connection state by it. */
  readonly id: number;
  /** A TCP_STATE value. */
  state: number = TCP_STATE.CLOSED;
  /** The peer's MAC address. */
  peerMac = 0;
  /** The peer's IPv4 address. */
  peerIp = 0;
  /** The peer's TCP port. */
  peerPort = 0;
  /** Simulated time the SYN arrived, ps. */
  openedAt = 0;

  // Receive side (RFC 9293 §3.3.1): RCV.NXT modulo 2^32; RCV.NXT at the last ACK sent.
  /** @internal */ rcvNxt = 0;
  /** @internal */ rcvWup = 0;
  /** @internal */ rcvHead = 0;
  /** @internal */ rcvCount = 0;
  /** @internal */ readonly rcvRing: Uint8Array;
  /** The peer's FIN has arrived (the application reads EOF after the queued bytes). */
  peerFin = false;
  /** @internal */ ackNow = false;
  /** Window advertised in the last segment sent, bytes. @internal */ lastWindow = 0;
  /** @internal */ unackedSince = -1;
  /** @internal */ tsRecent = 0;

  // Send side: SND.UNA, SND.NXT and the highest offset sent, as offsets from ISS + 1.
  /** @internal */ iss = 0;
  /** @internal */ sndUna = -1;
  /** @internal */ sndNxt = -1;
  /** @internal */ sndMax = -1;
  /** Data bytes the application has written in all. @internal */ written = 0;
  /** @internal */ sndWnd = 0;
  /** @internal */ cwnd = 0;
  /** @internal */ readonly sndRing: Uint8Array;
  /** The application called close(): a FIN follows the data. */
  closing = false;
  /** @internal */ rto = 0;
  /** @internal */ rtoDeadline = -1;
  /** @internal */ retries = 0;
  /** @internal */ probe = false;

  /** @internal */ accepted = false;
  /** @internal */ inAccept = false;
  /** @internal */ nextAccept: TcpConnection | null = null;
  /** @internal */ inReady = false;
  /** @internal */ nextReady: TcpConnection | null = null;
  /** The application could not write everything: notify it when send space frees. @internal */
  wantWrite = false;
  /** @internal */ txBlocked = false;
  /** @internal */ activeIndex = -1;
  /** @internal */ readonly listener: TcpListener;

  constructor(listener: TcpListener, id: number, receiveBuffer: number, sendBuffer: number) {
    this.listener = listener;
    this.id = id;
    this.rcvRing = new Uint8Array(receiveBuffer);
    this.sndRing = new Uint8Array(sendBuffer);
  }

  /** Bytes queued for the application. */
  get readable(): number {
    return this.rcvCount;
  }

  /** True when the peer has closed its side and every byte has been read (read() returns EOF). */
  get eof(): boolean {
    return this.peerFin && this.rcvCount === 0;
  }

  /** Free space in the send buffer, bytes. */
  get writeSpace(): number {
    const una = Math.min(Math.max(this.sndUna, 0), this.written);
    return this.sndRing.length - (this.written - una);
  }

  /** Free space in the receive buffer, bytes: the window the connection can offer. */
  get receiveSpace(): number {
    return this.rcvRing.length - this.rcvCount;
  }

  /** Bytes written by the application and not yet acknowledged by the peer. */
  get unacknowledged(): number {
    return this.written - Math.min(Math.max(this.sndUna, 0), this.written);
  }

  /** recv(): copies up to `max` queued bytes into `dst[offset…]` and returns how many. */
  read(dst: Uint8Array, offset: number, max: number): number {
    const n = Math.min(max, this.rcvCount);
    const ring = this.rcvRing;
    const size = ring.length;
    const first = Math.min(n, size - this.rcvHead);
    dst.set(ring.subarray(this.rcvHead, this.rcvHead + first), offset);
    if (n > first) dst.set(ring.subarray(0, n - first), offset + first);
    this.rcvHead = (this.rcvHead + n) % size;
    this.rcvCount -= n;
    if (n > 0) this.listener.afterRead(this);
    return n;
  }

  /**
   * send(): queues up to `length` bytes of `src[offset…]` in the send buffer and transmits
   * what the windows allow at once (tcp_push). Returns the bytes queued; fewer than asked
   * means the buffer is full, and the application is told (its ready queue) when space frees.
   */
  write(src: Uint8Array, offset: number, length: number): number {
    if (this.closing || (this.state !== TCP_STATE.ESTABLISHED && this.state !== TCP_STATE.CLOSE_WAIT))
      return 0;
    const n = Math.min(length, this.writeSpace);
    const ring = this.sndRing;
    const size = ring.length;
    let at = this.written % size;
    let done = 0;
    while (done < n) {
      const chunk = Math.min(n - done, size - at);
      ring.set(src.subarray(offset + done, offset + done + chunk), at);
      done += chunk;
      at = (at + chunk) % size;
    }
    this.written += n;
    this.wantWrite = n < length;
    if (n > 0) this.listener.output(this);
    return n;
  }

  /** close(): a FIN follows the queued data; the kernel finishes the connection on its own. */
  close(): void {
    if (this.closing || this.state === TCP_STATE.CLOSED) return;
    this.closing = true;
    this.wantWrite = false;
    if (this.state === TCP_STATE.ESTABLISHED || this.state === TCP_STATE.SYN_RECEIVED)
      this.state = TCP_STATE.FIN_WAIT_1;
    else if (this.state === TCP_STATE.CLOSE_WAIT) this.state = TCP_STATE.LAST_ACK;
    this.listener.output(this);
  }
}

/**
 * A listening TCP socket and its connections: passive open (SYN → SYN-ACK → ACK, then the
 * accept queue), data both ways (in-order receive into the socket buffer, Linux's ACK policy
 * without quick-ACK mode; MSS segments out within min(cwnd, SND.WND), slow start per ACK),
 * one retransmission timer per connection (go back to SND.UNA, cwnd to one segment,
 * exponential backoff, probes through a zero window), and both closes: the FIN handshake when
 * the application closes first (FIN-WAIT-1/2, CLOSING, TIME-WAIT) or the peer does
 * (CLOSE-WAIT, LAST-ACK). Timers run on the kernel's tick, like Linux's jiffies-based TCP
 * timers. Connections come from a fixed pool; no object is created per segment.
 */
export class TcpListener {
  /** The options the listener was made with. */
  readonly options: TcpServerOptions;
  private readonly tx: SocketTransmit;
  private readonly connectionSetupCycles: number;
  private readonly pool: TcpConnection[] = [];
  private readonly free: TcpConnection[] = [];
  /** Open connections (for the timers), swap-removed by `activeIndex`. */
  private readonly active: TcpConnection[] = [];
  /** Connections by peer IP, then by peer port (one Map per peer address). */
  private readonly byPeer = new Map<number, Map<number, TcpConnection>>();
  private acceptHead: TcpConnection | null = null;
  private acceptTail: TcpConnection | null = null;
  private acceptCount = 0;
  private synReceivedCount = 0;
  private readyHead: TcpConnection | null = null;
  private readyTail: TcpConnection | null = null;
  private issCounter = 0;
  private readonly out: TcpSegmentFields;
  private readonly localMac: number;
  private readonly localIp: number;
  private readonly windowUnit: number;
  /** Some connection could not transmit for a full TX ring. */
  private blocked = false;

  private readonly synsReceived: Counter;
  private readonly synsDropped: Counter;
  private readonly synAcksSent: Counter;
  private readonly established: Counter;
  private readonly acceptedCount: Counter;
  private readonly finsReceived: Counter;
  private readonly finsSent: Counter;
  private readonly closed: Counter;
  private readonly timeWait: Counter;
  private readonly aborted: Counter;
  private readonly segmentsIn: Counter;
  private readonly segmentsOut: Counter;
  private readonly dataSegmentsOut: Counter;
  private readonly pureAcks: Counter;
  private readonly bytesIn: Counter;
  private readonly bytesOut: Counter;
  private readonly retransmits: Counter;
  private readonly timeouts: Counter;
  private readonly outOfOrder: Counter;
  private readonly noConnection: Counter;
  private readonly txRingFull: Counter;
  private readonly openGauge: Gauge;

  /** @internal (GuestKernel.listenTcp builds listeners) */
  constructor(
    options: TcpServerOptions,
    tx: SocketTransmit,
    local: { readonly mac: number; readonly ip: number },
    connectionSetupCycles: number,
    out: TcpSegmentFields,
    stats: ScopedStats,
  ) {
    this.options = options;
    this.tx = tx;
    this.connectionSetupCycles = connectionSetupCycles;
    this.out = out;
    this.localMac = local.mac;
    this.localIp = local.ip;
    this.windowUnit = 2 ** options.windowScale;
    this.synsReceived = stats.counter('syn-received');
    this.synsDropped = stats.counter('syn-dropped');
    this.synAcksSent = stats.counter('syn-ack-sent');
    this.established = stats.counter('established');
    this.acceptedCount = stats.counter('accepted');
    this.finsReceived = stats.counter('fin-received');
    this.finsSent = stats.counter('fin-sent');
    this.closed = stats.counter('closed');
    this.timeWait = stats.counter('time-wait');
    this.aborted = stats.counter('aborted');
    this.segmentsIn = stats.counter('segments-in');
    this.segmentsOut = stats.counter('segments-out');
    this.dataSegmentsOut = stats.counter('data-segments-out');
    this.pureAcks = stats.counter('pure-acks-out');
    this.bytesIn = stats.counter('bytes-in');
    this.bytesOut = stats.counter('bytes-out');
    this.retransmits = stats.counter('retransmitted-segments');
    this.timeouts = stats.counter('timeouts');
    this.outOfOrder = stats.counter('out-of-order');
    this.noConnection = stats.counter('no-connection');
    this.txRingFull = stats.counter('tx-ring-full');
    this.openGauge = stats.gauge('open-connections');
    this.counters = {
      accepted: this.acceptedCount,
      retransmittedSegments: this.retransmits,
      timeouts: this.timeouts,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
    };
  }

  /** What a report reads of the listener, as typed counters (also in its stats scope, `guest<i>.tcp<port>.…`). */
  readonly counters: {
    /** Connections accepted. */
    readonly accepted: Counter;
    /** Segments sent again after a retransmission timeout. */
    readonly retransmittedSegments: Counter;
    /** Retransmission timeouts. */
    readonly timeouts: Counter;
    /** Payload bytes received. */
    readonly bytesIn: Counter;
    /** Payload bytes sent. */
    readonly bytesOut: Counter;
  };

  /** The TCP port listened on. */
  get port(): number {
    return this.options.port;
  }

  /** Connections open now (any state but CLOSED). */
  get openConnections(): number {
    return this.active.length;
  }

  /** True when accept() or nextReady() has something. */
  get pending(): boolean {
    return this.acceptHead !== null || this.readyHead !== null;
  }

  /** accept(): the oldest established connection not yet accepted, or null. */
  accept(): TcpConnection | null {
    const c = this.acceptHead;
    if (c === null) return null;
    this.acceptHead = c.nextAccept;
    if (this.acceptHead === null) this.acceptTail = null;
    c.nextAccept = null;
    c.inAccept = false;
    c.accepted = true;
    this.acceptCount--;
    this.acceptedCount.inc();
    if (c.rcvCount > 0 || c.peerFin) this.markReady(c);
    return c;
  }

  /** The next accepted connection with something to do (data, EOF, send space): epoll's ready list. */
  nextReady(): TcpConnection | null {
    const c = this.readyHead;
    if (c === null) return null;
    this.readyHead = c.nextReady;
    if (this.readyHead === null) this.readyTail = null;
    c.nextReady = null;
    c.inReady = false;
    return c;
  }

  private markReady(c: TcpConnection): void {
    if (c.inReady || !c.accepted || c.closing) return;
    c.inReady = true;
    if (this.readyTail === null) this.readyHead = c;
    else this.readyTail.nextReady = c;
    this.readyTail = c;
  }

  private lookup(ip: number, port: number): TcpConnection | undefined {
    return this.byPeer.get(ip)?.get(port);
  }

  private allocate(): TcpConnection | null {
    const c = this.free.pop();
    if (c !== undefined) return c;
    if (this.pool.length >= this.options.maxConnections) return null;
    const made = new TcpConnection(
      this,
      this.pool.length,
      this.options.receiveBuffer,
      this.options.sendBuffer,
    );
    this.pool.push(made);
    return made;
  }

  private seqOf(c: TcpConnection, offset: number): number {
    return (c.iss + 1 + offset) >>> 0;
  }

  /**
   * One segment for this listener's port, its payload at guest-physical `payloadAddress`
   * (where the NIC's DMA put it). Runs in the NET_RX softirq.
   */
  receive(seg: TcpSegmentFields, memory: PhysicalMemory, payloadAddress: number): void {
    this.segmentsIn.inc();
    const c = this.lookup(seg.srcIp, seg.srcPort);
    const flags = seg.flags;
    if (c === undefined) {
      if ((flags & (TCP_FLAG.SYN | TCP_FLAG.ACK | TCP_FLAG.RST)) === TCP_FLAG.SYN) this.passiveOpen(seg);
      // Anything else for no connection would get a RST (RFC 9293 §3.10.7.1); not modeled.
      else this.noConnection.inc();
      return;
    }
    if ((flags & TCP_FLAG.RST) !== 0) {
      this.release(c, this.aborted);
      return;
    }
    if ((flags & TCP_FLAG.SYN) !== 0) {
      // A retransmitted SYN: the SYN-ACK was lost or is late; send it again.
      if (c.state === TCP_STATE.SYN_RECEIVED) {
        c.sndNxt = -1;
        this.output(c);
      }
      return;
    }
    if (seg.timestamps) c.tsRecent = seg.tsVal;
    if ((flags & TCP_FLAG.ACK) !== 0) this.processAck(c, seg);
    if (c.state === TCP_STATE.CLOSED) return;
    const len = seg.payloadLength;
    const fin = (flags & TCP_FLAG.FIN) !== 0;
    if (
      (len > 0 || fin) &&
      c.state !== TCP_STATE.SYN_RECEIVED &&
      c.state !== TCP_STATE.TIME_WAIT &&
      !c.peerFin
    ) {
      this.processData(c, seg.seq >>> 0, len, fin, memory, payloadAddress);
    } else if (len > 0 || fin) {
      // Data beyond a FIN already received, or a retransmission of it: acknowledge again.
      c.ackNow = true;
    }
    // An ACK that opened the window clocks out what waits; an owed ACK goes out now.
    const waiting = c.sndNxt >= 0 && (c.sndNxt < c.written || (c.closing && c.sndNxt === c.written));
    if (c.ackNow || c.txBlocked || waiting) this.output(c);
    if (c.state === TCP_STATE.TIME_WAIT && !c.ackNow) {
      // TIME-WAIT would hold the pair for 2 MSL (60 s in Linux); the pool slot is released at
      // once, the pair's later segments are counted as `no-connection`.
      this.release(c, this.timeWait);
    }
  }

  private passiveOpen(seg: TcpSegmentFields): void {
    this.synsReceived.inc();
    if (this.synReceivedCount + this.acceptCount >= this.options.backlog) {
      this.synsDropped.inc();
      return;
    }
    const c = this.allocate();
    if (c === null) {
      this.synsDropped.inc();
      return;
    }
    const o = this.options;
    c.state = TCP_STATE.SYN_RECEIVED;
    this.synReceivedCount++;
    c.peerMac = seg.srcMac;
    c.peerIp = seg.srcIp;
    c.peerPort = seg.srcPort;
    c.openedAt = this.tx.now;
    c.rcvNxt = (seg.seq + 1) >>> 0;
    c.rcvWup = c.rcvNxt;
    c.rcvHead = 0;
    c.rcvCount = 0;
    c.peerFin = false;
    c.ackNow = false;
    c.unackedSince = -1;
    c.tsRecent = seg.timestamps ? seg.tsVal : 0;
    // ISS: Linux hashes the addresses with a secret and a clock (RFC 6528); a counter through
    // a multiplicative hash keeps it deterministic and spread over the sequence space.
    c.iss = Math.imul(++this.issCounter, 0x9e3779b1) >>> 0;
    c.sndUna = -1;
    c.sndNxt = -1;
    c.sndMax = -1;
    c.written = 0;
    // The window of a SYN is never scaled (RFC 7323 §2.2).
    c.sndWnd = seg.window;
    c.cwnd = o.initialWindowSegments * o.mss;
    c.closing = false;
    c.rto = o.initialRtoPs;
    c.rtoDeadline = -1;
    c.retries = 0;
    c.probe = false;
    c.accepted = false;
    c.inAccept = false;
    c.inReady = false;
    c.wantWrite = false;
    c.txBlocked = false;
    let peers = this.byPeer.get(c.peerIp);
    if (peers === undefined) {
      peers = new Map();
      this.byPeer.set(c.peerIp, peers);
    }
    peers.set(c.peerPort, c);
    c.activeIndex = this.active.length;
    this.active.push(c);
    this.openGauge.set(this.active.length);
    // tcp_v4_conn_request: the request sock, the route, the SYN-ACK's headers.
    this.tx.charge(this.connectionSetupCycles);
    this.output(c);
  }

  private processAck(c: TcpConnection, seg: TcpSegmentFields): void {
    const ackOff = c.sndUna + ((seg.ack - this.seqOf(c, c.sndUna)) | 0);
    if (ackOff > c.sndUna && ackOff <= c.sndMax) {
      const acked = ackOff - Math.max(c.sndUna, 0);
      c.sndUna = ackOff;
      if (c.sndNxt < ackOff) c.sndNxt = ackOff;
      c.retries = 0;
      c.probe = false;
      c.rto = this.options.minRtoPs;
      // Slow start (RFC 5681 §3.1), one MSS per ACK of new data at most.
      if (c.state !== TCP_STATE.SYN_RECEIVED) c.cwnd += Math.min(acked, this.options.mss);
      // RFC 6298 §5.2/5.3: restart the timer while data is outstanding, stop it when none is.
      c.rtoDeadline = c.sndMax > c.sndUna ? this.tx.now + c.rto : -1;
      if (c.state === TCP_STATE.SYN_RECEIVED && c.sndUna >= 0) {
        c.state = TCP_STATE.ESTABLISHED;
        this.synReceivedCount--;
        this.established.inc();
        c.inAccept = true;
        if (this.acceptTail === null) this.acceptHead = c;
        else this.acceptTail.nextAccept = c;
        this.acceptTail = c;
        this.acceptCount++;
      }
      const finAcked = c.closing && c.sndUna === c.written + 1;
      if (finAcked) {
        if (c.state === TCP_STATE.FIN_WAIT_1) c.state = TCP_STATE.FIN_WAIT_2;
        else if (c.state === TCP_STATE.CLOSING) c.state = TCP_STATE.TIME_WAIT;
        else if (c.state === TCP_STATE.LAST_ACK) {
          this.release(c, this.closed);
          return;
        }
      }
      if (c.wantWrite && c.writeSpace > 0) this.markReady(c);
    }
    if (c.state !== TCP_STATE.SYN_RECEIVED || c.sndUna >= 0) c.sndWnd = seg.window * this.windowUnit;
  }

  private processData(
    c: TcpConnection,
    seq: number,
    len: number,
    fin: boolean,
    memory: PhysicalMemory,
    payloadAddress: number,
  ): void {
    if (seq !== c.rcvNxt) {
      // Out of order or a duplicate: dropped (no out-of-order queue), answered with an ACK at once.
      this.outOfOrder.inc();
      c.ackNow = true;
      return;
    }
    const accepted = Math.min(len, c.receiveSpace);
    if (accepted > 0) {
      const ring = c.rcvRing;
      const size = ring.length;
      const tail = (c.rcvHead + c.rcvCount) % size;
      const first = Math.min(accepted, size - tail);
      memory.readBytes(payloadAddress, ring, tail, first);
      if (accepted > first) memory.readBytes(payloadAddress + first, ring, 0, accepted - first);
      c.rcvCount += accepted;
      c.rcvNxt = (c.rcvNxt + accepted) >>> 0;
      this.bytesIn.add(accepted);
      if (c.unackedSince < 0) c.unackedSince = this.tx.now;
    }
    if (accepted < len) c.ackNow = true;
    // Linux __tcp_ack_snd_check: more than one full segment unacknowledged → ACK now.
    if ((c.rcvNxt - c.rcvWup) >>> 0 > this.options.mss) c.ackNow = true;
    if (fin && accepted === len) {
      this.finsReceived.inc();
      c.rcvNxt = (c.rcvNxt + 1) >>> 0;
      c.peerFin = true;
      c.ackNow = true;
      if (c.state === TCP_STATE.ESTABLISHED) c.state = TCP_STATE.CLOSE_WAIT;
      else if (c.state === TCP_STATE.FIN_WAIT_1)
        c.state = c.sndUna === c.written + 1 ? TCP_STATE.TIME_WAIT : TCP_STATE.CLOSING;
      else if (c.state === TCP_STATE.FIN_WAIT_2) c.state = TCP_STATE.TIME_WAIT;
    }
    if (accepted > 0 || c.peerFin) this.markReady(c);
  }

  /**
   * Transmits what the connection may send now: the SYN-ACK, data segments within
   * min(cwnd, SND.WND) (the FIN on the last one once the application closed), a lone FIN, or
   * a pure ACK if one is owed and nothing else carried it. Every segment carries RCV.NXT.
   * @internal
   */
  output(c: TcpConnection): void {
    if (c.state === TCP_STATE.CLOSED) return;
    const o = this.options;
    let sent = false;
    c.txBlocked = false;
    if (c.sndNxt < 0) {
      if (!this.sendSegment(c, c.iss, TCP_FLAG.SYN | TCP_FLAG.ACK, 0, 0, Math.min(0xffff, c.receiveSpace)))
        return;
      this.synAcksSent.inc();
      if (c.sndMax >= 0) this.retransmits.inc();
      c.sndNxt = 0;
      if (c.sndMax < 0) c.sndMax = 0;
      sent = true;
    } else if (c.state !== TCP_STATE.SYN_RECEIVED) {
      for (;;) {
        if (c.sndNxt < c.written) {
          const flight = c.sndNxt - c.sndUna;
          let len = Math.min(o.mss, c.written - c.sndNxt, Math.min(c.cwnd, c.sndWnd) - flight);
          if (len <= 0 && c.probe && flight === 0) len = Math.min(o.mss, c.written - c.sndNxt);
          if (len <= 0) break;
          const fin = c.closing && c.sndNxt + len === c.written;
          let flags = TCP_FLAG.ACK;
          if (c.sndNxt + len === c.written) flags |= TCP_FLAG.PSH;
          if (fin) flags |= TCP_FLAG.FIN;
          const at = c.sndNxt % c.sndRing.length;
          if (!this.sendSegment(c, this.seqOf(c, c.sndNxt), flags, len, at, -1)) break;
          this.dataSegmentsOut.inc();
          if (c.sndNxt < c.sndMax) this.retransmits.inc();
          else this.bytesOut.add(len);
          if (fin) this.finsSent.inc();
          c.sndNxt += len + (fin ? 1 : 0);
          sent = true;
        } else if (c.closing && c.sndNxt === c.written) {
          if (!this.sendSegment(c, this.seqOf(c, c.sndNxt), TCP_FLAG.FIN | TCP_FLAG.ACK, 0, 0, -1)) break;
          if (c.sndNxt < c.sndMax) this.retransmits.inc();
          this.finsSent.inc();
          c.sndNxt += 1;
          sent = true;
        } else break;
        if (c.sndNxt > c.sndMax) c.sndMax = c.sndNxt;
      }
    }
    if (c.sndNxt > c.sndMax) c.sndMax = c.sndNxt;
    if (!sent && c.ackNow && !c.txBlocked) {
      if (this.sendSegment(c, this.seqOf(c, c.sndNxt), TCP_FLAG.ACK, 0, 0, -1)) {
        this.pureAcks.inc();
        sent = true;
      }
    }
    // The timer runs while anything is unacknowledged, or data waits at a closed window.
    if (c.rtoDeadline < 0 && (c.sndMax > c.sndUna || c.sndNxt < c.written))
      c.rtoDeadline = this.tx.now + c.rto;
  }

  /**
   * Writes one segment of `length` payload bytes from the send ring at `ringStart`;
   * `window` −1 means "the scaled free space". False (counted) when the TX ring is full.
   */
  private sendSegment(
    c: TcpConnection,
    seq: number,
    flags: number,
    length: number,
    ringStart: number,
    window: number,
  ): boolean {
    const f = this.out;
    f.dstMac = c.peerMac;
    f.srcMac = this.localMac;
    f.srcIp = this.localIp;
    f.dstIp = c.peerIp;
    f.srcPort = this.options.port;
    f.dstPort = c.peerPort;
    f.seq = seq;
    f.ack = c.rcvNxt;
    f.flags = flags;
    f.payloadLength = length;
    const space = c.receiveSpace;
    f.window = window >= 0 ? window : Math.min(0xffff, Math.floor(space / this.windowUnit));
    f.timestamps = true;
    f.tsVal = (Math.floor(this.tx.now / TS_TICK_PS) + 1) >>> 0;
    f.tsEcr = c.tsRecent;
    if (!this.tx.transmitTcp(f, length > 0 ? c.sndRing : null, ringStart)) {
      c.txBlocked = true;
      this.blocked = true;
      this.txRingFull.inc();
      return false;
    }
    this.segmentsOut.inc();
    // Every segment carries the ACK of RCV.NXT and the window.
    c.rcvWup = c.rcvNxt;
    c.lastWindow = window >= 0 ? window : f.window * this.windowUnit;
    c.ackNow = false;
    c.unackedSince = -1;
    return true;
  }

  /**
   * After the application read: a window update when the window still open to the peer is
   * at most half the buffer and the one it could offer now is at least twice that plus an
   * MSS (Linux tcp_cleanup_rbuf). @internal
   */
  afterRead(c: TcpConnection): void {
    if (c.state === TCP_STATE.CLOSED || c.state === TCP_STATE.SYN_RECEIVED) return;
    const remaining = Math.max(0, c.lastWindow - ((c.rcvNxt - c.rcvWup) >>> 0));
    if (2 * remaining <= c.rcvRing.length && c.receiveSpace >= 2 * remaining + this.options.mss) {
      c.ackNow = true;
      this.output(c);
    }
  }

  /** Retries the connections a full TX ring held up (called after TX completions were cleaned). */
  retryBlocked(): void {
    if (!this.blocked) return;
    this.blocked = false;
    for (let i = 0; i < this.active.length; i++) {
      const c = this.active[i]!;
      if (c.txBlocked) this.output(c);
    }
  }

  /** The TCP timers on a tick: retransmission (RFC 6298 §5.4–5.7) and the delayed ACK. */
  tick(now: number): void {
    for (let i = 0; i < this.active.length; i++) {
      const c = this.active[i]!;
      if (c.rtoDeadline >= 0 && now >= c.rtoDeadline) {
        c.rtoDeadline = -1;
        this.timeouts.inc();
        if (++c.retries > this.options.maxRetransmissions) {
          this.release(c, this.aborted);
          i--;
          continue;
        }
        c.rto = Math.min(c.rto * 2, this.options.maxRtoPs);
        c.cwnd = this.options.mss;
        // Go back to SND.UNA (the SYN-ACK if the handshake is not complete).
        c.sndNxt = c.sndUna;
        c.probe = true;
        this.output(c);
      }
      if (c.unackedSince >= 0 && now - c.unackedSince >= this.options.delayedAckPs) {
        c.ackNow = true;
        this.output(c);
      }
    }
  }

  private release(c: TcpConnection, why: Counter): void {
    why.inc();
    if (c.state === TCP_STATE.SYN_RECEIVED) this.synReceivedCount--;
    c.state = TCP_STATE.CLOSED;
    this.byPeer.get(c.peerIp)?.delete(c.peerPort);
    if (c.inAccept) this.unlinkAccept(c);
    if (c.inReady) this.unlinkReady(c);
    const i = c.activeIndex;
    const last = this.active.pop()!;
    if (last !== c) {
      this.active[i] = last;
      last.activeIndex = i;
    }
    c.activeIndex = -1;
    c.accepted = false;
    this.openGauge.set(this.active.length);
    this.free.push(c);
  }

  private unlinkAccept(c: TcpConnection): void {
    let prev: TcpConnection | null = null;
    for (let x = this.acceptHead; x !== null; prev = x, x = x.nextAccept) {
      if (x !== c) continue;
      if (prev === null) this.acceptHead = x.nextAccept;
      else prev.nextAccept = x.nextAccept;
      if (this.acceptTail === x) this.acceptTail = prev;
      break;
    }
    c.nextAccept = null;
    c.inAccept = false;
    this.acceptCount--;
  }

  private unlinkReady(c: TcpConnection): void {
    let prev: TcpConnection | null = null;
    for (let x = this.readyHead; x !== null; prev = x, x = x.nextReady) {
      if (x !== c) continue;
      if (prev === null) this.readyHead = x.nextReady;
      else prev.nextReady = x.nextReady;
      if (this.readyTail === x) this.readyTail = prev;
      break;
    }
    c.nextReady = null;
    c.inReady = false;
  }
}

/**
 * A bound UDP socket (RFC 768): a receive queue of datagrams (their addresses and lengths;
 * payload bytes are not kept) and sendto() through the TX ring. A datagram that finds the
 * queue full is dropped and counted, as a full SO_RCVBUF drops it in udp_queue_rcv_skb.
 */
export class UdpSocket {
  /** The options the socket was made with. */
  readonly options: UdpSocketOptions;
  private readonly tx: SocketTransmit;
  private readonly out: UdpDatagramFields;
  private readonly localMac: number;
  private readonly localIp: number;
  private readonly srcMac: Float64Array;
  private readonly srcIp: Float64Array;
  private readonly srcPort: Int32Array;
  private readonly lengths: Int32Array;
  private head = 0;
  private count = 0;
  private readonly received: Counter;
  private readonly dropped: Counter;
  private readonly sent: Counter;
  private readonly txRingFull: Counter;
  private readonly depth: Gauge;

  /** @internal (GuestKernel.bindUdp builds sockets) */
  constructor(
    options: UdpSocketOptions,
    tx: SocketTransmit,
    local: { readonly mac: number; readonly ip: number },
    out: UdpDatagramFields,
    stats: ScopedStats,
  ) {
    this.options = options;
    this.tx = tx;
    this.out = out;
    this.localMac = local.mac;
    this.localIp = local.ip;
    const n = options.queueLength;
    this.srcMac = new Float64Array(n);
    this.srcIp = new Float64Array(n);
    this.srcPort = new Int32Array(n);
    this.lengths = new Int32Array(n);
    this.received = stats.counter('datagrams-in');
    this.dropped = stats.counter('dropped-queue-full');
    this.sent = stats.counter('datagrams-out');
    this.txRingFull = stats.counter('tx-ring-full');
    this.depth = stats.gauge('queued');
  }

  /** The UDP port bound. */
  get port(): number {
    return this.options.port;
  }

  /** Datagrams waiting in the receive queue. */
  get queued(): number {
    return this.count;
  }

  /** A datagram for this port arrived (NET_RX softirq). @internal */
  deliver(f: UdpDatagramFields): void {
    const n = this.lengths.length;
    if (this.count === n) {
      this.dropped.inc();
      return;
    }
    const i = (this.head + this.count) % n;
    this.srcMac[i] = f.srcMac;
    this.srcIp[i] = f.srcIp;
    this.srcPort[i] = f.srcPort;
    this.lengths[i] = f.payloadLength;
    this.count++;
    this.received.inc();
    this.depth.set(this.count);
  }

  /** recvfrom(): the oldest datagram's source and length into `out` (its src* fields and payloadLength); false if none. */
  recv(out: UdpDatagramFields): boolean {
    if (this.count === 0) return false;
    const i = this.head;
    out.srcMac = this.srcMac[i]!;
    out.srcIp = this.srcIp[i]!;
    out.srcPort = this.srcPort[i]!;
    out.dstMac = this.localMac;
    out.dstIp = this.localIp;
    out.dstPort = this.options.port;
    out.payloadLength = this.lengths[i]!;
    this.head = (i + 1) % this.lengths.length;
    this.count--;
    this.depth.set(this.count);
    return true;
  }

  /** sendto(): a datagram of `length` payload bytes through the TX ring; false (counted) if the ring is full. */
  sendTo(dstMac: number, dstIp: number, dstPort: number, length: number): boolean {
    const f = this.out;
    f.dstMac = dstMac;
    f.srcMac = this.localMac;
    f.srcIp = this.localIp;
    f.dstIp = dstIp;
    f.srcPort = this.options.port;
    f.dstPort = dstPort;
    f.payloadLength = length;
    if (!this.tx.transmitUdp(f)) {
      this.txRingFull.inc();
      return false;
    }
    this.sent.inc();
    return true;
  }
}
