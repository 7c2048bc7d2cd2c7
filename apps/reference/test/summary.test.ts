import type { RunReport } from '@exitless/machine';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/args.js';
import { exitsPerSecondChart, relativeThroughputChart, renderSvg } from '../src/charts.js';
import { parseCommand, parseRunArgs, runCommandJobs } from '../src/command.js';
import { formatCsv, formatMarkdownTable, formatTable } from '../src/format.js';
import { withRelative } from '../src/relative.js';
import { runRepeated } from '../src/repeat.js';
import { parseReproduceArgs, reproduceJobs } from '../src/reproduce.js';
import { intervalNote, summarize, summaryColumns } from '../src/summary.js';
import { fixedReport } from './fixtures.js';

const seeded = (seed: number, report: RunReport): RunReport => ({ ...report, seed });

/** Three seeds of bare metal and baseline: throughputs chosen so the figures are easy to check by hand. */
const entries = withRelative([
  seeded(1, fixedReport('bare-metal', 8000)),
  seeded(1, fixedReport('baseline', 6000, { exits: 170_000, exitsPerIrq: 2.9 })),
  seeded(2, fixedReport('bare-metal', 8200)),
  seeded(2, fixedReport('baseline', 6150, { exits: 172_000, exitsPerIrq: 3.0 })),
  seeded(3, fixedReport('bare-metal', 7800)),
  seeded(3, fixedReport('baseline', 6240, { exits: 171_000, exitsPerIrq: 3.1 })),
]);

