import { type CalibrationProfile, validateMachineConfig, XEON_X5570 } from '@exitless/machine';
import { UserError } from '@exitless/x86';
import {
  parseList,
  parseNumber,
  parseNumberList,
  parseOptions,
  parseRunLength,
  parseSeed,
  selectNames,
  stringOption,
  UsageError,
} from './args.js';
import { renderSvg, sweepChart } from './charts.js';
import { formatCsv, formatTable, type SweepEntry, stoppedNotes, sweepColumns } from './format.js';
import { machineConfig, type RunJob } from './jobs.js';
import {
  givenNote,
  MACHINE_AXES_USAGE,
  MACHINE_OPTION,
  type MachineSpec,
  machineBase,
  machineFieldsFor,
  machineProfileChoice,
  machineSpec,
} from './machine-options.js';
import { availableModes, availableWorkloads, modesFor, refusedModes } from './modes.js';
import { toJson, writeOutputs } from './output.js';
import { defaultJobs, type JobOutcome, runJobs } from './pool.js';
import { PROFILE_USAGE, profileField, SET_OPTION, SET_USAGE, setsOption } from './profiles.js';
import { QUEUE_OPTIONS, QUEUE_USAGE, type QueueOptions, queueField } from './queue-options.js';
import { BARE_METAL, sameRun, withRelative } from './relative.js';

/** A machine parameter `sweep` can vary. */
export interface SweepParameterSpec {
  readonly unit: string;
  readonly description: string;
  /** The values swept when --values is absent. */
  readonly defaultValues: readonly number[];
  /** The job with this parameter set to `value`. */
  readonly apply: (job: RunJob, value: number) => RunJob;
}

/**
 * The parameters `sweep` knows. `interrupt-interval` is the NIC's interrupt moderation
 * (EITR, 82599 datasheet §8.2.3.5.12: a minimum interval in 2 µs units, so odd values act
 * as the even value below). The defaults take the default machine's netperf TCP_STREAM
 * from about 180 K physical interrupts/s (4 µs) down to about 3.5 K/s (300 µs) on bare
 * metal; below 4 µs the rate is bounded by the driver's NAPI polling, not by EITR.
 */
export const SWEEP_PARAMETERS: Readonly<Record<string, SweepParameterSpec>> = {
  'interrupt-interval': {
    unit: 'us',
    description: "the NIC's interrupt moderation interval (EITR) the guest driver programs",
    defaultValues: [2, 4, 6, 8, 10, 12, 16, 20, 24, 32, 40, 50, 60, 80, 100, 150, 200, 300],
    apply: (job, value) => ({ ...job, interruptIntervalUs: value }),
  },
};

/** What `exitless sweep` runs and where it writes. */
export interface SweepOptions {
  readonly param: string;
  readonly values: readonly number[];
  /** Modes; bare metal is always among them (the y-axis is relative to it). */
  readonly modes: readonly string[];
  readonly workload: string;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly seed: number;
  readonly outDir: string;
  readonly jobs: number;
  /** The calibration profile (absent: the default). */
  readonly profile?: CalibrationProfile;
  /** The machine's other fields, from --machine and --set (absent: the default machine's; the swept one left out). */
  readonly machine?: MachineSpec;
  /** Run on the workers of a Redis queue (--queue) instead of this machine's threads (absent: local). */
  readonly queue?: QueueOptions;
}

/**
 * Defaults of `exitless sweep`: shorter runs than `reproduce` (100 ms after 20 ms of
 * warm-up), since a sweep makes values × modes of them.
 */
export const SWEEP_DEFAULTS: {
  readonly param: string;
  readonly workload: string;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly seed: number;
  readonly outDir: string;
} = {
  param: 'interrupt-interval',
  workload: 'netperf-tcp-stream',
  durationMs: 100,
  warmupMs: 20,
  seed: 1,
  outDir: 'out/sweep',
};

