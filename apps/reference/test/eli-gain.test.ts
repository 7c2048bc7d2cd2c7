import type { RunReport } from '@exitless/machine';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BAND_GAIN_VIEW,
  eliGainTable,
  RUN_GAIN_VIEW,
  SHARE_NOTE_BOUNDS,
  SUMMARY_GAIN_VIEW,
} from '../src/eli-gain.js';
import { formatCsv, formatMarkdownTable, formatTable, reproduceColumns } from '../src/format.js';
import { gainKept, MIN_ELI_GAIN, withRelative } from '../src/relative.js';
import { summarize, summaryColumns } from '../src/summary.js';
import { summarizeSamples } from '../src/uncertainty.js';
import { fixedReport } from './fixtures.js';

/** A run with a chosen throughput, workload, profile and seed (no simulation). */
const run = (
  mode: string,
  throughput: number,
  where: { readonly workload?: string; readonly profile?: string; readonly seed?: number } = {},
): RunReport => ({
  ...fixedReport(mode, throughput, { workload: where.workload ?? 'apache', unit: 'requests/s' }),
  profile: where.profile ?? 'xeon-x5570',
  seed: where.seed ?? 1,
});

const kept = (reports: readonly RunReport[]) =>
  Object.fromEntries(withRelative(reports).map((r) => [r.mode, r.relative.eliGainKept]));

describe("the share of ELI's gain a design keeps", () => {
  it('is (mode − baseline) ÷ (eli − baseline): baseline 60, eli 90, a design at 75 keeps 50%', () => {
    expect(gainKept(75, 60, 90)).toBe(0.5);
    expect(
      kept([run('bare-metal', 100), run('baseline', 60), run('eli', 90), run('eli-delivery', 75)]),
    ).toEqual({
      'bare-metal': 1.333333,
      baseline: 0,
      eli: 1,
      'eli-delivery': 0.5,
    });
  });

  it('goes below 0 for a design slower than baseline and above 1 for one faster than eli', () => {
    expect(kept([run('baseline', 60), run('eli', 90), run('pv-eoi', 45), run('did', 96)])).toMatchObject({
      'pv-eoi': -0.5,
      did: 1.2,
    });
  });

  it('is null when eli gains less than 2% of baseline (noise), or loses to it', () => {
    expect(MIN_ELI_GAIN).toBe(0.02);
    // 61 / 60: a gain of 1.7%.
    expect(kept([run('baseline', 60), run('eli', 61), run('eli-delivery', 75)])).toEqual({
      baseline: null,
      eli: null,
      'eli-delivery': null,
    });
    expect(gainKept(101, 100, 101.9)).toBeNull();
    expect(gainKept(101, 100, 102)).toBe(0.5);
    expect(gainKept(55, 60, 50)).toBeNull();
  });

  it('is null without a baseline or an eli run of the same workload, profile and seed', () => {
    expect(kept([run('baseline', 60), run('eli-delivery', 75)])['eli-delivery']).toBeNull();
    expect(gainKept(75, 0, 90)).toBeNull();
    expect(gainKept(75, undefined, 90)).toBeNull();
    // eli of another profile, workload or seed does not count.
    for (const other of [{ profile: 'xeon-skylake-sp' }, { workload: 'memcached' }, { seed: 2 }]) {
      expect(
        kept([run('baseline', 60), run('eli', 90, other), run('eli-delivery', 75)])['eli-delivery'],
      ).toBeNull();
    }
  });

  it('for any baseline and eli gaining at least 2%: eli keeps 1, baseline 0, and a point between keeps its fraction', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1, max: 1e6, noNaN: true }),
        fc.double({ min: MIN_ELI_GAIN, max: 10, noNaN: true }),
        fc.double({ min: -2, max: 3, noNaN: true }),
        (baseline, gain, k) => {
          const eli = baseline * (1 + gain) * (1 + 1e-12);
          expect(gainKept(eli, baseline, eli)).toBe(1);
          expect(gainKept(baseline, baseline, eli)).toBe(0);
          expect(gainKept(baseline + k * (eli - baseline), baseline, eli)!).toBeCloseTo(k, 5);
        },
      ),
    );
  });
});

/**
 * Two profiles × two workloads. On xeon-x5570 `posted` is refused, and memcached's eli gains
 * 1.7% (too little to take a share of); on xeon-skylake-sp every design ran, and pv-eoi on
 * memcached falls far below baseline.
 */
