import { describe, expect, it } from 'vitest';
import { RandomStreams } from '../src/index.js';

describe('RandomStreams', () => {
  it('gives the same numbers for the same seed and name', () => {
    const a = new RandomStreams(42).stream('nic.wire');
    const b = new RandomStreams(42).stream('nic.wire');
    for (let i = 0; i < 100; i++) expect(a.nextUint32()).toBe(b.nextUint32());
  });

  it('gives different numbers for different seeds or names', () => {
    const x = new RandomStreams(42).stream('a');
    const y = new RandomStreams(43).stream('a');
    const z = new RandomStreams(42).stream('b');
    const xs = Array.from({ length: 8 }, () => x.nextUint32());
    expect(Array.from({ length: 8 }, () => y.nextUint32())).not.toEqual(xs);
    expect(Array.from({ length: 8 }, () => z.nextUint32())).not.toEqual(xs);
  });

  it('keeps streams independent: adding a stream does not change another', () => {
    const alone = new RandomStreams(7);
    const s1 = alone.stream('workload');
    const ref = Array.from({ length: 20 }, () => s1.nextFloat());

    const crowded = new RandomStreams(7);
    const other = crowded.stream('a-new-component');
    other.nextUint32();
    const s2 = crowded.stream('workload');
    other.nextUint32();
    expect(Array.from({ length: 20 }, () => s2.nextFloat())).toEqual(ref);
  });

  it('refuses a duplicate stream name', () => {
    const r = new RandomStreams(1);
    r.stream('x');
    expect(() => r.stream('x')).toThrow(/already exists/);
  });

  it('is close to uniform (chi-square over 16 bins)', () => {
    const s = new RandomStreams(2026).stream('uniform');
    const bins = new Array(16).fill(0);
    const n = 160_000;
    for (let i = 0; i < n; i++) bins[Math.floor(s.nextFloat() * 16)]++;
    const e = n / 16;
    const chi = bins.reduce((acc, o) => acc + ((o - e) * (o - e)) / e, 0);
    // 15 degrees of freedom: p = 0.001 critical value is 37.7.
    expect(chi).toBeLessThan(37.7);
  });

  it('nextInt stays in range and hits both ends; exponential has the right mean', () => {
    const s = new RandomStreams(5).stream('ints');
    let lo = false;
    let hi = false;
    for (let i = 0; i < 10_000; i++) {
      const v = s.nextInt(3, 9);
      expect(v).toBeGreaterThanOrEqual(3);
      expect(v).toBeLessThanOrEqual(9);
      lo ||= v === 3;
      hi ||= v === 9;
    }
    expect(lo && hi).toBe(true);
    let sum = 0;
    for (let i = 0; i < 100_000; i++) sum += s.exponential(50);
    expect(sum / 100_000).toBeGreaterThan(49);
    expect(sum / 100_000).toBeLessThan(51);
    expect(() => s.nextInt(5, 4)).toThrow(/min ≤ max/);
  });
});