export const SWEEP_USAGE = `exitless sweep [--param P] [--values v1,v2,…] [--modes a,b] [--workload W]
                 [--duration MS] [--warmup MS] [--seed N] [--out DIR] [--jobs N] [--profile NAME|FILE]
                 [--machine FILE] [--set KEY=VALUE …]
                 [--queue redis://HOST:PORT[/DB] [--resume] [--queue-timeout S]]
      Runs the workload at each value of the parameter in each mode and plots % of bare-metal
      throughput against the physical interrupts per second each run measured. Writes
      sweep.json, sweep.csv and sweep.svg to DIR (default ${SWEEP_DEFAULTS.outDir}) and prints the table.
      Parameters: ${Object.entries(SWEEP_PARAMETERS)
        .map(
          ([name, p]) =>
            `${name} (${p.unit}): ${p.description};\n        default values ${p.defaultValues.join(',')}`,
        )
        .join('\n      ')}.
      Defaults: --param ${SWEEP_DEFAULTS.param}, --workload ${SWEEP_DEFAULTS.workload}, every mode (${BARE_METAL} is
      always added: the y-axis is relative to it), --duration ${SWEEP_DEFAULTS.durationMs}, --warmup ${SWEEP_DEFAULTS.warmupMs},
      --seed ${SWEEP_DEFAULTS.seed}, --jobs = cores. --profile ${PROFILE_USAGE}.
      ${SET_USAGE}
      ${MACHINE_AXES_USAGE} The parameter swept replaces its field.
      ${QUEUE_USAGE}`;

/** Parses `sweep`'s arguments; mistakes are UsageErrors that say what to change. */
export function parseSweepArgs(args: readonly string[]): SweepOptions {
  const values = parseOptions('sweep', args, {
    param: { type: 'string', value: 'P' },
    values: { type: 'string', value: 'v1,v2,…' },
    modes: { type: 'string', value: 'a,b' },
    workload: { type: 'string', value: 'W' },
    duration: { type: 'string', value: 'MS' },
    warmup: { type: 'string', value: 'MS' },
    seed: { type: 'string', value: 'N' },
    out: { type: 'string', value: 'DIR' },
    jobs: { type: 'string', value: 'N' },
    profile: { type: 'string', value: 'NAME|FILE' },
    machine: MACHINE_OPTION,
    set: SET_OPTION,
    ...QUEUE_OPTIONS,
  });
  const base = machineBase(values, { workload: 'workload', seed: 'seed', profile: 'profile' });
  const param = stringOption(values, 'param') ?? SWEEP_DEFAULTS.param;
  const spec = SWEEP_PARAMETERS[param];
  if (spec === undefined) {
    throw new UsageError(
      `unknown --param '${param}': use one of ${Object.keys(SWEEP_PARAMETERS).join(', ')}`,
    );
  }
  const valueList = stringOption(values, 'values');
  const swept =
    valueList !== undefined ? [...new Set(parseNumberList(valueList, 'values', 0))] : [...spec.defaultValues];
  const [workload] = selectNames(
    'workload',
    [stringOption(values, 'workload') ?? base.fields.workload ?? SWEEP_DEFAULTS.workload],
    availableWorkloads(),
  );
  const modeList = stringOption(values, 'modes');
  const chosen = machineProfileChoice(stringOption(values, 'profile'), base, setsOption(values));
  const profile = chosen.profile ?? XEON_X5570;
  // The machine's mode is the axis's default; --modes replaces it.
  const requested =
    modeList !== undefined
      ? parseList(modeList, 'modes')
      : base.fields.mode !== undefined
        ? [base.fields.mode]
        : undefined;
  const all = selectNames('mode', requested, availableModes(), 'modes');
  if (requested !== undefined) {
    const why = refusedModes([profile], all);
    if (why !== null) throw new UsageError(why);
  }
  // Without --modes, every mode this profile's machine has.
  const modes = modesFor(profile, all);
  // The swept parameter's field is the sweep's (interrupt-interval: interruptIntervalUs).
  const machine = machineSpec(base, param === 'interrupt-interval' ? ['interruptIntervalUs'] : []);
  const out = stringOption(values, 'out');
  if (out !== undefined && out.trim() === '') throw new UsageError('--out must name a directory');
  return {
    param,
    values: swept,
    modes: modes.includes(BARE_METAL) ? modes : [BARE_METAL, ...modes],
    workload: workload!,
    ...parseRunLength(values, SWEEP_DEFAULTS),
    seed: parseSeed(stringOption(values, 'seed'), base.fields.seed ?? SWEEP_DEFAULTS.seed),
    outDir: out ?? SWEEP_DEFAULTS.outDir,
    jobs: parseNumber(stringOption(values, 'jobs'), 'jobs', defaultJobs(), 1, { integer: true, max: 256 }),
    ...chosen,
    ...(machine !== undefined ? { machine } : {}),
    ...queueField(values),
  };
}

