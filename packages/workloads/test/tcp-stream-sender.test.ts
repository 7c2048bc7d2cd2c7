import {
  ETH_FCS_LEN,
  ipv4ChecksumOk,
  makeTcpSegmentFields,
  readTcpSegment,
  readU16,
  TCP_FLAG,
  TCP_HEADER_LEN_TIMESTAMPS,
  writeTcpSegment,
} from '@exitless/net';
import { Wire } from '@exitless/nic';
import { ms, ns, PS_PER_S, Simulator, Stats, us } from '@exitless/sim';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ForwardingPort, TcpStreamSender, WorkloadConfigError } from '../src/index.js';
import {
  CONGESTION,
  checkTransmissions,
  connection,
  GUEST_IP,
  GUEST_MAC,
  GUEST_PORT,
  harness,
  ISS,
  LINE_RATE,
  MSS,
  PEER_IP,
  PEER_MAC,
  PEER_PORT,
  type SentRecord,
  TIMING,
} from './helpers.js';

const retransmissions = (sent: readonly SentRecord[]): SentRecord[] =>
  sent.filter((r) => r.offset < r.highestSentBefore);

describe('TcpStreamSender: segments on the wire', () => {
  it('sends 1518-byte frames (1448 B payload, timestamps) to the guest, sequence from ISS across the 2^32 wrap', () => {
    const sim = new Simulator();
    const stats = new Stats(sim);
    const wire = new Wire(
      sim,
      { bitsPerSecond: LINE_RATE, latencyPs: ns(500) },
      { maxFrameBytes: 1518, framesInFlight: 64 },
      stats.scope('wire'),
    );
    const frames: { bytes: Uint8Array; length: number }[] = [];
    wire.a.connect({ receiveFrame: (d, l) => frames.push({ bytes: d.slice(0, l), length: l }) });
    const sender = new TcpStreamSender({
      sim,
      port: wire.b,
      stats: stats.scope('peer'),
      connection: connection(7, 65535),
      congestion: CONGESTION,
      timing: TIMING,
      bytesToSend: Number.POSITIVE_INFINITY,
    });
    sender.start();
    sim.runUntil(ms(1));
    // No ACK comes back: exactly the initial window of 10 segments (RFC 6928).
    expect(frames).toHaveLength(10);
    const f = makeTcpSegmentFields();
    for (let i = 0; i < frames.length; i++) {
      const { bytes, length } = frames[i]!;
      expect(length).toBe(1518);
      expect(readTcpSegment(bytes, length - ETH_FCS_LEN, f)).toBe(true);
      expect(ipv4ChecksumOk(bytes)).toBe(true);
      expect(readU16(bytes, 14 + 2)).toBe(20 + TCP_HEADER_LEN_TIMESTAMPS + MSS); // IPv4 total length
      expect(f).toMatchObject({
        dstMac: GUEST_MAC,
        srcMac: PEER_MAC,
        srcIp: PEER_IP,
        dstIp: GUEST_IP,
        srcPort: PEER_PORT,
        dstPort: GUEST_PORT,
        seq: (ISS + i * MSS) >>> 0,
        ack: 1,
        flags: TCP_FLAG.ACK,
        payloadLength: MSS,
        timestamps: true,
      });
      expect(f.tsVal).toBeGreaterThan(0);
    }
    // ISS = 2^32 − 4096: the third segment starts past the wrap.
    expect(readTcpSegment(frames[2]!.bytes, 1514, f) && f.seq).toBe((ISS + 2 * MSS) % 2 ** 32);
    expect(sender.bytesInFlight).toBe(10 * MSS);
    expect(sender.segmentCount).toBe(10);
  });

  it('the initial flight is min(IW, SYN-ACK window): 4 segments into a 5792-byte window', () => {
    const h = harness({
      windowBytes: 4 * MSS,
      windowScale: 0,
      initialWindow: 4 * MSS,
      bytesToSend: Number.POSITIVE_INFINITY,
      dropAck: () => true,
    });
    h.sender.start();
    h.sim.runUntil(ms(100));
    expect(h.port.sent.map((r) => r.offset)).toEqual([0, MSS, 2 * MSS, 3 * MSS]);
  });

  it('slow start: each ACK of 2 segments grows cwnd by 2 SMSS; flight stays within min(cwnd, wnd)', () => {
    // Only the first 5 ACKs (for segments 1–10) reach the sender. A 50 µs wire makes the
    // round trip longer than the initial window's serialisation, so cwnd is what limits.
    const h = harness({
      latencyPs: us(50),
      windowBytes: 2 ** 22,
      windowScale: 7,
      initialWindow: 65535,
      bytesToSend: Number.POSITIVE_INFINITY,
      dropAck: (n) => n >= 5,
    });
    h.sender.start();
    h.sim.runUntil(ms(100));
    expect(h.sender.bytesAcknowledged).toBe(10 * MSS);
    expect(h.sender.cwnd).toBe(20 * MSS);
    expect(h.sender.highestSent).toBe(30 * MSS);
    expect(h.sender.sendWindow).toBe(2 ** 22);
    expect(checkTransmissions(h.port.sent)).toEqual([]);
    expect(h.sender.acksReceived).toBe(5);
    expect(h.sender.srttPs).toBeGreaterThan(0);
  });

  it('a window-limited stream never sends beyond the right edge and delivers every byte once', () => {
    // A 3-segment window is below the path's bandwidth-delay product, so it binds.
    const total = 2000 * MSS + 333;
    const h = harness({ windowBytes: 3 * MSS, windowScale: 0, initialWindow: 3 * MSS, bytesToSend: total });
    h.sender.start();
    h.sim.runUntilEmpty();
    expect(h.sender.complete).toBe(true);
    expect(h.receiver.acceptedBytes).toBe(total);
    expect(h.receiver.windowViolations).toBe(0);
    expect(h.receiver.duplicateBytes).toBe(0);
    expect(h.sender.retransmittedSegments).toBe(0);
    expect(checkTransmissions(h.port.sent)).toEqual([]);
    // The last segment is the 333-byte tail.
    expect(h.port.sent.at(-1)).toMatchObject({ offset: 2000 * MSS, length: 333, frameBytes: 66 + 333 + 4 });
    expect(h.port.sent.some((r) => r.flightAfter === 3 * MSS)).toBe(true);
    expect(Math.max(...h.port.sent.map((r) => r.flightAfter))).toBe(3 * MSS);
  });
});

