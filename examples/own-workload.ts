/**
 * A workload of the example's own in the board's workload slot: UDP echo (RFC 862) pinged at
 * a fixed rate. The guest runs an echo server on the guest kernel's UDP sockets, as netperf's
 * netserver does for UDP_RR; the load generator, on its own machine at the wire's far end
 * (`PeerHost`, as the built-in workloads' generators), sends a datagram every `intervalUs`
 * whether or not the previous one came back — an open loop, unlike netperf UDP_RR's one
 * transaction at a time — and records each round trip in a histogram. It runs on the paper's
 * default machine (`paperMachine`, its workload slot replaced) in baseline and in ELI.
 *
 *   node --conditions=source --import tsx examples/own-workload.ts
 */
import type { GuestApplication, GuestKernel, UdpSocket } from '@exitless/guest';
import {
  Board,
  type MachineConfig,
  paperMachine,
  peerMachine,
  profileValue,
  type RunReport,
  runMachine,
  validateMachineConfig,
  type Workload,
  type WorkloadContext,
} from '@exitless/machine';
import {
  ETH_FCS_LEN,
  type Mac,
  makeUdpDatagramFields,
  readUdpDatagram,
  UDP_HEADERS_LEN,
  writeUdpDatagram,
} from '@exitless/net';
import type { EthernetEndpoint } from '@exitless/nic';
import {
  type Counter,
  type Histogram,
  type ScopedStats,
  type SimEvent,
  type Simulator,
  us,
} from '@exitless/sim';
import { PeerHost, type PeerKernel, type SenderPort } from '@exitless/workloads';
import { type ExampleOptions, exampleRun, fmt, isMain } from './common.js';

/** The echo service's port (RFC 862). */
export const ECHO_PORT = 7;

// ---- The guest's application --------------------------------------------------------------

/**
 * The echo server: a loop of recvfrom() and sendto() of the same number of bytes back to
 * where the datagram came from. One burst is one echo: both system calls and their copies,
 * at the guest kernel's costs (the frame's stack and driver costs are the kernel's).
 */
export class EchoServer implements GuestApplication {
  readonly name = 'udp-echo-server';
  readonly echoes: Counter;
  private readonly port: number;
  private readonly queueLength: number;
  private readonly dgram = makeUdpDatagramFields();
  private socket: UdpSocket | null = null;
  private kernel: GuestKernel | null = null;

  constructor(options: { readonly port: number; readonly queueLength: number; readonly stats: ScopedStats }) {
    this.port = options.port;
    this.queueLength = options.queueLength;
    this.echoes = options.stats.counter('echoes');
  }

  attach(kernel: GuestKernel): void {
    this.kernel = kernel;
    this.socket = kernel.bindUdp({ port: this.port, queueLength: this.queueLength });
  }

  runnable(): boolean {
    return this.socket !== null && this.socket.queued > 0;
  }

  nextBurst(_now: number): number {
    const s = this.socket;
    const k = this.kernel;
    const d = this.dgram;
    if (s === null || k === null || !s.recv(d)) return 0;
    if (s.sendTo(d.srcMac, d.srcIp, d.srcPort, d.payloadLength)) this.echoes.inc();
    const c = k.costs;
    const bytes = d.payloadLength;
    return c.recvSyscall + bytes * c.copyPerByte + c.sendSyscall + bytes * c.copyFromUserPerByte;
  }
}

// ---- The load generator -------------------------------------------------------------------

/**
 * Request k leaves from source port FIRST_PORT + k mod SLOTS, the whole dynamic port range
 * (RFC 6335 §6), so a reply's destination port names the request it answers: the guest's
 * sockets carry a datagram's length, not its bytes, so no sequence number could come back.
 * At 100,000 requests/s a port comes round every 164 ms, far beyond any round trip here.
 */
const FIRST_PORT = 49_152;
const SLOTS = 65_536 - FIRST_PORT;

export interface PingClientOptions {
  readonly sim: Simulator;
  /** The generator's end of the wire: its machine's port. */
  readonly port: SenderPort;
  /** Its machine's CPU and transmit path. */
  readonly kernel: PeerKernel;
  readonly stats: ScopedStats;
  readonly local: { readonly mac: Mac; readonly ip: number };
  readonly remote: { readonly mac: Mac; readonly ip: number; readonly port: number };
  /** Time between requests, ps. */
  readonly intervalPs: number;
  /** UDP payload bytes of each request. */
  readonly payloadBytes: number;
}

/**
 * An open-loop pinger: a request every `intervalPs` from `start`, each a sendto() and an skb
 * on its machine's CPU; a reply is timed from the start of its request's sendto() to the
 * return of the recvfrom() that reads it, into `latency` (ps). A request still unanswered
 * when its source port comes round again is counted `lost`. The timer that paces the
 * requests costs the generator's CPU nothing.
 */
export class PingClient implements EthernetEndpoint {
  /** Round trips, ps. */
  readonly latency: Histogram;
  readonly counters: { readonly requests: Counter; readonly replies: Counter; readonly lost: Counter };
  private readonly o: PingClientOptions;
  /** The request's headers, its source port set per request. */
  private readonly request = makeUdpDatagramFields();
  private readonly frame: Uint8Array;
  private readonly sentAt = new Float64Array(SLOTS);
  private readonly outstanding = new Uint8Array(SLOTS);
  private readonly rx = makeUdpDatagramFields();
  private readonly tick: SimEvent;
  private next = 0;

