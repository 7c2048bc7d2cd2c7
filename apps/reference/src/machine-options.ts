import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type CalibrationProfile,
  type MachineFile,
  MachineFileError,
  machineFileProfile,
  type PhaseMode,
  PROFILES,
  parseMachineFile,
  setMachineFileField,
  type WorkloadOptions,
  XEON_X5570,
} from '@exitless/machine';
import { type ParsedOptions, stringOption, UsageError } from './args.js';
import { machineSetsOption, type ProfileSet, profileChoice, type SetItem, withSets } from './profiles.js';

/**
 * `--machine FILE` and the `--set`s that name machine fields: what they give a command that runs
 * machines, and how the command's own options take over. The rule, for every command:
 *
 * - `--machine FILE` gives the machine (checked on its own first, as `exitless machine --check`
 *   would); `--set FIELD=VALUE` replaces one of its fields (or, without a file, one of the
 *   command's default machine).
 * - An option of the command given on the line replaces the field it names: --mode (mode),
 *   --workload (workload), --guests (guests), --seed (seed), --interrupt-interval
 *   (interruptIntervalUs), --profile (profile, its `set` included; --set's profile entries then
 *   apply to the profile given). The same field given by such an option and by --set is an error.
 * - reproduce, sweep and sensitivity: the file's mode and workload are the defaults of their
 *   axes (--modes, --workloads, sweep's --workload); an axis given replaces them, and the modes
 *   a command always adds (bare-metal, baseline) are added as usual. sweep's parameter replaces
 *   the field it sweeps (interruptIntervalUs).
 * - A file's guestModes belongs to its mode: a run in another mode (--mode, an axis, a mode the
 *   command adds) puts every guest in that mode. guestModes given by --set applies to every run.
 *   Likewise a file's guestWorkloads belongs to its workload: a run of another workload (from
 *   --workload or an axis) runs it on every guest; guestWorkloads given by --set applies to
 *   every run.
 */

/** `--machine FILE`'s option spec, for parseOptions. */
export const MACHINE_OPTION = { type: 'string', value: 'FILE' } as const;

/** Fields of the machine a job carries beyond its workload, mode, seed and profile (plain data, for a worker thread). */
export interface MachineFields {
  readonly guests?: number;
  readonly interruptIntervalUs?: number;
  readonly workloadOptions?: WorkloadOptions;
  readonly guestModes?: readonly string[];
  readonly guestWorkloads?: readonly string[];
  readonly phases?: PhaseMode;
  readonly guestMemoryMiB?: number;
  readonly guestApicMode?: 'xapic' | 'x2apic';
  readonly nics?: NonNullable<MachineFile['nics']>;
  readonly guestNics?: readonly number[];
  readonly addresses?: NonNullable<MachineFile['addresses']>;
}

// Every field of a machine file but those a job carries on its own (mode, workload, seed,
// profile) must be a MachineField, or a file's field would be dropped on the way to the run.
const _carriesEveryField: [Exclude<keyof MachineFile, 'mode' | 'workload' | 'seed' | 'profile'>] extends [
  keyof MachineFields,
]
  ? true
  : never = true;
void _carriesEveryField;

/** The fields MachineFields carries, in the file's order. */
const CARRIED: readonly (keyof MachineFields)[] = [
  'workloadOptions',
  'guests',
  'guestModes',
  'guestWorkloads',
  'phases',
  'guestMemoryMiB',
  'guestApicMode',
  'interruptIntervalUs',
  'nics',
  'guestNics',
  'addresses',
];

/** What --machine and --set's machine fields gave a command. */
export interface MachineBase {
  /** The file's fields (but its profile) with --set's machine fields applied, each checked on its own. */
  readonly fields: Partial<Omit<MachineFile, 'profile'>>;
  /** The file's profile (its `set` applied) or --set profile's; absent: none was given. */
  readonly profile?: CalibrationProfile;
  /** The machine fields --set gave. */
  readonly setKeys: readonly string[];
  /** The arguments that gave them, for messages (`--machine m.yaml --set guests=2`); '' when none. */
  readonly given: string;
}

/** The machine fields a command carries to its runs, and the mode a file's guestModes belongs to. */
export interface MachineSpec {
  /** The mode `fields.guestModes` belongs to (absent: it applies to every run). */
  readonly mode?: string;
  /** The workload `fields.guestWorkloads` belongs to (absent: it applies to every run). */
  readonly workload?: string;
  readonly fields: MachineFields;
  /** The arguments that gave them, for messages. */
  readonly given: string;
}

/** `--machine FILE`, read and checked as a whole (a MachineFileError becomes a UsageError naming --machine). */
function readMachine(file: string): { fields: Partial<MachineFile>; profile?: CalibrationProfile } {
  const blame = (error: unknown): never => {
    if (error instanceof MachineFileError) {
      const l = error.location;
      const at =
        l.line !== undefined
          ? ` (line ${l.line}${l.column !== undefined ? `, column ${l.column}` : ''})`
          : '';
      throw new UsageError(`--machine ${file}${at}: ${error.detail}`);
    }
    throw error;
  };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--machine must name a readable machine file (YAML or JSON), got '${file}': ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  try {
    const { profile, ...fields } = parseMachineFile(text, { path: file });
    return { fields: fields as Partial<MachineFile>, ...(profile !== undefined ? { profile } : {}) };
  } catch (error) {
    return blame(error);
  }
}

/**
 * What --machine and the --set machine fields give (an empty base when neither is given).
 * `flags` maps the fields the command's own options set to those options, for the rule that one
 * field is given once: `{ guests: 'guests', interruptIntervalUs: 'interrupt-interval' }`.
 */
