import type { GuestApplication, GuestCosts, UdpSocket, UdpSocketOptions } from '@exitless/guest';
import {
  ETH_FCS_LEN,
  type Mac,
  makeUdpDatagramFields,
  readUdpDatagram,
  UDP_HEADERS_LEN,
  type UdpDatagramFields,
  writeUdpDatagram,
} from '@exitless/net';
import type { EthernetEndpoint } from '@exitless/nic';
import type { Counter, Histogram, ScopedStats, SimEvent, Simulator } from '@exitless/sim';
import { WorkloadConfigError } from './errors.js';
import { type PeerKernel, ZERO_COST_PEER } from './peer-host.js';
import type { SenderPort } from './tcp-stream-sender.js';

/** The part of a guest kernel a UDP server uses (a `GuestKernel` is one). */
export interface UdpKernel {
  /** The costs of recvfrom() and sendto(): the syscalls and the copies per byte. */
  readonly costs: Pick<GuestCosts, 'recvSyscall' | 'copyPerByte' | 'sendSyscall' | 'copyFromUserPerByte'>;
  /** Binds a UDP socket. */
  bindUdp(options: UdpSocketOptions, stats?: ScopedStats): UdpSocket;
}

/** Options of a {@link UdpRrServer}. */
export interface UdpRrServerOptions {
  /** The data port netserver binds (netperf's test port). */
  readonly port: number;
  /** Bytes of each response (netperf -r req,resp: the second number; default 1). */
  readonly responseSize: number;
  /** Datagrams the socket queues. */
  readonly queueLength: number;
  /** The server loop's own cycles per transaction, beyond the system calls. */
  readonly transactionCycles: number;
  /** Where the server's counters live. */
  readonly stats: ScopedStats;
}

/**
 * netserver's side of UDP_RR (recv_udp_rr in nettest_bsd.c): a loop of recvfrom() of the
 * request and sendto() of a response of `responseSize` bytes to where it came from. One
 * burst is one transaction: recvfrom (syscall + copy per byte), the loop's own cycles,
 * sendto (syscall + copy per byte; the frame's stack cost is the kernel's).
 */
export class UdpRrServer implements GuestApplication {
  /** The application's name, for reports. */
  readonly name = 'netperf-udp-rr-server';
  /** The options the server was made with. */
  readonly options: UdpRrServerOptions;
  private socket: UdpSocket | null = null;
  private kernel: UdpKernel | null = null;
  private readonly dgram: UdpDatagramFields = makeUdpDatagramFields();
  private readonly transactions: Counter;
  private readonly sendFailures: Counter;

  constructor(options: UdpRrServerOptions) {
    if (!Number.isInteger(options.responseSize) || options.responseSize < 0 || options.responseSize > 1472) {
      throw new WorkloadConfigError(
        `udp_rr: responseSize must be 0–1472 bytes (one unfragmented datagram), got ${options.responseSize}`,
      );
    }
    this.options = options;
    this.transactions = options.stats.counter('transactions');
    this.sendFailures = options.stats.counter('send-failures');
  }

  attach(kernel: UdpKernel): void {
    this.kernel = kernel;
    this.socket = kernel.bindUdp({ port: this.options.port, queueLength: this.options.queueLength });
  }

  runnable(): boolean {
    return this.socket !== null && this.socket.queued > 0;
  }

  nextBurst(_now: number): number {
    const s = this.socket;
    const k = this.kernel;
    if (s === null || k === null) throw new WorkloadConfigError('udp_rr: the server runs before attach()');
    const d = this.dgram;
    if (!s.recv(d)) return 0;
    const c = k.costs;
    const resp = this.options.responseSize;
    if (s.sendTo(d.srcMac, d.srcIp, d.srcPort, resp)) this.transactions.inc();
    else this.sendFailures.inc();
    return (
      c.recvSyscall +
      d.payloadLength * c.copyPerByte +
      this.options.transactionCycles +
      c.sendSyscall +
      resp * c.copyFromUserPerByte
    );
  }
}

/** Options of a {@link UdpRrClient}. */
export interface UdpRrClientOptions {
  /** The simulator the client runs on. */
  readonly sim: Simulator;
  /** The client's end of the wire. */
  readonly port: SenderPort;
  /** Where the client's counters live. */
  readonly stats: ScopedStats;
  /** The client's own addresses and UDP port. */
  readonly local: {
    /** Its MAC address. */
    readonly mac: Mac;
    /** Its IPv4 address. */
    readonly ip: number;
    /** Its UDP port. */
    readonly port: number;
  };
  /** The guest's netserver. */
  readonly remote: {
    /** The server's MAC address. */
    readonly mac: Mac;
    /** The server's IPv4 address. */
    readonly ip: number;
    /** The server's UDP port. */
    readonly port: number;
  };
  /** Bytes of each request (netperf -r: the first number; default 1). */
  readonly requestSize: number;
  /**
   * How long to wait for a response before sending the next request, ps. netperf itself
   * waits forever (a lost datagram ends the test); the timeout keeps a run going and is counted.
   */
  readonly timeoutPs: number;
  /**
   * The machine netperf runs on (a PeerHost, whose `port` is then this client's port):
   * its CPU runs the loop's own work and the sendto(); default ZERO_COST_PEER (no CPU).
   */
  readonly kernel?: PeerKernel;
  /** netperf's own cycles per transaction in send_udp_rr's loop, beyond its system calls (default 0). */
  readonly loopCycles?: number;
}

