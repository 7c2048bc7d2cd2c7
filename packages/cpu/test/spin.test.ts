/**
 * `spin`: a spin-wait (KVM's halt polling is one) — busy host time like `compute`, ended by
 * the first interrupt the CPU delivers, and adding nothing to the footprint an exit's
 * indirect cost charges for the host's work.
 */
import { describe, expect, it } from 'vitest';
import {
  at,
  GUEST_ENTRY,
  HOST_ENTRY,
  HOST_IDT,
  handler,
  machine,
  type Op,
  PS_PER_CYCLE,
  script,
  setupVmcs,
  writeIdtr,
} from './harness.js';

const IDTR_AT = 0x800;
/** LIDT (10 cycles) then STI (2). */
const STI_DONE = (10 + 2) * PS_PER_CYCLE;

function host(m: ReturnType<typeof machine>, ops: readonly Op[]): void {
  writeIdtr(m, IDTR_AT, 0xfff, HOST_IDT);
  m.code.register(HOST_ENTRY, script('host', [(c) => c.lidt(IDTR_AT), (c) => c.sti(), ...ops]));
  m.cpu.start(HOST_ENTRY);
}

describe('spin', () => {
  it('runs its cycles as host time when nothing interrupts it', () => {
    const m = machine();
    const log: number[] = [];
    host(m, [
      (c) => c.spin(1000),
      (c) => {
        log.push(c.now);
        c.hlt();
      },
    ]);
    m.sim.runUntil(10_000_000);
    m.cpu.flushAccounting();
    expect(log).toEqual([STI_DONE + 1000 * PS_PER_CYCLE]);
    expect(m.stats.counterValue('cpu0.time.host')).toBe(STI_DONE + 1000 * PS_PER_CYCLE);
  });

  it('ends when the CPU delivers an interrupt: the routine steps right after the handler returns, where compute would go on', () => {
    const run = (spin: boolean) => {
      const m = machine();
      const log: number[] = [];
      host(m, [
        (c) => (spin ? c.spin(10_000) : c.compute(10_000)),
        (c) => {
          log.push(c.now);
          c.hlt();
        },
      ]);
      handler(m, HOST_IDT, 0x41, script('h', [(c) => c.compute(10)], 'iret'));
      at(m.sim, STI_DONE + 3000 * PS_PER_CYCLE, () => m.lapic.raise(0x41));
      m.sim.runUntil(100_000_000);
      return log[0]!;
    };
    // Delivery 100, the handler 10, IRET 50.
    expect(run(true)).toBe(STI_DONE + (3000 + 100 + 10 + 50) * PS_PER_CYCLE);
    expect(run(false)).toBe(STI_DONE + (10_000 + 100 + 10 + 50) * PS_PER_CYCLE);
  });

  it("adds nothing to the host's footprint after an exit: the guest pays the fixed indirect cost only", () => {
    const run = (spin: boolean) => {
      const m = machine({
        costs: { exitIndirectCycles: 500, exitPollutionPerHostCycle: 0.5, exitPollutionMaxCycles: 50_000 },
      });
      setupVmcs(m, {});
      m.code.register(GUEST_ENTRY, script('guest', [(c) => c.vmcall(), (c) => c.compute(1000)]));
      // After the guest's exit, the host works 4000 cycles (spinning or not), then resumes it.
      m.code.register(HOST_ENTRY, {
        name: 'host',
        step(c, f) {
          if (f.pc === 0) {
            f.pc = 1;
            c.vmlaunch();
          } else if (f.pc === 1) {
            f.pc = 2;
            if (spin) c.spin(4000);
            else c.compute(4000);
          } else if (f.pc === 2) {
            f.pc = 3;
            c.vmresume();
          } else c.hlt();
        },
      });
      m.cpu.start(HOST_ENTRY);
      m.sim.runUntil(50_000_000);
      m.cpu.flushAccounting();
      return m;
    };
    const spun = run(true);
    expect(spun.stats.counterValue('cpu0.time.exit-indirect')).toBe(500 * PS_PER_CYCLE);
    expect(spun.stats.counterValue('cpu0.time.host')).toBeGreaterThanOrEqual(4000 * PS_PER_CYCLE);
    // The same 4000 cycles as compute: 0.5 × 4000 of refills on top.
    expect(run(false).stats.counterValue('cpu0.time.exit-indirect')).toBe(2500 * PS_PER_CYCLE);
  });

  it('refuses a negative or non-finite number of cycles', () => {
    const m = machine();
    host(m, [(c) => c.spin(-1)]);
    expect(() => m.sim.runUntil(1_000_000)).toThrow(/spin\(-1\)/);
  });
});
