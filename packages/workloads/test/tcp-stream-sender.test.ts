import {
  ETH_FCS_LEN,
  ipv4ChecksumOk,
  makeTcpSegmentFields,
  readTcpSegment,
  readU16,
  TCP_FLAG,
  TCP_HEADER_LEN_TIMESTAMPS,
  type TcpSegmentFields,
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

describe('TcpStreamSender: frames rewritten in place', () => {
  /**
   * Wraps the harness's port so that every frame the sender hands over is compared with the
   * frame writeTcpSegment builds afresh from the fields it carries (the sender writes its
   * headers once and then rewrites only what changes): same bytes, valid checksum. The
   * fields that change are checked against what they must be — TSval from the clock, the
   * IP id one more than the last, TSecr the last ACK's TSval (the receiver's ACKs carry a
   * new one each time) — and the sequence numbers by checkTransmissions.
   */
  function checkEveryFrame(h: ReturnType<typeof harness>): { frames: number; lengths: Set<number> } {
    const seen = { frames: 0, lengths: new Set<number>() };
    const f = makeTcpSegmentFields();
    const ack = makeTcpSegmentFields();
    const receiverAck = (h.receiver as unknown as { ack: TcpSegmentFields }).ack;
    let lastAckTsVal = 0;
    let lastId = -1;
    const receive = h.sender.receiveFrame.bind(h.sender);
    h.sender.receiveFrame = (data, length) => {
      expect(readTcpSegment(data, length - ETH_FCS_LEN, ack)).toBe(true);
      lastAckTsVal = ack.tsVal;
      receive(data, length);
    };
    const transmit = h.port.transmit.bind(h.port);
    h.port.transmit = (data, offset, length, notBefore) => {
      const frame = data.slice(offset, offset + length);
      expect(readTcpSegment(frame, length - ETH_FCS_LEN, f)).toBe(true);
      const fresh = frame.slice();
      fresh.fill(0, 0, 66);
      expect(writeTcpSegment(fresh, f) + ETH_FCS_LEN).toBe(length);
      expect(fresh).toEqual(frame);
      expect(ipv4ChecksumOk(frame)).toBe(true);
      expect(f.tsVal).toBe(Math.floor(h.sim.now / TIMING.timestampTickPs) + 1);
      expect(f.tsEcr).toBe(lastAckTsVal);
      if (lastId >= 0) expect(f.ipId).toBe((lastId + 1) & 0xffff);
      lastId = f.ipId;
      receiverAck.tsVal = 0x7ffffff0 + seen.frames * 0x01010101;
      seen.frames++;
      seen.lengths.add(length);
      return transmit(data, offset, length, notBefore);
    };
    return seen;
  }

  it('sends what writeTcpSegment writes for each segment: retransmissions, a short last segment, zero-window probes', () => {
    // Losses (go-back-N from SND.UNA) and a stream that ends in a short segment.
    const total = 300 * MSS + 100;
    const lossy = harness({
      windowBytes: 64 * 1024,
      windowScale: 0,
      initialWindow: 65535,
      bytesToSend: total,
      dropData: (n) => n === 40 || n === 41 || n === 150,
    });
    const a = checkEveryFrame(lossy);
    lossy.sender.start();
    lossy.sim.runUntilEmpty();
    expect(lossy.sender.complete).toBe(true);
    expect(lossy.sender.retransmittedSegments).toBeGreaterThan(0);
    expect(a.frames).toBe(lossy.sender.segmentCount);
    expect(a.lengths).toEqual(new Set([1518, 100 + 66 + ETH_FCS_LEN]));
    expect(checkTransmissions(lossy.port.sent)).toEqual([]);

    // A window that closes: one-byte probes between full segments.
    const closing = harness({
      windowBytes: 64 * 1024,
      windowScale: 0,
      initialWindow: 65535,
      bytesToSend: 200 * MSS,
    });
    const b = checkEveryFrame(closing);
    closing.sim.schedule(
      closing.sim.event('close', () => closing.receiver.setWindow(0, true)),
      us(100),
    );
    closing.sim.schedule(
      closing.sim.event('open', () => closing.receiver.setWindow(64 * 1024, false)),
      ms(500),
    );
    closing.sender.start();
    closing.sim.runUntilEmpty();
    expect(closing.sender.complete).toBe(true);
    expect(closing.sender.zeroWindowProbes).toBeGreaterThan(0);
    expect(b.frames).toBe(closing.sender.segmentCount);
    // Full segments, one-byte probes, and the short segments that fill the window's edge.
    expect(b.lengths.has(1518)).toBe(true);
    expect(b.lengths.has(1 + 66 + ETH_FCS_LEN)).toBe(true);
    expect(b.lengths.size).toBeGreaterThan(2);
    expect(checkTransmissions(closing.port.sent)).toEqual([]);
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
  /** A 10 GbE wire with no latency and four standard frames in flight. */
  const tenGigWire = () => {
    const sim = new Simulator();
    const wire = new Wire(
      sim,
      { bitsPerSecond: 10e9, latencyPs: 0 },
      { maxFrameBytes: 1518, framesInFlight: 4 },
      new Stats(sim).scope('wire'),
    );
    return { sim, wire };
  };

  it("reports its line's rate, busy time and backlog, and sends and connects through the functions it is given", () => {
    const { wire } = tenGigWire();
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

  it("sends straight to its line when given no function, and reads a stacked port's line state from the line beneath", () => {
    const { sim, wire } = tenGigWire();
    const arrived: number[] = [];
    wire.a.connect({ receiveFrame: (_d, l) => arrived.push(l) });
    const attached: string[] = [];
    const direct = new ForwardingPort(wire.b, null, () => attached.push('direct'));
    const frame = new Uint8Array(1518);
    expect(direct.transmit(frame, 0, 1000)).toBe(true);
    expect(direct.transmit(frame, 0, 200, ns(50))).toBe(true);
    expect(direct.busyUntil).toBe(wire.b.busyUntil);
    // A port on top of it: frames through its function, then through `direct` to the wire.
    const sent: number[] = [];
    const stacked = new ForwardingPort(
      direct,
      (data, offset, length, notBefore) => {
        sent.push(length);
        return direct.transmit(data, offset, length, notBefore);
      },
      (endpoint) => direct.connect(endpoint),
    );
    expect(stacked.transmit(frame, 0, 300)).toBe(true);
    expect(sent).toEqual([300]);
    stacked.connect(null);
    expect(attached).toEqual(['direct']);
    for (const p of [direct, stacked]) {
      expect(p.bitsPerSecond).toBe(10e9);
      expect(p.busyUntil).toBe(wire.b.busyUntil);
      expect(p.backlogPs()).toBe(wire.b.backlogPs());
    }
    expect(wire.b.backlogPs()).toBeGreaterThan(0);
    // A subclass may report its own line state: a port stacked on it reads it from the subclass.
    class Slow extends ForwardingPort {
      override backlogPs(): number {
        return 7;
      }
    }
    const slow = new Slow(wire.b, null, () => {});
    expect(new ForwardingPort(slow, null, () => {}).backlogPs()).toBe(7);
    sim.runUntilEmpty();
    expect(arrived).toEqual([1000, 200, 300]);
  });
});
