import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { entryRange, type ProfileEntry, rangedEntries, XEON_X5570 } from '@exitless/machine';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/args.js';
import { tornadoChart } from '../src/charts.js';
import { parseCommand } from '../src/command.js';
import { jobLabel, runJob } from '../src/jobs.js';
import { validValue } from '../src/sampling.js';
import {
  type FigureSwings,
  parseSensitivityArgs,
  rankSwings,
  type Swing,
  sensitivity,
  sensitivityFigures,
  sensitivityText,
  spanOf,
  tornadoPanels,
  variationJob,
} from '../src/sensitivity.js';
import { profileWithRanges } from './fixtures.js';
import { contents, tempDirs } from './temp-dirs.js';

const tempDir = tempDirs('sensitivity');

/** Entries of the schema every machine reads: a host cost (virtualized modes only) and guest costs (every mode). */
const HOST = 'host.injection';
const GUEST = 'guest.irqEntry';
const PROFILE = profileWithRanges([HOST, GUEST, 'guest.irqExit', 'host.exitDispatch']);

describe('sensitivity arguments', () => {
  it('default to bare metal, baseline and eli, every ranged entry, in the profile’s order', () => {
    const o = parseSensitivityArgs([], PROFILE);
    expect(o.modes).toEqual(['bare-metal', 'baseline', 'eli']);
    expect(o.entries.map((e) => e.key)).toEqual(
      Object.keys(PROFILE.entries).filter((k) =>
        [HOST, GUEST, 'guest.irqExit', 'host.exitDispatch'].includes(k),
      ),
    );
    expect(o).toMatchObject({ durationMs: 100, warmupMs: 20, seed: 1, outDir: 'out/sensitivity' });
  });

  it('take keys and prefixes, and always add bare metal and baseline to the modes', () => {
    const o = parseSensitivityArgs(
      ['--entries', 'host.*,guest.irqEntry', '--modes', 'eli,baseline'],
      PROFILE,
    );
    expect(o.entries.map((e) => e.key).sort()).toEqual([GUEST, 'host.exitDispatch', HOST].sort());
    expect(o.modes).toEqual(['bare-metal', 'baseline', 'eli']);
    const e = o.entries.find((x) => x.key === HOST)!;
    expect(e).toMatchObject({ value: XEON_X5570.entries[HOST]!.value, unit: 'cycles' });
    expect(e.low).toBeLessThan(e.high);
  });

  it.each([
    [['--entries', 'cpu.hz'], /--entries: 'cpu.hz' is not an entry with a range/],
    [['--entries', 'nothing.*'], /--entries: 'nothing.\*' matches no entry with a range/],
    [['--entries', 'host.injection,,x'], /--entries takes a comma-separated list with no empty items/],
    [['--modes', 'warp'], /--modes: mode not available/],
    [['--duration', '0'], /--duration must be a number ≥ 0.001/],
    [['--out', ' '], /--out must name a directory/],
    [['--runs', '2'], /unknown option '--runs' for 'exitless sensitivity'/],
  ])('reject %j', (argv, message) => {
    expect(() => parseSensitivityArgs(argv, PROFILE)).toThrow(UsageError);
    expect(() => parseSensitivityArgs(argv, PROFILE)).toThrow(message);
  });

  it('reject a profile without ranges', () => {
    expect(() => parseSensitivityArgs([], profileWithRanges([]))).toThrow(
      /sensitivity needs entries with a range \(low < high\) in the calibration profile 'xeon-x5570'/,
    );
  });

  it('parse through parseCommand, checking every run’s machine', () => {
    expect(() => parseCommand(['sensitivity', '--entries', 'no.such.entry'])).toThrow(UsageError);
    expect(() => parseCommand(['sensitivity', '--bogus'])).toThrow(/unknown option '--bogus'/);
  });
});

