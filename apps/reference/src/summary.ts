import { type Column, exitReasonCsv, grouped, latencyOf, type ReproduceEntry } from './format.js';
import { type Estimate, estimate, studentTQuantile } from './stats.js';

/** An estimate of a figure with a unit (throughput, latency). */
export type EstimateWithUnit = Estimate & { readonly unit: string };

/**
 * Mean and 95% confidence interval over the runs of one workload × mode, one per seed, of
 * every figure the table shows. A figure no run measured (latency of TCP_STREAM, a ratio
 * without a bare-metal run) is null; `n` of each counts the runs that measured it.
 */
export interface RunSummary {
  readonly throughput: EstimateWithUnit;
  readonly toBareMetal: Estimate | null;
  readonly toBaseline: Estimate | null;
  /** Over the runs whose seed gave ELI a gain of at least MIN_ELI_GAIN over baseline (`relative.eliGainKept`). */
  readonly eliGainKept: Estimate | null;
  readonly exitsPerSecond: Estimate;
  /**
   * Exits per second of each exit reason any of the runs counted, in the order of the reasons'
   * names; a run without exits of a reason counts 0 for it (`n` is every run).
   */
  readonly exitsPerSecondByReason: Readonly<Record<string, Estimate>>;
  /** Over the runs whose VF sent interrupts (the ratio is undefined without any). */
  readonly exitsPerAssignedInterrupt: Estimate | null;
  readonly physicalInterruptsPerSecond: Estimate;
  readonly virtualInterruptsPerSecond: Estimate;
  readonly assignedInterrupts: Estimate;
  readonly timeInGuest: Estimate;
  readonly latencyP50: EstimateWithUnit | null;
  readonly latencyP99: EstimateWithUnit | null;
}

/** One workload × mode run with several seeds: the summary, and every run's report (with its ratios). */
export interface SummaryEntry {
  readonly workload: string;
  readonly mode: string;
  readonly profile: string;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** The seeds of the runs, in run order. */
  readonly seeds: readonly number[];
  readonly summary: RunSummary;
  readonly runs: readonly ReproduceEntry[];
}

function numbers<T>(runs: readonly T[], figure: (r: T) => number | null | undefined): number[] {
  const values: number[] = [];
  for (const r of runs) {
    const v = figure(r);
    if (typeof v === 'number' && Number.isFinite(v)) values.push(v);
  }
  return values;
}

function withUnit(e: Estimate | null, unit: string): EstimateWithUnit | null {
  return e === null ? null : { unit, ...e };
}

/** The exit reasons any of the runs counted, sorted by name (as the report orders them). */
function reasonsOf(runs: readonly ReproduceEntry[]): string[] {
  return [...new Set(runs.flatMap((r) => Object.keys(r.exitsPerSecond.byReason)))].sort();
}

function summarizeRuns(runs: readonly ReproduceEntry[]): RunSummary {
  const of = (figure: (r: ReproduceEntry) => number | null | undefined) => estimate(numbers(runs, figure));
  const must = (e: Estimate | null): Estimate => e ?? { mean: Number.NaN, ci95: null, n: 0 };
  const latencyUnit = runs.map(latencyOf).find((l) => l !== null)?.unit ?? '';
  const byReason: Record<string, Estimate> = {};
  for (const reason of reasonsOf(runs)) {
    byReason[reason] = must(of((r) => r.exitsPerSecond.byReason[reason] ?? 0));
  }
  return {
    throughput: { unit: runs[0]?.throughput.unit ?? '', ...must(of((r) => r.throughput.value)) },
    toBareMetal: of((r) => r.relative.toBareMetal),
    toBaseline: of((r) => r.relative.toBaseline),
    eliGainKept: of((r) => r.relative.eliGainKept),
    exitsPerSecond: must(of((r) => r.exitsPerSecond.total)),
    exitsPerSecondByReason: byReason,
    exitsPerAssignedInterrupt: of((r) => (r.assignedInterrupts > 0 ? r.exitsPerAssignedInterrupt : null)),
    physicalInterruptsPerSecond: must(of((r) => r.interruptsPerSecond.physical)),
    virtualInterruptsPerSecond: must(of((r) => r.interruptsPerSecond.virtual)),
    assignedInterrupts: must(of((r) => r.assignedInterrupts)),
    timeInGuest: must(of((r) => r.timeInGuest)),
    latencyP50: withUnit(
      of((r) => latencyOf(r)?.p50),
      latencyUnit,
    ),
    latencyP99: withUnit(
      of((r) => latencyOf(r)?.p99),
      latencyUnit,
    ),
  };
}

