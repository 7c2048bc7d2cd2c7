import { APIC_REG, decodeIdtGate, IDT_GATE_SIZE, LVT, MSR, TIMER_MODE, x2apicMsr } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  GUEST_LAYOUT,
  GUEST_VECTOR,
  type GuestApplication,
  GuestConfigError,
  idtTarget,
  LapicDriver,
  SchedulerTick,
  TICK_RESTART,
} from '../src/index.js';
import { COSTS } from './driver-helpers.js';
import { makeKernel, recordingCpu } from './kernel-helpers.js';

/** An application with `bursts` of work (cycles each), then nothing. */
class Bursts implements GuestApplication {
  readonly name = 'bursts';
  constructor(private readonly bursts: number[] = []) {}
  attach(): void {}
  runnable(): boolean {
    return this.bursts.length > 0;
  }
  nextBurst(): number {
    return this.bursts.shift() ?? 0;
  }
}

describe('the kernel’s typed counters', () => {
  it('are the counters registered under the names the stats output has always used', () => {
    const { kernel, stats } = makeKernel();
    const c = kernel.counters;
    const named: [unknown, string][] = [
      [c.interrupts, 'interrupts'],
      [c.nicInterrupts, 'interrupts-nic'],
      [c.nicRxInterrupts, 'interrupts-nic-rx'],
      [c.nicTxInterrupts, 'interrupts-nic-tx'],
      [c.nicMailboxInterrupts, 'interrupts-nic-mailbox'],
      [c.timerInterrupts, 'interrupts-timer'],
      [c.spuriousInterrupts, 'interrupts-spurious'],
      [c.unexpectedInterrupts, 'interrupts-unexpected'],
      [c.exceptions, 'exceptions'],
      [c.rxFrames, 'rx.frames'],
      [c.txFrames, 'tx.frames'],
      [c.txRingFull, 'tx.ring-full'],
      [c.napiPolls, 'napi.polls'],
      [c.rxSkbs, 'rx.skbs'],
      [c.udpNoPort, 'udp.no-port'],
    ];
    for (const [counter, name] of named) expect(counter).toBe(stats.counter(`guest0.${name}`));
  });

  it('the spurious vector counts as spurious and is not EOI’d (SDM §10.9)', () => {
    const { kernel, routine } = makeKernel();
    const ops = recordingCpu().run(routine(kernel.handlers.spuriousIrq));
    expect(ops.some(([op]) => op === 'wrmsr')).toBe(false);
    expect(kernel.counters.spuriousInterrupts.value).toBe(1);
    expect(kernel.counters.unexpectedInterrupts.value).toBe(0);
    expect(kernel.counters.interrupts.value).toBe(1);
  });

  it('a vector without a handler counts as unexpected, not spurious, and is EOI’d', () => {
    const { kernel, routine } = makeKernel();
    const ops = recordingCpu().run(routine(kernel.handlers.unexpected));
    expect(ops).toContainEqual(['wrmsr', MSR.X2APIC_EOI, 0, 0]);
    expect(kernel.counters.unexpectedInterrupts.value).toBe(1);
    expect(kernel.counters.spuriousInterrupts.value).toBe(0);
    expect(kernel.counters.interrupts.value).toBe(1);
  });

  it('the mailbox vector counts as a NIC interrupt of its own vector, neither spurious nor unexpected', () => {
    const { kernel, routine } = makeKernel();
    recordingCpu().run(routine(kernel.handlers.nicMailboxIrq));
    const c = kernel.counters;
    expect([c.nicMailboxInterrupts.value, c.nicInterrupts.value, c.interrupts.value]).toEqual([1, 1, 1]);
    expect([c.spuriousInterrupts.value, c.unexpectedInterrupts.value]).toEqual([0, 0]);
  });

  it('an exception is counted as one, not as an interrupt', () => {
    const { kernel, routine } = makeKernel();
    recordingCpu().run(routine(kernel.handlers.exception));
    expect([kernel.counters.exceptions.value, kernel.counters.interrupts.value]).toEqual([1, 0]);
  });
});

