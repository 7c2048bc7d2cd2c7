import {
  type CalibrationProfile,
  MACHINE_LIMITS,
  type MachineConfig,
  validateMachineConfig,
  XEON_X5570,
} from '@exitless/machine';
import { UserError } from '@exitless/x86';
import {
  parseInRange,
  parseNumber,
  parseOptions,
  parseRunLength,
  parseRuns,
  parseSeed,
  stringOption,
  UsageError,
} from './args.js';
import { machineConfig, type RunJob } from './jobs.js';
import { availableModes, availableWorkloads, modesFor, refusedModes } from './modes.js';
import { defaultJobs } from './pool.js';
import {
  profileChoice,
  profileField,
  profileOption,
  profileRef,
  SET_OPTION,
  setsOption,
  withSets,
} from './profiles.js';
import { parseReproduceArgs, type ReproduceOptions, reproduceCheckJobs } from './reproduce.js';
import { allSensitivityJobs, parseSensitivityArgs, type SensitivityOptions } from './sensitivity.js';
import { runSeeds } from './summary.js';
import { checkSweepValues, parseSweepArgs, type SweepOptions } from './sweep.js';
import { parseTraceArgs, type TraceOptions, traceMachineConfig } from './trace.js';

/** What `exitless run` runs. */
export interface RunCommandOptions {
  /** One mode, or every mode (compared) when --mode is absent. */
  readonly modes: readonly string[];
  readonly workload: string;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** The seed of the first run of each mode. */
  readonly seed: number;
  /** Runs of each mode, with seeds seed, seed + 1, …; more than one gives means and 95% confidence intervals. */
  readonly runs: number;
  /** Worker threads for the runs when there are several (1: in this thread). */
  readonly jobs: number;
  readonly interruptIntervalUs?: number;
  readonly guests?: number;
  /** The calibration profile (absent: the default, XEON_X5570). */
  readonly profile?: CalibrationProfile;
  readonly json: boolean;
}

/** A command line, parsed and checked: what the command will do, with every value in range. */
export type Command =
  | { readonly kind: 'run'; readonly options: RunCommandOptions }
  | { readonly kind: 'reproduce'; readonly options: ReproduceOptions }
  | { readonly kind: 'sweep'; readonly options: SweepOptions }
  | { readonly kind: 'sensitivity'; readonly options: SensitivityOptions }
  | { readonly kind: 'trace'; readonly options: TraceOptions }
  | { readonly kind: 'profile'; readonly json: boolean; readonly profile: CalibrationProfile }
  | { readonly kind: 'help' };

/** The commands, as `exitless help` lists them. */
export const COMMANDS: readonly string[] = [
  'run',
  'reproduce',
  'sweep',
  'sensitivity',
  'trace',
  'profile',
  'help',
];

/** `run`'s defaults. */
export const RUN_DEFAULTS: {
  readonly workload: string;
  readonly durationMs: number;
  readonly warmupMs: number;
} = { workload: 'netperf-tcp-stream', durationMs: 100, warmupMs: 20 };

/** Parses `run`'s arguments; mistakes are UsageErrors that name the argument and what it accepts. */
export function parseRunArgs(args: readonly string[]): RunCommandOptions {
  const values = parseOptions('run', args, {
    mode: { type: 'string', value: 'MODE' },
    workload: { type: 'string', value: 'W' },
    duration: { type: 'string', value: 'MS' },
    warmup: { type: 'string', value: 'MS' },
    seed: { type: 'string', value: 'N' },
    runs: { type: 'string', value: 'N' },
    jobs: { type: 'string', value: 'N' },
    'interrupt-interval': { type: 'string', value: 'US' },
    guests: { type: 'string', value: 'N' },
    profile: { type: 'string', value: 'NAME|FILE' },
    set: SET_OPTION,
    json: { type: 'boolean' },
  });
  const workloads = availableWorkloads();
  const workload = stringOption(values, 'workload') ?? RUN_DEFAULTS.workload;
  if (!workloads.includes(workload)) {
    throw new UsageError(`unknown --workload '${workload}': use one of ${workloads.join(', ')}`);
  }
  const allModes = availableModes();
  const mode = stringOption(values, 'mode');
  if (mode !== undefined && !allModes.includes(mode)) {
    throw new UsageError(`unknown --mode '${mode}': use one of ${allModes.join(', ')}`);
  }
  const guests = parseInRange(stringOption(values, 'guests'), 'guests', MACHINE_LIMITS.guests);
  if (guests !== undefined && guests > 1 && mode === undefined) {
    throw new UsageError(
      `--guests ${guests} needs --mode: without it every mode runs, and bare-metal is one OS on one core; use --mode with one of ${allModes.filter((m) => m !== 'bare-metal').join(', ')}`,
    );
  }
  const interval = parseInRange(
    stringOption(values, 'interrupt-interval'),
    'interrupt-interval',
    MACHINE_LIMITS.interruptIntervalUs,
  );
  const seed = parseSeed(stringOption(values, 'seed'), 1);
  const chosen = profileChoice(stringOption(values, 'profile'), setsOption(values));
  const profile = chosen.profile ?? XEON_X5570;
  if (mode !== undefined) {
    const why = refusedModes([profile], [mode]);
    if (why !== null) throw new UsageError(why);
  }
  return {
    // Without --mode, every mode this profile's machine has.
    modes: mode !== undefined ? [mode] : [...modesFor(profile, allModes)],
    workload,
    ...parseRunLength(values, RUN_DEFAULTS),
    seed,
    runs: parseRuns(stringOption(values, 'runs'), seed),
    jobs: parseNumber(stringOption(values, 'jobs'), 'jobs', defaultJobs(), 1, { integer: true, max: 256 }),
    ...(interval !== undefined ? { interruptIntervalUs: interval } : {}),
    ...(guests !== undefined ? { guests } : {}),
    ...chosen,
    json: values.json === true,
  };
}

