import {
  ETH_FCS_LEN,
  makeUdpDatagramFields,
  readUdpDatagram,
  UDP_HEADERS_LEN,
  type UdpDatagramFields,
  writeUdpDatagram,
} from '@exitless/net';
import { type EthernetEndpoint, frameTimePs, Wire, type WirePort } from '@exitless/nic';
import { ms, ns, Simulator, Stats, us } from '@exitless/sim';
import { describe, expect, it } from 'vitest';
import {
  ForwardingPort,
  ITR_CLASS,
  ixgbeUpdateItr,
  type PeerCosts,
  PeerCpu,
  PeerHost,
  PeerItr,
  type PeerItrOptions,
  type PeerNicOptions,
  type SenderPort,
  TcpStreamSender,
  UdpRrClient,
} from '../src/index.js';
import {
  CONGESTION,
  connection,
  GUEST_IP,
  GUEST_MAC,
  LINE_RATE,
  MSS,
  PEER_IP,
  PEER_MAC,
  ScriptedReceiver,
  TIMING,
} from './helpers.js';

/** A 1 GHz core: one cycle is exactly 1 ns, so every sum below is exact in picoseconds. */
const HZ = 1e9;
const CYCLE_PS = 1000;

/** Every cost distinct, so that a piece left out or counted twice shows in the sum. */
const COSTS: PeerCosts = {
  interruptEntry: 301,
  interruptExit: 203,
  napiPollBase: 107,
  rxPerFrame: 509,
  rxTailWrite: 11,
  tcpRxPerSkb: 1013,
  udpRxPerDatagram: 701,
  txCleanPerSkb: 53,
  wakeup: 401,
  contextSwitch: 607,
  eventWait: 29,
  recvSyscall: 503,
  copyToUserPerByte: 1,
  sendSyscall: 457,
  copyFromUserPerByte: 0.5,
  txPerSkb: 811,
  connectCall: 1201,
  closeCall: 307,
  timerTick: 1999,
};

const ZERO_COSTS: PeerCosts = Object.fromEntries(
  Object.keys(COSTS).map((k) => [k, 0]),
) as unknown as PeerCosts;

const FIXED_ITR: PeerItrOptions = {
  dynamic: false,
  rxInitialRate: 100_000,
  txInitialRate: 100_000,
  lowestRate: 100_000,
  lowRate: 20_000,
  bulkRate: 8_000,
  lowBytesPerUs: 10,
  highBytesPerUs: 20,
};

function nic(itr: PeerItrOptions = FIXED_ITR): PeerNicOptions {
  return {
    dmaWriteLatencyPs: ns(280),
    dmaWritePsPerByte: 150,
    dmaReadLatencyPs: ns(560),
    dmaReadPsPerByte: 300,
    doorbellLatencyPs: ns(530),
    msiLatencyPs: ns(270),
    rxRingSize: 512,
    txRingSize: 512,
    napiBudget: 64,
    itr,
  };
}

const LINK_PS = ns(500);

function world(): { sim: Simulator; stats: Stats; wire: Wire } {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const wire = new Wire(
    sim,
    { bitsPerSecond: LINE_RATE, latencyPs: LINK_PS },
    { maxFrameBytes: 1518, framesInFlight: 4096 },
    stats.scope('wire'),
  );
  return { sim, stats, wire };
}

/** The guest side of UDP_RR as a script: each request is answered `turnaroundPs` after it arrived, with `responseSize` bytes. */
class ScriptedResponder implements EthernetEndpoint {
  requests = 0;
  private readonly rx: UdpDatagramFields = makeUdpDatagramFields();
  private readonly tx: UdpDatagramFields = makeUdpDatagramFields();
  private readonly buf = new Uint8Array(1600);
  constructor(
    private readonly sim: Simulator,
    private readonly port: WirePort,
    private readonly turnaroundPs: number,
    private readonly responseSize: number,
  ) {
    port.connect(this);
  }
  receiveFrame(data: Uint8Array, length: number): void {
    if (!readUdpDatagram(data, length - ETH_FCS_LEN, this.rx)) throw new Error('not UDP');
    this.requests++;
    const r = this.rx;
    const t = this.tx;
    t.srcMac = r.dstMac;
    t.dstMac = r.srcMac;
    t.srcIp = r.dstIp;
    t.dstIp = r.srcIp;
    t.srcPort = r.dstPort;
    t.dstPort = r.srcPort;
    t.payloadLength = this.responseSize;
    const len = writeUdpDatagram(this.buf, t) + ETH_FCS_LEN;
    this.port.transmit(this.buf, 0, len, this.sim.now + this.turnaroundPs);
  }
}

