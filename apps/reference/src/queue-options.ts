import { hostname } from 'node:os';
import { UserError } from '@exitless/x86';
import { type ParsedOptions, parseNumber, parseOptions, stringOption, UsageError } from './args.js';

/**
 * Where a study's runs go with `--queue redis://HOST:PORT[/DB]`, and how the coordinator
 * behaves there (queue.ts).
 */
export interface QueueOptions {
  /** The URL as given (without its password), for messages. */
  readonly url: string;
  /** The Redis server. */
  readonly redis: RedisTarget;
  /** Reuse the results of runs an earlier study finished (`--resume`). */
  readonly resume: boolean;
  /** How long the coordinator waits for a Redis that went away before it gives up, ms (`--queue-timeout`). */
  readonly timeoutMs: number;
}

/** A Redis server, as `redis://[USER:PASSWORD@]HOST[:PORT][/DB]` (or `rediss://` for TLS) names it. */
export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
}

/** A queue that cannot be reached, or went away for longer than --queue-timeout: one line, no stack trace. */
export class QueueError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'QueueError';
  }
}

/** `--queue-timeout`'s default, s: long enough for a Redis restart, short enough to notice a Redis gone for good. */
export const QUEUE_TIMEOUT_DEFAULT_S = 60;

/** The options of a command that can run on a queue, for parseOptions. */
export const QUEUE_OPTIONS = {
  queue: { type: 'string', value: 'redis://HOST:PORT[/DB]' },
  resume: { type: 'boolean' },
  'queue-timeout': { type: 'string', value: 'S' },
} as const;

/** What --queue, --resume and --queue-timeout do, for usage texts. */
export const QUEUE_USAGE = `--queue redis://HOST:PORT[/DB] runs the runs on the workers of that Redis
      ('exitless worker') instead of this machine's threads: the same files, byte for byte.
      --resume (with --queue) reuses the runs an earlier study finished there. --queue-timeout S
      (default ${QUEUE_TIMEOUT_DEFAULT_S}): how long to wait for Redis if it goes away before failing.`;

const URL_USAGE = 'redis://HOST:PORT[/DB]';

/** `redis://HOST:PORT[/DB]` → the server; anything else is a UsageError naming the option. */
export function parseRedisUrl(text: string, flag = 'queue'): RedisTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--${flag} must be a Redis URL like ${URL_USAGE}, got '${text}'`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(
      `--${flag} must be a Redis URL like ${URL_USAGE} (redis:// or rediss://), got '${text}'`,
    );
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new UsageError(`--${flag} must name the Redis host: ${URL_USAGE}, got '${text}'`);
  if (url.search !== '' || url.hash !== '') {
    throw new UsageError(`--${flag} takes no ?query or #fragment: ${URL_USAGE}, got '${text}'`);
  }
  const port = url.port === '' ? 6379 : Number(url.port);
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,5}$/.test(path)) {
    throw new UsageError(
      `--${flag}: the database after the port must be a number (${URL_USAGE}), got '/${path}'`,
    );
  }
  return {
    host,
    port,
    db: path === '' ? 0 : Number(path),
    ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password !== '' ? { password: decodeURIComponent(url.password) } : {}),
    tls: url.protocol === 'rediss:',
  };
}

/** A Redis server as a URL for messages, without its password. */
export function redisUrl(target: RedisTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  const user = target.username !== undefined ? `${encodeURIComponent(target.username)}@` : '';
  return `${target.tls ? 'rediss' : 'redis'}://${user}${host}:${target.port}${target.db !== 0 ? `/${target.db}` : ''}`;
}

