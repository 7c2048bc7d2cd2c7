import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatMac,
  ipv4,
  ipv4ChecksumOk,
  makeTcpSegmentFields,
  makeUdpDatagramFields,
  onesComplementSum,
  readTcpSegment,
  readUdpDatagram,
  rewriteTcpSegment,
  seqLt,
  TCP_FLAG,
  wireBytes,
  writeTcpSegment,
  writeUdpDatagram,
} from '../src/index.js';

/** Any link-layer and IPv4 addresses and TCP ports of a connection. */
const connectionAddresses = {
  dstMac: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
  srcMac: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
  srcIp: fc.integer({ min: 0, max: 0xffffffff }),
  dstIp: fc.integer({ min: 0, max: 0xffffffff }),
  srcPort: fc.integer({ min: 0, max: 0xffff }),
  dstPort: fc.integer({ min: 0, max: 0xffff }),
};

describe('TCP segments', () => {
  it('builds a full-size netperf segment: 1448 bytes of payload in a 1514-byte frame (1518 with FCS)', () => {
    const b = new Uint8Array(2048);
    const f = makeTcpSegmentFields();
    Object.assign(f, {
      dstMac: 0x02_00_00_00_00_01,
      srcMac: 0x02_00_00_00_00_ff,
      srcIp: ipv4(10, 0, 0, 2),
      dstIp: ipv4(10, 0, 0, 1),
      srcPort: 40000,
      dstPort: 12865,
      seq: 0xfffffff0,
      ack: 1,
      flags: TCP_FLAG.ACK | TCP_FLAG.PSH,
      window: 65535,
      payloadLength: 1448,
      tsVal: 7,
      tsEcr: 9,
    });
    const len = writeTcpSegment(b, f);
    expect(len).toBe(1514);
    expect(wireBytes(len)).toBe(1538);
    expect(ipv4ChecksumOk(b)).toBe(true);
    const back = makeTcpSegmentFields();
    expect(readTcpSegment(b, len, back)).toBe(true);
    expect(back).toEqual(f);
    expect(formatMac(back.dstMac)).toBe('02:00:00:00:00:01');
  });

  it('round-trips any header fields', () => {
    fc.assert(
      fc.property(
        fc.record({
          ...connectionAddresses,
          seq: fc.integer({ min: 0, max: 0xffffffff }),
          ack: fc.integer({ min: 0, max: 0xffffffff }),
          flags: fc.integer({ min: 0, max: 0x3f }),
          window: fc.integer({ min: 0, max: 0xffff }),
          payloadLength: fc.integer({ min: 0, max: 1448 }),
          timestamps: fc.boolean(),
          tsVal: fc.integer({ min: 0, max: 0xffffffff }),
          tsEcr: fc.integer({ min: 0, max: 0xffffffff }),
          ipId: fc.integer({ min: 0, max: 0xffff }),
        }),
        (f) => {
          const b = new Uint8Array(2048);
          const len = writeTcpSegment(b, f);
          const out = makeTcpSegmentFields();
          expect(readTcpSegment(b, len, out)).toBe(true);
          const expected = f.timestamps ? f : { ...f, tsVal: 0, tsEcr: 0 };
          expect(out).toEqual(expected);
        },
      ),
    );
  });

  it('pads a bare ACK to the 60-byte minimum (64 with FCS) and compares sequence numbers modulo 2^32', () => {
    const b = new Uint8Array(128);
    const f = makeTcpSegmentFields();
    f.flags = TCP_FLAG.ACK;
    expect(writeTcpSegment(b, f)).toBe(66);
    f.timestamps = false;
    expect(writeTcpSegment(b, f)).toBe(60);
    expect(wireBytes(60)).toBe(84);
    expect(seqLt(0xfffffff0, 5)).toBe(true);
    expect(seqLt(5, 0xfffffff0)).toBe(false);
  });
});

