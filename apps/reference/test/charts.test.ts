import { BUILTIN_MODES } from '@exitless/machine';
import { describe, expect, it } from 'vitest';
import {
  exitsPerSecondChart,
  latencyCdfChart,
  modeColors,
  relativeThroughputChart,
  renderSvg,
  sweepChart,
} from '../src/charts.js';
import type { SweepEntry } from '../src/format.js';
import { withRelative } from '../src/relative.js';
import { summarize } from '../src/summary.js';
import { summarizeSamples } from '../src/uncertainty.js';
import { fixedReport } from './fixtures.js';

const entries = withRelative([
  fixedReport('bare-metal', 8000, { workload: 'netperf-tcp-stream' }),
  fixedReport('baseline', 5000, { workload: 'netperf-tcp-stream', exits: 171_590 }),
  fixedReport('eli', 7900, { workload: 'netperf-tcp-stream', exits: 1920 }),
  fixedReport('baseline', 20_000, { workload: 'memcached', unit: 'ops/s', exits: 90_000 }),
]);

/** The inline data of a single-view or layered spec. */
function values(spec: unknown): unknown[] {
  const data = (spec as { data?: { values?: unknown[] } }).data;
  return data?.values ?? [];
}

describe('relative throughput chart', () => {
  const chart = relativeThroughputChart(entries);

  it('has one bar per run with a bare-metal reference, in % of bare metal', () => {
    expect(chart.file).toBe('throughput-relative.svg');
    expect(values(chart.spec)).toEqual([
      { workload: 'netperf-tcp-stream', mode: 'bare-metal', percentOfBareMetal: 100 },
      { workload: 'netperf-tcp-stream', mode: 'baseline', percentOfBareMetal: 62.5 },
      { workload: 'netperf-tcp-stream', mode: 'eli', percentOfBareMetal: 98.75 },
    ]);
  });

  it('groups bars by workload (x) and mode (xOffset), with a 100% rule', () => {
    const text = JSON.stringify(chart.spec);
    expect(text).toContain('"xOffset":{"field":"mode"');
    expect(text).toContain('"x":{"field":"workload"');
    expect(text).toContain('"y":{"datum":100}');
  });

  it('renders to SVG with the modes in the legend, the same bytes every time', async () => {
    const a = await renderSvg(chart.spec);
    const b = await renderSvg(chart.spec);
    expect(a.startsWith('<svg')).toBe(true);
    expect(a).toContain('>eli<');
    expect(a).toContain('>baseline<');
    expect(a).toBe(b);
  });
});

describe('exits-per-second chart', () => {
  const chart = exitsPerSecondChart(entries);

  it('uses a log scale with unstacked bars and leaves out runs with no exits, naming them', () => {
    expect(values(chart.spec)).toEqual([
      { workload: 'netperf-tcp-stream', mode: 'baseline', exitsPerSecond: 171_590 },
      { workload: 'netperf-tcp-stream', mode: 'eli', exitsPerSecond: 1920 },
      { workload: 'memcached', mode: 'baseline', exitsPerSecond: 90_000 },
    ]);
    const text = JSON.stringify(chart.spec);
    expect(text).toContain('"scale":{"type":"log"}');
    expect(text).toContain('"stack":null');
    expect(text).toContain('no exits, not drawn: bare-metal');
  });

  it('colours modes over every mode of the set, so colours match the other chart', () => {
    const domain = (c: { spec: unknown }) => JSON.stringify(c.spec).match(/"domain":(\[[^\]]*\])/)?.[1];
    expect(domain(chart)).toBe('["bare-metal","baseline","eli"]');
    expect(domain(relativeThroughputChart(entries))).toBe(domain(chart));
  });
});

describe('a mode’s colour', () => {
  const colorScale = (c: { spec: unknown }) =>
    JSON.parse(JSON.stringify(c.spec).match(/"scale":(\{"domain":\[[^\]]*\],"range":\[[^\]]*\]\})/)![1]!) as {
      domain: string[];
      range: string[];
    };
  const colourOf = (c: { spec: unknown }, mode: string) => {
    const s = colorScale(c);
    return s.range[s.domain.indexOf(mode)];
  };

  it('is the same whichever other modes a run set has: eli is one colour beside bare metal and baseline, and alone with baseline', () => {
    const withAll = relativeThroughputChart(entries);
    const eliAndBaseline = exitsPerSecondChart(
      withRelative([
        fixedReport('eli', 7900, { workload: 'netperf-tcp-stream', exits: 1920 }),
        fixedReport('baseline', 5000, { workload: 'netperf-tcp-stream', exits: 171_590 }),
      ]),
    );
    expect(colourOf(eliAndBaseline, 'eli')).toBe(colourOf(withAll, 'eli'));
    expect(colourOf(eliAndBaseline, 'baseline')).toBe(colourOf(withAll, 'baseline'));
    // Each built-in mode has its own.
    expect(new Set(modeColors(BUILTIN_MODES)).size).toBe(BUILTIN_MODES.length);
    // A user's own mode takes a colour no built-in mode has.
    const [own] = modeColors(['mine', 'eli']);
    expect(modeColors(BUILTIN_MODES)).not.toContain(own);
  });
});

