import { BUILTIN_MODES } from '@exitless/machine';
import type { TopLevelSpec } from 'vega-lite';
import type { ReproduceEntry, SweepEntry } from './format.js';
import type { Band } from './sampling.js';
import type { Estimate } from './stats.js';
import type { SummaryEntry } from './summary.js';
import type { UncertaintyEntry } from './uncertainty.js';

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

/** Vega's tableau10 scheme: the colours modes are drawn in. */
const PALETTE: readonly string[] = [
  '#4c78a8',
  '#f58518',
  '#e45756',
  '#72b7b2',
  '#54a24b',
  '#eeca3b',
  '#b279a2',
  '#ff9da6',
  '#9d755d',
  '#bab0ac',
];

/**
 * A mode's colour, the same in every chart of every run: a built-in mode's is fixed by its
 * place in BUILTIN_MODES (bare-metal blue, baseline orange, eli-delivery red, eli teal…); a
 * mode of a user's own takes the palette's colours after the built-in ones', in the order the
 * run set lists such modes.
 */
export function modeColors(modes: readonly string[]): string[] {
  const own = modes.filter((m) => !BUILTIN_MODES.includes(m));
  return modes.map((m) => {
    const i = BUILTIN_MODES.indexOf(m);
    return PALETTE[(i >= 0 ? i : BUILTIN_MODES.length + own.indexOf(m)) % PALETTE.length]!;
  });
}

/** Colour by mode: the modes of the run set in the legend, each in its own fixed colour (modeColors). */
function modeColor(modes: readonly string[]) {
  return {
    field: 'mode',
    type: 'nominal',
    title: 'mode',
    sort: [...modes],
    scale: { domain: [...modes], range: modeColors(modes) },
  } as const;
}

/**
 * A mode's slot within a workload's group, over every mode of the set: groups have the
 * same width in every chart, and a mode with nothing to draw leaves its slot empty.
 */
function modeOffset(modes: readonly string[]) {
  return { field: 'mode', type: 'nominal' as const, sort: [...modes], scale: { domain: [...modes] } };
}

/**
 * What the reproduce charts draw: single runs, summaries over seeds (a mean and its 95%
 * confidence interval) or runs over profile samples (the base profile's value and the
 * 5th–95th percentile band).
 */
export type ChartEntries = readonly ReproduceEntry[] | readonly SummaryEntry[] | readonly UncertaintyEntry[];

/** What a chart draws of one bar: a run's figure, or a mean over seeds with its interval, or a base value with its band. */
interface Bar {
  readonly profile: string;
  readonly workload: string;
  readonly mode: string;
  readonly value: number | null;
  readonly ci95: { readonly low: number; readonly high: number } | null;
}

/** One bar per entry: single runs (no interval), summaries over seeds (the mean and its 95% interval), or samples (base value, 5th–95th percentile). */
function bars(
  entries: ChartEntries,
  run: (e: ReproduceEntry) => number | null,
  summary: (e: SummaryEntry) => Estimate | null,
  samples: (e: UncertaintyEntry) => Band | null,
): Bar[] {
  return entries.map((e: ReproduceEntry | SummaryEntry | UncertaintyEntry) => {
    if ('bands' in e) {
      const b = samples(e);
      return {
        profile: e.profile,
        workload: e.workload,
        mode: e.mode,
        value: b?.base ?? null,
        ci95: b === null ? null : { low: b.p05, high: b.p95 },
      };
    }
    if ('summary' in e) {
      const s = summary(e);
      return {
        profile: e.profile,
        workload: e.workload,
        mode: e.mode,
        value: s?.mean ?? null,
        ci95: s?.ci95 ?? null,
      };
    }
    return { profile: e.profile, workload: e.workload, mode: e.mode, value: run(e), ci95: null };
  });
}

/** The data fields of an error bar's ends: the 95% interval over seeds, or the percentile band over samples. */
function intervalFields(entries: ChartEntries): { readonly low: string; readonly high: string } {
  return entries.some((e) => 'bands' in e)
    ? { low: 'p05', high: 'p95' }
    : { low: 'ci95Low', high: 'ci95High' };
}

/** What the error bars span, for a subtitle ('' for single runs). */
function seedsNote(entries: ChartEntries): string {
  const samples = Math.max(0, ...entries.map((e) => ('bands' in e ? e.runs.length : 0)));
  if (samples > 0) {
    return `; bar: the profile's values, error bar: 5th–95th percentile over ${samples} profile samples`;
  }
  const n = Math.max(0, ...entries.map((e) => ('summary' in e ? e.runs.length : 1)));
  return n > 1 ? `; error bars: 95% confidence interval over ${n} seeds` : '';
}

