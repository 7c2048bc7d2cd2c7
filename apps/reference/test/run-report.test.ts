import { Machine, type MachineConfig, type RunReport, runMachine } from '@exitless/machine';
import { describe, expect, it } from 'vitest';
import { formatLatency, formatRunReport, pct } from '../src/run-report.js';

/** A few simulated ms: enough for every figure to be non-zero, fast enough for a unit test. */
const RUN = { durationMs: 3, warmupMs: 1 };

function report(config: MachineConfig): RunReport {
  return runMachine(new Machine({ seed: 5, ...config }), RUN);
}

/** The text's lines as label → value (a label is what precedes the value column, 26 characters in). */
function fields(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const l of text.split('\n').slice(1)) {
    if (!l.startsWith('  ') || l.startsWith('  (') || l.startsWith('   ')) continue;
    map.set(l.slice(0, 25).trim(), l.slice(26));
  }
  return map;
}

function labels(text: string): string[] {
  return [...fields(text).keys()];
}

describe('the run report as text: bare metal', () => {
  const r = report({ mode: 'bare-metal', workload: 'netperf-udp-rr' });
  const text = formatRunReport(r);
  const f = fields(text);

  it('says there is no hypervisor instead of printing exits, injections and assignment', () => {
    expect(labels(text)).toEqual([
      'throughput',
      'latency',
      'time in the OS',
      'exits/s',
      'interrupts/s',
      'device interrupts',
      'network',
      'cpu0 time',
    ]);
    expect(f.get('exits/s')).toBe('none (no hypervisor)');
    expect(f.get('interrupts/s')).toBe(
      `${r.interruptsPerSecond.physical.toFixed(0)} physical (no hypervisor, so none injected)`,
    );
    expect(f.get('device interrupts')).toBe(`${r.assignedInterrupts} from the NIC, straight to the OS`);
    expect(r.assignedInterrupts).toBeGreaterThan(0);
    expect(text).not.toMatch(/exits each|assigned|pollution|virtual/);
  });

  it('shows the OS’s whole CPU as its time, running and halted', () => {
    const c = r.cpus[0]!;
    expect(f.get('time in the OS')).toBe(
      `${pct(r.timeInGuest)} (no hypervisor: the OS has the whole CPU — running ${pct(c.time.host)}, halted ${pct(c.time.haltedHost)})`,
    );
  });

  it('prints the latency the report holds, in µs', () => {
    const l = r.latency!;
    expect(f.get('latency')).toBe(
      `mean ${l.mean.toFixed(1)} µs, p50 ${l.p50.toFixed(1)} µs, p99 ${l.p99.toFixed(1)} µs, p99.9 ${l.p999.toFixed(1)} µs (request to response, at the load generator)`,
    );
  });
});

