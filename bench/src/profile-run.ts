/**
 * One profiled run, in a process of its own, on the compiled packages (`dist`, which keep their
 * lines; tsx runs the sources as one line each): `node --enable-source-maps --import tsx
 * profile-run.ts MODE DURATION_MS WARMUP_MS WARMUP_RUNS OUT_FILE`. Runs WARMUP_RUNS machines in
 * MODE first (so that V8 has compiled the models' code, as for the machine-speed figures), then
 * profiles one run of DURATION_MS after WARMUP_MS of warm-up, maps every frame and line of the profile back
 * to the TypeScript sources through the packages' source maps, and writes it to OUT_FILE.
 * Prints the profiled run's wall time and the frames the guest received in it as JSON
 * (ProfiledRun).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Machine, runMachine } from '@exitless/machine';
import { type CpuProfile, type ProfiledRun, toSources } from './profile.js';
import { warmRunArgs, warmUp } from './warm-run.js';

const { mode, durationMs, warmupMs, warmupRuns, out } = warmRunArgs('profile-run.ts', process.argv.slice(2));
warmUp(mode, warmupRuns);
const machine = new Machine({ mode });
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 50 });
await session.post('Profiler.start');
const t0 = process.hrtime.bigint();
const report = runMachine(machine, { durationMs, warmupMs });
const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
const { profile } = await session.post('Profiler.stop');
session.disconnect();
writeFileSync(out, JSON.stringify(toSources(profile as unknown as CpuProfile)));
const run: ProfiledRun = {
  wallSeconds,
  simulatedSeconds: (durationMs + warmupMs) / 1000,
  measuredSeconds: durationMs / 1000,
  framesReceived: report.network.framesReceived,
};
console.log(JSON.stringify(run));
