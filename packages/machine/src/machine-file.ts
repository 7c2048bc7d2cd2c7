/**
 * Machine files: a machine described as data, in YAML or JSON, one field for each data field
 * of MachineConfig (its functions — strategies, lapicFactory, guestOverride, tracer — are code,
 * not data, and stay out). The file's schema (zod, strict) checks each field on its own, with
 * the ranges and names the machine itself uses (MACHINE_LIMITS, WORKLOAD_OPTIONS_SCHEMA,
 * BUILTIN_MODES, WORKLOADS, PHASE_MODES, PROFILES); then validateMachineConfig checks the fields
 * against each other, so that rule stays in one place. Every error is a MachineFileError naming
 * the file, the line and column where they are known, the field's path and what it accepts.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import type * as Yaml from 'yaml';
import { z } from 'zod';
import {
  APIC_MODES,
  BUILTIN_MODES,
  MACHINE_LIMITS,
  MachineConfigError,
  validateMachineConfig,
} from './config.js';
import {
  ADDRESS_RANGE,
  type AddressMap,
  DEFAULT_ADDRESS_MAP,
  MAX_NICS,
  NIC_LIMITS,
  type NicLayout,
} from './layout.js';
import type { MachineConfig } from './machine.js';
import { PHASE_MODES, type PhaseMode } from './phases.js';
import {
  type CalibrationProfile,
  PROFILES,
  ProfileError,
  profileSetsOf,
  profileValue,
  profileWithSets,
  validateProfile,
  withOverrides,
} from './profile.js';
import { describeRange, describeValue, inRange, isRecord, type NumberRange } from './validate.js';
import {
  WORKLOAD_OPTIONS_SCHEMA,
  WORKLOADS,
  type WorkloadOptions,
  WorkloadOptionsError,
} from './workload.js';

let yamlModule: typeof Yaml | undefined;

/** The yaml library, loaded when a file is first read or written rather than with the package (it takes tens of milliseconds). */
function yaml(): typeof Yaml {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return yamlModule;
}

// ─── The file ───────────────────────────────────────────────────────────────────────

/** How a machine file is written: YAML (a superset of JSON) or JSON. */
export type MachineFileFormat = 'yaml' | 'json';

/** A machine file's profile with entries set: `{ name, set: { 'cpu.hz': 2.5e9 } }`. */
export interface MachineFileProfile {
  /** A shipped profile's name (PROFILES), or the path of a JSON profile file, relative to the machine file. */
  readonly name: string;
  /** Entries of that profile and the values that replace the profile's (profileWithSets). */
  readonly set?: Readonly<Record<string, number>>;
}

/**
 * A machine file's data: MachineConfig's data fields, each with MachineConfig's meaning, except
 * `profile`, which names a profile (a shipped one or a JSON file) instead of holding one.
 */
export interface MachineFile {
  /** See {@link MachineConfig.mode}. */
  readonly mode: string;
  /** See {@link MachineConfig.workload}. */
  readonly workload?: string;
  /** See {@link MachineConfig.workloadOptions}. */
  readonly workloadOptions?: WorkloadOptions;
  /** See {@link MachineConfig.guests}. */
  readonly guests?: number;
  /** See {@link MachineConfig.guestModes}. */
  readonly guestModes?: readonly string[];
  /** See {@link MachineConfig.guestWorkloads}. */
  readonly guestWorkloads?: readonly string[];
  /** See {@link MachineConfig.seed}. */
  readonly seed?: number;
  /** See {@link MachineConfig.phases}. */
  readonly phases?: PhaseMode;
  /**
   * A shipped profile's name or a JSON profile file's path, or {@link MachineFileProfile}: a profile with
   * some entries set.
   */
  readonly profile?: string | MachineFileProfile;
  /** See {@link MachineConfig.guestMemoryMiB}. */
  readonly guestMemoryMiB?: number;
  /** See {@link MachineConfig.guestApicMode}. */
  readonly guestApicMode?: 'xapic' | 'x2apic';
  /** See {@link MachineConfig.interruptIntervalUs}. */
  readonly interruptIntervalUs?: number;
  /** See {@link MachineConfig.nics}. */
  readonly nics?: readonly Partial<NicLayout>[];
  /** See {@link MachineConfig.guestNics}. */
  readonly guestNics?: readonly number[];
  /** See {@link MachineConfig.addresses}. */
  readonly addresses?: Partial<AddressMap>;
}

