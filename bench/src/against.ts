import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * What `pnpm bench -- --against DIR` needs of a checkout's machine package: the two calls the
 * machine-speed figures use.
 */
export interface MachineModule {
  readonly Machine: new (config: { mode: string }) => unknown;
  /** Runs the machine and returns its report (compared as JSON between the two sides). */
  readonly runMachine: (machine: never, options: { durationMs: number; warmupMs: number }) => unknown;
}

/** One mode's comparison: this checkout's speed over the other's in each pair of runs. */
export interface AgainstRow {
  readonly mode: string;
  readonly pairs: number;
  /** Simulated ms of each run (after `warmupMs`). */
  readonly durationMs: number;
  readonly warmupMs: number;
  /** This checkout's simulated s per wall s over the other's, in each pair: median and quartiles. */
  readonly median: number;
  readonly q1: number;
  readonly q3: number;
  /** The best simulated s per wall s of each side over its runs. */
  readonly bestThis: number;
  readonly bestOther: number;
  /**
   * Whether the two checkouts' first runs gave the same report, byte for byte (as JSON): a
   * speed-up that leaves it so changed no simulated result; otherwise the two sides simulated
   * different things and the ratio compares different work.
   */
  readonly sameReports: boolean;
}

/** Median and quartiles of `ratios` (the same rule as the kernel's paired figures). */
export function quartiles(ratios: readonly number[]): { median: number; q1: number; q3: number } {
  if (ratios.length === 0) throw new RangeError('quartiles of no ratios');
  const sorted = [...ratios].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), q1: at(0.25), q3: at(0.75) };
}

/**
 * The machine package's entry of the checkout at `dir` (sources, run through tsx as this one's),
 * or an error message saying what is missing: a checkout of exitless whose dependencies are
 * installed (`git worktree add DIR REV && pnpm -C DIR install --frozen-lockfile`).
 */
export function checkoutEntry(dir: string): { entry: string } | { error: string } {
  const root = resolve(dir);
  const entry = join(root, 'packages', 'machine', 'src', 'index.ts');
  if (!existsSync(entry)) {
    return {
      error: `--against ${dir}: no packages/machine/src/index.ts there (give the root of a checkout of exitless)`,
    };
  }
  if (!existsSync(join(root, 'packages', 'machine', 'node_modules'))) {
    return {
      error: `--against ${dir}: its dependencies are not installed (run pnpm -C ${dir} install --frozen-lockfile first)`,
    };
  }
  return { entry };
}

/**
 * The modes `--modes LIST` names (comma-separated), each one of `runnable` (the modes the
 * default profile runs), in the order given; or an error message naming what is wrong.
 */
export function againstModes(
  list: string,
  runnable: readonly string[],
): { modes: string[] } | { error: string } {
  const modes = list.split(',').map((m) => m.trim());
  const known = runnable.join(', ');
  if (modes.some((m) => m === ''))
    return { error: `--modes takes a comma-separated list of modes (${known}); got '${list}'` };
  const unknown = modes.filter((m) => !runnable.includes(m));
  if (unknown.length > 0) {
    return {
      error: `--modes: ${unknown.map((m) => `'${m}'`).join(', ')} ${unknown.length > 1 ? 'are not modes' : 'is not a mode'} the default profile runs (${known})`,
    };
  }
  const twice = modes.find((m, i) => modes.indexOf(m) !== i);
  if (twice !== undefined) return { error: `--modes names '${twice}' twice` };
  return { modes };
}

/** Imports the machine package of the checkout whose entry checkoutEntry returned. */
export async function loadMachine(entry: string): Promise<MachineModule> {
  return (await import(pathToFileURL(entry).href)) as MachineModule;
}

/** The report of the run `speed` timed last (speed returns a number, so that nothing else is kept per run). */
let lastReport: unknown = null;

/** Simulated seconds per wall-clock second of one run of the default machine in `mode`. */
function speed(m: MachineModule, mode: string, durationMs: number, warmupMs: number): number {
  const machine = new m.Machine({ mode });
  const t0 = process.hrtime.bigint();
  lastReport = m.runMachine(machine as never, { durationMs, warmupMs });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  return (durationMs + warmupMs) / 1000 / wall;
}

/**
 * The default machine in `mode` from this checkout (`ours`) against another (`other`), in this
 * process: three runs of each to warm V8 up, then `pairs` pairs of runs, the order within a
 * pair alternating. Each pair sees the same load from the rest of the machine, so the ratio in
 * a pair is far steadier than two separate best-of figures on a shared host (the median of
 * the same checkout against itself stays within about 2% of 1 here).
 */
export function pairedMachine(
  ours: MachineModule,
  other: MachineModule,
  mode: string,
  pairs: number,
  durationMs: number,
  warmupMs: number,
): AgainstRow {
  let otherReport = '';
  let ourReport = '';
  for (let i = 0; i < 3; i++) {
    speed(other, mode, durationMs, warmupMs);
    if (i === 0) otherReport = JSON.stringify(lastReport);
    speed(ours, mode, durationMs, warmupMs);
    if (i === 0) ourReport = JSON.stringify(lastReport);
  }
  const ratios: number[] = [];
  let bestThis = 0;
  let bestOther = 0;
  for (let i = 0; i < pairs; i++) {
    let a: number;
    let b: number;
    if (i % 2 === 0) {
      b = speed(other, mode, durationMs, warmupMs);
      a = speed(ours, mode, durationMs, warmupMs);
    } else {
      a = speed(ours, mode, durationMs, warmupMs);
      b = speed(other, mode, durationMs, warmupMs);
    }
    ratios.push(a / b);
    bestThis = Math.max(bestThis, a);
    bestOther = Math.max(bestOther, b);
  }
  return {
    mode,
    pairs,
    durationMs,
    warmupMs,
    ...quartiles(ratios),
    bestThis,
    bestOther,
    sameReports: ourReport === otherReport,
  };
}
