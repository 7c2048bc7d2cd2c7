import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/args.js';
import { exitsPerSecondChart, relativeThroughputChart } from '../src/charts.js';
import { parseCommand } from '../src/command.js';
import { withRelative } from '../src/relative.js';
import { parseReproduceArgs, reproduce, reproduceJobs } from '../src/reproduce.js';
import { summarizeSamples, type UncertaintyEntry } from '../src/uncertainty.js';
import { fixedReport, profileWithRanges } from './fixtures.js';
import { contents, tempDirs } from './temp-dirs.js';

const tempDir = tempDirs('uncertainty');

const KEYS = ['host.injection', 'guest.irqEntry', 'guest.napiBudget'];
const PROFILE = profileWithRanges(KEYS);

describe('reproduce --uncertainty arguments', () => {
  it('sample every ranged entry of the profile', () => {
    const o = parseReproduceArgs(['--uncertainty', '4'], PROFILE);
    expect(o.uncertainty?.samples).toBe(4);
    expect(o.uncertainty?.entries.map((e) => e.key).sort()).toEqual([...KEYS].sort());
    expect(parseReproduceArgs([], PROFILE).uncertainty).toBeUndefined();
  });

  it.each([
    [['--uncertainty', '1'], /--uncertainty must be an integer from 2 to 1000, got '1'/],
    [['--uncertainty', '1001'], /--uncertainty must be an integer from 2 to 1000, got '1001'/],
    [['--uncertainty', '2.5'], /--uncertainty must be an integer from 2 to 1000/],
    [['--uncertainty', 'many'], /--uncertainty must be an integer from 2 to 1000, got 'many'/],
    [['--uncertainty'], /--uncertainty needs a value: use --uncertainty N/],
    [['--uncertainty', '3', '--runs', '2'], /--uncertainty and --runs 2 cannot be combined/],
  ])('reject %j', (argv, message) => {
    expect(() => parseReproduceArgs(argv, PROFILE)).toThrow(UsageError);
    expect(() => parseReproduceArgs(argv, PROFILE)).toThrow(message);
  });

  it('reject a profile without ranges, and take --runs 1', () => {
    expect(() => parseReproduceArgs(['--uncertainty', '3'], profileWithRanges([]))).toThrow(
      /--uncertainty needs entries with a range \(low < high\) in the calibration profile 'xeon-x5570'/,
    );
    expect(parseReproduceArgs(['--uncertainty', '3', '--runs', '1'], PROFILE).uncertainty?.samples).toBe(3);
  });

  it('plan the base profile and each sample per workload × mode, all with the seed, samples shared across modes', () => {
    const o = parseReproduceArgs(
      ['--workloads', 'apache', '--modes', 'bare-metal,baseline', '--uncertainty', '3', '--seed', '9'],
      PROFILE,
    );
    const jobs = reproduceJobs(o);
    expect(jobs.map((j) => [j.mode, j.tag, j.seed])).toEqual([
      ['bare-metal', 'base profile', 9],
      ['bare-metal', 'sample 1 of 3', 9],
      ['bare-metal', 'sample 2 of 3', 9],
      ['bare-metal', 'sample 3 of 3', 9],
      ['baseline', 'base profile', 9],
      ['baseline', 'sample 1 of 3', 9],
      ['baseline', 'sample 2 of 3', 9],
      ['baseline', 'sample 3 of 3', 9],
    ]);
    expect(jobs[0]!.profileOverrides).toBeUndefined();
    expect(jobs[1]!.profileOverrides).toEqual(jobs[5]!.profileOverrides);
    expect(Object.keys(jobs[1]!.profileOverrides!).sort()).toEqual([...KEYS].sort());
    expect(jobs[1]!.profileOverrides).not.toEqual(jobs[2]!.profileOverrides);
  });

  it('check the machines through parseCommand (a large N parses quickly enough)', () => {
    expect(() => parseCommand(['reproduce', '--uncertainty', '0'])).toThrow(UsageError);
  });
});

