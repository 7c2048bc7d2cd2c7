import { isDeepStrictEqual } from 'node:util';
import { withOverrides, XEON_SKYLAKE_SP, XEON_X5570 } from '@exitless/machine';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/args.js';
import { parseCommand } from '../src/command.js';
import { type RunJob, runJob } from '../src/jobs.js';
import {
  cliVersion,
  decodeJob,
  decodeValue,
  encodeValue,
  notQueueJobData,
  profileHash,
  QUEUE_SCHEMA,
  queueJobData,
  queueJobId,
} from '../src/queue-job.js';
import { parseQueueOptions, parseRedisUrl, parseWorkerArgs, redisUrl } from '../src/queue-options.js';

// What a queued run carries, and the options of --queue and `exitless worker` (no Redis here:
// queue.test.ts runs against a real one).

const JOB: RunJob = { workload: 'memcached', mode: 'eli', seed: 3, durationMs: 1, warmupMs: 0.5 };

describe('encodeValue / decodeValue', () => {
  it('give back what a worker thread would: NaN, ±Infinity, -0 and undefined kept, in objects and arrays', () => {
    const value = {
      a: Number.NaN,
      b: [Number.POSITIVE_INFINITY, -0, undefined, 1.5],
      c: undefined,
      d: { e: null, f: '' },
    };
    const back = decodeValue(encodeValue(value)) as typeof value;
    expect(isDeepStrictEqual(back, value)).toBe(true);
    expect(Object.is(back.b[1], -0)).toBe(true);
    expect(Object.hasOwn(back, 'c')).toBe(true);
  });

  it('round-trip any JSON-like value with special numbers (property)', () => {
    const anything = fc.anything({
      withNullPrototype: false,
      withBigInt: false,
      withDate: false,
      withMap: false,
      withSet: false,
      withObjectString: false,
      withBoxedValues: false,
      withTypedArray: false,
      withSparseArray: false,
    });
    fc.assert(
      fc.property(anything, (value) => {
        // Keys like __proto__ are not plain data a job or report would carry.
        fc.pre(!encodeValue(value).includes('"__proto__"'));
        expect(decodeValue(encodeValue(value))).toStrictEqual(value);
      }),
    );
  });

  it("give back a run's whole result, equal to the one the worker computed", () => {
    const result = runJob(JOB);
    expect(isDeepStrictEqual(decodeValue(encodeValue(result)), result)).toBe(true);
  });
});

