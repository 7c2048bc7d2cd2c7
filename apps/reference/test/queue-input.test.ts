import { describe, expect, it } from 'vitest';
import { exitless, type Proc, startRedis, stopProc } from './queue-setup.js';
import { tempDirs } from './temp-dirs.js';

// What a user sees when the queue is not there to work with: no worker yet, a URL that is not
// Redis's, a Redis nobody runs. (queue.test.ts has the studies and the faults.)

const tempDir = tempDirs('queue-input');

describe('a study with no worker yet', () => {
  it('says no worker listens, and goes on when one starts', async () => {
    const lonely = await startRedis();
    const late: Proc[] = [];
    try {
      const dir = await tempDir();
      const args = [
        'reproduce',
        '--workloads',
        'memcached',
        '--modes',
        'eli',
        '--duration',
        '2',
        '--warmup',
        '1',
      ];
      const p = exitless([...args, '--out', dir, '--queue', lonely.url]);
      await p.waitFor(
        /^queue: no worker is listening on redis:\/\/127\.0\.0\.1:\d+: start one with 'exitless worker --queue redis:\/\/127\.0\.0\.1:\d+'$/m,
      );
      late.push(exitless(['worker', '--queue', lonely.url, '--name', 'late']));
      expect(await p.exited).toBe(0);
      expect(p.stderr()).toMatch(/^\[1\/1\] memcached × eli \(seed 1\) on late: /m);
    } finally {
      await Promise.all(late.map(stopProc));
      await lonely.close();
    }
  }, 60_000);
});

describe('bad queue input', () => {
  it('a URL that is not Redis, or a Redis nobody runs, is one line and exit code 2', async () => {
    const bad = exitless(['sweep', '--queue', 'http://127.0.0.1:6379', '--out', await tempDir()]);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toBe(
      "exitless: --queue must be a Redis URL like redis://HOST:PORT[/DB] (redis:// or rediss://), got 'http://127.0.0.1:6379' (see 'exitless sweep --help')\n",
    );
    const nobody = exitless(['worker', '--queue', 'redis://127.0.0.1:1']);
    expect(await nobody.exited).toBe(2);
    expect(nobody.stderr()).toMatch(
      /^exitless: worker: cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(connect ECONNREFUSED 127\.0\.0\.1:1\): start redis-server there, or check the URL\n$/,
    );
  }, 30_000);
});
