/**
 * The reports of `exitless reproduce` beyond the main table: results.md (with --runs and with
 * --uncertainty), the share of ELI's gain on stdout, and the notes under the tables.
 */
import { modeRefusal, XEON_X5570 } from '@exitless/machine';
import {
  BAND_GAIN_VIEW,
  ELI_GAIN_TITLE,
  type EliGainTable,
  type EliGainView,
  eliGainExplanation,
  eliGainTable,
  RUN_GAIN_VIEW,
  SUMMARY_GAIN_VIEW,
} from './eli-gain.js';
import {
  BAND_EXITS_VIEW,
  EXIT_REASONS_TITLE,
  type ExitReasonView,
  exitReasonColumns,
  exitReasonRows,
  exitReasons,
  RUN_EXITS_VIEW,
  SUMMARY_EXITS_VIEW,
} from './exit-reasons.js';
import {
  type Column,
  formatMarkdownTable,
  formatTable,
  type ReproduceEntry,
  reproduceColumns,
  stoppedNotes,
  withProfileColumn,
} from './format.js';
import { BARE_METAL, BASELINE, ELI, MIN_ELI_GAIN } from './relative.js';
import type { ReproduceOptions } from './reproduce.js';
import { intervalNote, summarize, summaryColumns } from './summary.js';
import {
  bandNote,
  type UncertaintyEntry,
  type UncertaintyOptions,
  uncertaintyColumns,
} from './uncertainty.js';

/** Notes on runs whose VM was stopped, naming the seed when there are several. */
export function stoppedRunNotes(entries: readonly ReproduceEntry[], runs: number): string[] {
  return runs > 1
    ? entries
        .filter((r) => r.stopped !== null)
        .map((r) => `${r.workload} on ${r.mode} (seed ${r.seed}): VM stopped — ${r.stopped}`)
    : stoppedNotes(entries);
}

/** Whether a reproduction runs several profiles (its table and CSV then have a profile column). */
export function manyProfiles(options: ReproduceOptions): boolean {
  return (options.profiles?.length ?? 0) > 1;
}

/** The columns, with the profile first when there are several profiles. */
export function profiled<T extends { readonly profile: string }>(
  columns: readonly Column<T>[],
  many: boolean,
): readonly Column<T>[] {
  return many ? withProfileColumn(columns) : columns;
}

/** Why `mode` cannot run on the reproduction's profile named `name` (the machine's modeRefusal), or null. */
function refusalOf(options: ReproduceOptions): (mode: string, name: string) => string | null {
  // The profiles the jobs ran on: those chosen, else the default (as reproduceJobs has it).
  const profiles =
    options.profiles !== undefined && options.profiles.length > 0 ? options.profiles : [XEON_X5570];
  const byName = new Map(profiles.map((p) => [p.name, p] as const));
  return (mode, name) => {
    const profile = byName.get(name);
    return profile !== undefined ? modeRefusal(mode, profile) : null;
  };
}

/** The share-of-ELI's-gain table of a reproduction's results (null without a baseline and an eli run). */
export function gainTable<
  T extends { readonly workload: string; readonly mode: string; readonly profile: string },
>(options: ReproduceOptions, rows: readonly T[], view: EliGainView<T>): EliGainTable<T> | null {
  return eliGainTable(rows, view, {
    profileColumn: manyProfiles(options),
    modes: options.modes,
    refusal: refusalOf(options),
  });
}

const NO_GAIN_TABLE = `${ELI_GAIN_TITLE}: not shown — it needs a ${BASELINE} and an ${ELI} run of a workload`;

/**
 * The share of ELI's gain for stdout, after the main table: a blank line, the title with a
 * short rule, the table and its notes (or one line saying why there is no table).
 */
export function eliGainText<
  T extends { readonly workload: string; readonly mode: string; readonly profile: string },
>(options: ReproduceOptions, rows: readonly T[], view: EliGainView<T>): string {
  const table = gainTable(options, rows, view);
  if (table === null) return `\n${NO_GAIN_TABLE}\n`;
  return [
    '',
    `${ELI_GAIN_TITLE}: (design − ${BASELINE}) ÷ (${ELI} − ${BASELINE}) throughput, same workload, profile and seed; shown where ${ELI} gains at least ${MIN_ELI_GAIN * 100}% (results.md explains)`,
    formatTable(table.columns, table.rows).trimEnd(),
    ...table.notes,
    '',
  ].join('\n');
}

/** The Markdown sections after the main table: the share of ELI's gain, and exits per second by reason. */
function markdownSections<
  G,
  E extends { readonly workload: string; readonly mode: string; readonly profile: string },
