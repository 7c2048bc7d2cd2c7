/**
 * The small vocabulary the machine's validation is written in: a numeric range as data
 * (what `MachineConfig`, the profile schema and the workload options each list), a check
 * of a value against it, and the words that say what it accepts. Everything here is
 * total: any value at all — a Symbol, an object with no prototype — is described, never
 * thrown on.
 */

/** What a numeric field accepts. */
export interface NumberRange {
  /** The smallest value accepted. */
  readonly min: number;
  /** The largest value accepted. */
  readonly max: number;
  /** Whole numbers only. */
  readonly integer?: boolean;
  /** A multiple of this (integers only). */
  readonly multipleOf?: number;
  /** The unit, when saying it helps (`Hz`, `cycles`, `ms`). */
  readonly unit?: string;
  /** Why the range is what it is (cited in the message). */
  readonly why?: string;
}

/** Does `value` lie in `range` (a finite number of the right kind)? */
export function inRange(value: unknown, range: NumberRange): value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  if (value < range.min || value > range.max) return false;
  if (range.integer === true && !Number.isInteger(value)) return false;
  if (range.multipleOf !== undefined && value % range.multipleOf !== 0) return false;
  return true;
}

/** "an even integer from 64 to 3840", "a number from 0 to 1022 us". */
export function describeRange(range: NumberRange): string {
  const kind =
    range.integer === true
      ? range.multipleOf === 2
        ? 'an even integer'
        : range.multipleOf !== undefined
          ? `an integer multiple of ${range.multipleOf}`
          : 'an integer'
      : 'a number';
  const unit = range.unit !== undefined ? ` ${range.unit}` : '';
  const why = range.why !== undefined ? ` (${range.why})` : '';
  return `${kind} from ${range.min} to ${range.max}${unit}${why}`;
}

/** A short, one-line description of any value, for "got …" in a message. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string': {
      const quoted = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
      return `'${quoted.slice(1, -1)}'`;
    }
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'bigint':
      return `${value}n (a bigint)`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      return value === null ? 'null' : Array.isArray(value) ? 'an array' : 'an object';
  }
}

/** A plain object (a record of fields), not null, an array or a function. */
export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The own keys of `value` that are not in `known` (`constructor` and the like included). */
export function unknownKeys(value: Readonly<Record<string, unknown>>, known: readonly string[]): string[] {
  const names = new Set(known);
  return Object.keys(value).filter((k) => !names.has(k));
}
