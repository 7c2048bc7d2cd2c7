import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** How a bench child runs the sources: through tsx, with sibling packages from their sources. */
export const SOURCE_ARGS: readonly string[] = ['--conditions=source', '--import', 'tsx'];

/**
 * Runs `bench/src/<script>` with `args` in a Node process of its own (started with `nodeArgs`;
 * by default the sources through tsx, as the bench itself runs) and returns what it printed,
 * parsed as JSON. Throws, naming `what`, when it fails.
 */
export function childJson<T>(
  benchDir: string,
  script: string,
  args: readonly string[],
  what: string,
  nodeArgs: readonly string[] = SOURCE_ARGS,
): T {
  const run = spawnSync(process.execPath, [...nodeArgs, join(benchDir, 'src', script), ...args], {
    cwd: benchDir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (run.status !== 0) throw new Error(`bench: ${what} exited with ${run.status ?? run.signal}`);
  return JSON.parse(run.stdout) as T;
}

/**
 * Builds `filter` (a turbo filter: `@exitless/cli...` is the CLI and every package it uses) to
 * its `dist`; turbo skips what has not changed. Throws, naming `what`, when the build fails.
 */
export function build(repoRoot: string, filter: string, what: string): void {
  const run = spawnSync(
    'pnpm',
    ['exec', 'turbo', 'run', 'build', '--filter', filter, '--output-logs=errors-only'],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  if (run.status !== 0) throw new Error(`bench: building ${what} failed (exit ${run.status ?? run.signal})`);
}

/**
 * Builds the packages (turbo; cached when nothing changed) and runs the profiled child `script`
 * (warm-run.ts's arguments) in a process of its own on the compiled packages, their source maps
 * on (no --conditions=source: @exitless/machine and what it imports load from their dist), and
 * returns what it printed. Throws, naming `what`, when the build or the run fails.
 */
export function compiledRun<T>(
  repoRoot: string,
  benchDir: string,
  script: string,
  args: {
    readonly mode: string;
    readonly durationMs: number;
    readonly warmupMs: number;
    readonly warmupRuns: number;
    readonly out: string;
  },
  what: string,
): T {
  build(repoRoot, '@exitless/machine...', 'the packages');
  return childJson<T>(
    benchDir,
    script,
    [args.mode, String(args.durationMs), String(args.warmupMs), String(args.warmupRuns), args.out],
    what,
    ['--enable-source-maps', '--import', 'tsx'],
  );
}