describe('the LAPIC driver', () => {
  it('x2APIC: a register write is WRMSR to 0x800 + offset/16; EOI is WRMSR 0x80B (SDM §10.12.1.2)', () => {
    const { cpu, ops } = recordingCpu();
    const l = new LapicDriver('x2apic');
    l.write(cpu, APIC_REG.TPR, 0x20);
    l.eoi(cpu);
    expect(ops).toEqual([
      ['wrmsr', 0x808, 0x20, 0],
      ['wrmsr', 0x80b, 0, 0],
    ]);
  });

  it('xAPIC: a 32-bit store into the page at 0xFEE00000; EOI at 0xFEE000B0', () => {
    const { cpu, ops } = recordingCpu();
    const l = new LapicDriver('xapic');
    l.write(cpu, APIC_REG.TPR, 0x20);
    l.eoi(cpu);
    expect(ops).toEqual([
      ['mmio', 0xfee0_0080, 0x20],
      ['mmio', 0xfee0_00b0, 0],
    ]);
  });
});

describe('the scheduler tick on the LAPIC timer', () => {
  const periodic = GUEST_VECTOR.LOCAL_TIMER | (TIMER_MODE.PERIODIC << LVT.TIMER_MODE_SHIFT);

  it('without a phase: periodic from the start, one period of counts, nothing to restart', () => {
    const t = new SchedulerTick(133_330_000, 250, 0);
    expect(t.bootWrites()).toEqual([
      [APIC_REG.TIMER_DIVIDE_CONFIG, 0xb],
      [APIC_REG.LVT_TIMER, periodic],
      [APIC_REG.TIMER_INITIAL_COUNT, 533_320],
    ]);
    expect(t.pendingRestart).toBe(TICK_RESTART.NONE);
    expect(t.restart(recordingCpu().cpu, new LapicDriver('x2apic'))).toBe(false);
  });

  it('with a phase: one-shot after the phase, then the LVT back to periodic and one period’s count', () => {
    const t = new SchedulerTick(133_330_000, 250, 1e9); // 1 ms
    expect(t.bootWrites()[1]).toEqual([
      APIC_REG.LVT_TIMER,
      GUEST_VECTOR.LOCAL_TIMER | (TIMER_MODE.ONE_SHOT << LVT.TIMER_MODE_SHIFT),
    ]);
    expect(t.bootWrites()[2]).toEqual([APIC_REG.TIMER_INITIAL_COUNT, 133_330]);
    const { cpu, ops } = recordingCpu();
    const l = new LapicDriver('x2apic');
    expect([t.restart(cpu, l), t.restart(cpu, l), t.restart(cpu, l)]).toEqual([true, true, false]);
    expect(ops).toEqual([
      ['wrmsr', x2apicMsr(APIC_REG.LVT_TIMER), periodic, 0],
      ['wrmsr', x2apicMsr(APIC_REG.TIMER_INITIAL_COUNT), 533_320, 0],
    ]);
  });
});

