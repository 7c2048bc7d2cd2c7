/**
 * `reproduce --uncertainty N`: every workload × mode with the base profile and with N profiles
 * drawn across the calibration ranges (a Latin hypercube), and for each figure the base value
 * with the 5th–95th percentile band over the samples.
 */
import type { RunReport } from '@exitless/machine';
import { type Column, exitReasonCsv, grouped, latencyOf, type ReproduceEntry } from './format.js';
import type { RunJob } from './jobs.js';
import { sameRun, withRelative } from './relative.js';
import { BAND_PERCENTILES, type Band, band, latinHypercube, type RangedKey } from './sampling.js';

/** The most samples `--uncertainty` takes. */
export const MAX_SAMPLES = 1000;

/** What `--uncertainty N` samples: N profiles over these entries' ranges. */
export interface UncertaintyOptions {
  readonly samples: number;
  /** The ranged entries of the profile (every one is sampled in every sample). */
  readonly entries: readonly (RangedKey & { readonly value: number; readonly unit: string })[];
}

/** The figures of a run the band is taken of (what the reproduce table shows). */
export const BAND_FIGURES = {
  throughput: (e: ReproduceEntry) => e.throughput.value,
  toBareMetal: (e: ReproduceEntry) => e.relative.toBareMetal,
  toBaseline: (e: ReproduceEntry) => e.relative.toBaseline,
  eliGainKept: (e: ReproduceEntry) => e.relative.eliGainKept,
  exitsPerSecond: (e: ReproduceEntry) => e.exitsPerSecond.total,
  exitsPerAssignedInterrupt: (e: ReproduceEntry) =>
    e.assignedInterrupts > 0 ? e.exitsPerAssignedInterrupt : null,
  physicalInterruptsPerSecond: (e: ReproduceEntry) => e.interruptsPerSecond.physical,
  virtualInterruptsPerSecond: (e: ReproduceEntry) => e.interruptsPerSecond.virtual,
  assignedInterrupts: (e: ReproduceEntry) => e.assignedInterrupts,
  timeInGuest: (e: ReproduceEntry) => e.timeInGuest,
  latencyP50: (e: ReproduceEntry) => latencyOf(e)?.p50 ?? null,
  latencyP99: (e: ReproduceEntry) => latencyOf(e)?.p99 ?? null,
} as const satisfies Record<string, (e: ReproduceEntry) => number | null>;

export type BandFigure = keyof typeof BAND_FIGURES;

/** One run's figures (what results.json keeps of each sample). */
export type Figures = { readonly [F in BandFigure]: number | null };

/** One sample's run of a workload × mode. */
export interface SampleRun {
  /** 1 … N. */
  readonly sample: number;
  readonly figures: Figures;
  /** The run's exits per second by exit reason, as its report has them (reasons without exits left out). */
  readonly exitsPerSecondByReason: Readonly<Record<string, number>>;
  readonly stopped: string | null;
}

/** A workload × mode over the samples: the base run, every sample's figures, and each figure's band. */
export interface UncertaintyEntry {
  readonly workload: string;
  readonly mode: string;
  readonly profile: string;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly seed: number;
  readonly throughputUnit: string;
  readonly latencyUnit: string | null;
  /** For each figure: the base profile's value and the 5th–95th percentile over the samples; null where nothing measured it. */
  readonly bands: { readonly [F in BandFigure]: Band | null };
  /**
   * For each exit reason the base run or a sample counted, in the order of the reasons' names:
   * the band of its exits per second (a run without exits of that reason counts 0).
   */
  readonly exitsPerSecondByReason: Readonly<Record<string, Band>>;
  /** The run with the profile's own values, as results.json holds it without --uncertainty. */
  readonly base: ReproduceEntry | null;
  readonly runs: readonly SampleRun[];
}

/** The N override sets of the samples (sample k is element k − 1), from the seed. */
export function uncertaintySamples(options: UncertaintyOptions, seed: number): Record<string, number>[] {
  return latinHypercube(options.entries, options.samples, seed);
}

/**
 * The runs of a reproduction with --uncertainty: workload-major, then mode, then the base
 * profile's run followed by samples 1 … N. Every run has the same seed, so a band is the
 * profile's alone (the seed's phases are fixed); a sample's runs of every mode share its
 * overrides, so its ratios compare runs of one profile.
 */
export function uncertaintyJobs(
  base: { readonly workloads: readonly string[]; readonly modes: readonly string[] } & Pick<
    RunJob,
    'seed' | 'durationMs' | 'warmupMs'
  >,
  samples: readonly Readonly<Record<string, number>>[],
): RunJob[] {
  return base.workloads.flatMap((workload) =>
    base.modes.flatMap((mode) => {
      const job = {
        workload,
        mode,
        seed: base.seed,
        durationMs: base.durationMs,
        warmupMs: base.warmupMs,
      };
      return [
        { ...job, tag: 'base profile' },
        ...samples.map((overrides, k) => ({
          ...job,
          profileOverrides: overrides,
          tag: `sample ${k + 1} of ${samples.length}`,
        })),
      ];
    }),
  );
}

