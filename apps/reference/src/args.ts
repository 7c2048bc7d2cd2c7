/** A mistake on the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
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
): string[] {
  if (requested === undefined) return [...available];
  const unknown = requested.filter((n) => !available.includes(n));
  if (unknown.length > 0) {
    throw new UsageError(
      `${kind}${unknown.length > 1 ? 's' : ''} not available in this build of @exitless/machine: ${unknown.join(', ')}; use ${available.join(', ')}`,
    );
  }
  return [...new Set(requested)];
}
