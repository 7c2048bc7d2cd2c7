import { existsSync, readFileSync } from 'node:fs';
import {
  type CalibrationProfile,
  isMachineFileKey,
  MACHINE_FILE_KEYS,
  PROFILES,
  ProfileError,
  profileByName,
  profileSetsOf,
  profileValue,
  profileWithSets,
  validateProfile,
  withOverrides,
  XEON_X5570,
} from '@exitless/machine';
import { type ParsedOptions, parseList, stringsOption, UsageError } from './args.js';

/**
 * How a job names its calibration profile: a shipped profile by name (a few bytes to a worker
 * thread), or a whole validated profile (one read from a file: plain JSON, so it crosses as
 * data). Absent in a job: the default profile, XEON_X5570.
 */
export type ProfileRef = string | CalibrationProfile;

/** What `--profile` accepts, for usage texts. */
export const PROFILE_USAGE = `NAME|FILE: ${Object.keys(PROFILES).join(', ')} (default ${XEON_X5570.name}), or a JSON profile file`;

function looksLikeFile(spec: string): boolean {
  return spec.includes('/') || spec.includes('\\') || spec.endsWith('.json') || existsSync(spec);
}

/**
 * `--profile NAME|FILE`: a shipped profile by name, or a JSON file checked with validateProfile.
 * Every mistake is a UserError naming the option and what is wrong (an unknown name lists the
 * names; a bad entry in a file is named by validateProfile's message).
 */
