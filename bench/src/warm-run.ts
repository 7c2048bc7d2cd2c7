/**
 * What the bench's profiled child runs (profile-run.ts, alloc-run.ts) share: their arguments
 * (`MODE DURATION_MS WARMUP_MS WARMUP_RUNS OUT_FILE`) and the runs that warm V8 up first.
 */
import { Machine, runMachine } from '@exitless/machine';

/** A profiled child run's arguments. */
export interface WarmRunArgs {
  readonly mode: string;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly warmupRuns: number;
  readonly out: string;
}

/** `argv`'s five arguments; prints `script`'s usage and exits with 2 when they are not. */
export function warmRunArgs(script: string, argv: readonly string[]): WarmRunArgs {
  const [mode, duration, warmup, warmups, out] = argv;
  const durationMs = Number(duration);
  const warmupMs = Number(warmup);
  const warmupRuns = Number(warmups);
  if (
    mode === undefined ||
    out === undefined ||
    !Number.isInteger(durationMs) ||
    durationMs <= 0 ||
    !Number.isInteger(warmupMs) ||
    warmupMs < 0 ||
    !Number.isInteger(warmupRuns) ||
    warmupRuns < 0
  ) {
    console.error(`usage: ${script} MODE DURATION_MS WARMUP_MS WARMUP_RUNS OUT_FILE`);
    process.exit(2);
  }
  return { mode, durationMs, warmupMs, warmupRuns, out };
}

/** Runs `runs` default machines in `mode` (100 ms after 20 ms), so that V8 has compiled the models' code. */
export function warmUp(mode: string, runs: number): void {
  for (let i = 0; i < runs; i++) runMachine(new Machine({ mode }), { durationMs: 100, warmupMs: 20 });
}
