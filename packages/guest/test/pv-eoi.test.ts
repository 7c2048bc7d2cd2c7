/**
 * The guest kernel's side of KVM's paravirtual EOI (arch/x86/kernel/kvm.c): the boot writes
 * MSR_KVM_PV_EOI_EN with its flag's address, and every EOI test-and-clears the flag first,
 * skipping the EOI write when the host had set it. A recording CPU, no hypervisor.
 */
import { KVM_MSR, MSR } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { GUEST_LAYOUT, GuestConfigError, GuestKernel } from '../src/index.js';
import { makeKernel, type Op, recordingCpu } from './kernel-helpers.js';

const TEST_AND_CLEAR = 7;

function boot(kernel: GuestKernel): Op[] {
  const { cpu, ops, frame } = recordingCpu();
  const f = frame({ name: 'boot', step: () => {} });
  while (kernel.bootStep(cpu, f));
  return ops;
}

describe('boot: kvm_guest_cpu_init', () => {
  it('with PV EOI offered, zeroes the flag word and writes its address | KVM_MSR_ENABLED to MSR 0x4B564D04, after x2APIC is on', () => {
    const { kernel, memory } = makeKernel({ pvEoiTestAndClear: TEST_AND_CLEAR });
    memory.write32(GUEST_LAYOUT.PV_EOI_FLAG, 0xffff_ffff);
    const ops = boot(kernel);
    const i = ops.findIndex((o) => o[0] === 'wrmsr' && o[1] === KVM_MSR.PV_EOI_EN);
    expect(ops[i]).toEqual(['wrmsr', 0x4b56_4d04, GUEST_LAYOUT.PV_EOI_FLAG | 1, 0]);
    expect(GUEST_LAYOUT.PV_EOI_FLAG % 4).toBe(0);
    expect(i).toBeGreaterThan(ops.findIndex((o) => o[0] === 'wrmsr' && o[1] === MSR.IA32_APIC_BASE));
    expect(memory.read32(GUEST_LAYOUT.PV_EOI_FLAG)).toBe(0);
  });

  it('without it (bare metal, every other mode), never touches the MSR', () => {
    const { kernel } = makeKernel();
    expect(boot(kernel).some((o) => o[0] === 'wrmsr' && o[1] === KVM_MSR.PV_EOI_EN)).toBe(false);
    expect(kernel.pvEoi).toBeNull();
  });

  it('refuses a negative test-and-clear cost', () => {
    expect(
      () =>
        new GuestKernel({
          ...makeKernel({ pvEoiTestAndClear: TEST_AND_CLEAR }).kernel.options,
          registerCode: () => {},
          pvEoi: { testAndClearCycles: -1 },
        }),
    ).toThrow(GuestConfigError);
  });
});

describe('the EOI: kvm_guest_apic_eoi_write', () => {
  for (const apicMode of ['x2apic', 'xapic'] as const) {
    it(`${apicMode}: flag bit 0 set → cleared (the rest of the word kept), no EOI write, the test-and-clear's cycles; clear → the EOI write`, () => {
      const { kernel, memory, routine } = makeKernel({ pvEoiTestAndClear: TEST_AND_CLEAR, apicMode });
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
    const { kernel, memory, routine } = makeKernel({ pvEoiTestAndClear: TEST_AND_CLEAR });
    const { cpu, ops, frame } = recordingCpu();
    memory.write8(GUEST_LAYOUT.PV_EOI_FLAG, 1);
    const timer = routine(kernel.handlers.timerIrq);
    const f = frame(timer);
    for (let i = 0; i < 20 && ops.at(-1)?.[0] !== 'iret'; i++) timer.step(cpu, f);
    expect(ops.some((o) => o[0] === 'wrmsr' && o[1] === MSR.X2APIC_EOI)).toBe(false);
    expect(memory.read8(GUEST_LAYOUT.PV_EOI_FLAG)).toBe(0);
  });
});
