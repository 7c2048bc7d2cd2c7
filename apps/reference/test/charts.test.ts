import { BUILTIN_MODES } from '@exitless/machine';
import { describe, expect, it } from 'vitest';
import {
  exitsPerSecondChart,
  modeColors,
  relativeThroughputChart,
  renderSvg,
  sweepChart,
} from '../src/charts.js';
import type { SweepEntry } from '../src/format.js';
import { withRelative } from '../src/relative.js';
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
