import * as cpu from '@exitless/cpu';
import * as eli from '@exitless/eli';
import * as guest from '@exitless/guest';
import * as hypervisor from '@exitless/hypervisor';
import * as iommu from '@exitless/iommu';
import * as lapic from '@exitless/lapic';
import * as nic from '@exitless/nic';
import * as workloads from '@exitless/workloads';
import * as x86 from '@exitless/x86';
import { UserError } from '@exitless/x86';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as machine from '../src/index.js';
import {
  BUILTIN_MODES,
  type CalibrationProfile,
  Machine,
  type MachineConfig,
  modeRefusal,
  type NumberRange,
  PROFILE_SCHEMA,
  runMachine,
  WORKLOADS,
  XEON_X5570,
} from '../src/index.js';

/**
 * Random machine configurations, good and bad, built and run briefly. Each case either
 * throws a UserError (MachineConfigError, ProfileError, WorkloadOptionsError…) whose message
 * names one of the fields the case changed and says what that field accepts, or it runs.
 * Anything else — a TypeError or RangeError from deep inside a component, an error that
 * names no field, a run that never ends — fails the property.
 */

/**
 * Fixed seeds and bounded runs: the same cases in CI every time. CONFIG_FUZZ_SEED and
 * CONFIG_FUZZ_RUNS override them for a longer search by hand.
 */
const FC = {
  seed: Number(process.env.CONFIG_FUZZ_SEED ?? 20_120_303),
  numRuns: Number(process.env.CONFIG_FUZZ_RUNS ?? 200),
} as const;

/** Long enough for the load generators (they start at 0.5 ms) to talk to the guests. */
const SHORT_RUN = { durationMs: 0.5, warmupMs: 0.6 } as const;

/**
 * A run of SHORT_RUN schedules about a thousand events per guest; far more means the
 * configuration made the machine spin (a zero-time loop, a flood of timers), which must be
 * rejected up front instead.
 */
const EVENT_BUDGET = 400_000;

class RunawayRun extends Error {}

/**
 * A value for a field, and whether it is wrong whatever the field: NaN, ±Infinity, a value
 * of the wrong type, an unknown key or name. A case holding one of those must be rejected;
 * running it anyway would be a silent default.
 */
interface Tagged {
  readonly value: unknown;
  readonly bad: boolean;
}
const ok = (value: unknown): Tagged => ({ value, bad: false });
const bad = (value: unknown): Tagged => ({ value, bad: true });

/** Numbers a typo, a unit mix-up or an overflow produces: wrong for some fields, right for others. */
const oddNumber: fc.Arbitrary<Tagged> = fc.oneof(
  fc.constantFrom(-1, -0, 0, 0.5, 1.5, 3, 1e9, 1e300, 2 ** 31, 2 ** 53, -(2 ** 31), Number.MAX_VALUE).map(ok),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(ok),
  fc.integer({ min: -1000, max: 2_000_000_000 }).map(ok),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY).map(bad),
);

/** Values of the wrong type for every field (including ones that throw when turned into a string). */
const wrongType: fc.Arbitrary<Tagged> = fc
  .constantFrom<unknown>('12', '', null, true, [], [3], 10n, Symbol('odd'), () => 1)
  .map(bad);

/** Empty objects (one with no prototype, whose conversion to a string throws): wrong for any scalar field. */
const emptyObject: fc.Arbitrary<Tagged> = fc.constantFrom<unknown>({}, Object.create(null)).map(bad);

const odd: fc.Arbitrary<Tagged> = fc.oneof(oddNumber, wrongType, emptyObject);

/** A field of a case: a value, or absent (most fields are absent in most cases). */
const ABSENT = Symbol('absent');
type Maybe<T> = T | typeof ABSENT;
const maybe = <T>(arb: fc.Arbitrary<T>, absentWeight = 5): fc.Arbitrary<Maybe<T>> =>
  fc.oneof({ arbitrary: fc.constant(ABSENT), weight: absentWeight }, { arbitrary: arb, weight: 1 });

/** A field that is usually given a valid value, sometimes an odd one. */
const field = (
  valid: fc.Arbitrary<unknown>,
  invalid: fc.Arbitrary<Tagged> = odd,
): fc.Arbitrary<Maybe<Tagged>> =>
  maybe(fc.oneof({ arbitrary: valid.map(ok), weight: 3 }, { arbitrary: invalid, weight: 1 }));

