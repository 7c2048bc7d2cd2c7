import { describe, expect, it } from 'vitest';
import { ClockDomain, cyclesToPs, ms, ns, psToCycles, seconds, us } from '../src/index.js';

describe('time helpers', () => {
  it('converts units to integer picoseconds', () => {
    expect(ns(1)).toBe(1_000);
    expect(us(1)).toBe(1_000_000);
    expect(ms(5)).toBe(5_000_000_000);
    expect(seconds(1)).toBe(1_000_000_000_000);
    expect(ns(0.3413)).toBe(341);
  });

  it('converts cycles at 2.93 GHz', () => {
    expect(cyclesToPs(2_930_000_000, 2.93e9)).toBe(1_000_000_000_000);
    expect(cyclesToPs(2000, 2.93e9)).toBe(682_594);
    expect(psToCycles(1_000_000_000_000, 2.93e9)).toBe(2_930_000_000);
  });

  it('ClockDomain round-trips whole cycles', () => {
    const c = new ClockDomain(2.93e9);
    for (const n of [0, 1, 7, 2000, 123_456_789]) {
      expect(c.psToCycles(c.cyclesToPs(n))).toBe(n);
      expect(c.psToCyclesCeil(c.cyclesToPs(n))).toBe(n);
    }
    expect(() => new ClockDomain(0)).toThrow(/positive/);
  });
});
