import type { RunReport } from '@exitless/machine';

/** The reference modes the ratios are taken against (the machine's names for them). */
export const BARE_METAL = 'bare-metal';
export const BASELINE = 'baseline';
/** The design every later one is measured against in "share of ELI's gain kept". */
export const ELI = 'eli';

/**
 * The least speed-up of ELI over baseline, as a fraction of baseline's throughput, for which a
 * share of ELI's gain is taken (2%). Below it the gain is of the order of the run-to-run spread
 * (a few tenths of a percent to a percent over seeds), so dividing by it would give a huge or
 * negative ratio that says nothing about the design; the share is then null.
 */
export const MIN_ELI_GAIN = 0.02;

/** A run's throughput as a fraction of bare metal's, and as a speed-up over baseline's, on the same workload and settings. */
export interface Relative {
  /** throughput / bare-metal throughput (1 = bare metal); null without a bare-metal run or with a zero one. */
  readonly toBareMetal: number | null;
  /** throughput / baseline throughput (the speed-up over baseline); null without a baseline run or with a zero one. */
  readonly toBaseline: number | null;
  /**
   * The share of ELI's gain over baseline this run keeps: (throughput − baseline) ÷ (eli −
   * baseline), 1 for eli itself, 0 for baseline, above 1 when faster than eli, below 0 when
   * slower than baseline; null without a baseline and an eli run, or when eli's gain is below
   * MIN_ELI_GAIN of baseline's throughput (gainKept).
   */
  readonly eliGainKept: number | null;
}

/** A report with its ratios attached, as results.json holds it. */
export type WithRelative<T extends RunReport> = T & { readonly relative: Relative };

/** value / reference, rounded to 6 decimals (as the reports round); null when there is no usable reference. */
export function ratio(value: number, reference: number | undefined): number | null {
  if (reference === undefined || !(reference > 0) || !Number.isFinite(value)) return null;
  return Math.round((value / reference) * 1e6) / 1e6;
}

/**
 * The share of ELI's gain over baseline that a throughput keeps, (value − baseline) ÷ (eli −
 * baseline), rounded to 6 decimals; null without a usable baseline or eli throughput, or when
 * eli gains less than MIN_ELI_GAIN × baseline over it (ELI slower than baseline included).
 */
export function gainKept(
  value: number,
  baseline: number | undefined,
  eli: number | undefined,
): number | null {
  if (baseline === undefined || eli === undefined || !(baseline > 0) || !Number.isFinite(eli)) return null;
  if (!Number.isFinite(value) || eli - baseline < MIN_ELI_GAIN * baseline) return null;
  return Math.round(((value - baseline) / (eli - baseline)) * 1e6) / 1e6;
}

/** The default grouping: runs compare only with runs of the same calibration profile, workload, seed and durations. */
export function sameRun(r: RunReport): string {
  return `${r.profile}\u0000${r.workload}\u0000${r.seed}\u0000${r.durationMs}\u0000${r.warmupMs}`;
}

/**
 * Attaches `relative` to every report: each is compared with the bare-metal, the baseline
 * and the eli report of its group (`group` says which runs are comparable; a sweep adds the
 * swept value to it). Order is kept.
 */
export function withRelative<T extends RunReport>(
  reports: readonly T[],
  group: (r: T) => string = sameRun,
): WithRelative<T>[] {
  const reference = (mode: string) => {
    const byGroup = new Map<string, number>();
    for (const r of reports) {
      const key = group(r);
      if (r.mode === mode && !byGroup.has(key)) byGroup.set(key, r.throughput.value);
    }
    return byGroup;
  };
  const bare = reference(BARE_METAL);
  const baseline = reference(BASELINE);
  const eli = reference(ELI);
  return reports.map((r) => {
    const key = group(r);
    return {
      ...r,
      relative: {
        toBareMetal: ratio(r.throughput.value, bare.get(key)),
        toBaseline: ratio(r.throughput.value, baseline.get(key)),
        eliGainKept: gainKept(r.throughput.value, baseline.get(key), eli.get(key)),
      },
    };
  });
}