describe('TcpStreamSender: loss recovery', () => {
  it('a dropped segment is repaired by fast retransmit after 3 duplicate ACKs, going back to SND.UNA', () => {
    const total = 400 * MSS;
    const h = harness({
      windowBytes: 2 ** 21,
      windowScale: 7,
      initialWindow: 65535,
      bytesToSend: total,
      dropData: (n) => n === 40,
    });
    h.sender.start();
    h.sim.runUntilEmpty();
    expect(h.sender.complete).toBe(true);
    expect(h.receiver.acceptedBytes).toBe(total);
    expect(h.sender.fastRetransmits).toBe(1);
    expect(h.sender.timeouts).toBe(0);
    expect(h.sender.duplicateAckCount).toBeGreaterThanOrEqual(3);
    const retx = retransmissions(h.port.sent);
    expect(retx[0]!.offset).toBe(40 * MSS);
    // Go-back-N: the retransmissions are contiguous from the hole.
    for (let i = 1; i < retx.length; i++) expect(retx[i]!.offset).toBe(retx[i - 1]!.offset + MSS);
    expect(h.sender.retransmittedSegments).toBe(retx.length);
    // Repaired within the round trip, long before any RTO.
    const dropTime = h.port.sent.find((r) => r.offset === 40 * MSS)!.time;
    expect(retx[0]!.time - dropTime).toBeLessThan(us(100));
    // The duplicate ACKs were counted by the receiver's view too (segments past the hole).
    expect(h.receiver.outOfOrder).toBeGreaterThanOrEqual(3);
    expect(checkTransmissions(h.port.sent)).toEqual([]);
    // cwnd = ssthresh = FlightSize / 2 on entering recovery, ≥ 2 SMSS.
    expect(h.sender.ssthresh).toBeGreaterThanOrEqual(2 * MSS);
  });

  it('a lost ACK stream triggers an RTO retransmission at ≥ 200 ms, then backs off exponentially', () => {
    const cut = us(300);
    const h = harness({
      windowBytes: 2 ** 21,
      windowScale: 7,
      initialWindow: 65535,
      bytesToSend: Number.POSITIVE_INFINITY,
      dropAck: (_n, now) => now >= cut,
    });
    h.sender.start();
    h.sim.runUntil(ms(2000));
    const lastAck = h.receiver.ackTimes.at(-1)!;
    const una = h.sender.bytesAcknowledged;
    const retx = retransmissions(h.port.sent);
    expect(h.sender.timeouts).toBe(3);
    expect(retx).toHaveLength(3);
    for (const r of retx) expect(r).toMatchObject({ offset: una, length: MSS });
    // The timer restarted when the last ACK of new data arrived (a few µs after it left the receiver).
    expect(retx[0]!.time - lastAck).toBeGreaterThanOrEqual(ms(200));
    expect(retx[0]!.time - lastAck).toBeLessThan(ms(200) + us(10));
    expect(retx[1]!.time - retx[0]!.time).toBe(ms(400));
    expect(retx[2]!.time - retx[1]!.time).toBe(ms(800));
    expect(h.sender.rtoPs).toBe(ms(1600));
    expect(h.sender.cwnd).toBe(MSS);
    expect(h.sender.fastRetransmits).toBe(0);
    // Nothing but the retransmissions after the cut's flight.
    const lastNew = h.port.sent.filter((r) => r.offset >= r.highestSentBefore).at(-1)!;
    expect(lastNew.time).toBeLessThan(retx[0]!.time);
  });

  it('after an RTO the flow recovers with slow start once ACKs return', () => {
    const total = 3000 * MSS;
    const h = harness({
      windowBytes: 2 ** 21,
      windowScale: 7,
      initialWindow: 65535,
      bytesToSend: total,
      dropAck: (_n, now) => now >= us(200) && now < ms(100),
    });
    h.sender.start();
    h.sim.runUntilEmpty();
    expect(h.sender.complete).toBe(true);
    expect(h.sender.timeouts).toBe(1);
    expect(h.receiver.acceptedBytes).toBe(total);
    expect(checkTransmissions(h.port.sent)).toEqual([]);
    // The RTT sample from the echoed timestamp of retransmitted data ended the backoff.
    expect(h.sender.rtoPs).toBe(TIMING.minRtoPs);
  });
});