/** MachineConfig's fields that hold code, which a file cannot hold. */
type CodeField = 'strategies' | 'lapicFactory' | 'guestOverride' | 'tracer';
const CODE_FIELDS: readonly CodeField[] = ['strategies', 'lapicFactory', 'guestOverride', 'tracer'];

/** A machine file's fields, one per data field of MachineConfig. */
type FileField = Exclude<keyof MachineConfig, CodeField>;

// A data field added to MachineConfig must be added to MachineFile too (and the other way round).
const _sameFields: [FileField, keyof MachineFile] extends [keyof MachineFile, FileField] ? true : never =
  true;
void _sameFields;

// ─── Errors ─────────────────────────────────────────────────────────────────────────

/** Where in a machine file something is. */
export interface MachineFileLocation {
  /** The file's path, when the text came from one. */
  readonly file?: string;
  /** 1-based line and column, when known. */
  readonly line?: number;
  /** 1-based column, when known. */
  readonly column?: number;
  /** The field at fault (`workloadOptions.apache.concurrency`, `guestModes[1]`), when one is. */
  readonly field?: string;
}

/**
 * Thrown for a machine file that cannot be read or describes no machine: a syntax error (with
 * its line and column), a field of the wrong type or out of range, a field the file cannot have
 * (named by its path, with what it accepts), a profile that cannot be loaded, or fields the
 * machine rejects together. A MachineConfigError, so a front end that recognises those (or any
 * UserError) recognises it.
 */
export class MachineFileError extends MachineConfigError {
  /** What is wrong, without where (`guestModes[1] must be one of …, got 'nope'`). */
  readonly detail: string;
  /** Where in the file the fault is. */
  readonly location: MachineFileLocation;

  constructor(detail: string, location: MachineFileLocation = {}) {
    super(`${describeLocation(location)}: ${detail}`);
    this.name = 'MachineFileError';
    this.detail = detail;
    this.location = location;
  }
}

/** `machine file two-guests.yaml, line 4, column 3`. */
function describeLocation(l: MachineFileLocation): string {
  const at =
    l.line !== undefined ? `, line ${l.line}${l.column !== undefined ? `, column ${l.column}` : ''}` : '';
  return `machine file${l.file !== undefined ? ` ${l.file}` : ''}${at}`;
}

// ─── The schema ─────────────────────────────────────────────────────────────────────

type Path = readonly (string | number)[];

/** `workloadOptions.apache.concurrency`, `guestModes[1]`, `profile.set['cpu.hz']`. */
export function fieldPath(path: Path): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(p)) out += out === '' ? p : `.${p}`;
    else out += `['${p}']`;
  }
  return out;
}

/** "is required: use …" for an absent required field, else "must be …, got …". */
function mustBe(accepts: string, input: unknown): string {
  return input === undefined
    ? `is required: use ${accepts}`
    : `must be ${accepts}, got ${describeValue(input)}`;
}

/** A number in one of the machine's ranges; the message says the range. */
function numberIn(range: NumberRange) {
  return z.custom<number>((v) => inRange(v, range), {
    error: (issue) => mustBe(describeRange(range), issue.input),
  });
}

/** One of a list of names; the message lists them. */
function oneOf<T extends string>(names: readonly T[], what = 'one of') {
  return z.custom<T>((v) => typeof v === 'string' && (names as readonly string[]).includes(v), {
    error: (issue) => mustBe(`${what} ${names.join(', ')}`, issue.input),
  });
}

/** A mapping with exactly these fields (strict: any other key is an error that lists them). */
function mapping<S extends z.ZodRawShape>(shape: S) {
  const keys = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `use ${keys}` : mustBe(`a mapping of ${keys}`, issue.input),
  });
}

/** The modes a guest of a VM may run (guestModes): every built-in mode but bare metal. */
const GUEST_MODES: readonly string[] = BUILTIN_MODES.filter((m) => m !== 'bare-metal');

const PROFILE_ACCEPTS = `a shipped profile's name (${Object.keys(PROFILES).join(', ')}) or the path of a JSON profile file, relative to the machine file`;

const profileName = z.custom<string>((v) => typeof v === 'string' && v.trim() !== '', {
  error: (issue) => mustBe(PROFILE_ACCEPTS, issue.input),
});

const entryValue = z.custom<number>((v) => typeof v === 'number' && Number.isFinite(v), {
  error: (issue) => mustBe("a finite number (the entry's value, checked against its range)", issue.input),
});

