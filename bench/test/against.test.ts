import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { againstModes, checkoutEntry, type MachineModule, pairedMachine, quartiles } from '../src/against.js';

const dir = mkdtempSync(join(tmpdir(), 'exitless-against-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pnpm bench --against', () => {
  it('summarizes the pairs by median and quartiles, the rule of the kernel’s paired figures', () => {
    expect(quartiles([1.3, 0.9, 1.1, 1.0])).toEqual({ median: 1.1, q1: 1.0, q3: 1.3 });
    expect(quartiles([2])).toEqual({ median: 2, q1: 2, q3: 2 });
    expect(() => quartiles([])).toThrow(RangeError);
  });

  it('takes the modes --modes names, in its order, and names a mode it cannot run', () => {
    const runnable = ['bare-metal', 'baseline', 'eli'];
    expect(againstModes('eli,baseline', runnable)).toEqual({ modes: ['eli', 'baseline'] });
    expect(againstModes(' eli ', runnable)).toEqual({ modes: ['eli'] });
    expect(againstModes('eli,posted,x', runnable)).toEqual({
      error: "--modes: 'posted', 'x' are not modes the default profile runs (bare-metal, baseline, eli)",
    });
    expect(againstModes('posted', runnable)).toEqual({
      error: "--modes: 'posted' is not a mode the default profile runs (bare-metal, baseline, eli)",
    });
    expect(againstModes('eli,,baseline', runnable)).toEqual({
      error: "--modes takes a comma-separated list of modes (bare-metal, baseline, eli); got 'eli,,baseline'",
    });
    expect(againstModes('eli,eli', runnable)).toEqual({ error: "--modes names 'eli' twice" });
  });

  it('names what is missing in a directory that is not an installed checkout', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(checkoutEntry(empty)).toEqual({
      error: `--against ${empty}: no packages/machine/src/index.ts there (give the root of a checkout of exitless)`,
    });
    const bare = join(dir, 'bare');
    mkdirSync(join(bare, 'packages', 'machine', 'src'), { recursive: true });
    writeFileSync(join(bare, 'packages', 'machine', 'src', 'index.ts'), '');
    expect(checkoutEntry(bare)).toEqual({
      error: `--against ${bare}: its dependencies are not installed (run pnpm -C ${bare} install --frozen-lockfile first)`,
    });
    // This checkout itself is one.
    const root = resolve(import.meta.dirname, '..', '..');
    expect(checkoutEntry(root)).toEqual({ entry: join(root, 'packages', 'machine', 'src', 'index.ts') });
  });

  it('alternates the two sides, and gives this side’s speed over the other’s in each pair', () => {
    // Two fake machines that record their runs (tests never assert wall-clock time: only the
    // order of the runs and the shape of the summary are checked).
    const order: string[] = [];
    const fake = (name: string, report: string): MachineModule => ({
      Machine: class {
        readonly mode: string;
        constructor(c: { mode: string }) {
          this.mode = c.mode;
        }
      },
      runMachine: () => {
        order.push(name);
        return { report };
      },
    });
    const row = pairedMachine(fake('ours', 'r'), fake('other', 'r'), 'baseline', 4, 10, 1);
    expect(row.sameReports).toBe(true);
    // Three warm-up runs of each, then the pairs, the order alternating within them.
    expect(order).toEqual([
      ...['other', 'ours', 'other', 'ours', 'other', 'ours'],
      ...['other', 'ours', 'ours', 'other', 'other', 'ours', 'ours', 'other'],
    ]);
    expect(row).toMatchObject({ mode: 'baseline', pairs: 4, durationMs: 10, warmupMs: 1 });
    expect(row.q1).toBeLessThanOrEqual(row.median);
    expect(row.median).toBeLessThanOrEqual(row.q3);
    expect(row.bestThis).toBeGreaterThan(0);
    expect(row.bestOther).toBeGreaterThan(0);
    // Two sides whose reports differ are said to: the ratio would compare different work.
    expect(pairedMachine(fake('ours', 'r'), fake('other', 's'), 'eli', 1, 10, 1).sameReports).toBe(false);
  });
});
