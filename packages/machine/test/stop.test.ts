import { ms } from '@exitless/sim';
import type { CpuContext, Frame } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { Machine, runMachine } from '../src/index.js';

describe('a VM that does something the host does not expect', () => {
  it('is stopped with a report naming the exit, and the host keeps running', () => {
    const m = new Machine({
      mode: 'baseline',
      guestOverride: (env) => {
        env.registerCode(0x10_0000, {
          name: 'stray_mmio',
          step(cpu: CpuContext, f: Frame) {
            if (f.pc++ === 0) cpu.mmioWrite(0xc000_0000, 4, 1);
            else cpu.compute(1000);
          },
        });
        return { entryAddress: 0x10_0000 };
      },
    });
    const r = runMachine(m, { durationMs: 2, warmupMs: 1 });
    expect(r.stopped).toMatch(/EPT violation at guest-physical 0xc0000000/);
    expect(m.stopReason).toBe(r.stopped);
    // The host still takes its own timer interrupts after the VM stopped.
    const ticks = m.cpu.deliveredRoot[0xef]!;
    m.sim.runUntil(m.sim.now + ms(3));
    expect(m.cpu.deliveredRoot[0xef]!).toBeGreaterThan(ticks);
  });
});
