import type { GuestApplication, TcpServerOptions } from '@exitless/guest';
import type { Mac } from '@exitless/net';
import {
  type Counter,
  type Histogram,
  ms,
  RandomStreams,
  type Simulator,
  type Stats,
  us,
} from '@exitless/sim';
import {
  ApacheBench,
  ApacheServer,
  MemcachedServer,
  Memslap,
  NetperfReceiver,
  PeerHost,
  type SenderPort,
  TcpStreamSender,
  UdpRrClient,
  UdpRrServer,
} from '@exitless/workloads';
import { UserError } from '@exitless/x86';
import { peerMachine } from './peers.js';
import { type CalibrationProfile, profileValue } from './profile.js';
import {
  describeRange,
  describeValue,
  inRange,
  isRecord,
  type NumberRange,
  unknownKeys,
} from './validate.js';

/** The workloads a machine can run. */
export const WORKLOADS: readonly string[] = ['netperf-tcp-stream', 'netperf-udp-rr', 'apache', 'memcached'];

/** Knobs of the workloads (every field optional; the defaults are documented on each). */
export interface WorkloadOptions {
  /** netperf UDP_RR's knobs. */
  readonly udpRr?: {
    /** Request bytes (netperf -r's first number; default 1, netperf's default). */
    readonly requestSize?: number;
    /** Response bytes (default 1, netperf's default). */
    readonly responseSize?: number;
  };
  /** ab's knobs (the Apache workload). */
  readonly apache?: {
    /** ab -c (default 16: an estimate, the ELI paper does not state it). */
    readonly concurrency?: number;
    /** Static file size, bytes (default 10240: an estimate). */
    readonly fileSize?: number;
  };
  /** memaslap's knobs (the memcached workload). */
  readonly memcached?: {
    /** Persistent connections (memaslap -c; default 16, memaslap's default). */
    readonly concurrency?: number;
    /** Fraction of sets (default 0.1: memaslap's default get/set proportion 0.9/0.1). */
    readonly setRatio?: number;
    /** Key bytes (default 64, memaslap's default). */
    readonly keySize?: number;
    /** Value bytes (default 1024, memaslap's default). */
    readonly valueSize?: number;
    /** Distinct keys, preloaded in the server (default 10000: memaslap's default task window of 10 K). */
    readonly keys?: number;
  };
}

/** Where a run report finds the workload's figures. */
export interface WorkloadMetrics {
  /** The counter whose increase over the measured interval is the throughput's numerator (the component's own). */
  readonly counter: Counter;
  /** throughput = counter × multiplier / seconds / divisor. */
  readonly multiplier: number;
  /** Divides the throughput (10^6 for Mb/s from a byte counter × 8). */
  readonly divisor: number;
  /** The throughput's unit (`Mb/s`, `transactions/s`, `requests/s`, …). */
  readonly unit: string;
  /** Latencies in ps (the load generator's histogram), or null when the workload measures none. */
  readonly latency: Histogram | null;
  /** Segments (or requests) sent again, both ends, since the last reset of the statistics. */
  retransmissions(): number;
}

/** What the machine needs to run a workload. */
export interface BuiltWorkload {
  readonly app: GuestApplication;
  /** The remote load generator: starts at a time (ps). */
  readonly peer: { start(at: number): void };
  /** The machine the load generator runs on: its CPU, NIC and kernel. */
  readonly peerHost: PeerHost;
  /** Set for netperf TCP_STREAM only (its historical fields on Machine). */
  readonly sender: TcpStreamSender | null;
  readonly receiver: NetperfReceiver | null;
  readonly metrics: WorkloadMetrics;
}

/**
 * A workload of a user's own: its guest application (what runs on the guest kernel's sockets)
 * and its load generator on the far end of the wire, built for one guest. `build` is called
 * once per guest, with the same context the built-in workloads get; the board runs the
 * application in the guest's kernel and starts the generator once the guests have booted.
 */