/** A section of workload options: known fields (valid or odd) and sometimes a misspelt one. */
function section(
  fields: Readonly<Record<string, fc.Arbitrary<unknown>>>,
  typo: string,
): fc.Arbitrary<Tagged> {
  const entries = Object.entries(fields).map(
    ([name, valid]) =>
      [name, fc.oneof({ arbitrary: valid.map(ok), weight: 3 }, { arbitrary: odd, weight: 1 })] as const,
  );
  const record = fc.record(
    { ...Object.fromEntries(entries), [typo]: fc.constant(bad(1)) },
    { requiredKeys: [] },
  ) as fc.Arbitrary<Record<string, Tagged>>;
  return fc.oneof(
    { arbitrary: wrongType, weight: 1 },
    {
      arbitrary: record.map((r) => ({
        value: Object.fromEntries(Object.entries(r).map(([k, t]) => [k, t.value])),
        bad: Object.values(r).some((t) => t.bad),
      })),
      weight: 5,
    },
  );
}

const workloadOptions: fc.Arbitrary<Tagged> = fc.oneof(
  { arbitrary: wrongType, weight: 1 },
  {
    arbitrary: (
      fc.record(
        {
          udpRr: section(
            {
              requestSize: fc.integer({ min: 0, max: 1472 }),
              responseSize: fc.integer({ min: 0, max: 1472 }),
            },
            'requestsize',
          ),
          apache: section(
            { concurrency: fc.integer({ min: 1, max: 64 }), fileSize: fc.integer({ min: 0, max: 65536 }) },
            'files',
          ),
          memcached: section(
            {
              concurrency: fc.integer({ min: 1, max: 64 }),
              setRatio: fc.double({ min: 0, max: 1, noNaN: true }),
              keySize: fc.integer({ min: 4, max: 250 }),
              valueSize: fc.integer({ min: 1, max: 4096 }),
              keys: fc.integer({ min: 1, max: 5000 }),
            },
            'getRatio',
          ),
          netperf: fc.constant(bad({})),
        },
        { requiredKeys: [] },
      ) as fc.Arbitrary<Record<string, Tagged>>
    ).map((r) => ({
      value: Object.fromEntries(Object.entries(r).map(([k, t]) => [k, t.value])),
      bad: Object.values(r).some((t) => t.bad),
    })),
    weight: 6,
  },
);

/** One change to an entry of the default profile (a changed value is marked as an override: it may leave the entry's range). */
const schemaKeys = Object.keys(PROFILE_SCHEMA);
const profileChange = fc
  .tuple(
    fc.constantFrom(...schemaKeys),
    fc.constantFrom('delete', 'entry', 'value', 'scaled', 'source', 'unit'),
    odd,
    fc.constantFrom(0, 0.001, 0.1, 0.5, 2, 10, 1000),
  )
  .map(([key, how, odd, factor]) => {
    const e = XEON_X5570.entries[key]!;
    switch (how) {
      case 'delete':
        return { key, entry: ABSENT, bad: true };
      case 'entry':
        return { key, entry: odd.value, bad: true };
      case 'value':
        return { key, entry: { ...e, value: odd.value, overridden: e.value }, bad: odd.bad };
      case 'scaled':
        return { key, entry: { ...e, value: e.value * factor, overridden: e.value }, bad: false };
      case 'source':
        return {
          key,
          entry: { ...e, source: odd.value },
          bad: typeof odd.value !== 'string' || odd.value.trim() === '',
        };
      default:
        return { key, entry: { ...e, unit: 'furlongs' }, bad: true };
    }
  });

/** A profile: the default with a few entries changed, or not a profile at all; blamed by its entries' keys. */
const profile: fc.Arbitrary<Tagged & { readonly blame: readonly string[] }> = fc.oneof(
  {
    arbitrary: fc
      .uniqueArray(profileChange, { minLength: 1, maxLength: 3, selector: (c) => c.key })
      .map((changes) => {
        const entries: Record<string, unknown> = { ...XEON_X5570.entries };
        for (const c of changes) {
          if (c.entry === ABSENT) delete entries[c.key];
          else entries[c.key] = c.entry;
        }
        return {
          value: { ...XEON_X5570, entries },
          bad: changes.some((c) => c.bad),
          blame: changes.map((c) => c.key),
        };
      }),
    weight: 6,
  },
  {
    arbitrary: fc
      .constantFrom<unknown>(
        null,
        'xeon-x5570',
        42,
        {},
        { name: 'x', description: 'y' },
        { ...XEON_X5570, entries: null },
        { ...XEON_X5570, entries: [] },
        { ...XEON_X5570, name: 7 },
      )
      .map((value) => ({ value, bad: true, blame: ['profile'] })),
    weight: 1,
  },
);

