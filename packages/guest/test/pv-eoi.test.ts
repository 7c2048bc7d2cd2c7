/**
 * The guest kernel's side of KVM's paravirtual EOI (arch/x86/kernel/kvm.c): the boot writes
 * MSR_KVM_PV_EOI_EN with its flag's address, and every EOI test-and-clears the flag first,
 * skipping the EOI write when the host had set it. A recording CPU, no hypervisor.
 */
import { Stats } from '@exitless/sim';
import { type CpuContext, type Frame, KVM_MSR, MSR, type Routine, SparseMemory } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  type ApicAccessMode,
  GUEST_LAYOUT,
  type GuestApplication,
  GuestConfigError,
  GuestKernel,
} from '../src/index.js';
import { BAR0, BAR3, COSTS, DYNAMIC } from './driver-helpers.js';
import { GUEST, TCP } from './stack-helpers.js';

type Op = readonly [string, ...number[]];

function recordingCpu() {
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
    iret: () => ops.push(['iret']),
  } as unknown as CpuContext;
  const frame = (routine: Routine): Frame =>
    ({ routine, pc: 0, r0: 0, r1: 0, r2: 0, r3: 0, vector: 0, errorCode: 0 }) as Frame;
  return { cpu, ops, frame };
}

const idle: GuestApplication = { name: 'idle', attach() {}, runnable: () => false, nextBurst: () => 0 };
const TEST_AND_CLEAR = 7;

function makeKernel(pvEoi: boolean, apicMode: ApicAccessMode = 'x2apic') {
  const stats = new Stats({ now: 0 });
  const code = new Map<number, Routine>();
  const memory = new SparseMemory(GUEST_LAYOUT.MIN_MEMORY);
  const kernel = new GuestKernel({
    name: 'guest0',
    memory,
    registerCode: (a, r) => code.set(a, r),
    apicMode,
    apicId: 0,
    apicTimerHz: 133_330_000,
    hz: 250,
    nic: {
      bar0: BAR0,
      bar3: BAR3,
      mac: GUEST.mac,
      ip: GUEST.ip,
      rxRingSize: 512,
      txRingSize: 1024,
      throttling: DYNAMIC,
      napiBudget: 64,
    },
    ...(pvEoi ? { pvEoi: { testAndClearCycles: TEST_AND_CLEAR } } : {}),
    tcp: TCP,
    costs: COSTS,
    stats: stats.scope('guest0'),
    app: idle,
  });
  return { kernel, stats, memory, routine: (address: number) => code.get(address)! };
}

function boot(kernel: GuestKernel): Op[] {
  const { cpu, ops, frame } = recordingCpu();
  const f = frame({ name: 'boot', step: () => {} });
  while (kernel.bootStep(cpu, f));
  return ops;
}

describe('boot: kvm_guest_cpu_init', () => {
  it('with PV EOI offered, zeroes the flag word and writes its address | KVM_MSR_ENABLED to MSR 0x4B564D04, after x2APIC is on', () => {
    const { kernel, memory } = makeKernel(true);
    memory.write32(GUEST_LAYOUT.PV_EOI_FLAG, 0xffff_ffff);
    const ops = boot(kernel);
    const i = ops.findIndex((o) => o[0] === 'wrmsr' && o[1] === KVM_MSR.PV_EOI_EN);
    expect(ops[i]).toEqual(['wrmsr', 0x4b56_4d04, GUEST_LAYOUT.PV_EOI_FLAG | 1, 0]);
    expect(GUEST_LAYOUT.PV_EOI_FLAG % 4).toBe(0);
    expect(i).toBeGreaterThan(ops.findIndex((o) => o[0] === 'wrmsr' && o[1] === MSR.IA32_APIC_BASE));
    expect(memory.read32(GUEST_LAYOUT.PV_EOI_FLAG)).toBe(0);
  });

  it('without it (bare metal, every other mode), never touches the MSR', () => {
    const { kernel } = makeKernel(false);
    expect(boot(kernel).some((o) => o[0] === 'wrmsr' && o[1] === KVM_MSR.PV_EOI_EN)).toBe(false);
    expect(kernel.pvEoi).toBeNull();
  });

  it('refuses a negative test-and-clear cost', () => {
    expect(
      () =>
        new GuestKernel({
          ...makeKernel(true).kernel.options,
          registerCode: () => {},
          pvEoi: { testAndClearCycles: -1 },
        }),
    ).toThrow(GuestConfigError);
  });
});

describe('the EOI: kvm_guest_apic_eoi_write', () => {
  for (const apicMode of ['x2apic', 'xapic'] as const) {
    it(`${apicMode}: flag bit 0 set → cleared (the rest of the word kept), no EOI write, the test-and-clear's cycles; clear → the EOI write`, () => {
      const { kernel, memory, routine } = makeKernel(true, apicMode);
      const { cpu, ops, frame } = recordingCpu();
      const tx = routine(kernel.handlers.nicTxIrq);
      // The host set the flag (one byte, 0x01) before the entry that delivered this interrupt.
      memory.write32(GUEST_LAYOUT.PV_EOI_FLAG, 0x5a5a_5a01);
      const f = frame(tx);
      tx.step(cpu, f); // irq entry
      tx.step(cpu, f); // the EOI
      expect(ops[1]).toEqual(['compute', TEST_AND_CLEAR]);
      expect(memory.read32(GUEST_LAYOUT.PV_EOI_FLAG)).toBe(0x5a5a_5a00);
      expect(kernel.pvEoi!.counters.skipped.value).toBe(1);
      // Not set: the EOI is written as without PV EOI.
      const g = frame(tx);
      tx.step(cpu, g);
      tx.step(cpu, g);
      expect(ops[3]).toEqual(
        apicMode === 'x2apic' ? ['wrmsr', MSR.X2APIC_EOI, 0, 0] : ['mmio', 0xfee0_00b0, 0],
      );
      expect(kernel.pvEoi!.counters.written.value).toBe(1);
      expect(memory.read32(GUEST_LAYOUT.PV_EOI_FLAG)).toBe(0x5a5a_5a00);
    });
  }

  it('every EOI of the kernel goes through it: the timer tick skips its EOI too', () => {
    const { kernel, memory, routine } = makeKernel(true);
    const { cpu, ops, frame } = recordingCpu();
    memory.write8(GUEST_LAYOUT.PV_EOI_FLAG, 1);
    const timer = routine(kernel.handlers.timerIrq);
    const f = frame(timer);
    for (let i = 0; i < 20 && ops.at(-1)?.[0] !== 'iret'; i++) timer.step(cpu, f);
    expect(ops.some((o) => o[0] === 'wrmsr' && o[1] === MSR.X2APIC_EOI)).toBe(false);
    expect(memory.read8(GUEST_LAYOUT.PV_EOI_FLAG)).toBe(0);
  });
});
