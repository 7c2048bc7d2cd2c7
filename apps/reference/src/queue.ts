import { setTimeout as sleep } from 'node:timers/promises';
import { type JobsOptions, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { RunJob } from './jobs.js';
import type { JobOutcome } from './pool.js';
import {
  decodeResult,
  QUEUE_NAME,
  type QueueJobData,
  type QueueJobReturn,
  queueJobData,
  queueJobId,
} from './queue-job.js';
import { QueueError, type QueueOptions, reason } from './queue-options.js';
import { checkRedis, connectionOptions } from './queue-redis.js';

// ─── The coordinator ──────────────────────────────────────────────────────────────────────
//
// `reproduce|sweep|sensitivity --queue redis://…` hands runJobs' jobs to BullMQ and collects
// the outcomes in the jobs' order, as the local pool does. The coordinator's own list of what
// is still to come is the truth: every POLL_MS it asks Redis where each of those runs is, and
// queues again any Redis no longer has (a Redis restarted without its data). While Redis does
// not answer it waits, for at most --queue-timeout, then fails with one line: the files are
// written only once every run has an outcome, so a study never ends with a partial table.
//
// Each job's id is a hash of its whole input (queueJobId): a run queued twice is one job, and
// with --resume a run an earlier study finished (kept in Redis for RESULT_AGE_S) is reused.

/** How often the coordinator asks Redis about the runs still to come, ms. */
const POLL_MS = 200;

/** How often the coordinator checks that some worker listens while runs remain, ms. */
const WORKERS_CHECK_MS = 5000;

/** How long one round of questions to Redis may take before it counts as Redis not answering, ms. */
const ROUND_TIMEOUT_MS = 5000;

/** How long finished runs stay in Redis for --resume, s (a week). */
export const RESULT_AGE_S = 7 * 24 * 3600;

/**
 * Each job's options: a failure the worker does not mark as final (a lost connection while it
 * stored the result) is tried again; a run that throws is final (UnrecoverableError) and
 * reported once. Finished and failed runs stay a week, for --resume and for the reports.
 */
const JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'fixed', delay: 1000 },
  removeOnComplete: { age: RESULT_AGE_S },
  removeOnFail: { age: RESULT_AGE_S },
};

/** How many questions go to Redis at once. */
const BATCH = 500;

/** What runJobsOnQueue needs besides the jobs. */
export interface QueueRunOptions {
  readonly queue: QueueOptions;
  readonly onDone?: (outcome: JobOutcome, done: number, total: number) => void;
  /** Where the coordinator says that Redis went away and came back (default: stderr). */
  readonly log?: (line: string) => void;
}

/** Where one distinct run is: still to be queued (or queued again), or queued. */
type Stage = 'new' | 'lost' | 'queued';

async function inBatches<T, R>(items: readonly T[], f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += BATCH)
    out.push(...(await Promise.all(items.slice(i, i + BATCH).map(f))));
  return out;
}

/** `promise`, or a rejection once `ms` have passed (a Redis that accepts connections but does not answer). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      promise,
      sleep(ms, undefined, { signal: timer.signal }).then(() => {
        throw new Error(`no answer in ${ms / 1000} s`);
      }),
    ]);
  } finally {
    timer.abort();
  }
}

/**
 * Runs the jobs on the workers of the queue and returns their outcomes in the jobs' order,
 * as runJobs does: the same reports, so the same files. Throws a QueueError when Redis cannot
 * be reached at the start, or stays away for longer than the queue's timeout.
 */