const percentOf = (x: number) => Math.round(x * 1e5) / 1e3;

/** The calibration profiles of a run set, in order of appearance. */
function profilesOf(entries: ChartEntries): string[] {
  return distinct(entries.map((e: ReproduceEntry | SummaryEntry | UncertaintyEntry) => e.profile));
}

/** A row with its bar's profile when the chart has a panel per profile (else unchanged, as before profiles were charted). */
function withProfile<R extends object>(row: R, bar: Bar, profiles: readonly string[]): R {
  return profiles.length > 1 ? { profile: bar.profile, ...row } : row;
}

/**
 * With runs of several calibration profiles, one panel per profile side by side (a column
 * facet on `profile`), with the same axes, colours and mode slots; with one profile the spec
 * is returned as it is.
 */
function facetByProfile(spec: TopLevelSpec, profiles: readonly string[]): TopLevelSpec {
  if (profiles.length < 2) return spec;
  const { $schema, title, config, data, ...inner } = spec as unknown as Record<string, unknown>;
  return {
    $schema,
    title,
    config,
    data,
    facet: {
      column: { field: 'profile', type: 'nominal', sort: [...profiles], title: 'calibration profile' },
    },
    spec: inner,
  } as unknown as TopLevelSpec;
}

/** An error-bar layer (a rule from the interval's low field to its high field in each bar's slot), for bars with intervals. */
function errorBars<X, O>(x: X, xOffset: O, fields: { readonly low: string; readonly high: string }) {
  return {
    mark: { type: 'rule', color: 'black', strokeWidth: 1.5 },
    encoding: {
      x,
      xOffset,
      y: { field: fields.low, type: 'quantitative' },
      y2: { field: fields.high },
    },
  } as const;
}

/**
 * Throughput relative to bare metal, per workload (groups) and mode (bars in a group), with
 * the 100% line: the shape of the ELI paper's throughput figure. Runs with no bare-metal
 * reference are left out. Over several seeds (summaries), each bar is the mean and carries an
 * error bar: its 95% confidence interval.
 */
export function relativeThroughputChart(entries: ChartEntries): Chart {
  const drawn = bars(
    entries,
    (e) => e.relative.toBareMetal,
    (e) => e.summary.toBareMetal,
    (e) => e.bands.toBareMetal,
  ).filter((b) => b.value !== null);
  const intervals = drawn.some((b) => b.ci95 !== null);
  const fields = intervalFields(entries);
  const profiles = profilesOf(entries);
  const rows = drawn.map((b) =>
    withProfile(
      intervals
        ? {
            workload: b.workload,
            mode: b.mode,
            percentOfBareMetal: percentOf(b.value!),
            [fields.low]: b.ci95 === null ? percentOf(b.value!) : percentOf(b.ci95.low),
            [fields.high]: b.ci95 === null ? percentOf(b.value!) : percentOf(b.ci95.high),
          }
        : { workload: b.workload, mode: b.mode, percentOfBareMetal: percentOf(b.value!) },
      b,
      profiles,
    ),
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
  if (rows.length === 0) {
    return {
      file: 'throughput-relative.svg',
      spec: messageSpec(
        'Throughput relative to bare metal',
        `Nothing to draw: no run of ${workloads.join(', ')} has a bare-metal run to compare with. Add bare-metal to --modes.`,
      ),
    };
  }
  return {
    file: 'throughput-relative.svg',
    spec: facetByProfile(relativeSpec(), profiles),
  };
  function relativeSpec(): TopLevelSpec {
    return {
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
        ...(intervals ? [errorBars(x, xOffset, fields)] : []),
        {
          mark: { type: 'text', dy: -6, fontSize: 9 },
          encoding: {
            x,
            xOffset,
            // Over an error bar when there is one, so that the label does not cross it.
            y: { field: intervals ? fields.high : 'percentOfBareMetal', type: 'quantitative', stack: null },
            text: { field: 'percentOfBareMetal', type: 'quantitative', format: '.0f' },
          },
        },
        {
          mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' },
          encoding: { y: { datum: 100 } },
        },
      ],
    };
  }
}

