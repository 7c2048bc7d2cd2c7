/**
 * Drawing profiles across the calibration ranges: a Latin hypercube over the ranged entries
 * (`reproduce --uncertainty N`) and the percentile band of a figure over the samples. No
 * Math.random: every draw comes from a named stream of the seed (`@exitless/sim`).
 */
import { entryRange, type NumberRange } from '@exitless/machine';
import { RandomStreams } from '@exitless/sim';

/** A profile entry with the range it may take (`rangedEntries` of the profile gives these). */
export interface RangedKey {
  readonly key: string;
  readonly low: number;
  readonly high: number;
  /** The profile's own value, the most likely one: the mode of the distribution drawn from. */
  readonly value: number;
}

/**
 * A range wider than this ratio (high / low, both positive) is a scale quantity known to an
 * order of magnitude: it is sampled in log space, so that 10x above the value counts as far as
 * 10x below it.
 */
export const LOG_SCALE_RATIO = 10;

/**
 * The quantile function of the distribution an entry is drawn from: triangular with its
 * minimum at `low`, its mode at the profile's value and its maximum at `high` (the usual
 * choice when what is known is a best estimate and two extremes) — in log space when
 * low > 0 and high / low ≥ LOG_SCALE_RATIO. `u` in [0, 1].
 */
export function rangeQuantile(entry: RangedKey, u: number): number {
  const log = entry.low > 0 && entry.high / entry.low >= LOG_SCALE_RATIO;
  const f = log ? Math.log : (x: number) => x;
  const a = f(entry.low);
  const b = f(entry.high);
  const c = Math.min(b, Math.max(a, f(entry.value)));
  if (b <= a) return entry.low;
  const fc = (c - a) / (b - a);
  const x = u < fc ? a + Math.sqrt(u * (b - a) * (c - a)) : b - Math.sqrt((1 - u) * (b - a) * (b - c));
  return log ? Math.exp(x) : x;
}

/** The step of an entry's valid values: its schema's `multipleOf`, 1 for an integer, null for a real. */
function step(range: NumberRange): number | null {
  if (range.multipleOf !== undefined) return range.multipleOf;
  return range.integer === true ? 1 : null;
}

/**
 * `x` as a value `key` accepts within [low, high]: itself for a real-valued entry, else the
 * nearest multiple of the entry's step (1 for an integer) that lies in [low, high] (the range
 * ends are valid values, so one always does).
 */
export function validValue(key: string, x: number, low: number, high: number): number {
  const s = step(entryRange(key));
  if (s === null) return Math.min(high, Math.max(low, x));
  const first = Math.ceil(low / s) * s;
  const last = Math.floor(high / s) * s;
  if (first > last) return Math.min(high, Math.max(low, x));
  return Math.min(last, Math.max(first, Math.round(x / s) * s));
}

/** The name of the random stream an entry's draws come from. */
export function samplingStream(key: string): string {
  return `uncertainty.${key}`;
}

/**
 * A Latin hypercube of `n` points in [0, 1) per key: for each key, [0, 1) is cut into n equal
 * strata, one draw is uniform within each stratum, and the strata are put in a random order
 * (Fisher–Yates) — so each key's n values cover its strata once each, and the pairing of
 * strata across keys is random. Every key draws from its own stream `uncertainty.<key>` of
 * the seed (first the permutation, then the n offsets), so one key's draws do not depend on
 * which other keys have ranges. `unit[k][key]` is sample k's point for the key.
 */
export function latinHypercubeUnit(
  keys: readonly string[],
  n: number,
  seed: number,
): Record<string, number>[] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`a Latin hypercube needs n ≥ 1 samples, got ${n}`);
  const streams = new RandomStreams(seed);
  const points: Record<string, number>[] = Array.from({ length: n }, () => ({}));
  for (const key of keys) {
    const random = streams.stream(samplingStream(key));
    const strata = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = random.nextInt(0, i);
      [strata[i], strata[j]] = [strata[j]!, strata[i]!];
    }
    for (let k = 0; k < n; k++) points[k]![key] = (strata[k]! + random.nextFloat()) / n;
  }
  return points;
}

/**
 * `n` profile override sets (key → value) from a Latin hypercube over the entries' ranges:
 * sample k's value of an entry is the quantile of its point u in latinHypercubeUnit
 * (rangeQuantile: triangular from low through the profile's value to high, in log space for a
 * range over an order of magnitude), so each entry's n values fall one in each of n strata of
 * equal probability; then made valid for the entry's schema (validValue: an integer or
 * multipleOf entry takes the nearest valid value within [low, high]).
 */
export function latinHypercube(
  entries: readonly RangedKey[],
  n: number,
  seed: number,
): Record<string, number>[] {
  const unit = latinHypercubeUnit(
    entries.map((e) => e.key),
    n,
    seed,
  );
  return unit.map((point) =>
    Object.fromEntries(
      entries.map((e) => [e.key, validValue(e.key, rangeQuantile(e, point[e.key]!), e.low, e.high)]),
    ),
  );
}

/**
 * The p-quantile (p in [0, 1]) of `values` by linear interpolation between order statistics
 * (Hyndman & Fan's definition 7, the default of R and NumPy): with the values sorted
 * x₀ ≤ … ≤ x₍ₙ₋₁₎ and h = (n − 1) p, x⌊h⌋ + (h − ⌊h⌋)(x⌊h⌋₊₁ − x⌊h⌋). With n = 1 that value; with
 * no values, NaN.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`p must be in [0, 1], got ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const a = sorted[lo]!;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)]!;
  return a + (h - lo) * (b - a);
}

/** The band the tables and charts show: the 5th and the 95th percentile. */
export const BAND_PERCENTILES: { readonly low: number; readonly high: number } = { low: 0.05, high: 0.95 };

/** A figure over profile samples: the base profile's value and the 5th–95th percentile band over the samples. */
export interface Band {
  /** The figure with the profile's own values; null where the base run did not measure it. */
  readonly base: number | null;
  /** 5th percentile over the samples (linear interpolation). */
  readonly p05: number;
  /** 95th percentile over the samples. */
  readonly p95: number;
  /** Samples that measured the figure. */
  readonly n: number;
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** The band of a figure: base value and percentiles over the sample values (rounded to 6 decimals); null when nothing measured it. */
export function band(base: number | null, samples: readonly (number | null)[]): Band | null {
  const values = samples.filter((v): v is number => v !== null && Number.isFinite(v));
  if (values.length === 0) return null;
  return {
    base: base !== null && Number.isFinite(base) ? round6(base) : null,
    p05: round6(percentile(values, BAND_PERCENTILES.low)),
    p95: round6(percentile(values, BAND_PERCENTILES.high)),
    n: values.length,
  };
}
