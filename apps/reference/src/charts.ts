import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { compile } from 'vega-lite';
import type { ReproduceEntry, SweepEntry } from './format.js';
import type { Estimate } from './stats.js';
import type { SummaryEntry } from './summary.js';

/** A chart: the vega-lite spec (kept so tests and users can read its data) and where it goes. */
export interface Chart {
  /** File name in the output directory. */
  readonly file: string;
  readonly spec: TopLevelSpec;
}

function distinct(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Shared look: white background, plain sans-serif, no rounding surprises in labels. */
const CONFIG = {
  background: 'white',
  font: 'sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
} as const;

/** Width of one bar (one mode within a workload's group), px. */
const BAR_STEP = 22;

/** Colour by mode over every mode of the run set, so a mode has the same colour in every chart. */
function modeColor(modes: readonly string[]) {
  return {
    field: 'mode',
    type: 'nominal',
    title: 'mode',
    sort: [...modes],
    scale: { domain: [...modes], scheme: 'tableau10' },
  } as const;
}

/**
 * A mode's slot within a workload's group, over every mode of the set: groups have the
 * same width in every chart, and a mode with nothing to draw leaves its slot empty.
 */
function modeOffset(modes: readonly string[]) {
  return { field: 'mode', type: 'nominal' as const, sort: [...modes], scale: { domain: [...modes] } };
}

/** What a chart draws of one bar: a run's figure, or a mean over seeds with its interval. */
interface Bar {
  readonly workload: string;
  readonly mode: string;
  readonly value: number | null;
  readonly ci95: { readonly low: number; readonly high: number } | null;
}

/** One bar per entry: single runs (no interval) or summaries over seeds (the mean and its 95% interval). */
function bars(
  entries: readonly ReproduceEntry[] | readonly SummaryEntry[],
  run: (e: ReproduceEntry) => number | null,
  summary: (e: SummaryEntry) => Estimate | null,
): Bar[] {
  return entries.map((e) => {
    if ('summary' in e) {
      const s = summary(e);
      return { workload: e.workload, mode: e.mode, value: s?.mean ?? null, ci95: s?.ci95 ?? null };
    }
    return { workload: e.workload, mode: e.mode, value: run(e), ci95: null };
  });
}

/** How many seeds the error bars span, for a subtitle ('' for single runs). */
function seedsNote(entries: readonly ReproduceEntry[] | readonly SummaryEntry[]): string {
  const n = Math.max(0, ...entries.map((e) => ('summary' in e ? e.runs.length : 1)));
  return n > 1 ? `; error bars: 95% confidence interval over ${n} seeds` : '';
}

const percentOf = (x: number) => Math.round(x * 1e5) / 1e3;

/** An error-bar layer (a rule from ci95Low to ci95High in each bar's slot), for bars with intervals. */
function errorBars<X, O>(x: X, xOffset: O) {
  return {
    mark: { type: 'rule', color: 'black', strokeWidth: 1.5 },
    encoding: {
      x,
      xOffset,
      y: { field: 'ci95Low', type: 'quantitative' },
      y2: { field: 'ci95High' },
    },
  } as const;
}

/**
 * Throughput relative to bare metal, per workload (groups) and mode (bars in a group), with
 * the 100% line: the shape of the ELI paper's throughput figure. Runs with no bare-metal
 * reference are left out. Over several seeds (summaries), each bar is the mean and carries an
 * error bar: its 95% confidence interval.
 */
export function relativeThroughputChart(entries: readonly ReproduceEntry[] | readonly SummaryEntry[]): Chart {
  const drawn = bars(
    entries,
    (e) => e.relative.toBareMetal,
    (e) => e.summary.toBareMetal,
  ).filter((b) => b.value !== null);
  const intervals = drawn.some((b) => b.ci95 !== null);
  const rows = drawn.map((b) =>
    intervals
      ? {
          workload: b.workload,
          mode: b.mode,
          percentOfBareMetal: percentOf(b.value!),
          ci95Low: b.ci95 === null ? percentOf(b.value!) : percentOf(b.ci95.low),
          ci95High: b.ci95 === null ? percentOf(b.value!) : percentOf(b.ci95.high),
        }
      : { workload: b.workload, mode: b.mode, percentOfBareMetal: percentOf(b.value!) },
  );
  const workloads = distinct(entries.map((r) => r.workload));
  const modes = distinct(entries.map((r) => r.mode));
  const x = {
    field: 'workload',
    type: 'nominal',
    sort: workloads,
    title: null,
    axis: { labelAngle: 0 },
  } as const;
  const xOffset = modeOffset(modes);
  return {
    file: 'throughput-relative.svg',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: {
        text: 'Throughput relative to bare metal',
        subtitle: `per workload and interrupt-delivery mode${seedsNote(entries)}`,
      },
      config: CONFIG,
      width: { step: BAR_STEP },
      height: 260,
      data: { values: rows },
      layer: [
        {
          mark: 'bar',
          encoding: {
            x,
            xOffset,
            y: {
              field: 'percentOfBareMetal',
              type: 'quantitative',
              title: '% of bare-metal throughput',
              scale: { domainMin: 0 },
              stack: null,
            },
            color: modeColor(modes),
          },
        },
        ...(intervals ? [errorBars(x, xOffset)] : []),
        {
          mark: { type: 'text', dy: -6, fontSize: 9 },
          encoding: {
            x,
            xOffset,
            // Over an error bar when there is one, so that the label does not cross it.
            y: { field: intervals ? 'ci95High' : 'percentOfBareMetal', type: 'quantitative', stack: null },
            text: { field: 'percentOfBareMetal', type: 'quantitative', format: '.0f' },
          },
        },
        {
          mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' },
          encoding: { y: { datum: 100 } },
        },
      ],
    },
  };
}