/**
 * Exits per second per workload and mode, on a log scale (the fall from baseline to ELI
 * spans orders of magnitude). A log scale cannot show zero, so runs with no exits (bare
 * metal) are left out and named in the subtitle. Over several seeds, each bar is the mean
 * with its 95% confidence interval as an error bar; an interval reaching down to zero or
 * below is drawn from the mean up (a log scale has no zero), and the subtitle says so.
 */
export function exitsPerSecondChart(entries: ChartEntries): Chart {
  const all = bars(
    entries,
    (e) => e.exitsPerSecond.total,
    (e) => e.summary.exitsPerSecond,
    (e) => e.bands.exitsPerSecond,
  );
  const fields = intervalFields(entries);
  const drawn = all.filter((b) => b.value !== null && b.value > 0);
  const zero = distinct(all.filter((b) => !(b.value !== null && b.value > 0)).map((b) => b.mode));
  const intervals = drawn.some((b) => b.ci95 !== null);
  const cut = drawn.some((b) => b.ci95 !== null && !(b.ci95.low > 0));
  const profiles = profilesOf(entries);
  const rows = drawn.map((b) =>
    withProfile(
      intervals
        ? {
            workload: b.workload,
            mode: b.mode,
            exitsPerSecond: b.value!,
            [fields.low]: b.ci95 !== null && b.ci95.low > 0 ? b.ci95.low : b.value!,
            [fields.high]: b.ci95 === null ? b.value! : b.ci95.high,
          }
        : { workload: b.workload, mode: b.mode, exitsPerSecond: b.value! },
      b,
      profiles,
    ),
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
  if (rows.length === 0) {
    return {
      file: 'exits-per-second.svg',
      spec: messageSpec(
        'Exits per second',
        `Nothing to draw: no run had a VM exit (${zero.join(', ')}); a log scale cannot show zero.`,
      ),
    };
  }
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
    spec: facetByProfile(
      intervals
        ? { ...common, layer: [{ mark: 'bar', encoding }, errorBars(x, xOffset, fields)] }
        : profiles.length > 1
          ? { ...common, layer: [{ mark: 'bar', encoding }] }
          : { ...common, mark: 'bar', encoding },
      profiles,
    ),
  };
}

/** A chart with nothing to draw: its title, and a line saying why, where the plot would be. */
function messageSpec(title: string, message: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title },
    config: { ...CONFIG, view: { stroke: null } },
    width: 420,
    height: 60,
    data: { values: [{ message }] },
    mark: { type: 'text', fontSize: 12, align: 'left', x: 0, y: 30 },
    encoding: { text: { field: 'message', type: 'nominal' } },
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
      label: `${e.parameter.value} ${e.parameter.unit}`,
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
      },
      layer: [
        {
          mark: { type: 'line', point: true },
          // The line follows the sweep (largest parameter value, usually the lowest rate, first),
          // not the x order: measured rates of neighbouring settings can cross.
          encoding: { order: { field: 'parameter', type: 'quantitative', sort: 'descending' } },
        },
        {
          // Each point says the value swept to get it.
          mark: { type: 'text', dy: -8, fontSize: 9 },
          encoding: { text: { field: 'label', type: 'nominal' } },
        },
      ],
    },
  };
}

/** One panel of a tornado chart: one figure, its entries' results at the ends of their ranges. */
export interface TornadoPanel {
  /** The figure, e.g. `eli % of bare metal`. */
  readonly title: string;
  /** The x-axis title (the figure with its unit). */
  readonly axis: string;
  /** The figure with every entry at its value, in the axis's unit: where every bar starts. */
  readonly base: number;
  /** A d3 format for the axis and labels ('.1f', '~s'). */
  readonly format: string;
  /** The entries drawn, most effect first: the figure with the entry at its low and at its high end. */
  readonly bars: readonly { readonly entry: string; readonly atLow: number; readonly atHigh: number }[];
  /** What the subtitle says of the entries not drawn. */
  readonly note: string;
}

/** Height of one entry's row in a tornado panel (two bars: low end and high end), px. */
const TORNADO_ROW = 22;

/**
 * A tornado chart: one panel per figure, one row per entry (most effect on top), with a bar
 * from the figure's base value to its value with the entry at the low end of its range and
 * another to its value at the high end (others at their values): a long row is an entry the
 * figure depends on, and a row whose bars go opposite ways is one it rises or falls with.
 * Panels are stacked; each has its own rows and scale (entries rank differently per figure).
 */