>(
  gain: EliGainTable<G> | null,
  runs: 'run' | 'seeds' | 'samples',
  rows: readonly E[],
  exits: ExitReasonView<E>,
  many: boolean,
): string[] {
  const reasons = exitReasons(rows, exits);
  const exitRows = exitReasonRows(rows);
  return [
    '',
    `## ${ELI_GAIN_TITLE}`,
    '',
    ...(gain === null
      ? [`Not shown: it needs a ${BASELINE} and an ${ELI} run of a workload.`]
      : [
          eliGainExplanation(runs),
          '',
          formatMarkdownTable(gain.columns, gain.rows).trimEnd(),
          ...(gain.notes.length > 0 ? ['', ...gain.notes.map((n) => `- ${n}`)] : []),
        ]),
    '',
    `## ${EXIT_REASONS_TITLE}`,
    '',
    `VM exits per second of each exit reason that occurs in any run (summed over the CPUs: the run report's \`exitsPerSecond.byReason\`), and their total; 0 where a run had none of that reason. \`${BARE_METAL}\` has no hypervisor and no exits, and is left out.` +
      (runs === 'seeds'
        ? ' Mean ± half-width of the 95% confidence interval over the seeds.'
        : runs === 'samples'
          ? " The base profile's value [5th, 95th percentile over the samples]."
          : ''),
    '',
    ...(exitRows.length > 0
      ? [formatMarkdownTable(exitReasonColumns(reasons, exits, many), exitRows).trimEnd()]
      : ['No virtualized runs.']),
  ];
}

/** The Markdown links to the charts every reproduction writes (reproduceChartFiles), blank-line separated. */
const CHART_LINKS: readonly string[] = [
  '![Throughput relative to bare metal](throughput-relative.svg)',
  '',
  '![VM exits per second](exits-per-second.svg)',
  '',
  '![Round-trip latency CDF](latency-cdf.svg)',
];

/** The Markdown report: what ran, the table, notes, the charts, the share of ELI's gain and exits by reason. */
export function reproduceMarkdown(options: ReproduceOptions, entries: readonly ReproduceEntry[]): string {
  const profile = entries[0]?.profile ?? 'unknown';
  const many = manyProfiles(options);
  const runs = options.runs ?? 1;
  const notes = stoppedRunNotes(entries, runs);
  const seeds =
    runs > 1 ? `${runs} runs each, seeds ${options.seed}–${options.seed + runs - 1}` : `seed ${options.seed}`;
  const summaries = summarize(entries);
  const table =
    runs > 1
      ? formatMarkdownTable(profiled(summaryColumns(), many), summaries)
      : formatMarkdownTable(profiled(reproduceColumns(), many), entries);
  const sections =
    runs > 1
      ? markdownSections(
          gainTable(options, summaries, SUMMARY_GAIN_VIEW),
          'seeds',
          summaries,
          SUMMARY_EXITS_VIEW,
          many,
        )
      : markdownSections(gainTable(options, entries, RUN_GAIN_VIEW), 'run', entries, RUN_EXITS_VIEW, many);
  const profileText = many
    ? `calibration profiles ${(options.profiles ?? []).map((p) => `\`${p.name}\``).join(', ')}, the rows grouped by profile; the ratios compare runs of the same profile`
    : `calibration profile \`${profile}\``;
  return [
    '# exitless reproduce',
    '',
    `Every workload on every mode on the default machine (${profileText}), ${seeds}: ` +
      `${options.durationMs} ms measured after ${options.warmupMs} ms of warm-up per run. ` +
      `“% of bare metal” and “vs baseline” compare each run's throughput with the ${BARE_METAL} and ${BASELINE} runs of the same workload${runs > 1 ? ' and seed' : ''}.` +
      (runs > 1
        ? ` Each figure is the ${intervalNote(options.seed, runs)}; the error bars in the charts are the same intervals.`
        : ''),
    '',
    table.trimEnd(),
    ...(notes.length > 0 ? ['', ...notes.map((n) => `- ${n}`)] : []),
    '',
    ...CHART_LINKS,
    ...sections,
    '',
  ].join('\n');
}

/** The Markdown report of a reproduction with --uncertainty. */
export function uncertaintyMarkdown(
  options: ReproduceOptions & { readonly uncertainty: UncertaintyOptions },
  entries: readonly UncertaintyEntry[],
): string {
  const profile = entries[0]?.profile ?? 'unknown';
  const u = options.uncertainty;
  return [
    '# exitless reproduce --uncertainty',
    '',
    `Every workload on every mode on the default machine (calibration profile \`${profile}\`), seed ${options.seed}: ` +
      `${options.durationMs} ms measured after ${options.warmupMs} ms of warm-up per run, with the profile's own values and with ` +
      `${u.samples} profiles drawn across the ranges of its ${u.entries.length} ranged entries. ` +
      `“% of bare metal” and “vs baseline” compare runs of the same workload and profile sample. Each figure is the ${bandNote(u, options.seed)}; ` +
      'the error bars in the charts are the same bands. results.json holds every sample’s overrides and figures.',
    '',
    formatMarkdownTable(uncertaintyColumns(), entries).trimEnd(),
    '',
    ...CHART_LINKS,
    ...markdownSections(
      gainTable(options, entries, BAND_GAIN_VIEW),
      'samples',
      entries,
      BAND_EXITS_VIEW,
      false,
    ),
    '',
  ].join('\n');
}
