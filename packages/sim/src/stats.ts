import { createRequire } from 'node:module';
import type * as hdr from 'hdr-histogram-js';
import { SimulationError } from './errors.js';

/** Anything that tells the current simulated time (the Simulator does). */
export interface TimeSource {
  /** Current simulated time, ps. */
  readonly now: number;
}

const NAME_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** A monotonically increasing count (exits, interrupts, frames). */
export class Counter {
  /** The counter's dot-separated name. */
  readonly name: string;
  /** The count since the last reset. */
  value = 0;

  constructor(name: string) {
    this.name = name;
  }

  /** Adds 1. */
  inc(): void {
    this.value++;
  }

  /** Adds `n`. */
  add(n: number): void {
    this.value += n;
  }

  /** @internal */
  reset(): void {
    this.value = 0;
  }
}

/** A value that holds between changes; reports its time-weighted mean since the last reset. */
export class Gauge {
  /** The gauge's dot-separated name. */
  readonly name: string;
  private readonly clock: TimeSource;
  private _value = 0;
  private lastChange = 0;
  private since = 0;
  private integral = 0;
  private _max = 0;

  constructor(name: string, clock: TimeSource) {
    this.name = name;
    this.clock = clock;
    this.lastChange = clock.now;
    this.since = clock.now;
  }

  /** The current value. */
  get value(): number {
    return this._value;
  }

  /** The largest value since the last reset (the value at the reset, at least). */
  get max(): number {
    return this._max;
  }

  /** Sets the value at the current time (the time-weighted mean accounts for the old value up to now). */
  set(value: number): void {
    const now = this.clock.now;
    this.integral += this._value * (now - this.lastChange);
    this.lastChange = now;
    this._value = value;
    if (value > this._max) this._max = value;
  }

  /** Adds `delta` to the value at the current time. */
  add(delta: number): void {
    this.set(this._value + delta);
  }

  /** The time-weighted mean from the last reset to now (the current value if no time passed). */
  mean(): number {
    const now = this.clock.now;
    const span = now - this.since;
    if (span <= 0) return this._value;
    return (this.integral + this._value * (now - this.lastChange)) / span;
  }

  /** @internal */
  reset(): void {
    const now = this.clock.now;
    this.integral = 0;
    this.lastChange = now;
    this.since = now;
    this._max = this._value;
  }
}

/** Options of a latency histogram: the range of values and the precision kept. */
export interface HistogramOptions {
  /** Largest value recorded exactly enough (larger values are clamped and counted). Default 10^15. */
  readonly highest?: number;
  /** Significant decimal digits kept (1–5). Default 3: 0.1% relative error. */
  readonly significantDigits?: number;
}

let hdrModule: typeof hdr | undefined;

/**
 * hdr-histogram-js, loaded at the first histogram rather than with the package: it takes tens
 * of milliseconds to load, which a command that builds no machine (`exitless --help`) should
 * not pay.
 */
function hdrHistogramJs(): typeof hdr {
  hdrModule ??= createRequire(import.meta.url)('hdr-histogram-js') as typeof hdr;
  return hdrModule;
}

/**
 * A High Dynamic Range histogram (Gil Tene's HdrHistogram, via hdr-histogram-js) of
 * non-negative integer values, usually latencies in picoseconds. Relative error is bounded
 * by the significant digits kept; values above the range are clamped and counted.
 */
export class Histogram {
  /** The histogram's dot-separated name. */
  readonly name: string;
  /** The largest value recorded exactly; larger values are clamped to it. */
  readonly highest: number;
  private readonly h: hdr.Histogram;
  private _clamped = 0;