export function tornadoChart(workload: string, panels: readonly TornadoPanel[]): Chart {
  const ends = ['low', 'high'];
  return {
    file: `tornado-${workload.replace(/[^A-Za-z0-9_-]/g, '-')}.svg`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: {
        text: `${workload}: sensitivity to the calibration profile`,
        subtitle:
          'one entry at a time at the low and at the high end of its range, every other entry at its value; the line is the base value',
        anchor: 'start',
      },
      config: { ...CONFIG, view: { stroke: null } },
      spacing: 28,
      vconcat: panels.map((panel) => {
        const order = panel.bars.map((b) => b.entry);
        const rows = panel.bars.flatMap((b, rank) => [
          { entry: b.entry, rank: rank + 1, end: 'low', value: b.atLow, base: panel.base },
          { entry: b.entry, rank: rank + 1, end: 'high', value: b.atHigh, base: panel.base },
        ]);
        return {
          title: { text: panel.title, subtitle: panel.note, anchor: 'start', fontSize: 13 },
          width: 460,
          height: { step: TORNADO_ROW },
          data: { values: rows },
          layer: [
            {
              mark: 'bar',
              encoding: {
                y: { field: 'entry', type: 'nominal', sort: order, title: null, axis: { labelLimit: 440 } },
                yOffset: { field: 'end', type: 'nominal', sort: ends, scale: { domain: ends } },
                x: {
                  field: 'value',
                  type: 'quantitative',
                  title: panel.axis,
                  scale: { zero: false },
                  axis: { format: panel.format },
                },
                x2: { field: 'base' },
                color: {
                  field: 'end',
                  type: 'nominal',
                  title: 'entry at its',
                  sort: ends,
                  scale: { domain: ends, range: ['#4c78a8', '#f58518'] },
                },
              },
            },
            {
              mark: { type: 'rule', color: 'black', strokeWidth: 1 },
              encoding: { x: { datum: panel.base } },
            },
          ],
        };
      }),
    } as TopLevelSpec,
  };
}

/** Renders a vega-lite spec to SVG in Node (no canvas; text widths are estimated, so output is the same everywhere). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Loaded here, not at the top: vega and vega-lite take longer to load than the rest of the
  // CLI, and only the commands that write charts need them.
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return `${await view.toSVG()}\n`;
  } finally {
    view.finalize();
  }
}

/** One point of a run's latency CDF: the latency at a percentile, in the report's unit. */
interface CdfPoint {
  readonly percentile: number;
  readonly value: number;
}

/**
 * A report's latency CDF (`latency.cdf`), or null where the workload measures no latency.
 * Read structurally, as format.ts reads the percentiles: a report without a `cdf` (one
 * written before it had one) has nothing to draw. Points at or below 0 are left out (a
 * round trip takes time, and a log scale has no 0).
 */
function cdfOf(
  report: ReproduceEntry | null | undefined,
): { readonly unit: string; readonly points: CdfPoint[] } | null {
  const latency: unknown = report?.latency;
  if (typeof latency !== 'object' || latency === null) return null;
  const { cdf, unit } = latency as { readonly cdf?: unknown; readonly unit?: unknown };
  if (!Array.isArray(cdf)) return null;
  const points = cdf.filter(
    (p: unknown): p is CdfPoint =>
      typeof p === 'object' &&
      p !== null &&
      Number.isFinite((p as CdfPoint).percentile) &&
      Number.isFinite((p as CdfPoint).value) &&
      (p as CdfPoint).value > 0,
  );
  return points.length > 0 ? { unit: typeof unit === 'string' ? unit : '', points } : null;
}

/** The run whose CDF a chart entry draws: the run itself, the first seed's run, or the base profile's run. */
function cdfRun(e: ReproduceEntry | SummaryEntry | UncertaintyEntry): ReproduceEntry | null {
  if ('bands' in e) return e.base;
  if ('summary' in e) return e.runs[0] ?? null;
  return e;
}

/** The x axis of a latency CDF goes on a log scale when a workload's latencies span a decade or more. */
const CDF_LOG_SPAN = 10;

/** Width and height of one workload's panel of the latency CDF, px. */
const CDF_PANEL = { width: 240, height: 220 } as const;

/**
 * The latency CDF per workload (a panel each, with its own x axis) and mode (a line each, in
 * the mode's colour): x the round-trip latency, y the share of round trips at or below it
 * (0–100%), from each run report's `latency.cdf`. The x axis is on a log scale when some
 * workload's latencies span a decade or more. Over several seeds the lines are the first
 * seed's runs (a CDF has no mean), with --uncertainty the base profile's runs, and the subtitle
 * says so; with several calibration profiles, a row of panels per profile. Workloads that
 * measure no latency (netperf TCP_STREAM) are left out and named in the subtitle.
 */
