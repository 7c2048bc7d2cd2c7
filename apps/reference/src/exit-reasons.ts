/**
 * Exits per second by exit reason: the reasons a reproduction's runs counted (the run report's
 * `exitsPerSecond.byReason`, summed over the CPUs), and a table of them per workload × mode —
 * for single runs, summaries over seeds and bands over profile samples, each shown as the main
 * table shows its figures.
 */
import { type Column, grouped, type ReproduceEntry } from './format.js';
import { BARE_METAL } from './relative.js';
import { exitsOfReason, plusMinus, type SummaryEntry } from './summary.js';
import { exitsOfReasonBand, type UncertaintyEntry, withBand } from './uncertainty.js';

/** The title of the table in results.md. */
export const EXIT_REASONS_TITLE = 'Exits per second by reason';

/** How one kind of result row shows its exits by reason. */
export interface ExitReasonView<T> {
  /** The exit reasons the row's runs counted. */
  readonly reasons: (row: T) => readonly string[];
  /** Exits per second of one reason, as a cell (0 where the row's runs had none of it). */
  readonly cell: (row: T, reason: string) => string;
  /** Exits per second of every reason, as a cell. */
  readonly total: (row: T) => string;
}

/** Single runs. */
export const RUN_EXITS_VIEW: ExitReasonView<ReproduceEntry> = {
  reasons: (r) => Object.keys(r.exitsPerSecond.byReason),
  cell: (r, reason) => grouped(r.exitsPerSecond.byReason[reason] ?? 0),
  total: (r) => grouped(r.exitsPerSecond.total),
};

/** Several seeds: mean ± half-width of the 95% interval. */
export const SUMMARY_EXITS_VIEW: ExitReasonView<SummaryEntry> = {
  reasons: (e) => Object.keys(e.summary.exitsPerSecondByReason),
  cell: (e, reason) => plusMinus(exitsOfReason(e.summary, e.runs.length, reason), grouped),
  total: (e) => plusMinus(e.summary.exitsPerSecond, grouped),
};

/** Profile samples: the base run's value [5th, 95th percentile over the samples]. */
export const BAND_EXITS_VIEW: ExitReasonView<UncertaintyEntry> = {
  reasons: (e) => Object.keys(e.exitsPerSecondByReason),
  cell: (e, reason) => withBand(exitsOfReasonBand(e, reason), grouped),
  total: (e) => withBand(e.bands.exitsPerSecond, grouped),
};

/** Every exit reason any row counted, sorted by name (the report's order). */
export function exitReasons<T>(rows: readonly T[], view: ExitReasonView<T>): string[] {
  return [...new Set(rows.flatMap((r) => view.reasons(r)))].sort();
}

/**
 * The rows of the table: every result but bare metal's (it has no hypervisor, so no exits; any
 * other mode is kept, even one without exits, since that is a result).
 */
export function exitReasonRows<T extends { readonly mode: string }>(rows: readonly T[]): T[] {
  return rows.filter((r) => r.mode !== BARE_METAL);
}

/**
 * The columns of the table: (profile,) workload, mode, one column per reason of `reasons`, and
 * the total.
 */
export function exitReasonColumns<
  T extends { readonly workload: string; readonly mode: string; readonly profile: string },
>(reasons: readonly string[], view: ExitReasonView<T>, profileColumn = false): Column<T>[] {
  return [
    ...(profileColumn ? [{ header: 'profile', align: 'left' as const, text: (r: T) => r.profile }] : []),
    { header: 'workload', align: 'left', text: (r) => r.workload },
    { header: 'mode', align: 'left', text: (r) => r.mode },
    ...reasons.map(
      (reason): Column<T> => ({ header: reason, align: 'right', text: (r) => view.cell(r, reason) }),
    ),
    { header: 'total', align: 'right', text: (r) => view.total(r) },
  ];
}
