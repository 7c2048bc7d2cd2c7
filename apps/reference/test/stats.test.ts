import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { estimate, studentTQuantile, studentTwoSidedProbability } from '../src/stats.js';

describe("Student's t quantile", () => {
  // Two-sided 95% critical values, t(0.975, df), from any table of the t distribution
  // (e.g. NIST/SEMATECH e-Handbook of Statistical Methods, §1.3.6.7.2), to 3 decimals.
  it.each([
    [1, 12.706],
    [2, 4.303],
    [3, 3.182],
    [4, 2.776],
    [5, 2.571],
    [6, 2.447],
    [7, 2.365],
    [8, 2.306],
    [9, 2.262],
    [10, 2.228],
    [15, 2.131],
    [20, 2.086],
    [30, 2.042],
    [60, 2.0],
    [100, 1.984],
  ])('t(0.975, %i) = %f', (df, t) => {
    expect(studentTQuantile(0.975, df)).toBeCloseTo(t, 3);
  });

  it.each([
    [0.95, 4, 2.132],
    [0.995, 4, 4.604],
    [0.9, 1, 3.078],
    [0.99, 10, 2.764],
  ])('t(%f, %i) = %f at other levels', (p, df, t) => {
    expect(studentTQuantile(p, df)).toBeCloseTo(t, 3);
  });

  it('tends to the normal quantile 1.95996 as the degrees of freedom grow', () => {
    expect(studentTQuantile(0.975, 10_000)).toBeCloseTo(1.96, 3);
    expect(studentTQuantile(0.975, 10_000)).toBeGreaterThan(1.95996);
  });

  it('is the inverse of the closed-form distribution, odd under p → 1 − p, and falls as df grows', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.51, max: 0.999, noNaN: true }),
        fc.integer({ min: 1, max: 200 }),
        (p, df) => {
          const t = studentTQuantile(p, df);
          expect(studentTwoSidedProbability(t, df)).toBeCloseTo(2 * p - 1, 9);
          expect(studentTQuantile(1 - p, df)).toBeCloseTo(-t, 9);
          expect(studentTQuantile(p, df + 1)).toBeLessThan(t);
        },
      ),
      { seed: 2012, numRuns: 200 },
    );
    expect(studentTQuantile(0.5, 3)).toBe(0);
  });

  it('rejects degrees of freedom and levels it cannot take', () => {
    expect(() => studentTQuantile(0.975, 0)).toThrow(RangeError);
    expect(() => studentTQuantile(0.975, 2.5)).toThrow(/positive integer/);
    expect(() => studentTQuantile(1, 4)).toThrow(/\(0, 1\)/);
  });
});

describe('mean and 95% confidence interval', () => {
  it('is mean ± t(0.975, n − 1) · s / √n', () => {
    // 1..5: mean 3, s = √2.5, half-width 2.776445 · 1.581139 / 2.236068 = 1.963243.
    expect(estimate([1, 2, 3, 4, 5])).toEqual({ mean: 3, ci95: { low: 1.036757, high: 4.963243 }, n: 5 });
    // Two values 10 and 12: s = √2, half-width 12.706205 · √2 / √2 = 12.706205.
    expect(estimate([10, 12])).toEqual({ mean: 11, ci95: { low: -1.706205, high: 23.706205 }, n: 2 });
  });

  it('has no interval with one value, nothing with none, and a zero-width interval for equal values', () => {
    expect(estimate([7.5])).toEqual({ mean: 7.5, ci95: null, n: 1 });
    expect(estimate([])).toBeNull();
    expect(estimate([4, 4, 4])).toEqual({ mean: 4, ci95: { low: 4, high: 4 }, n: 3 });
  });

  it('always holds the mean, and is the same whatever the order of the values', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 30 }),
        (xs) => {
          const e = estimate(xs)!;
          expect(e.ci95!.low).toBeLessThanOrEqual(e.mean);
          expect(e.ci95!.high).toBeGreaterThanOrEqual(e.mean);
          const sorted = estimate([...xs].sort((a, b) => a - b))!;
          expect(sorted.mean).toBeCloseTo(e.mean, 4);
        },
      ),
      { seed: 2012, numRuns: 200 },
    );
  });
});