/** The machine of each mode `run` runs. */
export function runMachineConfigs(options: RunCommandOptions): MachineConfig[] {
  return options.modes.map((mode) => ({
    mode,
    workload: options.workload,
    seed: options.seed,
    ...(options.interruptIntervalUs !== undefined
      ? { interruptIntervalUs: options.interruptIntervalUs }
      : {}),
    ...(options.guests !== undefined ? { guests: options.guests } : {}),
    ...(profileRef(options.profile) !== undefined ? { profile: options.profile! } : {}),
  }));
}

/** The runs of `run` with several seeds: mode-major, then seed (the first seed's are runMachineConfigs). */
export function runCommandJobs(options: RunCommandOptions): RunJob[] {
  return options.modes.flatMap((mode) =>
    runSeeds(options.seed, options.runs).map((seed) => ({
      workload: options.workload,
      mode,
      seed,
      durationMs: options.durationMs,
      warmupMs: options.warmupMs,
      ...(options.interruptIntervalUs !== undefined
        ? { interruptIntervalUs: options.interruptIntervalUs }
        : {}),
      ...(options.guests !== undefined ? { guests: options.guests } : {}),
      ...profileField(options.profile),
    })),
  );
}

/** The flags that gave a machine configuration, for a message (`--mode baseline --guests 2`). */
function flags(config: MachineConfig): string {
  const parts = [`--mode ${config.mode}`, `--workload ${config.workload ?? RUN_DEFAULTS.workload}`];
  if (config.seed !== undefined) parts.push(`--seed ${config.seed}`);
  if (config.profile !== undefined) parts.push(`--profile ${config.profile.name}`);
  if (config.guests !== undefined) parts.push(`--guests ${config.guests}`);
  if (config.interruptIntervalUs !== undefined)
    parts.push(`--interrupt-interval ${config.interruptIntervalUs}`);
  return parts.join(' ');
}

/**
 * Checks each configuration with the machine's own validation (which builds nothing), so
 * that a combination the machine rejects is a usage error before anything runs.
 */
function checkMachineConfigs(configs: readonly MachineConfig[]): void {
  for (const config of configs) {
    try {
      validateMachineConfig(config);
    } catch (error) {
      if (error instanceof UserError) {
        throw new UsageError(`the machine rejects ${flags(config)}: ${error.message}`);
      }
      throw error;
    }
  }
}

function noArguments(command: string, args: readonly string[]): void {
  if (args.length > 0) {
    throw new UsageError(`${command} takes no arguments, got '${args[0]}': use exitless ${command} alone`);
  }
}

/**
 * Parses and checks a whole command line (`process.argv.slice(2)`): a Command whose every
 * value the machine accepts, or a UsageError whose message names the argument at fault and
 * what it accepts. Runs nothing and writes nothing.
 */
export function parseCommand(argv: readonly string[]): Command {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run': {
      const options = parseRunArgs(rest);
      checkMachineConfigs(runMachineConfigs(options));
      return { kind: 'run', options };
    }
    case 'reproduce': {
      const options = parseReproduceArgs(rest);
      checkMachineConfigs(reproduceCheckJobs(options).map(machineConfig));
      return { kind: 'reproduce', options };
    }
    case 'sweep': {
      const options = parseSweepArgs(rest);
      checkSweepValues(options);
      return { kind: 'sweep', options };
    }
    case 'sensitivity': {
      const options = parseSensitivityArgs(rest);
      checkMachineConfigs(allSensitivityJobs(options).map(machineConfig));
      return { kind: 'sensitivity', options };
    }
    case 'trace': {
      const options = parseTraceArgs(rest);
      checkMachineConfigs([traceMachineConfig(options)]);
      return { kind: 'trace', options };
    }
    case 'profile': {
      const values = parseOptions('profile', rest, {
        profile: { type: 'string', value: 'NAME|FILE' },
        set: SET_OPTION,
        json: { type: 'boolean' },
      });
      return {
        kind: 'profile',
        json: values.json === true,
        profile: withSets(profileOption(stringOption(values, 'profile')), setsOption(values)),
      };
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      noArguments(command ?? 'help', rest);
      return { kind: 'help' };
    default:
      throw new UsageError(
        `unknown command '${command.length > 40 ? `${command.slice(0, 40)}…` : command}': use one of ${COMMANDS.join(', ')}`,
      );
  }
}

/** A Node system error (a path that cannot be written: ENOTDIR, EACCES, EISDIR…): the user's to fix. */
function isSystemError(e: unknown): e is Error & { readonly code: string; readonly syscall: string } {
  return (
    e instanceof Error &&
    typeof Reflect.get(e, 'code') === 'string' &&
    typeof Reflect.get(e, 'syscall') === 'string'
  );
}

/** A message on one line, so that stderr holds exactly one line per error. */
function oneLine(message: string): string {
  return message.replace(/\s*[\r\n]+\s*/g, ' ');
}

/**
 * How the command reports an error the user caused: one line for stderr and the exit code —
 * 2 for any UserError (a bad argument, or a configuration the machine or one of its parts
 * rejects, recognised by type whichever package threw it), 1 for a path the system would
 * not write. Null for anything else: a bug, which keeps its stack trace.
 */
export function userFailure(error: unknown): { readonly message: string; readonly exitCode: number } | null {
  if (error instanceof UserError) {
    const hint = error instanceof UsageError ? " (see 'exitless help')" : '';
    return { message: `exitless: ${oneLine(error.message)}${hint}`, exitCode: 2 };
  }
  if (isSystemError(error)) return { message: `exitless: ${oneLine(error.message)}`, exitCode: 1 };
  return null;
}
