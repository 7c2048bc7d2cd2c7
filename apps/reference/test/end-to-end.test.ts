import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { ReproduceEntry, SweepEntry } from '../src/format.js';
import { type ReproduceOptions, reproduce } from '../src/reproduce.js';
import { parseSweepArgs, sweep } from '../src/sweep.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'exitless-reproduce-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function contents(dir: string): Promise<Record<string, string>> {
  const names = (await readdir(dir)).sort();
  return Object.fromEntries(
    await Promise.all(names.map(async (n) => [n, await readFile(join(dir, n), 'utf8')])),
  );
}

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
  'results.csv',
  'results.json',
  'results.md',
  'throughput-relative.svg',
];

describe('exitless reproduce, end to end', () => {
  let first: Record<string, string> = {};

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
    expect(json[0]!.relative).toEqual({ toBareMetal: 1, toBaseline: null });
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
