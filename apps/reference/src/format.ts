import type { RunReport } from '@exitless/machine';
import type { WithRelative } from './relative.js';

/** One row of results.json from `reproduce`: a run report plus its ratios. */
export type ReproduceEntry = WithRelative<RunReport>;

/** The swept parameter of a sweep run. */
export interface SweepParameter {
  /** The CLI name of the parameter, e.g. 'interrupt-interval'. */
  readonly name: string;
  readonly value: number;
  readonly unit: string;
}

/** One row of a sweep's sweep.json: the run report, the parameter value it ran with, its ratios. */
export type SweepEntry = WithRelative<RunReport & { readonly parameter: SweepParameter }>;

/** The latency figures the table shows, read from a report's `latency` when the workload measures it. */
export interface LatencyFigures {
  readonly unit: string;
  readonly p50: number | null;
  readonly p99: number | null;
}

function finite(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * A report's latency percentiles, or null where the workload measures none. Read
 * structurally (`{ unit, p50, p99, … }`), so the table follows the report's schema as
 * request/response workloads add latency, without this app naming each workload.
 */
export function latencyOf(report: RunReport): LatencyFigures | null {
  const latency: unknown = report.latency;
  if (typeof latency !== 'object' || latency === null) return null;
  const l = latency as Record<string, unknown>;
  const p50 = finite(l.p50);
  const p99 = finite(l.p99);
  if (p50 === null && p99 === null) return null;
  return { unit: typeof l.unit === 'string' ? l.unit : '', p50, p99 };
}

/** An integer with thousands separators (locale-independent, so output is the same everywhere). */
export function grouped(n: number): string {
  const s = Math.round(Math.abs(n))
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 && Math.round(n) !== 0 ? `-${s}` : s;
}

/** A fraction as a percentage with one decimal, or '—' when absent. */
export function percent(x: number | null): string {
  return x === null ? '—' : `${(x * 100).toFixed(1)}%`;
}

/** A speed-up factor, or '—' when absent. */
export function factor(x: number | null): string {
  return x === null ? '—' : `${x.toFixed(2)}×`;
}

function latencyText(r: RunReport, which: 'p50' | 'p99'): string {
  const l = latencyOf(r);
  const v = l?.[which] ?? null;
  if (l === null || v === null) return '—';
  return l.unit === '' ? v.toFixed(1) : `${v.toFixed(1)} ${l.unit}`;
}

/** A column of the table and of the CSV: `text` for the table (absent: CSV only), `raw` for the CSV (absent: table only). */
export interface Column<T> {
  readonly header: string;
  readonly csv?: string;
  readonly align: 'left' | 'right';
  readonly text?: (row: T) => string;
  readonly raw?: (row: T) => string | number | null;
}

const common = <T extends ReproduceEntry | SweepEntry>(): {
  readonly throughput: readonly Column<T>[];
  readonly exits: readonly Column<T>[];
  readonly rest: readonly Column<T>[];
} => ({
  throughput: [
    {
      header: 'throughput',
      csv: 'throughput',
      align: 'right',
      text: (r) => `${r.throughput.value.toFixed(1)} ${r.throughput.unit}`,
      raw: (r) => r.throughput.value,
    },
    { header: 'unit', csv: 'throughput_unit', align: 'left', raw: (r) => r.throughput.unit },
    {
      header: '% of bare metal',
      csv: 'to_bare_metal',
      align: 'right',
      text: (r) => percent(r.relative.toBareMetal),
      raw: (r) => r.relative.toBareMetal,
    },
    {
      header: 'vs baseline',
      csv: 'to_baseline',
      align: 'right',
      text: (r) => factor(r.relative.toBaseline),
      raw: (r) => r.relative.toBaseline,
    },
  ],
  exits: [
    {
      header: 'exits/s',
      csv: 'exits_per_s',
      align: 'right',
      text: (r) => grouped(r.exitsPerSecond.total),
      raw: (r) => r.exitsPerSecond.total,
    },
  ],
  rest: [
    {
      header: 'exits/irq',
      csv: 'exits_per_assigned_interrupt',
      align: 'right',
      text: (r) => (r.assignedInterrupts === 0 ? '—' : r.exitsPerAssignedInterrupt.toFixed(2)),
      raw: (r) => r.exitsPerAssignedInterrupt,
    },
    {
      header: 'phys irq/s',
      csv: 'physical_interrupts_per_s',
      align: 'right',
      text: (r) => grouped(r.interruptsPerSecond.physical),
      raw: (r) => r.interruptsPerSecond.physical,
    },
    {
      header: 'virt irq/s',
      csv: 'virtual_interrupts_per_s',
      align: 'right',
      text: (r) => grouped(r.interruptsPerSecond.virtual),
      raw: (r) => r.interruptsPerSecond.virtual,
    },
    { header: 'assigned irqs', csv: 'assigned_interrupts', align: 'right', raw: (r) => r.assignedInterrupts },
    {
      header: 'time in guest',
      csv: 'time_in_guest',
      align: 'right',
      text: (r) => percent(r.timeInGuest),
      raw: (r) => r.timeInGuest,
    },
    { header: 'lat p50', align: 'right', text: (r) => latencyText(r, 'p50') },
    { header: 'lat p99', align: 'right', text: (r) => latencyText(r, 'p99') },
    { header: 'latency unit', csv: 'latency_unit', align: 'left', raw: (r) => latencyOf(r)?.unit ?? null },
    { header: 'latency p50', csv: 'latency_p50', align: 'right', raw: (r) => latencyOf(r)?.p50 ?? null },
    { header: 'latency p99', csv: 'latency_p99', align: 'right', raw: (r) => latencyOf(r)?.p99 ?? null },
    { header: 'seed', csv: 'seed', align: 'right', raw: (r) => r.seed },
    { header: 'duration', csv: 'duration_ms', align: 'right', raw: (r) => r.durationMs },
    { header: 'warm-up', csv: 'warmup_ms', align: 'right', raw: (r) => r.warmupMs },
    { header: 'stopped', csv: 'stopped', align: 'left', raw: (r) => r.stopped },
  ],
});

/** The CSV column of a figure per exit reason: `exits_per_s.external-interrupt` (the reason as the report names it). */
export function exitReasonCsv(reason: string): string {
  return `exits_per_s.${reason}`;
}

/**
 * The columns of `exitless reproduce`'s table and CSV. The CSV alone (the table keeps its
 * width) also has `eli_gain_kept` after `to_baseline`, and after `exits_per_s` one column per
 * exit reason of `reasons` (`exits_per_s.<reason>`, 0 where the run had none of that reason).
 */
export function reproduceColumns(reasons: readonly string[] = []): readonly Column<ReproduceEntry>[] {
  const c = common<ReproduceEntry>();
  return [
    { header: 'workload', csv: 'workload', align: 'left', text: (r) => r.workload, raw: (r) => r.workload },
    { header: 'mode', csv: 'mode', align: 'left', text: (r) => r.mode, raw: (r) => r.mode },
    ...c.throughput,
    { header: 'ELI gain kept', csv: 'eli_gain_kept', align: 'right', raw: (r) => r.relative.eliGainKept },
    ...c.exits,
    ...reasons.map(
      (reason): Column<ReproduceEntry> => ({
        header: `exits/s ${reason}`,
        csv: exitReasonCsv(reason),
        align: 'right',
        raw: (r) => r.exitsPerSecond.byReason[reason] ?? 0,
      }),
    ),
    ...c.rest,
  ];
}

/** The columns of `exitless sweep`'s table and CSV: the swept value first. */
export function sweepColumns(parameter: {
  readonly name: string;
  readonly unit: string;
}): readonly Column<SweepEntry>[] {
  const c = common<SweepEntry>();
  return [
    {
      header: `${parameter.name} (${parameter.unit})`,
      csv: parameter.name.replaceAll('-', '_'),
      align: 'right',
      text: (r) => String(r.parameter.value),
      raw: (r) => r.parameter.value,
    },
    { header: 'workload', csv: 'workload', align: 'left', raw: (r) => r.workload },
    { header: 'mode', csv: 'mode', align: 'left', text: (r) => r.mode, raw: (r) => r.mode },
    ...c.throughput,
    ...c.exits,
    ...c.rest,
  ];
}

function tableCells<T>(columns: readonly Column<T>[], rows: readonly T[]) {
  const shown = columns.filter((c) => c.text !== undefined);
  return { shown, cells: rows.map((r) => shown.map((c) => c.text!(r))) };
}

/** A fixed-width text table (what stdout shows). */
export function formatTable<T>(columns: readonly Column<T>[], rows: readonly T[]): string {
  const { shown, cells } = tableCells(columns, rows);
  const widths = shown.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const pad = (s: string, i: number) =>
    shown[i]!.align === 'left' ? s.padEnd(widths[i]!) : s.padStart(widths[i]!);
  const lines = [
    shown.map((c, i) => pad(c.header, i)).join('  '),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.map((row) => row.map(pad).join('  ')),
  ];
  return `${lines.map((l) => l.trimEnd()).join('\n')}\n`;
}

function markdownCell(s: string): string {
  return s.replaceAll('|', '\\|');
}

/** The same table as GitHub-flavoured Markdown. */
export function formatMarkdownTable<T>(columns: readonly Column<T>[], rows: readonly T[]): string {
  const { shown, cells } = tableCells(columns, rows);
  const lines = [
    `| ${shown.map((c) => markdownCell(c.header)).join(' | ')} |`,
    `| ${shown.map((c) => (c.align === 'right' ? '---:' : ':---')).join(' | ')} |`,
    ...cells.map((row) => `| ${row.map(markdownCell).join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}

function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** CSV (RFC 4180 quoting, LF line ends): a header of the columns' `csv` names, raw numbers as the report has them, empty for null. */
export function formatCsv<T>(columns: readonly Column<T>[], rows: readonly T[]): string {
  const data = columns.filter((c) => c.raw !== undefined && c.csv !== undefined);
  const lines = [
    data.map((c) => csvField(c.csv!)).join(','),
    ...rows.map((r) => data.map((c) => csvField(c.raw!(r))).join(',')),
  ];
  return `${lines.join('\n')}\n`;
}

/** Footnotes for runs whose VM the hypervisor stopped (their figures cover only part of the run). */
export function stoppedNotes(rows: readonly RunReport[]): string[] {
  return rows
    .filter((r) => r.stopped !== null)
    .map((r) => `${r.workload} on ${r.mode}: VM stopped — ${r.stopped}`);
}

/** The calibration profile as the first column, for tables and CSVs of runs on several profiles. */
export function withProfileColumn<T extends { readonly profile: string }>(
  columns: readonly Column<T>[],
): Column<T>[] {
  return [
    { header: 'profile', csv: 'profile', align: 'left', text: (r) => r.profile, raw: (r) => r.profile },
    ...columns,
  ];
}
