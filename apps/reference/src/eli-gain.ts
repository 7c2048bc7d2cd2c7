/**
 * "How much of ELI's gain each design keeps": a compact table, one row per profile × workload,
 * with ELI's own speed-up over baseline and, for every other design that ran, the share of
 * that gain it keeps (`relative.eliGainKept`, taken per seed in `withRelative`). It reads single
 * runs, summaries over seeds and bands over profile samples through a view, so that each shows
 * its figures as the main table does.
 */
import { type Column, factor, percent, type ReproduceEntry } from './format.js';
import { BARE_METAL, BASELINE, ELI, MIN_ELI_GAIN } from './relative.js';
import { plusMinus, type SummaryEntry } from './summary.js';
import { type UncertaintyEntry, withBand } from './uncertainty.js';

/** The title of the table, in stdout and results.md. */
export const ELI_GAIN_TITLE = "How much of ELI's gain each design keeps";

/** How one kind of result row (one run, a summary over seeds, a band over samples) shows in the table. */
export interface EliGainView<T> {
  /** The share of ELI's gain the row's mode keeps, as a cell ('—' where it is not defined). */
  readonly kept: (row: T) => string;
  /** The share the cell shows, as a number (the run's, the mean, the base run's), or null. */
  readonly share: (row: T) => number | null;
  /** The row's speed-up over baseline, as a cell (the table shows eli's). */
  readonly toBaseline: (row: T) => string;
  /** Of the row's runs (one, its seeds, or its base run and samples), how many define a share. */
  readonly defined: (row: T) => { readonly n: number; readonly of: number };
  /** What one of several runs of a row is, for the notes ('seed'); absent for single runs. */
  readonly runName?: string;
}

const fixed = (digits: number) => (x: number) => x.toFixed(digits);
const percentOf = (x: number) => (x * 100).toFixed(1);

/** Single runs: the run's share. */
export const RUN_GAIN_VIEW: EliGainView<ReproduceEntry> = {
  kept: (r) => percent(r.relative.eliGainKept),
  share: (r) => r.relative.eliGainKept,
  toBaseline: (r) => factor(r.relative.toBaseline),
  defined: (r) => ({ n: r.relative.eliGainKept === null ? 0 : 1, of: 1 }),
};

/** Several seeds: the mean ± half-width of the 95% interval of the per-seed shares. */
export const SUMMARY_GAIN_VIEW: EliGainView<SummaryEntry> = {
  kept: (e) => plusMinus(e.summary.eliGainKept, percentOf, '%'),
  share: (e) => e.summary.eliGainKept?.mean ?? null,
  toBaseline: (e) => plusMinus(e.summary.toBaseline, fixed(2), '×'),
  defined: (e) => ({ n: e.summary.eliGainKept?.n ?? 0, of: e.runs.length }),
  runName: 'seed',
};

/** Profile samples: the base run's share with its 5th–95th percentile band over the samples' shares. */
export const BAND_GAIN_VIEW: EliGainView<UncertaintyEntry> = {
  kept: (e) => withBand(e.bands.eliGainKept, percentOf, '%'),
  share: (e) => e.bands.eliGainKept?.base ?? null,
  toBaseline: (e) => withBand(e.bands.toBaseline, fixed(2), '×'),
  defined: (e) => ({
    n: (e.bands.eliGainKept?.n ?? 0) + (e.base?.relative.eliGainKept != null ? 1 : 0),
    of: e.runs.length + (e.base !== null ? 1 : 0),
  }),
  runName: 'profile run (base or sample)',
};

/**
 * The shares that get a note of their own: below −100% (the design is further below baseline
 * than ELI is above it) or above 200% (it gains over twice what ELI gains). They are not
 * errors, but a reader should not take them for a misprint.
 */
export const SHARE_NOTE_BOUNDS: { readonly low: number; readonly high: number } = { low: -1, high: 2 };

/** A row of the table: one workload on one profile, its results by mode. */
export interface EliGainRow<T> {
  readonly profile: string;
  readonly workload: string;
  readonly byMode: ReadonlyMap<string, T>;
}

/** The table: its columns, rows, and a note for every '—' that is not self-evident. */
export interface EliGainTable<T> {
  readonly columns: readonly Column<EliGainRow<T>>[];
  readonly rows: readonly EliGainRow<T>[];
  /** The designs with a column, in table order. */
  readonly designs: readonly string[];
  readonly notes: readonly string[];
}

/** What the table shows and how to read it, for the line under its title. */
export function eliGainExplanation(runs: 'run' | 'seeds' | 'samples'): string {
  const cells =
    runs === 'seeds'
      ? ' Each cell is the mean ± half-width of the 95% confidence interval of the per-seed shares (each seed against the baseline and eli runs of that seed).'
      : runs === 'samples'
        ? " Each cell is the base profile's share [5th, 95th percentile of the samples' shares], each sample's share taken within that sample."
        : '';
  return (
    `Share of ELI's gain kept = (design − ${BASELINE}) ÷ (${ELI} − ${BASELINE}) throughput, runs of the same workload, profile and seed: ` +
    `100% keeps all of ELI's gain over ${BASELINE}, 0% none of it; above 100% is faster than ${ELI}, below 0% slower than ${BASELINE}. ` +
    `“${ELI} vs ${BASELINE}” is ELI's own speed-up. A share is shown only where ${ELI} gains at least ${MIN_ELI_GAIN * 100}% over ${BASELINE}: ` +
    `a smaller gain is of the order of the run-to-run spread, and a share of it would be noise (a huge or negative ratio).${cells}`
  );
}

