/**
 * One machine run in a process of its own, for its peak memory: `node … peak.ts MODE DURATION_MS`
 * runs the default machine (netperf TCP_STREAM) for DURATION_MS after 20 ms of warm-up and
 * prints `{ mode, durationMs, maxRssBytes, heapUsedBytes }` as JSON. The peak resident set is the
 * process's (`process.resourceUsage().maxRSS`), Node's own start included.
 */
import { Machine, runMachine } from '@exitless/machine';

const [mode, duration] = process.argv.slice(2);
const durationMs = Number(duration);
if (mode === undefined || !Number.isFinite(durationMs) || durationMs <= 0) {
  console.error('usage: peak.ts MODE DURATION_MS');
  process.exit(2);
}
runMachine(new Machine({ mode }), { durationMs, warmupMs: 20 });
console.log(
  JSON.stringify({
    mode,
    durationMs,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    heapUsedBytes: process.memoryUsage().heapUsed,
  }),
);