describe('the run report as text: baseline UDP_RR on one CPU', () => {
  const r = report({ mode: 'baseline', workload: 'netperf-udp-rr' });
  const text = formatRunReport(r);
  const f = fields(text);
  const c = r.cpus[0]!;

  it('has a line for every figure, per-CPU ones labelled cpu0 and totals unlabelled', () => {
    expect(text.split('\n')[0]).toBe(
      `netperf-udp-rr on baseline (seed 5, 3 ms after 1 ms warm-up, profile ${r.profile})`,
    );
    expect(labels(text)).toEqual([
      'throughput',
      'latency',
      'time in guest',
      'exits/s',
      'interrupts/s',
      'assigned interrupts',
      'network',
      'cpu0 time',
      'cpu0 host threads/s',
      'cpu0 pollution/exit',
    ]);
    expect(text).not.toMatch(/all CPUs/);
  });

  it('prints the round-trip latency with its unit', () => {
    expect(r.latency).not.toBeNull();
    expect(f.get('latency')).toBe(
      `${formatLatency(r.latency!)} (request to response, at the load generator)`,
    );
    expect(f.get('latency')).toMatch(/^mean \d+\.\d µs, p50 \d+\.\d µs, p99 \d+\.\d µs, p99\.9 \d+\.\d µs/);
  });

  it('splits time in guest into guest work, exit pollution and halts in guest, as cpu0 time does', () => {
    expect(f.get('time in guest')).toBe(
      `${pct(r.timeInGuest)} (cpu0's guest work ${pct(c.time.guest)} + exit pollution ${pct(c.time.exitIndirect)} + halted in guest ${pct(c.time.haltedGuest)})`,
    );
    // What time in guest is, in the report: the three parts of the only CPU's time.
    expect(r.timeInGuest).toBeCloseTo(c.time.guest + c.time.exitIndirect + c.time.haltedGuest, 5);
    expect(c.time.exitIndirect).toBeGreaterThan(0);
    expect(f.get('cpu0 time')).toBe(
      `guest work ${pct(c.time.guest)} + exit pollution ${pct(c.time.exitIndirect)} + halted in guest ${pct(c.time.haltedGuest)} | host ${pct(c.time.host)}, halted in host ${pct(c.time.haltedHost)}, VM entries/exits ${pct(c.time.transition)}`,
    );
  });

  it('gives exits per assigned interrupt, and says what exit pollution is', () => {
    expect(f.get('assigned interrupts')).toBe(
      `${r.assignedInterrupts} from the VF (${r.exitsPerAssignedInterrupt.toFixed(2)} exits each)`,
    );
    expect(f.get('exits/s')).toMatch(/^\d+ — external-interrupt \d+, hlt \d+, .*wrmsr \d+$/);
    expect(f.get('cpu0 pollution/exit')).toMatch(/^external-interrupt \d+, .* cycles$/);
    expect(text).toMatch(/\(exit pollution: guest time spent refilling the caches and TLB entries/);
  });
});

describe('the run report as text: a workload without latency', () => {
  it('has no latency line for netperf TCP_STREAM', () => {
    const r = report({ mode: 'baseline', workload: 'netperf-tcp-stream' });
    expect(r.latency).toBeNull();
    expect(labels(formatRunReport(r))).not.toContain('latency');
  });
});

describe('the run report as text: eli with two guests on two CPUs', () => {
  const r = report({ mode: 'eli', workload: 'netperf-udp-rr', guests: 2 });
  const text = formatRunReport(r);
  const f = fields(text);

  it('labels totals "all CPUs" and each CPU’s own figures cpuN', () => {
    expect(text.split('\n')[0]).toMatch(/, 2 CPUs\)$/);
    expect(labels(text)).toEqual([
      'throughput',
      'latency (guest0)',
      'time in guest',
      'exits/s, all CPUs',
      'interrupts/s, all CPUs',
      'assigned interrupts',
      'network',
      ...[0, 1].flatMap((i) => [
        `cpu${i} time`,
        `cpu${i} exits/s`,
        `cpu${i} host threads/s`,
        `cpu${i} pollution/exit`,
      ]),
      'guest0',
      'guest1',
    ]);
  });

  it('prints the total exits/s for all CPUs and each CPU’s own below it', () => {
    const [c0, c1] = [r.cpus[0]!, r.cpus[1]!];
    expect(f.get('exits/s, all CPUs')).toMatch(new RegExp(`^${r.exitsPerSecond.total.toFixed(0)} — `));
    expect(f.get('cpu0 exits/s')).toMatch(new RegExp(`^${c0.exitsPerSecond.total.toFixed(0)} — `));
    expect(f.get('cpu1 exits/s')).toMatch(new RegExp(`^${c1.exitsPerSecond.total.toFixed(0)} — `));
    expect(c0.exitsPerSecond.total + c1.exitsPerSecond.total).toBeCloseTo(r.exitsPerSecond.total, 2);
    expect(f.get('assigned interrupts')).toBe(
      `${r.assignedInterrupts} from the 2 guests' VFs (${r.exitsPerAssignedInterrupt.toFixed(2)} exits each: all CPUs' exits ÷ these)`,
    );
  });

  it('says time in guest is the mean over the CPUs, and gives each guest’s throughput and latency', () => {
    expect(f.get('time in guest')).toBe(
      `${pct(r.timeInGuest)} (mean over the 2 CPUs of guest work + exit pollution + halted in guest: each CPU's below)`,
    );
    const unit = r.throughput.unit;
    expect(f.get('throughput')).toBe(`${r.throughput.value.toFixed(1)} ${unit} (all guests)`);
    for (const g of r.guests!) {
      expect(f.get(`guest${g.index}`)).toBe(
        `${g.throughput.value.toFixed(1)} ${unit}; latency ${formatLatency(g.latency!)}`,
      );
    }
  });
});

describe('the run report as text: layout', () => {
  it('starts every figure in the same column', () => {
    for (const mode of ['bare-metal', 'baseline'] as const) {
      const text = formatRunReport(report({ mode, workload: 'netperf-udp-rr' }));
      for (const l of text.split('\n').slice(1)) {
        if (l.startsWith('  (') || l.startsWith('   ')) continue;
        expect(l[24], l).toBe(' ');
        expect(l[25], l).toBe(' ');
        expect(l[26], l).not.toBe(' ');
      }
    }
  });
});
