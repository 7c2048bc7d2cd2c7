/**
 * `pnpm bench -- --profile [MODE]`: where the time of a machine run goes. Builds the packages
 * (turbo: cached when nothing changed) and runs profile-run.ts in a process of its own: the
 * default machine (netperf TCP_STREAM, MODE default baseline) three times to let V8 compile the
 * models' code, then once more, 300 ms after 20 ms of warm-up, under V8's sampling profiler
 * (node:inspector), on the compiled packages with every frame and line mapped back to the
 * TypeScript sources. Writes the profile (`.cpuprofile`: open it in Chrome DevTools'
 * Performance panel or speedscope.app) and prints the files, the functions and the source lines
 * with the most self time.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { findSourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledRun } from './child.js';

/** Where a frame's code is: a script's URL, 0-based line and column (−1: unknown). */
export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber?: number;
  readonly columnNumber?: number;
}

/** One node of a V8 CPU profile (the fields used here). */
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly hitCount?: number;
  readonly children?: readonly number[];
  /** Self samples by 1-based line of the node's script. */
  readonly positionTicks?: readonly { readonly line: number; readonly ticks: number }[];
}

/** A V8 CPU profile (`Profiler.stop`'s result). */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples?: readonly number[];
}

/** A share of the samples. */
interface Share {
  readonly share: number;
}

/** Self time by file, function and source line, as shares of all samples, largest first. */
export interface ProfileSummary {
  readonly samples: number;
  readonly files: readonly (Share & { readonly file: string })[];
  readonly functions: readonly (Share & { readonly name: string })[];
  /** `where` is file:line (1-based); `text` the line itself, trimmed. */
  readonly lines: readonly (Share & { readonly where: string; readonly text: string })[];
}

