import { Machine, runMachine } from '@exitless/machine';
import { ms } from '@exitless/sim';
import { allocatedPerUnit } from './alloc.js';
import { childJson } from './child.js';

/** Simulated seconds per wall-clock second of the default machine in one mode. */
export interface MachineSpeed {
  readonly mode: string;
  readonly simulatedSeconds: number;
  readonly wallSeconds: number;
  readonly simulatedPerWall: number;
  readonly events: number;
  readonly eventsPerSimulatedSecond: number;
  readonly eventsPerWallSecond: number;
  /** Bytes V8 allocates per event (machineAllocation; measured once per mode, not per pass). */
  readonly allocatedBytesPerEvent: number;
}

/** A mode's speed as one timed pass measures it, before its allocation is added. */
export type MachinePass = Omit<MachineSpeed, 'allocatedBytesPerEvent'>;

export function machineSpeed(mode: string, durationMs: number, warmupMs: number): MachinePass {
  const machine = new Machine({ mode });
  const t0 = process.hrtime.bigint();
  runMachine(machine, { durationMs, warmupMs });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const simulated = (durationMs + warmupMs) / 1000;
  const events = machine.sim.eventsProcessed;
  return {
    mode,
    simulatedSeconds: simulated,
    wallSeconds: wall,
    simulatedPerWall: simulated / wall,
    events,
    eventsPerSimulatedSecond: events / simulated,
    eventsPerWallSecond: events / wall,
  };
}

/**
 * What the default machine in `mode` allocates per event once warm: 20 ms of simulated time
 * first, then windows of 1 ms (allocatedPerUnit).
 */
export function machineAllocation(mode: string): number {
  const machine = new Machine({ mode });
  machine.start();
  const sim = machine.sim;
  sim.runUntil(ms(20));
  return allocatedPerUnit(() => {
    const before = sim.eventsProcessed;
    sim.runUntil(sim.now + ms(1));
    return sim.eventsProcessed - before;
  });
}

/** The peak memory of one run of the default machine, in a process of its own. */
export interface PeakMemory {
  readonly mode: string;
  readonly durationMs: number;
  /** The process's peak resident set, bytes (Node's own start included). */
  readonly maxRssBytes: number;
  /** The JS heap in use at the run's end, bytes. */
  readonly heapUsedBytes: number;
}

/** Runs the default machine in `mode` for `durationMs` in a child process and returns its peak memory. */
export function peakMemory(benchDir: string, mode: string, durationMs: number): PeakMemory {
  return childJson<PeakMemory>(benchDir, 'peak.ts', [mode, String(durationMs)], `the ${mode} memory run`);
}

/** The first run of a fresh process, in slices of simulated time (warmup.ts). */
export interface WarmupCurve {
  readonly mode: string;
  readonly sliceMs: number;
  /** Simulated seconds per wall-clock second in each slice, from the run's start. */
  readonly simulatedPerWall: readonly number[];
}

/** Runs the default machine in `mode` from a fresh process, `slices` × `sliceMs` of simulated time, and returns its speed slice by slice. */
export function warmupCurve(benchDir: string, mode: string, sliceMs: number, slices: number): WarmupCurve {
  return childJson<WarmupCurve>(
    benchDir,
    'warmup.ts',
    [mode, String(sliceMs), String(slices)],
    `the ${mode} warm-up run`,
  );
}

/** Wall-clock seconds the slices of `curve` took. */
export function warmupWallSeconds(curve: WarmupCurve): number {
  return curve.simulatedPerWall.reduce((sum, speed) => sum + curve.sliceMs / 1000 / speed, 0);
}

/**
 * The kernel against heap-js (pairedRatios), in two processes of their own, one building the
 * kernel's model first and one heap-js's, `pairs` pairs of chunks each: every ratio of both.
 */
export function pairedInProcesses(
  benchDir: string,
  pending: number,
  pairs: number,
  chunkEvents: number,
): number[] {
  return ['kernel-first', 'heap-js-first'].flatMap((order) =>
    childJson<number[]>(
      benchDir,
      'paired.ts',
      [String(pending), String(pairs), String(chunkEvents), order],
      `the paired run (${pending} pending, ${order})`,
    ),
  );
}