const twoProfiles = withRelative([
  ...[
    ['bare-metal', 100],
    ['baseline', 60],
    ['eli-delivery', 75],
    ['eli', 90],
    ['pv-eoi', 66],
  ].map(([mode, t]) => run(mode as string, t as number)),
  ...[
    ['baseline', 60],
    ['eli-delivery', 60.5],
    ['eli', 61],
    ['pv-eoi', 59],
  ].map(([mode, t]) => run(mode as string, t as number, { workload: 'memcached' })),
  ...[
    ['baseline', 80],
    ['eli-delivery', 90],
    ['eli', 100],
    ['pv-eoi', 85],
    ['posted', 100],
  ].map(([mode, t]) => run(mode as string, t as number, { profile: 'xeon-skylake-sp' })),
  ...[
    ['baseline', 80],
    ['eli-delivery', 95],
    ['eli', 100],
    ['pv-eoi', 20],
    ['posted', 90],
  ].map(([mode, t]) =>
    run(mode as string, t as number, { workload: 'memcached', profile: 'xeon-skylake-sp' }),
  ),
]);

const MODES = ['bare-metal', 'baseline', 'eli-delivery', 'eli', 'pv-eoi', 'posted'];
const refusal = (mode: string, profile: string) =>
  mode === 'posted' && profile === 'xeon-x5570' ? 'the profile has no APIC virtualization' : null;

describe("the table of how much of ELI's gain each design keeps", () => {
  const table = eliGainTable(twoProfiles, RUN_GAIN_VIEW, { profileColumn: true, modes: MODES, refusal })!;

  it('has a row per profile × workload and a column per design but bare-metal, baseline and eli', () => {
    expect(table.designs).toEqual(['eli-delivery', 'pv-eoi', 'posted']);
    expect(formatTable(table.columns, table.rows)).toBe(
      [
        'profile          workload   eli vs baseline  eli-delivery   pv-eoi  posted',
        '---------------  ---------  ---------------  ------------  -------  ------',
        'xeon-x5570       apache               1.50×         50.0%    20.0%       —',
        'xeon-x5570       memcached            1.02×             —        —       —',
        'xeon-skylake-sp  apache               1.25×         50.0%    25.0%  100.0%',
        'xeon-skylake-sp  memcached            1.25×         75.0%  -300.0%   50.0%',
        '',
      ].join('\n'),
    );
  });

  it('explains every — and every share far outside 0–100% in a note', () => {
    expect(SHARE_NOTE_BOUNDS).toEqual({ low: -1, high: 2 });
    expect(table.notes).toEqual([
      'memcached on xeon-x5570: eli is 1.02× baseline, a gain below 2%, so no share of it is shown (—)',
      "pv-eoi for memcached on xeon-skylake-sp: -300.0% — it is 0.25× baseline where eli is 1.25×, slower than baseline by 3.0 times ELI's gain",
      '— under posted on xeon-x5570: not run — the profile has no APIC virtualization',
    ]);
  });

  it('renders as a Markdown table, and without a profile column for one profile', () => {
    const md = formatMarkdownTable(table.columns, table.rows).split('\n');
    expect(md[0]).toBe('| profile | workload | eli vs baseline | eli-delivery | pv-eoi | posted |');
    expect(md[1]).toBe('| :--- | :--- | ---: | ---: | ---: | ---: |');
    expect(md[2]).toBe('| xeon-x5570 | apache | 1.50× | 50.0% | 20.0% | — |');
    const one = eliGainTable(
      twoProfiles.filter((e) => e.profile === 'xeon-skylake-sp'),
      RUN_GAIN_VIEW,
    )!;
    expect(formatTable(one.columns, one.rows).split('\n')[0]).toBe(
      'workload   eli vs baseline  eli-delivery   pv-eoi  posted',
    );
  });

  it('leaves a mode out that ran nowhere, orders designs by first appearance without a mode list, and is null without baseline or eli', () => {
    const noPosted = eliGainTable(
      twoProfiles.filter((e) => e.mode !== 'posted' && e.mode !== 'eli-delivery'),
      RUN_GAIN_VIEW,
    )!;
    expect(noPosted.designs).toEqual(['pv-eoi']);
    expect(noPosted.notes.some((n) => n.includes('posted'))).toBe(false);
    expect(eliGainTable(twoProfiles, RUN_GAIN_VIEW)!.designs).toEqual(['eli-delivery', 'pv-eoi', 'posted']);
    expect(
      eliGainTable(
        twoProfiles.filter((e) => e.mode !== 'eli'),
        RUN_GAIN_VIEW,
      ),
    ).toBeNull();
    // A workload with a baseline but no eli run (a failed run) is a row of — with its reason.
    const failed = eliGainTable(
      twoProfiles.filter((e) => !(e.mode === 'eli' && e.workload === 'memcached')),
      RUN_GAIN_VIEW,
      { profileColumn: true, modes: MODES, refusal },
    )!;
    expect(failed.notes).toContain("memcached on xeon-x5570: no eli run, so no share of ELI's gain");
  });
});