/** Where a script is, relative to the repository (`packages/iommu/src/iommu.ts`), or its URL. */
export function shortFile(url: string, root: string): string {
  const path = url.replace(/^file:\/\//, '');
  if (path === '') return '(native or V8)';
  const i = path.indexOf('/node_modules/');
  if (i >= 0) {
    const rest = path.slice(i + '/node_modules/'.length).replace(/^\.pnpm\/[^/]+\/node_modules\//, '');
    return `node_modules/${rest
      .split('/')
      .slice(0, rest.startsWith('@') ? 2 : 1)
      .join('/')}`;
  }
  return path.startsWith(root) ? path.slice(root.length + 1) : path;
}

/** The lines of the file at a file: URL, or none. */
function linesOf(url: string, cache: Map<string, readonly string[]>): readonly string[] {
  let lines = cache.get(url);
  if (lines === undefined) {
    try {
      lines = url.startsWith('file:') ? readFileSync(fileURLToPath(url), 'utf8').split('\n') : [];
    } catch {
      lines = [];
    }
    cache.set(url, lines);
  }
  return lines;
}

/** The original source position of generated `url`'s 0-based line and column, or null. */
function original(
  url: string,
  line: number,
  column: number,
): { url: string; line: number; column: number } | null {
  if (line < 0 || !url.startsWith('file:')) return null;
  const entry = findSourceMap(url)?.findEntry(line, Math.max(0, column)) as
    | { originalSource?: string; originalLine?: number; originalColumn?: number }
    | undefined;
  if (entry?.originalSource === undefined || entry.originalLine === undefined) return null;
  return { url: entry.originalSource, line: entry.originalLine, column: entry.originalColumn ?? 0 };
}

/**
 * `frame` moved from its compiled script to the source its source map names (the process must
 * run with `--enable-source-maps`), or `frame` itself when no map covers it.
 */
export function sourceFrame(frame: CallFrame): CallFrame {
  const at = original(frame.url, frame.lineNumber ?? -1, frame.columnNumber ?? -1);
  return at === null ? frame : { ...frame, url: at.url, lineNumber: at.line, columnNumber: at.column };
}

/**
 * `profile` with each frame's position and each line's ticks moved from the compiled scripts to
 * the sources their source maps name (the process must run with `--enable-source-maps`). A
 * frame or line that no map covers is left as it is; so is everything when no map is loaded.
 */
export function toSources(profile: CpuProfile): CpuProfile {
  const generated = new Map<string, readonly string[]>();
  const nodes = profile.nodes.map((node): ProfileNode => {
    const frame = node.callFrame;
    const at = original(frame.url, frame.lineNumber ?? -1, frame.columnNumber ?? -1);
    if (at === null) return node;
    const ticks = new Map<number, number>();
    for (const t of node.positionTicks ?? []) {
      // A line is mapped from its first non-blank column (V8 gives the line only).
      const text = linesOf(frame.url, generated)[t.line - 1] ?? '';
      const o = original(frame.url, t.line - 1, text.length - text.trimStart().length);
      const line = o !== null && o.url === at.url ? o.line + 1 : 0;
      if (line > 0) ticks.set(line, (ticks.get(line) ?? 0) + t.ticks);
    }
    return {
      ...node,
      callFrame: { ...frame, url: at.url, lineNumber: at.line, columnNumber: at.column },
      positionTicks: [...ticks].map(([line, n]) => ({ line, ticks: n })),
    };
  });
  return { ...profile, nodes };
}

/** The self time of a profile's samples, by file, function and source line. */
export function summarize(profile: CpuProfile, root: string, top = 15): ProfileSummary {
  const counts = new Map<number, number>();
  for (const id of profile.samples ?? []) counts.set(id, (counts.get(id) ?? 0) + 1);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  const line = new Map<string, number>();
  const text = new Map<string, string>();
  const sources = new Map<string, readonly string[]>();
  for (const node of profile.nodes) {
    const n = counts.get(node.id) ?? 0;
    if (n === 0) continue;
    const frame = node.callFrame;
    const where = shortFile(frame.url, root);
    const at = (frame.lineNumber ?? -1) >= 0 ? `:${frame.lineNumber! + 1}` : '';
    const name = `${frame.functionName || '(anonymous)'} ${where}${at}`;
    fn.set(name, (fn.get(name) ?? 0) + n);
    file.set(where, (file.get(where) ?? 0) + n);
    for (const t of node.positionTicks ?? []) {
      const key = `${where}:${t.line}`;
      line.set(key, (line.get(key) ?? 0) + t.ticks);
      if (!text.has(key)) text.set(key, (linesOf(frame.url, sources)[t.line - 1] ?? '').trim());
    }
  }
  const ranked = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, top);
  return {
    samples: total,
    files: ranked(file).map(([f, n]) => ({ file: f, share: n / total })),
    functions: ranked(fn).map(([name, n]) => ({ name, share: n / total })),
    lines: ranked(line).map(([where, n]) => ({ where, share: n / total, text: text.get(where) ?? '' })),
  };
}

/** What profile-run.ts prints of its profiled run. */
export interface ProfiledRun {
  /** Wall-clock time of the run, the profiler's overhead included, s. */
  readonly wallSeconds: number;
  /** Simulated time of the run (warm-up and measured period), s. */
  readonly simulatedSeconds: number;
  /** The measured period, s, and the frames the guest received in it. */
  readonly measuredSeconds: number;
  readonly framesReceived: number;
}

/**
 * Wall-clock nanoseconds of the run per frame the guest received: the run's wall time over
 * the frames of its measured period, scaled to the period's share of the simulated time.
 */
export function wallNsPerFrame(run: ProfiledRun): number {
  return ((run.wallSeconds * run.measuredSeconds) / run.simulatedSeconds / run.framesReceived) * 1e9;
}

/** The profiled run's settings (profile-run.ts): its measured period and warm-up, and the runs before it. */
export const PROFILE_DURATION_MS = 300;
export const PROFILE_WARMUP_MS = 20;
export const PROFILE_WARMUP_RUNS = 3;

/**
 * Builds the packages (turbo; cached when nothing changed) and profiles one run of the default
 * machine in `mode` in a process of its own (profile-run.ts), writing the profile to `file`.
 * Throws when the build or the run fails.
 */
export function profileRun(
  repoRoot: string,
  benchDir: string,
  mode: string,
  file: string,
): { readonly profile: CpuProfile; readonly run: ProfiledRun } {
  const run = compiledRun<ProfiledRun>(
    repoRoot,
    benchDir,
    'profile-run.ts',
    {
      mode,
      durationMs: PROFILE_DURATION_MS,
      warmupMs: PROFILE_WARMUP_MS,
      warmupRuns: PROFILE_WARMUP_RUNS,
      out: file,
    },
    `the profiled ${mode} run`,
  );
  return { profile: JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, run };
}

/** Where a frame's wall time goes, by file: what the full bench keeps of a profiled run. */
export interface FrameProfile {
  readonly mode: string;
  /** Samples taken (every 50 µs) and frames the guest received in the profiled period. */
  readonly samples: number;
  readonly framesReceived: number;
  /** Wall time per frame received, the profiler's overhead included (wallNsPerFrame). */
  readonly nsPerFrame: number;
  /** The files with the most self time, largest first, with their share of the samples. */
  readonly files: readonly { readonly file: string; readonly share: number }[];
}

/** Profiles one warm run in `mode` (profileRun, into a scratch file) and keeps `top` files' shares. */
export function frameProfile(repoRoot: string, benchDir: string, mode: string, top = 10): FrameProfile {
  const dir = mkdtempSync(join(tmpdir(), 'exitless-bench-profile-'));
  try {
    const { profile, run } = profileRun(repoRoot, benchDir, mode, join(dir, `${mode}.cpuprofile`));
    const summary = summarize(profile, repoRoot, top);
    return {
      mode,
      samples: summary.samples,
      framesReceived: run.framesReceived,
      nsPerFrame: wallNsPerFrame(run),
      files: summary.files,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
