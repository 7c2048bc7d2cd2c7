import { availableParallelism } from 'node:os';
import Tinypool from 'tinypool';
import { type JobResult, type RunJob, runJob } from './jobs.js';
import type { QueueOptions } from './queue-options.js';

/**
 * How one job ended: its result, or the error that stopped it (other jobs go on). Through a
 * queue (--queue), `worker` names the worker that ran it, and `reused` marks a result an
 * earlier study had finished (--resume).
 */
export type JobOutcome =
  | {
      readonly ok: true;
      readonly job: RunJob;
      readonly result: JobResult;
      readonly worker?: string;
      readonly reused?: boolean;
    }
  | { readonly ok: false; readonly job: RunJob; readonly error: string };

export interface RunJobsOptions {
  /**
   * Worker threads. 1 runs every job in this thread, one after another (no worker start-up;
   * what the tests use); more runs them on a tinypool pool of that many workers.
   */
  readonly jobs: number;
  /** Called as each job ends, in completion order, with the count done so far. */
  readonly onDone?: (outcome: JobOutcome, done: number, total: number) => void;
  /**
   * Run the jobs on the workers of a Redis queue (`--queue`) instead of this machine's threads
   * (queue.ts); `jobs` is then unused. The outcomes are the same, in the same order.
   */
  readonly queue?: QueueOptions;
}

/** One worker per core: the machine is single-threaded, so the jobs are the parallelism. */
export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

/** Node flags a worker needs to load the TypeScript sources of the workspace packages. */
export const WORKER_EXEC_ARGV: readonly string[] = ['--conditions=source', '--import', 'tsx'];

/**
 * Run from the TypeScript sources (`pnpm exitless`, the tests), this module is `pool.ts` and
 * its worker is `worker.mjs`, which loads `jobs.ts` through tsx. Built by tsup, it sits in
 * `dist/` next to `worker.js` (built from `worker.ts`), which imports the built code and the
 * published packages: no tsx, no source condition.
 */
const FROM_SOURCES = import.meta.url.endsWith('.ts');

/** An error as the outcome of a failed job says it: `Name: message`. */
export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** A tinypool of `threads` worker threads, each running one RunJob per task (`pool.run(job)` gives its JobResult). */
export function createThreadPool(threads: number): Tinypool {
  return new Tinypool({
    filename: new URL(FROM_SOURCES ? './worker.mjs' : './worker.js', import.meta.url).href,
    runtime: 'worker_threads',
    minThreads: threads,
    maxThreads: threads,
    execArgv: FROM_SOURCES ? [...WORKER_EXEC_ARGV] : [],
  });
}

/**
 * Runs the jobs and returns their outcomes in the jobs' order (not completion order), so
 * what is written from them does not depend on scheduling.
 */
export async function runJobs(jobs: readonly RunJob[], options: RunJobsOptions): Promise<JobOutcome[]> {
  if (options.queue !== undefined) {
    // Loaded only with --queue: the Redis client stays out of every local run.
    const { runJobsOnQueue } = await import('./queue.js');
    return runJobsOnQueue(jobs, {
      queue: options.queue,
      ...(options.onDone !== undefined ? { onDone: options.onDone } : {}),
    });
  }
  const outcomes: JobOutcome[] = new Array(jobs.length);
  let done = 0;
  const finish = (index: number, outcome: JobOutcome): void => {
    outcomes[index] = outcome;
    done++;
    options.onDone?.(outcome, done, jobs.length);
  };
  if (options.jobs <= 1 || jobs.length <= 1) {
    for (const [i, job] of jobs.entries()) {
      try {
        finish(i, { ok: true, job, result: runJob(job) });
      } catch (error) {
        finish(i, { ok: false, job, error: errorText(error) });
      }
      // Let the progress bar's timer draw between runs.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return outcomes;
  }
  const pool = createThreadPool(Math.min(options.jobs, jobs.length));
  try {
    await Promise.all(
      jobs.map(async (job, i) => {
        try {
          finish(i, { ok: true, job, result: (await pool.run(job)) as JobResult });
        } catch (error) {
          finish(i, { ok: false, job, error: errorText(error) });
        }
      }),
    );
  } finally {
    await pool.destroy();
  }
  return outcomes;
}
