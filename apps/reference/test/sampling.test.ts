import { entryRange, PROFILE_SCHEMA } from '@exitless/machine';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { band, latinHypercube, latinHypercubeUnit, percentile, validValue } from '../src/sampling.js';

/** Entries of the schema of each kind: real-valued cycles, an integer, a multiple of 8. */
const REAL = { key: 'host.injection', low: 300, high: 2500, value: 500 };
const INTEGER = { key: 'guest.napiBudget', low: 16, high: 128, value: 64 };
const MULTIPLE = { key: 'guest.rxRing', low: 128, high: 1024, value: 512 };
/** A range over an order of magnitude: sampled in log space. */
const WIDE = { key: 'guest.tcpReceiveBuffer', low: 87_380, high: 4_194_304, value: 262_144 };

/** The triangular CDF of an entry's distribution (in log space for a wide range), to check the quantiles against. */
function cdf(e: { low: number; high: number; value: number }, x: number): number {
  const log = e.low > 0 && e.high / e.low >= 10;
  const f = log ? Math.log : (v: number) => v;
  const [a, b, c, y] = [f(e.low), f(e.high), f(e.value), f(x)];
  if (y <= c) return ((y - a) * (y - a)) / ((b - a) * (c - a));
  return 1 - ((b - y) * (b - y)) / ((b - a) * (b - c));
}

describe('the schema entries these tests sample', () => {
  it('are of the kinds the tests assume', () => {
    expect(PROFILE_SCHEMA[REAL.key]?.integer).toBeUndefined();
    expect(entryRange(INTEGER.key).integer).toBe(true);
    expect(entryRange(MULTIPLE.key).multipleOf).toBe(8);
  });
});

