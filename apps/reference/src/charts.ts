import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { compile } from 'vega-lite';
import type { ReproduceEntry, SweepEntry } from './format.js';

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

/**
 * Throughput relative to bare metal, per workload (groups) and mode (bars in a group), with
 * the 100% line: the shape of the ELI paper's throughput figure. Runs with no bare-metal
 * reference are left out.
 */
export function relativeThroughputChart(entries: readonly ReproduceEntry[]): Chart {
  const rows = entries
    .filter((e) => e.relative.toBareMetal !== null)
    .map((e) => ({
      workload: e.workload,
      mode: e.mode,
      percentOfBareMetal: Math.round(e.relative.toBareMetal! * 1e5) / 1e3,
    }));
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
        subtitle: 'per workload and interrupt-delivery mode',
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
        {
          mark: { type: 'text', dy: -6, fontSize: 9 },
          encoding: {
            x,
            xOffset,
            y: { field: 'percentOfBareMetal', type: 'quantitative', stack: null },
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
 * metal) are left out and named in the subtitle.
 */
export function exitsPerSecondChart(entries: readonly ReproduceEntry[]): Chart {
  const rows = entries
    .filter((e) => e.exitsPerSecond.total > 0)
    .map((e) => ({ workload: e.workload, mode: e.mode, exitsPerSecond: e.exitsPerSecond.total }));
  const zero = distinct(entries.filter((e) => !(e.exitsPerSecond.total > 0)).map((e) => e.mode));
  const workloads = distinct(entries.map((r) => r.workload));
  const modes = distinct(entries.map((r) => r.mode));
  return {
    file: 'exits-per-second.svg',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: {
        text: 'VM exits per second (log scale)',
        subtitle: zero.length > 0 ? `no exits, not drawn: ${zero.join(', ')}` : 'per workload and mode',
      },
      config: CONFIG,
      width: { step: BAR_STEP },
      height: 260,
      data: { values: rows },
      mark: 'bar',
      encoding: {
        x: { field: 'workload', type: 'nominal', sort: workloads, title: null, axis: { labelAngle: 0 } },
        xOffset: modeOffset(modes),
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
      },
    },
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