describe('a chart with nothing to draw', () => {
  it('says why, where the plot would be, instead of an empty frame', async () => {
    const noBare = withRelative([
      fixedReport('baseline', 5000, { workload: 'netperf-udp-rr', exits: 1000 }),
      fixedReport('eli', 7900, { workload: 'netperf-udp-rr', exits: 10 }),
    ]);
    const svg = await renderSvg(relativeThroughputChart(noBare).spec);
    expect(svg).toContain(
      'Nothing to draw: no run of netperf-udp-rr has a bare-metal run to compare with. Add bare-metal to --modes.',
    );
    const onlyBare = withRelative([fixedReport('bare-metal', 8000, { workload: 'netperf-udp-rr' })]);
    expect(await renderSvg(exitsPerSecondChart(onlyBare).spec)).toContain(
      'Nothing to draw: no run had a VM exit (bare-metal); a log scale cannot show zero.',
    );
  });
});

describe('sweep chart', () => {
  it('plots % of bare metal against the measured physical interrupt rate, not the parameter', () => {
    const p = (value: number) => ({ name: 'interrupt-interval', value, unit: 'us' });
    const sweep: SweepEntry[] = withRelative(
      [
        { ...fixedReport('bare-metal', 9000, { physical: 120_000 }), parameter: p(8) },
        { ...fixedReport('baseline', 6300, { physical: 59_000 }), parameter: p(8) },
        { ...fixedReport('bare-metal', 9400, { physical: 10_000 }), parameter: p(100) },
        { ...fixedReport('baseline', 9400, { physical: 11_000 }), parameter: p(100) },
      ],
      (r) => String(r.parameter.value),
    );
    const chart = sweepChart(sweep, 'netperf-tcp-stream');
    expect(values(chart.spec)).toEqual([
      {
        mode: 'bare-metal',
        parameter: 8,
        label: '8 us',
        interruptsPerSecond: 120_000,
        percentOfBareMetal: 100,
      },
      { mode: 'baseline', parameter: 8, label: '8 us', interruptsPerSecond: 59_000, percentOfBareMetal: 70 },
      {
        mode: 'bare-metal',
        parameter: 100,
        label: '100 us',
        interruptsPerSecond: 10_000,
        percentOfBareMetal: 100,
      },
      {
        mode: 'baseline',
        parameter: 100,
        label: '100 us',
        interruptsPerSecond: 11_000,
        percentOfBareMetal: 100,
      },
    ]);
    expect(JSON.stringify(chart.spec)).toContain('"x":{"field":"interruptsPerSecond"');
  });

  it('labels each point with the value swept to get it', async () => {
    const p = (value: number) => ({ name: 'interrupt-interval', value, unit: 'us' });
    const sweep: SweepEntry[] = withRelative(
      [
        { ...fixedReport('bare-metal', 9000, { physical: 120_000 }), parameter: p(8) },
        { ...fixedReport('baseline', 6300, { physical: 59_000 }), parameter: p(8) },
      ],
      (r) => String(r.parameter.value),
    );
    const svg = await renderSvg(sweepChart(sweep, 'netperf-tcp-stream').spec);
    expect(svg.match(/>8 us</g)).toHaveLength(2);
  });
});

