/**
 * `@exitless/workloads`' netperf TCP_STREAM pair without a machine: the peer's
 * `TcpStreamSender` on one end of a 10 Gb/s wire, and at the other a guest stand-in —
 * `@exitless/guest`'s real `TcpReceiver` (ACK policy, window, delayed ACK) with
 * `NetperfReceiver` as its application, on a fixed-rate "CPU" instead of a guest kernel.
 * The workloads README's example.
 *
 *   node --conditions=source --import tsx examples/packages/workloads-netperf-stream.ts
 */
import { TcpReceiver } from '@exitless/guest';
import {
  ETH_FCS_LEN,
  ipv4,
  makeTcpSegmentFields,
  readTcpSegment,
  TCP_FLAG,
  writeTcpSegment,
} from '@exitless/net';
import { type EthernetEndpoint, Wire, type WirePort } from '@exitless/nic';
import { ms, ns, PS_PER_S, type SimEvent, Simulator, Stats } from '@exitless/sim';
import { NetperfReceiver, TcpStreamSender } from '@exitless/workloads';
import { type ExampleOptions, exampleRun, fmt, isMain } from '../common.js';

const PEER = { mac: 0x020000000001, ip: ipv4(10, 0, 0, 1), port: 40000 };
const GUEST = { mac: 0x020000000002, ip: ipv4(10, 0, 0, 2), port: 12865 };

/**
 * What a guest kernel does for netperf's socket, minus the NIC and interrupts: each frame
 * goes straight into the TCP receiver, ACKs go straight back on the wire, and netperf's
 * recv() calls run on a CPU of `hz` cycles a second.
 */
class GuestStandIn implements EthernetEndpoint {
  readonly socket: TcpReceiver;
  readonly app: NetperfReceiver;
  private readonly sim: Simulator;
  private readonly port: WirePort;
  private readonly hz: number;
  private readonly seg = makeTcpSegmentFields();
  private readonly ack = makeTcpSegmentFields();
  private readonly buf = new Uint8Array(128);
  private readonly cpu: SimEvent;
  private readonly delack: SimEvent;
  private busy = false;

  constructor(sim: Simulator, stats: Stats, port: WirePort, hz: number) {
    this.sim = sim;
    this.port = port;
    this.hz = hz;
    // The guest's TCP options, as the machine's default guest has them.
    const tcp = { receiveBuffer: 262144, windowScale: 7, mss: 1448, delayedAckPs: ms(40) };
    this.socket = new TcpReceiver(tcp, stats.scope('guest0.tcp'));
    this.app = new NetperfReceiver({ recvSize: 87380, stats: stats.scope('guest0.netperf') });
    this.app.attach({ socket: this.socket, costs: { recvSyscall: 1500, copyPerByte: 0.25 } });
    const a = this.ack;
    a.srcMac = GUEST.mac;
    a.dstMac = PEER.mac;
    a.srcIp = GUEST.ip;
    a.dstIp = PEER.ip;
    a.srcPort = GUEST.port;
    a.dstPort = PEER.port;
    a.seq = 1;
    a.flags = TCP_FLAG.ACK;
    this.cpu = sim.event('guest0.cpu', () => this.run());
    this.delack = sim.event('guest0.delack', () => {
      if (this.socket.delayedAckDue(sim.now)) this.sendAck();
    });
    port.connect(this);
  }

  receiveFrame(data: Uint8Array, length: number): void {
    const s = this.seg;
    if (!readTcpSegment(data, length - ETH_FCS_LEN, s)) return;
    this.socket.receive(s, s.payloadLength, this.sim.now);
    this.ack.tsEcr = s.tsVal;
    if (this.socket.ackNow) this.sendAck();
    else if (this.socket.unackedSince >= 0 && !this.delack.scheduled) {
      this.sim.schedule(this.delack, this.socket.unackedSince + this.socket.options.delayedAckPs);
    }
    if (!this.busy && this.app.runnable()) {
      this.busy = true;
      this.sim.reschedule(this.cpu, this.sim.now);
    }
  }

  private run(): void {
    const cycles = this.app.nextBurst(this.sim.now); // one recv(): its cost in cycles
    if (this.socket.windowUpdateDue()) this.sendAck();
    if (cycles <= 0) {
      this.busy = false;
      return;
    }
    this.sim.reschedule(this.cpu, this.sim.now + Math.round((cycles * PS_PER_S) / this.hz));
  }

  private sendAck(): void {
    this.ack.ack = this.socket.rcvNxt;
    this.ack.window = this.socket.windowField();
    const length = writeTcpSegment(this.buf, this.ack);
    this.port.transmit(this.buf, 0, length + ETH_FCS_LEN);
    this.socket.ackSent();
    this.sim.cancel(this.delack);
  }
}

export function main(options: ExampleOptions = {}): {
  readonly goodputBitsPerSecond: number;
  readonly bytesRead: number;
  readonly retransmittedSegments: number;
} {
  const { run, log } = exampleRun(options);
  const sim = new Simulator();
  const stats = new Stats(sim);
  const wire = new Wire(
    sim,
    { bitsPerSecond: 10e9, latencyPs: ns(500) },
    { maxFrameBytes: 1518, framesInFlight: 1024 },
    stats.scope('wire'),
  );
  // wire.a would go to the NIC's port, and the guest kernel would run NetperfReceiver.
  const guest = new GuestStandIn(sim, stats, wire.a, 2.93e9);

  const sender = new TcpStreamSender({
    sim,
    port: wire.b, // the sender connects itself to this end
    stats: stats.scope('peer.tcp'),
    connection: {
      local: PEER,
      remote: GUEST,
      sendSequence: 1,
      receiveSequence: 1,
      peerWindowScale: 7, // must match the guest's tcp options
      peerInitialWindow: 65535,
      mss: 1448,
      timestamps: true,
    },
    congestion: { initialWindowSegments: 10, initialSsthresh: 2 ** 40, dupAckThreshold: 3 },
    timing: {
      minRtoPs: ms(200),
      maxRtoPs: ms(120_000),
      initialRtoPs: ms(1000),
      timestampTickPs: ms(1),
      txBacklogPs: ns(5000),
    },
    bytesToSend: Number.POSITIVE_INFINITY, // a timed test
  });
  sender.start();
  sim.runUntil(ms(run.warmupMs)); // warm-up
  sender.resetMeasurement();
  const readBefore = guest.app.bytesReceived;
  sim.runUntil(ms(run.warmupMs + run.durationMs));
  const goodputBitsPerSecond = sender.goodputBitsPerSecond();
  const bytesRead = guest.app.bytesReceived - readBefore;
  log(
    `${fmt(goodputBitsPerSecond / 1e6)} Mb/s over ${run.durationMs} ms; netperf read ${fmt(bytesRead)} bytes; ` +
      `${sender.retransmittedSegments} segments retransmitted`,
  );
  return { goodputBitsPerSecond, bytesRead, retransmittedSegments: sender.retransmittedSegments };
}

if (isMain(import.meta.url)) main();