describe('figures and ranking', () => {
  it('are each virtualized mode’s % of bare metal, speed-up over baseline, and exits/s', () => {
    expect(sensitivityFigures(['bare-metal', 'baseline', 'eli']).map((f) => f.id)).toEqual([
      'baseline.toBareMetal',
      'eli.toBareMetal',
      'eli.toBaseline',
      'baseline.exitsPerSecond',
      'eli.exitsPerSecond',
    ]);
  });

  const swing = (entry: string, effect: number | null): Swing => ({
    entry,
    unit: 'cycles',
    value: 1,
    low: 0,
    high: 2,
    base: 0.9,
    atLow: effect === null ? null : 0.9,
    atHigh: effect === null ? null : 0.9 + effect,
    effect,
    span: effect === null ? null : Math.abs(effect),
    rerun: true,
  });

  it('span: how far apart base, low and high lie, so an entry that moves the figure the same way at both ends counts', () => {
    expect(spanOf(0.9, 0.9, 0.95)).toBeCloseTo(0.05, 9);
    // Both ends below the base: |high − low| is 0.29, the span 0.55.
    expect(spanOf(0.92, 0.66, 0.37)).toBeCloseTo(0.55, 9);
    expect(spanOf(null, 0.5, 0.6)).toBeCloseTo(0.1, 9);
    expect(spanOf(0.9, null, 0.6)).toBeNull();
  });

  it('rank by span, ties in the given order, unknown effects last', () => {
    const ranked = rankSwings([
      swing('a', 0.01),
      swing('b', null),
      swing('c', -0.05),
      swing('d', 0),
      swing('e', 0.05),
      swing('f', 0),
    ]);
    expect(ranked.map((s) => s.entry)).toEqual(['c', 'e', 'a', 'd', 'f', 'b']);
  });

  const figures: FigureSwings[] = [
    {
      workload: 'w',
      figure: 'baseline.toBareMetal',
      title: 'baseline % of bare metal',
      kind: 'percent',
      base: 0.9,
      ranking: rankSwings([swing('a', 0.01), swing('c', -0.05), swing('d', 0), swing('b', null)]),
    },
    {
      workload: 'w',
      figure: 'baseline.exitsPerSecond',
      title: 'baseline exits/s',
      kind: 'rate',
      base: 40_000,
      ranking: [],
    },
  ];

  it('draw a tornado: per figure, the entries that move it, base to low and base to high, data in the spec', () => {
    const panels = tornadoPanels(figures, 'w', 15);
    expect(panels[0]).toMatchObject({
      title: 'baseline % of bare metal',
      base: 90,
      bars: [
        { entry: 'c (0–2 cycles)', atLow: 90, atHigh: 85 },
        { entry: 'a (0–2 cycles)', atLow: 90, atHigh: 91 },
      ],
    });
    expect(panels[0]!.note).toMatch(/2 of 4 entries shown.*1 do not move it.*1 unknown/);
    expect(tornadoPanels(figures, 'w', 1)[0]!.bars).toHaveLength(1);
    const chart = tornadoChart('w', panels);
    expect(chart.file).toBe('tornado-w.svg');
    const spec = chart.spec as unknown as { vconcat: { data: { values: unknown[] } }[] };
    expect(spec.vconcat).toHaveLength(2);
    expect(spec.vconcat[0]!.data.values).toEqual([
      { entry: 'c (0–2 cycles)', rank: 1, end: 'low', value: 90, base: 90 },
      { entry: 'c (0–2 cycles)', rank: 1, end: 'high', value: 85, base: 90 },
      { entry: 'a (0–2 cycles)', rank: 2, end: 'low', value: 90, base: 90 },
      { entry: 'a (0–2 cycles)', rank: 2, end: 'high', value: 91, base: 90 },
    ]);
    const text = JSON.stringify(spec);
    expect(text).toContain('"x2":{"field":"base"}');
    expect(text).toContain('"yOffset":{"field":"end"');
  });

  it('print the top entries per figure', () => {
    expect(sensitivityText(figures, 5)).toBe(
      [
        'w:',
        "  baseline % of bare metal: 90.00% with the profile's values",
        '    1. c (0–2 cycles): 90.00% at low, 85.00% at high (-5.00 pp)',
        '    2. a (0–2 cycles): 90.00% at low, 91.00% at high (+1.00 pp)',
        "  baseline exits/s: 40,000/s with the profile's values",
        '    no entry moves it',
        '',
      ].join('\n'),
    );
  });
});

