import type { TcpConnection, TcpServerOptions } from '@exitless/guest';
import type { Counter, Histogram, RandomStream, ScopedStats, SimEvent, Simulator } from '@exitless/sim';
import { WorkloadConfigError } from './errors.js';
import { EventLoopServer, type ServerCosts } from './server.js';
import {
  type ClientConnection,
  type ClientGeneratorOptions,
  TcpClient,
  type TcpClientHandler,
} from './tcp-client.js';

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const ZERO = 0x30;
const FILL = 0x78; // 'x': value bytes (memslap's values are generated filler too)

/**
 * Writes memslap-style key number `index` as `keySize` ASCII bytes into `out` at `offset`:
 * "key" then the decimal index, zero-padded (the server and the client derive the same bytes).
 */
export function memslapKey(index: number, keySize: number, out: Uint8Array, offset: number): void {
  out[offset] = 0x6b; // k
  out[offset + 1] = 0x65; // e
  out[offset + 2] = 0x79; // y
  let v = index;
  for (let i = keySize - 1; i >= 3; i--) {
    out[offset + i] = ZERO + (v % 10);
    v = Math.floor(v / 10);
  }
}

/** 32-bit FNV-1a of `b[from, to)`: how the server's table identifies a key. */
function fnv1a(b: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) {
    h ^= b[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function writeAscii(out: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[at + i] = text.charCodeAt(i);
  return at + text.length;
}

function writeDecimal(out: Uint8Array, at: number, value: number): number {
  let digits = 1;
  for (let v = value; v >= 10; v = Math.floor(v / 10)) digits++;
  let v = value;
  for (let i = digits - 1; i >= 0; i--) {
    out[at + i] = ZERO + (v % 10);
    v = Math.floor(v / 10);
  }
  return at + digits;
}

/** Bytes of a get hit's response: "VALUE <key> 0 <n>\r\n" + n bytes + "\r\nEND\r\n". */
export function memcachedGetResponseLength(keySize: number, valueSize: number): number {
  return 6 + keySize + 3 + String(valueSize).length + 2 + valueSize + 2 + 5;
}

/** Bytes of a set's response: "STORED\r\n". */
export const MEMCACHED_STORED_LENGTH = 8;

/** Options of a {@link MemcachedServer}. */
export interface MemcachedServerOptions {
  /** The TCP server (port 11211, buffers, timers). */
  readonly tcp: TcpServerOptions;
  /** Cycles of a get in memcached itself (hash, item lookup, building the response), beyond the system calls. */
  readonly getCycles: number;
  /** Cycles of a set (item allocation, hash insert, LRU), beyond the system calls. */
  readonly setCycles: number;
  /** Keys present at start (as memslap's initial load leaves them), key numbers 0…n−1. */
  readonly preloadKeys: number;
  /** Key size of the preloaded items, bytes. */
  readonly keySize: number;
  /** Value size of the preloaded items. */
  readonly valueSize: number;
  /** Longest request line + value the server buffers per connection. */
  readonly maxRequestBytes: number;
  /** Where the server's counters live. */
  readonly stats: ScopedStats;
}

/**
 * memcached's text protocol over the guest's TCP sockets, one event loop (libevent over
 * epoll): each burst handles one event — an accept(), or one ready connection whose bytes
 * are read (recv) and parsed into complete commands. `get <key>` answers
 * `VALUE <key> 0 <n>` + the value + `END`, or `END` on a miss; `set <key> <flags> <exp>
 * <n>` + data answers `STORED`; anything else `ERROR`. The table keeps each key's value
 * length under the key's 32-bit FNV-1a hash (the value bytes themselves are not kept: a get
 * answers filler of the stored length). A burst costs the event wait, the syscalls and
 * copies, and `getCycles`/`setCycles` per command.
 */
export class MemcachedServer extends EventLoopServer {
  /** The application's name, for reports. */
  readonly name = 'memcached';
  /** The options the server was made with. */
  readonly options: MemcachedServerOptions;
  /** Value length by key hash. */
  private readonly table = new Map<number, number>();
  /** Per connection (by pool id): the buffered request bytes. */
  private readonly inBuf: Uint8Array[] = [];
  private readonly inLen: number[] = [];
  /** Per connection: response bytes not yet accepted by the send buffer. */
  private readonly outBuf: Uint8Array[] = [];
  private readonly outStart: number[] = [];
  private readonly outEnd: number[] = [];
  private readonly gets: Counter;
  private readonly hits: Counter;
  private readonly sets: Counter;
  private readonly errors: Counter;

  constructor(options: MemcachedServerOptions) {
    super(options.tcp, options.stats);
    if (!Number.isInteger(options.keySize) || options.keySize < 4 || options.keySize > 250) {
      throw new WorkloadConfigError(
        `memcached: keySize must be 4–250 bytes (memcached's key limit), got ${options.keySize}`,
      );
    }
    if (!Number.isInteger(options.valueSize) || options.valueSize < 1 || options.valueSize > 1_048_576) {
      throw new WorkloadConfigError(
        `memcached: valueSize must be 1 B – 1 MiB (the item limit), got ${options.valueSize}`,
      );
    }
    if (options.maxRequestBytes < options.keySize + options.valueSize + 64) {
      throw new WorkloadConfigError(
        `memcached: maxRequestBytes (${options.maxRequestBytes}) must hold a set of keySize + valueSize + 64 bytes`,
      );
    }
    this.options = options;
    const s = options.stats;
    this.gets = s.counter('gets');
    this.hits = s.counter('get-hits');
    this.sets = s.counter('sets');
    this.errors = s.counter('errors');
    const key = new Uint8Array(options.keySize);
    for (let i = 0; i < options.preloadKeys; i++) {
      memslapKey(i, options.keySize, key, 0);
      this.table.set(fnv1a(key, 0, key.length), options.valueSize);
    }
  }

  protected onAccept(id: number): void {
    while (this.inBuf.length <= id) {
      this.inBuf.push(new Uint8Array(this.options.maxRequestBytes));
      this.outBuf.push(new Uint8Array(memcachedGetResponseLength(250, this.options.valueSize) + 64));
      this.inLen.push(0);
      this.outStart.push(0);
      this.outEnd.push(0);
    }
    this.inLen[id] = 0;
    this.outStart[id] = 0;
    this.outEnd[id] = 0;
  }

  protected serve(conn: TcpConnection, c: ServerCosts): number {
    const id = conn.id;
    let cycles = 0;
    // A response that did not fit the send buffer goes first.
    if (this.outEnd[id]! > this.outStart[id]!) {
      cycles += this.flush(conn, c);
      if (this.outEnd[id]! > this.outStart[id]!) return cycles;
    }
    const buf = this.inBuf[id]!;
    const free = buf.length - this.inLen[id]!;
    if (conn.readable > 0 && free > 0) {
      const n = conn.read(buf, this.inLen[id]!, free);
      this.inLen[id] = this.inLen[id]! + n;
      cycles += c.recvSyscall + n * c.copyPerByte;
    }
    // Complete commands, one response each (memcached answers in order).
    let at = 0;
    const len = this.inLen[id]!;
    for (;;) {
      const used = this.command(buf, at, len, id);
      if (used === 0) break;
      at += used;
      cycles += this.lastCommandCycles;
      cycles += this.flush(conn, c);
      if (this.outEnd[id]! > this.outStart[id]!) break;
    }
    if (at > 0) {
      buf.copyWithin(0, at, len);
      this.inLen[id] = len - at;
    }
    if (conn.eof) cycles += this.close(conn, c);
    return cycles;
  }

  private lastCommandCycles = 0;

  /** Parses one command at `buf[at, end)` and builds its response; the bytes used, 0 if incomplete. */
  private command(buf: Uint8Array, at: number, end: number, id: number): number {
    let eol = -1;
    for (let i = at; i + 1 < end; i++) {
      if (buf[i] === CR && buf[i + 1] === LF) {
        eol = i;
        break;
      }
    }
    if (eol < 0) return 0;
    const out = this.outBuf[id]!;
    const isGet = buf[at] === 0x67 && buf[at + 1] === 0x65 && buf[at + 2] === 0x74 && buf[at + 3] === SPACE;
    const isSet = buf[at] === 0x73 && buf[at + 1] === 0x65 && buf[at + 2] === 0x74 && buf[at + 3] === SPACE;
    if (isGet) {
      const keyStart = at + 4;
      const hash = fnv1a(buf, keyStart, eol);
      this.gets.inc();
      this.lastCommandCycles = this.options.getCycles;
      const n = this.table.get(hash);
      let p = 0;
      if (n !== undefined) {
        this.hits.inc();
        p = writeAscii(out, p, 'VALUE ');
        out.set(buf.subarray(keyStart, eol), p);
        p += eol - keyStart;
        p = writeAscii(out, p, ' 0 ');
        p = writeDecimal(out, p, n);
        out[p++] = CR;
        out[p++] = LF;
        out.fill(FILL, p, p + n);
        p += n;
        out[p++] = CR;
        out[p++] = LF;
      }
      p = writeAscii(out, p, 'END\r\n');
      this.outStart[id] = 0;
      this.outEnd[id] = p;
      return eol + 2 - at;
    }
    if (isSet) {
      // set <key> <flags> <exptime> <bytes>\r\n<data>\r\n
      let keyEnd = at + 4;
      while (keyEnd < eol && buf[keyEnd] !== SPACE) keyEnd++;
      let lastSpace = eol - 1;
      while (lastSpace > keyEnd && buf[lastSpace] !== SPACE) lastSpace--;
      let bytes = 0;
      for (let i = lastSpace + 1; i < eol; i++) bytes = bytes * 10 + (buf[i]! - ZERO);
      const total = eol + 2 - at + bytes + 2;
      if (at + total > end) return 0;
      this.table.set(fnv1a(buf, at + 4, keyEnd), bytes);
      this.sets.inc();
      this.lastCommandCycles = this.options.setCycles;
      this.outStart[id] = 0;
      this.outEnd[id] = writeAscii(out, 0, 'STORED\r\n');
      return total;
    }
    this.errors.inc();
    this.lastCommandCycles = this.options.getCycles;
    this.outStart[id] = 0;
    this.outEnd[id] = writeAscii(out, 0, 'ERROR\r\n');
    return eol + 2 - at;
  }

  /** send() of the pending response; its cost. */
  private flush(conn: TcpConnection, c: ServerCosts): number {
    const id = conn.id;
    const start = this.outStart[id]!;
    const n = conn.write(this.outBuf[id]!, start, this.outEnd[id]! - start);
    this.outStart[id] = start + n;
    return c.sendSyscall + n * c.copyFromUserPerByte;
  }
}

export interface MemslapOptions extends ClientGeneratorOptions {
  /** Fraction of operations that are sets (memaslap's default proportion: set 0.1, get 0.9). */
  readonly setRatio: number;
  /** Distinct keys, numbered 0…n−1, drawn uniformly (the server preloads them). */
  readonly keys: number;
  /** Key size, bytes (memaslap default 64). */
  readonly keySize: number;
  /** Value size of sets, bytes (memaslap default 1024). */
  readonly valueSize: number;
  /** Draws the operation and the key. */
  readonly random: RandomStream;
  /** memslap's own cycles per operation (building the request, parsing the response, libevent, its statistics), beyond the system calls (default 0). */
  readonly operationCycles?: number;
}

/**
 * memslap (libmemcached's memaslap) as a remote load generator: `concurrency` persistent
 * connections opened at start (handshakes through the guest's passive open), each with one
 * request outstanding: a get (probability 1 − setRatio) or a set of a uniformly drawn key;
 * when the whole response has arrived (its length is known from the protocol) the latency
 * from the request's send is recorded (`latency`, ps) and the next request goes out. On a
 * PeerHost each operation costs memslap's own work (`operationCycles`) before its send().
 * Counters: `operations`, `gets`, `sets`, `bad-responses` (a response that does not start
 * with VALUE / STORED).
 */
export class Memslap implements TcpClientHandler {
  /** The options memslap was made with. */
  readonly options: MemslapOptions;
  /** The TCP client memslap's connections run on. */
  readonly client: TcpClient;
  private readonly sim: Simulator;
  private readonly request: Uint8Array;
  private readonly getResponseLength: number;
  /** Operation times (request sent to response read), ps. */
  readonly latency: Histogram;
  private readonly operations: Counter;
  private readonly getCount: Counter;
  private readonly setCount: Counter;
  private readonly badResponses: Counter;
  private readonly failedConnections: Counter;
  /** Operations completed (gets and sets), and connections that failed. */
  readonly counters: {
    /** Operations completed (gets and sets). */
    readonly operations: Counter;
    /** Connections that failed. */
    readonly failedConnections: Counter;
  };
  private readonly startEvent: SimEvent;

  constructor(options: MemslapOptions) {
    const o = options;
    if (!Number.isInteger(o.concurrency) || o.concurrency < 1 || o.concurrency > 10_000) {
      throw new WorkloadConfigError(`memslap: concurrency must be 1–10000 connections, got ${o.concurrency}`);
    }
    if (!(o.setRatio >= 0 && o.setRatio <= 1)) {
      throw new WorkloadConfigError(`memslap: setRatio must be in [0, 1], got ${o.setRatio}`);
    }
    if (!Number.isInteger(o.keys) || o.keys < 1 || String(o.keys - 1).length > o.keySize - 3) {
      throw new WorkloadConfigError(
        `memslap: keys must be ≥ 1 and its numbers must fit keySize − 3 digits, got ${o.keys}`,
      );
    }
    const oc = o.operationCycles ?? 0;
    if (!Number.isFinite(oc) || oc < 0) {
      throw new WorkloadConfigError(`memslap: operationCycles must be a finite number ≥ 0, got ${oc}`);
    }
    this.options = o;
    this.sim = o.sim;
    this.request = new Uint8Array(o.keySize + o.valueSize + 64);
    this.getResponseLength = memcachedGetResponseLength(o.keySize, o.valueSize);
    const s = o.stats;
    this.latency = s.histogram('latency');
    this.operations = s.counter('operations');
    this.getCount = s.counter('gets');
    this.setCount = s.counter('sets');
    this.badResponses = s.counter('bad-responses');
    this.failedConnections = s.counter('failed-connections');
    this.counters = { operations: this.operations, failedConnections: this.failedConnections };
    this.client = new TcpClient({
      sim: o.sim,
      port: o.port,
      stats: s.scope('tcp'),
      local: o.local,
      remote: o.remote,
      mss: o.tcp.mss,
      windowScale: o.tcp.windowScale,
      maxConnections: o.concurrency,
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
    this.startEvent = o.sim.event('memslap.start', () => {
      for (let i = 0; i < o.concurrency; i++) this.client.connect();
    });
  }

  /** Opens the connections at `at` (ps). */
  start(at: number = this.sim.now): void {
    if (!this.startEvent.scheduled) this.sim.schedule(this.startEvent, at);
  }

  established(c: ClientConnection): void {
    this.sendRequest(c);
  }

  /** r0: 1 for a set, 0 for a get; r1: response bytes expected; r2: bytes received so far. */
  private sendRequest(c: ClientConnection): void {
    const o = this.options;
    const isSet = o.random.nextFloat() < o.setRatio;
    const key = o.random.nextInt(0, o.keys - 1);
    const b = this.request;
    let p: number;
    if (isSet) {
      p = writeAscii(b, 0, 'set ');
      memslapKey(key, o.keySize, b, p);
      p += o.keySize;
      p = writeAscii(b, p, ' 0 0 ');
      p = writeDecimal(b, p, o.valueSize);
      b[p++] = CR;
      b[p++] = LF;
      b.fill(FILL, p, p + o.valueSize);
      p += o.valueSize;
      b[p++] = CR;
      b[p++] = LF;
    } else {
      p = writeAscii(b, 0, 'get ');
      memslapKey(key, o.keySize, b, p);
      p += o.keySize;
      b[p++] = CR;
      b[p++] = LF;
    }
    c.r0 = isSet ? 1 : 0;
    c.r1 = isSet ? MEMCACHED_STORED_LENGTH : this.getResponseLength;
    c.r2 = 0;
    const k = o.kernel;
    if (k !== undefined) {
      k.compute(o.operationCycles ?? 0);
      // The request's time starts with its send().
      c.openedAt = Math.max(this.sim.now, k.cpuFreeAt);
    } else c.openedAt = this.sim.now;
    this.client.send(c, b, 0, p);
  }

  data(c: ClientConnection, data: Uint8Array, offset: number, length: number): void {
    if (c.r2 === 0) {
      // The first byte tells the response kind: 'V'ALUE for a get hit, 'S'TORED for a set.
      const expected = c.r0 === 1 ? 0x53 : 0x56;
      if (data[offset] !== expected) this.badResponses.inc();
    }
    c.r2 += length;
    if (c.r2 < c.r1) return;
    this.latency.record(this.sim.now - c.openedAt);
    this.operations.inc();
    (c.r0 === 1 ? this.setCount : this.getCount).inc();
    this.sendRequest(c);
  }

  peerClosed(c: ClientConnection): void {
    this.client.close(c);
  }

  closed(_c: ClientConnection, aborted: boolean): void {
    if (aborted) this.failedConnections.inc();
  }
}
