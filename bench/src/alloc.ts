import { getHeapSpaceStatistics } from 'node:v8';

/** Bytes in use in V8's young generation, where every short-lived allocation starts. */
function youngBytes(): number {
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'new_space') return s.space_used_size;
  throw new Error('bench: V8 reports no new_space');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Bytes allocated per unit of work: `window()` does some work and returns how many units
 * (events) it did; the young generation's growth over it, less what reading it costs, divided
 * by the units. The median of `windows` windows, so that the few windows a scavenge falls into
 * (and shrinks) do not count. It sees everything V8 allocates, including the numbers it boxes
 * when a double beyond the small-integer range (2^30) is passed to a function it does not
 * inline: a picosecond time after the first millisecond, an address above 1 GiB.
 */
export function allocatedPerUnit(window: () => number, windows = 21): number {
  const overhead: number[] = [];
  for (let i = 0; i < windows; i++) {
    const a = youngBytes();
    const b = youngBytes();
    overhead.push(b - a);
  }
  const own = median(overhead);
  const per: number[] = [];
  for (let i = 0; i < windows; i++) {
    const a = youngBytes();
    const units = window();
    const b = youngBytes();
    per.push(Math.max(0, b - a - own) / Math.max(1, units));
  }
  return median(per);
}
