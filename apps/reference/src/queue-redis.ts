import { Redis, type RedisOptions } from 'ioredis';
import { QueueError, type RedisTarget, reason, redisUrl } from './queue-options.js';

/** ioredis's options for the server (the caller adds its retry and queueing behaviour). */
export function connectionOptions(target: RedisTarget): RedisOptions {
  return {
    host: target.host,
    port: target.port,
    db: target.db,
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.tls ? { tls: {} } : {}),
  };
}

/** How long the first connection may take before the command says Redis cannot be reached, ms. */
const CONNECT_TIMEOUT_MS = 5000;

/**
 * Connects once, without retrying, and checks the server is a Redis that BullMQ runs on
 * (5.0 or later): a QueueError saying what to do otherwise, within a few seconds — a mistyped
 * host or a stopped server is a message, not a hang.
 */
export async function checkRedis(target: RedisTarget, who = ''): Promise<void> {
  const by = who !== '' ? `${who}: ` : '';
  const url = redisUrl(target);
  const client = new Redis({
    ...connectionOptions(target),
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let lastError: unknown;
  client.on('error', (error) => {
    lastError = error;
  });
  try {
    await client.connect();
    const info = await client.info('server');
    const version = /redis_version:(\d+)\.(\d+)/.exec(info);
    if (version !== null && Number(version[1]) < 5) {
      throw new QueueError(
        `${by}Redis at ${url} is version ${version[1]}.${version[2]}, and BullMQ needs 5.0 or later: upgrade it`,
      );
    }
  } catch (error) {
    if (error instanceof QueueError) throw error;
    throw new QueueError(
      `${by}cannot reach Redis at ${url} (${reason(lastError ?? error)}): start redis-server there, or check the URL`,
    );
  } finally {
    client.disconnect();
  }
}
