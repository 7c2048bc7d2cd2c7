import { Board, type BoardSpec, runMachine } from '@exitless/machine';
import { describeNicConformance } from '@exitless/nic/conformance';
import { us } from '@exitless/sim';
import { describe, expect, it } from 'vitest';
import { CountingNic, countingNicBoard, main } from '../own-nic.js';
import { oneVm, smallestBoard } from '../smallest-board.js';
import { shortRun } from './run.js';

describeNicConformance('examples own NIC', (o) => new CountingNic(o));
describeNicConformance(
  'examples own NIC, 1 µs receive delay',
  (o) => new CountingNic(o, { extraRxDelayPs: us(1) }),
);

describe('own-nic.ts', () => {
  const run = { durationMs: 3, warmupMs: 1 };

  it('with no extra delay, runs event for event as the 82599 it wraps, bare metal and in a VM', () => {
    const counting = countingNicBoard();
    // The report, and how many events the simulator ran to get it.
    const outcome = (spec: BoardSpec) => {
      const board = new Board(spec);
      return { report: JSON.stringify(runMachine(board, run)), events: board.sim.eventsProcessed };
    };
    expect(outcome(counting)).toEqual(outcome({ ...smallestBoard, workload: 'netperf-udp-rr' }));
    expect(outcome({ ...oneVm, nic: counting.nic!, workload: 'netperf-udp-rr' })).toEqual(
      outcome({ ...oneVm, workload: 'netperf-udp-rr' }),
    );
  });

  it("counts VF 0's MSIs as the VF's own counter does, and its received frames", () => {
    const board = new Board(countingNicBoard());
    const report = runMachine(board, run);
    // Both are the board's statistics, reset at the end of the warm-up.
    expect(board.nic.msis[0]!.value).toBe(report.assignedInterrupts);
    expect(board.nic.msis[1]!.value).toBe(0);
    // UDP_RR: one request frame per transaction reaches VF 0 (± the one in flight at each end of the interval).
    const transactions = (report.throughput.value * run.durationMs) / 1000;
    expect(Math.abs(board.nic.rxFrames[0]!.value - transactions)).toBeLessThanOrEqual(2);
  });

  it('main: the 1 µs receive delay adds 1 µs to every bare-metal round trip, and prints both', () => {
    const options = shortRun();
    const { direct, delayed, counted } = main(options);
    expect(delayed.latency!.p50 - direct.latency!.p50).toBeCloseTo(1, 1);
    expect(delayed.throughput.value).toBeLessThan(direct.throughput.value);
    expect(counted.msis).toBe(direct.assignedInterrupts);
    expect(options.lines).toHaveLength(3);
    expect(options.lines[0]).toMatch(/^VF 0 received [\d,]+ frames and sent [\d,]+ MSIs$/);
    expect(options.lines[1]).toMatch(
      /^no extra delay +[\d,]+ transactions\/s, p50 [\d,.]+ us, p99 [\d,.]+ us$/,
    );
    expect(options.lines[2]).toMatch(/^1 us receive delay [\d,]+ transactions\/s, p50 /);
  });
});