describe('TcpStreamSender: zero window', () => {
  it('stops at the right edge, probes with one byte at backed-off intervals, resumes when a probe finds it open', () => {
    const total = 1000 * MSS;
    const h = harness({ windowBytes: 64 * 1024, windowScale: 0, initialWindow: 65535, bytesToSend: total });
    const close = h.sim.event('close', () => h.receiver.setWindow(0, true));
    const open = h.sim.event('open', () => h.receiver.setWindow(64 * 1024, false)); // the update is "lost"
    h.sim.schedule(close, us(100));
    h.sim.schedule(open, ms(1000));
    h.sender.start();
    h.sim.runUntil(ms(999));
    const edge = h.receiver.rightEdge;
    expect(h.sender.sendWindow).toBe(0);
    expect(h.sender.bytesAcknowledged).toBe(edge);
    expect(h.sender.bytesInFlight).toBe(0);
    // Once at the edge, only one-byte probes go out, and only while SND.WND is 0.
    const atEdge = h.port.sent.filter((r) => r.offset >= edge && r.time < ms(999));
    expect(atEdge.length).toBeGreaterThan(0);
    for (const r of atEdge) expect(r).toMatchObject({ offset: edge, length: 1, sendWindow: 0 });
    expect(h.port.sent.every((r) => r.length === 1 || r.offset + r.length <= edge || r.time > ms(1000))).toBe(
      true,
    );
    // Probes at RTO (200 ms) then doubling: 200, 600 ms after the window closed.
    const p = h.receiver.probeTimes;
    expect(p).toHaveLength(2);
    expect(p[1]! - p[0]!).toBe(ms(400));
    expect(p[0]!).toBeGreaterThanOrEqual(ms(200));
    h.sim.runUntilEmpty();
    // The probe at 1.4 s found the window open: the stream completes.
    expect(h.sender.complete).toBe(true);
    expect(h.receiver.acceptedBytes).toBe(total);
    expect(h.receiver.windowViolations).toBe(0);
    expect(h.sender.zeroWindowProbes).toBe(3);
    expect(h.sender.timeouts).toBe(0);
    expect(h.sender.fastRetransmits).toBe(0);
    expect(checkTransmissions(h.port.sent)).toEqual([]);
  });
});

