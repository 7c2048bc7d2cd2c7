import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { XEON_SKYLAKE_SP, XEON_X5570 } from '@exitless/machine';
import { describe, expect, it } from 'vitest';
import { ELI_GAIN_TITLE } from '../src/eli-gain.js';
import type { ReproduceEntry, SweepEntry } from '../src/format.js';
import { type ReproduceOptions, reproduce } from '../src/reproduce.js';
import type { SummaryEntry } from '../src/summary.js';
import { parseSweepArgs, sweep } from '../src/sweep.js';
import { contents, tempDirs } from './temp-dirs.js';

const tempDir = tempDirs('reproduce');

/** A tiny reproduction: one workload, two modes, 3 ms of simulated time each, in this thread. */
const tiny = (outDir: string): ReproduceOptions => ({
  workloads: ['netperf-tcp-stream'],
  modes: ['bare-metal', 'baseline'],
  durationMs: 2,
  warmupMs: 1,
  seed: 3,
  outDir,
  jobs: 1,
});

const FILES = [
  'exits-per-second.svg',
  'latency-cdf.svg',
  'results.csv',
  'results.json',
  'results.md',
  'throughput-relative.svg',
];

/** What the first reproduction below wrote (the other tests compare with it). */
let first: Record<string, string> = {};

describe('exitless reproduce, end to end', () => {
  it('writes results.json, CSV, Markdown and both charts', async () => {
    const dir = await tempDir();
    const result = await reproduce(tiny(dir));
    expect(result.failures).toEqual([]);
    first = await contents(dir);
    expect(Object.keys(first)).toEqual(FILES);
    const json = JSON.parse(first['results.json']!) as ReproduceEntry[];
    expect(json.map((r) => [r.workload, r.mode, r.seed])).toEqual([
      ['netperf-tcp-stream', 'bare-metal', 3],
      ['netperf-tcp-stream', 'baseline', 3],
    ]);
    expect(json[0]!.relative.toBareMetal).toBe(1);
    expect(json[1]!.relative.toBaseline).toBe(1);
    // Bare metal has no hypervisor, so no exits; baseline exits at least twice per assigned interrupt.
    expect(json[0]!.exitsPerSecond.total).toBe(0);
    expect(json[1]!.exitsPerAssignedInterrupt).toBeGreaterThanOrEqual(2);
    expect(first['results.csv']!.split('\n')).toHaveLength(4);
    expect(result.text.split('\n')[2]).toMatch(/^netperf-tcp-stream {2}bare-metal /);
  });

  it('writes the same bytes on a second run with the same seed', async () => {
    const dir = await tempDir();
    await reproduce(tiny(dir));
    expect(await contents(dir)).toEqual(first);
  });

  it('reports a run that fails (a mode the machine cannot build) and still writes the others', async () => {
    const dir = await tempDir();
    const result = await reproduce({ ...tiny(dir), modes: ['bare-metal', 'no-such-mode'] });
    expect(result.failures.map((f) => [f.job.mode, f.error])).toEqual([
      ['no-such-mode', expect.stringMatching(/^MachineConfigError: unknown mode 'no-such-mode'/)],
    ]);
    expect(result.text).toMatch(/netperf-tcp-stream on no-such-mode: FAILED — MachineConfigError/);
    const json = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as ReproduceEntry[];
    expect(json.map((r) => r.mode)).toEqual(['bare-metal']);
    expect(json[0]!.relative).toEqual({ toBareMetal: 1, toBaseline: null, eliGainKept: null });
  });

  it('writes the same bytes from the command line on a pool of 2 workers', async () => {
    const dir = await tempDir();
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        cli,
        'reproduce',
        '--workloads',
        'netperf-tcp-stream',
        '--modes',
        'bare-metal,baseline',
        '--duration',
        '2',
        '--warmup',
        '1',
        '--seed',
        '3',
        '--jobs',
        '2',
        '--out',
        dir,
      ],
      { cwd: root, timeout: 60_000 },
    );
    expect(stderr).toMatch(/2 runs in [\d.]+ s wall/);
    expect(stdout).toMatch(/netperf-tcp-stream {2}baseline /);
    expect(await contents(dir)).toEqual(first);
  }, 60_000);
});

