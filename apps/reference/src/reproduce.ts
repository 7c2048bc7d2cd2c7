import {
  parseList,
  parseNumber,
  parseOptions,
  parseRunLength,
  parseRuns,
  parseSeed,
  selectNames,
  stringOption,
  UsageError,
} from './args.js';
import { exitsPerSecondChart, relativeThroughputChart, renderSvg } from './charts.js';
import {
  formatCsv,
  formatMarkdownTable,
  formatTable,
  type ReproduceEntry,
  reproduceColumns,
  stoppedNotes,
} from './format.js';
import type { RunJob } from './jobs.js';
import { availableModes, availableWorkloads } from './modes.js';
import { toJson, writeOutputs } from './output.js';
import { defaultJobs, type JobOutcome, runJobs } from './pool.js';
import { BARE_METAL, BASELINE, withRelative } from './relative.js';
import { intervalNote, runSeeds, type SummaryEntry, summarize, summaryColumns } from './summary.js';

/** What `exitless reproduce` runs and where it writes. */
export interface ReproduceOptions {
  /** Workloads, in table order (default: every one the machine has). */
  readonly workloads: readonly string[];
  /** Modes, in table order (default: every one the machine has). */
  readonly modes: readonly string[];
  /** Measured simulated time per run, ms. */
  readonly durationMs: number;
  /** Simulated warm-up per run, ms. */
  readonly warmupMs: number;
  /** The seed of the first run of each workload × mode. */
  readonly seed: number;
  /**
   * Runs of each workload × mode, with seeds seed, seed + 1, …, seed + runs − 1 (absent: 1).
   * More than one: the table, CSV and charts show each figure's mean and 95% confidence interval.
   */
  readonly runs?: number;
  /** Output directory (created). */
  readonly outDir: string;
  /** Worker threads; 1 runs in this thread. */
  readonly jobs: number;
}

/**
 * Defaults of `exitless reproduce`: 200 ms measured after 40 ms of warm-up per run keeps
 * the whole table well under a minute on 2 cores (the README has the measured time), while
 * a run still sees over ten thousand assigned interrupts in every virtualized mode.
 */
export const REPRODUCE_DEFAULTS: {
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly seed: number;
  readonly outDir: string;
} = { durationMs: 200, warmupMs: 40, seed: 1, outDir: 'out/reproduce' };

export const REPRODUCE_USAGE = `exitless reproduce [--workloads a,b] [--modes a,b] [--duration MS] [--warmup MS]
                     [--seed N] [--runs N] [--out DIR] [--jobs N]
      Runs every workload on every mode on the default machine, in parallel on a worker pool,
      and prints the paper-style table: throughput, % of bare metal, speed-up over baseline,
      exits/s, exits per assigned interrupt, interrupts/s, time in guest, latency. Writes
      results.json, results.csv, results.md, throughput-relative.svg and exits-per-second.svg
      to DIR (default ${REPRODUCE_DEFAULTS.outDir}). Defaults: --duration ${REPRODUCE_DEFAULTS.durationMs}, --warmup ${REPRODUCE_DEFAULTS.warmupMs},
      --seed ${REPRODUCE_DEFAULTS.seed}, --runs 1, --jobs = cores. --runs N runs each N times, with seeds
      --seed, --seed+1, …, and shows every figure as mean ± its 95% confidence interval (error
      bars in the charts). The ratios need a ${BARE_METAL} and a ${BASELINE} run of the same workload;
      without them those columns are empty.`;

/** Parses `reproduce`'s arguments; mistakes are UsageErrors that say what to change. */
export function parseReproduceArgs(args: readonly string[]): ReproduceOptions {
  const values = parseOptions('reproduce', args, {
    workloads: { type: 'string', value: 'a,b' },
    modes: { type: 'string', value: 'a,b' },
    duration: { type: 'string', value: 'MS' },
    warmup: { type: 'string', value: 'MS' },
    seed: { type: 'string', value: 'N' },
    runs: { type: 'string', value: 'N' },
    out: { type: 'string', value: 'DIR' },
    jobs: { type: 'string', value: 'N' },
  });
  const list = (name: string) => {
    const v = stringOption(values, name);
    return v !== undefined ? parseList(v, name) : undefined;
  };
  const workloads = selectNames('workload', list('workloads'), availableWorkloads(), 'workloads');
  const modes = selectNames('mode', list('modes'), availableModes(), 'modes');
  const out = stringOption(values, 'out');
  if (out !== undefined && out.trim() === '') throw new UsageError('--out must name a directory');
  const seed = parseSeed(stringOption(values, 'seed'), REPRODUCE_DEFAULTS.seed);
  return {
    workloads,
    modes,
    ...parseRunLength(values, REPRODUCE_DEFAULTS),
    seed,
    runs: parseRuns(stringOption(values, 'runs'), seed),
    outDir: out ?? REPRODUCE_DEFAULTS.outDir,
    jobs: parseNumber(stringOption(values, 'jobs'), 'jobs', defaultJobs(), 1, { integer: true, max: 256 }),
  };
}