describe('boot', () => {
  /** Runs the reset routine until its STI; returns the operations. */
  function boot(k: ReturnType<typeof makeKernel>) {
    const r = recordingCpu();
    const routine = k.routine(k.kernel.entryAddress);
    const f = r.frame(routine);
    for (let i = 0; i < 1000 && r.ops[r.ops.length - 1]?.[0] !== 'sti'; i++) routine.step(r.cpu, f);
    return { ...r, f, routine };
  }

  it('loads an IDT whose gates point at the handlers: exceptions, NIC vectors, timer, spurious, the rest unexpected', () => {
    const k = makeKernel();
    const { ops } = boot(k);
    expect(ops).toContainEqual(['lidt', GUEST_LAYOUT.IDTR_SCRATCH]);
    const h = k.kernel.handlers;
    const gate = new Uint8Array(IDT_GATE_SIZE);
    const offsetOf = (v: number) => {
      k.kernel.memory.readBytes(GUEST_LAYOUT.IDT_BASE + v * IDT_GATE_SIZE, gate, 0, IDT_GATE_SIZE);
      return Number(decodeIdtGate(gate).offset);
    };
    expect([0, 14, 31].map(offsetOf)).toEqual([h.exception, h.exception, h.exception]);
    expect([0x41, 0x42, 0x43, 0xef, 0xff].map(offsetOf)).toEqual([
      h.nicRxIrq,
      h.nicTxIrq,
      h.nicMailboxIrq,
      h.timerIrq,
      h.spuriousIrq,
    ]);
    expect([32, 0x40, 0x44, 0xfe].map(offsetOf)).toEqual([
      h.unexpected,
      h.unexpected,
      h.unexpected,
      h.unexpected,
    ]);
    for (let v = 0; v < 256; v++) expect(offsetOf(v)).toBe(idtTarget(h, v));
  });

  it('x2APIC: enters x2APIC mode, then SVR (enabled, vector 0xFF), TPR and the timer through the MSRs', () => {
    const { ops } = boot(makeKernel({ apicMode: 'x2apic' }));
    const msrs = ops.filter(([op]) => op === 'wrmsr');
    expect(msrs[0]![1]).toBe(MSR.IA32_APIC_BASE);
    expect(msrs.slice(1).map(([, i, v]) => [i, v])).toEqual([
      [0x80f, 0x1ff],
      [0x808, 0],
      [0x83e, 0xb],
      [0x832, GUEST_VECTOR.LOCAL_TIMER | (TIMER_MODE.PERIODIC << LVT.TIMER_MODE_SHIFT)],
      [0x838, 533_320],
    ]);
  });

  it('xAPIC: no MSR write at all; the same registers through the page', () => {
    const { ops } = boot(makeKernel({ apicMode: 'xapic' }));
    expect(ops.some(([op]) => op === 'wrmsr')).toBe(false);
    const apic = ops.filter(([op, a]) => op === 'mmio' && a! >= 0xfee0_0000 && a! < 0xfee0_1000);
    expect(apic.map(([, a, v]) => [a! - 0xfee0_0000, v])).toEqual([
      [APIC_REG.SVR, 0x1ff],
      [APIC_REG.TPR, 0],
      [APIC_REG.TIMER_DIVIDE_CONFIG, 0xb],
      [APIC_REG.LVT_TIMER, GUEST_VECTOR.LOCAL_TIMER | (TIMER_MODE.PERIODIC << LVT.TIMER_MODE_SHIFT)],
      [APIC_REG.TIMER_INITIAL_COUNT, 533_320],
    ]);
  });

  it('then idles: CLI, STI and HLT while the application has nothing to do', () => {
    const b = boot(makeKernel());
    const start = b.ops.length;
    for (let i = 0; i < 3; i++) b.routine.step(b.cpu, b.f);
    expect(b.ops.slice(start).map(([op]) => op)).toEqual(['cli', 'sti', 'hlt']);
  });

  it('switches to the application while it has work, charges its bursts, and switches back when a burst finds none', () => {
    const b = boot(makeKernel({ app: new Bursts([500, 700]) }));
    const start = b.ops.length;
    for (let i = 0; i < 7; i++) b.routine.step(b.cpu, b.f);
    expect(b.ops.slice(start)).toEqual([
      ['cli'],
      ['sti'],
      ['compute', COSTS.contextSwitch],
      ['compute', 500],
      ['compute', 700],
      ['compute', COSTS.contextSwitch],
      ['cli'],
    ]);
  });
});

describe('configuration errors (GuestConfigError)', () => {
  it('a ring size that is not a multiple of 8 in [8, 4096]', () => {
    expect(() => makeKernel({ rxRingSize: 100 })).toThrow(GuestConfigError);
    expect(() => makeKernel({ txRingSize: 8192 })).toThrow(/nic.txRingSize/);
  });

  it('a tick phase outside one tick period', () => {
    expect(() => makeKernel({ tickPhasePs: 4e9 })).toThrow(/tickPhasePs/); // 250 Hz: 4 ms is a whole period
  });

  it('a second listener on a port, a second socket bound to a port, a UDP port out of range', () => {
    const { kernel } = makeKernel();
    const server = {
      port: 80,
      maxConnections: 4,
      backlog: 4,
      mss: 1448,
      receiveBuffer: 65_536,
      sendBuffer: 65_536,
      windowScale: 7,
      initialWindowSegments: 10,
      initialRtoPs: 1e12,
      minRtoPs: 2e11,
      maxRtoPs: 1.2e14,
      maxRetransmissions: 3,
      delayedAckPs: 4e10,
    };
    kernel.listenTcp(server);
    expect(() => kernel.listenTcp(server)).toThrow(/already has a listener/);
    kernel.bindUdp({ port: 53, queueLength: 4 });
    expect(() => kernel.bindUdp({ port: 53, queueLength: 4 })).toThrow(/already bound/);
    expect(() => kernel.bindUdp({ port: 0, queueLength: 4 })).toThrow(GuestConfigError);
    expect(kernel.usesSockets).toBe(true);
  });
});
