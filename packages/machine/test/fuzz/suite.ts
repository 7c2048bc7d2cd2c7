/**
 * The CI fuzz test of one mode (one test file per mode, so the modes run on separate workers):
 * a fixed seed, a fixed number of generated programs, every default invariant checked after
 * every run, stopping at the first failure. The failure prints the program and the command
 * that replays and shrinks it. FUZZ_RUNS overrides the count.
 */
import { expect, it } from 'vitest';
import { DEFAULT_CHECKS } from './invariants.js';
import { checkMode, failureReport } from './property.js';

export const CI_SEED = 20_120_303;
export const CI_RUNS: number = Number(process.env.FUZZ_RUNS ?? 200);

export function fuzzMode(mode: string): void {
  it(`${mode}: ${CI_RUNS} hostile guest programs from seed ${CI_SEED} break no host invariant`, {
    timeout: 300_000,
  }, () => {
    const r = checkMode({
      mode,
      seed: CI_SEED,
      numRuns: CI_RUNS,
      checks: DEFAULT_CHECKS,
      endOnFailure: true,
    });
    expect(r.details.failed, failureReport(r)).toBe(false);
  });
}