/**
 * Groups run entries by workload × mode (with the same profile and durations), in the order
 * each group first appears, and summarizes each group over its seeds.
 */
export function summarize(entries: readonly ReproduceEntry[]): SummaryEntry[] {
  const groups = new Map<string, ReproduceEntry[]>();
  for (const e of entries) {
    const key = `${e.workload}\u0000${e.mode}\u0000${e.profile}\u0000${e.durationMs}\u0000${e.warmupMs}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [e]);
    else group.push(e);
  }
  return [...groups.values()].map((runs) => {
    const first = runs[0]!;
    return {
      workload: first.workload,
      mode: first.mode,
      profile: first.profile,
      durationMs: first.durationMs,
      warmupMs: first.warmupMs,
      seeds: runs.map((r) => r.seed),
      summary: summarizeRuns(runs),
      runs,
    };
  });
}

/** A summary's exits per second of one reason: 0 in every run (with its zero-width interval) when no run had it. */
export function exitsOfReason(s: RunSummary, runs: number, reason: string): Estimate {
  return (
    s.exitsPerSecondByReason[reason] ??
    estimate(Array.from({ length: runs }, () => 0)) ?? { mean: 0, ci95: null, n: 0 }
  );
}

/** Half the width of the interval (Student's t intervals are symmetric about the mean). */
function halfWidth(e: Estimate): number | null {
  return e.ci95 === null ? null : (e.ci95.high - e.ci95.low) / 2;
}

/** `mean ± half-width` in one format, with a suffix after both (`77.5 ± 1.2%`), or '—'. */
export function plusMinus(e: Estimate | null, format: (x: number) => string, suffix = ''): string {
  if (e === null || !Number.isFinite(e.mean)) return '—';
  const half = halfWidth(e);
  return half === null ? `${format(e.mean)}${suffix}` : `${format(e.mean)} ± ${format(half)}${suffix}`;
}

const fixed = (digits: number) => (x: number) => x.toFixed(digits);
const percentOf = (x: number) => (x * 100).toFixed(1);
const withSpace = (unit: string) => (unit === '' ? '' : ` ${unit}`);

/** A summary's figure as three CSV columns: `name`, `name_ci95_low`, `name_ci95_high`. */
function csvTriple(
  header: string,
  csv: string,
  figure: (s: RunSummary, e: SummaryEntry) => Estimate | null,
): Column<SummaryEntry>[] {
  return [
    { header, csv, align: 'right', raw: (e) => figure(e.summary, e)?.mean ?? null },
    {
      header: `${header} low`,
      csv: `${csv}_ci95_low`,
      align: 'right',
      raw: (e) => figure(e.summary, e)?.ci95?.low ?? null,
    },
    {
      header: `${header} high`,
      csv: `${csv}_ci95_high`,
      align: 'right',
      raw: (e) => figure(e.summary, e)?.ci95?.high ?? null,
    },
  ];
}

/**
 * The columns of the table and CSV over several seeds: the same figures as reproduceColumns,
 * each shown as `mean ± half-width of its 95% confidence interval`, and in the CSV as the mean
 * with `_ci95_low` and `_ci95_high` beside it (the CSV alone: `eli_gain_kept`, and exits/s of
 * each reason of `reasons`, 0 where no run had that reason); `runs` (how many seeds) and `seed`
 * (the first).
 */
export function summaryColumns(reasons: readonly string[] = []): readonly Column<SummaryEntry>[] {
  return [
    { header: 'workload', csv: 'workload', align: 'left', text: (e) => e.workload, raw: (e) => e.workload },
    { header: 'mode', csv: 'mode', align: 'left', text: (e) => e.mode, raw: (e) => e.mode },
    {
      header: 'throughput',
      align: 'right',
      text: (e) => plusMinus(e.summary.throughput, fixed(1), withSpace(e.summary.throughput.unit)),
    },
    ...csvTriple('throughput', 'throughput', (s) => s.throughput),
    { header: 'unit', csv: 'throughput_unit', align: 'left', raw: (e) => e.summary.throughput.unit },
    {
      header: '% of bare metal',
      align: 'right',
      text: (e) => plusMinus(e.summary.toBareMetal, percentOf, '%'),
    },
    ...csvTriple('to bare metal', 'to_bare_metal', (s) => s.toBareMetal),
    { header: 'vs baseline', align: 'right', text: (e) => plusMinus(e.summary.toBaseline, fixed(2), '×') },
    ...csvTriple('to baseline', 'to_baseline', (s) => s.toBaseline),
    ...csvTriple('ELI gain kept', 'eli_gain_kept', (s) => s.eliGainKept),
    { header: 'exits/s', align: 'right', text: (e) => plusMinus(e.summary.exitsPerSecond, grouped) },
    ...csvTriple('exits/s', 'exits_per_s', (s) => s.exitsPerSecond),
    ...reasons.flatMap((reason) =>
      csvTriple(`exits/s ${reason}`, exitReasonCsv(reason), (s, e) =>
        exitsOfReason(s, e.runs.length, reason),
      ),
    ),
    {
      header: 'exits/irq',
      align: 'right',
      text: (e) => plusMinus(e.summary.exitsPerAssignedInterrupt, fixed(2)),
    },
    ...csvTriple('exits/irq', 'exits_per_assigned_interrupt', (s) => s.exitsPerAssignedInterrupt),
    {
      header: 'phys irq/s',
      align: 'right',
      text: (e) => plusMinus(e.summary.physicalInterruptsPerSecond, grouped),
    },
    ...csvTriple('phys irq/s', 'physical_interrupts_per_s', (s) => s.physicalInterruptsPerSecond),
    {
      header: 'virt irq/s',
      align: 'right',
      text: (e) => plusMinus(e.summary.virtualInterruptsPerSecond, grouped),
    },
    ...csvTriple('virt irq/s', 'virtual_interrupts_per_s', (s) => s.virtualInterruptsPerSecond),
    ...csvTriple('assigned irqs', 'assigned_interrupts', (s) => s.assignedInterrupts),
    {
      header: 'time in guest',
      align: 'right',
      text: (e) => plusMinus(e.summary.timeInGuest, percentOf, '%'),
    },
    ...csvTriple('time in guest', 'time_in_guest', (s) => s.timeInGuest),
    {
      header: 'lat p50',
      align: 'right',
      text: (e) => plusMinus(e.summary.latencyP50, fixed(1), withSpace(e.summary.latencyP50?.unit ?? '')),
    },
    {
      header: 'lat p99',
      align: 'right',
      text: (e) => plusMinus(e.summary.latencyP99, fixed(1), withSpace(e.summary.latencyP99?.unit ?? '')),
    },
    {
      header: 'latency unit',
      csv: 'latency_unit',
      align: 'left',
      raw: (e) => e.summary.latencyP50?.unit ?? e.summary.latencyP99?.unit ?? null,
    },
    ...csvTriple('latency p50', 'latency_p50', (s) => s.latencyP50),
    ...csvTriple('latency p99', 'latency_p99', (s) => s.latencyP99),
    { header: 'runs', csv: 'runs', align: 'right', raw: (e) => e.runs.length },
    { header: 'seed', csv: 'seed', align: 'right', raw: (e) => e.seeds[0] ?? null },
    { header: 'duration', csv: 'duration_ms', align: 'right', raw: (e) => e.durationMs },
    { header: 'warm-up', csv: 'warmup_ms', align: 'right', raw: (e) => e.warmupMs },
    {
      header: 'stopped',
      csv: 'stopped',
      align: 'left',
      raw: (e) => {
        const stopped = e.runs.filter((r) => r.stopped !== null);
        return stopped.length === 0 ? null : `${stopped.length} of ${e.runs.length}: ${stopped[0]!.stopped}`;
      },
    },
  ];
}

/** The seeds of `runs` runs from `seed`: seed, seed + 1, …, seed + runs − 1. */
export function runSeeds(seed: number, runs: number): number[] {
  return Array.from({ length: runs }, (_, i) => seed + i);
}

/**
 * What the table's `±` means, for a line under it: the seeds, and the t quantile used (for
 * `runs` ≥ 2).
 */
export function intervalNote(seed: number, runs: number): string {
  const t = studentTQuantile(0.975, runs - 1);
  return `mean ± half-width of the 95% confidence interval over ${runs} runs (seeds ${seed}–${seed + runs - 1}): Student's t, t(0.975, ${runs - 1}) = ${t.toFixed(3)}`;
}