export function loadProfile(spec: string, flag = 'profile'): CalibrationProfile {
  if (Object.hasOwn(PROFILES, spec)) return profileByName(spec);
  if (spec.trim() === '' || !looksLikeFile(spec)) {
    throw new UsageError(
      `--${flag}: unknown calibration profile '${spec}': use one of ${Object.keys(PROFILES).join(', ')}, or the path of a JSON profile file`,
    );
  }
  let text: string;
  try {
    text = readFileSync(spec, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--${flag}: cannot read the profile file '${spec}': ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `--${flag}: the profile file '${spec}' is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  try {
    return validateProfile(json);
  } catch (error) {
    if (error instanceof ProfileError) throw new ProfileError(`--${flag} ${spec}: ${error.message}`);
    throw error;
  }
}

/** `--profile` when given, else the default profile. */
export function profileOption(value: string | undefined, flag = 'profile'): CalibrationProfile {
  return value !== undefined ? loadProfile(value, flag) : XEON_X5570;
}

/**
 * `{ profile }` when --profile names a profile other than the default or --set changes it, else
 * `{}` (so default options stay as they were); the `--set`s apply on top (withSets).
 */
export function profileChoice(
  value: string | undefined,
  sets: readonly ProfileSet[] = [],
): { readonly profile?: CalibrationProfile } {
  const profile = withSets(profileOption(value), sets);
  return profile !== XEON_X5570 ? { profile } : {};
}

/**
 * `--profiles a,b` (each NAME|FILE): the profiles in the user's order, each once; two different
 * profiles with one name are an error, since the tables and charts tell profiles apart by name.
 */
export function loadProfiles(value: string, flag = 'profiles'): CalibrationProfile[] {
  const out: CalibrationProfile[] = [];
  for (const spec of parseList(value, flag)) {
    const profile = loadProfile(spec, flag);
    const same = out.find((p) => p.name === profile.name);
    if (same === undefined) out.push(profile);
    else if (same !== profile) {
      throw new UsageError(
        `--${flag}: two different profiles are named '${profile.name}' ('${spec}' and an earlier one): give each profile its own name`,
      );
    }
  }
  return out;
}

/** How a job carries `profile`: nothing for the default (so default jobs stay as they were), a name for a shipped one, else the profile itself. */
export function profileRef(profile: CalibrationProfile | undefined): ProfileRef | undefined {
  if (profile === undefined || profile === XEON_X5570) return undefined;
  return PROFILES[profile.name] === profile ? profile.name : profile;
}

/** The profile a job's reference names (the default when absent). */
export function resolveProfile(ref: ProfileRef | undefined): CalibrationProfile {
  if (ref === undefined) return XEON_X5570;
  return typeof ref === 'string' ? profileByName(ref) : ref;
}

/** `{ profile: ref }` for a job or a config when the profile is not the default, else `{}`. */
export function profileField(profile: CalibrationProfile | undefined): { readonly profile?: ProfileRef } {
  const ref = profileRef(profile);
  return ref !== undefined ? { profile: ref } : {};
}

/** The profile's name when it is not the default, for progress lines (`' on xeon-skylake-sp'`). */
export function profileLabel(ref: ProfileRef | undefined): string {
  if (ref === undefined) return '';
  return ` on ${typeof ref === 'string' ? ref : ref.name}`;
}

// ─── --set KEY=VALUE ────────────────────────────────────────────────────────────────

/** One `--set KEY=VALUE`: a profile entry and the value that replaces the profile's. */
export interface ProfileSet {
  readonly key: string;
  /** The value, as a number (`1e3` and `1000` are one value). */
  readonly value: number;
}

/** One `--set KEY=VALUE` as given: the key and the text of its value. */
export interface SetItem {
  readonly key: string;
  readonly text: string;
}

/** `--set`'s option spec (repeatable), for parseOptions. */
export const SET_OPTION = { type: 'string', value: 'KEY=VALUE', multiple: true } as const;

/** One line of a usage text that says what `--set` does. */
export const SET_USAGE =
  "--set KEY=VALUE (repeatable) replaces a profile entry's value ('exitless profile' lists them; the profile is then named NAME[KEY=VALUE]) or, on a command that runs machines, sets a machine field (guests=2, guestModes=eli,baseline, workloadOptions.apache.concurrency=32; 'exitless machine --print' lists them).";

/**
 * `--set KEY=VALUE`, each given: the keys and the text of their values, in the order given. The
 * shape is checked here (an `=`, a key before it, each key once); what a key names — a machine
 * field (isMachineFileKey) or a profile entry — and whether it accepts the value is checked later.
 */
export function parseSetItems(values: readonly string[], flag = 'set'): SetItem[] {
  const out: SetItem[] = [];
  for (const item of values) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? '' : item.slice(0, eq).trim();
    if (eq < 0 || key === '') {
      throw new UsageError(
        `--${flag} takes KEY=VALUE, a calibration-profile entry or a machine field and its value (--${flag} host.contextSwitch=5000, --${flag} guests=2; 'exitless profile' lists the entries, 'exitless machine --print' the fields), got '${item}'`,
      );
    }
    const text = item.slice(eq + 1);
    const earlier = out.find((s) => s.key === key);
    if (earlier !== undefined) {
      throw new UsageError(
        `--${flag} ${key} is given more than once (=${earlier.text} and =${text}): give each entry once`,
      );
    }
    out.push({ key, text });
  }
  return out;
}

/**
 * The `--set`s of profile entries (every key that is not a machine field, isMachineFileKey), each
 * value read as a finite number; whether the profile has the entry and accepts the value is
 * checked by withSets, against the profile.
 */
export function parseSets(values: readonly string[], flag = 'set'): ProfileSet[] {
  return parseSetItems(values, flag)
    .filter((s) => !isMachineFileKey(s.key))
    .map(({ key, text }) => {
      const value = text.trim() === '' ? Number.NaN : Number(text);
      if (!Number.isFinite(value)) {
        throw new UsageError(`--${flag} ${key}=VALUE: VALUE must be a finite number, got '${text}'`);
      }
      return { key, value };
    });
}

/** The `--set`s of a parsed command line (parseOptions with SET_OPTION as `set`) that name profile entries, checked by parseSets. */
export function setsOption(values: ParsedOptions): ProfileSet[] {
  return parseSets(stringsOption(values, 'set'));
}

/** The `--set`s of a parsed command line that name machine fields (isMachineFileKey), as given. */
export function machineSetsOption(values: ParsedOptions): SetItem[] {
  return parseSetItems(stringsOption(values, 'set')).filter((s) => isMachineFileKey(s.key));
}

/** Levenshtein distance, for suggesting the entry a mistyped key meant. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    row = next;
  }
  return row[b.length]!;
}

/**
 * The entries a mistyped key may have meant (at most 5): those within a few edits of it, nearest
 * first, then those with its prefix (`host.` of `host.contextSwich`), in the profile's order.
 */
export function closeKeys(key: string, keys: readonly string[]): string[] {
  const lower = key.toLowerCase();
  const near = keys
    .map((k) => ({ k, d: editDistance(lower, k.toLowerCase()) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(key.length / 4)))
    .sort((x, y) => x.d - y.d)
    .map((x) => x.k);
  const dot = key.lastIndexOf('.');
  const prefix = dot > 0 ? key.slice(0, dot + 1).toLowerCase() : null;
  const same = prefix !== null ? keys.filter((k) => k.toLowerCase().startsWith(prefix)) : [];
  return [...new Set([...near, ...same])].slice(0, 5);
}

/** The name of a profile with `--set`s applied: `xeon-x5570[cpu.apicVirtualization=1,host.hz=250]`. */
export function setName(name: string, sets: readonly ProfileSet[]): string {
  return `${name}[${sets.map((s) => `${s.key}=${s.value}`).join(',')}]`;
}

/**
 * `profile` with the `--set`s applied (itself when there are none), by the machine's
 * profileWithSets: each entry's value replaced (the entry keeps its source, range and unit, says
 * it is an override, and records the profile's own value in `overridden`), the profile renamed
 * NAME[KEY=VALUE,…] (setName) so that every table, CSV, chart and report tells it from the profile
 * itself, and the result checked like a profile file. A profile that already has entries set (a
 * machine file's `profile.set`) gets these on top, in one NAME[…]: a key given again takes the
 * `--set`'s value. A value may lie outside the entry's low–high range (the range stays the
 * profile's estimate), never outside what the schema accepts. An entry the profile does not have,
 * or a value it does not accept, is a UsageError naming the --set.
 */
export function withSets(
  profile: CalibrationProfile,
  sets: readonly ProfileSet[],
  flag = 'set',
): CalibrationProfile {
  if (sets.length === 0) return profile;
  const earlier = profileSetsOf(profile);
  const base = earlier?.base ?? profile;
  const keys = Object.keys(base.entries);
  for (const { key, value } of sets) {
    if (!Object.hasOwn(base.entries, key)) {
      const close = closeKeys(key, keys);
      const fields = closeKeys(key, MACHINE_FILE_KEYS);
      throw new UsageError(
        `--${flag} ${key}=${value}: calibration profile '${base.name}' has no entry '${key}': use ${close.length > 0 ? `one of its entries such as ${close.join(', ')}, or ` : ''}one that 'exitless profile${base === XEON_X5570 ? '' : ` --profile ${PROFILES[base.name] === base ? base.name : 'FILE'}`}' lists${fields.length > 0 ? ` (or the machine field ${fields.join(', ')})` : ''}`,
      );
    }
    try {
      profileValue(withOverrides(base, { [key]: value }), key);
    } catch (error) {
      if (error instanceof ProfileError) throw new UsageError(`--${flag} ${key}=${value}: ${error.message}`);
      throw error;
    }
  }
  const merged = { ...earlier?.sets, ...Object.fromEntries(sets.map((s) => [s.key, s.value])) };
  try {
    return profileWithSets(base, merged);
  } catch (error) {
    if (error instanceof ProfileError) {
      throw new UsageError(`--${flag} ${sets.map((s) => `${s.key}=${s.value}`).join(' ')}: ${error.message}`);
    }
    throw error;
  }
}