  constructor(name: string, options: HistogramOptions = {}) {
    this.name = name;
    const highest = options.highest ?? 1e15;
    const digits = options.significantDigits ?? 3;
    if (!Number.isSafeInteger(highest) || highest < 2) {
      throw new SimulationError('bad-argument', `histogram '${name}': highest must be a safe integer ≥ 2`);
    }
    if (!Number.isInteger(digits) || digits < 1 || digits > 5) {
      throw new SimulationError('bad-argument', `histogram '${name}': significantDigits must be 1..5`);
    }
    this.highest = highest;
    this.h = hdrHistogramJs().build({
      bitBucketSize: 64,
      autoResize: false,
      lowestDiscernibleValue: 1,
      highestTrackableValue: highest,
      numberOfSignificantValueDigits: digits as 1 | 2 | 3 | 4 | 5,
      useWebAssembly: false,
    });
  }

  /** Records one value (non-negative; rounded to an integer; clamped to `highest`). */
  record(value: number): void {
    let v = Math.round(value);
    if (v < 0) v = 0;
    if (v > this.highest) {
      v = this.highest;
      this._clamped++;
    }
    this.h.recordValue(v);
  }

  /** How many values were recorded. */
  get count(): number {
    return this.h.totalCount;
  }

  /** Values that exceeded the range and were recorded as `highest`. */
  get clamped(): number {
    return this._clamped;
  }

  /** The smallest non-zero value recorded (0 when empty). */
  get min(): number {
    return this.h.totalCount === 0
      ? 0
      : this.h.minNonZeroValue === Number.MAX_SAFE_INTEGER
        ? 0
        : this.h.minNonZeroValue;
  }

  /** The largest value recorded (0 when empty). */
  get max(): number {
    return this.h.totalCount === 0 ? 0 : this.h.maxValue;
  }

  /** The mean of the values recorded (0 when empty). */
  get mean(): number {
    return this.h.totalCount === 0 ? 0 : this.h.mean;
  }

  /** The value at percentile p (0–100). */
  percentile(p: number): number {
    return this.h.totalCount === 0 ? 0 : this.h.getValueAtPercentile(p);
  }

  /** @internal */
  reset(): void {
    this.h.reset();
    this._clamped = 0;
  }
}

/** A summary of a histogram as it appears in a snapshot. */
export interface HistogramSummary {
  /** Values recorded. */
  readonly count: number;
  /** Smallest non-zero value. */
  readonly min: number;
  /** Mean value. */
  readonly mean: number;
  /** Median (50th percentile). */
  readonly p50: number;
  /** 99th percentile. */
  readonly p99: number;
  /** 99.9th percentile. */
  readonly p999: number;
  /** Largest value. */
  readonly max: number;
}

/** The state of every instrument at one time, names sorted, ready for JSON. */
export interface StatsSnapshot {
  /** Simulated time of the snapshot and of the last reset (ps). */
  readonly time: number;
  /** Simulated time of the last reset, ps. */
  readonly since: number;
  /** Every counter's value, by name. */
  readonly counters: Readonly<Record<string, number>>;
  /** Every gauge's time-weighted mean, current value and maximum, by name. */
  readonly gauges: Readonly<
    Record<
      string,
      {
        /** Time-weighted mean since the last reset. */
        readonly mean: number;
        /** The current value. */
        readonly value: number;
        /** The largest value since the last reset. */
        readonly max: number;
      }
    >
  >;
  /** Every histogram's summary, by name. */
  readonly histograms: Readonly<Record<string, HistogramSummary>>;
}

/**
 * The registry of a run's instruments, named hierarchically (`cpu0.exits.external-interrupt`).
 * `reset()` at the end of warm-up zeroes them all; `snapshot()` reads them all.
 */
export class Stats {
  private readonly clock: TimeSource;
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, Gauge>();
  private readonly histograms = new Map<string, Histogram>();
  private since: number;

  constructor(clock: TimeSource) {
    this.clock = clock;
    this.since = clock.now;
  }

  /** The counter `name`, created on first use. */
  counter(name: string): Counter {
    const c = this.counters.get(name);
    if (c !== undefined) return c;
    this.checkName(name, this.counters);
    const made = new Counter(name);
    this.counters.set(name, made);
    return made;
  }