/**
 * Exits per second per workload and mode, on a log scale (the fall from baseline to ELI
 * spans orders of magnitude). A log scale cannot show zero, so runs with no exits (bare
 * metal) are left out and named in the subtitle. Over several seeds, each bar is the mean
 * with its 95% confidence interval as an error bar; an interval reaching down to zero or
 * below is drawn from the mean up (a log scale has no zero), and the subtitle says so.
 */
export function exitsPerSecondChart(entries: readonly ReproduceEntry[] | readonly SummaryEntry[]): Chart {
  const all = bars(
    entries,
    (e) => e.exitsPerSecond.total,
    (e) => e.summary.exitsPerSecond,
  );
  const drawn = all.filter((b) => b.value !== null && b.value > 0);
  const zero = distinct(all.filter((b) => !(b.value !== null && b.value > 0)).map((b) => b.mode));
  const intervals = drawn.some((b) => b.ci95 !== null);
  const cut = drawn.some((b) => b.ci95 !== null && !(b.ci95.low > 0));
  const rows = drawn.map((b) =>
    intervals
      ? {
          workload: b.workload,
          mode: b.mode,
          exitsPerSecond: b.value!,
          ci95Low: b.ci95 !== null && b.ci95.low > 0 ? b.ci95.low : b.value!,
          ci95High: b.ci95 === null ? b.value! : b.ci95.high,
        }
      : { workload: b.workload, mode: b.mode, exitsPerSecond: b.value! },
  );
  const workloads = distinct(entries.map((r) => r.workload));
  const modes = distinct(entries.map((r) => r.mode));
  const x = {
    field: 'workload',
    type: 'nominal',
    sort: workloads,
    title: null,
    axis: { labelAngle: 0 },
  } as const;
  const xOffset = modeOffset(modes);
  const encoding = {
    x,
    xOffset,
    // Bars on a log scale must not stack: a stack starts at 0, which a log scale lacks.
    y: {
      field: 'exitsPerSecond',
      type: 'quantitative',
      title: 'exits per second',
      scale: { type: 'log' },
      stack: null,
      axis: { format: '~s' },
    },
    color: modeColor(modes),
  } as const;
  const subtitle =
    (zero.length > 0 ? `no exits, not drawn: ${zero.join(', ')}` : 'per workload and mode') +
    seedsNote(entries) +
    (cut ? ' (from the mean up where the interval reaches 0)' : '');
  const common = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'VM exits per second (log scale)', subtitle },
    config: CONFIG,
    width: { step: BAR_STEP },
    height: 260,
    data: { values: rows },
  } as const;
  return {
    file: 'exits-per-second.svg',
    spec: intervals
      ? { ...common, layer: [{ mark: 'bar', encoding }, errorBars(x, xOffset)] }
      : { ...common, mark: 'bar', encoding },
  };
}

/**
 * A sweep: % of bare-metal throughput (y) against the interrupt rate each run measured
 * (x, physical interrupts per second — not the parameter), one line per mode, drawn in
 * the order of the swept values. Runs with no
 * bare-metal reference at their parameter value are left out.
 */
export function sweepChart(entries: readonly SweepEntry[], workload: string): Chart {
  const rows = entries
    .filter((e) => e.relative.toBareMetal !== null)
    .map((e) => ({
      mode: e.mode,
      parameter: e.parameter.value,
      interruptsPerSecond: e.interruptsPerSecond.physical,
      percentOfBareMetal: Math.round(e.relative.toBareMetal! * 1e5) / 1e3,
    }));
  const modes = distinct(entries.map((r) => r.mode));
  const param = entries[0]?.parameter;
  return {
    file: 'sweep.svg',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: {
        text: `${workload}: throughput relative to bare metal vs. interrupt rate`,
        subtitle:
          param !== undefined ? `swept: ${param.name} (${param.unit}); x is each run's measured rate` : '',
      },
      config: CONFIG,
      width: 420,
      height: 280,
      data: { values: rows },
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'interruptsPerSecond',
          type: 'quantitative',
          title: 'physical interrupts per second (measured)',
          axis: { format: '~s' },
        },
        y: {
          field: 'percentOfBareMetal',
          type: 'quantitative',
          title: '% of bare-metal throughput',
          scale: { domainMin: 0 },
        },
        color: modeColor(modes),
        // The line follows the sweep (largest parameter value, usually the lowest rate, first),
        // not the x order: measured rates of neighbouring settings can cross.
        order: { field: 'parameter', type: 'quantitative', sort: 'descending' },
      },
    },
  };
}

/** Renders a vega-lite spec to SVG in Node (no canvas; text widths are estimated, so output is the same everywhere). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return `${await view.toSVG()}\n`;
  } finally {
    view.finalize();
  }
}