describe('latency CDF chart', () => {
  /** A report's `latency` with a CDF through the given (percentile, µs) points. */
  const latency = (points: readonly (readonly [number, number])[]) => ({
    mean: 0,
    p50: points.find(([p]) => p === 50)?.[1] ?? 0,
    p99: 0,
    p999: 0,
    cdf: points.map(([percentile, value]) => ({ percentile, value })),
    unit: 'us',
  });
  const udp = (mode: string, low: number, high: number, seed = 1) => ({
    ...fixedReport(mode, 1000, {
      workload: 'netperf-udp-rr',
      unit: 'transactions/s',
      latency: latency([
        [0, low],
        [50, (low + high) / 2],
        [100, high],
      ]),
    }),
    seed,
  });
  const runs = withRelative([
    fixedReport('bare-metal', 8000, { workload: 'netperf-tcp-stream' }),
    fixedReport('baseline', 5000, { workload: 'netperf-tcp-stream', exits: 1000 }),
    udp('bare-metal', 15, 17),
    udp('baseline', 24, 32),
  ]);

  it('has a row per point of every run with latency, and leaves out TCP_STREAM, naming it', () => {
    const chart = latencyCdfChart(runs);
    expect(chart.file).toBe('latency-cdf.svg');
    expect(values(chart.spec)).toEqual([
      { workload: 'netperf-udp-rr', mode: 'bare-metal', percentile: 0, latency: 15 },
      { workload: 'netperf-udp-rr', mode: 'bare-metal', percentile: 50, latency: 16 },
      { workload: 'netperf-udp-rr', mode: 'bare-metal', percentile: 100, latency: 17 },
      { workload: 'netperf-udp-rr', mode: 'baseline', percentile: 0, latency: 24 },
      { workload: 'netperf-udp-rr', mode: 'baseline', percentile: 50, latency: 28 },
      { workload: 'netperf-udp-rr', mode: 'baseline', percentile: 100, latency: 32 },
    ]);
    const text = JSON.stringify(chart.spec);
    expect(text).toContain('no latency measured, not drawn: netperf-tcp-stream');
    // A panel per workload, each with its own latency axis; a line per mode in its colour; 0–100%.
    expect(text).toContain('"facet":{"column":{"field":"workload"');
    expect(text).toContain('"resolve":{"scale":{"x":"independent"}}');
    expect(text).toContain('"color":{"field":"mode"');
    expect(text).toContain('"y":{"field":"percentile","type":"quantitative"');
    expect(text).toContain('"domain":[0,100]');
    expect(text).toContain('"title":"round-trip latency (µs)"');
  });

  it('puts latency on a log scale only when a workload spans a decade or more', () => {
    const linear = JSON.stringify(latencyCdfChart(runs).spec);
    expect(linear).not.toContain('"type":"log"');
    expect(linear).toContain('"scale":{"zero":false}');
    const tail = JSON.stringify(latencyCdfChart(withRelative([udp('baseline', 20, 400)])).spec);
    expect(tail).toContain('"scale":{"type":"log"}');
    expect(tail).toContain('latency on a log scale');
  });

  it("draws the first seed's run over several seeds, and the base run over profile samples, saying so", () => {
    const seeds = summarize(withRelative([udp('baseline', 24, 32, 1), udp('baseline', 99, 120, 2)]));
    const chart = latencyCdfChart(seeds);
    expect(values(chart.spec).map((r) => (r as { latency: number }).latency)).toEqual([24, 28, 32]);
    expect(JSON.stringify(chart.spec)).toContain("each line is the first seed's run (seed 1 of 2 seeds)");
    const banded = summarizeSamples(
      [
        { ...udp('baseline', 24, 32), sample: 0 },
        { ...udp('baseline', 99, 120), sample: 1 },
      ],
      1,
    );
    const base = latencyCdfChart(banded);
    expect(values(base.spec).map((r) => (r as { latency: number }).latency)).toEqual([24, 28, 32]);
    expect(JSON.stringify(base.spec)).toContain("the run with the profile's own values (the base run)");
  });

  it('gets a row of panels per calibration profile', () => {
    const other = { ...udp('baseline', 20, 30), profile: 'xeon-skylake-sp' };
    const chart = latencyCdfChart(withRelative([udp('baseline', 24, 32), other]));
    expect(values(chart.spec)[0]).toEqual({
      profile: 'xeon-x5570',
      workload: 'netperf-udp-rr',
      mode: 'baseline',
      percentile: 0,
      latency: 24,
    });
    expect(JSON.stringify(chart.spec)).toContain('"row":{"field":"profile"');
  });

  it('renders to SVG with the workloads and modes, the same bytes every time', async () => {
    const a = await renderSvg(latencyCdfChart(runs).spec);
    expect(a.startsWith('<svg')).toBe(true);
    expect(a).toContain('>netperf-udp-rr<');
    expect(a).toContain('>baseline<');
    expect(a).toBe(await renderSvg(latencyCdfChart(runs).spec));
  });

  it('says so when no run measured latency (TCP_STREAM only, or reports without a CDF)', async () => {
    const tcp = withRelative([fixedReport('bare-metal', 8000, { workload: 'netperf-tcp-stream' })]);
    expect(await renderSvg(latencyCdfChart(tcp).spec)).toContain(
      'Nothing to draw: no run measured latency (netperf-tcp-stream); request/response workloads do.',
    );
    const old = withRelative([
      fixedReport('baseline', 1, { workload: 'apache', latency: { p50: 5, unit: 'us' } }),
    ]);
    expect(JSON.stringify(latencyCdfChart(old).spec)).toContain(
      'Nothing to draw: no run measured latency (apache)',
    );
  });
});