  /** The time-weighted gauge `name`, created on first use. */
  gauge(name: string): Gauge {
    const g = this.gauges.get(name);
    if (g !== undefined) return g;
    this.checkName(name, this.gauges);
    const made = new Gauge(name, this.clock);
    this.gauges.set(name, made);
    return made;
  }

  /** The histogram `name`, created on first use with `options`. */
  histogram(name: string, options: HistogramOptions = {}): Histogram {
    const h = this.histograms.get(name);
    if (h !== undefined) return h;
    this.checkName(name, this.histograms);
    const made = new Histogram(name, options);
    this.histograms.set(name, made);
    return made;
  }

  /** A view that prefixes every name with `prefix.`. */
  scope(prefix: string): ScopedStats {
    return new ScopedStats(this, prefix);
  }

  /** Looks up a counter's value without creating it (0 if absent). */
  counterValue(name: string): number {
    return this.counters.get(name)?.value ?? 0;
  }

  /** Zeroes every instrument (the end of warm-up). */
  reset(): void {
    for (const c of this.counters.values()) c.reset();
    for (const g of this.gauges.values()) g.reset();
    for (const h of this.histograms.values()) h.reset();
    this.since = this.clock.now;
  }

  /** The simulated time of the last reset (ps). */
  get resetTime(): number {
    return this.since;
  }

  /** The state of every instrument now, names sorted. */
  snapshot(): StatsSnapshot {
    const counters: Record<string, number> = {};
    for (const name of [...this.counters.keys()].sort()) counters[name] = this.counters.get(name)!.value;
    const gauges: Record<string, { mean: number; value: number; max: number }> = {};
    for (const name of [...this.gauges.keys()].sort()) {
      const g = this.gauges.get(name)!;
      gauges[name] = { mean: g.mean(), value: g.value, max: g.max };
    }
    const histograms: Record<string, HistogramSummary> = {};
    for (const name of [...this.histograms.keys()].sort()) {
      const h = this.histograms.get(name)!;
      histograms[name] = {
        count: h.count,
        min: h.min,
        mean: h.mean,
        p50: h.percentile(50),
        p99: h.percentile(99),
        p999: h.percentile(99.9),
        max: h.max,
      };
    }
    return { time: this.clock.now, since: this.since, counters, gauges, histograms };
  }

  private checkName(name: string, own: Map<string, unknown>): void {
    if (!NAME_RE.test(name)) {
      throw new SimulationError(
        'bad-name',
        `statistic name '${name}' must be dot-separated parts of letters, digits, '-' and '_'`,
      );
    }
    for (const other of [this.counters, this.gauges, this.histograms]) {
      if (other !== own && other.has(name)) {
        throw new SimulationError('duplicate-name', `statistic '${name}' already exists as another kind`);
      }
    }
  }
}

/** A prefixing view of a Stats registry, for one component. */
export class ScopedStats {
  private readonly stats: Stats;
  /** The prefix put before every name (without the trailing dot). */
  readonly prefix: string;

  constructor(stats: Stats, prefix: string) {
    this.stats = stats;
    this.prefix = prefix;
  }

  /** The counter `prefix.name`, created on first use. */
  counter(name: string): Counter {
    return this.stats.counter(`${this.prefix}.${name}`);
  }

  /** The gauge `prefix.name`, created on first use. */
  gauge(name: string): Gauge {
    return this.stats.gauge(`${this.prefix}.${name}`);
  }

  /** The histogram `prefix.name`, created on first use with `options`. */
  histogram(name: string, options: HistogramOptions = {}): Histogram {
    return this.stats.histogram(`${this.prefix}.${name}`, options);
  }

  /** A view whose prefix is `prefix` under this one's. */
  scope(prefix: string): ScopedStats {
    return new ScopedStats(this.stats, `${this.prefix}.${prefix}`);
  }
}
