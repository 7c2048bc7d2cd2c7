/**
 * memcached on the default machine in baseline, memslap at 32 concurrent requests: its
 * throughput and latency. The machine README's "Workloads".
 *
 *   node --conditions=source --import tsx examples/packages/machine-memcached.ts
 */
import { Machine, type RunReport, runMachine } from '@exitless/machine';
import { type ExampleOptions, exampleRun, fmt, isMain } from '../common.js';

export function main(options: ExampleOptions = {}): RunReport {
  const { run, log } = exampleRun(options);
  const r = runMachine(
    new Machine({
      mode: 'baseline',
      workload: 'memcached',
      workloadOptions: { memcached: { concurrency: 32 } },
    }),
    run,
  );
  const { throughput, latency } = r; // { value, unit: 'operations/s' } { mean, p50, p99, p999, cdf, unit: 'us' }
  log(
    `${fmt(throughput.value)} ${throughput.unit}; p50 ${fmt(latency?.p50 ?? 0, 1)} µs, p99 ${fmt(latency?.p99 ?? 0, 1)} µs`,
  );
  return r;
}

if (isMain(import.meta.url)) main();
