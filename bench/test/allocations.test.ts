import { describe, expect, it } from 'vitest';
import { bytesPerFrame, type HeapProfileNode, summarizeAllocations } from '../src/allocations.js';

/** A heap-profile node of `name` in /repo/src/a.js at 0-based line `line`. */
function node(
  id: number,
  name: string,
  line: number,
  selfSize: number,
  children: HeapProfileNode[] = [],
): HeapProfileNode {
  return {
    id,
    callFrame: { functionName: name, url: 'file:///repo/src/a.js', lineNumber: line },
    selfSize,
    children,
  };
}

describe('bench --allocations', () => {
  it('sums the bytes by allocating frame and its two callers, largest first, the root left out', () => {
    // loop → deliver → receive (48 bytes), loop → deliver (32 + a native subarray 16 below it),
    // and a second path to receive through another caller (16): receive's two call chains are
    // two sites.
    const profile = {
      head: {
        id: 1,
        callFrame: { functionName: '(root)', url: '' },
        selfSize: 0,
        children: [
          node(2, 'loop', 9, 0, [
            node(3, 'deliver', 19, 32, [
              node(4, 'receive', 29, 48),
              {
                id: 5,
                callFrame: { functionName: 'subarray', url: '' },
                selfSize: 16,
                children: [],
              },
            ]),
            node(6, 'other', 39, 0, [node(7, 'receive', 29, 16)]),
          ]),
        ],
      },
    };
    const s = summarizeAllocations(profile, '/repo');
    expect(s.bytes).toBe(112);
    expect(s.sites).toEqual([
      { site: 'receive src/a.js:30 ← deliver src/a.js:20 ← loop src/a.js:10', bytes: 48, share: 48 / 112 },
      { site: 'deliver src/a.js:20 ← loop src/a.js:10', bytes: 32, share: 32 / 112 },
      { site: 'receive src/a.js:30 ← other src/a.js:40 ← loop src/a.js:10', bytes: 16, share: 16 / 112 },
      {
        site: 'subarray (native or V8) ← deliver src/a.js:20 ← loop src/a.js:10',
        bytes: 16,
        share: 16 / 112,
      },
    ]);
    // One caller: the two chains through deliver and other stay apart by their caller.
    expect(summarizeAllocations(profile, '/repo', 2, 1).sites).toEqual([
      { site: 'receive src/a.js:30 ← deliver src/a.js:20', bytes: 48, share: 48 / 112 },
      { site: 'deliver src/a.js:20 ← loop src/a.js:10', bytes: 32, share: 32 / 112 },
    ]);
    // No caller: receive's two chains are one site.
    expect(summarizeAllocations(profile, '/repo', 1, 0).sites).toEqual([
      { site: 'receive src/a.js:30', bytes: 64, share: 64 / 112 },
    ]);
  });

  it('gives no sites and no shares for a profile with nothing allocated', () => {
    const empty = {
      head: { id: 1, callFrame: { functionName: '(root)', url: '' }, selfSize: 0, children: [] },
    };
    expect(summarizeAllocations(empty, '/repo')).toEqual({ bytes: 0, sites: [] });
  });

  it('scales the run’s bytes to its measured period per frame received', () => {
    // 1.2 MB over 120 ms simulated, of which 100 ms measured with 10,000 frames: 100 bytes a frame.
    expect(
      bytesPerFrame(1_200_000, {
        simulatedSeconds: 0.12,
        measuredSeconds: 0.1,
        framesReceived: 10_000,
        events: 1,
      }),
    ).toBeCloseTo(100, 9);
  });
});