/**
 * `inner`, with the time each frame reaches the load generator (its recvfrom() returned)
 * recorded in `deliveries` before it is passed on.
 */
function spyPort(sim: Simulator, inner: SenderPort): ForwardingPort & { readonly deliveries: number[] } {
  const deliveries: number[] = [];
  const port = new ForwardingPort(
    inner,
    (data, offset, length, notBefore) => inner.transmit(data, offset, length, notBefore),
    (endpoint) =>
      inner.connect(
        endpoint === null
          ? null
          : {
              receiveFrame: (d, l) => {
                deliveries.push(sim.now);
                endpoint.receiveFrame(d, l);
              },
            },
      ),
  );
  return Object.assign(port, { deliveries });
}

function dmaPs(base: number, perByte: number, bytes: number): number {
  return bytes <= 64 ? base : base + Math.round(perByte * (bytes - 64));
}

describe('PeerCpu: one core, work in the order it was queued', () => {
  it('serialises work: each piece starts when the one before ends, and the costs add', () => {
    const sim = new Simulator();
    const cpu = new PeerCpu(sim, HZ, new Stats(sim).scope('cpu'));
    expect(cpu.run(100)).toBe(100 * CYCLE_PS);
    expect(cpu.run(250)).toBe(350 * CYCLE_PS);
    expect(cpu.run(0)).toBe(350 * CYCLE_PS);
    expect(cpu.freeAt).toBe(350 * CYCLE_PS);
    expect(cpu.busyPs).toBe(350 * CYCLE_PS);
  });

  it('idles when nothing is queued: work queued later starts then, and runAt waits for its time', () => {
    const sim = new Simulator();
    const cpu = new PeerCpu(sim, HZ, new Stats(sim).scope('cpu'));
    cpu.run(10);
    sim.runUntil(us(1));
    expect(cpu.startTime).toBe(us(1));
    expect(cpu.run(5)).toBe(us(1) + 5 * CYCLE_PS);
    // Work that cannot start before 2 µs leaves the core idle until then.
    expect(cpu.runAt(us(2), 7)).toBe(us(2) + 7 * CYCLE_PS);
    // Work that may start at 1.5 µs still waits for the queue.
    expect(cpu.runAt(us(1.5), 3)).toBe(us(2) + 10 * CYCLE_PS);
    expect(cpu.busyPs).toBe(25 * CYCLE_PS);
  });

  it('converts cycles at its own clock', () => {
    const sim = new Simulator();
    const cpu = new PeerCpu(sim, 2.93e9, new Stats(sim).scope('cpu'));
    expect(cpu.run(2930)).toBe(us(1));
  });
});

describe('ixgbe dynamic interrupt throttling on the peer', () => {
  const dyn: PeerItrOptions = { ...FIXED_ITR, dynamic: true, rxInitialRate: 20_000 };

  it('moves the class by bytes per µs of the current interval (ixgbe_update_itr)', () => {
    // 20,000 ints/s: a 50 µs interval; 10 bytes/µs is 500 bytes.
    expect(ixgbeUpdateItr(dyn, 20_000, ITR_CLASS.LOWEST, 1, 500)).toBe(ITR_CLASS.LOWEST);
    expect(ixgbeUpdateItr(dyn, 20_000, ITR_CLASS.LOWEST, 1, 550)).toBe(ITR_CLASS.LOW);
    expect(ixgbeUpdateItr(dyn, 20_000, ITR_CLASS.LOW, 1, 1050)).toBe(ITR_CLASS.BULK);
    expect(ixgbeUpdateItr(dyn, 20_000, ITR_CLASS.LOW, 1, 500)).toBe(ITR_CLASS.LOWEST);
    expect(ixgbeUpdateItr(dyn, 20_000, ITR_CLASS.BULK, 1, 1000)).toBe(ITR_CLASS.LOW);
    expect(ixgbeUpdateItr(dyn, 20_000, ITR_CLASS.BULK, 0, 0)).toBe(ITR_CLASS.BULK);
  });

  it('smooths the rate 90/10 toward the class, rises at once and falls one class at a time', () => {
    const itr = new PeerItr(dyn, 20_000);
    itr.update(); // no packets: lowest, toward 100,000
    expect(itr.rate).toBe(18_000 + 10_000);
    expect(itr.intervalPs).toBe(Math.round(1e12 / 28_000));
    itr.packets = 100;
    itr.bytes = 1e6;
    itr.update(); // lowest → low
    expect(itr.latencyClass).toBe(ITR_CLASS.LOW);
    expect(itr.rate).toBe(25_200 + 2_000);
    itr.update(); // low → bulk
    expect(itr.latencyClass).toBe(ITR_CLASS.BULK);
    itr.packets = 1;
    itr.bytes = 1;
    itr.update(); // bulk wants lowest, takes low only
    expect(itr.latencyClass).toBe(ITR_CLASS.LOW);
    itr.update();
    expect(itr.latencyClass).toBe(ITR_CLASS.LOWEST);
  });
});