/** --queue, --resume and --queue-timeout: the queue options, or undefined without --queue. */
export function parseQueueOptions(values: ParsedOptions): QueueOptions | undefined {
  const text = stringOption(values, 'queue');
  const timeout = stringOption(values, 'queue-timeout');
  if (text === undefined) {
    if (values.resume === true) {
      throw new UsageError(
        '--resume reuses the runs finished on a queue: use it with --queue redis://HOST:PORT',
      );
    }
    if (timeout !== undefined) {
      throw new UsageError(
        '--queue-timeout is how long to wait for the queue: use it with --queue redis://HOST:PORT',
      );
    }
    return undefined;
  }
  const redis = parseRedisUrl(text);
  const seconds = parseNumber(timeout, 'queue-timeout', QUEUE_TIMEOUT_DEFAULT_S, 1, { max: 86_400 });
  return { url: redisUrl(redis), redis, resume: values.resume === true, timeoutMs: seconds * 1000 };
}

/** `{ queue }` for a command's options when --queue is given, else `{}` (parseQueueOptions). */
export function queueField(values: ParsedOptions): { readonly queue?: QueueOptions } {
  const queue = parseQueueOptions(values);
  return queue !== undefined ? { queue } : {};
}

/** An error's message, or its code when it has none (ioredis's connection errors). */
export function reason(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return reason(error.errors[0]);
  if (error instanceof Error) {
    const code = Reflect.get(error, 'code');
    return error.message !== '' ? error.message : typeof code === 'string' ? code : error.name;
  }
  return String(error);
}

/** What `exitless worker` does. */
export interface WorkerOptions {
  readonly redis: RedisTarget;
  /** Runs at once, each on its own thread (default 1). */
  readonly concurrency: number;
  /** The worker's name in log lines and the coordinator's progress (default HOST:PID). */
  readonly name: string;
  /**
   * How long a run's lock lasts without renewal, ms: a worker that dies mid-run gives its run
   * back after about this long (other workers check for stalled runs as often).
   */
  readonly lockDurationMs: number;
}

/** `--lock-duration`'s default, ms (BullMQ's). */
export const LOCK_DURATION_DEFAULT_MS = 30_000;

export const WORKER_USAGE = `exitless worker --queue redis://HOST:PORT[/DB] [--concurrency N] [--name NAME]
                 [--lock-duration MS]
      Runs the runs that 'reproduce', 'sweep' and 'sensitivity' queue with --queue, on this
      machine, until stopped (Ctrl-C or SIGTERM finishes the runs in hand first). Each run
      carries its whole input; a worker of another @exitless/cli version, or whose calibration
      profile differs from the coordinator's, refuses it: the run fails with that message, the
      coordinator reports it, and a later --resume runs it again. --concurrency N (default 1)
      runs N at once, each on a worker thread. --name (default HOST:PID) names the worker in
      the progress lines. --lock-duration MS (default ${LOCK_DURATION_DEFAULT_MS}): a run whose worker dies is
      taken up again by another worker after about this long.`;

/** Parses `worker`'s arguments; mistakes are UsageErrors that say what to change. */
export function parseWorkerArgs(args: readonly string[]): WorkerOptions {
  const values: ParsedOptions = parseOptions('worker', args, {
    queue: { type: 'string', value: 'redis://HOST:PORT[/DB]' },
    concurrency: { type: 'string', value: 'N' },
    name: { type: 'string', value: 'NAME' },
    'lock-duration': { type: 'string', value: 'MS' },
  });
  const url = stringOption(values, 'queue');
  if (url === undefined) {
    throw new UsageError(
      'exitless worker needs --queue redis://HOST:PORT[/DB]: the Redis the studies queue their runs on',
    );
  }
  const name = stringOption(values, 'name') ?? `${hostname()}:${process.pid}`;
  if (name.trim() === '' || /[\r\n]/.test(name))
    throw new UsageError('--name must be a non-empty name on one line');
  return {
    redis: parseRedisUrl(url),
    concurrency: parseNumber(stringOption(values, 'concurrency'), 'concurrency', 1, 1, {
      integer: true,
      max: 256,
    }),
    name,
    lockDurationMs: parseNumber(
      stringOption(values, 'lock-duration'),
      'lock-duration',
      LOCK_DURATION_DEFAULT_MS,
      500,
      {
        integer: true,
        max: 3_600_000,
      },
    ),
  };
}
