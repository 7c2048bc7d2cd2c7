import { type RunCommandOptions, runCommandJobs } from './command.js';
import { formatTable } from './format.js';
import { type JobOutcome, runJobs } from './pool.js';
import { withRelative } from './relative.js';
import { intervalNote, type SummaryEntry, summarize, summaryColumns } from './summary.js';

/** What `exitless run --runs N` (N > 1) produced. */
export interface RepeatedRunResult {
  /** Each mode over its seeds (with every run's report), in mode order. */
  readonly summaries: readonly SummaryEntry[];
  readonly failures: readonly Extract<JobOutcome, { ok: false }>[];
  /** What stdout shows: the JSON (with --json) or the table with its notes. */
  readonly text: string;
}

/**
 * `exitless run` with several seeds: every mode's runs on the worker pool, then the mean and
 * 95% confidence interval of each figure (the table of `reproduce`, or with --json the
 * summary entries: one object for one mode, an array for several, like `run --json`).
 */
export async function runRepeated(
  options: RunCommandOptions,
  hooks: { readonly onDone?: (outcome: JobOutcome, done: number, total: number) => void } = {},
): Promise<RepeatedRunResult> {
  const outcomes = await runJobs(runCommandJobs(options), {
    jobs: options.jobs,
    ...(hooks.onDone !== undefined ? { onDone: hooks.onDone } : {}),
  });
  const failures = outcomes.filter((o): o is Extract<JobOutcome, { ok: false }> => !o.ok);
  const summaries = summarize(withRelative(outcomes.flatMap((o) => (o.ok ? [o.result.report] : []))));
  if (options.json) {
    const value = summaries.length === 1 ? summaries[0] : summaries;
    return { summaries, failures, text: `${JSON.stringify(value, null, 2)}\n` };
  }
  const notes = [
    ...summaries.flatMap((s) =>
      s.runs
        .filter((r) => r.stopped !== null)
        .map((r) => `${r.workload} on ${r.mode} (seed ${r.seed}): VM stopped — ${r.stopped}`),
    ),
    ...failures.map((f) => `${f.job.workload} on ${f.job.mode} (seed ${f.job.seed}): FAILED — ${f.error}`),
  ];
  const text = `${formatTable(summaryColumns(), summaries)}${intervalNote(options.seed, options.runs)}\n${notes
    .map((n) => `${n}\n`)
    .join('')}`;
  return { summaries, failures, text };
}