describe('PeerHost: a UDP_RR round trip is the sum of its modeled pieces', () => {
  const REQUEST = 64;
  const RESPONSE = 32;
  const LOOP = 997;

  function udpRr(turnaroundPs: number, itr: PeerItrOptions = FIXED_ITR) {
    const { sim, stats, wire } = world();
    const responder = new ScriptedResponder(sim, wire.a, turnaroundPs, RESPONSE);
    const host = new PeerHost({
      sim,
      port: wire.b,
      hz: HZ,
      costs: COSTS,
      nic: nic(itr),
      tickHz: 0,
      tickPhasePs: 0,
      eventLoop: false,
      stats: stats.scope('peer-host'),
    });
    const spy = spyPort(sim, host.port);
    const client = new UdpRrClient({
      sim,
      port: spy,
      kernel: host,
      loopCycles: LOOP,
      stats: stats.scope('udp-rr'),
      local: { mac: PEER_MAC, ip: PEER_IP, port: 40001 },
      remote: { mac: GUEST_MAC, ip: GUEST_IP, port: 12867 },
      requestSize: REQUEST,
      timeoutPs: ms(100),
    });
    return { sim, stats, host, spy, client, responder };
  }

  it('adds the peer CPU, the peer NIC, the wire both ways, the guest side and the peer interrupt, stack and application', () => {
    const T = us(20);
    const { sim, stats, spy, client, responder } = udpRr(T);
    const start = us(5);
    client.start(start);
    sim.runUntil(ms(2));
    const c = COSTS;
    const requestFrame = UDP_HEADERS_LEN + REQUEST + ETH_FCS_LEN;
    const responseFrame = UDP_HEADERS_LEN + RESPONSE + ETH_FCS_LEN;
    const n = nic();
    const pieces = {
      // netperf's sendto() and the transmit path on the peer's core, the tail write last.
      peerSend: (c.sendSyscall + REQUEST * c.copyFromUserPerByte + c.txPerSkb) * CYCLE_PS,
      // The tail write crosses the link; the NIC fetches the descriptor, then the frame.
      peerNicTx:
        n.doorbellLatencyPs +
        n.dmaReadLatencyPs +
        dmaPs(n.dmaReadLatencyPs, n.dmaReadPsPerByte, requestFrame - 4),
      wireOut: frameTimePs(requestFrame, LINE_RATE) + LINK_PS,
      guestSide: T,
      wireBack: frameTimePs(responseFrame, LINE_RATE) + LINK_PS,
      // The response and its descriptor written to memory; the MSI travels upstream (no ITR
      // wait: the RX vector's last interrupt is a whole round trip back, beyond its 10 µs).
      peerNicRx: dmaPs(n.dmaWriteLatencyPs, n.dmaWritePsPerByte, responseFrame - 4) + n.msiLatencyPs,
      peerInterrupt: (c.interruptEntry + c.napiPollBase + c.interruptExit) * CYCLE_PS,
      peerStack: (c.rxPerFrame + c.udpRxPerDatagram + c.rxTailWrite) * CYCLE_PS,
      peerApp: (c.wakeup + c.contextSwitch + c.recvSyscall + RESPONSE * c.copyToUserPerByte) * CYCLE_PS,
    };
    const rtt = Object.values(pieces).reduce((a, b) => a + b, 0);
    // The first response returns one loop body (before netperf's timestamp) and a round trip after the start.
    expect(spy.deliveries[0]).toBe(start + LOOP * CYCLE_PS + rtt);
    // Every transaction the same: the period is the loop body plus the round trip.
    const periods = spy.deliveries.slice(1).map((t, i) => t - spy.deliveries[i]!);
    expect(periods.length).toBeGreaterThan(50);
    expect(new Set(periods)).toEqual(new Set([LOOP * CYCLE_PS + rtt]));
    // netperf's own measure of it, within the histogram's precision.
    const h = stats.histogram('udp-rr.latency');
    expect(Math.abs(h.max - rtt) / rtt).toBeLessThan(1e-3);
    expect(Math.abs(h.min - rtt) / rtt).toBeLessThan(1e-3);
    expect(responder.requests).toBe(spy.deliveries.length + 1);
    expect(client.maxInFlight).toBe(1);
    // Both vectors took one interrupt per transaction.
    const snap = stats.snapshot().counters;
    expect(snap['peer-host.rx.interrupts']).toBe(spy.deliveries.length);
    expect(snap['peer-host.tx.interrupts']).toBe(spy.deliveries.length + 1);
  });

  it("waits out the peer NIC's own interrupt interval when the response comes back sooner", () => {
    // A 50 µs interval on the RX vector and a guest that answers in 1 µs: one transaction per interval.
    const itr = { ...FIXED_ITR, rxInitialRate: 20_000 };
    const { sim, spy, client } = udpRr(us(1), itr);
    client.start(0);
    sim.runUntil(ms(1));
    const periods = spy.deliveries.slice(2).map((t, i) => t - spy.deliveries[i + 1]!);
    expect(periods.length).toBeGreaterThan(10);
    expect(new Set(periods)).toEqual(new Set([us(50)]));
  });

  it("settles the RX vector's dynamic rate at the lowest-latency class for one small datagram per interrupt", () => {
    const { sim, host, client } = udpRr(us(20), { ...FIXED_ITR, dynamic: true, rxInitialRate: 20_000 });
    client.start(0);
    sim.runUntil(ms(5));
    expect(host.rxItr.latencyClass).toBe(ITR_CLASS.LOWEST);
    expect(host.rxItr.rate).toBeGreaterThan(99_000);
  });

  it('charges the kernel tick on the same core', () => {
    const { sim, stats, wire } = world();
    const host = new PeerHost({
      sim,
      port: wire.b,
      hz: HZ,
      costs: COSTS,
      nic: nic(),
      tickHz: 250,
      tickPhasePs: us(100),
      eventLoop: false,
      stats: stats.scope('peer-host'),
    });
    sim.runUntil(ms(10));
    // Ticks at 0.1, 4.1 and 8.1 ms.
    expect(stats.snapshot().counters['peer-host.ticks']).toBe(3);
    expect(host.cpu.busyPs).toBe(3 * COSTS.timerTick * CYCLE_PS);
  });
});