/** A different value `key` accepts (within its range when it has one). */
function otherValue(key: string, entry: ProfileEntry): number {
  const r = entryRange(key);
  const lo = entry.low ?? r.min;
  const hi = entry.high ?? Math.min(r.max, entry.value * 2 + 8);
  const candidates = [
    validValue(key, (lo + hi) / 2, lo, hi),
    validValue(key, lo, lo, hi),
    validValue(key, hi, lo, hi),
  ];
  const v = candidates.find((c) => c !== entry.value);
  if (v === undefined) throw new Error(`no other valid value for ${key}`);
  return v;
}

describe('skipping the runs that never read an entry', () => {
  const job = { workload: 'netperf-tcp-stream', seed: 2, durationMs: 2, warmupMs: 1 } as const;

  it.each(['bare-metal', 'baseline'])(
    '%s: every entry the base run did not read changed at once gives the byte-identical report',
    (mode) => {
      const base = runJob({ ...job, mode, recordProfileReads: true });
      const reads = base.profileReads!;
      expect(reads.length).toBeGreaterThan(0);
      const unread = Object.keys(XEON_X5570.entries).filter((k) => !reads.includes(k));
      if (mode === 'bare-metal') {
        // Bare metal has no hypervisor and no ELI.
        expect(reads.filter((k) => k.startsWith('host.') || k.startsWith('eli.'))).toEqual([]);
        expect(unread).toContain(HOST);
      } else {
        expect(reads).toContain(HOST);
      }
      expect(unread.length).toBeGreaterThan(0);
      const overrides = Object.fromEntries(unread.map((k) => [k, otherValue(k, XEON_X5570.entries[k]!)]));
      const changed = runJob({ ...job, mode, profileOverrides: overrides });
      expect(JSON.stringify(changed.report)).toBe(JSON.stringify(base.report));
      // And an entry it did read does change it (the check can fail).
      const read = reads.find((k) => k.startsWith('guest.irq'))!;
      const moved = runJob({
        ...job,
        mode,
        profileOverrides: { [read]: XEON_X5570.entries[read]!.value * 40 },
      });
      expect(JSON.stringify(moved.report)).not.toBe(JSON.stringify(base.report));
    },
  );

  it('a variation sensitivity skipped, run for real, gives its base report', async () => {
    const dir = await tempDir();
    const options = parseSensitivityArgs(
      [
        ...['--workloads', 'netperf-tcp-stream', '--modes', 'bare-metal,baseline', '--entries', HOST],
        ...['--duration', '2', '--warmup', '1', '--seed', '2', '--jobs', '1', '--out', dir],
      ],
      PROFILE,
    );
    const result = await sensitivity(options);
    expect(result.runs).toEqual({ base: 2, rerun: 2, reused: 2 });
    const skipped = result.variations.filter((v) => !v.rerun);
    expect(skipped.map((v) => [v.mode, v.end])).toEqual([
      ['bare-metal', 'low'],
      ['bare-metal', 'high'],
    ]);
    const base = result.base.find((b) => b.mode === 'bare-metal')!;
    const entry = options.entries[0]!;
    for (const end of ['low', 'high'] as const) {
      const real = runJob(variationJob(options, 'netperf-tcp-stream', 'bare-metal', entry, end));
      const { relative: _r, profileReads: _p, ...report } = base;
      expect(JSON.stringify(real.report)).toBe(JSON.stringify(report));
    }
  });
});

const tinyArgs = (dir: string) => [
  ...['--workloads', 'netperf-tcp-stream', '--entries', `${HOST},${GUEST}`],
  ...['--duration', '2', '--warmup', '1', '--seed', '3', '--jobs', '1', '--out', dir],
];