/** The runs of a reproduction: workload-major, then mode (the table's order), then seed. */
export function reproduceJobs(options: ReproduceOptions): RunJob[] {
  const seeds = runSeeds(options.seed, options.runs ?? 1);
  return options.workloads.flatMap((workload) =>
    options.modes.flatMap((mode) =>
      seeds.map((seed) => ({
        workload,
        mode,
        seed,
        durationMs: options.durationMs,
        warmupMs: options.warmupMs,
      })),
    ),
  );
}

/** What a reproduction produced. */
export interface ReproduceResult {
  /** Every run, in job order (with --runs N, N per workload × mode). */
  readonly entries: readonly ReproduceEntry[];
  /** Each workload × mode over its seeds: mean and 95% confidence interval of every figure (no interval with one run). */
  readonly summaries: readonly SummaryEntry[];
  readonly failures: readonly Extract<JobOutcome, { ok: false }>[];
  /** The paths written, in order. */
  readonly files: readonly string[];
  /** What stdout shows: the table and its notes. */
  readonly text: string;
}

/** Notes on runs whose VM was stopped, naming the seed when there are several. */
function stoppedRunNotes(entries: readonly ReproduceEntry[], runs: number): string[] {
  return runs > 1
    ? entries
        .filter((r) => r.stopped !== null)
        .map((r) => `${r.workload} on ${r.mode} (seed ${r.seed}): VM stopped — ${r.stopped}`)
    : stoppedNotes(entries);
}

/** The Markdown report: what ran, the table, notes and the charts. */
export function reproduceMarkdown(options: ReproduceOptions, entries: readonly ReproduceEntry[]): string {
  const profile = entries[0]?.profile ?? 'unknown';
  const runs = options.runs ?? 1;
  const notes = stoppedRunNotes(entries, runs);
  const seeds =
    runs > 1 ? `${runs} runs each, seeds ${options.seed}–${options.seed + runs - 1}` : `seed ${options.seed}`;
  const table =
    runs > 1
      ? formatMarkdownTable(summaryColumns(), summarize(entries))
      : formatMarkdownTable(reproduceColumns(), entries);
  return [
    '# exitless reproduce',
    '',
    `Every workload on every mode on the default machine (calibration profile \`${profile}\`), ${seeds}: ` +
      `${options.durationMs} ms measured after ${options.warmupMs} ms of warm-up per run. ` +
      `“% of bare metal” and “vs baseline” compare each run's throughput with the ${BARE_METAL} and ${BASELINE} runs of the same workload${runs > 1 ? ' and seed' : ''}.` +
      (runs > 1
        ? ` Each figure is the ${intervalNote(options.seed, runs)}; the error bars in the charts are the same intervals.`
        : ''),
    '',
    table.trimEnd(),
    ...(notes.length > 0 ? ['', ...notes.map((n) => `- ${n}`)] : []),
    '',
    '![Throughput relative to bare metal](throughput-relative.svg)',
    '',
    '![VM exits per second](exits-per-second.svg)',
    '',
  ].join('\n');
}

/**
 * Runs the reproduction and writes its files. Failed runs are reported (and left out of
 * the files); the rest still count.
 */
export async function reproduce(
  options: ReproduceOptions,
  hooks: { readonly onDone?: (outcome: JobOutcome, done: number, total: number) => void } = {},
): Promise<ReproduceResult> {
  const outcomes = await runJobs(reproduceJobs(options), {
    jobs: options.jobs,
    ...(hooks.onDone !== undefined ? { onDone: hooks.onDone } : {}),
  });
  const reports = outcomes.flatMap((o) => (o.ok ? [o.result.report] : []));
  const failures = outcomes.filter((o): o is Extract<JobOutcome, { ok: false }> => !o.ok);
  const entries = withRelative(reports);
  const summaries = summarize(entries);
  const runs = options.runs ?? 1;
  const many = runs > 1;
  const relative = relativeThroughputChart(many ? summaries : entries);
  const exits = exitsPerSecondChart(many ? summaries : entries);
  const files = await writeOutputs(options.outDir, [
    ['results.json', toJson(many ? summaries : entries)],
    ['results.csv', many ? formatCsv(summaryColumns(), summaries) : formatCsv(reproduceColumns(), entries)],
    ['results.md', reproduceMarkdown(options, entries)],
    [relative.file, await renderSvg(relative.spec)],
    [exits.file, await renderSvg(exits.spec)],
  ]);
  const notes = [
    ...stoppedRunNotes(entries, runs),
    ...failures.map(
      (f) => `${f.job.workload} on ${f.job.mode}${many ? ` (seed ${f.job.seed})` : ''}: FAILED — ${f.error}`,
    ),
  ];
  const table = many
    ? `${formatTable(summaryColumns(), summaries)}${intervalNote(options.seed, runs)}\n`
    : formatTable(reproduceColumns(), entries);
  const text = `${table}${notes.map((n) => `${n}\n`).join('')}`;
  return { entries, summaries, failures, files, text };
}
