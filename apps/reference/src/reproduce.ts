import {
  parseList,
  parseNumber,
  parseOptions,
  parseRunLength,
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
  readonly seed: number;
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
                     [--seed N] [--out DIR] [--jobs N]
      Runs every workload on every mode on the default machine, in parallel on a worker pool,
      and prints the paper-style table: throughput, % of bare metal, speed-up over baseline,
      exits/s, exits per assigned interrupt, interrupts/s, time in guest, latency. Writes
      results.json, results.csv, results.md, throughput-relative.svg and exits-per-second.svg
      to DIR (default ${REPRODUCE_DEFAULTS.outDir}). Defaults: --duration ${REPRODUCE_DEFAULTS.durationMs}, --warmup ${REPRODUCE_DEFAULTS.warmupMs},
      --seed ${REPRODUCE_DEFAULTS.seed}, --jobs = cores. The ratios need a ${BARE_METAL} and a ${BASELINE} run of
      the same workload; without them those columns are empty.`;

/** Parses `reproduce`'s arguments; mistakes are UsageErrors that say what to change. */
export function parseReproduceArgs(args: readonly string[]): ReproduceOptions {
  const values = parseOptions('reproduce', args, {
    workloads: { type: 'string', value: 'a,b' },
    modes: { type: 'string', value: 'a,b' },
    duration: { type: 'string', value: 'MS' },
    warmup: { type: 'string', value: 'MS' },
    seed: { type: 'string', value: 'N' },
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
  return {
    workloads,
    modes,
    ...parseRunLength(values, REPRODUCE_DEFAULTS),
    seed: parseSeed(stringOption(values, 'seed'), REPRODUCE_DEFAULTS.seed),
    outDir: out ?? REPRODUCE_DEFAULTS.outDir,
    jobs: parseNumber(stringOption(values, 'jobs'), 'jobs', defaultJobs(), 1, { integer: true, max: 256 }),
  };
}

/** The runs of a reproduction: workload-major, mode-minor (the table's order). */
export function reproduceJobs(options: ReproduceOptions): RunJob[] {
  return options.workloads.flatMap((workload) =>
    options.modes.map((mode) => ({
      workload,
      mode,
      seed: options.seed,
      durationMs: options.durationMs,
      warmupMs: options.warmupMs,
    })),
  );
}

/** What a reproduction produced. */
export interface ReproduceResult {
  readonly entries: readonly ReproduceEntry[];
  readonly failures: readonly Extract<JobOutcome, { ok: false }>[];
  /** The paths written, in order. */
  readonly files: readonly string[];
  /** What stdout shows: the table and its notes. */
  readonly text: string;
}

/** The Markdown report: what ran, the table, notes and the charts. */
export function reproduceMarkdown(options: ReproduceOptions, entries: readonly ReproduceEntry[]): string {
  const profile = entries[0]?.profile ?? 'unknown';
  const notes = stoppedNotes(entries);
  return [
    '# exitless reproduce',
    '',
    `Every workload on every mode on the default machine (calibration profile \`${profile}\`), seed ${options.seed}: ` +
      `${options.durationMs} ms measured after ${options.warmupMs} ms of warm-up per run. ` +
      `“% of bare metal” and “vs baseline” compare each run's throughput with the ${BARE_METAL} and ${BASELINE} runs of the same workload.`,
    '',
    formatMarkdownTable(reproduceColumns(), entries).trimEnd(),
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
  const columns = reproduceColumns();
  const relative = relativeThroughputChart(entries);
  const exits = exitsPerSecondChart(entries);
  const files = await writeOutputs(options.outDir, [
    ['results.json', toJson(entries)],
    ['results.csv', formatCsv(columns, entries)],
    ['results.md', reproduceMarkdown(options, entries)],
    [relative.file, await renderSvg(relative.spec)],
    [exits.file, await renderSvg(exits.spec)],
  ]);
  const notes = [
    ...stoppedNotes(entries),
    ...failures.map((f) => `${f.job.workload} on ${f.job.mode}: FAILED — ${f.error}`),
  ];
  const text = `${formatTable(columns, entries)}${notes.map((n) => `${n}\n`).join('')}`;
  return { entries, failures, files, text };
}