export function machineBase(
  values: ParsedOptions,
  flags: Readonly<Partial<Record<keyof MachineFile, string>>> = {},
): MachineBase {
  const file = stringOption(values, 'machine');
  if (file !== undefined && file.trim() === '') throw new UsageError('--machine must name a machine file');
  const read = file !== undefined ? readMachine(file) : { fields: {} };
  let fields: Partial<MachineFile> = read.fields;
  let profile: CalibrationProfile | undefined = read.profile;
  const sets: SetItem[] = machineSetsOption(values);
  for (const { key, text } of sets) {
    const flag = flags[key as keyof MachineFile];
    if (flag !== undefined && values[flag] !== undefined) {
      throw new UsageError(
        `--set ${key}=${text} and --${flag} both give ${key}: give it once, with one of them`,
      );
    }
    try {
      if (key === 'profile') {
        // A path on the command line is the working directory's, not the machine file's.
        const ref = Object.hasOwn(PROFILES, text) || text.trim() === '' ? text : resolve(text);
        profile = machineFileProfile(ref);
      } else {
        fields = setMachineFileField(fields, key, text);
      }
    } catch (error) {
      if (error instanceof MachineFileError) throw new UsageError(`--set ${key}=${text}: ${error.detail}`);
      throw error;
    }
  }
  const given = [
    ...(file !== undefined ? [`--machine ${file}`] : []),
    ...sets.map((s) => `--set ${s.key}=${s.text}`),
  ].join(' ');
  return {
    fields,
    ...(profile !== undefined ? { profile } : {}),
    setKeys: sets.map((s) => s.key),
    given,
  };
}

/**
 * The profile of a command with a machine base: `--profile` when given (the file's profile then
 * not used), else the machine's profile, else the default; the `--set`s of profile entries on
 * top (with the file's own `profile.set`, in one NAME[…]). `{}` for the default profile itself.
 */
export function machineProfileChoice(
  profileFlag: string | undefined,
  base: MachineBase,
  sets: readonly ProfileSet[],
): { readonly profile?: CalibrationProfile } {
  let chosen: { readonly profile?: CalibrationProfile };
  if (profileFlag !== undefined || base.profile === undefined) chosen = profileChoice(profileFlag, sets);
  else {
    const profile = withSets(base.profile, sets);
    chosen = profile !== XEON_X5570 ? { profile } : {};
  }
  checkSetKeys(base, [chosen.profile ?? XEON_X5570]);
  return chosen;
}

/**
 * A `--set` key is a machine field or a profile entry, never both: a profile file could hold an
 * entry named like a field, which is reported rather than guessed at.
 */
export function checkSetKeys(base: MachineBase, profiles: readonly CalibrationProfile[]): void {
  for (const profile of profiles) {
    const both = base.setKeys.find((k) => Object.hasOwn(profile.entries, k));
    if (both !== undefined) {
      throw new UsageError(
        `--set ${both} names a machine field and an entry of calibration profile '${profile.name}': give the entry another name in the profile file`,
      );
    }
  }
}

/**
 * The machine fields a command carries to its runs, `omit` left out (those the command's own
 * options carry): the file's guestModes belongs to the file's mode (a run in another mode puts
 * every guest in its own), --set guestModes to every run.
 */
export function machineSpec(
  base: MachineBase,
  omit: readonly (keyof MachineFields)[] = [],
): MachineSpec | undefined {
  const fields: Record<string, unknown> = {};
  for (const key of CARRIED) {
    const value = base.fields[key];
    if (value !== undefined && !omit.includes(key)) fields[key] = value;
  }
  if (Object.keys(fields).length === 0 && base.given === '') return undefined;
  const owner = base.setKeys.includes('guestModes') ? undefined : base.fields.mode;
  const workloadOwner = base.setKeys.includes('guestWorkloads')
    ? undefined
    : (base.fields.workload ?? (base.fields.guestWorkloads !== undefined ? 'netperf-tcp-stream' : undefined));
  return {
    ...(owner !== undefined ? { mode: owner } : {}),
    ...(workloadOwner !== undefined ? { workload: workloadOwner } : {}),
    fields: fields as MachineFields,
    given: base.given,
  };
}

/**
 * `{ machine }` for a run in `mode` of `workload` (the spec's fields; guestModes and
 * guestWorkloads only where they belong), or `{}`.
 */
export function machineFieldsFor(
  spec: MachineSpec | undefined,
  mode: string,
  workload: string,
): { readonly machine?: MachineFields } {
  if (spec === undefined) return {};
  const { guestModes, guestWorkloads, ...rest } = spec.fields;
  const fields: MachineFields = {
    ...rest,
    ...(guestModes !== undefined && (spec.mode === undefined || spec.mode === mode) ? { guestModes } : {}),
    ...(guestWorkloads !== undefined && (spec.workload === undefined || spec.workload === workload)
      ? { guestWorkloads }
      : {}),
  };
  return Object.keys(fields).length > 0 ? { machine: fields } : {};
}

/** ` (with --machine m.yaml --set guests=2)` for a message, or ''. */
export function givenNote(spec: { readonly given: string } | undefined): string {
  return spec !== undefined && spec.given !== '' ? ` (with ${spec.given})` : '';
}

/** What `--machine FILE` does, for usage texts. */
export const MACHINE_USAGE =
  "--machine FILE takes the machine from a machine file (YAML or JSON; 'exitless machine --print' writes one to start from); the options given replace the fields they name (--mode, --workload, --guests, --seed, --interrupt-interval, --profile).";

/** The axes rule, for the usage texts of reproduce, sweep and sensitivity. */
export const MACHINE_AXES_USAGE =
  "--machine FILE takes the machine from a machine file (YAML or JSON); its mode and workload are the defaults of the command's mode and workload axes (the options replace them), and its guestModes apply to the runs in its mode.";
