import { describe, expect, it } from 'vitest';
import {
  type CalibrationProfile,
  entryRange,
  PROFILES,
  type ProfileEntry,
  ProfileError,
  profileByName,
  validateProfile,
  withOverrides,
  XEON_SKYLAKE_SP,
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

describe.each(Object.values(PROFILES).map((p) => [p.name, p] as const))(
  'shipped profile %s: validates, and every estimate has a range both of whose ends validate',
  (_name, profile) => {
    const all = Object.entries(profile.entries);

    it('validates, and holds every key xeon-x5570 has', () => {
      expect(() => validateProfile(profile)).not.toThrow();
      expect(Object.keys(profile.entries).sort()).toEqual(Object.keys(XEON_X5570.entries).sort());
      expect(profileByName(profile.name)).toBe(profile);
    });

    it.each(all.filter(([, e]) => e.estimate === true))(
      '%s: an estimate with low ≤ value ≤ high and its reasoning',
      (_k, e) => {
        expect(typeof e.low).toBe('number');
        expect(typeof e.high).toBe('number');
        expect(e.low as number).toBeLessThanOrEqual(e.value);
        expect(e.value).toBeLessThanOrEqual(e.high as number);
        expect((e.range ?? '').trim().length).toBeGreaterThan(20);
      },
    );

    it('each ranged entry validates at its low and at its high end', () => {
      for (const [key, e] of all) {
        if (e.low === undefined || e.high === undefined) continue;
        for (const end of [e.low, e.high]) {
          expect(() => validateProfile(withOverrides(profile, { [key]: end })), key).not.toThrow();
        }
      }
    });
  },
);

describe('XEON_SKYLAKE_SP', () => {
  const v = (key: string) => XEON_SKYLAKE_SP.entries[key]?.value;

  it('runs at the Gold 6138 base clock and sums its exit path to the measured vmcall round trip (1,529-1,559 cycles)', () => {
    expect(v('cpu.hz')).toBe(2e9);
    const roundTrip = [
      'cpu.vmExitCycles',
      'host.exitDispatch',
      'host.vmcall',
      'host.entryPrepare',
      'cpu.vmEntryCycles',
    ]
      .map((k) => v(k) as number)
      .reduce((a, b) => a + b, 0);
    expect(roundTrip).toBeGreaterThanOrEqual(1529);
    expect(roundTrip).toBeLessThanOrEqual(1559);
  });

  it('reflects Skylake: PAUSE ~140 cycles, DDIO (a warm receive copy), ixgbevf 4.x bulk class 12K', () => {
    expect(v('cpu.pauseCycles')).toBe(140);
    expect(v('guest.copyPerByte') as number).toBeLessThan(XEON_X5570.entries['guest.copyPerByte']!.value);
    expect(v('guest.ixgbevf.bulkRate')).toBe(12000);
    expect(v('guest.ixgbevf.itrDoubleConversion')).toBe(0);
  });

  it('profileByName lists the names for an unknown one', () => {
    expect(() => profileByName('pentium')).toThrow(ProfileError);
    expect(() => profileByName('pentium')).toThrow(/use one of xeon-x5570, xeon-skylake-sp/);
  });
});
