/**
 * The first run of a fresh process, slice by slice: `node … warmup.ts MODE SLICE_MS SLICES`
 * runs the default machine (netperf TCP_STREAM, no warm-up period) for SLICES × SLICE_MS of
 * simulated time and prints `{ mode, sliceMs, simulatedPerWall }` as JSON, one figure per
 * slice: how fast the run goes while V8 is still compiling the models' code, against the
 * steady state the machine-speed figures measure. Building the machine is not timed.
 */
import { Machine, runMachine } from '@exitless/machine';

const [mode, slice, count] = process.argv.slice(2);
const sliceMs = Number(slice);
const slices = Number(count);
if (mode === undefined || !(sliceMs > 0) || !Number.isInteger(slices) || slices < 1) {
  console.error('usage: warmup.ts MODE SLICE_MS SLICES');
  process.exit(2);
}
const machine = new Machine({ mode });
const speeds: number[] = [];
let lastPs = 0;
let last = process.hrtime.bigint();
runMachine(machine, {
  durationMs: sliceMs * slices,
  warmupMs: 0,
  progressEveryMs: sliceMs,
  onProgress: (simulatedPs) => {
    // The run also reports the end of its (empty) warm-up, at 0: only steps forward count.
    if (simulatedPs <= lastPs) return;
    const now = process.hrtime.bigint();
    speeds.push((simulatedPs - lastPs) / 1e12 / (Number(now - last) / 1e9));
    lastPs = simulatedPs;
    last = now;
  },
});
console.log(
  JSON.stringify({
    mode,
    sliceMs,
    simulatedPerWall: speeds,
  }),
);