describe('Latin hypercube', () => {
  const keys = ['a', 'b', 'c'];

  it('puts each key’s n points one in each of its n strata of [0, 1)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.nat({ max: 2 ** 31 }), (n, seed) => {
        const points = latinHypercubeUnit(keys, n, seed);
        expect(points).toHaveLength(n);
        for (const key of keys) {
          const strata = points.map((p) => Math.floor(p[key]! * n)).sort((x, y) => x - y);
          expect(strata).toEqual(Array.from({ length: n }, (_, i) => i));
        }
      }),
      { numRuns: 50 },
    );
  });

  it('falls one per stratum of equal probability of the triangular distribution (low, value, high) for a real-valued entry', () => {
    const n = 20;
    for (const e of [REAL, WIDE]) {
      const samples = latinHypercube([e], n, 7);
      const strata = samples
        .map((s) => Math.min(n - 1, Math.floor(cdf(e, s[e.key]!) * n + 1e-9)))
        .sort((x, y) => x - y);
      expect(strata).toEqual(Array.from({ length: n }, (_, i) => i));
      for (const s of samples) {
        expect(s[e.key]).toBeGreaterThanOrEqual(e.low);
        expect(s[e.key]).toBeLessThanOrEqual(e.high);
      }
    }
  });

  it("puts the mode at the profile's value: as many draws below it as its CDF says", () => {
    const n = 100;
    const below = latinHypercube([REAL], n, 3).filter((s) => s[REAL.key]! < REAL.value).length;
    // F(value) = (value − low) / (high − low) = 200 / 2200 of the mass lies below the value.
    expect(below).toBe(Math.round((n * (REAL.value - REAL.low)) / (REAL.high - REAL.low)));
    // In log space for a range over an order of magnitude: F(value) = ln(value/low) / ln(high/low).
    const wideBelow = latinHypercube([WIDE], n, 3).filter((s) => s[WIDE.key]! < WIDE.value).length;
    expect(
      Math.abs(wideBelow - n * (Math.log(WIDE.value / WIDE.low) / Math.log(WIDE.high / WIDE.low))),
    ).toBeLessThanOrEqual(1);
  });

  it('gives every entry a value its schema accepts within [low, high] (integers, multiples of 8)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 200 }), fc.nat({ max: 2 ** 31 }), (n, seed) => {
        for (const s of latinHypercube([REAL, INTEGER, MULTIPLE], n, seed)) {
          for (const e of [REAL, INTEGER, MULTIPLE]) {
            const v = s[e.key]!;
            const range = entryRange(e.key);
            expect(v).toBeGreaterThanOrEqual(e.low);
            expect(v).toBeLessThanOrEqual(e.high);
            if (range.integer === true) expect(Number.isInteger(v)).toBe(true);
            if (range.multipleOf !== undefined) expect(v % range.multipleOf).toBe(0);
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('is the same for a seed, different for another, and one key’s draws do not depend on the others', () => {
    const a = latinHypercube([REAL, INTEGER], 10, 1);
    expect(latinHypercube([REAL, INTEGER], 10, 1)).toEqual(a);
    expect(latinHypercube([REAL, INTEGER], 10, 2)).not.toEqual(a);
    // Each key draws from its own named stream of the seed.
    expect(latinHypercube([REAL], 10, 1).map((s) => s[REAL.key])).toEqual(a.map((s) => s[REAL.key]));
  });

  it('pairs strata differently across keys (the permutations are independent)', () => {
    const points = latinHypercubeUnit(['a', 'b'], 50, 3);
    const sameStratum = points.filter((p) => Math.floor(p.a! * 50) === Math.floor(p.b! * 50)).length;
    expect(sameStratum).toBeLessThan(10);
  });

  it('rounds to the nearest valid value within the range', () => {
    expect(validValue(MULTIPLE.key, 131, 128, 1024)).toBe(128);
    expect(validValue(MULTIPLE.key, 133, 128, 1024)).toBe(136);
    expect(validValue(MULTIPLE.key, 1030, 128, 1024)).toBe(1024);
    expect(validValue(INTEGER.key, 16.4, 16, 128)).toBe(16);
    expect(validValue(INTEGER.key, 127.6, 16, 128)).toBe(128);
    expect(validValue(REAL.key, 1234.5, 300, 2500)).toBe(1234.5);
    // A range whose ends are not multiples keeps to the multiples inside it.
    expect(validValue(MULTIPLE.key, 100, 97, 110)).toBe(104);
  });
});

describe('percentile band', () => {
  it('interpolates linearly between order statistics (Hyndman–Fan 7)', () => {
    const xs = [10, 20, 30, 40, 50];
    expect(percentile(xs, 0)).toBe(10);
    expect(percentile(xs, 1)).toBe(50);
    expect(percentile(xs, 0.5)).toBe(30);
    // h = 4 × 0.05 = 0.2: 10 + 0.2 × 10.
    expect(percentile(xs, 0.05)).toBeCloseTo(12, 12);
    // h = 4 × 0.95 = 3.8: 40 + 0.8 × 10.
    expect(percentile(xs, 0.95)).toBeCloseTo(48, 12);
    // Order does not matter; three samples: h = 0.1 and 1.9.
    expect(percentile([3, 1, 2], 0.05)).toBeCloseTo(1.1, 12);
    expect(percentile([3, 1, 2], 0.95)).toBeCloseTo(2.9, 12);
    expect(percentile([7], 0.05)).toBe(7);
    expect(percentile([], 0.5)).toBeNaN();
  });

  it('keeps the base value apart, and skips samples that did not measure the figure', () => {
    expect(band(2, [10, null, 20, 30, 40, 50])).toEqual({ base: 2, p05: 12, p95: 48, n: 5 });
    expect(band(null, [1])).toEqual({ base: null, p05: 1, p95: 1, n: 1 });
    expect(band(1, [null, null])).toBeNull();
  });

  it('lies within the samples’ range and is ordered', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 50 }),
        (xs) => {
          const b = band(0, xs)!;
          expect(b.p05).toBeLessThanOrEqual(b.p95);
          expect(b.p05).toBeGreaterThanOrEqual(Math.min(...xs) - 1e-6);
          expect(b.p95).toBeLessThanOrEqual(Math.max(...xs) + 1e-6);
        },
      ),
    );
  });
});