describe('rewriteTcpSegment', () => {
  const fields = fc.record({
    seq: fc.integer({ min: 0, max: 0xffffffff }),
    ack: fc.integer({ min: 0, max: 0xffffffff }),
    flags: fc.integer({ min: 0, max: 0x3f }),
    window: fc.integer({ min: 0, max: 0x1ffff }),
    payloadLength: fc.integer({ min: 0, max: 1448 }),
    tsVal: fc.integer({ min: 0, max: 0xffffffff }),
    tsEcr: fc.integer({ min: 0, max: 0xffffffff }),
    ipId: fc.integer({ min: 0, max: 0x1ffff }),
  });

  it('leaves, segment after segment of one connection, exactly the bytes and length writeTcpSegment gives', () => {
    fc.assert(
      fc.property(
        fc.record({
          ...connectionAddresses,
          timestamps: fc.boolean(),
        }),
        fc.array(fields, { minLength: 1, maxLength: 8 }),
        (connection, segments) => {
          // One buffer rewritten in place (the sender's), one written afresh for every segment;
          // the payload area holds bytes of its own, which neither may touch.
          const rewritten = new Uint8Array(1600).fill(0xa5);
          const fresh = new Uint8Array(1600).fill(0xa5);
          const f = { ...makeTcpSegmentFields(), ...connection, ...segments[0]! };
          writeTcpSegment(rewritten, f);
          for (const segment of segments) {
            Object.assign(f, segment);
            expect(rewriteTcpSegment(rewritten, f)).toBe(writeTcpSegment(fresh, f));
            expect(rewritten).toEqual(fresh);
            expect(ipv4ChecksumOk(rewritten)).toBe(true);
          }
        },
      ),
    );
  });

  it('rewrites every field that changes between segments (a stale byte would show)', () => {
    const b = new Uint8Array(128);
    const f = makeTcpSegmentFields();
    Object.assign(f, { srcIp: ipv4(10, 0, 0, 1), dstIp: ipv4(10, 0, 0, 2), payloadLength: 10 });
    writeTcpSegment(b, f);
    Object.assign(f, {
      seq: 0x01020304,
      ack: 0x05060708,
      flags: TCP_FLAG.ACK | TCP_FLAG.PSH,
      window: 0x0a0b,
      payloadLength: 1,
      tsVal: 0x11121314,
      tsEcr: 0x15161718,
      ipId: 0x191a,
    });
    expect(rewriteTcpSegment(b, f)).toBe(67);
    const back = makeTcpSegmentFields();
    expect(readTcpSegment(b, 67, back)).toBe(true);
    expect(back).toEqual(f);
    expect(ipv4ChecksumOk(b)).toBe(true);
  });
});

describe('IPv4 header checksum', () => {
  it('verifies a known header (RFC 1071 sum; checksum 0xb861) and rejects it with one bit flipped', () => {
    const b = new Uint8Array(34);
    const header = [
      0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0xb8, 0x61, 192, 168, 0, 1, 192, 168, 0, 0xc7,
    ];
    b.set(header, 14);
    expect(ipv4ChecksumOk(b)).toBe(true);
    b[14 + 15] = b[14 + 15]! ^ 0x01;
    expect(ipv4ChecksumOk(b)).toBe(false);
  });

  it('writes the RFC 1071 checksum of the header: ~sum over the header with the field zero', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 1460 }),
        (srcIp, dstIp, ipId, payloadLength) => {
          const b = new Uint8Array(1600);
          const f = makeTcpSegmentFields();
          Object.assign(f, { srcIp, dstIp, ipId, payloadLength });
          writeTcpSegment(b, f);
          const written = (b[24]! << 8) | b[25]!;
          b[24] = 0;
          b[25] = 0;
          expect(written).toBe(~onesComplementSum(b, 14, 20) & 0xffff);
        },
      ),
    );
  });
});

describe('UDP datagrams', () => {
  it('round-trips a UDP_RR request', () => {
    const b = new Uint8Array(256);
    const f = makeUdpDatagramFields();
    Object.assign(f, {
      dstMac: 1,
      srcMac: 2,
      srcIp: 3,
      dstIp: 4,
      srcPort: 5,
      dstPort: 6,
      payloadLength: 1,
      ipId: 8,
    });
    const len = writeUdpDatagram(b, f);
    expect(len).toBe(60);
    const out = makeUdpDatagramFields();
    expect(readUdpDatagram(b, len, out)).toBe(true);
    expect(out).toEqual(f);
    expect(readTcpSegment(b, len, makeTcpSegmentFields())).toBe(false);
  });
});