describe('exitless reproduce --runs, end to end', () => {
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

  it('--runs 1 writes exactly the bytes of a reproduction without --runs', async () => {
    const dir = await tempDir();
    await reproduce({ ...tiny(dir), runs: 1 });
    expect(await contents(dir)).toEqual(first);
  });

  it('--runs 3 on the pool writes means with 95% intervals in every table, the runs and their summary in JSON, and error bars', async () => {
    const dir = await tempDir();
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [
        ...['--conditions=source', '--import', 'tsx', cli, 'reproduce'],
        ...['--workloads', 'netperf-tcp-stream', '--modes', 'bare-metal,baseline'],
        ...['--duration', '2', '--warmup', '1', '--seed', '3', '--runs', '3', '--jobs', '2', '--out', dir],
      ],
      { cwd: root, timeout: 60_000 },
    );
    expect(stderr).toMatch(/6 runs in [\d.]+ s wall/);
    const lines = stdout.split('\n');
    expect(lines[2]).toMatch(/^netperf-tcp-stream {2}bare-metal +\d+\.\d ± \d+\.\d Mb\/s +100\.0 ± 0\.0%/);
    expect(lines[3]).toMatch(/^netperf-tcp-stream {2}baseline +\d+\.\d ± \d+\.\d Mb\/s/);
    expect(lines[4]).toBe(
      "mean ± half-width of the 95% confidence interval over 3 runs (seeds 3–5): Student's t, t(0.975, 2) = 4.303",
    );
    const files = await contents(dir);
    expect(Object.keys(files)).toEqual(FILES);
    const csv = files['results.csv']!.split('\n');
    expect(csv).toHaveLength(4);
    expect(csv[0]).toMatch(
      /^workload,mode,throughput,throughput_ci95_low,throughput_ci95_high,throughput_unit,/,
    );
    expect(csv[2]).toMatch(/^netperf-tcp-stream,baseline,/);
    expect(files['results.md']).toContain('3 runs each, seeds 3–5');
    // No eli run: the share of ELI's gain says why it is not shown; exits by reason are means ± intervals.
    expect(files['results.md']).toContain(
      `## ${ELI_GAIN_TITLE}\n\nNot shown: it needs a baseline and an eli run`,
    );
    expect(files['results.md']).toMatch(
      /## Exits per second by reason\n[\s\S]*\| netperf-tcp-stream \| baseline \| [\d,]+ ± [\d,]+ \|/,
    );
    expect(stdout).toContain(`${ELI_GAIN_TITLE}: not shown`);
    expect(files['results.md']).toMatch(/\| netperf-tcp-stream \| baseline \| \d+\.\d ± \d+\.\d Mb\/s \|/);
    const json = JSON.parse(files['results.json']!) as SummaryEntry[];
    expect(json.map((e) => [e.mode, e.seeds, e.runs.length])).toEqual([
      ['bare-metal', [3, 4, 5], 3],
      ['baseline', [3, 4, 5], 3],
    ]);
    const baseline = json[1]!;
    const thr = baseline.runs.map((r) => r.throughput.value);
    expect(baseline.summary.throughput.n).toBe(3);
    expect(baseline.summary.throughput.mean).toBeCloseTo((thr[0]! + thr[1]! + thr[2]!) / 3, 5);
    expect(baseline.summary.throughput.ci95!.low).toBeLessThanOrEqual(Math.min(...thr));
    expect(baseline.summary.throughput.ci95!.high).toBeGreaterThanOrEqual(Math.max(...thr));
    // The seed-3 runs are the very runs of the plain reproduction with seed 3, byte for byte.
    const plain = JSON.parse(first['results.json']!) as ReproduceEntry[];
    expect(json.map((e) => JSON.stringify(e.runs[0]))).toEqual(plain.map((r) => JSON.stringify(r)));
    // Other seeds drew other phases: the baseline runs are not all the same.
    expect(new Set(baseline.runs.map((r) => JSON.stringify({ ...r, seed: 0 }))).size).toBeGreaterThan(1);
    // Error bars: one more rule mark in the chart than the single run's chart has.
    const rules = (svg: string) => svg.match(/class="mark-rule/g)?.length ?? 0;
    expect(rules(files['throughput-relative.svg']!)).toBe(rules(first['throughput-relative.svg']!) + 1);
    expect(files['exits-per-second.svg']).toContain('error bars: 95% confidence interval over 3 seeds');
  }, 60_000);
});