const workloadOptionsShape = Object.fromEntries(
  Object.entries(WORKLOAD_OPTIONS_SCHEMA).map(([section, fields]) => [
    section,
    mapping(
      Object.fromEntries(Object.entries(fields).map(([name, range]) => [name, numberIn(range).optional()])),
    ).optional(),
  ]),
);

/**
 * The schema of every field, by name, in the order a file is written. Typed so that each data
 * field of MachineConfig has one.
 */
const FIELD_SCHEMAS: { readonly [K in FileField]-?: z.ZodType } = {
  mode: oneOf(BUILTIN_MODES),
  workload: oneOf(WORKLOADS).optional(),
  workloadOptions: mapping(workloadOptionsShape).optional(),
  guests: numberIn(MACHINE_LIMITS.guests).optional(),
  guestModes: z
    .array(oneOf(GUEST_MODES), {
      error: (issue) =>
        mustBe(`a list of modes, one per guest (each one of ${GUEST_MODES.join(', ')})`, issue.input),
    })
    .optional(),
  guestWorkloads: z
    .array(oneOf(WORKLOADS), {
      error: (issue) =>
        mustBe(`a list of workloads, one per guest (each one of ${WORKLOADS.join(', ')})`, issue.input),
    })
    .optional(),
  seed: numberIn(MACHINE_LIMITS.seed).optional(),
  phases: oneOf(PHASE_MODES).optional(),
  profile: z
    .union([profileName, mapping({ name: profileName, set: z.record(z.string(), entryValue).optional() })])
    .optional(),
  guestMemoryMiB: numberIn(MACHINE_LIMITS.guestMemoryMiB).optional(),
  guestApicMode: oneOf(APIC_MODES).optional(),
  interruptIntervalUs: numberIn(MACHINE_LIMITS.interruptIntervalUs).optional(),
  nics: z
    .array(
      mapping({
        vfs: numberIn(NIC_LIMITS.vfs).optional(),
        wire: mapping(rangesShape(NIC_LIMITS.wire)).optional(),
        link: mapping(rangesShape(NIC_LIMITS.link)).optional(),
      }),
      {
        error: (issue) =>
          mustBe(`a list of 1 to ${MAX_NICS} NICs, each a mapping of vfs, wire, link`, issue.input),
      },
    )
    .min(1, { error: `must list 1 to ${MAX_NICS} NICs, got none` })
    .max(MAX_NICS, { error: `must list 1 to ${MAX_NICS} NICs` })
    .optional(),
  guestNics: z
    .array(numberIn({ min: 0, max: MAX_NICS - 1, integer: true, why: 'an index into nics' }), {
      error: (issue) => mustBe('a list of NIC indexes, one per guest', issue.input),
    })
    .optional(),
  addresses: mapping(
    Object.fromEntries(Object.keys(DEFAULT_ADDRESS_MAP).map((k) => [k, numberIn(ADDRESS_RANGE).optional()])),
  ).optional(),
};

/** A mapping's optional numeric fields, each in its range. */
function rangesShape(ranges: Readonly<Record<string, NumberRange>>): z.ZodRawShape {
  return Object.fromEntries(Object.entries(ranges).map(([k, range]) => [k, numberIn(range).optional()]));
}

/** The fields of a machine file, in the order it is written. */
export const MACHINE_FILE_FIELDS: readonly (keyof MachineFile)[] = Object.keys(FIELD_SCHEMAS) as FileField[];

/**
 * The zod schema of a machine file (strict: a key it does not list is an error, at every level).
 * Checks each field on its own; machineConfigFromFile then checks them together.
 */
export const MACHINE_FILE_SCHEMA: z.ZodType<MachineFile> = mapping(
  FIELD_SCHEMAS,
) as unknown as z.ZodType<MachineFile>;

/** A zod issue's path and message, the deepest alternative taken for a union (profile's two forms). */
function explain(issue: z.core.$ZodIssue, prefix: Path = []): { path: Path; message: string } {
  const path = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const depth = (issues: readonly z.core.$ZodIssue[]) =>
      Math.max(...issues.map((i) => i.path.length + (i.code === 'unrecognized_keys' ? 1 : 0)));
    let best = issue.errors[0]!;
    for (const branch of issue.errors) if (depth(branch) > depth(best)) best = branch;
    return explain(firstIssue(best), path);
  }
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    return {
      path: [...path, key],
      message: `is not a field of ${path.length > 0 ? fieldPath(path) : 'a machine file'}: ${issue.message}`,
    };
  }
  return { path, message: issue.message };
}

