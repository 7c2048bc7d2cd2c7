import { PIN_BASED } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  accountedTime,
  at,
  GUEST_ENTRY,
  HOST_ENTRY,
  HOST_IDT,
  handler,
  hypervisor,
  machine,
  type Op,
  PS_PER_CYCLE,
  script,
  setupVmcs,
  writeIdtr,
} from './harness.js';

const IDTR_AT = 0x800;
const LIDT_DONE = 10 * PS_PER_CYCLE;

function host(m: ReturnType<typeof machine>, ops: readonly Op[]): void {
  writeIdtr(m, IDTR_AT, 0xfff, HOST_IDT);
  m.code.register(HOST_ENTRY, script('host', [(c) => c.lidt(IDTR_AT), ...ops]));
  m.cpu.start(HOST_ENTRY);
}

describe('STI shadow', () => {
  it('sti(); hlt() is atomic: an interrupt already pending is taken after HLT has begun and wakes it', () => {
    const m = machine();
    m.lapic.raise(0x41);
    const log: string[] = [];
    host(m, [
      (c) => c.sti(),
      (c) => c.hlt(),
      (c) => {
        log.push(`after hlt at ${c.now}`);
        c.compute(1);
      },
    ]);
    handler(
      m,
      HOST_IDT,
      0x41,
      script(
        'h',
        [
          (c) => {
            log.push(`h41 at ${c.now}`);
            c.compute(10);
          },
        ],
        'iret',
      ),
    );
    m.sim.runUntil(10_000_000);
    const stiDone = LIDT_DONE + 2 * PS_PER_CYCLE;
    expect(log).toEqual([
      `h41 at ${stiDone + 100 * PS_PER_CYCLE}`,
      `after hlt at ${stiDone + (100 + 10 + 50) * PS_PER_CYCLE}`,
    ]);
    expect(m.stats.counterValue('cpu0.time.halted-host')).toBe(0);
  });

  it('an interrupt arriving during the STI itself is held until the next operation has begun', () => {
    const m = machine({ costs: { cliStiCycles: 100 } });
    const log: number[] = [];
    host(m, [(c) => c.sti(), (c) => c.compute(1000)]);
    handler(
      m,
      HOST_IDT,
      0x41,
      script(
        'h',
        [
          (c) => {
            log.push(c.now);
            c.compute(1);
          },
        ],
        'iret',
      ),
    );
    at(m.sim, LIDT_DONE + 50 * PS_PER_CYCLE, () => m.lapic.raise(0x41));
    m.sim.runUntil(10_000_000);
    expect(log).toEqual([LIDT_DONE + (100 + 100) * PS_PER_CYCLE]);
  });

  it('STI with IF already 1 creates no shadow: the interrupt is taken at once', () => {
    const m = machine({ costs: { cliStiCycles: 100 } });
    const log: number[] = [];
    host(m, [(c) => c.sti(), (c) => c.sti(), (c) => c.compute(1000)]);
    handler(
      m,
      HOST_IDT,
      0x41,
      script(
        'h',
        [
          (c) => {
            log.push(c.now);
            c.compute(1);
          },
        ],
        'iret',
      ),
    );
    const t = LIDT_DONE + 150 * PS_PER_CYCLE;
    at(m.sim, t, () => m.lapic.raise(0x41));
    m.sim.runUntil(10_000_000);
    expect(log).toEqual([t + 100 * PS_PER_CYCLE]);
  });
});

describe('HLT', () => {
  it('wakes on an interrupt with IF = 1; time halted is accounted as halted-host', () => {
    const m = machine();
    const log: number[] = [];
    host(m, [
      (c) => c.sti(),
      (c) => c.hlt(),
      (c) => {
        log.push(c.now);
        c.compute(1);
      },
    ]);
    handler(m, HOST_IDT, 0x41, script('h', [(c) => c.compute(10)], 'iret'));
    const haltStart = LIDT_DONE + 2 * PS_PER_CYCLE;
    at(m.sim, 5_000_000, () => m.lapic.raise(0x41));
    m.sim.runUntil(10_000_000);
    expect(log).toEqual([5_000_000 + (100 + 10 + 50) * PS_PER_CYCLE]);
    m.cpu.flushAccounting();
    // halted from the HLT until the wake-up, then again in the final HLT of the script
    const finalHalt = 5_000_000 + (100 + 10 + 50 + 1) * PS_PER_CYCLE;
    expect(m.stats.counterValue('cpu0.time.halted-host')).toBe(
      5_000_000 - haltStart + (10_000_000 - finalHalt),
    );
  });

  it('with IF = 0 a maskable interrupt does not wake it, an NMI does', () => {
    const m = machine();
    const log: string[] = [];
    host(m, [
      (c) => c.hlt(),
      (c) => {
        log.push(`woke at ${c.now}`);
        c.compute(1);
      },
    ]);
    handler(
      m,
      HOST_IDT,
      0x41,
      script(
        'h',
        [
          (c) => {
            log.push('h41');
            c.compute(1);
          },
        ],
        'iret',
      ),
    );
    handler(
      m,
      HOST_IDT,
      2,
      script(
        'nmi',
        [
          (c) => {
            log.push('nmi');
            c.compute(1);
          },
        ],
        'iret',
      ),
    );
    at(m.sim, 1_000_000, () => m.lapic.raise(0x41));
    at(m.sim, 2_000_000, () => m.lapic.raiseNmi());
    m.sim.runUntil(10_000_000);
    expect(log).toEqual(['nmi', `woke at ${2_000_000 + (100 + 1 + 50) * PS_PER_CYCLE}`]);
  });
});

