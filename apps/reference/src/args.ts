import { parseArgs } from 'node:util';
import { MACHINE_LIMITS, type NumberRange, RUN_OPTIONS_LIMITS } from '@exitless/machine';
import { UserError } from '@exitless/x86';

/**
 * A mistake on the command line: the message names the argument and what it accepts; the
 * command prints it on one line and exits with code 2. A UserError like the machine's own,
 * so one `instanceof UserError` recognises every error a user can cause.
 */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * One option of a command: a string that takes a value (named `value` in messages; with
 * `multiple`, one that may be given several times, each value kept in order) or a switch.
 */
export type OptionSpec =
  | { readonly type: 'string'; readonly value: string; readonly multiple?: boolean }
  | { readonly type: 'boolean' };

/**
 * What parseOptions found: each option's value (a string, the strings of a `multiple` option
 * in the order given, or true for a switch), absent when not given.
 */
export type ParsedOptions = Readonly<Record<string, string | readonly string[] | boolean | undefined>>;

function isMultiple(o: OptionSpec | undefined): boolean {
  return o?.type === 'string' && o.multiple === true;
}

/** The first quoted name in a node:util parseArgs message (`'--duration <value>'` gives `--duration`). */
function optionInMessage(message: string): string {
  return /'(-{1,2}[^'\s=]*)/.exec(message)?.[1] ?? '';
}

/** A negative number as a user types one: -5, -0.5, -.5, -1e3, -Infinity. */
const NEGATIVE_NUMBER = /^-(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|Infinity)$/i;

/**
 * The arguments with each negative number that follows an option taking a value joined to it
 * (`--duration -5` becomes `--duration=-5`): parseArgs would read `-5` as an option and say
 * `--duration` needs a value, where the option's own range check says what it accepts. A token
 * that is not a number (`--duration --json`) is left alone, so it still needs a value.
 */
function joinNegativeValues(args: readonly string[], spec: Readonly<Record<string, OptionSpec>>): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      joined.push(...args.slice(i));
      break;
    }
    const takesValue = arg.startsWith('--') && !arg.includes('=') && spec[arg.slice(2)]?.type === 'string';
    const next = args[i + 1];
    if (takesValue && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

function strictParse(
  args: readonly string[],
  options: Record<string, { type: 'string' | 'boolean'; multiple: boolean }>,
) {
  return parseArgs({ args: [...args], options, strict: true, allowPositionals: true, tokens: true });
}

/**
 * Parses a command's options strictly (node:util parseArgs underneath) and turns every
 * mistake into a UsageError that names the argument and says what it accepts: an unknown
 * option (with the command's options listed), a missing value, a value given to a switch,
 * an option given twice (which parseArgs would silently let the last one win) unless it is
 * `multiple`, and any positional argument. A negative number after an option that takes a
 * value is that value (`--duration -5`), so that the option's range check reports it.
 */
export function parseOptions(
  command: string,
  args: readonly string[],
  spec: Readonly<Record<string, OptionSpec>>,
): ParsedOptions {
  const usage = Object.entries(spec)
    .map(([name, o]) =>
      o.type === 'string' ? `--${name} ${o.value}${isMultiple(o) ? ' (repeatable)' : ''}` : `--${name}`,
    )
    .join(', ');
  const options = Object.fromEntries(
    Object.entries(spec).map(([name, o]) => [name, { type: o.type, multiple: isMultiple(o) }]),
  );
  let parsed: ReturnType<typeof strictParse>;
  try {
    parsed = strictParse(joinNegativeValues(args, spec), options);
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? String(error.code) : '';
    if (!code.startsWith('ERR_PARSE_ARGS')) throw error;
    const option = optionInMessage((error as Error).message);
    const known = spec[option.replace(/^-+/, '')];
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && known?.type === 'string') {
      throw new UsageError(
        `${option} needs a value: use ${option} ${known.value} (${option}=VALUE for a value that starts with '-')`,
      );
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && known?.type === 'boolean') {
      throw new UsageError(`${option} is a switch and takes no value: use ${option} alone`);
    }
    throw new UsageError(`unknown option '${option}' for 'exitless ${command}': use ${usage}`);
  }
  const positional = parsed.positionals[0];
  if (positional !== undefined) {
    throw new UsageError(`${command} takes no positional arguments, got '${positional}': use ${usage}`);
  }
  const seen = new Map<string, number>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || isMultiple(spec[token.name])) continue;
    const n = (seen.get(token.name) ?? 0) + 1;
    seen.set(token.name, n);
    if (n === 2) throw new UsageError(`--${token.name} is given more than once: give it once`);
  }
  return parsed.values as ParsedOptions;
}

