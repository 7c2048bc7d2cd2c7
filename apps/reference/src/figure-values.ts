/**
 * Numbers in a README's prose that come from a run: each sits between
 * `<!-- value: FIGURE QUERY… FORMAT -->` and `<!-- /value -->` on one line, and is written
 * from the figure's kept JSON (the one its table is drawn from) by `pnpm docs:figures`,
 * which `--check` (a test in CI) holds to it, as it does the figure blocks.
 *
 * The query says where the number is, in words a reader can follow: it starts from the
 * JSON, and each token either goes down a field (`summary.toBareMetal.mean`; an array
 * met on the way is spread into its elements) or keeps the elements whose field has one of
 * the given values (`mode=eli`, `workload=apache,memcached`); a step may name several fields
 * (`atLow,atHigh`) to take each. The last token is the format (VALUE_FORMATS), or `count`:
 * how many elements the query selects.
 * When several numbers remain, the text is their range (`99.1–100.1%`), or one number when
 * they all print the same.
 */
import { checkMarkedPlaces, figureJson, markedPlaces } from './figures.js';

/** How a number is printed: the text of one value, and of a range of two. */
interface ValueFormat {
  readonly one: (x: number) => string;
  readonly range: (low: number, high: number) => string;
}

const grouped = (digits: number) => (x: number) =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** A format from a bare number printer and the unit written after it (after both ends of a range). */
function withUnit(print: (x: number) => string, unit: string): ValueFormat {
  return {
    one: (x) => `${print(x)}${unit}`,
    range: (low, high) => `${print(low)}–${print(high)}${unit}`,
  };
}

/** The formats a value marker may end with. */
export const VALUE_FORMATS: Readonly<Record<string, ValueFormat>> = {
  /** A fraction as a percentage, no decimals: 0.614 → 61% */
  pct0: withUnit((x) => (x * 100).toFixed(0), '%'),
  /** A fraction as a percentage, one decimal: 0.9645 → 96.4% (as the tables print it) */
  pct1: withUnit((x) => (x * 100).toFixed(1), '%'),
  /** A ratio, two decimals: 1.4912 → 1.49× */
  x2: withUnit((x) => x.toFixed(2), '×'),
  /** A number, no decimals, grouped: 1000 → 1,000 */
  n0: withUnit(grouped(0), ''),
  /** A number, one decimal, grouped: 3471.72 → 3,471.7 */
  n1: withUnit(grouped(1), ''),
  /** A number, two decimals: 0.532 → 0.53 */
  n2: withUnit((x) => x.toFixed(2), ''),
  /** Thousands, no decimals: 79210 → 79 K */
  k0: withUnit((x) => (x / 1000).toFixed(0), ' K'),
  /** Thousands, one decimal: 6512 → 6.5 K */
  k1: withUnit((x) => (x / 1000).toFixed(1), ' K'),
  /** Microseconds, one decimal: 15.16 → 15.2 µs */
  us1: withUnit((x) => x.toFixed(1), ' µs'),
  /** Seconds, one decimal: 6.379 → 6.4 s */
  s1: withUnit((x) => x.toFixed(1), ' s'),
  /** Mb/s, one decimal, grouped: 3471.72 → 3,471.7 Mb/s */
  mbps1: withUnit(grouped(1), ' Mb/s'),
};

/** One value marker of a README. */
export interface ValueMarker {
  /** The README, relative to the repository's root. */
  readonly file: string;
  /** The marker's query: the figure's name, the steps, the format. */
  readonly query: string;
  /** 1-based line of the marker. */
  readonly line: number;
  /** The text between the markers. */
  readonly text: string;
}

const VALUE = /<!-- value: ([^\n]*?) -->([^\n]*?)<!-- \/value -->/g;

/** The value markers of a README's text. */
export function valueMarkers(file: string, text: string): ValueMarker[] {
  return markedPlaces(text, VALUE).map((p) => ({ file, query: p.key, line: p.line, text: p.text }));
}

/** `text` with each value marker's content replaced by what `render(query)` gives. */
export function withValues(text: string, render: (query: string) => string): string {
  return text.replace(
    VALUE,
    (_whole, query: string) => `<!-- value: ${query} -->${render(query)}<!-- /value -->`,
  );
}

function field(value: unknown, name: string): unknown {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[name] : undefined;
}

/**
 * Goes down a dotted path from each value, spreading the arrays met on the way; a step that
 * names several fields (`atLow,atHigh`) takes each of them.
 */
function descend(values: readonly unknown[], path: string): unknown[] {
  let out = [...values];
  for (const step of path.split('.')) {
    const names = step.split(',');
    out = out.flatMap((v) =>
      names.flatMap((name) => {
        const f = field(v, name);
        return Array.isArray(f) ? f : [f];
      }),
    );
  }
  return out;
}

/** The value a query gives on a JSON document (the figure's name already taken off). */
export function evaluateValue(json: unknown, steps: readonly string[], format: string): string {
  const fmt = VALUE_FORMATS[format];
  if (fmt === undefined && format !== 'count') {
    throw new Error(
      `unknown format '${format}': use one of ${Object.keys(VALUE_FORMATS).join(', ')}, or count`,
    );
  }
  let values: unknown[] = Array.isArray(json) ? [...json] : [json];
  for (const step of steps) {
    const eq = step.indexOf('=');
    if (eq < 0) {
      values = descend(values, step);
      continue;
    }
    const path = step.slice(0, eq);
    const wanted = new Set(step.slice(eq + 1).split(','));
    values = values.filter((v) => descend([v], path).some((f) => wanted.has(String(f))));
    if (values.length === 0) throw new Error(`no element has ${step}`);
  }
  if (values.length === 0) throw new Error('the query selects nothing');
  if (format === 'count') return values.length.toLocaleString('en-US');
  if (fmt === undefined) throw new Error(`unknown format '${format}'`);
  const numbers = values.map((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new Error(
        `element ${i + 1} of ${values.length} is ${JSON.stringify(v) ?? 'undefined'}, not a number`,
      );
    }
    return v;
  });
  const low = Math.min(...numbers);
  const high = Math.max(...numbers);
  const one = fmt.one(low);
  return one === fmt.one(high) ? one : fmt.range(low, high);
}

/** What a value marker's query gives, from its figure's kept JSON in `root`; throws saying what is wrong. */
export function renderValue(root: string, query: string): string {
  const tokens = query.trim().split(/\s+/);
  if (tokens.length < 2) throw new Error(`value '${query}': give a figure's name, the steps and a format`);
  const name = tokens[0]!;
  const format = tokens[tokens.length - 1]!;
  try {
    return evaluateValue(figureJson(root, name), tokens.slice(1, -1), format);
  } catch (error) {
    throw new Error(`value '${query}': ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** What differs between the READMEs' value markers and their JSON: one line per marker, empty when none. */
export function checkValues(root: string, files: readonly string[]): string[] {
  return checkMarkedPlaces(
    root,
    files,
    VALUE,
    (query) => renderValue(root, query),
    (marker, want) =>
      `value '${marker.key}' reads '${marker.text}' but its JSON gives '${want}': run pnpm docs:figures`,
  );
}