describe('interruptible compute', () => {
  it('stops at the exact picosecond an interrupt becomes deliverable and resumes with the remaining cycles', () => {
    const m = machine();
    const log: number[] = [];
    const t0 = LIDT_DONE + 2 * PS_PER_CYCLE;
    host(m, [
      (c) => c.sti(),
      (c) => c.compute(10_000),
      (c) => {
        log.push(c.now);
        c.hlt();
      },
    ]);
    handler(
      m,
      HOST_IDT,
      0x41,
      script(
        'h',
        [
          (c) => {
            log.push(c.now);
            c.compute(100);
          },
        ],
        'iret',
      ),
    );
    const irq = t0 + 3_000_500; // in the middle of a cycle
    at(m.sim, irq, () => m.lapic.raise(0x41));
    m.sim.runUntil(100_000_000);
    expect(log).toEqual([irq + 100 * PS_PER_CYCLE, t0 + (10_000 + 100 + 100 + 50) * PS_PER_CYCLE]);
  });
});

describe('time accounting', () => {
  it('guest, host, transition and halted time sum to the elapsed time; exits are counted by reason', () => {
    const m = machine();
    setupVmcs(m, { pin: PIN_BASED.EXTERNAL_INTERRUPT_EXITING });
    m.code.register(GUEST_ENTRY, script('guest', [(c) => c.compute(5000), (c) => c.vmcall()]));
    const exits = hypervisor(m);
    m.cpu.start(HOST_ENTRY);
    m.sim.runUntil(50_000_000);
    expect(exits).toHaveLength(1);
    expect(accountedTime(m)).toBe(50_000_000);
    expect(m.stats.counterValue('cpu0.time.guest')).toBe(5000 * PS_PER_CYCLE);
    expect(m.stats.counterValue('cpu0.time.transition')).toBe((800 + 1000) * PS_PER_CYCLE);
    expect(m.stats.counterValue('cpu0.exits.vmcall')).toBe(1);
    expect(m.stats.counterValue('cpu0.vmentries')).toBe(1);
  });

  it('the indirect cost of an exit is paid by the guest work that follows, as time.exit-indirect', () => {
    const m = machine({ costs: { exitIndirectCycles: 500 } });
    setupVmcs(m, {});
    const log: number[] = [];
    m.code.register(
      GUEST_ENTRY,
      script('guest', [
        (c) => c.vmcall(),
        (c) => c.compute(1000),
        (c) => {
          log.push(c.now);
          c.vmcall();
        },
      ]),
    );
    hypervisor(m, () => log.length === 0);
    m.cpu.start(HOST_ENTRY);
    m.sim.runUntil(50_000_000);
    // entry 800, exit 1000, entry 800, then 500 cycles of pollution and the 1000 cycles of work
    expect(log).toEqual([(800 + 1000 + 800 + 500 + 1000) * PS_PER_CYCLE]);
    m.cpu.flushAccounting();
    expect(m.stats.counterValue('cpu0.time.exit-indirect')).toBe(500 * PS_PER_CYCLE);
    expect(m.stats.counterValue('cpu0.time.guest')).toBe(1000 * PS_PER_CYCLE);
  });

  it("the indirect cost grows with the host's work between the exit and the entry, up to a cap, and is counted by exit reason", () => {
    const run = (perHost: number, hostCycles: number, max: number) => {
      const m = machine({
        costs: { exitIndirectCycles: 500, exitPollutionPerHostCycle: perHost, exitPollutionMaxCycles: max },
      });
      setupVmcs(m, {});
      const log: number[] = [];
      m.code.register(
        GUEST_ENTRY,
        script('guest', [
          (c) => c.vmcall(),
          (c) => c.compute(1000),
          (c) => {
            log.push(c.now);
            c.vmcall();
          },
        ]),
      );
      // A host that works `hostCycles` after the first exit (its handler), then resumes.
      m.code.register(HOST_ENTRY, {
        name: 'host',
        step(c, f) {
          if (f.pc === 0) {
            f.pc = 1;
            c.vmlaunch();
          } else if (f.pc === 1) {
            f.pc = 2;
            c.compute(hostCycles);
          } else if (f.pc === 2) {
            f.pc = 3;
            c.vmresume();
          } else c.hlt();
        },
      });
      m.cpu.start(HOST_ENTRY);
      m.sim.runUntil(50_000_000);
      m.cpu.flushAccounting();
      return { m, log };
    };
    // 500 fixed + 0.5 × 4000 host cycles = 2500 cycles of refills before the guest's work.
    const a = run(0.5, 4000, 50_000);
    expect(a.log).toEqual([(800 + 1000 + 4000 + 800 + 2500 + 1000) * PS_PER_CYCLE]);
    expect(a.m.stats.counterValue('cpu0.time.exit-indirect')).toBe(2500 * PS_PER_CYCLE);
    expect(a.m.stats.counterValue('cpu0.exit-indirect-ps.vmcall')).toBe(2500 * PS_PER_CYCLE);
    // A host path twice as long pollutes twice as much.
    const b = run(0.5, 8000, 50_000);
    expect(b.m.stats.counterValue('cpu0.time.exit-indirect')).toBe(4500 * PS_PER_CYCLE);
    // At most the cap (the guest's working set reloaded), on top of the fixed part.
    const c = run(2, 8000, 3000);
    expect(c.m.stats.counterValue('cpu0.time.exit-indirect')).toBe(3500 * PS_PER_CYCLE);
  });
});