describe('TcpStreamSender: throughput', () => {
  it('with no loss and a large window, goodput approaches 1448/1538 of 10 Gb/s', () => {
    const h = harness({
      windowBytes: 2 ** 22,
      windowScale: 7,
      initialWindow: 65535,
      bytesToSend: Number.POSITIVE_INFINITY,
    });
    h.sender.start();
    h.sim.runUntil(ms(1));
    h.sender.resetMeasurement();
    const events0 = h.sim.eventsProcessed;
    const segments0 = h.sender.segmentCount;
    h.sim.runUntil(ms(11));
    const expected = (MSS / 1538) * LINE_RATE; // 9.4148 Gb/s
    const goodput = h.sender.goodputBitsPerSecond();
    expect(goodput / expected).toBeGreaterThan(0.999);
    expect(goodput / expected).toBeLessThan(1.0001);
    expect(h.sender.measuredBytes).toBeCloseTo((goodput * ms(10)) / PS_PER_S / 8, 0);
    // Pacing costs well under one event per frame beyond the wire's own deliveries.
    const frames = h.sender.segmentCount - segments0;
    const events = h.sim.eventsProcessed - events0;
    expect(events / frames).toBeLessThan(2);
    expect(h.sender.retransmittedSegments).toBe(0);
    // The wire, not cwnd, limits this flow: cwnd stays near the initial window instead of
    // growing without bound (it grows only while it is what limits the sender).
    expect(h.sender.cwnd).toBeLessThanOrEqual(16 * MSS);
  });
});

