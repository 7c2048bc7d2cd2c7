/**
 * Means and 95% confidence intervals over runs with different seeds: Student's t, with its
 * quantile computed here in closed form (no statistics library), so that the same values
 * give the same bytes everywhere.
 */

/**
 * P(|T| ≤ t) for Student's t with `df` degrees of freedom (a positive integer): the closed
 * forms of Abramowitz & Stegun 26.7.3 (df odd) and 26.7.4 (df even), finite sums of powers of
 * cos θ with θ = atan(t / √df).
 */
export function studentTwoSidedProbability(t: number, df: number): number {
  checkDf(df);
  return twoSided(Math.atan(Math.abs(t) / Math.sqrt(df)), df);
}

function checkDf(df: number): void {
  if (!Number.isInteger(df) || df < 1) {
    throw new RangeError(`degrees of freedom must be a positive integer, got ${df}`);
  }
}

/** A(t | df) of A&S 26.7.3–4 as a function of θ = atan(t / √df) ∈ [0, π/2). */
function twoSided(theta: number, df: number): number {
  const s = Math.sin(theta);
  const c = Math.cos(theta);
  const c2 = c * c;
  if (df % 2 === 1) {
    // (2/π)(θ + sin θ (cos θ + (2/3) cos³θ + … + (2·4…(df−3))/(1·3…(df−2)) cos^(df−2) θ))
    let sum = 0;
    let term = c;
    for (let k = 1; 2 * k + 1 <= df; k++) {
      sum += term;
      term *= (c2 * (2 * k)) / (2 * k + 1);
    }
    return (2 / Math.PI) * (theta + s * sum);
  }
  // sin θ (1 + (1/2) cos²θ + (1·3)/(2·4) cos⁴θ + … + (1·3…(df−3))/(2·4…(df−2)) cos^(df−2) θ)
  let sum = 0;
  let term = 1;
  for (let k = 1; 2 * k <= df; k++) {
    sum += term;
    term *= (c2 * (2 * k - 1)) / (2 * k);
  }
  return s * sum;
}

/**
 * The p-quantile of Student's t with `df` degrees of freedom (p in (0, 1), df a positive
 * integer): t(0.975, 4) = 2.776. Found by bisection on θ, where the two-sided probability is
 * increasing, to the last bit a double can hold; then t = √df · tan θ.
 */
export function studentTQuantile(p: number, df: number): number {
  checkDf(df);
  if (!(p > 0 && p < 1)) throw new RangeError(`p must be in (0, 1), got ${p}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  const target = 2 * p - 1;
  let lo = 0;
  let hi = Math.PI / 2;
  for (;;) {
    const mid = (lo + hi) / 2;
    if (mid <= lo || mid >= hi) break;
    if (twoSided(mid, df) < target) lo = mid;
    else hi = mid;
  }
  return Math.sqrt(df) * Math.tan((lo + hi) / 2);
}

/** A mean over runs and its 95% confidence interval (null with a single value), rounded to 6 decimals. */
export interface Estimate {
  readonly mean: number;
  readonly ci95: { readonly low: number; readonly high: number } | null;
  /** How many values: the runs that measured the figure. */
  readonly n: number;
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/**
 * The mean of `values` and its 95% confidence interval, mean ± t(0.975, n − 1) · s / √n with s
 * the sample standard deviation (n − 1 in its denominator): the interval that covers the mean
 * of the runs' distribution in 95% of repetitions when the runs are independent and their
 * figure roughly normal. Null for no values; no interval for one.
 */
export function estimate(values: readonly number[]): Estimate | null {
  const n = values.length;
  if (n === 0) return null;
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  if (n === 1) return { mean: round6(mean), ci95: null, n };
  let squares = 0;
  for (const v of values) squares += (v - mean) * (v - mean);
  const half = (studentTQuantile(0.975, n - 1) * Math.sqrt(squares / (n - 1))) / Math.sqrt(n);
  return { mean: round6(mean), ci95: { low: round6(mean - half), high: round6(mean + half) }, n };
}