/**
 * netperf's UDP_RR client (send_udp_rr): one transaction in flight — send a request
 * datagram, wait for the response, record the round trip in the `latency` histogram (ps),
 * send the next. On a PeerHost the response reaches it when its recvfrom() returns, and
 * the next request costs the loop's own work (`loopCycles`), then sendto() and the
 * transmit path on that machine's CPU; the round trip runs from the start of the sendto()
 * to the return of the recvfrom(), as netperf times it. Counters: `transactions`,
 * `requests`, `timeouts`, `late-responses` (a response with nothing in flight),
 * `wire-refused`; `maxInFlight` is the most requests ever outstanding (1 by construction).
 */
export class UdpRrClient implements EthernetEndpoint {
  /** The options the client was made with. */
  readonly options: UdpRrClientOptions;
  private readonly sim: Simulator;
  private readonly kernel: PeerKernel;
  private readonly loopCycles: number;
  private readonly frame: Uint8Array;
  private readonly frameLength: number;
  private readonly rx: UdpDatagramFields = makeUdpDatagramFields();
  private readonly timer: SimEvent;
  private inFlight = 0;
  private sentAt = 0;
  private running = false;
  private _maxInFlight = 0;
  /** Round-trip times of completed transactions, ps. */
  readonly latency: Histogram;
  private readonly transactions: Counter;
  private readonly requests: Counter;
  private readonly timeouts: Counter;
  /** Transactions completed, requests sent, and requests resent after the timeout. */
  readonly counters: {
    /** Transactions completed. */
    readonly transactions: Counter;
    /** Requests sent. */
    readonly requests: Counter;
    /** Requests resent after the timeout. */
    readonly timeouts: Counter;
  };
  private readonly late: Counter;
  private readonly wireRefused: Counter;

  constructor(options: UdpRrClientOptions) {
    if (!Number.isInteger(options.requestSize) || options.requestSize < 0 || options.requestSize > 1472) {
      throw new WorkloadConfigError(
        `udp_rr: requestSize must be 0–1472 bytes (one unfragmented datagram), got ${options.requestSize}`,
      );
    }
    if (!Number.isSafeInteger(options.timeoutPs) || options.timeoutPs <= 0) {
      throw new WorkloadConfigError(
        `udp_rr: timeoutPs must be a positive integer of ps, got ${options.timeoutPs}`,
      );
    }
    const loop = options.loopCycles ?? 0;
    if (!Number.isFinite(loop) || loop < 0) {
      throw new WorkloadConfigError(`udp_rr: loopCycles must be a finite number ≥ 0, got ${loop}`);
    }
    this.options = options;
    this.sim = options.sim;
    this.kernel = options.kernel ?? ZERO_COST_PEER;
    this.loopCycles = loop;
    this.frame = new Uint8Array(UDP_HEADERS_LEN + options.requestSize + ETH_FCS_LEN + 64);
    const f = makeUdpDatagramFields();
    f.srcMac = options.local.mac;
    f.dstMac = options.remote.mac;
    f.srcIp = options.local.ip;
    f.dstIp = options.remote.ip;
    f.srcPort = options.local.port;
    f.dstPort = options.remote.port;
    f.payloadLength = options.requestSize;
    // The same request every time (netperf sends a fixed buffer too): built once.
    this.frameLength = writeUdpDatagram(this.frame, f) + ETH_FCS_LEN;
    const s = options.stats;
    this.latency = s.histogram('latency');
    this.transactions = s.counter('transactions');
    this.requests = s.counter('requests');
    this.timeouts = s.counter('timeouts');
    this.counters = { transactions: this.transactions, requests: this.requests, timeouts: this.timeouts };
    this.late = s.counter('late-responses');
    this.wireRefused = s.counter('wire-refused');
    this.timer = this.sim.event('udp-rr.timeout', () => {
      this.timeouts.inc();
      this.inFlight = 0;
      this.sendRequest();
    });
    options.port.connect(this);
  }

  /** The most requests ever outstanding at once. */
  get maxInFlight(): number {
    return this._maxInFlight;
  }

  /** Starts the first transaction at `at` (ps). */
  start(at: number = this.sim.now): void {
    if (this.running) return;
    this.running = true;
    const ev = this.sim.event('udp-rr.start', () => this.sendRequest());
    this.sim.schedule(ev, at);
  }

  private sendRequest(): void {
    const k = this.kernel;
    k.compute(this.loopCycles);
    // netperf takes its timestamp just before sendto().
    const start = Math.max(this.sim.now, k.cpuFreeAt);
    k.sendCall(this.options.requestSize);
    k.transmitSkb();
    if (!this.options.port.transmit(this.frame, 0, this.frameLength)) {
      this.wireRefused.inc();
      this.sim.reschedule(this.timer, this.sim.now + this.options.timeoutPs);
      return;
    }
    this.inFlight++;
    if (this.inFlight > this._maxInFlight) this._maxInFlight = this.inFlight;
    this.requests.inc();
    this.sentAt = start;
    this.sim.reschedule(this.timer, this.sim.now + this.options.timeoutPs);
  }

  receiveFrame(data: Uint8Array, length: number): void {
    const d = this.rx;
    const o = this.options;
    if (
      !readUdpDatagram(data, length - ETH_FCS_LEN, d) ||
      d.srcIp !== o.remote.ip ||
      d.srcPort !== o.remote.port ||
      d.dstPort !== o.local.port
    )
      return;
    if (this.inFlight === 0) {
      this.late.inc();
      return;
    }
    this.inFlight--;
    this.sim.cancel(this.timer);
    this.latency.record(this.sim.now - this.sentAt);
    this.transactions.inc();
    this.sendRequest();
  }
}
