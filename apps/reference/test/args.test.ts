import { XEON_X5570 } from '@exitless/machine';
import { describe, expect, it } from 'vitest';
import { parseNumber, UsageError } from '../src/args.js';
import { availableModes, availableWorkloads, modesFor } from '../src/modes.js';
import { parseReproduceArgs, REPRODUCE_DEFAULTS, reproduceJobs } from '../src/reproduce.js';
import { checkSweepValues, parseSweepArgs, SWEEP_PARAMETERS, sweepPlan } from '../src/sweep.js';

describe('available modes and workloads', () => {
  it("take the machine's MODES when it exports one, keeping built-in modes it lacks", () => {
    expect(
      availableModes({ BUILTIN_MODES: ['bare-metal', 'baseline'], MODES: ['bare-metal', 'baseline', 'eli'] }),
    ).toEqual(['bare-metal', 'baseline', 'eli']);
    expect(availableModes({ BUILTIN_MODES: ['bare-metal', 'baseline'], MODES: ['eli'] })).toEqual([
      'eli',
      'bare-metal',
      'baseline',
    ]);
  });

  it('fall back to BUILTIN_MODES, and ignore an export that is not a list of names', () => {
    expect(availableModes({ BUILTIN_MODES: ['bare-metal'] })).toEqual(['bare-metal']);
    expect(availableModes({ BUILTIN_MODES: ['bare-metal'], MODES: { eli: 1 } })).toEqual(['bare-metal']);
    expect(availableWorkloads({})).toEqual([]);
  });

  it('of the real machine include bare metal and baseline', () => {
    expect(availableModes()).toEqual(expect.arrayContaining(['bare-metal', 'baseline']));
    expect(availableWorkloads()).toContain('netperf-tcp-stream');
  });
});

describe('reproduce arguments', () => {
  it('default to every workload and mode the machine has, and the documented durations', () => {
    const o = parseReproduceArgs([]);
    expect(o.workloads).toEqual(availableWorkloads());
    expect(o.modes).toEqual(modesFor(XEON_X5570));
    expect([o.durationMs, o.warmupMs, o.seed, o.outDir]).toEqual([
      REPRODUCE_DEFAULTS.durationMs,
      REPRODUCE_DEFAULTS.warmupMs,
      1,
      'out/reproduce',
    ]);
    expect(o.jobs).toBeGreaterThanOrEqual(1);
  });

  it('keep the order the user gives and drop repeats', () => {
    const o = parseReproduceArgs(['--modes', 'baseline,bare-metal,baseline', '--jobs', '3', '--seed', '42']);
    expect(o.modes).toEqual(['baseline', 'bare-metal']);
    expect([o.jobs, o.seed]).toEqual([3, 42]);
  });

  it.each([
    [
      ['--modes', 'no-such-mode'],
      /mode not available in this build of @exitless\/machine: no-such-mode; use bare-metal, baseline/,
    ],
    [
      ['--workloads', 'netperf-tcp-stream,,x'],
      /--workloads takes a comma-separated list with no empty items/,
    ],
    [['--duration', '0'], /--duration must be a number ≥ 0.001, got '0'/],
    [['--warmup=-1'], /--warmup must be a number ≥ 0/],
    [['--jobs', '1.5'], /--jobs must be an integer from 1 to 256, got '1.5'/],
    [['--seed', 'x'], /--seed must be an integer/],
    [['--out', ''], /--out must name a directory/],
    [['extra'], /reproduce takes no positional arguments/],
  ])('reject %j with a UsageError that says what to change', (args, message) => {
    expect(() => parseReproduceArgs(args)).toThrow(UsageError);
    expect(() => parseReproduceArgs(args)).toThrow(message);
  });

  it('reject an unknown option with a UsageError that lists the options reproduce takes', () => {
    expect(() => parseReproduceArgs(['--mode', 'eli'])).toThrow(UsageError);
    expect(() => parseReproduceArgs(['--mode', 'eli'])).toThrow(
      /unknown option '--mode' for 'exitless reproduce': use --workloads a,b, --modes a,b, /,
    );
  });

  it('parseNumber accepts the bounds and rejects blanks', () => {
    expect(parseNumber('1022', 'x', 0, 0, { max: 1022 })).toBe(1022);
    expect(() => parseNumber('1023', 'x', 0, 0, { max: 1022 })).toThrow(/from 0 to 1022/);
    expect(() => parseNumber(' ', 'x', 0, 0)).toThrow(UsageError);
  });
});