/** One random case: the configuration, the names an error about it may blame, and whether it must be rejected. */
interface Case {
  readonly config: Record<string, unknown>;
  readonly blame: readonly string[];
  readonly mustReject: boolean;
}

const FIELDS = {
  workload: field(
    fc.constantFrom(...WORKLOADS),
    fc.oneof(odd, fc.constantFrom('netperf', 'constructor').map(bad)),
  ),
  guests: field(fc.integer({ min: 1, max: 3 })),
  seed: field(fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.constant(Number.MAX_SAFE_INTEGER))),
  guestMemoryMiB: field(fc.constantFrom(64, 128, 256, 1024, 2048)),
  guestApicMode: field(fc.constantFrom('xapic', 'x2apic'), fc.oneof(odd, fc.constant(bad('X2APIC')))),
  phases: field(fc.constantFrom('seeded', 'aligned'), fc.oneof(odd, fc.constant(bad('random')))),
  interruptIntervalUs: field(
    fc.oneof(fc.integer({ min: 0, max: 1022 }), fc.double({ min: 0, max: 1022, noNaN: true })),
  ),
  workloadOptions: maybe(workloadOptions, 2),
  strategies: maybe(
    fc.oneof(
      fc.constant(ok({})),
      fc
        .constantFrom<unknown>(null, 5, 'eli', { 'my-mode': 5 }, { 'my-mode': null }, { eli: () => null })
        .map(bad),
    ),
  ),
  lapicFactory: maybe(fc.oneof(wrongType, emptyObject), 8),
  guestOverride: maybe(fc.oneof(wrongType, emptyObject), 8),
  tracer: maybe(fc.oneof(wrongType, emptyObject), 8),
} as const;

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    mode: fc.oneof(
      // Modes the default profile runs (`posted` needs APIC virtualization: its own tests use xeon-skylake-sp).
      {
        arbitrary: fc
          .constantFrom(...BUILTIN_MODES.filter((m) => modeRefusal(m, XEON_X5570) === null))
          .map(ok),
        weight: 8,
      },
      {
        arbitrary: fc.constantFrom('my-mode', 'ELI', 'posted', 'constructor', 'toString').map(bad),
        weight: 1,
      },
      { arbitrary: fc.oneof(wrongType, emptyObject), weight: 1 },
    ),
    ...FIELDS,
    profile: maybe(profile, 3),
    unknown: maybe(
      fc.tuple(
        fc.constantFrom('guest', 'Mode', 'durationMs', 'workloadOption', 'constructor', 'hasOwnProperty'),
        odd,
      ),
      8,
    ),
  })
  .map((r) => {
    const config: Record<string, unknown> = { mode: r.mode.value };
    const blame: string[] = r.mode.bad ? ['mode'] : [];
    let mustReject = r.mode.bad;
    for (const key of Object.keys(FIELDS) as (keyof typeof FIELDS)[]) {
      const t = r[key];
      if (t === ABSENT) continue;
      config[key] = t.value;
      blame.push(key);
      mustReject ||= t.bad;
    }
    if (r.profile !== ABSENT) {
      config.profile = r.profile.value;
      blame.push(...r.profile.blame);
      mustReject ||= r.profile.bad;
    }
    if (r.unknown !== ABSENT) {
      // Defined as an own property, as JSON.parse would make it (`constructor` included).
      Object.defineProperty(config, r.unknown[0], {
        value: r.unknown[1].value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      blame.push(r.unknown[0]);
      mustReject = true;
    }
    return { config, blame, mustReject };
  });

/** Builds and briefly runs the machine with a budget of scheduled events; returns what happened. */
function buildAndRun(config: MachineConfig): 'ran' {
  const m = new Machine(config);
  const sim = m.sim;
  let scheduled = 0;
  const guard = () => {
    if (++scheduled > EVENT_BUDGET) throw new RunawayRun(`more than ${EVENT_BUDGET} events scheduled`);
  };
  const schedule = sim.schedule.bind(sim);
  const reschedule = sim.reschedule.bind(sim);
  sim.schedule = (ev, time) => {
    guard();
    schedule(ev, time);
  };
  sim.reschedule = (ev, time) => {
    guard();
    reschedule(ev, time);
  };
  runMachine(m, SHORT_RUN);
  return 'ran';
}

/** The verdict on one case: why it fails the property, or null when it holds. */
function violation(c: Case): string | null {
  try {
    buildAndRun(c.config as unknown as MachineConfig);
    return c.mustReject
      ? `ran, though it holds a value no field accepts (one of ${c.blame.join(', ')})`
      : null;
  } catch (error) {
    if (!(error instanceof UserError)) {
      return `threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}, not a UserError`;
    }
    if (!c.blame.some((name) => error.message.includes(name))) {
      return `${error.name} '${error.message}' names none of the changed fields (${c.blame.join(', ')})`;
    }
    if (!/\b(must|use|add)\b/.test(error.message)) {
      return `${error.name} '${error.message}' does not say what the field accepts`;
    }
    return null;
  }
}

describe('random machine configurations', () => {
  it('are rejected with a UserError naming the field and what it accepts, or run', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const why = violation(c);
        if (why !== null) throw new Error(why);
      }),
      FC,
    );
  }, 60_000);

  it('include both kinds: the generator is not all rejections or all runs', () => {
    const verdicts = fc.sample(caseArb, { seed: FC.seed, numRuns: 40 }).map((c) => {
      try {
        buildAndRun(c.config as unknown as MachineConfig);
        return 'ran';
      } catch {
        return 'rejected';
      }
    });
    expect(verdicts).toContain('ran');
    expect(verdicts).toContain('rejected');
  }, 30_000);
});

