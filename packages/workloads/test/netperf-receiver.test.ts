import { TcpReceiver } from '@exitless/guest';
import {
  ETH_FCS_LEN,
  makeTcpSegmentFields,
  readTcpSegment,
  TCP_FLAG,
  type TcpSegmentFields,
  writeTcpSegment,
} from '@exitless/net';
import { type EthernetEndpoint, Wire, type WirePort } from '@exitless/nic';
import { ms, ns, PS_PER_S, type SimEvent, Simulator, Stats } from '@exitless/sim';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NetperfReceiver, TcpStreamSender, WorkloadConfigError } from '../src/index.js';
import {
  CONGESTION,
  connection,
  GUEST_IP,
  GUEST_MAC,
  GUEST_PORT,
  ISS,
  LINE_RATE,
  MSS,
  PEER_IP,
  PEER_MAC,
  PEER_PORT,
  TIMING,
} from './helpers.js';

const COSTS = { recvSyscall: 1500, copyPerByte: 0.25 };
/** A CPU that copies at 2 cycles a byte: at 1 GHz, 4 Gb/s, well below the wire. */
const SLOW_COSTS = { recvSyscall: 1500, copyPerByte: 2 };

function segment(seq: number, length: number): TcpSegmentFields {
  const f = makeTcpSegmentFields();
  f.seq = seq;
  f.payloadLength = length;
  f.flags = TCP_FLAG.ACK;
  return f;
}

function setup(recvSize: number, receiveBuffer: number) {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const socket = new TcpReceiver(
    { receiveBuffer, windowScale: 7, mss: MSS, delayedAckPs: ms(40) },
    stats.scope('guest.tcp'),
  );
  const app = new NetperfReceiver({ recvSize, stats: stats.scope('guest.netperf') });
  app.attach({ socket, costs: COSTS });
  return { sim, stats, socket, app };
}

describe('NetperfReceiver', () => {
  it('is runnable only when the socket has data; one burst is one recv() costing recvSyscall + bytes × copyPerByte', () => {
    const { socket, app } = setup(87380, 1 << 20);
    expect(app.runnable()).toBe(false);
    expect(app.nextBurst(0)).toBe(0);
    expect(app.recvCallCount).toBe(0);
    expect(socket.receive(segment(1000, MSS), MSS, 0)).toBe(MSS);
    expect(socket.receive(segment(1000 + MSS, MSS), MSS, 0)).toBe(MSS);
    expect(app.runnable()).toBe(true);
    // recv() returns what is queued (less than recvSize), all of it.
    expect(app.nextBurst(0)).toBe(1500 + 2 * MSS * 0.25);
    expect(socket.queued).toBe(0);
    expect(app.runnable()).toBe(false);
    expect(app.nextBurst(0)).toBe(0);
    expect(app.recvCallCount).toBe(1);
    expect(app.bytesReceived).toBe(2 * MSS);
  });

  it('reads at most recvSize bytes per call', () => {
    const { socket, app } = setup(1000, 1 << 20);
    socket.receive(segment(0, MSS), MSS, 0);
    expect(app.nextBurst(0)).toBe(1500 + 1000 * 0.25);
    expect(socket.queued).toBe(MSS - 1000);
    expect(app.nextBurst(0)).toBe(1500 + (MSS - 1000) * 0.25);
    expect(app.recvCallCount).toBe(2);
  });

  it('property: the bytes read equal the bytes queued, in ⌈queued / recvSize⌉ calls', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70000 }),
        fc.array(fc.integer({ min: 1, max: MSS }), { maxLength: 60 }),
        (recvSize, lengths) => {
          const { socket, app } = setup(recvSize, 1 << 24);
          let seq = 0;
          let total = 0;
          for (const l of lengths) {
            socket.receive(segment(seq, l), l, 0);
            seq += l;
            total += l;
          }
          let calls = 0;
          let cycles = 0;
          for (let c = app.nextBurst(0); c > 0; c = app.nextBurst(0)) {
            calls++;
            cycles += c;
          }
          expect(app.bytesReceived).toBe(total);
          expect(calls).toBe(Math.ceil(total / recvSize));
          expect(cycles).toBeCloseTo(calls * 1500 + total * 0.25, 6);
        },
      ),
    );
  });

  it('rejects a recvSize that is not a positive integer, and running before attach', () => {
    const stats = new Stats(new Simulator()).scope('n');
    expect(() => new NetperfReceiver({ recvSize: 0, stats })).toThrow(WorkloadConfigError);
    const app = new NetperfReceiver({ recvSize: 100, stats });
    expect(app.runnable()).toBe(false);
    expect(() => app.nextBurst(0)).toThrow(/attach/);
  });
});

/**
 * A guest stand-in with no CPU model: the guest's real TcpReceiver (ACK policy, window
 * scale, delayed ACK, window updates) and netperf's receiver run by a fixed-rate "CPU" that
 * spends the cycles nextBurst returns. Enough to check that the sender and the guest's TCP
 * agree on the wire.
 */
