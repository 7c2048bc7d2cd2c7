import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './queue-setup.js';

// The README's "Running on a lab cluster", followed on one machine by scripts/cluster-demo.sh:
// Redis, two workers, a study through the queue and the same study locally, compared byte for
// byte. In CI the tree is the fresh clone .ci/run works in.

describe('the README cluster section, followed by scripts/cluster-demo.sh', () => {
  it('runs the study on two workers and writes the files of a local run', async () => {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        join(ROOT, 'scripts', 'cluster-demo.sh'),
        [],
        { cwd: ROOT, timeout: 240_000 },
        (_e, _out, err) => resolve({ code: child.exitCode, stderr: err }),
      );
    });
    expect(stderr).toMatch(
      /^cluster-demo: OK: 6 runs on the workers \(worker-1: [1-5], worker-2: [1-5]\), the same files as the local study: exits-per-second\.svg latency-cdf\.svg results\.csv results\.json results\.md throughput-relative\.svg$/m,
    );
    expect(code).toBe(0);
  }, 240_000);

  it('runs the commands the README shows, with the same options', () => {
    const readme = readFileSync(join(ROOT, 'apps', 'reference', 'README.md'), 'utf8');
    const script = readFileSync(join(ROOT, 'scripts', 'cluster-demo.sh'), 'utf8');
    const section = readme.slice(readme.indexOf('## Running on a lab cluster'));
    // Each step's command in the README, and the script's (its host and port are its own).
    expect(section).toContain(
      "redis-server --port 6379 --bind 0.0.0.0 --protected-mode no --save '' --appendonly no",
    );
    expect(script).toContain(`redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no`);
    expect(section).toContain('pnpm -s exitless worker --queue redis://REDIS-HOST:6379');
    expect(script).toContain('pnpm -s exitless worker --queue "$queue"');
    expect(section).toContain('pnpm -s exitless reproduce --queue redis://REDIS-HOST:6379 --out');
    expect(script).toMatch(/pnpm -s exitless "\$\{study\[@\]\}" --queue "\$queue" --out/);
    expect(section).toContain('git clone <this repository> exitless && cd exitless && pnpm install');
  });
});
