/**
 * The default machine through `@exitless/machine`'s API: baseline, seed 1, netperf
 * TCP_STREAM. The machine README's "API".
 *
 *   node --conditions=source --import tsx examples/packages/machine-api.ts
 */
import { Machine, type RunReport, runMachine } from '@exitless/machine';
import { type ExampleOptions, exampleRun, fmt, isMain } from '../common.js';

export function main(options: ExampleOptions = {}): RunReport {
  const { run, log } = exampleRun(options);
  const machine = new Machine({ mode: 'baseline', seed: 1 });
  const report = runMachine(machine, run); // { durationMs, warmupMs }: 50 and 10 by default
  const { throughput, exitsPerSecond } = report;
  log(`${fmt(throughput.value)} ${throughput.unit}, ${fmt(exitsPerSecond.total)} exits/s`);
  return report;
}

if (isMain(import.meta.url)) main();
