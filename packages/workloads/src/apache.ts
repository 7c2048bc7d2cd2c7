import type { TcpConnection, TcpServerOptions } from '@exitless/guest';
import type { Counter, Histogram, ScopedStats, SimEvent, Simulator } from '@exitless/sim';
import { WorkloadConfigError } from './errors.js';
import { EventLoopServer, type ServerCosts } from './server.js';
import {
  type ClientConnection,
  type ClientGeneratorOptions,
  TcpClient,
  type TcpClientHandler,
} from './tcp-client.js';

const FILL = 0x61; // 'a': the static file's bytes

/** The response header Apache 2.2 sends for a static file, for a body of `size` bytes. */
export function apacheResponseHeader(size: number): string {
  return (
    'HTTP/1.1 200 OK\r\n' +
    'Date: Mon, 05 Mar 2012 12:00:00 GMT\r\n' +
    'Server: Apache/2.2.14 (Ubuntu)\r\n' +
    'Last-Modified: Mon, 05 Mar 2012 11:00:00 GMT\r\n' +
    'ETag: "2c0d5-2800-4ba8c1f3c2b00"\r\n' +
    'Accept-Ranges: bytes\r\n' +
    `Content-Length: ${size}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: text/html\r\n\r\n'
  );
}

/** Bytes of the whole response (header + file). */
export function apacheResponseLength(fileSize: number): number {
  return apacheResponseHeader(fileSize).length + fileSize;
}

/** The request ApacheBench 2.3 sends without -k (HTTP/1.0, no keep-alive). */
export function abRequest(host: string, path: string): string {
  return `GET ${path} HTTP/1.0\r\nHost: ${host}\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n`;
}

/** Options of an {@link ApacheServer}. */
export interface ApacheServerOptions {
  /** The TCP server (port 80, buffers, timers). */
  readonly tcp: TcpServerOptions;
  /** Size of the static file served, bytes. */
  readonly fileSize: number;
  /** Apache's own cycles per request (parsing, the request hooks, mapping the file, logging), beyond the system calls. */
  readonly requestCycles: number;
  /** Longest request the server buffers. */
  readonly maxRequestBytes: number;
  /** Where the server's counters live. */
  readonly stats: ScopedStats;
}

/**
 * Apache serving one static file over HTTP/1.0 without keep-alive, as one event loop over
 * the guest's sockets (the worker processes of a real Apache are one CPU's work here): each
 * burst handles one event — accept() a connection, or read a ready connection's request
 * until the blank line, then the per-request work (`requestCycles`), send() of the header
 * and the file (sendfile: no copy of the file from user space) and close(), whose FIN
 * follows the data. Counters: `requests`, `accepted`, `closed`, `bad-requests`.
 */
export class ApacheServer extends EventLoopServer {
  /** The application's name, for reports. */
  readonly name = 'apache';
  /** The options the server was made with. */
  readonly options: ApacheServerOptions;
  private readonly response: Uint8Array;
  private readonly headerLength: number;
  private readonly inBuf: Uint8Array[] = [];
  private readonly inLen: number[] = [];
  /** Per connection: bytes of the response sent so far, −1 while the request is incomplete. */
  private readonly sent: number[] = [];
  private readonly requests: Counter;
  private readonly badRequests: Counter;

  constructor(options: ApacheServerOptions) {
    super(options.tcp, options.stats);
    if (!Number.isInteger(options.fileSize) || options.fileSize < 0 || options.fileSize > 2 ** 26) {
      throw new WorkloadConfigError(`apache: fileSize must be 0–64 MiB, got ${options.fileSize}`);
    }
    this.options = options;
    const header = apacheResponseHeader(options.fileSize);
    this.headerLength = header.length;
    this.response = new Uint8Array(header.length + options.fileSize);
    for (let i = 0; i < header.length; i++) this.response[i] = header.charCodeAt(i);
    this.response.fill(FILL, header.length);
    const s = options.stats;
    this.requests = s.counter('requests');
    this.badRequests = s.counter('bad-requests');
  }

  protected onAccept(id: number): void {
    while (this.inBuf.length <= id) {
      this.inBuf.push(new Uint8Array(this.options.maxRequestBytes));
      this.inLen.push(0);
      this.sent.push(-1);
    }
    this.inLen[id] = 0;
    this.sent[id] = -1;
  }

  protected serve(conn: TcpConnection, c: ServerCosts): number {
    const id = conn.id;
    let cycles = 0;
    if (this.sent[id]! < 0) {
      const buf = this.inBuf[id]!;
      const have = this.inLen[id]!;
      if (conn.readable > 0) {
        const n = conn.read(buf, have, buf.length - have);
        this.inLen[id] = have + n;
        cycles += c.recvSyscall + n * c.copyPerByte;
      }
      if (!endsHeader(buf, this.inLen[id]!)) {
        if (conn.eof || this.inLen[id] === buf.length) {
          // The client gave up, or the request does not fit: close without answering.
          this.badRequests.inc();
          return cycles + this.close(conn, c);
        }
        return cycles;
      }
      this.requests.inc();
      this.sent[id] = 0;
      cycles += this.options.requestCycles;
    }
    // send() of what is left: the header is copied from user space, the file goes by sendfile.
    const done = this.sent[id]!;
    const n = conn.write(this.response, done, this.response.length - done);
    const header = Math.max(0, Math.min(this.headerLength, done + n) - done);
    cycles += c.sendSyscall + header * c.copyFromUserPerByte;
    this.sent[id] = done + n;
    if (this.sent[id] === this.response.length) cycles += this.close(conn, c);
    return cycles;
  }
}

/** True when `buf[0, len)` holds a complete request header (it ends with CR LF CR LF). */
function endsHeader(buf: Uint8Array, len: number): boolean {
  for (let i = 3; i < len; i++) {
    if (buf[i] === 0x0a && buf[i - 1] === 0x0d && buf[i - 2] === 0x0a && buf[i - 3] === 0x0d) return true;
  }
  return false;
}

export interface ApacheBenchOptions extends ClientGeneratorOptions {
  /** Size of the file requested (to check the response length). */
  readonly fileSize: number;
  /** The URL path requested. */
  readonly path: string;
  /** ab's own cycles per request (its event loop, parsing the response, its statistics), beyond the system calls (default 0). */
  readonly requestCycles?: number;
}

/**
 * ApacheBench (ab -c N, no -k) as a remote load generator: `concurrency` slots, each one
 * request at a time on its own connection — SYN, the handshake's ACK, the GET, the
 * response read to the server's FIN, then the client's FIN (close) — and the next request
 * on a new connection from the next ephemeral port. On a PeerHost, ab's own work per
 * request (`requestCycles`) is charged when a response ends, before the close() and the
 * next connect(). The latency of a request runs from connect() to the end of the
 * response (ab's "connect" to "done"), recorded in
 * `latency` (ps). Counters: `requests` (complete, of the expected length), `failed`
 * (wrong length or an aborted connection), and the TCP client's counters under `tcp`
 * (`syn-sent`, `syn-ack-received`, `fin-received`, `fin-sent`, `closed`).
 */
export class ApacheBench implements TcpClientHandler {
  /** The options ab was made with. */
  readonly options: ApacheBenchOptions;
  /** The TCP client ab's connections run on. */
  readonly client: TcpClient;
  private readonly sim: Simulator;
  private readonly request: Uint8Array;
  private readonly responseLength: number;
  /** Request times (connect to last byte of the response), ps. */
  readonly latency: Histogram;
  private readonly requests: Counter;
  private readonly failed: Counter;
  private readonly refused: Counter;
  /** Requests completed, failed, and connections refused. */
  readonly counters: {
    /** Requests completed with a response of the expected length. */
    readonly requests: Counter;
    /** Requests that failed (wrong length or an aborted connection). */
    readonly failed: Counter;
    /** Connections the server refused. */
    readonly connectRefused: Counter;
  };
  private readonly startEvent: SimEvent;
  private running = 0;

  constructor(options: ApacheBenchOptions) {
    const o = options;
    if (!Number.isInteger(o.concurrency) || o.concurrency < 1 || o.concurrency > 20_000) {
      throw new WorkloadConfigError(`ab: concurrency (ab -c) must be 1–20000, got ${o.concurrency}`);
    }
    const rc = o.requestCycles ?? 0;
    if (!Number.isFinite(rc) || rc < 0) {
      throw new WorkloadConfigError(`ab: requestCycles must be a finite number ≥ 0, got ${rc}`);
    }
    this.options = o;
    this.sim = o.sim;
    const text = abRequest(ipString(o.remote.ip), o.path);
    this.request = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) this.request[i] = text.charCodeAt(i);
    this.responseLength = apacheResponseLength(o.fileSize);
    const s = o.stats;
    this.latency = s.histogram('latency');
    this.requests = s.counter('requests');
    this.failed = s.counter('failed');
    this.refused = s.counter('connect-refused');
    this.counters = { requests: this.requests, failed: this.failed, connectRefused: this.refused };
    this.client = new TcpClient({
      sim: o.sim,
      port: o.port,
      stats: s.scope('tcp'),
      local: o.local,
      remote: o.remote,
      mss: o.tcp.mss,
      windowScale: o.tcp.windowScale,
      // Each slot may have a connection finishing (LAST-ACK) beside the new one.
      maxConnections: 2 * o.concurrency,
      sendBuffer: this.request.length,
      firstPort: 32768,
      lastPort: 60999,
      rtoPs: o.tcp.rtoPs,
      delayedAckPs: o.tcp.delayedAckPs,
      timerIntervalPs: o.tcp.timerIntervalPs,
      maxRetransmissions: 15,
      random: o.isnRandom,
      handler: this,
      ...(o.kernel !== undefined ? { kernel: o.kernel } : {}),
    });
    this.startEvent = o.sim.event('ab.start', () => {
      for (let i = 0; i < o.concurrency; i++) this.open();
    });
  }

  /** Starts the `concurrency` first requests at `at` (ps). */
  start(at: number = this.sim.now): void {
    if (!this.startEvent.scheduled) this.sim.schedule(this.startEvent, at);
  }

  /** Requests in progress (connections not yet at the end of their response). */
  get inProgress(): number {
    return this.running;
  }

  private open(): void {
    if (this.client.connect() === null) {
      this.refused.inc();
      return;
    }
    this.running++;
  }

  established(c: ClientConnection): void {
    c.r0 = 0; // response bytes received
    c.r1 = 0; // 1 once the response is complete
    this.client.send(c, this.request, 0, this.request.length);
  }

  data(c: ClientConnection, _data: Uint8Array, _offset: number, length: number): void {
    c.r0 += length;
  }

  peerClosed(c: ClientConnection): void {
    // HTTP/1.0 without keep-alive: the server's FIN ends the response.
    c.r1 = 1;
    this.running--;
    if (c.r0 === this.responseLength) {
      this.latency.record(this.sim.now - c.openedAt);
      this.requests.inc();
    } else this.failed.inc();
    this.options.kernel?.compute(this.options.requestCycles ?? 0);
    this.client.close(c);
    this.open();
  }

  closed(c: ClientConnection, aborted: boolean): void {
    if (aborted && c.r1 === 0) {
      this.running--;
      this.failed.inc();
      this.open();
    }
  }
}

function ipString(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}