/** Every figure of a run. */
export function figuresOf(e: ReproduceEntry): Figures {
  const out: Record<string, number | null> = {};
  for (const [name, figure] of Object.entries(BAND_FIGURES)) {
    const v = figure(e);
    out[name] = typeof v === 'number' && Number.isFinite(v) ? v : null;
  }
  return out as Figures;
}

/**
 * Groups the runs of a reproduction with --uncertainty (reports tagged with their sample, 0
 * for the base profile) by workload × mode, in order, with ratios taken within each sample.
 */
export function summarizeSamples(
  reports: readonly (RunReport & { readonly sample: number })[],
  seed: number,
): UncertaintyEntry[] {
  const entries = withRelative(reports, (r) => `${sameRun(r)}\u0000${r.sample}`);
  const groups = new Map<string, (typeof entries)[number][]>();
  for (const e of entries) {
    const key = `${e.workload}\u0000${e.mode}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [e]);
    else group.push(e);
  }
  return [...groups.values()].map((group) => {
    const first = group[0]!;
    const baseRun = group.find((e) => e.sample === 0) ?? null;
    const runs = group
      .filter((e) => e.sample > 0)
      .map((e) => ({
        sample: e.sample,
        figures: figuresOf(e),
        exitsPerSecondByReason: e.exitsPerSecond.byReason,
        stopped: e.stopped,
      }));
    const base = baseRun !== null ? figuresOf(baseRun) : null;
    const bands: Record<string, Band | null> = {};
    for (const name of Object.keys(BAND_FIGURES) as BandFigure[]) {
      bands[name] = band(
        base?.[name] ?? null,
        runs.map((r) => r.figures[name]),
      );
    }
    const byReason: Record<string, Band> = {};
    // The group holds the base run (sample 0) and every sample's.
    const reasons = new Set(group.flatMap((e) => Object.keys(e.exitsPerSecond.byReason)));
    for (const reason of [...reasons].sort()) {
      const b = band(
        baseRun !== null ? (baseRun.exitsPerSecond.byReason[reason] ?? 0) : null,
        runs.map((r) => r.exitsPerSecondByReason[reason] ?? 0),
      );
      if (b !== null) byReason[reason] = b;
    }
    let baseEntry: ReproduceEntry | null = null;
    if (baseRun !== null) {
      const { sample: _sample, ...rest } = baseRun;
      baseEntry = rest;
    }
    return {
      workload: first.workload,
      mode: first.mode,
      profile: first.profile,
      durationMs: first.durationMs,
      warmupMs: first.warmupMs,
      seed,
      throughputUnit: first.throughput.unit,
      latencyUnit: group.map(latencyOf).find((l) => l !== null)?.unit ?? null,
      bands: bands as UncertaintyEntry['bands'],
      exitsPerSecondByReason: byReason,
      base: baseEntry,
      runs,
    };
  });
}

// ─── Table and CSV ──────────────────────────────────────────────────────────────────

/** `base [p5, p95]` in one format with a suffix after it (`94.2% [91.0, 96.1]`), or '—'. */
export function withBand(b: Band | null, format: (x: number) => string, suffix = ''): string {
  if (b === null) return '—';
  const base = b.base === null ? '—' : `${format(b.base)}${suffix}`;
  return `${base} [${format(b.p05)}, ${format(b.p95)}]`;
}

const fixed = (digits: number) => (x: number) => x.toFixed(digits);
const percentOf = (x: number) => (x * 100).toFixed(1);
const withSpace = (unit: string | null) => (unit === null || unit === '' ? '' : ` ${unit}`);

/** A band as three CSV columns: `name` (the base value), `name_p05`, `name_p95`. */
function csvBand(
  header: string,
  csv: string,
  figure: BandFigure | ((e: UncertaintyEntry) => Band | null),
): Column<UncertaintyEntry>[] {
  const of = typeof figure === 'function' ? figure : (e: UncertaintyEntry) => e.bands[figure];
  return [
    { header, csv, align: 'right', raw: (e) => of(e)?.base ?? null },
    { header: `${header} p5`, csv: `${csv}_p05`, align: 'right', raw: (e) => of(e)?.p05 ?? null },
    { header: `${header} p95`, csv: `${csv}_p95`, align: 'right', raw: (e) => of(e)?.p95 ?? null },
  ];
}

/** An entry's band of exits per second of one reason: 0 throughout when neither the base run nor a sample had it. */
export function exitsOfReasonBand(e: UncertaintyEntry, reason: string): Band {
  return (
    e.exitsPerSecondByReason[reason] ?? { base: e.base !== null ? 0 : null, p05: 0, p95: 0, n: e.runs.length }
  );
}

/**
 * The columns of the table and CSV with --uncertainty: the figures of reproduceColumns, each
 * shown as `base value [5th, 95th percentile over the samples]`, and in the CSV as the base
 * value with `_p05` and `_p95` beside it (the CSV alone: `eli_gain_kept`, and exits/s of each
 * reason of `reasons`); then `samples`, `seed`, durations and `stopped`.
 */
export function uncertaintyColumns(reasons: readonly string[] = []): readonly Column<UncertaintyEntry>[] {
  const text = (
    figure: BandFigure,
    format: (x: number) => string,
    suffix?: (e: UncertaintyEntry) => string,
  ) => ({
    header: '',
    align: 'right' as const,
    text: (e: UncertaintyEntry) => withBand(e.bands[figure], format, suffix?.(e) ?? ''),
  });
  return [
    { header: 'workload', csv: 'workload', align: 'left', text: (e) => e.workload, raw: (e) => e.workload },
    { header: 'mode', csv: 'mode', align: 'left', text: (e) => e.mode, raw: (e) => e.mode },
    { ...text('throughput', fixed(1), (e) => withSpace(e.throughputUnit)), header: 'throughput' },
    ...csvBand('throughput', 'throughput', 'throughput'),
    { header: 'unit', csv: 'throughput_unit', align: 'left', raw: (e) => e.throughputUnit },
    { ...text('toBareMetal', percentOf, () => '%'), header: '% of bare metal' },
    ...csvBand('to bare metal', 'to_bare_metal', 'toBareMetal'),
    { ...text('toBaseline', fixed(2), () => '×'), header: 'vs baseline' },
    ...csvBand('to baseline', 'to_baseline', 'toBaseline'),
    ...csvBand('ELI gain kept', 'eli_gain_kept', 'eliGainKept'),
    { ...text('exitsPerSecond', grouped), header: 'exits/s' },
    ...csvBand('exits/s', 'exits_per_s', 'exitsPerSecond'),
    ...reasons.flatMap((reason) =>
      csvBand(`exits/s ${reason}`, exitReasonCsv(reason), (e) => exitsOfReasonBand(e, reason)),
    ),
    { ...text('exitsPerAssignedInterrupt', fixed(2)), header: 'exits/irq' },
    ...csvBand('exits/irq', 'exits_per_assigned_interrupt', 'exitsPerAssignedInterrupt'),
    { ...text('physicalInterruptsPerSecond', grouped), header: 'phys irq/s' },
    ...csvBand('phys irq/s', 'physical_interrupts_per_s', 'physicalInterruptsPerSecond'),
    { ...text('virtualInterruptsPerSecond', grouped), header: 'virt irq/s' },
    ...csvBand('virt irq/s', 'virtual_interrupts_per_s', 'virtualInterruptsPerSecond'),
    ...csvBand('assigned irqs', 'assigned_interrupts', 'assignedInterrupts'),
    { ...text('timeInGuest', percentOf, () => '%'), header: 'time in guest' },
    ...csvBand('time in guest', 'time_in_guest', 'timeInGuest'),
    { ...text('latencyP50', fixed(1), (e) => withSpace(e.latencyUnit)), header: 'lat p50' },
    { ...text('latencyP99', fixed(1), (e) => withSpace(e.latencyUnit)), header: 'lat p99' },
    { header: 'latency unit', csv: 'latency_unit', align: 'left', raw: (e) => e.latencyUnit },
    ...csvBand('latency p50', 'latency_p50', 'latencyP50'),
    ...csvBand('latency p99', 'latency_p99', 'latencyP99'),
    { header: 'samples', csv: 'samples', align: 'right', raw: (e) => e.runs.length },
    { header: 'seed', csv: 'seed', align: 'right', raw: (e) => e.seed },
    { header: 'duration', csv: 'duration_ms', align: 'right', raw: (e) => e.durationMs },
    { header: 'warm-up', csv: 'warmup_ms', align: 'right', raw: (e) => e.warmupMs },
    {
      header: 'stopped',
      csv: 'stopped',
      align: 'left',
      raw: (e) => {
        const stopped = [
          ...(e.base?.stopped != null ? [e.base.stopped] : []),
          ...e.runs.flatMap((r) => (r.stopped !== null ? [r.stopped] : [])),
        ];
        return stopped.length === 0 ? null : `${stopped.length} of ${e.runs.length + 1}: ${stopped[0]}`;
      },
    },
  ];
}

/** What the table's brackets mean, for a line under it. */
export function bandNote(options: UncertaintyOptions, seed: number): string {
  return (
    `each figure: its value with the profile's own values [${BAND_PERCENTILES.low * 100}th, ${BAND_PERCENTILES.high * 100}th percentile over ${options.samples} profiles ` +
    `sampled across the ranges of ${options.entries.length} entries (Latin hypercube; percentiles by linear interpolation between order statistics)], ` +
    `every run with seed ${seed}`
  );
}