describe('summaries over seeds', () => {
  const summaries = summarize(entries);

  it('group the runs by workload × mode in table order, keep every run, and pair ratios by seed', () => {
    expect(summaries.map((s) => [s.mode, s.seeds])).toEqual([
      ['bare-metal', [1, 2, 3]],
      ['baseline', [1, 2, 3]],
    ]);
    const base = summaries[1]!;
    expect(base.runs.map((r) => r.throughput.value)).toEqual([6000, 6150, 6240]);
    // Mean 6130, s = √(14700) = 121.24, half-width 4.302653 · 121.24 / √3 = 301.19.
    expect(base.summary.throughput.mean).toBe(6130);
    expect(base.summary.throughput.unit).toBe('Mb/s');
    expect(base.summary.throughput.n).toBe(3);
    expect(base.summary.throughput.ci95!.low).toBeCloseTo(5828.81, 2);
    expect(base.summary.throughput.ci95!.high).toBeCloseTo(6431.19, 2);
    // Each run is compared with bare metal of its own seed: 0.75, 0.75, 0.8 — not 6130 / 8000.
    expect(base.summary.toBareMetal!.mean).toBeCloseTo(0.766667, 6);
    expect(base.summary.latencyP50).toBeNull();
  });

  it('print each figure as mean ± the half-width of its interval, in the text and Markdown tables', () => {
    const text = formatTable(summaryColumns(), summaries);
    const row = text.split('\n')[3]!;
    expect(row).toMatch(/^netperf-tcp-stream {2}baseline {2}/);
    expect(row).toContain('6130.0 ± 301.2 Mb/s');
    expect(row).toContain('76.7 ± 7.2%');
    expect(row).toContain('171,000 ± 2,484');
    expect(row).toContain('3.00 ± 0.25');
    expect(formatMarkdownTable(summaryColumns(), summaries)).toContain('| 6130.0 ± 301.2 Mb/s |');
    expect(intervalNote(1, 3)).toBe(
      "mean ± half-width of the 95% confidence interval over 3 runs (seeds 1–3): Student's t, t(0.975, 2) = 4.303",
    );
  });

  it('put the mean, ci95 low and ci95 high of each figure in the CSV, with the number of runs', () => {
    const [header, , baseline] = formatCsv(summaryColumns(), summaries).split('\n');
    const columns = header!.split(',');
    expect(columns.slice(0, 6)).toEqual([
      'workload',
      'mode',
      'throughput',
      'throughput_ci95_low',
      'throughput_ci95_high',
      'throughput_unit',
    ]);
    expect(columns).toContain('to_bare_metal_ci95_high');
    expect(columns).toContain('latency_p99_ci95_low');
    expect(columns.slice(-5)).toEqual(['runs', 'seed', 'duration_ms', 'warmup_ms', 'stopped']);
    const cells = baseline!.split(',');
    expect(cells.slice(0, 6)).toEqual([
      'netperf-tcp-stream',
      'baseline',
      '6130',
      '5828.814309',
      '6431.185691',
      'Mb/s',
    ]);
    expect(cells.slice(-5)).toEqual(['3', '1', '100', '20', '']);
  });

  it('draw error bars from the intervals in both charts, and none for single runs', async () => {
    const relative = relativeThroughputChart(summaries);
    const data = (relative.spec as { data: { values: Record<string, unknown>[] } }).data.values;
    expect(data[1]).toEqual({
      workload: 'netperf-tcp-stream',
      mode: 'baseline',
      percentOfBareMetal: 76.667,
      ci95Low: 69.496,
      ci95High: 83.838,
    });
    const text = JSON.stringify(relative.spec);
    expect(text).toContain('"mark":{"type":"rule","color":"black","strokeWidth":1.5}');
    expect(text).toContain('"y2":{"field":"ci95High"}');
    expect(text).toContain('error bars: 95% confidence interval over 3 seeds');
    expect(JSON.stringify(exitsPerSecondChart(summaries).spec)).toContain('"y2":{"field":"ci95High"}');
    const single = summarize(entries.filter((e) => e.seed === 1));
    expect(JSON.stringify(relativeThroughputChart(single).spec)).not.toContain('ci95');
    expect(JSON.stringify(relativeThroughputChart(entries.slice(0, 2)).spec)).not.toContain('ci95');
    // The error bars are one more rule mark than a single run's chart has (axes, the 100% line).
    const rules = async (spec: typeof relative.spec) =>
      (await renderSvg(spec)).match(/class="mark-rule/g)?.length;
    expect(await rules(relative.spec)).toBe(
      (await rules(relativeThroughputChart(entries.slice(0, 2)).spec))! + 1,
    );
  });
});

describe('--runs', () => {
  it('runs seeds seed, seed + 1, … of every configuration, and is 1 by default', () => {
    const o = parseReproduceArgs(['--workloads', 'apache', '--modes', 'eli', '--seed', '7', '--runs', '3']);
    expect(reproduceJobs(o).map((j) => [j.mode, j.seed])).toEqual([
      ['eli', 7],
      ['eli', 8],
      ['eli', 9],
    ]);
    expect(parseReproduceArgs([]).runs).toBe(1);
    const run = parseRunArgs(['--mode', 'baseline', '--runs', '2', '--guests', '2', '--jobs', '1']);
    expect(runCommandJobs(run).map((j) => [j.mode, j.seed, j.guests])).toEqual([
      ['baseline', 1, 2],
      ['baseline', 2, 2],
    ]);
    expect(parseRunArgs([]).runs).toBe(1);
  });

  it.each([
    [['run', '--runs', '0'], /^--runs must be an integer from 1 to 1000, got '0'$/],
    [['run', '--runs', '2.5'], /^--runs must be an integer from 1 to 1000, got '2.5'$/],
    [['reproduce', '--runs', 'five'], /^--runs must be an integer from 1 to 1000, got 'five'$/],
    [['reproduce', '--runs', '1001'], /^--runs must be an integer from 1 to 1000/],
    [
      ['run', '--seed', '9007199254740991', '--runs', '2'],
      /^--runs must be at most 1 from --seed 9007199254740991/,
    ],
    [['reproduce', '--runs'], /^--runs needs a value: use --runs N/],
  ])('%j is a UsageError on one line naming --runs: %s', (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
    expect(() => parseCommand(argv)).toThrow(message);
  });

  it('run --runs 2 prints the table with intervals, or with --json the summary and every run', async () => {
    const options = parseRunArgs([
      ...['--mode', 'baseline', '--workload', 'netperf-udp-rr', '--runs', '2', '--jobs', '1'],
      ...['--duration', '1', '--warmup', '1', '--seed', '4'],
    ]);
    const table = await runRepeated(options);
    expect(table.failures).toEqual([]);
    expect(table.text).toMatch(/netperf-udp-rr {2}baseline .* ± .* transactions\/s/);
    expect(table.text).toContain('over 2 runs (seeds 4–5)');
    const json = await runRepeated({ ...options, json: true });
    const parsed = JSON.parse(json.text) as {
      seeds: number[];
      runs: { seed: number }[];
      summary: { throughput: { n: number; ci95: unknown } };
    };
    expect(parsed.seeds).toEqual([4, 5]);
    expect(parsed.runs.map((r) => r.seed)).toEqual([4, 5]);
    expect(parsed.summary.throughput.n).toBe(2);
    expect(parsed.summary.throughput.ci95).not.toBeNull();
    // The same seeds give the same bytes.
    expect((await runRepeated({ ...options, json: true })).text).toBe(json.text);
  });
});