export async function runJobsOnQueue(
  jobs: readonly RunJob[],
  options: QueueRunOptions,
): Promise<JobOutcome[]> {
  const { queue: q } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  await checkRedis(q.redis);
  const outcomes: JobOutcome[] = new Array(jobs.length);
  // One queued job per distinct input; the jobs it answers.
  const data = new Map<string, QueueJobData>();
  const indices = new Map<string, number[]>();
  for (const [i, job] of jobs.entries()) {
    const d = queueJobData(job);
    const id = queueJobId(d);
    data.set(id, d);
    indices.set(id, [...(indices.get(id) ?? []), i]);
  }
  const stage = new Map<string, Stage>([...data.keys()].map((id) => [id, 'new']));
  let done = 0;
  const finish = (id: string, make: (job: RunJob) => JobOutcome): void => {
    // A round that timed out may still be answering: an outcome counts once.
    if (!stage.delete(id)) return;
    for (const i of indices.get(id) ?? []) {
      outcomes[i] = make(jobs[i]!);
      done++;
      options.onDone?.(outcomes[i], done, jobs.length);
    }
  };
  // The coordinator's own connection, so that it can drop it at the end even when Redis is gone.
  const client = new Redis({
    ...connectionOptions(q.redis),
    // Fail a command at once while Redis is away: the coordinator counts the time itself.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times: number) => Math.min(times * 100, 1000),
  });
  let lastError = '';
  client.on('error', (error) => {
    lastError = reason(error);
  });
  const queue = new Queue<QueueJobData, QueueJobReturn>(QUEUE_NAME, {
    connection: client,
    defaultJobOptions: JOB_OPTIONS,
  });
  queue.on('error', (error) => {
    lastError = reason(error);
  });

  /** One round: queue what is new or lost, then collect what has ended. */
  const round = async (): Promise<void> => {
    const toQueue = [...stage].filter(([, s]) => s !== 'queued').map(([id, s]) => [id, s] as const);
    const states = await inBatches(toQueue, async ([id]) => queue.getJobState(id));
    const add: string[] = [];
    for (const [k, [id, s]] of toQueue.entries()) {
      const state = states[k]!;
      if (state === 'completed' && (q.resume || s === 'lost')) {
        // Finished by an earlier study (--resume), or by a worker before Redis lost track of it.
        const job = await queue.getJob(id);
        if (job?.returnvalue != null) {
          const value = job.returnvalue;
          finish(id, (j) => ({
            ok: true,
            job: j,
            result: decodeResult(value),
            worker: value.worker,
            reused: s === 'new',
          }));
          continue;
        }
      }
      if (state === 'completed' || state === 'failed') {
        // An earlier study's result: run again (without --resume, every run is run).
        await queue.remove(id);
        add.push(id);
      } else if (state === 'unknown') {
        add.push(id);
      }
      if (stage.has(id)) stage.set(id, 'queued');
    }
    for (let i = 0; i < add.length; i += BATCH) {
      await queue.addBulk(
        add.slice(i, i + BATCH).map((id) => ({ name: 'run', data: data.get(id)!, opts: { jobId: id } })),
      );
    }
    const queued = [...stage].filter(([, s]) => s === 'queued').map(([id]) => id);
    const now = await inBatches(queued, async (id) => queue.getJobState(id));
    for (const [k, id] of queued.entries()) {
      const state = now[k]!;
      if (state === 'unknown') {
        // Queued, then gone: Redis restarted without its data. Queue it again.
        stage.set(id, 'lost');
      } else if (state === 'completed' || state === 'failed') {
        const job = await queue.getJob(id);
        if (job === undefined) {
          stage.set(id, 'lost');
        } else if (state === 'completed' && job.returnvalue != null) {
          const value = job.returnvalue;
          finish(id, (j) => ({ ok: true, job: j, result: decodeResult(value), worker: value.worker }));
        } else if (state === 'failed') {
          const error = job.failedReason ?? 'failed on a worker';
          finish(id, (j) => ({ ok: false, job: j, error }));
        }
      }
    }
  };

  let awaySince: number | null = null;
  // Whether the coordinator last saw no worker listening (said once, until one comes).
  let lonely = false;
  let workersCheckedAt = Date.now();
  try {
    while (stage.size > 0) {
      try {
        await within(round(), ROUND_TIMEOUT_MS);
        if (stage.size > 0 && Date.now() - workersCheckedAt >= WORKERS_CHECK_MS) {
          workersCheckedAt = Date.now();
          const workers = await within(queue.getWorkersCount(), ROUND_TIMEOUT_MS);
          if (workers === 0 && !lonely) {
            log(
              `queue: no worker is listening on ${q.url}: start one with 'exitless worker --queue ${q.url}'`,
            );
          }
          lonely = workers === 0;
        }
        if (awaySince !== null) {
          log(
            `queue: Redis at ${q.url} is back after ${((Date.now() - awaySince) / 1000).toFixed(1)} s; resuming (${stage.size} runs to go)`,
          );
          awaySince = null;
        }
      } catch (error) {
        const why = lastError !== '' ? lastError : reason(error);
        if (awaySince === null) {
          awaySince = Date.now();
          log(
            `queue: lost Redis at ${q.url} (${why}); waiting up to ${q.timeoutMs / 1000} s for it to come back`,
          );
        } else if (Date.now() - awaySince >= q.timeoutMs) {
          throw new QueueError(
            `lost Redis at ${q.url} for ${q.timeoutMs / 1000} s (${why}) with ${stage.size} of ${data.size} runs unfinished: nothing was written; start Redis again and re-run with --resume to reuse the finished runs`,
          );
        }
      }
      if (stage.size > 0) await sleep(POLL_MS);
    }
    const ran = new Map<string, number>();
    let reused = 0;
    for (const o of outcomes) {
      if (!o.ok) continue;
      if (o.reused === true) reused++;
      else if (o.worker !== undefined) ran.set(o.worker, (ran.get(o.worker) ?? 0) + 1);
    }
    const by = [...ran].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([w, n]) => `${w}: ${n}`);
    log(
      `queue: ${jobs.length} runs: ${[...ran.values()].reduce((a, b) => a + b, 0)} run by workers${by.length > 0 ? ` (${by.join(', ')})` : ''}, ${reused} reused${q.resume ? ' (--resume)' : ''}, ${outcomes.filter((o) => !o.ok).length} failed`,
    );
  } finally {
    // Close without waiting long for a Redis that is gone.
    await within(queue.close(), 1000).catch(() => {});
    client.disconnect();
  }
  return outcomes;
}