describe('PeerHost: the netperf TCP_STREAM sender is limited by its CPU', () => {
  function stream(costs: PeerCosts, tsoMaxBytes: number) {
    const { sim, stats, wire } = world();
    const receiver = new ScriptedReceiver(
      sim,
      wire.a,
      {
        windowBytes: 4 * 1024 * 1024,
        windowScale: 7,
        dropData: () => false,
        dropAck: () => false,
        ackEvery: 2,
        delayedAckPs: us(40),
      },
      65535,
    );
    const host = new PeerHost({
      sim,
      port: wire.b,
      hz: HZ,
      costs,
      nic: nic({ ...FIXED_ITR, dynamic: true, txInitialRate: 10_000, rxInitialRate: 20_000 }),
      tickHz: 0,
      tickPhasePs: 0,
      eventLoop: false,
      stats: stats.scope('peer-host'),
    });
    const sender = new TcpStreamSender({
      sim,
      port: host.port,
      kernel: host,
      sendSize: 16384,
      tsoMaxBytes,
      stats: stats.scope('sender'),
      connection: connection(7, 65535),
      congestion: CONGESTION,
      timing: { ...TIMING, txBacklogPs: us(20) },
      bytesToSend: Number.POSITIVE_INFINITY,
    });
    sender.start(0);
    sim.runUntil(ms(5));
    sender.resetMeasurement();
    sim.runUntil(ms(45));
    return { host, sender, receiver, goodput: sender.goodputBitsPerSecond() };
  }

  const lineRate = (MSS / (MSS + 52 + 4 + 20 + 14)) * LINE_RATE; // 1448 of 1538 bytes on the wire

  it('sends at the line rate when an skb costs less than its frames take on the wire', () => {
    // One segment per skb, 500 ns of CPU each: less than a 1518-byte frame's 1230.4 ns.
    // (ACKs come in bursts, one per interrupt of the peer's RX vector: the bytes in flight at
    // either end of the measurement move the goodput by a few tenths of a percent.)
    const { goodput } = stream({ ...ZERO_COSTS, txPerSkb: 500 }, MSS);
    expect(Math.abs(goodput - lineRate) / lineRate).toBeLessThan(0.01);
  });

  it('sends one segment per skb time when an skb costs more than its frame takes on the wire', () => {
    // 2 µs of CPU per one-segment skb: 1448 bytes every 2 µs.
    const { goodput, host } = stream({ ...ZERO_COSTS, txPerSkb: 2000 }, MSS);
    const expected = (MSS * 8) / 2e-6;
    expect(Math.abs(goodput - expected) / expected).toBeLessThan(0.005);
    expect(goodput).toBeLessThan(0.7 * lineRate);
    // The TX vector saw bulk traffic.
    expect(host.txItr.latencyClass).toBe(ITR_CLASS.BULK);
  });

  it("is limited by netperf's send() calls when copying from user space costs more than the line's time per byte", () => {
    // 2 cycles (2 ns) per byte copied: 4 Gb/s; TSO makes the per-skb cost negligible.
    const { goodput } = stream({ ...ZERO_COSTS, copyFromUserPerByte: 2, txPerSkb: 100 }, 65536);
    // (An skb of 45 segments, 65,160 bytes, adds 100 ns: under 0.1%.)
    const expected = 8 / 2e-9;
    expect(Math.abs(goodput - expected) / expected).toBeLessThan(0.01);
  });

  it('adds the cost of the ACKs it receives: each ACK is an interrupt share, a frame and a TCP skb on the same core', () => {
    // One segment per skb at 1000 ns, and each ACK (one per two segments, each its own
    // skb: pure ACKs do not merge) 1000 ns of receive work: 1.5 µs per segment.
    const costs = { ...ZERO_COSTS, txPerSkb: 1000, rxPerFrame: 400, tcpRxPerSkb: 600 };
    const { goodput, receiver } = stream(costs, MSS);
    const expected = (MSS * 8) / 1.5e-6;
    expect(receiver.acksSent).toBeGreaterThan(0);
    expect(Math.abs(goodput - expected) / expected).toBeLessThan(0.02);
  });
});

