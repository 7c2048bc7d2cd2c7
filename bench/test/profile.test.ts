import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type CpuProfile, summarize, toSources, wallNsPerFrame } from '../src/profile.js';

const dir = mkdtempSync(join(tmpdir(), 'exitless-profile-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A profile of two functions of one script: `hot` (3 samples) and `cold` (1). */
function profileOf(url: string): CpuProfile {
  return {
    nodes: [
      {
        id: 1,
        callFrame: { functionName: '(root)', url: '', lineNumber: -1, columnNumber: -1 },
        children: [2, 3],
      },
      {
        id: 2,
        callFrame: { functionName: 'hot', url, lineNumber: 0, columnNumber: 0 },
        positionTicks: [
          { line: 2, ticks: 2 },
          { line: 3, ticks: 1 },
        ],
      },
      {
        id: 3,
        callFrame: { functionName: 'cold', url, lineNumber: 3, columnNumber: 0 },
        positionTicks: [{ line: 4, ticks: 1 }],
      },
    ],
    samples: [2, 2, 3, 2],
  };
}

describe('bench --profile', () => {
  it('ranks self time by file, function and line, with each line’s text', () => {
    const file = join(dir, 'plain.js');
    writeFileSync(file, 'function hot() {\n  a();\n    b();\n}\nfunction cold() {}\n');
    const s = summarize(profileOf(pathToFileURL(file).href), dir);
    expect(s.samples).toBe(4);
    expect(s.files).toEqual([{ file: 'plain.js', share: 1 }]);
    expect(s.functions).toEqual([
      { name: 'hot plain.js:1', share: 0.75 },
      { name: 'cold plain.js:4', share: 0.25 },
    ]);
    expect(s.lines).toEqual([
      { where: 'plain.js:2', share: 0.5, text: 'a();' },
      { where: 'plain.js:3', share: 0.25, text: 'b();' },
      { where: 'plain.js:4', share: 0.25, text: '}' },
    ]);
  });

  it('moves frames and lines to the sources a source map names', () => {
    // Generated lines 1–4 come from lines 10, 11, 12 and 20 of orig.ts (VLQ: A = 0, C = +1,
    // S = +9, Q = +8); a line's mapping is looked up from its first non-blank column.
    const gen = join(dir, 'gen.cjs');
    writeFileSync(
      gen,
      'exports.hot = function () {\n  return 1;\n    // two\n};\n//# sourceMappingURL=gen.cjs.map\n',
    );
    writeFileSync(
      `${gen}.map`,
      JSON.stringify({
        version: 3,
        file: 'gen.cjs',
        sources: ['orig.ts'],
        names: [],
        mappings: 'AASA;EACA;IACA;AAQA',
      }),
    );
    const orig = join(dir, 'orig.ts');
    writeFileSync(orig, `${Array.from({ length: 25 }, (_, i) => `line ${i + 1}`).join('\n')}\n`);
    process.setSourceMapsEnabled(true);
    // Loaded by Node itself (not through vitest's module runner), so that Node keeps its map.
    createRequire(import.meta.url)(gen);
    const url = pathToFileURL(gen).href;
    const mapped = toSources(profileOf(url));
    const hot = mapped.nodes[1]!;
    expect(hot.callFrame.url).toBe(pathToFileURL(orig).href);
    expect(hot.callFrame.lineNumber).toBe(9);
    expect(hot.positionTicks).toEqual([
      { line: 11, ticks: 2 },
      { line: 12, ticks: 1 },
    ]);
    expect(mapped.nodes[2]!.callFrame.lineNumber).toBe(19);
    const s = summarize(mapped, dir);
    expect(s.lines[0]).toEqual({ where: 'orig.ts:11', share: 0.5, text: 'line 11' });
    // A frame no map covers (the root) is left as it was.
    expect(mapped.nodes[0]!.callFrame).toEqual(profileOf(url).nodes[0]!.callFrame);
  });

  it('spreads the measured period’s share of the wall time over its frames', () => {
    // 320 ms simulated in 0.64 s of wall time; 300 ms of it measured, with 600,000 frames:
    // 0.6 s of wall time over 600,000 frames, 1,000 ns each.
    expect(
      wallNsPerFrame({
        wallSeconds: 0.64,
        simulatedSeconds: 0.32,
        measuredSeconds: 0.3,
        framesReceived: 600_000,
      }),
    ).toBeCloseTo(1000, 9);
  });
});
