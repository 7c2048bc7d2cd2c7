/**
 * The fuzzer's property — "on this mode, no generated guest program breaks a checked
 * invariant" — and one place that runs it with fast-check, for the vitest file and the CLI.
 */
import fc from 'fast-check';
import { type CalibrationProfile, modeRefusal, XEON_SKYLAKE_SP, XEON_X5570 } from '../../src/index.js';
import { program } from './arbitraries.js';
import { INVARIANTS, type InvariantName, type Violation } from './invariants.js';
import type { Program } from './program.js';
import { DEFAULT_DURATION_MS, type RunOutcome, runProgram } from './runner.js';

/** The modes with a host to protect (bare metal has no invariant of the host to check). */
export const FUZZ_MODES: readonly string[] = ['baseline', 'eli-delivery', 'eli', 'pv-eoi', 'posted', 'did'];

/**
 * The profile a mode is fuzzed on: the default one, or xeon-skylake-sp for a mode the default
 * refuses (`posted` needs the CPU's APIC virtualization).
 */
export function fuzzProfile(mode: string): CalibrationProfile | undefined {
  return modeRefusal(mode, XEON_X5570) !== null ? XEON_SKYLAKE_SP : undefined;
}

const MS = 1_000_000_000;

/** What a failing run throws: fast-check prints its message under the shrunk program. */
export class InvariantFailure extends Error {
  readonly outcome: RunOutcome;
  readonly failed: readonly Violation[];

  constructor(outcome: RunOutcome, failed: readonly Violation[]) {
    const names = [...new Set(failed.map((v) => v.invariant))];
    const lines = [
      `mode '${outcome.mode}' broke ${names.join(', ')}:`,
      ...names.map((n) => `  ${n}: ${INVARIANTS[n]}`),
      ...failed.slice(0, 6).map((v) => `  - [${v.invariant} at ${(v.atPs / MS).toFixed(3)} ms] ${v.detail}`),
      ...(failed.length > 6 ? [`  … and ${failed.length - 6} more`] : []),
      `  VM stopped: ${outcome.stopReason ?? 'no'}`,
      `  counters: ${Object.entries(outcome.counters)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    ];
    super(lines.join('\n'));
    this.name = 'InvariantFailure';
    this.outcome = outcome;
    this.failed = failed;
  }
}

export interface ModeCheckOptions {
  readonly mode: string;
  readonly seed: number;
  readonly numRuns: number;
  /** Invariants whose violation fails the property (the others are still computed, and ignored). */
  readonly checks: readonly InvariantName[];
  readonly durationMs?: number;
  /** Replays from a failure's path (with its seed). */
  readonly path?: string;
  /** Stop at the first failure without shrinking (CI), or shrink it (at most `maxShrinks` steps). */
  readonly endOnFailure?: boolean;
  readonly maxShrinks?: number;
  /** The machine's profile (default: `fuzzProfile(mode)`). */
  readonly profile?: CalibrationProfile;
}

export interface ModeCheckResult {
  readonly mode: string;
  readonly details: fc.RunDetails<[Program]>;
  /** Programs run, shrinking included. */
  readonly runs: number;
  readonly wallMs: number;
  /** CPU time of this process meanwhile (user + system), ms: the figure to compare on a busy machine. */
  readonly cpuMs: number;
  readonly simulatedMs: number;
}

/** Runs the property for one mode; never throws (the failure is in `details`). */
export function checkMode(o: ModeCheckOptions): ModeCheckResult {
  const durationMs = o.durationMs ?? DEFAULT_DURATION_MS;
  const checks = new Set(o.checks);
  const profile = o.profile ?? fuzzProfile(o.mode);
  let runs = 0;
  let simulatedPs = 0;
  const arb = fc.limitShrink(program(durationMs, { pvEoi: o.mode === 'pv-eoi' }), o.maxShrinks ?? 400);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const details = fc.check(
    fc.property(arb, (p) => {
      const outcome = runProgram(p, o.mode, { durationMs, ...(profile !== undefined ? { profile } : {}) });
      runs++;
      simulatedPs += outcome.endPs;
      const failed = outcome.violations.filter((v) => checks.has(v.invariant));
      if (failed.length > 0) throw new InvariantFailure(outcome, failed);
    }),
    {
      seed: o.seed,
      numRuns: o.numRuns,
      endOnFailure: o.endOnFailure ?? false,
      ...(o.path !== undefined ? { path: o.path } : {}),
    },
  );
  const cpu = process.cpuUsage(cpu0);
  return {
    mode: o.mode,
    details,
    runs,
    wallMs: performance.now() - t0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    simulatedMs: simulatedPs / MS,
  };
}

/** The report of a failed check: seed, path, the shrunk program and what it broke. */
export function failureReport(r: ModeCheckResult): string {
  const d = r.details;
  if (!d.failed) return `${r.mode}: ${d.numRuns} programs passed`;
  const cx = d.counterexample?.[0];
  const error = d.errorInstance instanceof Error ? d.errorInstance.message : String(d.errorInstance);
  return [
    `mode ${r.mode}: failed after ${d.numRuns} program(s), shrunk ${d.numShrinks} time(s)`,
    `reproduce: pnpm fuzz --modes ${r.mode} --seed ${d.seed} --path ${d.counterexamplePath ?? ''}`,
    cx !== undefined ? cx.toString() : '(no counterexample)',
    error,
  ].join('\n');
}