describe("exitless reproduce: the share of ELI's gain and exits by reason, end to end", () => {
  /** Two generations, one workload; posted runs only where the CPU has APIC virtualization. */
  const generations = (outDir: string): ReproduceOptions => ({
    workloads: ['netperf-udp-rr'],
    modes: ['baseline', 'eli', 'eli-delivery', 'posted'],
    durationMs: 2,
    warmupMs: 1,
    seed: 3,
    outDir,
    jobs: 1,
    profiles: [XEON_X5570, XEON_SKYLAKE_SP],
  });

  it("prints and writes the table of ELI's gain kept per profile × workload, with — and a note where posted was refused", async () => {
    const dir = await tempDir();
    const result = await reproduce(generations(dir));
    expect(result.failures).toEqual([]);
    const files = await contents(dir);
    const text = result.text.slice(result.text.indexOf(ELI_GAIN_TITLE));
    expect(text).toMatch(/^profile +workload +eli vs baseline +eli-delivery +posted$/m);
    expect(text).toMatch(/^xeon-x5570 +netperf-udp-rr +\d\.\d\d× +\S+ +—$/m);
    expect(text).toMatch(/^xeon-skylake-sp +netperf-udp-rr +\d\.\d\d× +\S+ +\S+$/m);
    expect(text).toContain("— under posted on xeon-x5570: not run — mode 'posted' needs APIC virtualization");
    const md = files['results.md']!;
    expect(md).toContain(`## ${ELI_GAIN_TITLE}`);
    expect(md).toContain('| profile | workload | eli vs baseline | eli-delivery | posted |');
    expect(md).toMatch(/\| xeon-x5570 \| netperf-udp-rr \| \d\.\d\d× \| \S+ \| — \|/);
    expect(md).toMatch(
      /## Exits per second by reason\n[\s\S]*\| profile \| workload \| mode \| [^\n]*\| total \|/,
    );

    // results.json: the shares follow from the throughputs of the same profile; the CSV holds them and exits by reason.
    const json = JSON.parse(files['results.json']!) as ReproduceEntry[];
    const csv = files['results.csv']!.trimEnd().split('\n');
    const header = csv[0]!.split(',');
    const reasons = [...new Set(json.flatMap((r) => Object.keys(r.exitsPerSecond.byReason)))].sort();
    expect(reasons.length).toBeGreaterThan(0);
    expect(header.filter((h) => h.startsWith('exits_per_s.'))).toEqual(
      reasons.map((r) => `exits_per_s.${r}`),
    );
    for (const [i, r] of json.entries()) {
      const of = (mode: string) =>
        json.find((o) => o.profile === r.profile && o.mode === mode)!.throughput.value;
      const gain = of('eli') - of('baseline');
      const expected = gain >= 0.02 * of('baseline') ? (r.throughput.value - of('baseline')) / gain : null;
      if (expected === null) expect(r.relative.eliGainKept).toBeNull();
      else expect(r.relative.eliGainKept).toBeCloseTo(expected, 5);
      const cells = csv[i + 1]!.split(',');
      expect(cells[header.indexOf('eli_gain_kept')]).toBe(
        r.relative.eliGainKept === null ? '' : String(r.relative.eliGainKept),
      );
      for (const reason of reasons) {
        expect(Number(cells[header.indexOf(`exits_per_s.${reason}`)])).toBe(
          r.exitsPerSecond.byReason[reason] ?? 0,
        );
      }
    }

    // The same arguments give the same bytes.
    const again = await tempDir();
    expect((await reproduce(generations(again))).text).toBe(result.text);
    expect(await contents(again)).toEqual(files);
  });
});

describe('exitless sweep, end to end', () => {
  it('runs each value × mode and writes JSON, CSV and the chart', async () => {
    const dir = await tempDir();
    const options = {
      ...parseSweepArgs(['--values', '8,200', '--modes', 'baseline', '--duration', '2', '--warmup', '1']),
      outDir: dir,
      jobs: 1,
    };
    const result = await sweep(options);
    expect(result.failures).toEqual([]);
    const files = await contents(dir);
    expect(Object.keys(files)).toEqual(['sweep.csv', 'sweep.json', 'sweep.svg']);
    const json = JSON.parse(files['sweep.json']!) as SweepEntry[];
    expect(json.map((r) => [r.parameter.value, r.mode])).toEqual([
      [8, 'bare-metal'],
      [8, 'baseline'],
      [200, 'bare-metal'],
      [200, 'baseline'],
    ]);
    expect(json.every((r) => r.parameter.name === 'interrupt-interval' && r.parameter.unit === 'us')).toBe(
      true,
    );
    // A longer moderation interval means fewer interrupts.
    expect(json[2]!.interruptsPerSecond.physical).toBeLessThan(json[0]!.interruptsPerSecond.physical);
    expect(json[0]!.relative.toBareMetal).toBe(1);
  });
});