export interface Workload {
  /** Its name, for reports. */
  readonly name: string;
  /** Builds guest `ctx.index`'s application and load generator. */
  build(ctx: WorkloadContext): UserWorkload;
}

/** What a user's workload builds for one guest. */
export interface UserWorkload {
  /** The guest's application. */
  readonly app: GuestApplication;
  /** The load generator: starts at a time (ps). */
  readonly peer: {
    /** Starts generating load at simulated time `at`, ps. */
    start(at: number): void;
  };
  /** Where the run report finds the throughput and latency. */
  readonly metrics: WorkloadMetrics;
}

/** What a {@link Workload} is given to build one guest's application and load generator. */
export interface WorkloadContext {
  /** The workload's name (as the machine knows it). */
  readonly workload: string;
  /** Knobs of the workloads. */
  readonly options: WorkloadOptions;
  /** The calibration profile. */
  readonly profile: CalibrationProfile;
  /** The simulator. */
  readonly sim: Simulator;
  /** The statistics registry. */
  readonly stats: Stats;
  /** The run's seed. */
  readonly seed: number;
  /** Which guest this is (0 for the first): names its statistics and random streams. */
  readonly index: number;
  /** The peer's end of the wire (or its slot behind the machine's switch of peers). */
  readonly port: SenderPort;
  /** Where the load generator machine's kernel tick falls in its period, ps. */
  readonly peerTickPhasePs: number;
  /** The guest's MAC and IPv4 addresses. */
  readonly guest: {
    /** MAC address. */
    readonly mac: Mac;
    /** IPv4 address. */
    readonly ip: number;
  };
  /** The load generator's MAC and IPv4 addresses. */
  readonly peer: {
    /** MAC address. */
    readonly mac: Mac;
    /** IPv4 address. */
    readonly ip: number;
  };
  /** The guest's TCP receive options (netperf TCP_STREAM). */
  readonly tcp: {
    /** The receive socket buffer, bytes. */
    readonly receiveBuffer: number;
    /** The window scale shift. */
    readonly windowScale: number;
  };
}

/** netperf's data port for TCP_STREAM (fixed by the machine). */
export const NETPERF_PORT = 12866;
/** netserver's UDP_RR data port. */
export const UDP_RR_PORT = 12867;
/** Apache's port. */
export const HTTP_PORT = 80;
/** memcached's port. */
export const MEMCACHED_PORT = 11211;
const MSS = 1448;

/** Thrown for workload options that cannot be used; the message names the option and what it accepts. */
export class WorkloadOptionsError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'WorkloadOptionsError';
  }
}

/**
 * What each workload option accepts (the defaults are on WorkloadOptions). The limits are the
 * programs' own (a datagram, memcached's key and item sizes, the load generator's ephemeral
 * ports) and, where a value costs memory in the simulator, a bound that keeps a run small.
 */
export const WORKLOAD_OPTIONS_SCHEMA: Readonly<Record<string, Readonly<Record<string, NumberRange>>>> = {
  udpRr: {
    requestSize: { min: 0, max: 1472, integer: true, unit: 'bytes', why: 'one unfragmented datagram' },
    responseSize: { min: 0, max: 1472, integer: true, unit: 'bytes', why: 'one unfragmented datagram' },
  },
  apache: {
    concurrency: {
      min: 1,
      max: 14_116,
      integer: true,
      why: "ab -c: ab's connections, with those in TIME_WAIT, fit its 28232 ephemeral ports",
    },
    fileSize: { min: 0, max: 2 ** 26, integer: true, unit: 'bytes', why: 'up to 64 MiB' },
  },
  memcached: {
    concurrency: { min: 1, max: 10_000, integer: true, unit: 'connections', why: 'memaslap -c' },
    setRatio: { min: 0, max: 1, why: 'the fraction of sets' },
    keySize: { min: 4, max: 250, integer: true, unit: 'bytes', why: "memcached's key limit" },
    valueSize: { min: 1, max: 1_048_576, integer: true, unit: 'bytes', why: "memcached's item limit" },
    keys: { min: 1, max: 1_000_000, integer: true, why: 'the server preloads every one' },
  },
};