describe('TcpStreamSender: property', () => {
  it('for random data and ACK drops, every byte arrives in order exactly once and the window is never exceeded', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(400), { maxLength: 12 }),
        fc.array(fc.nat(300), { maxLength: 8 }),
        fc.integer({ min: 2, max: 64 }),
        fc.integer({ min: 1, max: 200 * MSS }),
        (dataDrops, ackDrops, windowSegments, total) => {
          const dd = new Set(dataDrops);
          const ad = new Set(ackDrops);
          const h = harness({
            windowBytes: windowSegments * MSS,
            windowScale: 0,
            initialWindow: Math.min(65535, windowSegments * MSS),
            bytesToSend: total,
            dropData: (n) => dd.has(n),
            dropAck: (n) => ad.has(n),
          });
          h.sender.start();
          h.sim.runUntilEmpty();
          expect(h.sender.complete).toBe(true);
          expect(h.sender.bytesAcknowledged).toBe(total);
          expect(h.receiver.rcvNxt).toBe(total);
          expect(h.receiver.acceptedBytes).toBe(total);
          expect(h.receiver.windowViolations).toBe(0);
          expect(checkTransmissions(h.port.sent)).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('TcpStreamSender: ACK validation', () => {
  it('ignores frames of other connections and drops ACKs of unsent data (RFC 9293 §3.10.7.4)', () => {
    const h = harness({
      windowBytes: 2 ** 20,
      windowScale: 7,
      initialWindow: 65535,
      bytesToSend: 100 * MSS,
      dropAck: () => true,
    });
    h.sender.start();
    h.sim.runUntil(us(100));
    const buf = new Uint8Array(128);
    const f = makeTcpSegmentFields();
    f.srcMac = GUEST_MAC;
    f.dstMac = PEER_MAC;
    f.srcIp = GUEST_IP;
    f.dstIp = PEER_IP;
    f.srcPort = GUEST_PORT + 1; // another connection
    f.dstPort = PEER_PORT;
    f.flags = TCP_FLAG.ACK;
    f.ack = (ISS + 5 * MSS) >>> 0;
    f.window = 100;
    h.sender.receiveFrame(buf, writeTcpSegment(buf, f) + ETH_FCS_LEN);
    expect(h.sender.bytesAcknowledged).toBe(0);
    expect(h.stats.counterValue('peer.tcp.rx-ignored')).toBe(1);
    f.srcPort = GUEST_PORT;
    f.ack = (ISS + 11 * MSS) >>> 0; // beyond the 10 segments sent
    h.sender.receiveFrame(buf, writeTcpSegment(buf, f) + ETH_FCS_LEN);
    expect(h.sender.bytesAcknowledged).toBe(0);
    expect(h.stats.counterValue('peer.tcp.acks-of-unsent')).toBe(1);
    f.ack = (ISS + 4 * MSS) >>> 0;
    h.sender.receiveFrame(buf, writeTcpSegment(buf, f) + ETH_FCS_LEN);
    expect(h.sender.bytesAcknowledged).toBe(4 * MSS);
    expect(h.sender.sendWindow).toBe(100 * 128);
  });
});

describe('TcpStreamSender: configuration', () => {
  const base = () => {
    const sim = new Simulator();
    const stats = new Stats(sim);
    const wire = new Wire(
      sim,
      { bitsPerSecond: LINE_RATE, latencyPs: 0 },
      { maxFrameBytes: 1518, framesInFlight: 8 },
      stats.scope('w'),
    );
    return {
      sim,
      port: wire.b,
      stats: stats.scope('s'),
      connection: connection(7, 65535),
      congestion: CONGESTION,
      timing: TIMING,
      bytesToSend: 1000,
    };
  };

  it.each([
    ['a window scale above 14', { connection: connection(15, 65535) }, /peerWindowScale/],
    ['a SYN-ACK window above 65535', { connection: connection(7, 70000) }, /peerInitialWindow/],
    ['minRto above initialRto', { timing: { ...TIMING, minRtoPs: ms(2000) } }, /minRtoPs ≤/],
    ['a zero tx backlog', { timing: { ...TIMING, txBacklogPs: 0 } }, /txBacklogPs/],
    ['no bytes to send', { bytesToSend: 0 }, /bytesToSend/],
    ['ssthresh below 2 SMSS', { congestion: { ...CONGESTION, initialSsthresh: MSS } }, /initialSsthresh/],
  ])('rejects %s', (_what, patch, message) => {
    expect(() => new TcpStreamSender({ ...base(), ...patch })).toThrow(WorkloadConfigError);
    expect(() => new TcpStreamSender({ ...base(), ...patch })).toThrow(message);
  });
});

describe('ForwardingPort', () => {
  it("reports its line's rate, busy time and backlog, and sends and connects through the functions it is given", () => {
    const sim = new Simulator();
    const wire = new Wire(
      sim,
      { bitsPerSecond: 10e9, latencyPs: 0 },
      { maxFrameBytes: 1518, framesInFlight: 4 },
      new Stats(sim).scope('wire'),
    );
    const sent: string[] = [];
    const attached: (string | null)[] = [];
    const port = new ForwardingPort(
      wire.b,
      (data, offset, length, notBefore) => {
        sent.push(`${data[offset]}:${length}@${notBefore}`);
        return wire.b.transmit(data, offset, length, notBefore);
      },
      (endpoint) => attached.push(endpoint === null ? null : 'endpoint'),
    );
    expect(port.bitsPerSecond).toBe(10e9);
    expect(port.busyUntil).toBe(0);
    const frame = new Uint8Array(1518).fill(7);
    expect(port.transmit(frame, 0, 1518)).toBe(true);
    expect(port.transmit(frame, 4, 100, ns(5))).toBe(true);
    // A frame given no time is sent from now: notBefore 0, as WirePort's own default.
    expect(sent).toEqual(['7:1518@0', `7:100@${ns(5)}`]);
    expect(port.busyUntil).toBe(wire.b.busyUntil);
    expect(port.busyUntil).toBeGreaterThan(0);
    expect(port.backlogPs()).toBe(wire.b.backlogPs());
    port.connect({ receiveFrame: () => {} });
    port.connect(null);
    expect(attached).toEqual(['endpoint', null]);
  });
});
