import { describe, expect, it } from 'vitest';
import {
  factor,
  formatCsv,
  formatMarkdownTable,
  formatTable,
  grouped,
  latencyOf,
  percent,
  reproduceColumns,
  sweepColumns,
} from '../src/format.js';
import { withRelative } from '../src/relative.js';
import { reproduceMarkdown } from '../src/reproduce.js';
import { fixedReport } from './fixtures.js';

const rows = withRelative([
  fixedReport('bare-metal', 8000, { physical: 144_000 }),
  fixedReport('baseline', 5000, {
    exits: 171_590,
    exitsPerIrq: 2.9733,
    physical: 58_960,
    virtual: 57_960,
    timeInGuest: 0.775,
  }),
  fixedReport('eli', 7800, {
    exits: 1920,
    exitsPerIrq: 0.0135,
    physical: 143_860,
    virtual: 590,
    timeInGuest: 0.9963,
    latency: { unit: 'us', p50: 31.2, p99: 80.04 },
  }),
]);

describe('number formatting', () => {
  it('groups thousands without the locale, rounds to integers', () => {
    expect(grouped(0)).toBe('0');
    expect(grouped(999)).toBe('999');
    expect(grouped(999.6)).toBe('1,000');
    expect(grouped(1_234_567)).toBe('1,234,567');
    expect(grouped(-12_345)).toBe('-12,345');
  });

  it('prints fractions as percentages and speed-ups as factors, absent as a dash', () => {
    expect(percent(0.776869)).toBe('77.7%');
    expect(percent(1)).toBe('100.0%');
    expect(percent(null)).toBe('—');
    expect(factor(1.287219)).toBe('1.29×');
    expect(factor(null)).toBe('—');
  });
});

describe('latency', () => {
  it('is absent for a workload that measures none (latency: null)', () => {
    expect(latencyOf(fixedReport('bare-metal', 1))).toBeNull();
  });

  it('reads p50 and p99 and the unit from a report that has them', () => {
    expect(latencyOf(rows[2]!)).toEqual({ unit: 'us', p50: 31.2, p99: 80.04 });
    expect(latencyOf(fixedReport('x', 1, { latency: { p99: 5 } }))).toEqual({ unit: '', p50: null, p99: 5 });
    expect(latencyOf(fixedReport('x', 1, { latency: { unit: 'us' } }))).toBeNull();
  });
});