describe('PeerHost: the frames it receives', () => {
  it('hands the generator the bytes each frame had when it arrived, whatever its buffer holds later', () => {
    // The wire delivers from a few reused buffers: the host copies each frame on arrival
    // (keeping its view of a buffer while the buffer and length repeat).
    const { sim, stats, wire } = world();
    const host = new PeerHost({
      sim,
      port: wire.b,
      hz: HZ,
      costs: COSTS,
      nic: nic(),
      tickHz: 0,
      tickPhasePs: 0,
      eventLoop: false,
      stats: stats.scope('peer'),
    });
    const got: number[][] = [];
    host.port.connect({ receiveFrame: (d, l) => got.push(Array.from(d.subarray(0, l))) });
    const a = new Uint8Array(1518);
    const b = new Uint8Array(1518);
    const expected: number[][] = [];
    const arrive = (buffer: Uint8Array, fill: number, length: number): void => {
      buffer.fill(fill);
      host.receiveFrame(buffer, length);
      expected.push(new Array<number>(length).fill(fill));
    };
    arrive(a, 1, 66);
    sim.runUntilEmpty();
    arrive(a, 2, 66);
    arrive(a, 3, 66); // before the first of the two is delivered
    arrive(a, 4, 90);
    arrive(b, 5, 90);
    arrive(a, 6, 90);
    arrive(a, 7, 66);
    sim.runUntilEmpty();
    expect(got).toEqual(expected);
  });
});
