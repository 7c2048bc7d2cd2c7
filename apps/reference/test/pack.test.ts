// The published CLI, as a user gets it: `pnpm pack` @exitless/cli and every workspace package it
// depends on, `npm install` the tarballs in an empty folder outside the repository (third-party
// dependencies from the npm registry), and run the installed `exitless`. It needs the network:
// without the registry the install fails and so does this file, on purpose.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, startRedis, stopProc } from './queue-setup.js';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = '@exitless/cli';

/**
 * The environment of the commands run here, without what pnpm passes to the scripts it runs
 * (`npm_config_*` from pnpm's own settings would reach npm) and without NODE_OPTIONS (a
 * `--conditions=source` there would send the installed packages to their TypeScript sources).
 * The registry and proxy settings stay.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const kept = /^npm_config_(registry|proxy|https_proxy|no_?proxy|cafile|strict_ssl)$/i;
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => key !== 'NODE_OPTIONS' && (!/^p?npm_/i.test(key) || kept.test(key)),
    ),
  );
}

async function run(
  command: string,
  args: readonly string[],
  cwd: string,
  what: string,
  timeout = 240_000,
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await exec(command, args, { cwd, env: cleanEnv(), maxBuffer: 64 * 1024 * 1024, timeout });
  } catch (error) {
    const e = error as { message: string; stdout?: string; stderr?: string };
    throw new Error(`${what} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

interface Packed {
  readonly name: string;
  readonly version: string;
  readonly filename: string;
}

describe(`${CLI}, packed and installed outside the repository`, () => {
  let scratch = '';
  let app = '';
  let packed: Packed[] = [];
  const exitless = (...args: string[]): Promise<{ stdout: string; stderr: string }> =>
    run(join(app, 'node_modules', '.bin', 'exitless'), args, app, `exitless ${args.join(' ')}`);

  beforeAll(async () => {
    // The registry first, with one quick retry: npm install asks it about each package in turn,
    // each with its own retries, so without it the install would take minutes to give up.
    await run(
      'npm',
      ['view', 'tinypool', 'name', '--fetch-retries', '1', '--fetch-retry-mintimeout', '1000'],
      root,
      'Reaching the npm registry (this test installs the third-party dependencies of the CLI from it)',
    );
    // dist/ of the CLI and of every package it needs: turbo builds what a fresh clone lacks and
    // replays its cache otherwise (CI's `pnpm publint` has built them all by now).
    await run(
      'pnpm',
      ['exec', 'turbo', 'run', 'build', `--filter=${CLI}`, '--output-logs=errors-only'],
      root,
      'build',
      // A fresh clone builds 13 packages with declarations: about a minute on 2 idle cores.
      600_000,
    );
    scratch = await mkdtemp(join(tmpdir(), 'exitless-pack-'));
    const tarballs = join(scratch, 'tarballs');
    app = join(scratch, 'app');
    await mkdir(app);
    // `CLI...` selects the CLI and its workspace dependencies, transitively; pnpm pack turns
    // their `workspace:^` and `catalog:` specifiers into versions.
    const { stdout } = await run(
      'pnpm',
      ['-r', `--filter=${CLI}...`, 'pack', '--pack-destination', tarballs, '--json'],
      root,
      'pnpm pack',
    );
    packed = JSON.parse(stdout) as Packed[];
    await writeFile(
      join(app, 'package.json'),
      `${JSON.stringify({ name: 'scratch', private: true }, null, 2)}\n`,
    );
    await run(
      'npm',
      [
        'install',
        ...['--no-audit', '--no-fund', '--cache', join(scratch, 'npm-cache')],
        // A shorter backoff than npm's (10 s to 60 s between retries, per package).
        ...['--fetch-retries', '2', '--fetch-retry-mintimeout', '2000', '--fetch-retry-maxtimeout', '10000'],
        ...packed.map((p) => p.filename),
      ],
      app,
      `npm install of the tarballs (needs the npm registry) in ${app}`,
    );
  }, 900_000);

  afterAll(async () => {
    if (scratch !== '') await rm(scratch, { recursive: true, force: true });
  });

  it('installs every @exitless package from its tarball, with versions in place of workspace: and catalog:', async () => {
    expect(packed.map((p) => p.name)).toContain(CLI);
    expect(packed.map((p) => p.name)).toContain('@exitless/machine');
    const lock = JSON.parse(await readFile(join(app, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; resolved?: string }>;
    };
    const installed = (await readdir(join(app, 'node_modules', '@exitless')))
      .map((n) => `@exitless/${n}`)
      .sort();
    expect(installed).toEqual(packed.map((p) => p.name).sort());
    for (const p of packed) {
      const entry = lock.packages[`node_modules/${p.name}`];
      expect(entry?.resolved, p.name).toMatch(/^file:.*\.tgz$/);
      expect(entry?.version, p.name).toBe(p.version);
      const manifest = JSON.parse(
        await readFile(join(app, 'node_modules', p.name, 'package.json'), 'utf8'),
      ) as {
        dependencies?: Record<string, string>;
      };
      for (const [dep, spec] of Object.entries(manifest.dependencies ?? {})) {
        expect(spec, `${p.name} → ${dep}`).not.toMatch(/^(workspace|catalog):/);
      }
    }
  });

  it('exitless --help exits 0 with the usage', async () => {
    const { stdout } = await exitless('--help');
    expect(stdout).toMatch(/^exitless — /);
    expect(stdout).toContain('usage:\n  exitless run ');
  }, 60_000);

  it('exitless run --mode baseline --duration 5 prints the figures the sources print', async () => {
    const args = ['run', '--mode', 'baseline', '--duration', '5'];
    const { stdout } = await exitless(...args);
    expect(stdout).toMatch(/^netperf-tcp-stream on baseline \(seed 1, 5 ms after 20 ms warm-up/);
    expect(stdout).toMatch(/^ {2}throughput {14}\d+\.\d Mb\/s$/m);
    // The same simulator: byte for byte what `pnpm exitless` prints from the TypeScript sources.
    const sources = await run(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'apps/reference/src/cli.ts', ...args],
      root,
      'the CLI from the sources',
    );
    expect(stdout).toBe(sources.stdout);
  }, 120_000);

  it('runs jobs on worker threads from the installed dist/worker.js', async () => {
    const { stdout, stderr } = await exitless(
      ...['run', '--mode', 'baseline', '--duration', '2', '--warmup', '1', '--runs', '2', '--jobs', '2'],
    );
    expect(stderr).toContain('2 runs (seeds 1–2) of 2 ms after 1 ms warm-up, on 2 worker threads');
    expect(stderr).toMatch(/run: 2 runs in [\d.]+ s wall/);
    expect(stdout).toMatch(/^netperf-tcp-stream {2}baseline +\d+\.\d ± \d+\.\d Mb\/s/m);
  }, 120_000);

  it('runs a study through a Redis queue: the installed exitless worker and coordinator (bullmq from the registry)', async () => {
    const redis = await startRedis();
    const worker = start(
      join(app, 'node_modules', '.bin', 'exitless'),
      ['worker', '--queue', redis.url, '--name', 'packed'],
      cleanEnv(),
    );
    try {
      await worker.waitFor(/worker packed: @exitless\/cli [\d.]+, waiting for runs/, 60_000);
      const out = join(scratch, 'queued');
      const { stdout, stderr } = await exitless(
        ...['reproduce', '--workloads', 'netperf-udp-rr', '--modes', 'bare-metal,baseline'],
        ...['--duration', '2', '--warmup', '1', '--queue', redis.url, '--out', out],
      );
      expect(stderr).toContain('queue: 2 runs: 2 run by workers (packed: 2), 0 reused, 0 failed');
      expect(stdout).toMatch(/^netperf-udp-rr +baseline /m);
      expect(worker.stderr()).toMatch(/^worker packed: ran netperf-udp-rr × baseline/m);
    } finally {
      await stopProc(worker);
      await redis.close();
    }
  }, 180_000);

  it('draws charts (vega loaded on demand) from the installed package', async () => {
    const out = join(scratch, 'sweep');
    const { stderr } = await exitless(
      ...['sweep', '--values', '100,200', '--modes', 'baseline', '--duration', '1', '--warmup', '1'],
      ...['--jobs', '1', '--out', out],
    );
    expect(stderr).toMatch(/wrote .*sweep\.svg/);
    expect(await readFile(join(out, 'sweep.svg'), 'utf8')).toMatch(/^<svg [^>]*class="marks"/);
  }, 120_000);
});