/** A value anywhere in a range, its ends included. */
function inRangeValue(r: NumberRange): fc.Arbitrary<number> {
  if (r.integer === true) {
    const step = r.multipleOf ?? 1;
    const lo = Math.ceil(r.min / step);
    const hi = Math.floor(r.max / step);
    return fc.oneof(fc.constantFrom(lo, hi), fc.integer({ min: lo, max: hi })).map((k) => k * step);
  }
  return fc.oneof(fc.constantFrom(r.min, r.max), fc.double({ min: r.min, max: r.max, noNaN: true }));
}

describe('profiles anywhere inside PROFILE_SCHEMA', () => {
  it('run on every mode and workload: the ranges admit no crash and no runaway run', () => {
    const keys = Object.keys(PROFILE_SCHEMA);
    const arb = fc.record({
      mode: fc.constantFrom(...BUILTIN_MODES.filter((m) => modeRefusal(m, XEON_X5570) === null)),
      workload: fc.constantFrom(...WORKLOADS),
      changes: fc
        .uniqueArray(fc.constantFrom(...keys), { minLength: 1, maxLength: keys.length })
        .chain((ks) =>
          fc.tuple(...ks.map((k) => inRangeValue(PROFILE_SCHEMA[k]!).map((v) => [k, v] as const))),
        ),
    });
    fc.assert(
      fc.property(arb, ({ mode, workload, changes }) => {
        const entries: Record<string, (typeof XEON_X5570.entries)[string]> = { ...XEON_X5570.entries };
        for (const [k, value] of changes)
          entries[k] = { ...XEON_X5570.entries[k]!, value, overridden: XEON_X5570.entries[k]!.value };
        expect(buildAndRun({ mode, workload, profile: { ...XEON_X5570, entries } })).toBe('ran');
      }),
      { seed: FC.seed, numRuns: 60 },
    );
  }, 60_000);

  it('run with every entry at its lowest cost and latency, the fastest machine the schema allows', () => {
    const entries: Record<string, (typeof XEON_X5570.entries)[string]> = { ...XEON_X5570.entries };
    for (const [k, r] of Object.entries(PROFILE_SCHEMA)) {
      const fastest = k === 'cpu.hz' || k === 'nic.lineRate' ? r.max : r.min;
      entries[k] = { ...XEON_X5570.entries[k]!, value: fastest, overridden: XEON_X5570.entries[k]!.value };
    }
    for (const workload of WORKLOADS) {
      expect(buildAndRun({ mode: 'baseline', workload, profile: { ...XEON_X5570, entries } })).toBe('ran');
    }
  }, 30_000);
});

