/**
 * Simulated time is an integer number of picoseconds on one global clock, held in a JS
 * number. Integers are exact up to 2^53 ps (about 104 days of simulated time), which is
 * the hard limit: scheduling beyond it is an error, never a silent loss of precision.
 */

/** Picoseconds in one nanosecond, microsecond, millisecond and second. */
export const PS_PER_NS = 1_000;
/** Picoseconds in one microsecond (10^6). */
export const PS_PER_US = 1_000_000;
/** Picoseconds in one millisecond (10^9). */
export const PS_PER_MS = 1_000_000_000;
/** Picoseconds in one second (10^12). */
export const PS_PER_S = 1_000_000_000_000;

/** The latest representable simulated time, in picoseconds (2^53 − 1). */
export const MAX_TIME_PS: number = Number.MAX_SAFE_INTEGER;

/** Whole picoseconds in `n` nanoseconds (rounded to the nearest picosecond). */
export function ns(n: number): number {
  return Math.round(n * PS_PER_NS);
}

/** Whole picoseconds in `n` microseconds. */
export function us(n: number): number {
  return Math.round(n * PS_PER_US);
}

/** Whole picoseconds in `n` milliseconds. */
export function ms(n: number): number {
  return Math.round(n * PS_PER_MS);
}

/** Whole picoseconds in `n` seconds. */
export function seconds(n: number): number {
  return Math.round(n * PS_PER_S);
}

/** Converts picoseconds to (fractional) seconds. */
export function psToSeconds(ps: number): number {
  return ps / PS_PER_S;
}

/** Converts picoseconds to (fractional) nanoseconds. */
export function psToNs(ps: number): number {
  return ps / PS_PER_NS;
}

/** Converts picoseconds to (fractional) microseconds. */
export function psToUs(ps: number): number {
  return ps / PS_PER_US;
}

/**
 * Picoseconds taken by `cycles` cycles of a clock at `hz`, rounded to the nearest
 * picosecond. A 2.93 GHz cycle is 341.3 ps, so a single cycle rounds; a run of cycles is
 * converted as a whole so that rounding error does not accumulate per cycle.
 */
export function cyclesToPs(cycles: number, hz: number): number {
  return Math.round((cycles * PS_PER_S) / hz);
}

/** Whole cycles of a clock at `hz` in `ps` picoseconds: the largest n with cyclesToPs(n, hz) ≤ ps. */
export function psToCycles(ps: number, hz: number): number {
  return Math.floor(((ps + 0.5) * hz) / PS_PER_S);
}

/**
 * A clock domain: converts between its own cycles and global picoseconds. Each CPU (and
 * any device with a clock of its own) has one.
 */
export class ClockDomain {
  /** The domain's clock frequency, Hz. */
  readonly hz: number;
  /** Picoseconds per cycle, fractional. */
  readonly psPerCycle: number;

  constructor(hz: number) {
    if (!Number.isFinite(hz) || hz <= 0) {
      throw new RangeError(`ClockDomain: frequency must be a positive number of Hz, got ${hz}`);
    }
    this.hz = hz;
    this.psPerCycle = PS_PER_S / hz;
  }

  /** Picoseconds taken by `cycles` cycles, rounded to the nearest picosecond. */
  cyclesToPs(cycles: number): number {
    return Math.round(cycles * this.psPerCycle);
  }

  /**
   * Whole cycles elapsed in `ps` picoseconds: the largest n whose cyclesToPs(n) ≤ ps (so it
   * inverts cyclesToPs despite the rounding to whole picoseconds).
   */
  psToCycles(ps: number): number {
    return Math.floor((ps + 0.5) / this.psPerCycle);
  }

  /** The smallest n whose cyclesToPs(n) ≥ ps (the cycles still owed to cover `ps`). */
  psToCyclesCeil(ps: number): number {
    const c = Math.ceil((ps - 0.5) / this.psPerCycle);
    return Math.max(c, 0);
  }
}