describe('queueJobData and queueJobId', () => {
  it("carry the schema, this build's version, the profile's hash and the whole input (less the tag)", () => {
    const data = queueJobData({
      ...JOB,
      tag: 'sample 1 of 2',
      profileOverrides: { 'cpu.vmExitCycles': 1500 },
    });
    expect(data).toMatchObject({
      schema: QUEUE_SCHEMA,
      version: cliVersion(),
      profileHash: profileHash(undefined),
      label: 'memcached × eli [sample 1 of 2] (seed 3)',
    });
    expect(decodeJob(data)).toEqual({ ...JOB, profileOverrides: { 'cpu.vmExitCycles': 1500 } });
    expect(cliVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('name a run by its input: the same run, the same id; any change of input, version or profile, another', () => {
    const id = queueJobId(queueJobData(JOB));
    expect(id).toMatch(/^run-[0-9a-f]{64}$/);
    // Key order and the tag do not change the run.
    const reordered: RunJob = {
      warmupMs: 0.5,
      durationMs: 1,
      seed: 3,
      mode: 'eli',
      workload: 'memcached',
      tag: 'x',
    };
    expect(queueJobId(queueJobData(reordered))).toBe(id);
    const others = [
      queueJobData({ ...JOB, seed: 4 }),
      queueJobData({ ...JOB, durationMs: 2 }),
      queueJobData({ ...JOB, profile: 'xeon-skylake-sp' }),
      queueJobData({ ...JOB, profileOverrides: { 'cpu.vmExitCycles': 1500 } }),
      queueJobData({ ...JOB, machine: { guestMemoryMiB: 512 } }),
      queueJobData(JOB, { version: '9.9.9' }),
      queueJobData(JOB, { profileHash: '0000000000000000' }),
    ].map(queueJobId);
    expect(new Set([id, ...others]).size).toBe(others.length + 1);
  });

  it('hash a profile by its content: by name or as an object alike, another profile or value otherwise', () => {
    expect(profileHash('xeon-skylake-sp')).toBe(profileHash(XEON_SKYLAKE_SP));
    expect(profileHash(undefined)).toBe(profileHash(XEON_X5570));
    expect(profileHash(undefined)).not.toBe(profileHash(XEON_SKYLAKE_SP));
    expect(profileHash(withOverrides(XEON_X5570, { 'cpu.vmExitCycles': 1234 }))).not.toBe(
      profileHash(undefined),
    );
    // A profile that crossed as JSON (keys in another order) hashes the same.
    const reversed = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(reversed)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .reverse()
                .map(([k, x]) => [k, reversed(x)]),
            )
          : v;
    const shuffled = reversed(JSON.parse(JSON.stringify(XEON_SKYLAKE_SP))) as typeof XEON_SKYLAKE_SP;
    expect(Object.keys(shuffled)).not.toEqual(Object.keys(XEON_SKYLAKE_SP));
    expect(profileHash(shuffled)).toBe(profileHash(XEON_SKYLAKE_SP));
  });
});

describe('--queue, --resume, --queue-timeout and exitless worker', () => {
  it('parse a Redis URL, with its port, database, user and password', () => {
    expect(parseRedisUrl('redis://10.0.0.5:6380/2')).toEqual({
      host: '10.0.0.5',
      port: 6380,
      db: 2,
      tls: false,
    });
    expect(parseRedisUrl('redis://lab-redis')).toEqual({ host: 'lab-redis', port: 6379, db: 0, tls: false });
    expect(parseRedisUrl('rediss://me:s%40cret@[::1]:7000')).toEqual({
      host: '::1',
      port: 7000,
      db: 0,
      username: 'me',
      password: 's@cret',
      tls: true,
    });
    // Messages name the server, never its password.
    expect(redisUrl(parseRedisUrl('rediss://me:secret@[::1]:7000/3'))).toBe('rediss://me@[::1]:7000/3');
  });

  it('refuse what is not a Redis URL, saying what to give', () => {
    for (const [url, why] of [
      ['localhost:6379', /must be a Redis URL like redis:\/\/HOST:PORT\[\/DB\]/],
      ['http://h:6379', /\(redis:\/\/ or rediss:\/\/\), got 'http:\/\/h:6379'/],
      ['redis://h:99999', /must be a Redis URL/],
      ['redis://h:6379/x', /the database after the port must be a number/],
      ['redis://h:6379?db=1', /takes no \?query/],
    ] as const) {
      expect(() => parseRedisUrl(url)).toThrow(UsageError);
      expect(() => parseRedisUrl(url)).toThrow(why);
    }
  });

  it('give each study command its queue, and refuse --resume or --queue-timeout without --queue', () => {
    const tiny = ['--duration', '1', '--warmup', '0', '--out', 'out/x'];
    for (const command of ['reproduce', 'sweep', 'sensitivity'] as const) {
      const parsed = parseCommand([
        command,
        ...tiny,
        '--queue',
        'redis://127.0.0.1:7000/1',
        '--resume',
        '--queue-timeout',
        '5',
      ]);
      expect(parsed.kind === command && parsed.options.queue).toEqual({
        url: 'redis://127.0.0.1:7000/1',
        redis: { host: '127.0.0.1', port: 7000, db: 1, tls: false },
        resume: true,
        timeoutMs: 5000,
      });
      const local = parseCommand([command, ...tiny]);
      expect(local.kind === command && local.options.queue).toBeUndefined();
      expect(() => parseCommand([command, ...tiny, '--resume'])).toThrow(
        /--resume reuses the runs finished on a queue: use it with --queue/,
      );
      expect(() => parseCommand([command, ...tiny, '--queue-timeout', '5'])).toThrow(/use it with --queue/);
    }
    expect(parseQueueOptions({ queue: 'redis://h' })?.timeoutMs).toBe(60_000);
    expect(() => parseQueueOptions({ queue: 'redis://h', 'queue-timeout': '0' })).toThrow(
      /--queue-timeout must be a number from 1/,
    );
  });

  it('parse exitless worker: --queue is needed, the rest has defaults', () => {
    expect(
      parseWorkerArgs([
        '--queue',
        'redis://h:1',
        '--concurrency',
        '4',
        '--name',
        'lab-1',
        '--lock-duration',
        '5000',
      ]),
    ).toEqual({
      redis: { host: 'h', port: 1, db: 0, tls: false },
      concurrency: 4,
      name: 'lab-1',
      lockDurationMs: 5000,
    });
    expect(parseWorkerArgs(['--queue', 'redis://h'])).toMatchObject({
      concurrency: 1,
      lockDurationMs: 30_000,
      name: expect.stringMatching(/:\d+$/),
    });
    expect(() => parseWorkerArgs([])).toThrow(/exitless worker needs --queue redis:\/\/HOST:PORT\[\/DB\]/);
    expect(() => parseWorkerArgs(['--queue', 'redis://h', '--concurrency', '0'])).toThrow(
      /--concurrency must be an integer from 1 to 256/,
    );
  });
});

describe('notQueueJobData', () => {
  it('accepts what queueJobData makes, and says what is wrong with anything else', () => {
    expect(notQueueJobData(queueJobData(JOB))).toBeNull();
    expect(notQueueJobData(null)).toBe('its data is null, not an exitless run');
    expect(notQueueJobData([1])).toBe('its data is an array, not an exitless run');
    expect(notQueueJobData('x')).toBe('its data is string, not an exitless run');
    expect(notQueueJobData({ ...queueJobData(JOB), schema: '1' })).toBe(
      'it is not an exitless run (schema is missing or of the wrong type)',
    );
    const { label: _label, input: _input, ...rest } = queueJobData(JOB);
    expect(notQueueJobData(rest)).toBe(
      'it is not an exitless run (label, input are missing or of the wrong type)',
    );
  });
});