export function latencyCdfChart(entries: ChartEntries): Chart {
  const file = 'latency-cdf.svg';
  const title = 'Round-trip latency CDF';
  const profiles = profilesOf(entries);
  const workloads = distinct(
    entries.map((e: ReproduceEntry | SummaryEntry | UncertaintyEntry) => e.workload),
  );
  const modes = distinct(entries.map((e: ReproduceEntry | SummaryEntry | UncertaintyEntry) => e.mode));
  const drawn = entries.flatMap((e: ReproduceEntry | SummaryEntry | UncertaintyEntry) => {
    const run = cdfRun(e);
    const cdf = cdfOf(run);
    return run === null || cdf === null ? [] : [{ entry: e, run, cdf }];
  });
  const measured = distinct(drawn.map((d) => d.entry.workload));
  const unmeasured = workloads.filter((w) => !measured.includes(w));
  if (drawn.length === 0) {
    return {
      file,
      spec: messageSpec(
        title,
        `Nothing to draw: no run measured latency (${workloads.join(', ')}); request/response workloads do.`,
      ),
    };
  }
  const rows = drawn.flatMap(({ entry, cdf }) =>
    cdf.points.map((p) => ({
      ...(profiles.length > 1 ? { profile: entry.profile } : {}),
      workload: entry.workload,
      mode: entry.mode,
      percentile: p.percentile,
      latency: p.value,
    })),
  );
  const log = measured.some((w) => {
    const values = rows.filter((r) => r.workload === w).map((r) => r.latency);
    return Math.max(...values) / Math.min(...values) >= CDF_LOG_SPAN;
  });
  const units = distinct(drawn.map((d) => d.cdf.unit));
  const unit = units.length === 1 && units[0] === 'us' ? 'µs' : units.join(', ');
  const seeds = Math.max(0, ...entries.map((e) => ('summary' in e ? e.runs.length : 1)));
  const firstSeeds = distinct(drawn.map((d) => String(d.run.seed)));
  const which = entries.some((e) => 'bands' in e)
    ? ["each line is the run with the profile's own values (the base run)"]
    : seeds > 1
      ? [`each line is the first seed's run (seed ${firstSeeds.join(', ')} of ${seeds} seeds)`]
      : [];
  // A line each, so that the chart is as wide as its panels, not as its notes.
  const subtitle = [
    `share of round trips at or below a latency, per workload and mode${log ? '; latency on a log scale' : ''}`,
    ...which,
    ...(unmeasured.length > 0 ? [`no latency measured, not drawn: ${unmeasured.join(', ')}`] : []),
  ];
  return {
    file,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: { text: title, subtitle },
      config: CONFIG,
      data: { values: rows },
      facet: {
        column: { field: 'workload', type: 'nominal', sort: measured, title: null },
        ...(profiles.length > 1
          ? { row: { field: 'profile', type: 'nominal', sort: profiles, title: 'calibration profile' } }
          : {}),
      },
      // Each workload's latencies have their own range (µs for UDP_RR, ms for apache).
      resolve: { scale: { x: 'independent' } },
      spec: {
        width: CDF_PANEL.width,
        height: CDF_PANEL.height,
        mark: { type: 'line', strokeWidth: 1.5 },
        encoding: {
          x: {
            field: 'latency',
            type: 'quantitative',
            title: `round-trip latency (${unit})`,
            scale: log ? { type: 'log' } : { zero: false },
          },
          y: {
            field: 'percentile',
            type: 'quantitative',
            title: '% of round trips at or below',
            scale: { domain: [0, 100] },
          },
          color: modeColor(modes),
          order: { field: 'percentile', type: 'quantitative' },
        },
      },
    },
  };
}

/**
 * The charts every reproduction draws, from its rows (runs, summaries over seeds, or bands over
 * sampled profiles), rendered: `[file name, SVG]` for each, in the order results.md links them.
 */
export async function reproduceChartFiles(entries: ChartEntries): Promise<[string, string][]> {
  const charts = [relativeThroughputChart(entries), exitsPerSecondChart(entries), latencyCdfChart(entries)];
  return Promise.all(charts.map(async (c): Promise<[string, string]> => [c.file, await renderSvg(c.spec)]));
}