describe('exitless sensitivity, end to end', () => {
  let first: Record<string, string> = {};

  it('writes JSON, CSV, Markdown and a tornado chart per workload', async () => {
    const dir = await tempDir();
    const result = await sensitivity(parseSensitivityArgs(tinyArgs(dir), PROFILE));
    expect(result.failures).toEqual([]);
    // 3 base runs; guest.irqEntry is read in every mode (6 re-runs), host.injection in the 2 virtualized ones (4).
    expect(result.runs).toEqual({ base: 3, rerun: 10, reused: 2 });
    first = await contents(dir);
    expect(Object.keys(first)).toEqual([
      'sensitivity.csv',
      'sensitivity.json',
      'sensitivity.md',
      'tornado-netperf-tcp-stream.svg',
    ]);
    const json = JSON.parse(first['sensitivity.json']!) as {
      entries: { key: string; readBy: string[] }[];
      base: { mode: string; profileReads: string[] }[];
      variations: { entry: string; end: string; mode: string; rerun: boolean; figures: object | null }[];
      figures: FigureSwings[];
    };
    expect(json.entries.find((e) => e.key === HOST)!.readBy).toEqual([
      'netperf-tcp-stream × baseline',
      'netperf-tcp-stream × eli',
    ]);
    expect(json.base.map((b) => b.mode)).toEqual(['bare-metal', 'baseline', 'eli']);
    expect(json.variations).toHaveLength(2 * 2 * 3);
    expect(json.variations.every((v) => v.figures !== null)).toBe(true);
    expect(json.figures.map((f) => f.figure)).toEqual([
      'baseline.toBareMetal',
      'eli.toBareMetal',
      'eli.toBaseline',
      'baseline.exitsPerSecond',
      'eli.exitsPerSecond',
    ]);
    for (const f of json.figures) {
      expect(f.ranking).toHaveLength(2);
      const sizes = f.ranking.map((s) => s.span ?? -1);
      expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
    }
    // 5 figures × 2 entries, and the header.
    expect(first['sensitivity.csv']!.trimEnd().split('\n')).toHaveLength(11);
    expect(first['sensitivity.csv']!.split('\n')[0]).toBe(
      'workload,figure,rank,entry,unit,value,low,high,base,at_low,at_high,effect,span,rerun',
    );
    expect(first['sensitivity.md']).toContain('## netperf-tcp-stream');
    expect(first['sensitivity.md']).toContain('### baseline % of bare metal');
    expect(first['sensitivity.md']).toContain('![Tornado chart](tornado-netperf-tcp-stream.svg)');
    expect(first['tornado-netperf-tcp-stream.svg']).toMatch(/^<svg/);
    expect(result.text.split('\n')[0]).toBe('netperf-tcp-stream:');
    expect(result.text).toContain('baseline % of bare metal: ');
  });

  it('writes the same bytes on a second run with the same arguments', async () => {
    const dir = await tempDir();
    const result = await sensitivity(parseSensitivityArgs(tinyArgs(dir), PROFILE));
    expect(result.failures).toEqual([]);
    expect(await contents(dir)).toEqual(first);
  });

  it('labels a variation’s run with its entry and end', () => {
    const options = parseSensitivityArgs(tinyArgs('x'), PROFILE);
    const entry = options.entries.find((e) => e.key === HOST)!;
    expect(jobLabel(variationJob(options, 'netperf-tcp-stream', 'eli', entry, 'low'))).toBe(
      `netperf-tcp-stream × eli [${HOST} low ${entry.low}] (seed 3)`,
    );
    const { tag: _tag, ...untagged } = variationJob(options, 'w', 'eli', entry, 'high');
    expect(jobLabel(untagged)).toBe(`w × eli [${HOST}=${entry.high}] (seed 3)`);
  });

  const ranged = rangedEntries(XEON_X5570);
  it.skipIf(ranged.length === 0)(
    'runs from the command line on a pool of 2 workers',
    async () => {
      const dir = await tempDir();
      const root = fileURLToPath(new URL('../../..', import.meta.url));
      const { stdout, stderr } = await promisify(execFile)(
        process.execPath,
        [
          ...['--conditions=source', '--import', 'tsx', 'apps/reference/src/cli.ts', 'sensitivity'],
          ...[
            '--workloads',
            'netperf-tcp-stream',
            '--modes',
            'bare-metal,baseline',
            '--entries',
            ranged[0]!.key,
          ],
          ...['--duration', '1', '--warmup', '1', '--jobs', '2', '--out', dir],
        ],
        { cwd: root },
      );
      expect(stderr).toMatch(/^sensitivity: 1 profile entries/);
      expect(stderr).toContain('sensitivity: base runs: 2 runs, on 2 worker threads');
      expect(stdout.split('\n')[0]).toBe('netperf-tcp-stream:');
      expect((await readdir(dir)).sort()).toEqual([
        'sensitivity.csv',
        'sensitivity.json',
        'sensitivity.md',
        'tornado-netperf-tcp-stream.svg',
      ]);
    },
    60_000,
  );
});
