import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { Machine, runMachine } from '@exitless/machine';
import { ChromeTraceSink, Tracer } from '@exitless/sim';
import { parseNumber, UsageError } from './args.js';
import { availableModes, availableWorkloads } from './modes.js';

export const TRACE_USAGE = `exitless trace [--mode MODE] [--workload W] [--duration MS] [--warmup MS] [--seed N]
               [--out FILE] [--max-events N]
      Runs one short simulation and writes a Chrome trace-event file (open it in
      ui.perfetto.dev or chrome://tracing): per CPU, the spans the guest ran and the VM
      exits (by reason) and interrupt deliveries (by vector) between them.`;

export interface TraceResult {
  readonly file: string;
  readonly events: number;
  readonly dropped: number;
}

/** `exitless trace`: one run with a Chrome trace sink attached. */
export function traceCommand(args: string[]): TraceResult {
  const { values } = parseArgs({
    args,
    options: {
      mode: { type: 'string', default: 'baseline' },
      workload: { type: 'string', default: 'netperf-tcp-stream' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string', default: 'out/trace.json' },
      'max-events': { type: 'string' },
    },
    strict: true,
  });
  const modes = availableModes();
  if (!modes.includes(values.mode!))
    throw new UsageError(`unknown mode '${values.mode}': use one of ${modes.join(', ')}`);
  const workloads = availableWorkloads();
  if (!workloads.includes(values.workload!)) {
    throw new UsageError(`unknown workload '${values.workload}': use one of ${workloads.join(', ')}`);
  }
  const durationMs = parseNumber(values.duration, 'duration', 2, 0.001);
  const warmupMs = parseNumber(values.warmup, 'warmup', 1, 0);
  const seed = parseNumber(values.seed, 'seed', 1, 0, { integer: true });
  const maxEvents = parseNumber(values['max-events'], 'max-events', 1_000_000, 1, { integer: true });
  const sink = new ChromeTraceSink(maxEvents);
  const tracer = new Tracer();
  tracer.attach(sink);
  const machine = new Machine({ mode: values.mode!, workload: values.workload!, seed, tracer });
  runMachine(machine, { durationMs, warmupMs });
  const file = values.out!;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, sink.toJSON());
  return { file, events: sink.size, dropped: sink.dropped };
}