function parameterSpec(name: string): SweepParameterSpec {
  const spec = SWEEP_PARAMETERS[name];
  if (spec === undefined) {
    throw new UsageError(
      `unknown sweep parameter '${name}': use one of ${Object.keys(SWEEP_PARAMETERS).join(', ')}`,
    );
  }
  return spec;
}

/** One run of a sweep: the parameter value and the job that runs it. */
export interface SweepRun {
  readonly value: number;
  readonly job: RunJob;
}

/** The runs of a sweep: value-major, mode-minor (the table's order). */
export function sweepPlan(options: SweepOptions): SweepRun[] {
  const spec = parameterSpec(options.param);
  return options.values.flatMap((value) =>
    options.modes.map((mode) => ({
      value,
      job: spec.apply(
        {
          workload: options.workload,
          mode,
          seed: options.seed,
          durationMs: options.durationMs,
          warmupMs: options.warmupMs,
          ...profileField(options.profile),
          ...machineFieldsFor(options.machine, mode, options.workload),
        },
        value,
      ),
    })),
  );
}

/**
 * Checks the machine configuration of every run of the sweep (the machine's own validation,
 * which builds nothing), so that a value the machine rejects is a usage error before any run
 * starts; the machine's message says the range.
 */
export function checkSweepValues(options: SweepOptions): void {
  const rejects = (job: RunJob): string | null => {
    try {
      validateMachineConfig(machineConfig(job));
      return null;
    } catch (error) {
      if (error instanceof UserError) return error.message;
      throw error;
    }
  };
  for (const { value, job } of sweepPlan(options)) {
    const why = rejects(job);
    if (why === null) continue;
    // The machine itself (a machine file's guests on bare metal, which the sweep always runs), or the value.
    const { interruptIntervalUs: _swept, ...unswept } = job;
    const always = rejects(unswept);
    if (always !== null) {
      throw new UsageError(
        `the machine rejects the sweep's ${job.mode} runs${givenNote(options.machine)}${job.mode === BARE_METAL ? ` (the sweep always runs ${BARE_METAL}: the y-axis is relative to it)` : ''}: ${always}`,
      );
    }
    throw new UsageError(
      `--values: ${options.param} ${value} is rejected by the machine${givenNote(options.machine)}: ${why}`,
    );
  }
}

/** What a sweep produced. */
export interface SweepResult {
  readonly entries: readonly SweepEntry[];
  readonly failures: readonly Extract<JobOutcome, { ok: false }>[];
  readonly files: readonly string[];
  /** What stdout shows: the table and its notes. */
  readonly text: string;
}

/** Runs the sweep and writes sweep.json, sweep.csv and sweep.svg. */
export async function sweep(
  options: SweepOptions,
  hooks: { readonly onDone?: (outcome: JobOutcome, done: number, total: number) => void } = {},
): Promise<SweepResult> {
  const spec = parameterSpec(options.param);
  const plan = sweepPlan(options);
  const outcomes = await runJobs(
    plan.map((p) => p.job),
    {
      jobs: options.jobs,
      ...(options.queue !== undefined ? { queue: options.queue } : {}),
      ...(hooks.onDone !== undefined ? { onDone: hooks.onDone } : {}),
    },
  );
  const parameter = (i: number) => ({ name: options.param, value: plan[i]!.value, unit: spec.unit });
  const runs = outcomes.flatMap((o, i) => (o.ok ? [{ ...o.result.report, parameter: parameter(i) }] : []));
  const failures = outcomes.filter((o): o is Extract<JobOutcome, { ok: false }> => !o.ok);
  const failureNotes = outcomes.flatMap((o, i) =>
    o.ok ? [] : [`${o.job.mode} at ${options.param} ${plan[i]!.value}: FAILED — ${o.error}`],
  );
  // Runs compare with the bare-metal run at the same parameter value.
  const entries: SweepEntry[] = withRelative(runs, (r) => `${sameRun(r)}\u0000${r.parameter.value}`);
  const columns = sweepColumns({ name: options.param, unit: spec.unit });
  const chart = sweepChart(entries, options.workload);
  const files = await writeOutputs(options.outDir, [
    ['sweep.json', toJson(entries)],
    ['sweep.csv', formatCsv(columns, entries)],
    [chart.file, await renderSvg(chart.spec)],
  ]);
  const notes = [...stoppedNotes(entries), ...failureNotes];
  const text = `${options.workload}, ${options.param} swept:\n${formatTable(columns, entries)}${notes.map((n) => `${n}\n`).join('')}`;
  return { entries, failures, files, text };
}