class GuestStandIn implements EthernetEndpoint {
  readonly socket: TcpReceiver;
  readonly app: NetperfReceiver;
  private readonly sim: Simulator;
  private readonly port: WirePort;
  private readonly hz: number;
  private readonly seg: TcpSegmentFields = makeTcpSegmentFields();
  private readonly ack: TcpSegmentFields = makeTcpSegmentFields();
  private readonly buf = new Uint8Array(128);
  private readonly cpu: SimEvent;
  private readonly delack: SimEvent;
  private busy = false;
  windowViolations = 0;

  constructor(sim: Simulator, stats: Stats, port: WirePort, hz: number, receiveBuffer: number) {
    this.sim = sim;
    this.port = port;
    this.hz = hz;
    this.socket = new TcpReceiver(
      { receiveBuffer, windowScale: 7, mss: MSS, delayedAckPs: ms(40) },
      stats.scope('guest.tcp'),
    );
    this.app = new NetperfReceiver({ recvSize: receiveBuffer, stats: stats.scope('guest.netperf') });
    this.app.attach({ socket: this.socket, costs: SLOW_COSTS });
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
    this.cpu = sim.event('guest.cpu', () => this.run());
    this.delack = sim.event('guest.delack', () => {
      if (this.socket.delayedAckDue(this.sim.now)) this.sendAck();
    });
    port.connect(this);
  }

  receiveFrame(data: Uint8Array, length: number): void {
    const s = this.seg;
    readTcpSegment(data, length - ETH_FCS_LEN, s);
    const t = this.socket;
    if (t.freeSpace() < s.payloadLength && s.seq === t.rcvNxt) this.windowViolations++;
    t.receive(s, s.payloadLength, this.sim.now);
    this.ack.tsEcr = s.tsVal;
    if (t.ackNow) this.sendAck();
    else if (t.unackedSince >= 0 && !this.delack.scheduled) {
      this.sim.schedule(this.delack, t.unackedSince + t.options.delayedAckPs);
    }
    if (!this.busy && this.app.runnable()) {
      this.busy = true;
      this.sim.reschedule(this.cpu, this.sim.now);
    }
  }

  private run(): void {
    const cycles = this.app.nextBurst(this.sim.now);
    if (this.socket.windowUpdateDue()) this.sendAck();
    if (cycles <= 0) {
      this.busy = false;
      return;
    }
    this.sim.reschedule(this.cpu, this.sim.now + Math.round((cycles * PS_PER_S) / this.hz));
  }

  private sendAck(): void {
    const a = this.ack;
    a.ack = this.socket.rcvNxt;
    a.window = this.socket.windowField();
    const len = writeTcpSegment(this.buf, a);
    this.port.transmit(this.buf, 0, len + ETH_FCS_LEN);
    this.socket.ackSent();
    this.sim.cancel(this.delack);
  }
}

describe('TcpStreamSender against the guest TCP receiver and netperf', () => {
  it('a receiver-limited stream runs at the application rate, never overruns the buffer, and netperf reads every byte', () => {
    const sim = new Simulator();
    const stats = new Stats(sim);
    const wire = new Wire(
      sim,
      { bitsPerSecond: LINE_RATE, latencyPs: ns(500) },
      { maxFrameBytes: 1518, framesInFlight: 4096 },
      stats.scope('wire'),
    );
    // A 1 GHz "CPU" copying at 2 cycles/byte plus 1500 cycles a call: slower than the wire.
    const receiveBuffer = 256 * 1024;
    const guest = new GuestStandIn(sim, stats, wire.a, 1e9, receiveBuffer);
    const sender = new TcpStreamSender({
      sim,
      port: wire.b,
      stats: stats.scope('peer.tcp'),
      connection: { ...connection(7, 65535), sendSequence: ISS },
      congestion: CONGESTION,
      timing: TIMING,
      bytesToSend: Number.POSITIVE_INFINITY,
    });
    sender.start();
    sim.runUntil(ms(2));
    sender.resetMeasurement();
    stats.reset();
    sim.runUntil(ms(12));
    expect(guest.windowViolations).toBe(0);
    expect(sender.retransmittedSegments).toBe(0);
    expect(sender.timeouts).toBe(0);
    const goodput = sender.goodputBitsPerSecond();
    // The application bounds the rate: bytes/s ≤ hz / copyPerByte; the wire's 9.41 Gb/s is not reached.
    const appBound = (1e9 / SLOW_COSTS.copyPerByte) * 8;
    expect(goodput).toBeLessThan(appBound);
    expect(goodput).toBeGreaterThan(appBound * 0.9);
    // netperf's receiver read what was acknowledged, less what still sits in the socket.
    const read = guest.app.bytesReceived;
    expect(Math.abs(read - sender.measuredBytes)).toBeLessThanOrEqual(receiveBuffer);
    expect(stats.counterValue('guest.tcp.window-updates')).toBeGreaterThan(0);
  });
});
