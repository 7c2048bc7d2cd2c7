import { writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  type CalibrationProfile,
  Machine,
  type MachineConfig,
  runMachine,
  XEON_X5570,
} from '@exitless/machine';
import { ChromeTraceSink, Tracer } from '@exitless/sim';
import { parseNumber, parseOptions, parseRunLength, parseSeed, stringOption, UsageError } from './args.js';
import {
  MACHINE_OPTION,
  MACHINE_USAGE,
  type MachineSpec,
  machineBase,
  machineFieldsFor,
  machineProfileChoice,
  machineSpec,
} from './machine-options.js';
import { availableModes, availableWorkloads, refusedModes } from './modes.js';
import { makeDirectory } from './output.js';
import { PROFILE_USAGE, SET_OPTION, SET_USAGE, setsOption } from './profiles.js';

export const TRACE_USAGE = `exitless trace [--mode MODE] [--workload W] [--duration MS] [--warmup MS] [--seed N]
               [--out FILE] [--max-events N] [--profile NAME|FILE] [--machine FILE] [--set KEY=VALUE …]
      Runs one short simulation and writes a Chrome trace-event file (open it in
      ui.perfetto.dev or chrome://tracing): per CPU, the spans the guest ran and the VM
      exits (by reason) and interrupt deliveries (by vector) between them. Default --mode baseline.
      --profile ${PROFILE_USAGE}.
      ${MACHINE_USAGE}
      ${SET_USAGE}`;

export interface TraceResult {
  readonly file: string;
  readonly events: number;
  readonly dropped: number;
}

/** What `exitless trace` runs and where it writes. */
export interface TraceOptions {
  readonly mode: string;
  readonly workload: string;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly seed: number;
  /** The trace file (its directory is created). */
  readonly out: string;
  /** Trace events kept; later ones are dropped and counted. */
  readonly maxEvents: number;
  /** The calibration profile (absent: the default). */
  readonly profile?: CalibrationProfile;
  /** The machine's other fields, from --machine and --set (absent: the default machine's). */
  readonly machine?: MachineSpec;
}

/** Parses `trace`'s arguments; mistakes are UsageErrors that say what to change. */
export function parseTraceArgs(args: readonly string[]): TraceOptions {
  const values = parseOptions('trace', args, {
    mode: { type: 'string', value: 'MODE' },
    workload: { type: 'string', value: 'W' },
    duration: { type: 'string', value: 'MS' },
    warmup: { type: 'string', value: 'MS' },
    seed: { type: 'string', value: 'N' },
    out: { type: 'string', value: 'FILE' },
    'max-events': { type: 'string', value: 'N' },
    profile: { type: 'string', value: 'NAME|FILE' },
    machine: MACHINE_OPTION,
    set: SET_OPTION,
  });
  const base = machineBase(values, { mode: 'mode', workload: 'workload', seed: 'seed', profile: 'profile' });
  const mode = stringOption(values, 'mode') ?? base.fields.mode ?? 'baseline';
  const modes = availableModes();
  if (!modes.includes(mode)) throw new UsageError(`unknown --mode '${mode}': use one of ${modes.join(', ')}`);
  const chosen = machineProfileChoice(stringOption(values, 'profile'), base, setsOption(values));
  const why = refusedModes([chosen.profile ?? XEON_X5570], [mode]);
  if (why !== null) throw new UsageError(why);
  const workload = stringOption(values, 'workload') ?? base.fields.workload ?? 'netperf-tcp-stream';
  const workloads = availableWorkloads();
  if (!workloads.includes(workload)) {
    throw new UsageError(`unknown --workload '${workload}': use one of ${workloads.join(', ')}`);
  }
  const machine = machineSpec(base);
  const out = stringOption(values, 'out') ?? 'out/trace.json';
  if (out.trim() === '') throw new UsageError('--out must name a file');
  return {
    mode,
    workload,
    ...parseRunLength(values, { durationMs: 2, warmupMs: 1 }),
    seed: parseSeed(stringOption(values, 'seed'), base.fields.seed ?? 1),
    out,
    maxEvents: parseNumber(stringOption(values, 'max-events'), 'max-events', 1_000_000, 1, {
      integer: true,
      max: Number.MAX_SAFE_INTEGER,
    }),
    ...chosen,
    ...(machine !== undefined ? { machine } : {}),
  };
}

/** The machine a trace runs (without its tracer). */
export function traceMachineConfig(options: TraceOptions): MachineConfig {
  return {
    ...machineFieldsFor(options.machine, options.mode, options.workload).machine,
    mode: options.mode,
    workload: options.workload,
    seed: options.seed,
    ...(options.profile !== undefined ? { profile: options.profile } : {}),
  };
}

/** `exitless trace ARGS`: parses them and runs the trace. */
export function traceCommand(args: readonly string[]): TraceResult {
  return runTrace(parseTraceArgs(args));
}

/** One run with a Chrome trace sink attached, written to `options.out`. */
export function runTrace(options: TraceOptions): TraceResult {
  const sink = new ChromeTraceSink(options.maxEvents);
  const tracer = new Tracer();
  tracer.attach(sink);
  const machine = new Machine({ ...traceMachineConfig(options), tracer });
  runMachine(machine, { durationMs: options.durationMs, warmupMs: options.warmupMs });
  makeDirectory(dirname(options.out));
  writeFileSync(options.out, sink.toJSON());
  return { file: options.out, events: sink.size, dropped: sink.dropped };
}