/** The values of a `multiple` string option, in the order given (empty when absent). */
export function stringsOption(values: ParsedOptions, name: string): readonly string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/** A string option's value (undefined when absent). */
export function stringOption(values: ParsedOptions, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** `--seed N`: an integer the machine accepts as a seed. */
export function parseSeed(value: string | undefined, fallback: number): number {
  return parseNumber(value, 'seed', fallback, MACHINE_LIMITS.seed.min, {
    integer: true,
    max: MACHINE_LIMITS.seed.max,
  });
}

/** The most runs `--runs` takes (a bound that keeps a mistyped count from starting days of work). */
export const MAX_RUNS = 1000;

/**
 * `--runs N`: how many runs of each configuration, with seeds seed, seed + 1, …, seed + N − 1
 * (1 by default); every one of those seeds must be one the machine accepts.
 */
export function parseRuns(value: string | undefined, seed: number): number {
  const runs = parseNumber(value, 'runs', 1, 1, { integer: true, max: MAX_RUNS });
  const room = MACHINE_LIMITS.seed.max - seed;
  if (runs - 1 > room) {
    throw new UsageError(
      `--runs must be at most ${room + 1} from --seed ${seed} (the seeds run from ${seed} up, and stop at ${MACHINE_LIMITS.seed.max}), got ${runs}`,
    );
  }
  return runs;
}

/** A number option checked against one of the machine's ranges (so the CLI and the machine agree). */
export function parseInRange(
  value: string | undefined,
  name: string,
  range: NumberRange,
): number | undefined {
  if (value === undefined) return undefined;
  return parseNumber(value, name, 0, range.min, {
    ...(range.integer === true ? { integer: true } : {}),
    max: range.max,
  });
}

/** `--duration MS` and `--warmup MS`: each positive, and together a run the simulator's clock can hold. */
export function parseRunLength(
  values: ParsedOptions,
  fallback: { readonly durationMs: number; readonly warmupMs: number },
): { durationMs: number; warmupMs: number } {
  const durationMs = parseNumber(stringOption(values, 'duration'), 'duration', fallback.durationMs, 0.001);
  const warmupMs = parseNumber(stringOption(values, 'warmup'), 'warmup', fallback.warmupMs, 0);
  const max = RUN_OPTIONS_LIMITS.durationMs.max;
  if (durationMs + warmupMs > max) {
    throw new UsageError(
      `--duration + --warmup must be at most ${max} ms (the simulator's clock ends at 2^53 − 1 ps), got ${durationMs} + ${warmupMs}`,
    );
  }
  return { durationMs, warmupMs };
}

/** A number option: `fallback` when absent, otherwise a finite number ≥ `min`. */
export function parseNumber(
  value: string | undefined,
  name: string,
  fallback: number,
  min: number,
  options: { readonly integer?: boolean; readonly max?: number } = {},
): number {
  if (value === undefined) return fallback;
  const n = value.trim() === '' ? Number.NaN : Number(value);
  const max = options.max ?? Number.POSITIVE_INFINITY;
  if (!Number.isFinite(n) || n < min || n > max || (options.integer === true && !Number.isInteger(n))) {
    const what = options.integer === true ? 'an integer' : 'a number';
    const range = Number.isFinite(max) ? `from ${min} to ${max}` : `≥ ${min}`;
    throw new UsageError(`--${name} must be ${what} ${range}, got '${value}'`);
  }
  return n;
}

/** A comma-separated list option (`a,b,c`); empty items are an error. */
export function parseList(value: string, name: string): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) {
    throw new UsageError(`--${name} takes a comma-separated list with no empty items, got '${value}'`);
  }
  return items;
}

/** A comma-separated list of numbers, each checked like parseNumber. */
export function parseNumberList(
  value: string,
  name: string,
  min: number,
  options: { readonly integer?: boolean; readonly max?: number } = {},
): number[] {
  return parseList(value, name).map((v) => parseNumber(v, name, 0, min, options));
}

/**
 * Checks names the user asked for against what is available, keeping the user's order
 * and dropping repeats; an unknown name is a UsageError that lists the available ones.
 */
export function selectNames(
  kind: 'mode' | 'workload',
  requested: readonly string[] | undefined,
  available: readonly string[],
  flag: string = kind,
): string[] {
  if (requested === undefined) return [...available];
  const unknown = requested.filter((n) => !available.includes(n));
  if (unknown.length > 0) {
    throw new UsageError(
      `--${flag}: ${kind}${unknown.length > 1 ? 's' : ''} not available in this build of @exitless/machine: ${unknown.join(', ')}; use ${available.join(', ')}`,
    );
  }
  return [...new Set(requested)];
}
