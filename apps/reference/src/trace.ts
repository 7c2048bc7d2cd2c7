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
import {
  formatTimelineWindow,
  parseTimelineWindow,
  TeeSink,
  type TimelineLane,
  TimelineSink,
  type TimelineWindow,
  timelinePath,
  timelineSvg,
} from './timeline.js';

export const TRACE_USAGE = `exitless trace [--mode MODE] [--workload W] [--duration MS] [--warmup MS] [--seed N]
               [--out FILE] [--max-events N] [--timeline-window START_US:LENGTH_US]
               [--profile NAME|FILE] [--machine FILE] [--set KEY=VALUE …]
      Runs one short simulation and writes a Chrome trace-event file (open it in
      ui.perfetto.dev or chrome://tracing): per CPU, the spans the guest ran and the VM
      exits (by reason) and interrupt deliveries (by vector) between them. Default --mode baseline.
      Beside it (--out out/trace.json: out/trace.svg) an SVG timeline of a window of the run:
      per CPU the guest's running time as bars, each VM exit as a triangle coloured by exit
      reason, each interrupt delivery marked by kind (host IDT, injected, guest IDT without exit,
      posted), and MSIs and IPIs on the interrupt bus.
      --timeline-window START_US:LENGTH_US: the window, in µs from the start of the measured
      part (after --warmup), within --duration (default 0:200).
      --profile ${PROFILE_USAGE}.
      ${MACHINE_USAGE}
      ${SET_USAGE}`;

export interface TraceResult {
  /** The Chrome trace file. */
  readonly file: string;
  readonly events: number;
  readonly dropped: number;
  /** The SVG timeline beside it (`trace.json` gives `trace.svg`). */
  readonly timeline: string;
  /** The window the timeline draws. */
  readonly timelineWindow: TimelineWindow;
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
  /** The window of the run the SVG timeline beside the trace draws. */
  readonly timelineWindow: TimelineWindow;
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
    'timeline-window': { type: 'string', value: 'START_US:LENGTH_US' },
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
  const runLength = parseRunLength(values, { durationMs: 2, warmupMs: 1 });
  return {
    mode,
    workload,
    ...runLength,
    seed: parseSeed(stringOption(values, 'seed'), base.fields.seed ?? 1),
    out,
    maxEvents: parseNumber(stringOption(values, 'max-events'), 'max-events', 1_000_000, 1, {
      integer: true,
      max: Number.MAX_SAFE_INTEGER,
    }),
    timelineWindow: parseTimelineWindow(stringOption(values, 'timeline-window'), runLength.durationMs),
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

/**
 * One run with a Chrome trace sink attached, written to `options.out`, and beside it the SVG
 * timeline of `options.timelineWindow`, drawn from the same records (the machine runs once).
 */
export function runTrace(options: TraceOptions): TraceResult {
  const sink = new ChromeTraceSink(options.maxEvents);
  // Simulated time is in ps; the window is in µs from the end of the warm-up.
  const from = options.warmupMs * 1e9 + options.timelineWindow.startUs * 1e6;
  const timeline = new TimelineSink(from, from + options.timelineWindow.lengthUs * 1e6);
  const tracer = new Tracer();
  tracer.attach(new TeeSink([sink, timeline]));
  const machine = new Machine({ ...traceMachineConfig(options), tracer });
  runMachine(machine, { durationMs: options.durationMs, warmupMs: options.warmupMs });
  timeline.finish((options.warmupMs + options.durationMs) * 1e9);
  makeDirectory(dirname(options.out));
  writeFileSync(options.out, sink.toJSON());
  const lanes: TimelineLane[] = machine.cpus.map((_, i) => {
    const mode = machine.guestModes[i];
    return {
      track: `cpu${i}`,
      detail: mode === undefined ? [] : mode === 'bare-metal' ? ['bare metal'] : [`guest ${i}`, mode],
      virtualized: mode !== undefined && mode !== 'bare-metal',
    };
  });
  const svgFile = timelinePath(options.out);
  writeFileSync(
    svgFile,
    timelineSvg(timeline, {
      mode: options.mode,
      workload: options.workload,
      seed: options.seed,
      profile: machine.profile.name,
      warmupMs: options.warmupMs,
      window: options.timelineWindow,
      lanes,
    }),
  );
  return {
    file: options.out,
    events: sink.size,
    dropped: sink.dropped,
    timeline: svgFile,
    timelineWindow: options.timelineWindow,
  };
}

/** The line `exitless trace` ends with on stderr: what it wrote. */
export function traceSummary(t: TraceResult): string {
  return `wrote ${t.file}: ${t.events} trace events${t.dropped > 0 ? ` (${t.dropped} dropped: raise --max-events)` : ''}; and ${t.timeline}: the timeline of ${formatTimelineWindow(t.timelineWindow)} µs (--timeline-window)`;
}