describe('bands over samples', () => {
  it('take ratios within a sample and band them, the base run apart', () => {
    const runs = [
      [0, 1000, 800],
      [1, 1000, 500],
      [2, 1000, 600],
      [3, 1000, 700],
    ].flatMap(([sample, bare, base]) => [
      { ...fixedReport('bare-metal', bare!), sample: sample! },
      { ...fixedReport('baseline', base!, { exits: 10 * base! }), sample: sample! },
    ]);
    const [bare, baseline] = summarizeSamples(runs, 1);
    expect(bare!.bands.toBareMetal).toEqual({ base: 1, p05: 1, p95: 1, n: 3 });
    // Samples 0.5, 0.6, 0.7: h = 0.1 and 1.9.
    expect(baseline!.bands.toBareMetal).toEqual({ base: 0.8, p05: 0.51, p95: 0.69, n: 3 });
    expect(baseline!.bands.exitsPerSecond).toEqual({ base: 8000, p05: 5100, p95: 6900, n: 3 });
    expect(baseline!.bands.latencyP50).toBeNull();
    expect(baseline!.runs.map((r) => r.sample)).toEqual([1, 2, 3]);
    expect(baseline!.base?.relative).toEqual({ toBareMetal: 0.8, toBaseline: 1, eliGainKept: null });
  });

  it('draw error bars from the 5th to the 95th percentile, bars at the base value', () => {
    const entries: UncertaintyEntry[] = summarizeSamples(
      [0, 1, 2].flatMap((sample) => [
        { ...fixedReport('bare-metal', 1000), sample },
        { ...fixedReport('baseline', 800 - 100 * sample, { exits: 1000 + sample }), sample },
      ]),
      1,
    );
    const rows = (relativeThroughputChart(entries).spec as { data: { values: unknown[] } }).data.values;
    expect(rows[1]).toEqual({
      workload: 'netperf-tcp-stream',
      mode: 'baseline',
      percentOfBareMetal: 80,
      p05: 60.5,
      p95: 69.5,
    });
    const spec = JSON.stringify(relativeThroughputChart(entries).spec);
    expect(spec).toContain('"y":{"field":"p05","type":"quantitative"},"y2":{"field":"p95"}');
    expect(spec).toContain('5th–95th percentile over 2 profile samples');
    expect(JSON.stringify(exitsPerSecondChart(entries).spec)).toContain('"y2":{"field":"p95"}');
    // Without samples, the charts are what they were.
    expect(
      JSON.stringify(relativeThroughputChart(withRelative([fixedReport('bare-metal', 1)])).spec),
    ).not.toContain('p05');
  });
});

describe('exitless reproduce --uncertainty, end to end', () => {
  const args = (dir: string) => [
    ...['--workloads', 'netperf-tcp-stream', '--modes', 'bare-metal,baseline', '--uncertainty', '3'],
    ...['--duration', '2', '--warmup', '1', '--seed', '5', '--jobs', '1', '--out', dir],
  ];
  let first: Record<string, string> = {};

  it('writes every sample’s overrides and figures, the bands in the table, CSV, Markdown and charts', async () => {
    const dir = await tempDir();
    const result = await reproduce(parseReproduceArgs(args(dir), PROFILE));
    expect(result.failures).toEqual([]);
    first = await contents(dir);
    expect(Object.keys(first)).toEqual([
      'exits-per-second.svg',
      'latency-cdf.svg',
      'results.csv',
      'results.json',
      'results.md',
      'throughput-relative.svg',
    ]);
    const json = JSON.parse(first['results.json']!) as {
      uncertainty: { samples: number; seed: number; entries: { key: string }[] };
      samples: { sample: number; overrides: Record<string, number> }[];
      results: UncertaintyEntry[];
    };
    expect(json.uncertainty).toMatchObject({ samples: 3, seed: 5 });
    expect(json.samples.map((s) => s.sample)).toEqual([1, 2, 3]);
    expect(Object.keys(json.samples[0]!.overrides).sort()).toEqual([...KEYS].sort());
    expect(json.results.map((r) => [r.mode, r.runs.length, r.seed])).toEqual([
      ['bare-metal', 3, 5],
      ['baseline', 3, 5],
    ]);
    const baseline = json.results[1]!;
    expect(baseline.base?.mode).toBe('baseline');
    expect(baseline.bands.toBareMetal?.n).toBe(3);
    expect(baseline.bands.toBareMetal!.p05).toBeLessThanOrEqual(baseline.bands.toBareMetal!.p95);
    // The samples move the figures (host.injection and the guest's costs are read by baseline).
    expect(new Set(baseline.runs.map((r) => r.figures.throughput)).size).toBeGreaterThan(1);
    expect(first['results.csv']!.split('\n')[0]).toMatch(
      /^workload,mode,throughput,throughput_p05,throughput_p95,/,
    );
    expect(first['results.csv']!.trimEnd().split('\n')).toHaveLength(3);
    expect(first['results.md']).toContain('5th, 95th percentile over 3 profiles');
    // Bands of the share of ELI's gain (empty here: no eli run) and of exits per second by reason.
    expect(first['results.csv']!.split('\n')[0]).toContain(
      ',eli_gain_kept,eli_gain_kept_p05,eli_gain_kept_p95,',
    );
    const reasons = Object.keys(baseline.exitsPerSecondByReason);
    expect(reasons.length).toBeGreaterThan(0);
    expect(first['results.csv']!.split('\n')[0]).toContain(
      `,exits_per_s.${reasons[0]},exits_per_s.${reasons[0]}_p05,`,
    );
    expect(baseline.exitsPerSecondByReason[reasons[0]!]!.n).toBe(3);
    expect(baseline.runs[0]!.exitsPerSecondByReason).toEqual(expect.any(Object));
    expect(first['results.md']).toMatch(
      /## Exits per second by reason\n[\s\S]*\| netperf-tcp-stream \| baseline \| [\d,]+ \[[\d,]+, [\d,]+\] \|/,
    );
    expect(first['throughput-relative.svg']).toMatch(/^<svg/);
    expect(result.text).toMatch(/\d+\.\d% \[\d+\.\d, \d+\.\d\]/);
    expect(result.text).toContain('every run with seed 5');
  });

  it('writes the same bytes on a second run with the same arguments', async () => {
    const dir = await tempDir();
    await reproduce(parseReproduceArgs(args(dir), PROFILE));
    expect(await contents(dir)).toEqual(first);
  });
});
