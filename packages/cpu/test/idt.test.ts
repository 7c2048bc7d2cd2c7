import { EXCEPTION, GATE_TYPE, idtErrorCode } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  at,
  HANDLER_BASE,
  HOST_ENTRY,
  HOST_IDT,
  handler,
  machine,
  type Op,
  PS_PER_CYCLE,
  script,
  writeIdtr,
} from './harness.js';

const IDTR_AT = 0x800;

/** A host whose entry loads IDTR (base HOST_IDT, `limit`), optionally STIs, then runs `ops`. */
function host(m: ReturnType<typeof machine>, limit: number, ops: readonly Op[], sti = true): void {
  writeIdtr(m, IDTR_AT, limit, HOST_IDT);
  const prologue: Op[] = [(c) => c.lidt(IDTR_AT)];
  if (sti) prologue.push((c) => c.sti());
  m.code.register(HOST_ENTRY, script('host', [...prologue, ...ops]));
  m.cpu.start(HOST_ENTRY);
}

interface Seen {
  vector: number;
  errorCode: number;
  ifOn: boolean;
  time: number;
}

function recorder(seen: Seen[], extra: readonly Op[] = []): ReturnType<typeof script> {
  return script(
    'rec',
    [
      (c, f) => {
        seen.push({ vector: f.vector, errorCode: f.errorCode, ifOn: c.interruptsEnabled, time: c.now });
        c.compute(1);
      },
      ...extra,
    ],
    'iret',
  );
}