  constructor(options: PingClientOptions) {
    this.o = options;
    const f = this.request;
    f.srcMac = options.local.mac;
    f.srcIp = options.local.ip;
    f.dstMac = options.remote.mac;
    f.dstIp = options.remote.ip;
    f.dstPort = options.remote.port;
    f.payloadLength = options.payloadBytes;
    // One buffer for every request (the wire copies a frame when it takes it).
    this.frame = new Uint8Array(UDP_HEADERS_LEN + options.payloadBytes + ETH_FCS_LEN + 64);
    const s = options.stats;
    this.latency = s.histogram('latency');
    this.counters = {
      requests: s.counter('requests'),
      replies: s.counter('replies'),
      lost: s.counter('lost'),
    };
    this.tick = options.sim.event('ping.send', () => {
      this.send();
      options.sim.reschedule(this.tick, options.sim.now + options.intervalPs);
    });
    options.port.connect(this);
  }

  /** Sends the first request at `at` (ps), and one every interval after it. */
  start(at: number): void {
    this.o.sim.schedule(this.tick, at);
  }

  private send(): void {
    const { kernel: k, sim } = this.o;
    const slot = this.next;
    this.next = (slot + 1) % SLOTS;
    if (this.outstanding[slot] === 1) this.counters.lost.inc();
    this.outstanding[slot] = 0;
    // Timed from when the CPU gets to the sendto(), as netperf times UDP_RR.
    const start = Math.max(sim.now, k.cpuFreeAt);
    k.sendCall(this.o.payloadBytes);
    k.transmitSkb();
    this.request.srcPort = FIRST_PORT + slot;
    const length = writeUdpDatagram(this.frame, this.request) + ETH_FCS_LEN;
    if (!this.o.port.transmit(this.frame, 0, length)) return;
    this.outstanding[slot] = 1;
    this.sentAt[slot] = start;
    this.counters.requests.inc();
  }

  receiveFrame(data: Uint8Array, length: number): void {
    const d = this.rx;
    const { remote } = this.o;
    if (!readUdpDatagram(data, length - ETH_FCS_LEN, d)) return;
    if (d.srcIp !== remote.ip || d.srcPort !== remote.port) return;
    const slot = d.dstPort - FIRST_PORT;
    if (slot < 0 || slot >= SLOTS || this.outstanding[slot] !== 1) return;
    this.outstanding[slot] = 0;
    this.latency.record(this.o.sim.now - this.sentAt[slot]!);
    this.counters.replies.inc();
  }
}

// ---- The workload: what the board's workload slot takes --------------------------------------

/** UDP echo pinged every `intervalUs` with `payloadBytes`-byte datagrams (default 64). */
export function udpPing(intervalUs: number, payloadBytes = 64): Workload {
  return {
    name: `udp-ping-every-${intervalUs}us`,
    build(ctx: WorkloadContext) {
      const i = ctx.index;
      const machine = peerMachine(ctx.profile); // the built-in generators' machine
      const host = new PeerHost({
        sim: ctx.sim,
        port: ctx.port,
        ...machine,
        tickPhasePs: ctx.peerTickPhasePs,
        eventLoop: false, // the pinger blocks in recvfrom(), as netperf does
        stats: ctx.stats.scope(`peer${i}.peer-host`),
      });
      const app = new EchoServer({
        port: ECHO_PORT,
        queueLength: profileValue(ctx.profile, 'guest.udpQueueLength'),
        stats: ctx.stats.scope(`guest${i}.echo`),
      });
      const client = new PingClient({
        sim: ctx.sim,
        port: host.port,
        kernel: host,
        stats: ctx.stats.scope(`peer${i}.ping`),
        local: ctx.peer,
        remote: { ...ctx.guest, port: ECHO_PORT },
        intervalPs: us(intervalUs),
        payloadBytes,
      });
      return {
        app,
        peer: client,
        metrics: {
          counter: client.counters.replies,
          multiplier: 1,
          divisor: 1,
          unit: 'replies/s',
          latency: client.latency,
          retransmissions: () => 0, // an open loop sends nothing again
        },
      };
    },
  };
}

/** The paper's default machine in `mode`, its workload slot holding `workload`. */
export function paperMachineRunning(mode: string, workload: Workload): Board {
  const config: MachineConfig = { mode };
  return new Board({ ...paperMachine(validateMachineConfig(config), config), workload });
}

/** Pings every 10 µs (100,000 requests/s) in baseline and in ELI; prints replies per second, the round trips and the exits. */
export function main(options: ExampleOptions = {}): Readonly<Record<'baseline' | 'eli', RunReport>> {
  const { run, log } = exampleRun(options);
  const ping = udpPing(10);
  const reports = {
    baseline: runMachine(paperMachineRunning('baseline', ping), run),
    eli: runMachine(paperMachineRunning('eli', ping), run),
  };
  for (const [mode, r] of Object.entries(reports)) {
    log(
      `${mode.padEnd(8)} ${fmt(r.throughput.value)} ${r.throughput.unit}, ` +
        `p50 ${fmt(r.latency?.p50 ?? Number.NaN, 1)} us, p99 ${fmt(r.latency?.p99 ?? Number.NaN, 1)} us, ` +
        `${fmt(r.exitsPerSecond.total)} exits/s`,
    );
  }
  return reports;
}

if (isMain(import.meta.url)) main();
