import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../examples/reproduce-api.js';
import { tempDirs } from './temp-dirs.js';

const tempDir = tempDirs('example');

describe('examples/reproduce-api.ts (the README’s library example)', () => {
  it('runs TCP_STREAM on bare metal, baseline and eli, each with its throughput relative to bare metal and baseline', async () => {
    const entries = await main(join(await tempDir(), 'mine'), 3, 1);
    expect(entries.map((e) => e.mode)).toEqual(['bare-metal', 'baseline', 'eli']);
    expect(entries[0]!.relative.toBareMetal).toBe(1);
    expect(entries[1]!.relative.toBaseline).toBe(1);
    for (const e of entries) expect(e.throughput.value).toBeGreaterThan(0);
  }, 60_000);
});
