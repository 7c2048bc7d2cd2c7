import {
  type CalibrationProfile,
  explicitMachineConfig,
  MACHINE_LIMITS,
  type MachineConfig,
  type MachineFileFormat,
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
import {
  givenNote,
  MACHINE_OPTION,
  type MachineSpec,
  machineBase,
  machineFieldsFor,
  machineProfileChoice,
  machineSpec,
} from './machine-options.js';
import { availableModes, availableWorkloads, modesFor, refusedModes } from './modes.js';
import { defaultJobs } from './pool.js';
import {
  machineSetsOption,
  profileField,
  profileOption,
  profileRef,
  SET_OPTION,
  setsOption,
  withSets,
} from './profiles.js';
import { parseWorkerArgs, type WorkerOptions } from './queue-options.js';
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
  /** The machine's other fields, from --machine and --set (absent: the default machine's). */
  readonly machine?: MachineSpec;
  readonly json: boolean;
}

/** A command line, parsed and checked: what the command will do, with every value in range. */
export type Command =
  | { readonly kind: 'run'; readonly options: RunCommandOptions }
  | { readonly kind: 'reproduce'; readonly options: ReproduceOptions }
  | { readonly kind: 'sweep'; readonly options: SweepOptions }
  | { readonly kind: 'sensitivity'; readonly options: SensitivityOptions }
  | { readonly kind: 'trace'; readonly options: TraceOptions }
  | { readonly kind: 'worker'; readonly options: WorkerOptions }
  | { readonly kind: 'profile'; readonly json: boolean; readonly profile: CalibrationProfile }
  | {
      readonly kind: 'machine';
      readonly action: 'print';
      readonly format: MachineFileFormat;
      /** The machine to print, every default explicit. */
      readonly config: MachineConfig;
    }
  | { readonly kind: 'machine'; readonly action: 'check'; readonly file: string }
  | {
      readonly kind: 'help';
      /** The command whose usage to print (`exitless run --help`, `exitless help run`); absent: every command's. */
      readonly command?: CommandName;
    };

/** A command's name: the first argument of a command line. */
export type CommandName =
  | 'run'
  | 'reproduce'
  | 'sweep'
  | 'sensitivity'
  | 'trace'
  | 'worker'
  | 'profile'
  | 'machine'
  | 'help';

/** The commands, as `exitless help` lists them. */
export const COMMANDS: readonly CommandName[] = [
  'run',
  'reproduce',
  'sweep',
  'sensitivity',
  'trace',
  'worker',
  'profile',
  'machine',
  'help',
];

/** `run`'s defaults. */
export const RUN_DEFAULTS: {
  readonly workload: string;
  readonly durationMs: number;
  readonly warmupMs: number;
} = { workload: 'netperf-tcp-stream', durationMs: 100, warmupMs: 20 };

/** The fields of the machine `run`'s options give, with the option that gives each (the rest come from --machine and --set). */
const RUN_FIELD_FLAGS = {
  mode: 'mode',
  workload: 'workload',
  guests: 'guests',
  seed: 'seed',
  interruptIntervalUs: 'interrupt-interval',
  profile: 'profile',
} as const;

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
    machine: MACHINE_OPTION,
    set: SET_OPTION,
    json: { type: 'boolean' },
  });
  const base = machineBase(values, RUN_FIELD_FLAGS);
  const workloads = availableWorkloads();
  const workload = stringOption(values, 'workload') ?? base.fields.workload ?? RUN_DEFAULTS.workload;
  if (!workloads.includes(workload)) {
    throw new UsageError(`unknown --workload '${workload}': use one of ${workloads.join(', ')}`);
  }
  const allModes = availableModes();
  const mode = stringOption(values, 'mode') ?? base.fields.mode;
  if (mode !== undefined && !allModes.includes(mode)) {
    throw new UsageError(`unknown --mode '${mode}': use one of ${allModes.join(', ')}`);
  }
  const guestsFlag = parseInRange(stringOption(values, 'guests'), 'guests', MACHINE_LIMITS.guests);
  const guests = guestsFlag ?? base.fields.guests;
  if (guests !== undefined && guests > 1 && mode === undefined) {
    const given = guestsFlag !== undefined ? `--guests ${guests}` : `--set guests=${guests}`;
    throw new UsageError(
      `${given} needs --mode: without it every mode runs, and bare-metal is one OS on one core; use --mode with one of ${allModes.filter((m) => m !== 'bare-metal').join(', ')}`,
    );
  }
  const interval =
    parseInRange(
      stringOption(values, 'interrupt-interval'),
      'interrupt-interval',
      MACHINE_LIMITS.interruptIntervalUs,
    ) ?? base.fields.interruptIntervalUs;
  const seed = parseSeed(stringOption(values, 'seed'), base.fields.seed ?? 1);
  const chosen = machineProfileChoice(stringOption(values, 'profile'), base, setsOption(values));
  const profile = chosen.profile ?? XEON_X5570;
  if (mode !== undefined) {
    const why = refusedModes([profile], [mode]);
    if (why !== null) throw new UsageError(why);
  }
  const machine = machineSpec(base, ['guests', 'interruptIntervalUs']);
  return {
    // Without --mode (or a machine's mode), every mode this profile's machine has.
    modes: mode !== undefined ? [mode] : [...modesFor(profile, allModes)],
    workload,
    ...parseRunLength(values, RUN_DEFAULTS),
    seed,
    runs: parseRuns(stringOption(values, 'runs'), seed),
    jobs: parseNumber(stringOption(values, 'jobs'), 'jobs', defaultJobs(), 1, { integer: true, max: 256 }),
    ...(interval !== undefined ? { interruptIntervalUs: interval } : {}),
    ...(guests !== undefined ? { guests } : {}),
    ...chosen,
    ...(machine !== undefined ? { machine } : {}),
    json: values.json === true,
  };
}

