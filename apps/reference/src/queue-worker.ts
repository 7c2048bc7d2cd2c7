import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { JobResult } from './jobs.js';
import { createThreadPool, errorText } from './pool.js';
import {
  cliVersion,
  decodeJob,
  encodeValue,
  notQueueJobData,
  profileHash,
  QUEUE_NAME,
  QUEUE_SCHEMA,
  type QueueJobData,
  type QueueJobReturn,
} from './queue-job.js';
import { reason, redisUrl, type WorkerOptions } from './queue-options.js';
import { checkRedis, connectionOptions } from './queue-redis.js';

// ─── `exitless worker` ───────────────────────────────────────────────────────────────────────
//
// Takes runs from the queue and runs each on a worker thread, so that this process's main
// thread stays free to renew BullMQ's lock on the runs it holds: a run longer than the lock
// would otherwise look stalled. A worker killed mid-run holds its lock no longer: after
// --lock-duration another worker's stalled-job check puts the run back in the queue.

/** How many times a run may lose its worker before it is reported as failed (a run that kills every worker it meets). */
const MAX_STALLED = 3;

/**
 * Why this worker will not run the job, or null: another schema, another @exitless/cli
 * version, or a calibration profile that hashes otherwise here (or that this build lacks).
 */
export function refusal(data: QueueJobData, worker: string): string | null {
  const mine = cliVersion();
  if (data.schema !== QUEUE_SCHEMA || data.version !== mine) {
    return `refused by worker ${worker}: it runs @exitless/cli ${mine} (queue schema ${QUEUE_SCHEMA}), and the run was queued by @exitless/cli ${data.version} (schema ${data.schema}); run workers of the coordinator's version`;
  }
  let hash: string;
  try {
    hash = profileHash(decodeJob(data).profile);
  } catch (error) {
    return `refused by worker ${worker}: it cannot resolve the run's calibration profile (${reason(error)})`;
  }
  if (hash !== data.profileHash) {
    return `refused by worker ${worker}: its calibration profile hashes to ${hash}, the coordinator's to ${data.profileHash} (same version ${mine}, different profile); run workers built from the same sources`;
  }
  return null;
}

/**
 * Runs the worker until SIGINT or SIGTERM, logging a line per run (`log`, default stderr).
 * Throws a QueueError when Redis cannot be reached at the start; once started, it waits for a
 * Redis that goes away (a worker is long-lived) and says so.
 */
export async function runWorker(
  options: WorkerOptions,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<void> {
  const url = redisUrl(options.redis);
  await checkRedis(options.redis, 'worker');
  const pool = createThreadPool(options.concurrency);
  const me = options.name;
  let away = false;
  const processor = async (job: Job<QueueJobData, QueueJobReturn>): Promise<QueueJobReturn> => {
    if (away) {
      away = false;
      log(`worker ${me}: Redis at ${url} is back`);
    }
    // A job someone else put in the queue: refused with what is wrong, never run or thrown over.
    const foreign = notQueueJobData(job.data);
    if (foreign !== null) {
      const why = `refused by worker ${me}: job ${job.id ?? '?'} ${foreign}`;
      log(`worker ${me}: ${why}`);
      throw new UnrecoverableError(why);
    }
    const why = refusal(job.data, me);
    if (why !== null) {
      log(`worker ${me}: ${job.data.label}: ${why}`);
      throw new UnrecoverableError(why);
    }
    log(
      `worker ${me}: running ${job.data.label}${job.attemptsStarted > 1 ? ` (attempt ${job.attemptsStarted})` : ''}`,
    );
    let result: JobResult;
    try {
      result = (await pool.run(decodeJob(job.data))) as JobResult;
    } catch (error) {
      // Deterministic: the same input fails the same way on any worker, so it is not retried.
      const text = errorText(error);
      log(`worker ${me}: ${job.data.label} FAILED: ${text}`);
      throw new UnrecoverableError(text);
    }
    log(`worker ${me}: ran ${job.data.label} in ${(result.wallMs / 1000).toFixed(2)} s`);
    return { worker: me, result: encodeValue(result) };
  };
  const worker = new Worker<QueueJobData, QueueJobReturn>(QUEUE_NAME, processor, {
    connection: {
      ...connectionOptions(options.redis),
      // BullMQ's workers wait for Redis (blocking commands) and retry forever.
      maxRetriesPerRequest: null,
      retryStrategy: (times: number) => Math.min(times * 200, 2000),
    },
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.lockDurationMs,
    maxStalledCount: MAX_STALLED,
    name: me,
  });
  worker.on('error', (error) => {
    if (away) return;
    away = true;
    log(`worker ${me}: lost Redis at ${url} (${reason(error)}); waiting for it to come back`);
  });
  worker.on('failed', (job, error) => {
    if (job === undefined || error instanceof UnrecoverableError) return;
    log(
      `worker ${me}: ${notQueueJobData(job.data) === null ? job.data.label : `job ${job.id ?? '?'}`}: ${reason(error)}`,
    );
  });
  log(
    `worker ${me}: @exitless/cli ${cliVersion()}, waiting for runs on ${url} (${options.concurrency} at a time, lock ${options.lockDurationMs / 1000} s)`,
  );
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) process.exit(130);
      stopping = true;
      log(`worker ${me}: ${signal}: finishing the runs in hand, then stopping (again to stop now)`);
      void worker
        .close()
        .catch(() => {})
        .then(() => pool.destroy())
        .then(resolve);
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  log(`worker ${me}: stopped`);
}