describe('event delivery through the IDT (SDM vol. 3 §6.12, §6.14)', () => {
  it('a vector whose gate lies beyond IDTR.limit raises #GP with error code (vector << 3) | 2 | EXT', () => {
    const m = machine();
    const seen: Seen[] = [];
    host(m, 0x41 * 16 - 1, [(c) => c.compute(1_000_000)]);
    handler(m, HOST_IDT, EXCEPTION.GP, recorder(seen));
    at(m.sim, 10_000_000, () => m.lapic.raise(0x41));
    m.sim.runUntil(100_000_000);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.vector).toBe(EXCEPTION.GP);
    expect(seen[0]!.errorCode).toBe(0x20b);
    expect(seen[0]!.errorCode).toBe(idtErrorCode(0x41, true));
  });

  it('a not-present gate raises #NP with error code 0x20B for external vector 0x41', () => {
    const m = machine();
    const seen: Seen[] = [];
    host(m, 0xfff, [(c) => c.compute(1_000_000)]);
    handler(m, HOST_IDT, 0x41, recorder([]), { present: false });
    handler(m, HOST_IDT, EXCEPTION.NP, recorder(seen));
    at(m.sim, 10_000_000, () => m.lapic.raise(0x41));
    m.sim.runUntil(100_000_000);
    expect(seen.map((s) => [s.vector, s.errorCode])).toEqual([[EXCEPTION.NP, 0x20b]]);
    expect(m.cpu.deliveredRoot[EXCEPTION.NP]).toBe(1);
    expect(m.cpu.deliveredRoot[0x41]).toBe(0);
  });

  it('a descriptor that is not an interrupt or trap gate raises #GP (type is checked before presence)', () => {
    const m = machine();
    const seen: Seen[] = [];
    host(m, 0xfff, [(c) => c.compute(1_000_000)]);
    handler(m, HOST_IDT, 0x41, recorder([]), { present: false, type: 0x5 });
    handler(m, HOST_IDT, EXCEPTION.GP, recorder(seen));
    at(m.sim, 10_000_000, () => m.lapic.raise(0x41));
    m.sim.runUntil(100_000_000);
    expect(seen.map((s) => [s.vector, s.errorCode])).toEqual([[EXCEPTION.GP, 0x20b]]);
  });

  it('a gate whose target holds no code raises #GP(vector) and is counted', () => {
    const m = machine();
    const seen: Seen[] = [];
    host(m, 0xfff, [(c) => c.compute(1_000_000)]);
    handler(m, HOST_IDT, EXCEPTION.GP, recorder(seen));
    handler(m, HOST_IDT, 0x41, recorder([]));
    m.code.unregister(HANDLER_BASE + 0x41 * 0x100);
    at(m.sim, 10_000_000, () => m.lapic.raise(0x41));
    m.sim.runUntil(100_000_000);
    expect(seen.map((s) => s.errorCode)).toEqual([0x20b]);
    expect(m.stats.counterValue('cpu0.faults.unknown-code')).toBe(1);
  });

  it('an interrupt gate clears IF; a trap gate leaves it set', () => {
    const m = machine();
    const seen: Seen[] = [];
    host(m, 0xfff, [(c) => c.compute(1_000_000)]);
    handler(m, HOST_IDT, 0x41, recorder(seen), { type: GATE_TYPE.INTERRUPT });
    handler(m, HOST_IDT, 0x61, recorder(seen), { type: GATE_TYPE.TRAP });
    at(m.sim, 10_000_000, () => m.lapic.raise(0x41));
    at(m.sim, 20_000_000, () => {
      m.lapic.eoi();
      m.lapic.raise(0x61);
    });
    m.sim.runUntil(100_000_000);
    expect(seen.map((s) => [s.vector, s.ifOn])).toEqual([
      [0x41, false],
      [0x61, true],
    ]);
  });

  it('nested delivery: a higher-class interrupt preempts a handler that re-enabled IF, and each IRET restores the IF it interrupted', () => {
    const m = machine();
    const log: string[] = [];
    const times: number[] = [];
    const t0 = 2 * PS_PER_CYCLE + 10 * PS_PER_CYCLE; // LIDT (10) + STI (2)
    host(m, 0xfff, [
      (c) => c.compute(100_000),
      (c) => {
        times.push(c.now);
        log.push(`host IF=${c.interruptsEnabled}`);
        c.hlt();
      },
    ]);
    handler(
      m,
      HOST_IDT,
      0x41,
      script(
        'h41',
        [
          (c) => {
            log.push(`h41 IF=${c.interruptsEnabled}`);
            c.sti();
          },
          (c) => c.compute(1000),
          (c) => {
            log.push(`h41 after nested IF=${c.interruptsEnabled}`);
            c.compute(1);
          },
        ],
        'iret',
      ),
    );
    handler(
      m,
      HOST_IDT,
      0x51,
      script(
        'h51',
        [
          (c) => {
            log.push(`h51 IF=${c.interruptsEnabled}`);
            c.compute(10);
          },
        ],
        'iret',
      ),
    );
    at(m.sim, t0 + 3_000_000, () => m.lapic.raise(0x41));
    at(m.sim, t0 + 3_500_000, () => m.lapic.raise(0x51));
    m.sim.runUntil(1_000_000_000);
    expect(log).toEqual(['h41 IF=false', 'h51 IF=false', 'h41 after nested IF=true', 'host IF=true']);
    // host compute + h41 (delivery 100, STI 2, compute 1000, compute 1, IRET 50) + h51 (delivery 100, compute 10, IRET 50)
    expect(times).toEqual([t0 + (100_000 + 100 + 2 + 1000 + 1 + 50 + 100 + 10 + 50) * PS_PER_CYCLE]);
  });

  it('an NMI blocks further NMIs until IRET; the held NMI is delivered right after it', () => {
    const m = machine();
    const seen: Seen[] = [];
    host(m, 0xfff, [(c) => c.compute(1_000_000)], false);
    handler(m, HOST_IDT, EXCEPTION.NMI, recorder(seen, [(c) => c.compute(1000)]));
    at(m.sim, 10_000_000, () => m.lapic.raiseNmi());
    at(m.sim, 10_500_000, () => m.lapic.raiseNmi());
    m.sim.runUntil(100_000_000);
    // First NMI at 10 µs; its handler (delivery 100, compute 1, compute 1000) issues IRET at
    // 10 µs + 1101 cycles, and the second NMI is taken at that boundary (IF = 0 does not mask NMIs).
    expect(seen.map((s) => s.time - 100 * PS_PER_CYCLE)).toEqual([
      10_000_000,
      10_000_000 + 1101 * PS_PER_CYCLE,
    ]);
    expect(seen.every((s) => !s.ifOn)).toBe(true);
  });

  it('a contributory fault while delivering #GP becomes #DF with error code 0', () => {
    const m = machine();
    const seen: Seen[] = [];
    host(m, 0xfff, [(c) => c.rdmsr(0x1234)], false);
    handler(m, HOST_IDT, EXCEPTION.GP, recorder([]), { present: false });
    handler(m, HOST_IDT, EXCEPTION.DF, recorder(seen));
    m.sim.runUntil(100_000_000);
    expect(seen.map((s) => [s.vector, s.errorCode])).toEqual([[EXCEPTION.DF, 0]]);
    expect(m.stats.counterValue('cpu0.faults.double')).toBe(1);
    expect(m.stats.counterValue('cpu0.faults.msr-gp')).toBe(1);
  });

  it('a fault while delivering #DF in root operation is a triple fault: the CPU shuts down and says so', () => {
    const m = machine();
    host(m, 0xfff, [(c) => c.rdmsr(0x1234)], false);
    m.sim.runUntil(100_000_000);
    expect(m.cpu.isShutdown).toBe(true);
    expect(m.stats.counterValue('cpu0.shutdowns')).toBe(1);
    expect(m.stats.counterValue('cpu0.faults.triple')).toBe(1);
  });
});

