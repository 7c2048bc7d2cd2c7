/**
 * One run under V8's sampling heap profiler, in a process of its own, on the compiled packages
 * (`dist`, mapped back to the sources through their source maps): `node --enable-source-maps
 * --import tsx alloc-run.ts MODE DURATION_MS WARMUP_MS WARMUP_RUNS OUT_FILE`. Runs WARMUP_RUNS
 * machines in MODE first (so that V8 has compiled the models' code), then samples every 64 bytes
 * allocated in one run of DURATION_MS after WARMUP_MS, the objects collected since included,
 * and writes the profile to OUT_FILE. Prints the run as JSON (AllocationRun).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Machine, runMachine } from '@exitless/machine';
import { type AllocationRun, type HeapProfile, heapProfileToSources } from './allocations.js';
import { warmRunArgs, warmUp } from './warm-run.js';

const { mode, durationMs, warmupMs, warmupRuns, out } = warmRunArgs('alloc-run.ts', process.argv.slice(2));
warmUp(mode, warmupRuns);
const machine = new Machine({ mode });
const session = new Session();
session.connect();
// With the objects that minor and major collections have freed: what a hot path allocates dies
// young, and without them the profile holds only what is still alive at its end.
await session.post('HeapProfiler.startSampling', {
  samplingInterval: 64,
  includeObjectsCollectedByMinorGC: true,
  includeObjectsCollectedByMajorGC: true,
} as never);
const report = runMachine(machine, { durationMs, warmupMs });
const { profile } = await session.post('HeapProfiler.stopSampling');
session.disconnect();
writeFileSync(out, JSON.stringify(heapProfileToSources(profile as unknown as HeapProfile)));
const run: AllocationRun = {
  simulatedSeconds: (durationMs + warmupMs) / 1000,
  measuredSeconds: durationMs / 1000,
  framesReceived: report.network.framesReceived,
  events: machine.sim.eventsProcessed,
};
console.log(JSON.stringify(run));
