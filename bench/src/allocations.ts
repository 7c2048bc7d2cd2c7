/**
 * `pnpm bench -- --allocations [MODE]`: what V8 allocates in a machine run, and where. Runs
 * alloc-run.ts in a process of its own, on the compiled packages (built first, as for
 * `--profile`): the default machine (netperf TCP_STREAM, MODE default baseline) three times to
 * let V8 compile the models' code, then once more under V8's sampling heap profiler, every 64
 * bytes allocated, the objects the garbage collector has freed since included (what a hot path
 * allocates dies young). Writes the profile (`.heapprofile`: open it in Chrome DevTools' Memory
 * panel) with its frames mapped back to the TypeScript sources, and prints the bytes per frame
 * and per event and the call sites that allocate the most: the function that allocates (for a
 * number V8 boxes, the one passing it to a function it does not inline) and its callers.
 */
import { readFileSync } from 'node:fs';
import { compiledRun } from './child.js';
import { type CallFrame, shortFile, sourceFrame } from './profile.js';

/** One node of V8's sampling heap profile (`HeapProfiler.stopSampling`): a call stack's frame. */
export interface HeapProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  /** Bytes of the samples allocated with this node's stack on top. */
  readonly selfSize: number;
  readonly children: readonly HeapProfileNode[];
}

/** V8's sampling heap profile (the fields used here). */
export interface HeapProfile {
  readonly head: HeapProfileNode;
}

/** Bytes allocated at one call site: the allocating function, then its callers. */
export interface AllocationSite {
  /** `function file:line ← caller file:line ← …` (the line a function starts on). */
  readonly site: string;
  readonly bytes: number;
  readonly share: number;
}

/** The bytes a heap profile's samples stand for, and the call sites that allocated the most. */
export interface AllocationSummary {
  readonly bytes: number;
  readonly sites: readonly AllocationSite[];
}

/** A frame as a site names it: `name file:line`, or `name (native or V8)`. */
function frameName(frame: CallFrame, root: string): string {
  const name = frame.functionName || '(anonymous)';
  const file = shortFile(frame.url, root);
  const line = (frame.lineNumber ?? -1) >= 0 && frame.url !== '' ? `:${frame.lineNumber! + 1}` : '';
  return `${name} ${file}${line}`;
}

/**
 * The bytes allocated by call site: each sample's allocating frame and the `callers` frames above
 * it (the profile's root left out), summed, largest first (ties by name), the first `top` of
 * them.
 */
export function summarizeAllocations(
  profile: HeapProfile,
  root: string,
  top = 15,
  callers = 2,
): AllocationSummary {
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapProfileNode, stack: readonly string[]): void => {
    const here = [...stack, frameName(node.callFrame, root)];
    if (node.selfSize > 0) {
      total += node.selfSize;
      const site = here
        .slice(-1 - callers)
        .reverse()
        .join(' ← ');
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, here);
  };
  // The root node stands for no frame; its children are the stacks' outermost frames.
  for (const child of profile.head.children) walk(child, []);
  const sites = [...bySite.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, top)
    .map(([site, bytes]) => ({ site, bytes, share: total > 0 ? bytes / total : 0 }));
  return { bytes: total, sites };
}

/** `profile` with every frame moved to the source its source map names (sourceFrame). */
export function heapProfileToSources(profile: HeapProfile): HeapProfile {
  const map = (node: HeapProfileNode): HeapProfileNode => ({
    ...node,
    callFrame: sourceFrame(node.callFrame),
    children: node.children.map(map),
  });
  return { ...profile, head: map(profile.head) };
}

/** What alloc-run.ts prints of its run. */
export interface AllocationRun {
  /** Simulated time of the run (warm-up and measured period), s, and its measured period. */
  readonly simulatedSeconds: number;
  readonly measuredSeconds: number;
  /** Frames the guest received in the measured period; events the run fired in all. */
  readonly framesReceived: number;
  readonly events: number;
}

/** The allocation run's settings (alloc-run.ts): its measured period, warm-up, and the runs before it. */
export const ALLOCATION_DURATION_MS = 100;
export const ALLOCATION_WARMUP_MS = 20;
export const ALLOCATION_WARMUP_RUNS = 3;

/** Bytes per frame the guest received, the whole run's bytes scaled to its measured period. */
export function bytesPerFrame(bytes: number, run: AllocationRun): number {
  return (bytes * run.measuredSeconds) / run.simulatedSeconds / run.framesReceived;
}

/**
 * Builds the packages (turbo; cached when nothing changed) and profiles the allocations of one
 * warm run of the default machine in `mode`, in a process of its own (alloc-run.ts), writing the
 * profile to `file`. Throws when the build or the run fails.
 */
export function allocationRun(
  repoRoot: string,
  benchDir: string,
  mode: string,
  file: string,
): { readonly profile: HeapProfile; readonly run: AllocationRun } {
  const run = compiledRun<AllocationRun>(
    repoRoot,
    benchDir,
    'alloc-run.ts',
    {
      mode,
      durationMs: ALLOCATION_DURATION_MS,
      warmupMs: ALLOCATION_WARMUP_MS,
      warmupRuns: ALLOCATION_WARMUP_RUNS,
      out: file,
    },
    `the ${mode} allocation run`,
  );
  return { profile: JSON.parse(readFileSync(file, 'utf8')) as HeapProfile, run };
}
