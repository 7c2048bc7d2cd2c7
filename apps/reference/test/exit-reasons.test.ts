import type { RunReport } from '@exitless/machine';
import { describe, expect, it } from 'vitest';
import {
  BAND_EXITS_VIEW,
  exitReasonColumns,
  exitReasonRows,
  exitReasons,
  RUN_EXITS_VIEW,
  SUMMARY_EXITS_VIEW,
} from '../src/exit-reasons.js';
import {
  exitReasonCsv,
  formatCsv,
  formatMarkdownTable,
  formatTable,
  reproduceColumns,
} from '../src/format.js';
import { withRelative } from '../src/relative.js';
import { summarize, summaryColumns } from '../src/summary.js';
import { summarizeSamples, uncertaintyColumns } from '../src/uncertainty.js';
import { fixedReport } from './fixtures.js';

const seeded = (seed: number, report: RunReport): RunReport => ({ ...report, seed });

/** Bare metal (no exits), baseline (three reasons), eli (two, one of them baseline has not). */
const runs = withRelative([
  fixedReport('bare-metal', 8000),
  fixedReport('baseline', 6000, { byReason: { 'external-interrupt': 20_300, hlt: 5200, wrmsr: 27_200 } }),
  fixedReport('eli', 7800, { byReason: { 'exception-or-nmi': 1060, hlt: 7140 } }),
]);

describe('exits per second by reason', () => {
  it('names every reason any run counted, sorted, and leaves bare metal out of the rows', () => {
    expect(exitReasons(runs, RUN_EXITS_VIEW)).toEqual([
      'exception-or-nmi',
      'external-interrupt',
      'hlt',
      'wrmsr',
    ]);
    expect(exitReasonRows(runs).map((r) => r.mode)).toEqual(['baseline', 'eli']);
    // Any other mode stays, even one without exits: that is a result.
    expect(exitReasonRows(withRelative([fixedReport('did', 1)])).map((r) => r.mode)).toEqual(['did']);
  });

  it('is a table of workload × mode with a column per reason (0 where a run had none) and the total', () => {
    const reasons = exitReasons(runs, RUN_EXITS_VIEW);
    expect(formatMarkdownTable(exitReasonColumns(reasons, RUN_EXITS_VIEW), exitReasonRows(runs))).toBe(
      [
        '| workload | mode | exception-or-nmi | external-interrupt | hlt | wrmsr | total |',
        '| :--- | :--- | ---: | ---: | ---: | ---: | ---: |',
        '| netperf-tcp-stream | baseline | 0 | 20,300 | 5,200 | 27,200 | 52,700 |',
        '| netperf-tcp-stream | eli | 1,060 | 0 | 7,140 | 0 | 8,200 |',
        '',
      ].join('\n'),
    );
    expect(formatTable(exitReasonColumns(reasons, RUN_EXITS_VIEW, true), runs).split('\n')[0]).toMatch(
      /^profile {5}workload {12}mode {8}exception-or-nmi/,
    );
  });

  it('is in the CSV after exits_per_s, one column per reason, 0 where a run had none; the table keeps its width', () => {
    const reasons = exitReasons(runs, RUN_EXITS_VIEW);
    expect(exitReasonCsv('hlt')).toBe('exits_per_s.hlt');
    const [header, bare, baseline] = formatCsv(reproduceColumns(reasons), runs).split('\n');
    const columns = header!.split(',');
    const at = columns.indexOf('exits_per_s');
    expect(columns.slice(at, at + 6)).toEqual([
      'exits_per_s',
      'exits_per_s.exception-or-nmi',
      'exits_per_s.external-interrupt',
      'exits_per_s.hlt',
      'exits_per_s.wrmsr',
      'exits_per_assigned_interrupt',
    ]);
    expect(bare!.split(',').slice(at, at + 5)).toEqual(['0', '0', '0', '0', '0']);
    expect(baseline!.split(',').slice(at, at + 5)).toEqual(['52700', '0', '20300', '5200', '27200']);
    expect(formatTable(reproduceColumns(reasons), runs)).toBe(formatTable(reproduceColumns(), runs));
  });

  it('over seeds: the mean ± 95% interval per reason, a seed without a reason counting 0', () => {
    const summaries = summarize(
      withRelative([
        seeded(1, fixedReport('baseline', 6000, { byReason: { hlt: 100, wrmsr: 1000 } })),
        seeded(2, fixedReport('baseline', 6000, { byReason: { wrmsr: 1200 } })),
        seeded(3, fixedReport('baseline', 6000, { byReason: { hlt: 200, wrmsr: 1100 } })),
      ]),
    );
    const baseline = summaries[0]!;
    expect(Object.keys(baseline.summary.exitsPerSecondByReason)).toEqual(['hlt', 'wrmsr']);
    // hlt: 100, 0, 200 — mean 100, s = 100, half-width 4.302653 · 100 / √3 = 248.4.
    expect(baseline.summary.exitsPerSecondByReason.hlt).toEqual({
      mean: 100,
      ci95: { low: -148.413771, high: 348.413771 },
      n: 3,
    });
    const reasons = exitReasons(summaries, SUMMARY_EXITS_VIEW);
    expect(
      formatTable(exitReasonColumns([...reasons, 'apic-access'], SUMMARY_EXITS_VIEW), summaries),
    ).toMatch(/ {2}100 ± 248 {2}1,100 ± 248 +0 ± 0 {2}1,200 ± 248\n/);
    const [header, row] = formatCsv(summaryColumns(reasons), summaries).split('\n');
    const columns = header!.split(',');
    const at = columns.indexOf('exits_per_s.hlt');
    expect(columns.slice(at, at + 3)).toEqual([
      'exits_per_s.hlt',
      'exits_per_s.hlt_ci95_low',
      'exits_per_s.hlt_ci95_high',
    ]);
    expect(row!.split(',').slice(at, at + 3)).toEqual(['100', '-148.413771', '348.413771']);
  });

  it('over profile samples: the base run with the 5th–95th percentile band per reason', () => {
    const banded = summarizeSamples(
      [
        [0, 500],
        [1, 100],
        [2, 0],
        [3, 300],
      ].map(([sample, hlt]) => ({
        ...fixedReport('baseline', 6000, {
          byReason: hlt! > 0 ? { hlt: hlt!, wrmsr: 1000 } : { wrmsr: 1000 },
        }),
        sample: sample!,
      })),
      1,
    );
    const baseline = banded[0]!;
    // Samples 100, 0, 300: sorted 0, 100, 300; h = 0.1 and 1.9.
    expect(baseline.exitsPerSecondByReason.hlt).toEqual({ base: 500, p05: 10, p95: 280, n: 3 });
    expect(baseline.runs.map((r) => r.exitsPerSecondByReason.hlt ?? 0)).toEqual([100, 0, 300]);
    expect(formatTable(exitReasonColumns(['hlt'], BAND_EXITS_VIEW), banded).split('\n')[2]).toBe(
      'netperf-tcp-stream  baseline  500 [10, 280]  1,500 [1,010, 1,280]',
    );
    const [header] = formatCsv(uncertaintyColumns(exitReasons(banded, BAND_EXITS_VIEW)), banded).split('\n');
    expect(header).toContain(',exits_per_s.hlt,exits_per_s.hlt_p05,exits_per_s.hlt_p95,');
  });
});