/**
 * Bytes the memcached server and memslap keep per connection, at most: each holds about two
 * buffers of keySize + valueSize per connection, so concurrency × (keySize + valueSize) is bounded.
 */
const MEMCACHED_BUFFER_BYTES = 2 ** 28;

/**
 * Checks workload options against WORKLOAD_OPTIONS_SCHEMA: only known workloads and fields,
 * each in its range, and the combinations the programs need. Options of a workload other than
 * the one that runs are checked too (a typo there is still a typo). Returns them typed.
 */
export function validateWorkloadOptions(options: unknown): WorkloadOptions {
  const sections = Object.keys(WORKLOAD_OPTIONS_SCHEMA);
  if (!isRecord(options)) {
    throw new WorkloadOptionsError(
      `workloadOptions must be an object with any of ${sections.join(', ')}, got ${describeValue(options)}`,
    );
  }
  const strays = unknownKeys(options, sections);
  if (strays.length > 0) {
    throw new WorkloadOptionsError(
      `workloadOptions.${strays[0]} is not a workload's options: use ${sections.join(', ')}`,
    );
  }
  for (const [section, fields] of Object.entries(WORKLOAD_OPTIONS_SCHEMA)) {
    const value = options[section];
    if (value === undefined) continue;
    const names = Object.keys(fields);
    if (!isRecord(value)) {
      throw new WorkloadOptionsError(
        `workloadOptions.${section} must be an object with any of ${names.join(', ')}, got ${describeValue(value)}`,
      );
    }
    const unknown = unknownKeys(value, names);
    if (unknown.length > 0) {
      throw new WorkloadOptionsError(
        `workloadOptions.${section}.${unknown[0]} is not an option of ${section}: use ${names.join(', ')}`,
      );
    }
    for (const [name, range] of Object.entries(fields)) {
      const v = value[name];
      if (v !== undefined && !inRange(v, range)) {
        throw new WorkloadOptionsError(
          `workloadOptions.${section}.${name} must be ${describeRange(range)}, got ${describeValue(v)}`,
        );
      }
    }
  }
  const valid = options as WorkloadOptions;
  const m = valid.memcached;
  if (m !== undefined) {
    const keySize = m.keySize ?? 64;
    const valueSize = m.valueSize ?? 1024;
    const keys = m.keys ?? 10000;
    const concurrency = m.concurrency ?? 16;
    // memslap's keys are numbered in decimal after a 3-byte prefix.
    const digits = String(keys - 1).length;
    if (digits > keySize - 3) {
      throw new WorkloadOptionsError(
        `workloadOptions.memcached.keySize must be at least ${digits + 3} bytes to number ${keys} keys (3 + ${digits} digits), got ${keySize}`,
      );
    }
    if (concurrency * (keySize + valueSize) > MEMCACHED_BUFFER_BYTES) {
      throw new WorkloadOptionsError(
        `workloadOptions.memcached: concurrency × (keySize + valueSize) must be at most ${MEMCACHED_BUFFER_BYTES} bytes (buffers per connection), got ${concurrency} × ${keySize + valueSize}`,
      );
    }
  }
  return valid;
}

function serverTcp(p: CalibrationProfile, port: number): TcpServerOptions {
  const v = (k: string) => profileValue(p, k);
  return {
    port,
    maxConnections: v('guest.tcpMaxConnections'),
    backlog: v('guest.tcpBacklog'),
    mss: MSS,
    receiveBuffer: v('guest.tcpServerReceiveBuffer'),
    sendBuffer: v('guest.tcpServerSendBuffer'),
    windowScale: v('guest.tcpWindowScale'),
    initialWindowSegments: v('guest.tcpInitialWindow'),
    initialRtoPs: ms(v('guest.tcpInitialRtoMs')),
    minRtoPs: ms(v('guest.tcpMinRtoMs')),
    maxRtoPs: ms(120_000),
    maxRetransmissions: 15,
    delayedAckPs: ms(v('guest.tcpDelayedAckMs')),
  };
}

