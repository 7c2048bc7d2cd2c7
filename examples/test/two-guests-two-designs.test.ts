import { describe, expect, it } from 'vitest';
import { main } from '../two-guests-two-designs.js';
import { shortRun } from './run.js';

describe('two-guests-two-designs.ts', () => {
  it('runs ELI on core 0 beside baseline on core 1, each guest with its own UDP_RR', () => {
    const options = shortRun();
    const report = main(options);
    expect(report.guests?.map((g) => g.mode)).toEqual(['eli', 'baseline']);
    const [eli, baseline] = report.guests!;
    expect(eli!.throughput.unit).toBe('transactions/s');
    expect(baseline!.throughput.value).toBeGreaterThan(10_000);
    // ELI's guest takes its VF's interrupts without an exit: more transactions, a shorter round trip.
    expect(eli!.throughput.value).toBeGreaterThan(baseline!.throughput.value);
    expect(eli!.latency!.p50).toBeLessThan(baseline!.latency!.p50);
    // Baseline's core exits once per interrupt (two per transaction: RX and TX); ELI's does not.
    const external = (core: number) => report.cpus[core]!.exitsPerSecond.byReason['external-interrupt'] ?? 0;
    expect(external(1)).toBeGreaterThan(baseline!.throughput.value * 0.9);
    expect(external(0)).toBeLessThan(eli!.throughput.value * 0.1);
    expect(options.lines).toHaveLength(4);
    expect(options.lines[0]).toMatch(/^guest 0 \(eli\): [\d,]+ transactions\/s, p50 [\d,.]+ us$/);
    expect(options.lines[1]).toMatch(/^guest 1 \(baseline\): /);
    expect(options.lines[2]).toMatch(/^core 0: [\d,]+ exits\/s \(.*hlt [\d,]+.*\)$/);
    expect(options.lines[3]).toMatch(/^core 1: [\d,]+ exits\/s \(external-interrupt [\d,]+, /);
  });
});
