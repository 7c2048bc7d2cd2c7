import { existsSync, readFileSync } from 'node:fs';
import {
  type CalibrationProfile,
  PROFILES,
  ProfileError,
  profileByName,
  validateProfile,
  XEON_X5570,
} from '@exitless/machine';
import { parseList, UsageError } from './args.js';

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

/** `{ profile }` when --profile names a profile other than the default, else `{}` (so default options stay as they were). */
export function profileChoice(
  value: string | undefined,
  flag = 'profile',
): { readonly profile?: CalibrationProfile } {
  const profile = profileOption(value, flag);
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