describe('configurations that would take huge resources', () => {
  it.each([
    [{ guests: 1e6 }, /guests must be an integer from 1 to 8/],
    [{ guestMemoryMiB: 1e9 }, /guestMemoryMiB must be an even integer from 64 to 3840/],
    [{ guests: 8, guestMemoryMiB: 1024 }, /guests × guestMemoryMiB must be at most 4096 MiB/],
    [
      { workload: 'memcached', workloadOptions: { memcached: { keys: 1e12 } } },
      /memcached\.keys must be .* to 1000000/,
    ],
    [
      {
        workload: 'memcached',
        workloadOptions: { memcached: { concurrency: 10_000, valueSize: 1_048_576 } },
      },
      /memcached: concurrency × \(keySize \+ valueSize\) must be at most/,
    ],
    [
      { workload: 'apache', workloadOptions: { apache: { concurrency: 1e7 } } },
      /apache\.concurrency must be .* to 14116/,
    ],
  ])('%o is rejected up front with the limit', (extra, message) => {
    expect(() => new Machine({ mode: 'baseline', ...extra } as MachineConfig)).toThrow(message);
  });

  it.each([
    ['nic.lineRate', 1e300],
    ['guest.hz', 1e9],
    ['cpu.hz', 1],
    ['guest.rxRing', 1e9],
  ])('a profile with %s = %d is rejected with its range', (key, value) => {
    const entries = {
      ...XEON_X5570.entries,
      [key]: { ...XEON_X5570.entries[key]!, value, overridden: XEON_X5570.entries[key]!.value },
    };
    const bad: CalibrationProfile = { ...XEON_X5570, entries };
    expect(() => new Machine({ mode: 'baseline', profile: bad })).toThrow(
      new RegExp(`'${key.replace('.', '\\.')}' must be .*from .* to `),
    );
  });
});

describe('runMachine options', () => {
  it.each([
    [{ durationMs: Number.NaN, warmupMs: 0 }, /durationMs must be/],
    [{ durationMs: -1, warmupMs: 0 }, /durationMs must be/],
    [{ durationMs: 1, warmupMs: Number.POSITIVE_INFINITY }, /warmupMs must be/],
    [{ durationMs: 1e300, warmupMs: 0 }, /durationMs must be a number from 0.001 to 9007199 ms/],
    [{ durationMs: 5e6, warmupMs: 5e6 }, /durationMs \+ warmupMs must be at most 9007199 ms/],
    [{ durationMs: '5', warmupMs: 0 }, /durationMs must be/],
  ])('%o is a UserError naming the option', (options, message) => {
    const m = new Machine({ mode: 'bare-metal' });
    const run = () => runMachine(m, options as unknown as { durationMs: number; warmupMs: number });
    expect(run).toThrow(UserError);
    expect(run).toThrow(message);
  });

  it('a machine runs once: a second run is a UserError, not a clock error from the kernel', () => {
    const m = new Machine({ mode: 'bare-metal' });
    runMachine(m, { durationMs: 0.1, warmupMs: 0 });
    expect(() => runMachine(m, { durationMs: 0.1, warmupMs: 0 })).toThrow(/build a new Machine/);
  });
});

describe('errors a user can cause', () => {
  it('are UserErrors in every package, so a front end recognises them by type', () => {
    const packages = { cpu, eli, guest, hypervisor, iommu, lapic, nic, workloads, x86, machine };
    const classes = Object.entries(packages).flatMap(([pkg, exports]) =>
      Object.entries(exports as Record<string, unknown>)
        .filter(([name, value]) => /(Config|Options|Profile)Error$/.test(name) && typeof value === 'function')
        .map(([name, value]) => [`${pkg}.${name}`, value as new (message: string) => Error] as const),
    );
    expect(classes.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        'cpu.CpuConfigError',
        'eli.EliConfigError',
        'hypervisor.HypervisorConfigError',
        'machine.MachineConfigError',
        'machine.ProfileError',
        'machine.WorkloadOptionsError',
        'machine.RunOptionsError',
        'workloads.WorkloadConfigError',
      ]),
    );
    for (const [name, ErrorClass] of classes) {
      const error = new ErrorClass('what to change');
      expect(error, name).toBeInstanceOf(UserError);
      expect(error.name, name).toBe(name.split('.')[1]);
    }
  });
});
