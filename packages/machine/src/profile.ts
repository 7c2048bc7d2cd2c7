import xeonX5570 from './profiles/xeon-x5570.json' with { type: 'json' };

/** One calibrated value with where it comes from. */
export interface ProfileEntry {
  readonly value: number;
  readonly unit: string;
  /** A paper, a measurement, a datasheet — or, with `estimate`, the reasoning behind an estimate. */
  readonly source: string;
  readonly estimate?: boolean;
  readonly note?: string;
}

/** A calibration profile: every cost of one machine generation, each with its source. */
export interface CalibrationProfile {
  readonly name: string;
  readonly description: string;
  readonly entries: Readonly<Record<string, ProfileEntry>>;
}

/** Thrown when a profile is missing a value or holds a bad one. */
export class ProfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProfileError';
  }
}

/** The default profile: the ELI paper's machine generation (Xeon X5570, Nehalem, 2.93 GHz). */
export const XEON_X5570: CalibrationProfile = xeonX5570 as CalibrationProfile;

/** The profiles shipped with the package, by name. */
export const PROFILES: Readonly<Record<string, CalibrationProfile>> = { [XEON_X5570.name]: XEON_X5570 };

/** Reads entry `key` of a profile: a finite number, or a ProfileError that names what is missing. */
export function profileValue(profile: CalibrationProfile, key: string): number {
  const e = profile.entries[key];
  if (e === undefined) {
    throw new ProfileError(
      `calibration profile '${profile.name}' has no entry '${key}': add it with its value, unit and source`,
    );
  }
  if (typeof e.value !== 'number' || !Number.isFinite(e.value) || e.value < 0) {
    throw new ProfileError(
      `calibration profile '${profile.name}': '${key}' must be a finite number ≥ 0, got ${String(e.value)}`,
    );
  }
  if (typeof e.source !== 'string' || e.source.length === 0) {
    throw new ProfileError(`calibration profile '${profile.name}': '${key}' has no source`);
  }
  return e.value;
}

/** A profile with some entries replaced (for sweeps): the replaced ones say so in their source. */
export function withOverrides(
  profile: CalibrationProfile,
  overrides: Readonly<Record<string, number>>,
): CalibrationProfile {
  const entries: Record<string, ProfileEntry> = { ...profile.entries };
  for (const [key, value] of Object.entries(overrides)) {
    const e = entries[key];
    if (e === undefined)
      throw new ProfileError(`cannot override '${key}': profile '${profile.name}' has no such entry`);
    entries[key] = { ...e, value, source: `override of the profile's value ${e.value} (${e.source})` };
  }
  return { ...profile, entries };
}
