import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { CliStart, ReproduceWall } from './cli.js';
import type { HoldResult, PairedHold } from './kernel.js';
import { type MachineSpeed, type PeakMemory, type WarmupCurve, warmupWallSeconds } from './machine.js';
import type { FrameProfile } from './profile.js';

/** One hold-model figure as the results file stores it. */
export type KernelRow = HoldResult & { readonly target: number; readonly speedupOverReference: number };

/** Everything one `pnpm bench` run measured: the file it writes. */
export interface BenchResults {
  readonly benchmark: 'exitless';
  readonly date: string;
  readonly node: string;
  readonly platform: string;
  /** A `--quick` run: fewer events and one run per figure, so noisier. */
  readonly quick: boolean;
  readonly kernel: readonly KernelRow[];
  /** The kernel against heap-js in one process, chunk by chunk (absent in results written before it was measured). */
  readonly paired?: readonly PairedHold[];
  readonly machine: readonly MachineSpeed[];
  /** The compiled CLI's start, per command line (absent in results written before it was measured). */
  readonly cli?: readonly CliStart[];
  /** Peak memory of single runs, short and long (absent in results written before it was measured). */
  readonly memory?: readonly PeakMemory[];
  /** The first run of a fresh process, slice by slice (absent in results written before it was measured). */
  readonly warmup?: WarmupCurve;
  /** The whole default reproduce with the compiled CLI (absent in quick runs and in results written before it was measured). */
  readonly reproduce?: ReproduceWall;
  /** Where a frame's wall time goes, from one profiled run (absent in quick runs and in results written before it was measured). */
  readonly profile?: FrameProfile;
}

/** Results a comparison can start from, with where they came from. */
export interface Baseline {
  readonly source: string;
  readonly results: BenchResults;
}

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** A results file this script wrote, or null if `path` is missing or is something else. */
export function readResults(path: string): BenchResults | null {
  if (!existsSync(path)) return null;
  try {
    const doc = readJson(path) as Partial<BenchResults>;
    return doc.benchmark === 'exitless' && Array.isArray(doc.kernel) && Array.isArray(doc.machine)
      ? (doc as BenchResults)
      : null;
  } catch {
    return null;
  }
}

/** The newest results of the same kind (quick or full) in `dir`, whose file names are timestamps. */
export function latestIn(dir: string, quick: boolean): { path: string; results: BenchResults } | null {
  if (!existsSync(dir)) return null;
  const found = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .reverse()
    .map((f) => ({ path: join(dir, f), results: readResults(join(dir, f)) }))
    .filter((r): r is { path: string; results: BenchResults } => r.results !== null);
  return found.find((r) => r.results.quick === quick) ?? null;
}

/**
 * The committed reference figures (bench/results/kernel.json with the paired comparison,
 * machine.json with the first-run curve, and cli.json, written by a
 * full run before results moved to an ignored folder), as one results document.
 */
export function committedReference(resultsDir: string): BenchResults | null {
  const kernelPath = join(resultsDir, 'kernel.json');
  const machinePath = join(resultsDir, 'machine.json');
  if (!existsSync(kernelPath) || !existsSync(machinePath)) return null;
  const kernel = readJson(kernelPath) as {
    node?: string;
    platform?: string;
    results?: KernelRow[];
    paired?: PairedHold[];
  };
  const machine = readJson(machinePath) as {
    results?: MachineSpeed[];
    warmup?: WarmupCurve;
    profile?: FrameProfile;
  };
  const cliPath = join(resultsDir, 'cli.json');
  const extra = existsSync(cliPath)
    ? (readJson(cliPath) as { results?: CliStart[]; reproduce?: ReproduceWall; memory?: PeakMemory[] })
    : {};
  return {
    benchmark: 'exitless',
    date: 'committed',
    node: kernel.node ?? '?',
    platform: kernel.platform ?? '?',
    quick: false,
    kernel: kernel.results ?? [],
    machine: machine.results ?? [],
    ...(kernel.paired !== undefined ? { paired: kernel.paired } : {}),
    ...(extra.results !== undefined ? { cli: extra.results } : {}),
    ...(extra.reproduce !== undefined ? { reproduce: extra.reproduce } : {}),
    ...(extra.memory !== undefined ? { memory: extra.memory } : {}),
    ...(machine.warmup !== undefined ? { warmup: machine.warmup } : {}),
    ...(machine.profile !== undefined ? { profile: machine.profile } : {}),
  };
}

function change(before: number, after: number): string {
  const pct = ((after / before - 1) * 100).toFixed(1);
  return `${after >= before ? '+' : ''}${pct}%`;
}