/** The machine of each mode `run` runs. */
export function runMachineConfigs(options: RunCommandOptions): MachineConfig[] {
  return options.modes.map((mode) => ({
    ...machineFieldsFor(options.machine, mode, options.workload).machine,
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
      ...machineFieldsFor(options.machine, mode, options.workload),
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
function checkMachineConfigs(configs: readonly MachineConfig[], machine?: MachineSpec): void {
  for (const config of configs) {
    try {
      validateMachineConfig(config);
    } catch (error) {
      if (error instanceof UserError) {
        throw new UsageError(`the machine rejects ${flags(config)}${givenNote(machine)}: ${error.message}`);
      }
      throw error;
    }
  }
}

function isCommandName(name: string | undefined): name is CommandName {
  return COMMANDS.some((c) => c === name);
}

/** `--help` or `-h` among a command's options (before a `--`, after which every argument is positional). */
function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** A command name for a message: long or multi-line junk shortened to its start. */
function quoted(name: string): string {
  return `'${name.length > 40 ? `${name.slice(0, 40)}…` : name}'`;
}

/** `exitless help [COMMAND]` (also `exitless --help [COMMAND]`): every command's usage, or COMMAND's. */
function parseHelpArgs(args: readonly string[]): Command {
  const [name, extra] = args.filter((a) => a !== '--help' && a !== '-h');
  if (name === undefined) return { kind: 'help' };
  if (!isCommandName(name)) {
    throw new UsageError(
      `help: unknown command ${quoted(name)}: use exitless help with one of ${COMMANDS.join(', ')}, or alone`,
    );
  }
  if (extra !== undefined) {
    throw new UsageError(
      `help takes one command name at most, got ${quoted(extra)} after '${name}': use exitless help ${name}`,
    );
  }
  return name === 'help' ? { kind: 'help' } : { kind: 'help', command: name };
}

/**
 * Parses and checks a whole command line (`process.argv.slice(2)`): a Command whose every
 * value the machine accepts, or a UsageError whose message names the argument at fault and
 * what it accepts. Runs nothing and writes nothing.
 */
export function parseCommand(argv: readonly string[]): Command {
  const [command, ...rest] = argv;
  // `exitless run --help`: the command's usage, whatever else the line holds.
  if (isCommandName(command) && command !== 'help' && asksForHelp(rest)) return { kind: 'help', command };
  switch (command) {
    case 'run': {
      const options = parseRunArgs(rest);
      checkMachineConfigs(runMachineConfigs(options), options.machine);
      return { kind: 'run', options };
    }
    case 'reproduce': {
      const options = parseReproduceArgs(rest);
      checkMachineConfigs(reproduceCheckJobs(options).map(machineConfig), options.machine);
      return { kind: 'reproduce', options };
    }
    case 'sweep': {
      const options = parseSweepArgs(rest);
      checkSweepValues(options);
      return { kind: 'sweep', options };
    }
    case 'sensitivity': {
      const options = parseSensitivityArgs(rest);
      checkMachineConfigs(allSensitivityJobs(options).map(machineConfig), options.machine);
      return { kind: 'sensitivity', options };
    }
    case 'trace': {
      const options = parseTraceArgs(rest);
      checkMachineConfigs([traceMachineConfig(options)], options.machine);
      return { kind: 'trace', options };
    }
    case 'worker':
      return { kind: 'worker', options: parseWorkerArgs(rest) };
    case 'profile': {
      const values = parseOptions('profile', rest, {
        profile: { type: 'string', value: 'NAME|FILE' },
        set: SET_OPTION,
        json: { type: 'boolean' },
      });
      const field = machineSetsOption(values)[0];
      if (field !== undefined) {
        throw new UsageError(
          `--set ${field.key}=${field.text} sets a machine field, and 'exitless profile' shows a profile: use --set with profile entries here, machine fields with 'exitless machine --print'`,
        );
      }
      return {
        kind: 'profile',
        json: values.json === true,
        profile: withSets(profileOption(stringOption(values, 'profile')), setsOption(values)),
      };
    }
    case 'machine':
      return parseMachineArgs(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return parseHelpArgs(rest);
    default:
      throw new UsageError(`unknown command ${quoted(command)}: use one of ${COMMANDS.join(', ')}`);
  }
}

/** The mode of the machine `exitless machine --print` starts from (trace's default). */
export const PRINT_DEFAULT_MODE = 'baseline';

/**
 * `exitless machine --print [--format yaml|json] [--machine FILE] [--set …]`: the machine (the
 * default one in PRINT_DEFAULT_MODE, or --machine's, with the --sets) with every default
 * explicit; `exitless machine --check FILE`: the file to check.
 */
function parseMachineArgs(args: readonly string[]): Command {
  const values = parseOptions('machine', args, {
    print: { type: 'boolean' },
    check: { type: 'string', value: 'FILE' },
    format: { type: 'string', value: 'yaml|json' },
    machine: MACHINE_OPTION,
    set: SET_OPTION,
  });
  const check = stringOption(values, 'check');
  if (check !== undefined) {
    const other = ['print', 'format', 'machine', 'set'].find((o) => values[o] !== undefined);
    if (other !== undefined) {
      throw new UsageError(`--check FILE takes no --${other}: use exitless machine --check FILE alone`);
    }
    if (check.trim() === '') throw new UsageError('--check must name a machine file');
    return { kind: 'machine', action: 'check', file: check };
  }
  if (values.print !== true) {
    throw new UsageError(
      "exitless machine needs --print (the machine as a file to start from) or --check FILE: use 'exitless machine --print' or 'exitless machine --check FILE'",
    );
  }
  const format = stringOption(values, 'format') ?? 'yaml';
  if (format !== 'yaml' && format !== 'json') {
    throw new UsageError(`--format must be yaml or json, got '${format}'`);
  }
  const base = machineBase(values);
  const chosen = machineProfileChoice(undefined, base, setsOption(values));
  const config: MachineConfig = {
    ...base.fields,
    mode: base.fields.mode ?? PRINT_DEFAULT_MODE,
    ...chosen,
  };
  try {
    return { kind: 'machine', action: 'print', format, config: explicitMachineConfig(config) };
  } catch (error) {
    if (error instanceof UserError) {
      throw new UsageError(
        `the machine rejects ${base.given !== '' ? base.given : 'its default'}: ${error.message}`,
      );
    }
    throw error;
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
 * not write. Null for anything else: a bug, which keeps its stack trace. A UsageError's line
 * ends with where to read the usage: `command`'s own help when the line named a command
 * (`exitless run --help`), the whole help otherwise.
 */
export function userFailure(
  error: unknown,
  command?: string,
): { readonly message: string; readonly exitCode: number } | null {
  if (error instanceof UserError) {
    const help =
      isCommandName(command) && command !== 'help' ? `exitless ${command} --help` : 'exitless help';
    const hint = error instanceof UsageError ? ` (see '${help}')` : '';
    return { message: `exitless: ${oneLine(error.message)}${hint}`, exitCode: 2 };
  }
  if (isSystemError(error)) return { message: `exitless: ${oneLine(error.message)}`, exitCode: 1 };
  return null;
}