function clientTcp(p: CalibrationProfile): {
  mss: number;
  windowScale: number;
  rtoPs: number;
  delayedAckPs: number;
  timerIntervalPs: number;
} {
  return {
    mss: MSS,
    windowScale: profileValue(p, 'guest.tcpWindowScale'),
    rtoPs: ms(profileValue(p, 'guest.tcpMinRtoMs')),
    delayedAckPs: ms(profileValue(p, 'guest.tcpDelayedAckMs')),
    timerIntervalPs: ms(1),
  };
}

/** Builds the guest application and the remote load generator of `ctx.workload`. */
export function buildWorkload(ctx: WorkloadContext): BuiltWorkload {
  const { sim, stats, profile: p } = ctx;
  const v = (k: string) => profileValue(p, k);
  const random = new RandomStreams(ctx.seed);
  // Guest 0 keeps the historical names; guest i's statistics and streams get a prefix.
  const i = ctx.index;
  const peerName = (name: string) => (i === 0 ? name : `peer${i}.${name}`);
  const guestName = (name: string) => `guest${i}.${name}`;
  const netperfName = i === 0 ? 'netperf' : guestName('netperf');
  // The load generator's own machine, between the wire and the generator: netperf blocks in
  // recv(); ab and memslap wait in epoll.
  const machine = peerMachine(p);
  const host = new PeerHost({
    sim,
    port: ctx.port,
    hz: machine.hz,
    costs: machine.costs,
    nic: machine.nic,
    tickHz: machine.tickHz,
    tickPhasePs: ctx.peerTickPhasePs,
    eventLoop: ctx.workload === 'apache' || ctx.workload === 'memcached',
    stats: stats.scope(peerName('peer-host')),
  });
  const withHost = (peer: { start(at: number): void }) => ({ peerHost: host, peer });
  switch (ctx.workload) {
    case 'netperf-tcp-stream': {
      const receiver = new NetperfReceiver({
        recvSize: ctx.tcp.receiveBuffer,
        stats: stats.scope(netperfName),
      });
      const sender = new TcpStreamSender({
        sim,
        port: host.port,
        kernel: host,
        // netperf's default send size is the socket's send buffer as created (tcp_wmem[1]).
        sendSize: v('guest.tcpServerSendBuffer'),
        tsoMaxBytes: v('peer.tsoMaxBytes'),
        stats: stats.scope(peerName('sender')),
        connection: {
          local: { mac: ctx.peer.mac, ip: ctx.peer.ip, port: 40000 },
          remote: { mac: ctx.guest.mac, ip: ctx.guest.ip, port: NETPERF_PORT },
          sendSequence: 1_000_000,
          receiveSequence: 1,
          peerWindowScale: ctx.tcp.windowScale,
          peerInitialWindow: 65535,
          mss: MSS,
          timestamps: true,
        },
        congestion: { initialWindowSegments: 10, initialSsthresh: 2 ** 30, dupAckThreshold: 3 },
        timing: {
          minRtoPs: us(200_000),
          maxRtoPs: us(60_000_000),
          initialRtoPs: us(1_000_000),
          timestampTickPs: us(1000),
          txBacklogPs: us(20),
        },
        bytesToSend: Number.MAX_SAFE_INTEGER,
      });
      return {
        app: receiver,
        ...withHost(sender),
        sender,
        receiver,
        metrics: {
          counter: receiver.counters.bytes,
          multiplier: 8,
          divisor: 1e6,
          unit: 'Mb/s',
          latency: null,
          retransmissions: () => sender.counters.retransmittedSegments.value,
        },
      };
    }
    case 'netperf-udp-rr': {
      const o = ctx.options.udpRr ?? {};
      const app = new UdpRrServer({
        port: UDP_RR_PORT,
        responseSize: o.responseSize ?? 1,
        queueLength: v('guest.udpQueueLength'),
        transactionCycles: v('workload.udpRr.transactionCycles'),
        stats: stats.scope(guestName('netserver')),
      });
      const client = new UdpRrClient({
        sim,
        port: host.port,
        kernel: host,
        // netperf's send_udp_rr loop body, as netserver's recv_udp_rr: the same program.
        loopCycles: v('workload.udpRr.transactionCycles'),
        stats: stats.scope(peerName('udp-rr')),
        local: { mac: ctx.peer.mac, ip: ctx.peer.ip, port: 40001 },
        remote: { mac: ctx.guest.mac, ip: ctx.guest.ip, port: UDP_RR_PORT },
        requestSize: o.requestSize ?? 1,
        timeoutPs: ms(v('workload.udpRr.timeoutMs')),
      });
      return {
        app,
        ...withHost(client),
        sender: null,
        receiver: null,
        metrics: {
          counter: client.counters.transactions,
          multiplier: 1,
          divisor: 1,
          unit: 'transactions/s',
          latency: client.latency,
          retransmissions: () => client.counters.timeouts.value,
        },
      };
    }
    case 'apache': {
      const o = ctx.options.apache ?? {};
      const fileSize = o.fileSize ?? 10240;
      const app = new ApacheServer({
        tcp: serverTcp(p, HTTP_PORT),
        fileSize,
        requestCycles: v('workload.apache.requestCycles'),
        maxRequestBytes: 4096,
        stats: stats.scope(guestName('apache')),
      });
      const ab = new ApacheBench({
        sim,
        port: host.port,
        kernel: host,
        requestCycles: v('peer.ab.requestCycles'),
        stats: stats.scope(peerName('ab')),
        local: ctx.peer,
        remote: { mac: ctx.guest.mac, ip: ctx.guest.ip, port: HTTP_PORT },
        concurrency: o.concurrency ?? 16,
        fileSize,
        path: '/index.html',
        tcp: clientTcp(p),
        isnRandom: random.stream(peerName('ab.isn')),
      });
      return {
        app,
        ...withHost(ab),
        sender: null,
        receiver: null,
        metrics: {
          counter: ab.counters.requests,
          multiplier: 1,
          divisor: 1,
          unit: 'requests/s',
          latency: ab.latency,
          retransmissions: () => ab.client.counters.retransmittedSegments.value + app.retransmittedSegments,
        },
      };
    }
    case 'memcached': {
      const o = ctx.options.memcached ?? {};
      const keySize = o.keySize ?? 64;
      const valueSize = o.valueSize ?? 1024;
      const keys = o.keys ?? 10000;
      const app = new MemcachedServer({
        tcp: serverTcp(p, MEMCACHED_PORT),
        getCycles: v('workload.memcached.getCycles'),
        setCycles: v('workload.memcached.setCycles'),
        preloadKeys: keys,
        keySize,
        valueSize,
        maxRequestBytes: keySize + valueSize + 128,
        stats: stats.scope(guestName('memcached')),
      });
      const memslap = new Memslap({
        sim,
        port: host.port,
        kernel: host,
        operationCycles: v('peer.memslap.operationCycles'),
        stats: stats.scope(peerName('memslap')),
        local: ctx.peer,
        remote: { mac: ctx.guest.mac, ip: ctx.guest.ip, port: MEMCACHED_PORT },
        concurrency: o.concurrency ?? 16,
        setRatio: o.setRatio ?? 0.1,
        keys,
        keySize,
        valueSize,
        random: random.stream(peerName('memslap.ops')),
        tcp: clientTcp(p),
        isnRandom: random.stream(peerName('memslap.isn')),
      });
      return {
        app,
        ...withHost(memslap),
        sender: null,
        receiver: null,
        metrics: {
          counter: memslap.counters.operations,
          multiplier: 1,
          divisor: 1,
          unit: 'operations/s',
          latency: memslap.latency,
          retransmissions: () =>
            memslap.client.counters.retransmittedSegments.value + app.retransmittedSegments,
        },
      };
    }
    default:
      throw new WorkloadOptionsError(
        `unknown workload '${ctx.workload}': use one of ${WORKLOADS.join(', ')}`,
      );
  }
}