function millions(n: number): string {
  return `${(n / 1e6).toFixed(2)} M`;
}

/** The lines that say how `current` differs from `baseline`, figure by figure. */
export function compare(baseline: Baseline, current: BenchResults, root: string): string[] {
  const b = baseline.results;
  const lines = [
    `Change against ${relative(root, baseline.source) || baseline.source} (${b.quick ? 'quick' : 'full'} run, ${b.date}, node ${b.node}):`,
  ];
  if (b.quick !== current.quick) {
    lines.push(
      `  (that was a ${b.quick ? 'quick' : 'full'} run and this a ${current.quick ? 'quick' : 'full'} one: expect noise)`,
    );
  }
  for (const row of current.kernel) {
    const old = b.kernel.find((r) => r.name === row.name && r.pending === row.pending);
    if (old === undefined) continue;
    lines.push(
      `  hold ${String(row.pending).padStart(7)}  ${row.name.padEnd(32)} ${millions(old.eventsPerSecond).padStart(9)} → ${millions(row.eventsPerSecond).padStart(9)} events/s  ${change(old.eventsPerSecond, row.eventsPerSecond).padStart(7)}`,
    );
  }
  for (const row of current.paired ?? []) {
    const old = b.paired?.find((r) => r.pending === row.pending);
    if (old === undefined) continue;
    lines.push(
      `  paired  ${String(row.pending).padStart(7)}  kernel over heap-js   ${old.median.toFixed(2)}× → ${row.median.toFixed(2)}×  ${change(old.median, row.median).padStart(7)}`,
    );
  }
  for (const row of current.machine) {
    const old = b.machine.find((r) => r.mode === row.mode);
    if (old === undefined) continue;
    lines.push(
      `  machine  ${row.mode.padEnd(13)} ${old.simulatedPerWall.toFixed(3)} → ${row.simulatedPerWall.toFixed(3)} simulated s / wall s  ${change(old.simulatedPerWall, row.simulatedPerWall).padStart(7)}`,
    );
  }
  for (const row of current.memory ?? []) {
    const old = b.memory?.find((r) => r.mode === row.mode && r.durationMs === row.durationMs);
    if (old === undefined) continue;
    lines.push(
      `  memory   ${row.mode} ${String(row.durationMs).padStart(5)} ms  ${(old.maxRssBytes / 2 ** 20).toFixed(0)} → ${(row.maxRssBytes / 2 ** 20).toFixed(0)} MiB peak RSS  ${change(old.maxRssBytes, row.maxRssBytes).padStart(7)}`,
    );
  }
  const w = current.warmup;
  const v = b.warmup;
  if (w !== undefined && v !== undefined && w.mode === v.mode && w.sliceMs === v.sliceMs) {
    // Over the slices both runs have.
    const n = Math.min(w.simulatedPerWall.length, v.simulatedPerWall.length);
    const before = warmupWallSeconds({ ...v, simulatedPerWall: v.simulatedPerWall.slice(0, n) });
    const after = warmupWallSeconds({ ...w, simulatedPerWall: w.simulatedPerWall.slice(0, n) });
    lines.push(
      `  first run ${w.mode} ${n * w.sliceMs} ms  ${before.toFixed(2)} → ${after.toFixed(2)} s wall  ${change(before, after).padStart(7)}`,
    );
  }
  const pf = current.profile;
  const pb = b.profile;
  if (pf !== undefined && pb !== undefined && pf.mode === pb.mode) {
    lines.push(
      `  profile ${pf.mode}  ${pb.nsPerFrame.toFixed(0)} → ${pf.nsPerFrame.toFixed(0)} ns of wall time per frame (profiled)  ${change(pb.nsPerFrame, pf.nsPerFrame).padStart(7)}`,
    );
  }
  if (current.reproduce !== undefined && b.reproduce !== undefined) {
    lines.push(
      `  reproduce --jobs ${current.reproduce.jobs}  ${b.reproduce.seconds.toFixed(1)} → ${current.reproduce.seconds.toFixed(1)} s  ${change(b.reproduce.seconds, current.reproduce.seconds).padStart(7)}`,
    );
  }
  for (const row of current.cli ?? []) {
    const old = b.cli?.find((r) => r.command === row.command);
    if (old === undefined) continue;
    lines.push(
      `  start    exitless ${row.command.padEnd(12)} ${old.seconds.toFixed(3)} → ${row.seconds.toFixed(3)} s  ${change(old.seconds, row.seconds).padStart(7)}`,
    );
  }
  if (lines.length === 1) lines.push('  (no figure in common)');
  return lines;
}
