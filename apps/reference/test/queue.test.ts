import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommand } from '../src/command.js';
import { cliVersion, QUEUE_NAME, type QueueJobData, queueJobData, queueJobId } from '../src/queue-job.js';
import { parseRedisUrl } from '../src/queue-options.js';
import { connectionOptions } from '../src/queue-redis.js';
import { type ReproduceOptions, reproduce } from '../src/reproduce.js';
import { sensitivity } from '../src/sensitivity.js';
import { sweep } from '../src/sweep.js';
import { exitless, type Proc, type RedisServer, startRedis, stopProc } from './queue-setup.js';
import { contents, tempDirs } from './temp-dirs.js';

// Against a real redis-server (queue-setup.ts starts one on a free loopback port; the tests
// fail, loudly, if it cannot start) with two `exitless worker` processes.

const tempDir = tempDirs('queue');
let redis: RedisServer;
const workers: Proc[] = [];

/**
 * A worker process named `name`, waited on until it listens, running `concurrency` runs at once.
 * Locks of 1.5 s: a killed worker's run comes back within ~3 s.
 */
async function worker(name: string, concurrency = 1): Promise<Proc> {
  const w = exitless([
    'worker',
    '--queue',
    redis.url,
    '--name',
    name,
    '--lock-duration',
    '1500',
    '--concurrency',
    String(concurrency),
  ]);
  workers.push(w);
  await w.waitFor(/waiting for runs on/);
  return w;
}

/** The `running …` lines of every worker so far: each is one run a worker started. */
function started(): string[] {
  return workers.flatMap((w) => w.stderr().match(/^worker \S+: running .*$/gm) ?? []);
}

/** Where each worker's log is now, for startedSince. */
function mark(): number[] {
  return workers.map((w) => w.stderr().length);
}

/** The `running …` lines each worker wrote since `marks`. */
function startedSince(marks: readonly number[]): string[] {
  return workers.flatMap(
    (w, i) =>
      w
        .stderr()
        .slice(marks[i] ?? 0)
        .match(/^worker \S+: running .*$/gm) ?? [],
  );
}

/** The workers that have not ended. */
function live(): Proc[] {
  return workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
}

/**
 * Stops (SIGSTOP) `held`, so that none of them takes or ends a run, whatever the load on the
 * machine; the function it returns lets them go on (SIGCONT).
 */
function hold(held: readonly Proc[]): () => void {
  for (const w of held) w.child.kill('SIGSTOP');
  return () => {
    for (const w of held) w.child.kill('SIGCONT');
  };
}

/** The study each test runs: 4 short runs of memcached (about a second each). */
const STUDY = [
  '--workloads',
  'memcached',
  '--modes',
  'bare-metal,baseline,eli,pv-eoi',
  '--duration',
  '30',
  '--warmup',
  '1',
];

function options(args: readonly string[], out: string): ReproduceOptions {
  const command = parseCommand(['reproduce', ...args, '--out', out, '--jobs', '1']);
  if (command.kind !== 'reproduce') throw new Error('not a reproduce command');
  return command.options;
}

/** The files and stdout a local run of the study (this thread) gives. */
async function local(args: readonly string[]): Promise<{ files: Record<string, string>; stdout: string }> {
  const dir = await tempDir();
  const result = await reproduce(options(args, dir));
  return { files: await contents(dir), stdout: result.text };
}

/** Runs `exitless reproduce ARGS --queue URL --out DIR` to its end. */
async function queued(args: readonly string[], extra: readonly string[] = []) {
  const dir = await tempDir();
  const p = exitless(['reproduce', ...args, '--out', dir, '--queue', redis.url, ...extra]);
  return { p, dir, done: p.exited };
}

beforeAll(async () => {
  redis = await startRedis();
  // w2 runs two at a time, on two worker threads.
  await Promise.all([worker('w1'), worker('w2', 2)]);
}, 60_000);

afterAll(async () => {
  await Promise.all(workers.map(stopProc));
  await redis?.close();
});

