import { runMachine } from '@exitless/machine';
import { describe, expect, it } from 'vitest';
import { main, paperMachineRunning, udpPing } from '../own-workload.js';
import { shortRun } from './run.js';

describe('own-workload.ts', () => {
  it('at a rate the machine sustains, every ping is answered once, at a steady round trip', () => {
    const board = paperMachineRunning('bare-metal', udpPing(50));
    const report = runMachine(board, { durationMs: 3, warmupMs: 1 });
    expect(report.workload).toBe('udp-ping-every-50us');
    expect(report.throughput).toEqual({ value: 20_000, unit: 'replies/s' });
    expect(report.latency!.p99 - report.latency!.p50).toBeLessThan(1);
    expect(board.guest!.counters.rxFrames.value).toBe(60);
  });

  it('main: 100,000 pings/s saturate baseline, not ELI; it prints both', () => {
    const options = shortRun();
    const { baseline, eli } = main(options);
    expect(eli.throughput.value).toBeGreaterThan(95_000);
    expect(baseline.throughput.value).toBeLessThan(0.6 * eli.throughput.value);
    expect(baseline.latency!.p50).toBeGreaterThan(2 * eli.latency!.p50);
    expect(options.lines).toHaveLength(2);
    expect(options.lines[0]).toMatch(
      /^baseline [\d,]+ replies\/s, p50 [\d,.]+ us, p99 [\d,.]+ us, [\d,]+ exits\/s$/,
    );
    expect(options.lines[1]).toMatch(/^eli +[\d,]+ replies\/s, /);
  });
});