describe('the reproduce table', () => {
  it('has one row per run with throughput, ratios, exits, interrupts, time in guest and latency', () => {
    expect(formatTable(reproduceColumns(), rows)).toBe(
      [
        'workload            mode         throughput  % of bare metal  vs baseline  exits/s  exits/irq  phys irq/s  virt irq/s  time in guest  lat p50  lat p99',
        '------------------  ----------  -----------  ---------------  -----------  -------  ---------  ----------  ----------  -------------  -------  -------',
        'netperf-tcp-stream  bare-metal  8000.0 Mb/s           100.0%        1.60×        0       0.00     144,000           0         100.0%        —        —',
        'netperf-tcp-stream  baseline    5000.0 Mb/s            62.5%        1.00×  171,590       2.97      58,960      57,960          77.5%        —        —',
        'netperf-tcp-stream  eli         7800.0 Mb/s            97.5%        1.56×    1,920       0.01     143,860         590          99.6%  31.2 us  80.0 us',
        '',
      ].join('\n'),
    );
  });

  it('shows a dash for exits per interrupt when the VF sent none', () => {
    const [r] = withRelative([fixedReport('bare-metal', 1, { assigned: 0 })]);
    const table = formatTable(reproduceColumns(), [r!]);
    expect(table.split('\n')[2]).toMatch(/100\.0%\s+—\s+0\s+—\s/);
  });

  it('writes the same rows as Markdown, numbers right-aligned', () => {
    const md = formatMarkdownTable(reproduceColumns(), rows).split('\n');
    expect(md[0]).toBe(
      '| workload | mode | throughput | % of bare metal | vs baseline | exits/s | exits/irq | phys irq/s | virt irq/s | time in guest | lat p50 | lat p99 |',
    );
    expect(md[1]).toBe(
      '| :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    expect(md[4]).toBe(
      '| netperf-tcp-stream | eli | 7800.0 Mb/s | 97.5% | 1.56× | 1,920 | 0.01 | 143,860 | 590 | 99.6% | 31.2 us | 80.0 us |',
    );
    expect(md).toHaveLength(6);
  });

  it('escapes a pipe inside a Markdown cell', () => {
    const [r] = withRelative([fixedReport('a|b', 1)]);
    expect(formatMarkdownTable(reproduceColumns(), [r!]).split('\n')[2]).toContain('| a\\|b |');
  });

  it('writes CSV with raw numbers (not the table rounding), empty fields for absent values', () => {
    const csv = formatCsv(reproduceColumns(), rows).split('\n');
    expect(csv[0]).toBe(
      'workload,mode,throughput,throughput_unit,to_bare_metal,to_baseline,eli_gain_kept,exits_per_s,exits_per_assigned_interrupt,physical_interrupts_per_s,virtual_interrupts_per_s,assigned_interrupts,time_in_guest,latency_unit,latency_p50,latency_p99,seed,duration_ms,warmup_ms,stopped',
    );
    // Bare metal is 3000 above baseline where eli is 2800: 1.071429 of ELI's gain.
    expect(csv[1]).toBe(
      'netperf-tcp-stream,bare-metal,8000,Mb/s,1,1.6,1.071429,0,0,144000,0,1000,1,,,,1,100,20,',
    );
    expect(csv[2]).toBe(
      'netperf-tcp-stream,baseline,5000,Mb/s,0.625,1,0,171590,2.9733,58960,57960,1000,0.775,,,,1,100,20,',
    );
    expect(csv[3]).toBe(
      'netperf-tcp-stream,eli,7800,Mb/s,0.975,1.56,1,1920,0.0135,143860,590,1000,0.9963,us,31.2,80.04,1,100,20,',
    );
    expect(csv[4]).toBe('');
  });

  it('quotes CSV fields with commas or quotes (RFC 4180)', () => {
    const [r] = withRelative([fixedReport('baseline', 1, { stopped: 'unexpected exit 2, "triple fault"' })]);
    expect(
      formatCsv(reproduceColumns(), [r!]).split('\n')[1]!.endsWith(',"unexpected exit 2, ""triple fault"""'),
    ).toBe(true);
  });

  it('the Markdown report says what ran and links both charts', () => {
    const md = reproduceMarkdown(
      {
        workloads: ['netperf-tcp-stream'],
        modes: ['bare-metal', 'baseline', 'eli'],
        durationMs: 100,
        warmupMs: 20,
        seed: 7,
        outDir: 'x',
        jobs: 1,
      },
      rows,
    );
    expect(md).toContain('calibration profile `xeon-x5570`), seed 7: 100 ms measured after 20 ms of warm-up');
    expect(md).toContain('![Throughput relative to bare metal](throughput-relative.svg)');
    expect(md).toContain('![VM exits per second](exits-per-second.svg)');
    expect(md).toContain('| netperf-tcp-stream | baseline | 5000.0 Mb/s | 62.5% | 1.00× |');
    // Then the share of ELI's gain (no other design ran: ELI's speed-up alone) and exits by reason.
    expect(md).toContain(
      "## How much of ELI's gain each design keeps\n\nShare of ELI's gain kept = (design − baseline) ÷ (eli − baseline) throughput",
    );
    expect(md).toContain('| workload | eli vs baseline |\n| :--- | ---: |\n| netperf-tcp-stream | 1.56× |');
    expect(md).toContain(
      '| workload | mode | external-interrupt | total |\n| :--- | :--- | ---: | ---: |\n| netperf-tcp-stream | baseline | 171,590 | 171,590 |\n| netperf-tcp-stream | eli | 1,920 | 1,920 |',
    );
  });
});

describe('the sweep table', () => {
  it('puts the swept value first, named with its unit', () => {
    const entries = withRelative(
      [
        {
          ...fixedReport('bare-metal', 9000),
          parameter: { name: 'interrupt-interval', value: 8, unit: 'us' },
        },
        { ...fixedReport('baseline', 6300), parameter: { name: 'interrupt-interval', value: 8, unit: 'us' } },
      ],
      (r) => String(r.parameter.value),
    );
    const columns = sweepColumns({ name: 'interrupt-interval', unit: 'us' });
    const table = formatTable(columns, entries).split('\n');
    expect(table[0]).toMatch(/^interrupt-interval \(us\) {2}mode {8}/);
    expect(table[3]).toMatch(/^ {22}8 {2}baseline {4}6300\.0 Mb\/s {12}70\.0%/);
    expect(formatCsv(columns, entries).split('\n')[0]).toMatch(
      /^interrupt_interval,workload,mode,throughput,/,
    );
  });
});
