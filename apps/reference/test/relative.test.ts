import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ratio, withRelative } from '../src/relative.js';
import { fixedReport } from './fixtures.js';

describe('relative throughput', () => {
  it('divides by the bare-metal and the baseline run of the same workload', () => {
    const rows = withRelative([
      fixedReport('bare-metal', 8000),
      fixedReport('baseline', 5000),
      fixedReport('eli', 7800),
    ]);
    expect(rows.map((r) => r.relative)).toEqual([
      { toBareMetal: 1, toBaseline: 1.6, eliGainKept: 1.071429 },
      { toBareMetal: 0.625, toBaseline: 1, eliGainKept: 0 },
      { toBareMetal: 0.975, toBaseline: 1.56, eliGainKept: 1 },
    ]);
  });

  it('compares only within a workload: each workload has its own references', () => {
    const rows = withRelative([
      fixedReport('bare-metal', 10, { workload: 'a', unit: 'tx/s' }),
      fixedReport('bare-metal', 1000, { workload: 'b' }),
      fixedReport('baseline', 5, { workload: 'a', unit: 'tx/s' }),
      fixedReport('baseline', 800, { workload: 'b' }),
    ]);
    expect(rows.map((r) => r.relative.toBareMetal)).toEqual([1, 1, 0.5, 0.8]);
    expect(rows.map((r) => r.relative.toBaseline)).toEqual([2, 1.25, 1, 1]);
  });

  it('is null without a reference run or with a zero one', () => {
    expect(withRelative([fixedReport('eli', 10)])[0]!.relative).toEqual({
      toBareMetal: null,
      toBaseline: null,
      eliGainKept: null,
    });
    const rows = withRelative([fixedReport('bare-metal', 0), fixedReport('baseline', 3)]);
    expect(rows[1]!.relative).toEqual({ toBareMetal: null, toBaseline: 1, eliGainKept: null });
    expect(ratio(5, undefined)).toBeNull();
    expect(ratio(5, 0)).toBeNull();
  });

  it('groups by a caller-given key (a sweep compares at the same parameter value)', () => {
    const reports = [
      { ...fixedReport('bare-metal', 100), v: 1 },
      { ...fixedReport('bare-metal', 200), v: 2 },
      { ...fixedReport('baseline', 50), v: 1 },
      { ...fixedReport('baseline', 50), v: 2 },
    ];
    const rows = withRelative(reports, (r) => String(r.v));
    expect(rows.map((r) => r.relative.toBareMetal)).toEqual([1, 1, 0.5, 0.25]);
  });

  it('for any positive throughputs: bare metal is 1, baseline is 1, and the ratios compose', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1, max: 1e6, noNaN: true }),
        fc.double({ min: 1, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        (bare, base, x) => {
          const [b, bl, r] = withRelative([
            fixedReport('bare-metal', bare),
            fixedReport('baseline', base),
            fixedReport('eli', x),
          ]);
          expect(b!.relative.toBareMetal).toBe(1);
          expect(bl!.relative.toBaseline).toBe(1);
          expect(r!.relative.toBareMetal!).toBeCloseTo(x / bare, 5);
          expect(r!.relative.toBaseline!).toBeCloseTo(x / base, 5);
        },
      ),
    );
  });
});
