import { makeTcpSegmentFields, TCP_FLAG, type TcpSegmentFields } from '@exitless/net';
import { Stats } from '@exitless/sim';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GRO_MAX_BYTES, TcpGro } from '../src/index.js';

interface Skb {
  readonly seq: number;
  readonly length: number;
  readonly flags: number;
  readonly tsVal: number;
}

/** GRO in front of a TCP that records the skbs it is handed. */
function setup() {
  const stats = new Stats({ now: 0 });
  const skbs: Skb[] = [];
  const tcp = {
    receive(skb: TcpSegmentFields, length: number) {
      skbs.push({ seq: skb.seq, length, flags: skb.flags, tsVal: skb.tsVal });
    },
  };
  const gro = new TcpGro(tcp, stats.counter('guest0.rx.skbs'));
  const seg = makeTcpSegmentFields();
  /** One segment into GRO; returns the skbs it flushed. */
  const rx = (seq: number, length: number, tsVal = 0, flags: number = TCP_FLAG.ACK): number => {
    seg.seq = seq >>> 0;
    seg.payloadLength = length;
    seg.tsVal = tsVal;
    seg.flags = flags;
    return gro.receive(seg, 0);
  };
  return { gro, skbs, rx, counted: () => stats.counterValue('guest0.rx.skbs') };
}

describe('GRO (napi_gro_receive for the stream receiver)', () => {
  it('merges segments that continue the held skb; TCP sees one skb when the poll ends', () => {
    const { gro, skbs, rx, counted } = setup();
    expect([rx(1000, 1448), rx(2448, 1448), rx(3896, 1448)]).toEqual([0, 0, 0]);
    expect(skbs).toEqual([]);
    expect(gro.held).toBe(true);
    expect(gro.heldBytes).toBe(3 * 1448);
    expect(gro.flush(0)).toBe(1);
    expect(skbs.map((s) => [s.seq, s.length])).toEqual([[1000, 3 * 1448]]);
    expect(counted()).toBe(1);
    expect(gro.held).toBe(false);
  });

  it("keeps the first segment's SEQ and flags and takes the last one's TSval", () => {
    const { gro, skbs, rx } = setup();
    rx(1000, 100, 7, TCP_FLAG.ACK | TCP_FLAG.PSH);
    rx(1100, 100, 8, TCP_FLAG.ACK);
    expect(gro.lastTsVal).toBe(8);
    gro.flush(0);
    expect(skbs).toEqual([{ seq: 1000, length: 200, flags: TCP_FLAG.ACK | TCP_FLAG.PSH, tsVal: 8 }]);
  });

  it('a segment after a gap sends the held skb up first and is held as a new one', () => {
    const { gro, skbs, rx } = setup();
    rx(1000, 1448);
    expect(rx(1000 + 2 * 1448, 1448)).toBe(1);
    expect(skbs.map((s) => [s.seq, s.length])).toEqual([[1000, 1448]]);
    expect(gro.held).toBe(true);
    expect(gro.heldBytes).toBe(1448);
    gro.flush(0);
    expect(skbs.map((s) => s.seq)).toEqual([1000, 1000 + 2 * 1448]);
  });

  it('a retransmission (a segment that starts before the skb ends) is not merged', () => {
    const { gro, skbs, rx } = setup();
    rx(1000, 1448);
    rx(2448, 1448);
    expect(rx(2448, 1448)).toBe(1);
    gro.flush(0);
    expect(skbs.map((s) => [s.seq, s.length])).toEqual([
      [1000, 2896],
      [2448, 1448],
    ]);
  });

  it(`stops at ${GRO_MAX_BYTES} bytes: a skb may reach the limit exactly, not pass it`, () => {
    const { gro, skbs, rx } = setup();
    expect(rx(0, 65_000)).toBe(0);
    expect(rx(65_000, 535)).toBe(0); // 65,535 bytes: merged
    expect(rx(65_535, 1)).toBe(1); // one byte more: a new skb
    gro.flush(0);
    expect(skbs.map((s) => [s.seq, s.length])).toEqual([
      [0, 65_535],
      [65_535, 1],
    ]);
  });

  it('full-size segments: 45 × 1448 = 65,160 bytes in one skb, the 46th starts the next', () => {
    const { gro, skbs, rx } = setup();
    let flushed = 0;
    for (let i = 0; i < 46; i++) flushed += rx(i * 1448, 1448);
    expect(flushed).toBe(1);
    gro.flush(0);
    expect(skbs.map((s) => s.length)).toEqual([45 * 1448, 1448]);
  });

  it('continues across the wrap of the sequence space (modulo 2^32)', () => {
    const { gro, skbs, rx } = setup();
    rx(0xffff_ff00, 0x100);
    expect(rx(0, 1448)).toBe(0);
    gro.flush(0);
    expect(skbs).toHaveLength(1);
    expect(skbs[0]!.length).toBe(0x100 + 1448);
  });

  it('the first segment flushes nothing; a flush with nothing held hands TCP nothing', () => {
    const { gro, skbs, rx, counted } = setup();
    expect(gro.flush(0)).toBe(0);
    expect(rx(5, 10)).toBe(0);
    expect(gro.flush(0)).toBe(1);
    expect(gro.flush(0)).toBe(0);
    expect(skbs).toHaveLength(1);
    expect(counted()).toBe(1);
  });

  it('in-order data: every byte reaches TCP once, in order, in skbs of at most the limit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.array(fc.integer({ min: 1, max: 1448 }), { minLength: 1, maxLength: 200 }),
        (start, lengths) => {
          const { gro, skbs, rx } = setup();
          const segmentAt = new Map<number, number>();
          let seq = start;
          for (const len of lengths) {
            segmentAt.set(seq, len);
            rx(seq, len);
            seq = (seq + len) >>> 0;
          }
          gro.flush(0);
          let expected = start;
          for (const s of skbs) {
            expect(s.seq).toBe(expected);
            expect(s.length).toBeLessThanOrEqual(GRO_MAX_BYTES);
            expected = (expected + s.length) >>> 0;
          }
          expect(expected).toBe(seq);
          // An skb ends only where the segment after it would not fit.
          for (let i = 0; i + 1 < skbs.length; i++) {
            expect(skbs[i]!.length + segmentAt.get(skbs[i + 1]!.seq)!).toBeGreaterThan(GRO_MAX_BYTES);
          }
        },
      ),
    );
  });
});