describe('exitless reproduce --queue', () => {
  let expected: { files: Record<string, string>; stdout: string };

  it('writes the files and stdout of a local run, byte for byte, and its progress counts and names runs across workers', async () => {
    expected = await local(STUDY);
    const { p, dir, done } = await queued(STUDY);
    expect(await done).toBe(0);
    expect(await contents(dir)).toEqual(expected.files);
    expect(p.stdout()).toBe(expected.stdout);
    const progress = p.stderr().match(/^\[\d\/4\] memcached × \S+ \(seed 1\) on w[12]: .*$/gm) ?? [];
    expect(progress.map((l) => l.slice(0, 5))).toEqual(['[1/4]', '[2/4]', '[3/4]', '[4/4]']);
    // Each worker ran a share, and the progress names which.
    expect(progress.some((l) => l.includes(' on w1:'))).toBe(true);
    expect(progress.some((l) => l.includes(' on w2:'))).toBe(true);
    expect(p.stderr()).toMatch(/^queue: 4 runs: 4 run by workers \(w1: \d, w2: \d\), 0 reused, 0 failed$/m);
  }, 60_000);

  it('with --resume reuses the runs finished earlier and runs only the new ones', async () => {
    const before = mark();
    const more = STUDY.map((a) =>
      a === 'bare-metal,baseline,eli,pv-eoi' ? 'bare-metal,baseline,eli,pv-eoi,eli-guest-hlt' : a,
    );
    const { p, dir, done } = await queued(more, ['--resume']);
    expect(await done).toBe(0);
    // One run on a worker (eli-guest-hlt), four reused.
    expect(startedSince(before)).toEqual([
      expect.stringMatching(/running memcached × eli-guest-hlt \(seed 1\)$/),
    ]);
    expect(p.stderr()).toMatch(
      /^queue: 5 runs: 1 run by workers \(w[12]: 1\), 4 reused \(--resume\), 0 failed$/m,
    );
    expect(p.stderr().match(/: reused \(finished earlier on w[12]\)$/gm)).toHaveLength(4);
    const all = await local(more);
    expect(await contents(dir)).toEqual(all.files);
    expect(p.stdout()).toBe(all.stdout);
  }, 60_000);

  it('without --resume runs every run again', async () => {
    const before = started().length;
    const { dir, done } = await queued(STUDY);
    expect(await done).toBe(0);
    expect(started().length - before).toBe(4);
    expect(await contents(dir)).toEqual(expected.files);
  }, 60_000);

  it('loses nothing when a worker is killed mid-run: another worker takes the run up, and the files are the same', async () => {
    const w1 = workers.find((w) => w.stderr().includes('worker w1:'))!;
    const w2 = workers.find((w) => w.stderr().includes('worker w2:'))!;
    const mark = w1.stderr().length;
    const mark2 = w2.stderr().length;
    const { p, dir, done } = await queued(STUDY);
    // Kill w1 as soon as it has started a run of this study.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (w1.stderr().slice(mark).includes('running memcached')) {
          clearInterval(poll);
          resolve();
        }
      }, 5);
    });
    w1.child.kill('SIGKILL');
    const killedRun = /running (memcached × \S+ \(seed 1\))/.exec(w1.stderr().slice(mark))![1]!;
    expect(await w1.exited).toBe('SIGKILL');
    expect(await done).toBe(0);
    expect(w1.stderr().slice(mark)).not.toContain(`ran ${killedRun}`);
    // BullMQ's stalled-job check gave the killed run back to the queue, and w2 ran it (its second
    // start): every one of the study's runs is in the files.
    expect(w2.stderr().slice(mark2)).toContain(`running ${killedRun} (attempt 2)\n`);
    expect(w2.stderr().slice(mark2)).toContain(`ran ${killedRun}`);
    expect(p.stderr()).toMatch(/^queue: 4 runs: 4 run by workers \(w2: 4\), 0 reused, 0 failed$/m);
    expect(await contents(dir)).toEqual(expected.files);
    expect(p.stdout()).toBe(expected.stdout);
    await worker('w3');
  }, 60_000);

  it('sweep and sensitivity --queue write the files of a local run too (sensitivity: both of its phases)', async () => {
    const studies = [
      [
        'sweep',
        '--workload',
        'memcached',
        '--values',
        '20,40',
        '--modes',
        'eli',
        '--duration',
        '3',
        '--warmup',
        '1',
      ],
      [
        'sensitivity',
        '--workloads',
        'memcached',
        '--modes',
        'eli',
        '--entries',
        'cpu.vmExitCycles',
        '--duration',
        '3',
        '--warmup',
        '1',
      ],
    ];
    for (const args of studies) {
      // The local run in this thread.
      const localDir = await tempDir();
      const command = parseCommand([...args, '--out', localDir, '--jobs', '1']);
      const local =
        command.kind === 'sweep'
          ? await sweep(command.options)
          : command.kind === 'sensitivity'
            ? await sensitivity(command.options)
            : null;
      const dir = await tempDir();
      const p = exitless([...args, '--out', dir, '--queue', redis.url]);
      expect(await p.exited).toBe(0);
      expect(p.stderr()).toMatch(/^queue: \d+ runs: \d+ run by workers \(/m);
      expect(await contents(dir)).toEqual(await contents(localDir));
      expect(p.stdout()).toBe(local?.text);
    }
  }, 90_000);

  it('reports a run that fails deterministically once, with its input, and does not retry it', async () => {
    const dir = await tempDir();
    const before = mark();
    const base = options(STUDY, dir);
    const result = await reproduce({
      ...base,
      modes: ['bare-metal', 'no-such-mode'],
      queue: { url: redis.url, redis: parseRedisUrl(redis.url), resume: false, timeoutMs: 10_000 },
    });
    expect(result.failures.map((f) => [f.job.workload, f.job.mode, f.job.seed, f.error])).toEqual([
      ['memcached', 'no-such-mode', 1, expect.stringMatching(/^\w*Error: unknown mode 'no-such-mode'/)],
    ]);
    expect(result.text).toMatch(
      /^memcached on no-such-mode: FAILED — \w*Error: unknown mode 'no-such-mode'/m,
    );
    // Started once on one worker, never again.
    await new Promise((r) => setTimeout(r, 2000));
    const runs = startedSince(before);
    expect(runs.filter((l) => l.includes('no-such-mode'))).toHaveLength(1);
    expect(runs).toHaveLength(2);
  }, 60_000);

  it('a worker refuses a run queued by another @exitless/cli version, or with another calibration profile, saying why', async () => {
    const connection = connectionOptions(parseRedisUrl(redis.url));
    const queue = new Queue<QueueJobData, unknown, string>(QUEUE_NAME, { connection });
    try {
      const job = { workload: 'memcached', mode: 'eli', seed: 7, durationMs: 1, warmupMs: 0 };
      const cases = [
        {
          data: queueJobData(job, { version: '0.0.1-other' }),
          why: new RegExp(
            `^refused by worker w[23]: it runs @exitless/cli ${cliVersion().replaceAll('.', '\\.')} \\(queue schema 1\\), and the run was queued by @exitless/cli 0\\.0\\.1-other \\(schema 1\\)`,
          ),
        },
        {
          data: queueJobData(job, { profileHash: '0123456789abcdef' }),
          why: /^refused by worker w[23]: its calibration profile hashes to [0-9a-f]{16}, the coordinator's to 0123456789abcdef/,
        },
      ];
      for (const { data, why } of cases) {
        const before = started().length;
        const id = queueJobId(data);
        await queue.add('run', data, { jobId: id, attempts: 3 });
        let state = await queue.getJobState(id);
        for (let i = 0; i < 200 && state !== 'failed'; i++) {
          await new Promise((r) => setTimeout(r, 50));
          state = await queue.getJobState(id);
        }
        const stored = await queue.getJob(id);
        expect(stored?.failedReason).toMatch(why);
        // Refused once: a refusal is final (the coordinator reports it), not retried.
        expect(stored?.attemptsMade).toBe(1);
        expect(started().length).toBe(before);
        expect(workers.map((w) => w.stderr()).join('')).toMatch(
          new RegExp(`memcached × eli \\(seed 7\\): ${why.source.slice(1)}`),
        );
      }
    } finally {
      await queue.close();
    }
  }, 60_000);

  it('a worker refuses a job that is not an exitless run (null or foreign data), says so, and goes on working', async () => {
    const connection = connectionOptions(parseRedisUrl(redis.url));
    const queue = new Queue<unknown, unknown, string>(QUEUE_NAME, { connection });
    try {
      const cases = [
        { id: 'foreign-null', data: null, why: /job foreign-null its data is null, not an exitless run$/ },
        {
          id: 'foreign-object',
          data: { garbage: true },
          why: /job foreign-object it is not an exitless run \(schema, version, profileHash, label, input are missing or of the wrong type\)$/,
        },
      ];
      for (const { id, data, why } of cases) {
        const before = started().length;
        await queue.add('run', data, { jobId: id, attempts: 3 });
        let state = await queue.getJobState(id);
        for (let i = 0; i < 200 && state !== 'failed'; i++) {
          await new Promise((r) => setTimeout(r, 50));
          state = await queue.getJobState(id);
        }
        const stored = await queue.getJob(id);
        expect(stored?.failedReason).toMatch(why);
        expect(stored?.attemptsMade).toBe(1);
        expect(started().length).toBe(before);
      }
      const logs = workers.map((w) => w.stderr()).join('');
      expect(logs).toMatch(/^worker w[23]: refused by worker w[23]: job foreign-null its data is null/m);
      // Nothing of it is taken for a lost Redis.
      expect(logs).not.toMatch(/lost Redis/);
    } finally {
      await queue.close();
    }
  }, 60_000);

  it('waits for a Redis that restarts mid-study (empty), queues the lost runs again, and writes the same files', async () => {
    // One worker of one slot takes the study's runs, one at a time, and is stopped once the first
    // has ended: Redis goes away with runs unfinished however slowly this test sees the output.
    const one = live().find((w) => w.stderr().includes('worker w3:'))!;
    const others = hold(live().filter((w) => w !== one));
    let rest = others;
    try {
      const { p, dir, done } = await queued(STUDY, ['--queue-timeout', '30']);
      await p.waitFor(/^\[1\/4\]/m);
      const w3 = hold([one]);
      rest = () => {
        others();
        w3();
      };
      expect(p.stderr()).not.toMatch(/^\[4\/4\]/m);
      await redis.stop();
      await p.waitFor(/queue: lost Redis at redis:\/\/127\.0\.0\.1:\d+ \(.*\); waiting up to 30 s/);
      await new Promise((r) => setTimeout(r, 1000));
      await redis.restart();
      rest();
      rest = () => {};
      expect(await done).toBe(0);
      expect(p.stderr()).toMatch(
        /queue: Redis at redis:\/\/127\.0\.0\.1:\d+ is back after [\d.]+ s; resuming/,
      );
      expect(await contents(dir)).toEqual(expected.files);
      expect(p.stdout()).toBe(expected.stdout);
    } finally {
      rest();
    }
  }, 90_000);

  it('fails with one line, and writes nothing, when Redis stays away longer than --queue-timeout', async () => {
    // The study's four runs finished (reused below), then one more that no worker can take: the
    // workers are stopped, so Redis goes away with exactly that run unfinished.
    expect(await (await queued(STUDY, ['--resume'])).done).toBe(0);
    const more = STUDY.map((a) => (a === 'bare-metal,baseline,eli,pv-eoi' ? `${a},eli-guest-hlt` : a));
    const release = hold(live());
    try {
      const { p, dir, done } = await queued(more, ['--resume', '--queue-timeout', '2']);
      await p.waitFor(/^\[4\/5\] .*: reused \(finished earlier on w\d\)$/m);
      await redis.stop();
      expect(await done).toBe(2);
      const last = p.stderr().trimEnd().split('\n').at(-1)!;
      expect(last).toMatch(
        /^exitless: lost Redis at redis:\/\/127\.0\.0\.1:\d+ for 2 s \(.*\) with 1 of 5 runs unfinished: nothing was written; start Redis again and re-run with --resume to reuse the finished runs$/,
      );
      expect(p.stderr()).not.toMatch(/^\s+at /m);
      expect(p.stdout()).toBe('');
      expect(existsSync(join(dir, 'results.json'))).toBe(false);
    } finally {
      await redis.restart();
      release();
    }
  }, 60_000);
});