describe('stack overflow', () => {
  it('a #GP handler that keeps faulting fills the stack: #SS, then #DF, then a triple fault (shutdown), never a thrown error', () => {
    const m = machine();
    host(m, 0xfff, [(c) => c.rdmsr(0x1234)], false);
    handler(m, HOST_IDT, EXCEPTION.GP, script('gp-faults', [(c) => c.rdmsr(0x1234)], 'iret'));
    handler(m, HOST_IDT, EXCEPTION.SS, script('ss-faults', [(c) => c.rdmsr(0x1234)], 'iret'));
    handler(m, HOST_IDT, EXCEPTION.DF, script('df', [(c) => c.compute(1)], 'iret'));
    m.sim.runUntil(1_000_000_000);
    expect(m.stats.counterValue('cpu0.faults.stack-overflow')).toBeGreaterThan(0);
    expect(m.cpu.isShutdown).toBe(true);
    expect(m.stats.counterValue('cpu0.faults.triple')).toBe(1);
  });
});

describe('invokeInterruptHandler (KVM calling the host handler of an interrupt acknowledged on exit)', () => {
  it('runs the routine with an interrupt frame for the vector; its IRET returns to the caller with IF unchanged', () => {
    const m = machine();
    const seen: Seen[] = [];
    m.code.register(HANDLER_BASE + 0x51 * 0x100, recorder(seen));
    const after: boolean[] = [];
    host(
      m,
      0xfff,
      [
        (c) => c.cli(),
        (c) => c.invokeInterruptHandler(HANDLER_BASE + 0x51 * 0x100, 0x51),
        (c) => {
          after.push(c.interruptsEnabled);
          c.compute(1);
        },
      ],
      false,
    );
    m.sim.runUntil(1_000_000);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.vector).toBe(0x51);
    expect(seen[0]!.errorCode).toBe(-1);
    expect(seen[0]!.ifOn).toBe(false);
    expect(after).toEqual([false]);
    expect(m.cpu.deliveredRoot[0x51]).toBe(1);
  });

  it('raises #GP when nothing is registered at the address', () => {
    const m = machine();
    const seen: Seen[] = [];
    handler(m, HOST_IDT, EXCEPTION.GP, recorder(seen));
    host(m, 0xfff, [(c) => c.invokeInterruptHandler(0x7777_0000, 0x51)]);
    m.sim.runUntil(1_000_000);
    expect(seen.map((s) => s.vector)).toEqual([EXCEPTION.GP]);
  });
});

describe('the running stack, frame by frame (Cpu.frameAt)', () => {
  it('holds the interrupted routine under the handler of the vector being delivered', () => {
    const m = machine();
    const views: string[] = [];
    host(m, 0xfff, [(c) => c.compute(1_000_000)]);
    handler(
      m,
      HOST_IDT,
      0x41,
      script(
        'h41',
        [
          (c, f) => {
            const depth = m.cpu.stackDepth;
            for (let i = 0; i <= depth; i++) {
              const g = m.cpu.frameAt(i);
              views.push(g === undefined ? 'none' : `${g.routine.name}:${g.vector}:${g === f}`);
            }
            c.compute(1);
          },
        ],
        'iret',
      ),
    );
    at(m.sim, 10_000_000, () => m.lapic.raise(0x41));
    m.sim.runUntil(100_000_000);
    expect(views).toEqual(['host:-1:false', 'h41:65:true', 'none']);
    expect(m.cpu.frameAt(-1)).toBeUndefined();
  });
});
