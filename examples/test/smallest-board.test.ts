import { Machine, runMachine } from '@exitless/machine';
import { describe, expect, it } from 'vitest';
import { main } from '../smallest-board.js';
import { shortRun } from './run.js';

describe('smallest-board.ts', () => {
  it('is the default machine written out: byte for byte the reports of new Machine(), bare metal and baseline', () => {
    const { bareMetal, vm } = main(shortRun());
    const run = { durationMs: 3, warmupMs: 1 };
    expect(JSON.stringify(bareMetal)).toBe(
      JSON.stringify(runMachine(new Machine({ mode: 'bare-metal' }), run)),
    );
    expect(JSON.stringify(vm)).toBe(JSON.stringify(runMachine(new Machine({ mode: 'baseline' }), run)));
  });

  it('prints each board: no exits on bare metal, exits under the host', () => {
    const options = shortRun();
    const { bareMetal, vm } = main(options);
    expect(bareMetal.mode).toBe('bare-metal');
    expect(bareMetal.exitsPerSecond.total).toBe(0);
    expect(vm.mode).toBe('baseline');
    expect(vm.exitsPerSecond.total).toBeGreaterThan(1000);
    expect(options.lines).toHaveLength(2);
    expect(options.lines[0]).toMatch(/^bare-metal +[\d,]+ Mb\/s, 0 exits\/s, 100% of the core in the OS$/);
    expect(options.lines[1]).toMatch(
      /^baseline +[\d,]+ Mb\/s, [\d,]+ exits\/s, [\d.]+% of the core in the OS$/,
    );
  });
});
