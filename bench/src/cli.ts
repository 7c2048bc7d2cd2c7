import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from './child.js';

/** How long one `exitless` command line takes, start to exit, as the published (compiled) CLI. */
export interface CliStart {
  /** The arguments after `exitless`. */
  readonly command: string;
  /** The median wall-clock time of the runs, s. */
  readonly seconds: number;
  readonly runs: number;
}

/** The command lines timed: ones that build no machine, so the figure is the CLI's own start. */
export const CLI_COMMANDS: readonly (readonly string[])[] = [['--help'], ['run', '--help'], ['profile']];

/**
 * Builds the CLI (turbo: cached when nothing changed) and times `node dist/cli.js …` for each of
 * CLI_COMMANDS, `runs` times each; the median of each. Throws when the build or a run fails.
 */
export function cliStart(repoRoot: string, runs: number): CliStart[] {
  build(repoRoot, '@exitless/cli...', 'the CLI');
  const bin = join(repoRoot, 'apps', 'reference', 'dist', 'cli.js');
  if (!existsSync(bin)) throw new Error(`bench: building the CLI left no ${bin}`);
  return CLI_COMMANDS.map((args) => {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      const run = spawnSync(process.execPath, [bin, ...args], { cwd: repoRoot, stdio: 'ignore' });
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (run.status !== 0) throw new Error(`bench: exitless ${args.join(' ')} exited with ${run.status}`);
      times.push(seconds);
    }
    times.sort((a, b) => a - b);
    return { command: args.join(' '), seconds: times[Math.floor(times.length / 2)]!, runs };
  });
}

/** How long the whole default `exitless reproduce` takes with the compiled CLI. */
export interface ReproduceWall {
  /** Worker threads (`--jobs`). */
  readonly jobs: number;
  /** Start to exit, s. */
  readonly seconds: number;
}

/** Times `exitless reproduce --jobs JOBS` (every workload × mode the default profile runs) into a scratch directory; the CLI must be built (cliStart builds it). */
export function reproduceWall(repoRoot: string, jobs: number): ReproduceWall {
  const out = mkdtempSync(join(tmpdir(), 'exitless-bench-reproduce-'));
  try {
    const bin = join(repoRoot, 'apps', 'reference', 'dist', 'cli.js');
    const t0 = process.hrtime.bigint();
    const run = spawnSync(process.execPath, [bin, 'reproduce', '--out', out, '--jobs', String(jobs)], {
      cwd: repoRoot,
      stdio: 'ignore',
    });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (run.status !== 0) throw new Error(`bench: exitless reproduce exited with ${run.status}`);
    return { jobs, seconds };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
