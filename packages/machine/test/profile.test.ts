import { describe, expect, it } from 'vitest';
import {
  type CalibrationProfile,
  entryRange,
  type ProfileEntry,
  ProfileError,
  validateProfile,
  withOverrides,
  XEON_X5570,
} from '../src/index.js';

const entries = Object.entries(XEON_X5570.entries);
const estimates = entries.filter(([, e]) => e.estimate === true);
const ranged = entries.filter(
  ([, e]) => e.low !== undefined || e.high !== undefined || e.range !== undefined,
);

/** XEON_X5570 with one entry replaced as it is, not as withOverrides would (which keeps low, high and range). */
function withEntry(key: string, entry: ProfileEntry): CalibrationProfile {
  return { ...XEON_X5570, entries: { ...XEON_X5570.entries, [key]: entry } };
}

function entry(key: string): ProfileEntry {
  const e = XEON_X5570.entries[key];
  if (e === undefined) throw new Error(`XEON_X5570 has no entry '${key}'`);
  return e;
}

describe('XEON_X5570: every estimate has a range', () => {
  it('holds estimates and ranged entries', () => {
    expect(estimates.length).toBeGreaterThan(50);
    expect(ranged.length).toBeGreaterThan(50);
  });

  it.each(estimates)('%s has low ≤ value ≤ high and says how the range was chosen', (_key, e) => {
    expect(typeof e.low).toBe('number');
    expect(typeof e.high).toBe('number');
    expect(e.low as number).toBeLessThanOrEqual(e.value);
    expect(e.value).toBeLessThanOrEqual(e.high as number);
    expect(e.low as number).toBeLessThan(e.high as number);
    expect(typeof e.range).toBe('string');
    expect((e.range as string).trim().length).toBeGreaterThan(20);
  });

  it.each(ranged)(
    '%s: both ends are values the schema accepts (the profile validates with the value at low and at high)',
    (key, e) => {
      expect(e.low).toBeDefined();
      expect(e.high).toBeDefined();
      expect(e.range?.trim()).toBeTruthy();
      for (const end of [e.low as number, e.high as number]) {
        const profile = withOverrides(XEON_X5570, { [key]: end });
        expect(() => validateProfile(profile)).not.toThrow();
        expect(profile.entries[key]?.value).toBe(end);
      }
    },
  );

  it('ranges of integer entries stay integers (and rings multiples of 8)', () => {
    for (const [key, e] of ranged) {
      const spec = entryRange(key);
      if (spec.integer === true) {
        expect(Number.isInteger(e.low), key).toBe(true);
        expect(Number.isInteger(e.high), key).toBe(true);
      }
      if (spec.multipleOf !== undefined) {
        expect((e.low as number) % spec.multipleOf, key).toBe(0);
        expect((e.high as number) % spec.multipleOf, key).toBe(0);
      }
    }
  });

  it('the shipped profile validates', () => {
    expect(() => validateProfile(XEON_X5570)).not.toThrow();
  });
});

describe('validateProfile rejects a bad range, naming the entry', () => {
  const key = 'guest.rxPerFrame';

  it('low above the value', () => {
    const e = entry(key);
    const bad = withEntry(key, { ...e, low: e.value + 1 });
    expect(() => validateProfile(bad)).toThrow(ProfileError);
    expect(() => validateProfile(bad)).toThrow(/'guest\.rxPerFrame' must have low ≤ value ≤ high/);
  });

  it('high below the value', () => {
    const e = entry(key);
    const bad = withEntry(key, { ...e, high: e.value - 1 });
    expect(() => validateProfile(bad)).toThrow(/'guest\.rxPerFrame' must have low ≤ value ≤ high/);
  });

  it('low and high without the range text', () => {
    const { range: _range, ...rest } = entry(key);
    expect(() => validateProfile(withEntry(key, rest))).toThrow(
      /'guest\.rxPerFrame' has low and high, so it needs range/,
    );
    expect(() => validateProfile(withEntry(key, { ...rest, range: '  ' }))).toThrow(
      /'guest\.rxPerFrame' has low and high/,
    );
  });

  it('a range without low or high', () => {
    const { high: _high, ...rest } = entry(key);
    expect(() => validateProfile(withEntry(key, rest))).toThrow(/'guest\.rxPerFrame'\.high must be/);
  });

  it('an end outside the schema: a negative cost, a ring that is not a multiple of 8, a flag beyond 1', () => {
    const e = entry(key);
    expect(() => validateProfile(withEntry(key, { ...e, low: -1 }))).toThrow(
      /'guest\.rxPerFrame'\.low must be a number from 0/,
    );
    const ring = entry('guest.rxRing');
    expect(() =>
      validateProfile(withEntry('guest.rxRing', { ...ring, low: 500, high: 512, range: 'a bad ring range' })),
    ).toThrow(/'guest\.rxRing'\.low must be an integer multiple of 8/);
    const flag = entry('guest.ixgbevf.itrDoubleConversion');
    expect(() =>
      validateProfile(
        withEntry('guest.ixgbevf.itrDoubleConversion', {
          ...flag,
          low: 0,
          high: 2,
          range: 'a bad flag range',
        }),
      ),
    ).toThrow(/'guest\.ixgbevf\.itrDoubleConversion'\.high must be an integer from 0 to 1/);
  });
});
