/**
 * `pnpm bench -- --profile [MODE]`: where the time of a machine run goes. Runs the default
 * machine (netperf TCP_STREAM, MODE default baseline, 300 ms after 20 ms warm-up) under V8's
 * sampling profiler (node:inspector), writes the profile (`.cpuprofile`: open it in Chrome
 * DevTools' Performance panel or speedscope.app) and prints the functions and the files with
 * the most self time.
 */
import { Session } from 'node:inspector/promises';
import { Machine, runMachine } from '@exitless/machine';

/** One node of a V8 CPU profile (the fields used here). */
interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
  };
  readonly hitCount?: number;
}

/** A V8 CPU profile (`Profiler.stop`'s result). */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples?: readonly number[];
}

/** Self time by function and by file, as shares of all samples, largest first. */
export interface ProfileSummary {
  readonly samples: number;
  readonly functions: readonly { readonly name: string; readonly share: number }[];
  readonly files: readonly { readonly file: string; readonly share: number }[];
}

/** Where a frame's code is, relative to the repository (`packages/iommu/src/iommu.ts`), or its URL. */
function shortFile(url: string, root: string): string {
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

/** The self time of a profile's samples, by function and by file. */
export function summarize(profile: CpuProfile, root: string, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n] as const));
  const counts = new Map<number, number>();
  for (const id of profile.samples ?? []) counts.set(id, (counts.get(id) ?? 0) + 1);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  for (const [id, n] of counts) {
    const frame = byId.get(id)!.callFrame;
    const where = shortFile(frame.url, root);
    // No line: tsx runs transpiled code, whose lines are not the source's.
    const name = `${frame.functionName || '(anonymous)'} ${where}`;
    fn.set(name, (fn.get(name) ?? 0) + n);
    file.set(where, (file.get(where) ?? 0) + n);
  }
  const ranked = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, top);
  return {
    samples: total,
    functions: ranked(fn).map(([name, n]) => ({ name, share: n / total })),
    files: ranked(file).map(([f, n]) => ({ file: f, share: n / total })),
  };
}

/** Profiles one run of the default machine in `mode`; returns the profile. */
export async function profileRun(mode: string, durationMs: number, warmupMs: number): Promise<CpuProfile> {
  const machine = new Machine({ mode });
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  runMachine(machine, { durationMs, warmupMs });
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  return profile as unknown as CpuProfile;
}