/**
 * The compact table of `entries` (several results per workload × mode are not expected: the
 * first is used), or null when no workload has both a baseline and an eli result. Rows are
 * profile × workload in the order they first appear; the designs (every mode but bare-metal,
 * baseline and eli) follow `options.modes` where it lists them, else their first appearance.
 * A design that did not run on a profile shows '—', with a note saying why (`refusal`, e.g.
 * the machine's `modeRefusal`); so does a row whose ELI gain is too small to take a share of.
 */
export function eliGainTable<
  T extends { readonly workload: string; readonly mode: string; readonly profile: string },
>(
  entries: readonly T[],
  view: EliGainView<T>,
  options: {
    /** Show the profile as the first column (several profiles). */
    readonly profileColumn?: boolean;
    /** The modes in the reproduction's order. */
    readonly modes?: readonly string[];
    /** Why `mode` cannot run on `profile`, or null. */
    readonly refusal?: (mode: string, profile: string) => string | null;
  } = {},
): EliGainTable<T> | null {
  const rows: { profile: string; workload: string; byMode: Map<string, T> }[] = [];
  const seen: string[] = [];
  for (const e of entries) {
    let row = rows.find((r) => r.profile === e.profile && r.workload === e.workload);
    if (row === undefined) {
      row = { profile: e.profile, workload: e.workload, byMode: new Map() };
      rows.push(row);
    }
    if (!row.byMode.has(e.mode)) row.byMode.set(e.mode, e);
    if (!seen.includes(e.mode)) seen.push(e.mode);
  }
  const comparable = (r: EliGainRow<T>) => r.byMode.has(BASELINE) && r.byMode.has(ELI);
  if (!rows.some(comparable)) return null;
  const order = options.modes ?? [];
  const rank = (m: string) => (order.includes(m) ? order.indexOf(m) : order.length + seen.indexOf(m));
  const designs = seen
    .filter((m) => m !== BARE_METAL && m !== BASELINE && m !== ELI)
    .sort((a, b) => rank(a) - rank(b));

  const many = options.profileColumn === true;
  const where = (r: EliGainRow<T>) => (many ? `${r.workload} on ${r.profile}` : r.workload);
  const notes: string[] = [];
  for (const r of rows) {
    if (!comparable(r)) {
      const missing = [BASELINE, ELI].filter((m) => !r.byMode.has(m)).join(' and ');
      notes.push(`${where(r)}: no ${missing} run, so no share of ELI's gain`);
      continue;
    }
    const { n, of } = view.defined(r.byMode.get(ELI)!);
    if (n === 0) {
      notes.push(
        `${where(r)}: ${ELI} is ${view.toBaseline(r.byMode.get(ELI)!)} ${BASELINE}, a gain below ${MIN_ELI_GAIN * 100}%, so no share of it is shown (—)`,
      );
    } else if (n < of) {
      notes.push(
        `${where(r)}: ${ELI} gained less than ${MIN_ELI_GAIN * 100}% over ${BASELINE} in ${of - n} of ${of} ${view.runName ?? 'run'}s; the shares are over the other ${n}`,
      );
    }
  }
  for (const r of rows) {
    if (!comparable(r)) continue;
    for (const mode of designs) {
      const e = r.byMode.get(mode);
      const share = e !== undefined ? view.share(e) : null;
      if (e === undefined || share === null) continue;
      if (share >= SHARE_NOTE_BOUNDS.low && share <= SHARE_NOTE_BOUNDS.high) continue;
      const times = Math.abs(share).toFixed(1);
      notes.push(
        `${mode} for ${where(r)}: ${view.kept(e)} — it is ${view.toBaseline(e)} ${BASELINE} where ${ELI} is ${view.toBaseline(r.byMode.get(ELI)!)}, ` +
          `${share < 0 ? 'slower' : 'faster'} than ${BASELINE} by ${times} times ELI's gain`,
      );
    }
  }
  const profiles = [...new Set(rows.map((r) => r.profile))];
  for (const mode of designs) {
    for (const profile of profiles) {
      const on = rows.filter((r) => r.profile === profile);
      const without = on.filter((r) => !r.byMode.has(mode));
      if (without.length === 0) continue;
      const name = many || profiles.length > 1 ? ` on ${profile}` : '';
      if (without.length === on.length) {
        const why = options.refusal?.(mode, profile) ?? null;
        notes.push(`— under ${mode}${name}: not run${why !== null ? ` — ${why}` : ''}`);
      } else {
        for (const r of without) notes.push(`— under ${mode} for ${where(r)}: no run of it`);
      }
    }
  }

  const cell = (r: EliGainRow<T>, mode: string) => {
    const e = r.byMode.get(mode);
    return e !== undefined && comparable(r) ? view.kept(e) : '—';
  };
  const columns: Column<EliGainRow<T>>[] = [
    ...(many ? [{ header: 'profile', align: 'left' as const, text: (r: EliGainRow<T>) => r.profile }] : []),
    { header: 'workload', align: 'left', text: (r) => r.workload },
    {
      header: `${ELI} vs ${BASELINE}`,
      align: 'right',
      text: (r) => (comparable(r) ? view.toBaseline(r.byMode.get(ELI)!) : '—'),
    },
    ...designs.map(
      (mode): Column<EliGainRow<T>> => ({ header: mode, align: 'right', text: (r) => cell(r, mode) }),
    ),
  ];
  return { columns, rows, designs, notes };
}