describe("the share of ELI's gain over seeds and over profile samples", () => {
  /** Seeds 1–3: eli-delivery keeps 40%, 50%, 60%; seed 4: eli gains 1%, no share. */
  const seeds = withRelative(
    [
      [1, 100, 120, 108],
      [2, 100, 120, 110],
      [3, 100, 120, 112],
      [4, 100, 101, 100.5],
    ].flatMap(([seed, base, eli, delivery]) => [
      run('baseline', base!, { seed: seed! }),
      run('eli', eli!, { seed: seed! }),
      run('eli-delivery', delivery!, { seed: seed! }),
    ]),
  );
  const summaries = summarize(seeds);

  it('is the mean ± 95% interval of the per-seed shares, over the seeds where eli gained enough', () => {
    const delivery = summaries.find((s) => s.mode === 'eli-delivery')!;
    // Mean 0.5, s = 0.1, half-width t(0.975, 2) · 0.1 / √3 = 0.248.
    expect(delivery.summary.eliGainKept).toEqual({
      mean: 0.5,
      ci95: { low: 0.251586, high: 0.748414 },
      n: 3,
    });
    const table = eliGainTable(summaries, SUMMARY_GAIN_VIEW)!;
    expect(formatTable(table.columns, table.rows).split('\n')[2]).toBe(
      'apache       1.15 ± 0.15×  50.0 ± 24.8%',
    );
    expect(table.notes).toEqual([
      'apache: eli gained less than 2% over baseline in 1 of 4 seeds; the shares are over the other 3',
    ]);
  });

  it('is in the CSV over seeds as eli_gain_kept with its interval', () => {
    const [header, , , delivery] = formatCsv(summaryColumns(), summaries).split('\n');
    const columns = header!.split(',');
    const at = columns.indexOf('eli_gain_kept');
    expect(columns.slice(at, at + 3)).toEqual([
      'eli_gain_kept',
      'eli_gain_kept_ci95_low',
      'eli_gain_kept_ci95_high',
    ]);
    expect(columns[at - 1]).toBe('to_baseline_ci95_high');
    expect(delivery!.split(',').slice(at, at + 3)).toEqual(['0.5', '0.251586', '0.748414']);
  });

  it("is banded over profile samples, each sample's share within that sample", () => {
    const samples = [
      [0, 100, 120, 110],
      [1, 100, 120, 104],
      [2, 100, 140, 120],
      [3, 100, 130, 118],
    ].flatMap(([sample, base, eli, delivery]) => [
      { ...run('baseline', base!), sample: sample! },
      { ...run('eli', eli!), sample: sample! },
      { ...run('eli-delivery', delivery!), sample: sample! },
    ]);
    const banded = summarizeSamples(samples, 1);
    // Samples keep 0.2, 0.5, 0.6: h = 0.1 and 1.9.
    expect(banded[2]!.bands.eliGainKept).toEqual({ base: 0.5, p05: 0.23, p95: 0.59, n: 3 });
    const table = eliGainTable(banded, BAND_GAIN_VIEW)!;
    expect(formatTable(table.columns, table.rows).split('\n')[2]).toBe(
      'apache    1.20× [1.21, 1.39]  50.0% [23.0, 59.0]',
    );
    expect(table.notes).toEqual([]);
  });
});

describe('the CSV of single runs', () => {
  it('has eli_gain_kept after to_baseline, while the table keeps its width', () => {
    const csv = formatCsv(reproduceColumns(), twoProfiles).split('\n');
    const columns = csv[0]!.split(',');
    expect(columns.indexOf('eli_gain_kept')).toBe(columns.indexOf('to_baseline') + 1);
    expect(csv[3]!.split(',')[columns.indexOf('eli_gain_kept')]).toBe('0.5');
    // memcached on xeon-x5570: no share, an empty field.
    expect(csv[7]!.split(',').slice(0, 2)).toEqual(['memcached', 'eli-delivery']);
    expect(csv[7]!.split(',')[columns.indexOf('eli_gain_kept')]).toBe('');
    expect(formatTable(reproduceColumns(), twoProfiles).split('\n')[0]).not.toContain('gain');
  });
});
