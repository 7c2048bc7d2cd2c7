/**
 * A guest kernel with no CPU model behind it, and a CPU that records what the kernel's routines
 * ask of it: the fixture of the kernel's own tests (kernel.test, pv-eoi.test).
 */
import { Stats } from '@exitless/sim';
import { type CpuContext, type Frame, type Routine, SparseMemory } from '@exitless/x86';
import { type ApicAccessMode, GUEST_LAYOUT, type GuestApplication, GuestKernel } from '../src/index.js';
import { BAR0, BAR3, COSTS, DYNAMIC } from './driver-helpers.js';
import { GUEST, TCP } from './stack-helpers.js';

/** One operation the CPU was asked for, with its operands. */
export type Op = readonly [string, ...number[]];

/** A CPU that records every operation with its operands (WRMSR: index, EAX, EDX). */
export function recordingCpu(): {
  readonly cpu: CpuContext;
  readonly ops: Op[];
  frame(routine: Routine): Frame;
  /** Runs `routine` to its IRET; returns the operations. */
  run(routine: Routine): Op[];
} {
  const ops: Op[] = [];
  const cpu = {
    now: 0,
    resultLo: 0,
    compute: (c: number) => ops.push(['compute', c]),
    wrmsr: (i: number, lo: number, hi: number) => ops.push(['wrmsr', i, lo, hi]),
    mmioWrite: (a: number, _s: number, v: number) => ops.push(['mmio', a, v]),
    mmioRead: (a: number) => ops.push(['mmioRead', a]),
    lidt: (a: number) => ops.push(['lidt', a]),
    sti: () => ops.push(['sti']),
    cli: () => ops.push(['cli']),
    hlt: () => ops.push(['hlt']),
    iret: () => ops.push(['iret']),
  } as unknown as CpuContext;
  const frame = (routine: Routine): Frame =>
    ({ routine, pc: 0, r0: 0, r1: 0, r2: 0, r3: 0, vector: 0, errorCode: 0 }) as Frame;
  const run = (routine: Routine): Op[] => {
    const f = frame(routine);
    const start = ops.length;
    for (let i = 0; i < 1000; i++) {
      routine.step(cpu, f);
      if (ops[ops.length - 1]?.[0] === 'iret') return ops.slice(start);
    }
    throw new Error(`${routine.name} did not return`);
  };
  return { cpu, ops, frame, run };
}

/** An application that never has work. */
export const IDLE: GuestApplication = {
  name: 'idle',
  attach() {},
  runnable: () => false,
  nextBurst: () => 0,
};

/** What a test varies of guest0's kernel (x2APIC, 250 Hz, 133.33 MHz timer, rings 512/1024, idle, no PV EOI). */
export interface KernelFixtureOptions {
  readonly apicMode?: ApicAccessMode;
  readonly tickPhasePs?: number;
  readonly app?: GuestApplication;
  readonly rxRingSize?: number;
  readonly txRingSize?: number;
  /** The cycles of PV EOI's test-and-clear; absent: the host offers no PV EOI. */
  readonly pvEoiTestAndClear?: number;
}

export function makeKernel(o: KernelFixtureOptions = {}): {
  readonly kernel: GuestKernel;
  readonly stats: Stats;
  readonly memory: SparseMemory;
  routine(address: number): Routine;
} {
  const stats = new Stats({ now: 0 });
  const code = new Map<number, Routine>();
  const memory = new SparseMemory(GUEST_LAYOUT.MIN_MEMORY);
  const kernel = new GuestKernel({
    name: 'guest0',
    memory,
    registerCode: (a, r) => code.set(a, r),
    apicMode: o.apicMode ?? 'x2apic',
    apicId: 0,
    apicTimerHz: 133_330_000,
    hz: 250,
    ...(o.tickPhasePs === undefined ? {} : { tickPhasePs: o.tickPhasePs }),
    nic: {
      bar0: BAR0,
      bar3: BAR3,
      mac: GUEST.mac,
      ip: GUEST.ip,
      rxRingSize: o.rxRingSize ?? 512,
      txRingSize: o.txRingSize ?? 1024,
      throttling: DYNAMIC,
      napiBudget: 64,
    },
    ...(o.pvEoiTestAndClear === undefined ? {} : { pvEoi: { testAndClearCycles: o.pvEoiTestAndClear } }),
    tcp: TCP,
    costs: COSTS,
    stats: stats.scope('guest0'),
    app: o.app ?? IDLE,
  });
  return { kernel, stats, memory, routine: (address: number) => code.get(address)! };
}