describe('sweep arguments', () => {
  it('default to the interrupt interval, its default values, and every mode', () => {
    const o = parseSweepArgs([]);
    expect(o.param).toBe('interrupt-interval');
    expect(o.values).toEqual(SWEEP_PARAMETERS['interrupt-interval']!.defaultValues);
    expect(o.modes).toEqual(modesFor(XEON_X5570));
    expect(o.workload).toBe('netperf-tcp-stream');
  });

  it('always run bare metal, since the y-axis is relative to it', () => {
    expect(parseSweepArgs(['--modes', 'baseline']).modes).toEqual(['bare-metal', 'baseline']);
  });

  it('plan value-major runs with the interval set on each job', () => {
    const plan = sweepPlan(parseSweepArgs(['--values', '4,200', '--modes', 'bare-metal,baseline']));
    expect(plan.map((p) => [p.value, p.job.mode, p.job.interruptIntervalUs])).toEqual([
      [4, 'bare-metal', 4],
      [4, 'baseline', 4],
      [200, 'bare-metal', 200],
      [200, 'baseline', 200],
    ]);
  });

  it.each([
    [['--param', 'cpu-speed'], /unknown --param 'cpu-speed': use one of interrupt-interval/],
    [['--values', '2,x'], /--values must be a number ≥ 0, got 'x'/],
    [['--values', ''], /--values takes a comma-separated list/],
    [['--workload', 'nope'], /workload not available in this build of @exitless\/machine: nope/],
  ])('reject %j with a UsageError', (args, message) => {
    expect(() => parseSweepArgs(args)).toThrow(UsageError);
    expect(() => parseSweepArgs(args)).toThrow(message);
  });

  it('turn a value the machine rejects (beyond EITR) into a UsageError with the machine’s reason', () => {
    const o = parseSweepArgs(['--values', '6,5000']);
    expect(() => checkSweepValues(o)).toThrow(UsageError);
    expect(() => checkSweepValues(o)).toThrow(/interrupt-interval 5000 is rejected by the machine: .*1022/);
    expect(() => checkSweepValues(parseSweepArgs(['--values', '0,1022']))).not.toThrow();
  });
});

describe('modes a profile refuses', () => {
  it('are left out of "every mode", and asking for one by name is a UsageError that says what to change', () => {
    expect(modesFor(XEON_X5570)).not.toContain('posted');
    expect(availableModes()).toContain('posted');
    expect(parseReproduceArgs([]).modes).not.toContain('posted');
    expect(() => parseReproduceArgs(['--modes', 'posted'])).toThrow(
      /cpu\.apicVirtualization is 0.*xeon-skylake-sp/,
    );
    expect(() => parseSweepArgs(['--modes', 'baseline,posted'])).toThrow(UsageError);
    // On a profile whose CPU has APIC virtualization, it is one of the modes.
    expect(parseReproduceArgs(['--profile', 'xeon-skylake-sp']).modes).toContain('posted');
    expect(parseReproduceArgs(['--modes', 'posted', '--profile', 'xeon-skylake-sp']).modes).toEqual([
      'posted',
    ]);
  });
});

describe('reproduce over two generations', () => {
  it('runs a refused mode only on the profile that has it', () => {
    const jobs = reproduceJobs(parseReproduceArgs(['--profiles', 'xeon-x5570,xeon-skylake-sp']));
    const posted = jobs.filter((j) => j.mode === 'posted');
    expect(posted.length).toBe(availableWorkloads().length);
    for (const j of posted) expect(j.profile).toBe('xeon-skylake-sp');
    expect(jobs.filter((j) => j.mode === 'eli').length).toBe(2 * availableWorkloads().length);
  });
});