/** The issue to report first: a key the file cannot have (most often a typo) before the rest. */
function firstIssue(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue {
  return issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
}

// ─── Reading ────────────────────────────────────────────────────────────────────────

/** How to read a machine file's text. */
export interface MachineFileOptions {
  /** Default: from `path` (`.json` is JSON), else YAML — which also reads JSON. */
  readonly format?: MachineFileFormat;
  /** Where the text came from: named in errors; a profile file's path is relative to it. */
  readonly path?: string;
}

/** The text as parsed, kept to say where a field is. */
interface Source {
  readonly file: string | undefined;
  readonly doc: Yaml.Document.Parsed | null;
  readonly lines: Yaml.LineCounter;
}

function formatOf(options: MachineFileOptions): MachineFileFormat {
  if (options.format !== undefined) return options.format;
  return options.path?.toLowerCase().endsWith('.json') === true ? 'json' : 'yaml';
}

/** The line and column of a field (of its key, for a key the file cannot have), when the text has it. */
function locate(source: Source, path: Path): MachineFileLocation {
  const doc = source.doc;
  const at = (offset: number) => {
    const { line, col } = source.lines.linePos(offset);
    return { line, column: col };
  };
  if (doc === null) return {};
  // The deepest node on the path the text has (a missing field: its mapping).
  for (let n = path.length; n >= 0; n--) {
    const parent = n > 0 ? doc.getIn(path.slice(0, n - 1), true) : null;
    if (n > 0 && yaml().isMap(parent)) {
      const pair = parent.items.find((p) => {
        const key = p.key as { value?: unknown } | null;
        return (key !== null && typeof key === 'object' ? key.value : key) === path[n - 1];
      });
      const node = pair?.key as { range?: [number, number, number] } | undefined;
      if (node?.range !== undefined) return at(node.range[0]);
    }
    if (n > 0 && yaml().isSeq(parent)) {
      const item = parent.items[path[n - 1] as number] as { range?: [number, number, number] } | undefined;
      if (item?.range !== undefined) return at(item.range[0]);
    }
    if (n === 0) {
      const range = (doc.contents as { range?: [number, number, number] } | null)?.range;
      if (range !== undefined) return at(range[0]);
    }
  }
  return {};
}

function fail(source: Source, detail: string, path?: Path): never {
  throw new MachineFileError(detail, {
    ...(source.file !== undefined ? { file: source.file } : {}),
    ...(path !== undefined ? { ...locate(source, path), field: fieldPath(path) } : {}),
  });
}

/** The text's value: YAML (its errors at their line and column), or strict JSON. */
function parseText(text: string, options: MachineFileOptions): { value: unknown; source: Source } {
  const lines = new (yaml().LineCounter)();
  const file = options.path;
  if (formatOf(options) === 'json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const position = /position (\d+)/.exec(message);
      const where: MachineFileLocation = { ...(file !== undefined ? { file } : {}) };
      if (position !== null) {
        const before = text.slice(0, Number(position[1]));
        const line = before.split('\n').length;
        Object.assign(where, { line, column: before.length - before.lastIndexOf('\n') });
      }
      throw new MachineFileError(`not JSON: ${message.split('\n')[0]}`, where);
    }
    // JSON is YAML: its nodes say where each field is.
    const doc = yaml().parseDocument(text, { lineCounter: lines });
    return { value, source: { file, doc: doc.errors.length === 0 ? doc : null, lines } };
  }
  const doc = yaml().parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const error = doc.errors[0];
  if (error !== undefined) {
    const pos = error.linePos?.[0];
    throw new MachineFileError(
      `not YAML: ${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
      {
        ...(file !== undefined ? { file } : {}),
        ...(pos !== undefined ? { line: pos.line, column: pos.col } : {}),
      },
    );
  }
  return { value: doc.toJS({ maxAliasCount: 100 }) as unknown, source: { file, doc, lines } };
}

/** A value checked against the file's schema: its data, or a MachineFileError at the field at fault. */
function checkSchema(value: unknown, source: Source): MachineFile {
  if (!isRecord(value)) {
    fail(
      source,
      `a machine file must be a mapping of ${MACHINE_FILE_FIELDS.join(', ')} (mode at least), got ${value === null ? 'nothing' : describeValue(value)}`,
    );
  }
  const result = MACHINE_FILE_SCHEMA.safeParse(value);
  if (!result.success) {
    const { path, message } = explain(firstIssue(result.error.issues));
    fail(source, `${fieldPath(path)} ${message}`, path);
  }
  return withoutUndefined(result.data) as MachineFile;
}

/** A copy without the fields that are undefined (plain data: objects, arrays, numbers, strings). */
function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUndefined);
  if (!isRecord(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, withoutUndefined(v)]),
  );
}

/**
 * A machine file's text checked against the file's schema: its data (the profile still a name
 * or a path). Throws a MachineFileError: a syntax error with its line and column, or the first
 * field at fault with its path, where it is and what it accepts. The fields are not yet checked
 * against each other (machineConfigFromFile does that).
 */
export function readMachineFile(text: string, options: MachineFileOptions = {}): MachineFile {
  const { value, source } = parseText(text, options);
  return checkSchema(value, source);
}

// ─── Profiles ───────────────────────────────────────────────────────────────────────

/** The profiles read from files (by machineFileProfile), each to its file's absolute path. */
const PROFILE_FILES = new WeakMap<CalibrationProfile, string>();

/** A calibration profile file (JSON) named `written` in the file, at `path`: read and checked. */
function readProfileFile(written: string, path: string, source: Source, at: Path): CalibrationProfile {
  const field = fieldPath(at);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    fail(
      source,
      `${field} ${mustBe(PROFILE_ACCEPTS, written)}, which ${code === 'ENOENT' ? `is neither (no file ${relativeOrAbsolute(path)})` : `cannot be read (${error instanceof Error ? error.message : String(error)})`}`,
      at,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    fail(
      source,
      `${field}: the profile file ${relativeOrAbsolute(path)} must be JSON: ${error instanceof Error ? error.message : String(error)}`,
      at,
    );
  }
  try {
    const profile = validateProfile(json);
    PROFILE_FILES.set(profile, path);
    return profile;
  } catch (error) {
    if (error instanceof ProfileError) {
      fail(source, `${field}: the profile file ${relativeOrAbsolute(path)}: ${error.message}`, at);
    }
    throw error;
  }
}

function relativeOrAbsolute(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

function resolveProfile(
  ref: string | MachineFileProfile,
  filePath: string | undefined,
  source: Source,
): CalibrationProfile {
  const { name, set } = typeof ref === 'string' ? { name: ref, set: undefined } : ref;
  const at: Path = typeof ref === 'string' ? ['profile'] : ['profile', 'name'];
  const base = Object.hasOwn(PROFILES, name)
    ? PROFILES[name]!
    : readProfileFile(name, resolve(filePath !== undefined ? dirname(filePath) : '.', name), source, at);
  if (set === undefined) return base;
  const keys = Object.keys(base.entries);
  for (const [key, value] of Object.entries(set)) {
    const where: Path = ['profile', 'set', key];
    if (!Object.hasOwn(base.entries, key)) {
      fail(
        source,
        `${fieldPath(where)} is not an entry of calibration profile '${base.name}': use one of its ${keys.length} entries (${keys.slice(0, 4).join(', ')}, …; 'exitless profile' lists them)`,
        where,
      );
    }
    try {
      profileValue(withOverrides(base, { [key]: value }), key);
    } catch (error) {
      if (error instanceof ProfileError) fail(source, `${fieldPath(where)}: ${error.message}`, where);
      throw error;
    }
  }
  try {
    return profileWithSets(base, set);
  } catch (error) {
    if (error instanceof ProfileError) fail(source, `profile.set: ${error.message}`, ['profile', 'set']);
    throw error;
  }
}

/**
 * The calibration profile a machine file's `profile` names: a shipped profile, or a JSON
 * profile file (its path relative to the machine file at `path`, else to the working
 * directory), with the entries of `set` set (profileWithSets). Throws a MachineFileError.
 */
export function machineFileProfile(
  ref: string | MachineFileProfile,
  options: { readonly path?: string } = {},
): CalibrationProfile {
  const source: Source = { file: options.path, doc: null, lines: new (yaml().LineCounter)() };
  const checked = FIELD_SCHEMAS.profile.safeParse(ref);
  if (!checked.success) {
    const { path, message } = explain(firstIssue(checked.error.issues), ['profile']);
    fail(source, `${fieldPath(path)} ${message}`, path);
  }
  return resolveProfile(ref, options.path, source);
}

// ─── To a machine and back ──────────────────────────────────────────────────────────

function configOf(file: MachineFile, source: Source): MachineConfig {
  const { profile, ...fields } = file;
  const config: MachineConfig = {
    ...fields,
    ...(profile !== undefined ? { profile: resolveProfile(profile, source.file, source) } : {}),
  };
  try {
    validateMachineConfig(config);
  } catch (error) {
    // A rule across fields (guestModes for the guests there are, eli with x2APIC…): the machine's words.
    if (
      error instanceof MachineConfigError ||
      error instanceof ProfileError ||
      error instanceof WorkloadOptionsError
    ) {
      fail(source, error.message);
    }
    throw error;
  }
  return config;
}

/**
 * The machine a machine file's data describes (data from readMachineFile, or built or changed
 * by hand — it is checked against the schema again): the profile loaded (a JSON profile file's
 * path relative to `options.path`), and the fields checked against each other by
 * validateMachineConfig. Throws a MachineFileError.
 */
export function machineConfigFromFile(
  file: unknown,
  options: { readonly path?: string } = {},
): MachineConfig {
  const source: Source = { file: options.path, doc: null, lines: new (yaml().LineCounter)() };
  return configOf(checkSchema(file, source), source);
}

/**
 * The machine a machine file describes, from its text (YAML or JSON): `parseMachineFile(text,
 * { path })` gives a MachineConfig for `new Machine(config)`. Throws a MachineFileError that
 * names the field at fault, where it is and what it accepts.
 */
export function parseMachineFile(text: string, options: MachineFileOptions = {}): MachineConfig {
  const { value, source } = parseText(text, options);
  return configOf(checkSchema(value, source), source);
}

/** The machine the machine file at `path` describes (parseMachineFile of its text). */
export function loadMachineFile(path: string): MachineConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new MachineFileError(`cannot be read: ${error instanceof Error ? error.message : String(error)}`, {
      file: path,
    });
  }
  return parseMachineFile(text, { path });
}

/**
 * `config` with every default made explicit (validateMachineConfig's): what the machine will
 * be, field by field. Absent `guestModes` (every guest in `mode`) and `interruptIntervalUs`
 * (dynamic throttling) stay absent: their absence is their meaning.
 */
export function explicitMachineConfig(config: MachineConfig): MachineConfig {
  const r = validateMachineConfig(config);
  return {
    ...config,
    mode: r.mode,
    workload: r.workload,
    workloadOptions: r.workloadOptions,
    guests: r.guests,
    ...(r.perGuestModes ? { guestModes: r.guestModes } : {}),
    ...(r.perGuestWorkloads ? { guestWorkloads: r.guestWorkloads } : {}),
    seed: r.seed,
    phases: r.phases,
    profile: r.profile,
    guestMemoryMiB: r.guestMemoryMiB,
    guestApicMode: r.guestApicMode,
    ...(r.interruptIntervalUs !== null ? { interruptIntervalUs: r.interruptIntervalUs } : {}),
  };
}

/** How machineFileOf writes a profile read from a file. */
export interface MachineFileOfOptions {
  /** The directory the file will be in: a profile file's path is written relative to it (default: absolute). */
  readonly dir?: string;
}

/** How a profile is named in a file: a shipped one by name, one read from a file by path. */
function profileRef(profile: CalibrationProfile, options: MachineFileOfOptions): string | MachineFileProfile {
  const made = profileSetsOf(profile);
  const base = made?.base ?? profile;
  let name: string;
  if (PROFILES[base.name] === base) name = base.name;
  else {
    const path = PROFILE_FILES.get(base);
    if (path === undefined) {
      throw new MachineFileError(
        `profile '${profile.name}' cannot be written to a machine file, which names its profile: use a shipped profile (${Object.keys(PROFILES).join(', ')}) or a profile read from a JSON profile file (write this one to a file and give its path)`,
        { field: 'profile' },
      );
    }
    name = options.dir !== undefined ? relative(options.dir, path) : path;
    if (options.dir !== undefined && !name.startsWith('.') && !isAbsolute(name)) name = `./${name}`;
  }
  return made !== undefined ? { name, set: { ...made.sets } } : name;
}

/**
 * A machine's configuration as a machine file's data: its data fields in the file's order,
 * the profile by name (a shipped one, or the path of the file it was read from, with the
 * entries set on it). The config is checked first (validateMachineConfig). Throws a
 * MachineFileError for what a file cannot hold: a function field (strategies, lapicFactory,
 * guestOverride, tracer) or a profile built in code.
 */
export function machineFileOf(config: MachineConfig, options: MachineFileOfOptions = {}): MachineFile {
  validateMachineConfig(config);
  for (const field of CODE_FIELDS) {
    if (config[field] !== undefined) {
      throw new MachineFileError(
        `${field} holds code, which a machine file cannot: remove it from the configuration to write the rest`,
        { field },
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const field of MACHINE_FILE_FIELDS) {
    const value = config[field];
    if (value === undefined) continue;
    out[field] =
      field === 'profile' ? profileRef(value as CalibrationProfile, options) : withoutUndefined(value);
  }
  return out as unknown as MachineFile;
}

/** What each field accepts, in a sentence, for the comments of a written file. */
function accepts(field: keyof MachineFile): string {
  switch (field) {
    case 'mode':
      return `one of ${BUILTIN_MODES.join(', ')}`;
    case 'workload':
      return `one of ${WORKLOADS.join(', ')}`;
    case 'workloadOptions':
      return Object.entries(WORKLOAD_OPTIONS_SCHEMA)
        .map(([section, fields]) => `${section}: { ${Object.keys(fields).join(', ')} }`)
        .join('; ');
    case 'guestModes':
      return `one mode per guest, each one of ${GUEST_MODES.join(', ')} (absent: every guest in mode)`;
    case 'guestWorkloads':
      return `one workload per guest, each one of ${WORKLOADS.join(', ')} (absent: every guest runs workload)`;
    case 'phases':
      return `one of ${PHASE_MODES.join(', ')}`;
    case 'profile':
      return `${PROFILE_ACCEPTS}; or { name, set: { ENTRY: VALUE } }`;
    case 'guestApicMode':
      return `one of ${APIC_MODES.join(', ')}`;
    case 'interruptIntervalUs':
      return `${describeRange(MACHINE_LIMITS.interruptIntervalUs)} (absent: the guest driver's dynamic throttling)`;
    case 'nics':
      return `1 to ${MAX_NICS} NICs, each { vfs, wire: { ${Object.keys(NIC_LIMITS.wire).join(', ')} }, link: { ${Object.keys(NIC_LIMITS.link).join(', ')} } }, every field optional (absent: one NIC with a VF per guest, wire and link from the profile)`;
    case 'guestNics':
      return 'one NIC index per guest, into nics (absent: every guest on NIC 0); each guest takes the next free VF of its NIC';
    case 'addresses':
      return `{ ${Object.keys(DEFAULT_ADDRESS_MAP).join(', ')} }, each ${describeRange(ADDRESS_RANGE)} (absent: the board's defaults)`;
    default:
      return describeRange(MACHINE_LIMITS[field]);
  }
}

/** How formatMachineFile writes. */
export interface FormatMachineFileOptions extends MachineFileOfOptions {
  /** YAML only: a comment before each field saying what it accepts (default false). */
  readonly comments?: boolean;
}

/**
 * A machine's configuration written as a machine file (machineFileOf's data, in YAML or
 * JSON): `parseMachineFile(formatMachineFile(c, f), { format: f })` deep-equals `c` for any
 * configuration a file can hold.
 */
export function formatMachineFile(
  config: MachineConfig,
  format: MachineFileFormat,
  options: FormatMachineFileOptions = {},
): string {
  const data = machineFileOf(config, options);
  if (format === 'json') return `${JSON.stringify(data, null, 2)}\n`;
  const doc = new (yaml().Document)(data);
  for (const list of ['guestModes', 'guestWorkloads', 'guestNics']) {
    const seq = doc.get(list, true);
    if (yaml().isSeq(seq)) seq.flow = true;
  }
  if (options.comments === true && yaml().isMap(doc.contents)) {
    doc.commentBefore =
      " An exitless machine file: MachineConfig's data fields (see 'Machine files' in\n @exitless/machine's README). An absent field takes its default.";
    for (const pair of doc.contents.items) {
      const key = pair.key as { value?: unknown; commentBefore?: string };
      key.commentBefore = ` ${accepts(String(key.value) as keyof MachineFile)}`;
    }
    const absent = MACHINE_FILE_FIELDS.filter((f) => !(f in data));
    if (absent.length > 0) {
      doc.comment = absent.map((f) => ` ${f}: ${accepts(f)}`).join('\n');
    }
  }
  return doc.toString({ lineWidth: 0 });
}

// ─── One field from text (the reference app's --set) ───────────────────────────────

/** Fields a value on one line cannot hold: set their parts (workloadOptions, addresses) or write them in a file (nics). */
const MAPPING_FIELDS: readonly string[] = ['workloadOptions', 'addresses', 'nics'];

/** Every field path setMachineFileField sets: the fields, each workload option and each address. */
export const MACHINE_FILE_KEYS: readonly string[] = [
  ...MACHINE_FILE_FIELDS.filter((f) => !MAPPING_FIELDS.includes(f)),
  ...Object.entries(WORKLOAD_OPTIONS_SCHEMA).flatMap(([section, fields]) =>
    Object.keys(fields).map((name) => `workloadOptions.${section}.${name}`),
  ),
  ...Object.keys(DEFAULT_ADDRESS_MAP).map((name) => `addresses.${name}`),
];

/**
 * Whether `key` names a field of a machine file (a field's name, or a path under
 * `workloadOptions.`) rather than a calibration-profile entry. No profile entry can be both:
 * PROFILE_SCHEMA's keys are dotted (`cpu.hz`) and none begins with a field's name and a dot
 * but `workload.`, and `workload` has no fields of its own.
 */
export function isMachineFileKey(key: string): boolean {
  return (
    (MACHINE_FILE_FIELDS as readonly string[]).includes(key) ||
    key.startsWith('workloadOptions.') ||
    key.startsWith('addresses.')
  );
}

const NUMBER_FIELDS: readonly string[] = ['guests', 'seed', 'guestMemoryMiB', 'interruptIntervalUs'];

/**
 * `file` with one field set from text (`guests=2`, `guestModes=eli,baseline`,
 * `workloadOptions.apache.concurrency=32`): numbers read as numbers, `guestModes` as a
 * comma-separated list, the rest as strings (`profile` a shipped name or a path), the value
 * checked against the field's schema. Throws a MachineFileError naming `key` and what it accepts.
 */
export function setMachineFileField(
  file: Readonly<Partial<MachineFile>>,
  key: string,
  text: string,
): Partial<MachineFile> {
  const source: Source = { file: undefined, doc: null, lines: new (yaml().LineCounter)() };
  const asNumber = (t: string): unknown => {
    const n = t.trim() === '' ? Number.NaN : Number(t);
    return Number.isFinite(n) ? n : t;
  };
  if (key.startsWith('workloadOptions.')) {
    if (!MACHINE_FILE_KEYS.includes(key)) {
      fail(
        source,
        `${key} is not a workload option: use ${MACHINE_FILE_KEYS.filter((k) => k.startsWith('workloadOptions.')).join(', ')}`,
      );
    }
    const [, section, name] = key.split('.') as [string, string, string];
    const range = WORKLOAD_OPTIONS_SCHEMA[section]![name]!;
    const value = asNumber(text);
    if (!inRange(value, range)) fail(source, `${key} ${mustBe(describeRange(range), value)}`);
    const options = (file.workloadOptions ?? {}) as Readonly<
      Record<string, Readonly<Record<string, number>>>
    >;
    return {
      ...file,
      workloadOptions: { ...options, [section]: { ...options[section], [name]: value } },
    };
  }
  if (key.startsWith('addresses.')) {
    if (!MACHINE_FILE_KEYS.includes(key)) {
      fail(
        source,
        `${key} is not an address the board places: use ${MACHINE_FILE_KEYS.filter((k) => k.startsWith('addresses.')).join(', ')}`,
      );
    }
    const value = asNumber(text);
    if (!inRange(value, ADDRESS_RANGE)) fail(source, `${key} ${mustBe(describeRange(ADDRESS_RANGE), value)}`);
    return { ...file, addresses: { ...file.addresses, [key.slice('addresses.'.length)]: value } };
  }
  if (key === 'workloadOptions' || key === 'addresses') {
    fail(
      source,
      `${key} is a mapping: set its fields one by one, as ${key === 'addresses' ? 'addresses.vfBar0=0xE0000000' : 'workloadOptions.apache.concurrency=32'}`,
    );
  }
  if (key === 'nics') {
    fail(source, 'nics is a list of mappings: write it in a machine file (--machine FILE)');
  }
  if (!(MACHINE_FILE_FIELDS as readonly string[]).includes(key)) {
    fail(source, `${key} is not a field of a machine file: use ${MACHINE_FILE_KEYS.join(', ')}`);
  }
  const field = key as FileField;
  const value: unknown = NUMBER_FIELDS.includes(field)
    ? asNumber(text)
    : field === 'guestModes' || field === 'guestWorkloads'
      ? text.split(',').map((m) => m.trim())
      : field === 'guestNics'
        ? text.split(',').map((m) => asNumber(m))
        : text;
  const checked = FIELD_SCHEMAS[field].safeParse(value);
  if (!checked.success) {
    const { path, message } = explain(firstIssue(checked.error.issues), [field]);
    fail(source, `${fieldPath(path)} ${message}`);
  }
  return { ...file, [field]: value };
}
