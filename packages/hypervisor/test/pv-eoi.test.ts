/**
 * `pv-eoi` against the seam, without a CPU: a CpuContext double holds the VMCS as a map and
 * the guest's registers as an exit left them; the real exit handlers, vCPU and virtual LAPIC
 * run around the strategy, and the flag is a byte of the VM's RAM. Written in the terms of
 * Documentation/virtual/kvm/msr.txt and arch/x86/kvm/lapic.c.
 */

import { Simulator, Stats } from '@exitless/sim';
import {
  EXCEPTION,
  EXIT_REASON,
  encodePvEoiMsr,
  INTR_INFO,
  INTR_TYPE,
  interruptionInfo,
  KVM_MSR,
  KVM_PV_EOI,
  MSR,
  RFLAGS,
  SparseMemory,
  VMCS_FIELD,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  ExitHandlers,
  type HostCosts,
  PvEoiStrategy,
  pvEoiFlagAddress,
  pvEoiMsrFault,
  pvEoiStrategy,
  Vm,
} from '../src/index.js';
import { fakeCpu, POWER_OF_TWO_COSTS, testVcpu } from './fixtures.js';

const COSTS: HostCosts = POWER_OF_TWO_COSTS;
const PV_EOI_COST = 1 << 21;
const RAM = 64 << 20;
const FLAG = 0x20_2000;
const GP = interruptionInfo(EXCEPTION.GP, INTR_TYPE.HARDWARE_EXCEPTION, true);

function setup(apicMode: 'x2apic' | 'xapic' = 'x2apic') {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const memory = new SparseMemory(1 << 30);
  const vm = new Vm({ name: 'vm', memorySize: RAM, apicMode }, memory, 0x2000_0000, 2.93e9);
  const vcpu = testVcpu(sim, stats, vm);
  vcpu.apic.writeMsr(MSR.IA32_APIC_BASE, 0xfee00000 | (apicMode === 'x2apic' ? 0xc00 : 0x800), 0);
  if (apicMode === 'x2apic') vcpu.apic.writeMsr(MSR.X2APIC_SVR, 0x1ff, 0);
  else vcpu.apic.writeMmio(0xf0, 0x1ff);
  const strategy = new PvEoiStrategy(
    { injection: COSTS.injection, msrEmulation: COSTS.msrEmulation, eoi: PV_EOI_COST },
    stats.scope('pv-eoi'),
  );
  const state = strategy.createVcpuState(vcpu);
  const exits = new ExitHandlers({
    costs: COSTS,
    strategy,
    stats: stats.scope('kvm'),
    unexpectedExits: stats.counter('kvm.unexpected-exits'),
    stop: (v, reason) => {
      v.stopReason ??= reason;
    },
  });
  const { cpu, vmcs } = fakeCpu();
  // The guest runs with interrupts on unless a test says otherwise.
  vmcs.set(VMCS_FIELD.GUEST_RFLAGS, RFLAGS.IF | 2);
  const exit = (reason: number, regs: { rcx?: number; rax?: number; rdx?: number } = {}): number => {
    cpu.rcx = regs.rcx ?? 0;
    cpu.rax = regs.rax ?? 0;
    cpu.rdx = regs.rdx ?? 0;
    vmcs.set(VMCS_FIELD.VM_EXIT_REASON, reason);
    vmcs.set(VMCS_FIELD.VM_ENTRY_INTR_INFO, 0);
    return exits.handle(cpu, vcpu, state);
  };
  /** The loop's entry preparation: the strategy's beforeEntry (no event to re-deliver here). */
  const enter = (): number => strategy.beforeEntry(cpu, vcpu, state);
  const injected = (): number => {
    const info = vmcs.get(VMCS_FIELD.VM_ENTRY_INTR_INFO) ?? 0;
    return (info & INTR_INFO.VALID) !== 0 ? info & INTR_INFO.VECTOR_MASK : -1;
  };
  const flag = (): number => vm.memory.read8(FLAG);
  const enable = (address = FLAG) => {
    const v = encodePvEoiMsr(address, true);
    return exit(EXIT_REASON.WRMSR, { rcx: KVM_MSR.PV_EOI_EN, rax: v.lo, rdx: v.hi });
  };
  const counter = (name: string) => stats.counterValue(`pv-eoi.${name}`);
  return { sim, stats, vm, vcpu, strategy, state, cpu, vmcs, exit, enter, injected, flag, enable, counter };
}

describe('MSR_KVM_PV_EOI_EN (0x4B564D04): its value, as kvm_lapic_set_pv_eoi checks it', () => {
  it('bit 0 enables, bit 1 is reserved, bits 63:2 are the flag address, which must be in guest RAM', () => {
    expect(KVM_MSR.PV_EOI_EN).toBe(0x4b564d04);
    expect(encodePvEoiMsr(0x20_2000, true)).toEqual({ lo: 0x20_2001, hi: 0 });
    expect(encodePvEoiMsr(0x1_0000_0004, false)).toEqual({ lo: 4, hi: 1 });
    expect(pvEoiFlagAddress(0x20_2001, 0)).toBe(0x20_2000);
    expect(pvEoiFlagAddress(0xfffffffd, 0)).toBe(0xfffffffc);
    expect(pvEoiFlagAddress(0x5, 0x1)).toBe(0x1_0000_0004);
    expect(pvEoiMsrFault(0x20_2001, 0, RAM)).toBeNull();
    expect(pvEoiMsrFault(0x20_2003, 0, RAM)).toMatch(/reserved bit 1/);
    expect(pvEoiMsrFault(0x2, 0, RAM)).toMatch(/reserved bit 1/);
    // Disabled: only the alignment is checked (KVM maps nothing then).
    expect(pvEoiMsrFault(0xe000_0000, 7, RAM)).toBeNull();
    // Enabled: the 4 bytes must be RAM — not past its end, not MMIO, not above 4 GiB.
    expect(pvEoiMsrFault(RAM - 4 + 1, 0, RAM)).toBeNull();
    expect(pvEoiMsrFault(RAM + 1, 0, RAM)).toMatch(/not in the guest's RAM/);
    expect(pvEoiMsrFault(0xfee0_0001, 0, RAM)).toMatch(/not in the guest's RAM/);
    expect(pvEoiMsrFault(0x1, 1, RAM)).toMatch(/not in the guest's RAM/);
  });

  it('an accepted write is kept (RDMSR reads it back) and costs an MSR emulation; a refused one is #GP(0) and changes nothing', () => {
    const s = setup();
    expect(s.enable()).toBe(COSTS.exitDispatch + COSTS.msrEmulation);
    expect(s.vcpu.pendingEvent).toBe(0);
    expect(s.state.flagAddress).toBe(FLAG);
    s.exit(EXIT_REASON.RDMSR, { rcx: KVM_MSR.PV_EOI_EN });
    expect(s.vcpu.readPending).toBe(true);
    expect([s.vcpu.completeLo, s.vcpu.completeHi]).toEqual([FLAG | 1, 0]);
    for (const [lo, hi] of [
      [FLAG | 3, 0],
      [0xe000_0001, 0],
      [RAM | 1, 0],
      [1, 0xffffffff],
    ] as const) {
      s.vcpu.pendingEvent = 0;
      s.exit(EXIT_REASON.WRMSR, { rcx: KVM_MSR.PV_EOI_EN, rax: lo, rdx: hi });
      expect(s.vcpu.pendingEvent).toBe(GP);
      expect(s.state.flagAddress).toBe(FLAG);
      expect([s.state.msrLo, s.state.msrHi]).toEqual([FLAG | 1, 0]);
    }
    expect(s.counter('msr-refused')).toBe(4);
    // Disabling: accepted, and the host stops setting the flag.
    s.vcpu.pendingEvent = 0;
    s.exit(EXIT_REASON.WRMSR, { rcx: KVM_MSR.PV_EOI_EN, rax: 0, rdx: 0 });
    expect(s.vcpu.pendingEvent).toBe(0);
    expect(s.state.flagAddress).toBe(-1);
    s.vcpu.apic.raise(0x41);
    s.enter();
    expect(s.injected()).toBe(0x41);
    expect(s.flag()).toBe(0);
  });

  it('other MSRs are left to the hypervisor (accepted and ignored, as today)', () => {
    const s = setup();
    s.exit(EXIT_REASON.WRMSR, { rcx: 0x4b564d03, rax: 0xdead, rdx: 0 });
    expect(s.vcpu.pendingEvent).toBe(0);
    expect(s.state.flagAddress).toBe(-1);
  });
});

describe('the skipped path: the flag set at injection, cleared by the guest, the EOI done by the host after the next exit', () => {
  for (const apicMode of ['x2apic', 'xapic'] as const) {
    it(`${apicMode}: one interrupt, nothing else pending → flag byte 0x01 at entry; guest clears it; no EOI exit; the next exit (any reason) EOIs the virtual LAPIC`, () => {
      const s = setup(apicMode);
      s.enable();
      s.vm.memory.write32(FLAG, 0xabcd_ef00);
      s.vcpu.apic.raise(0x41);
      expect(s.enter()).toBe(COSTS.injection);
      expect(s.injected()).toBe(0x41);
      expect(s.vcpu.apic.highestInService()).toBe(0x41);
      // pv_eoi_set_pending: KVM_PV_EOI_ENABLED written as one byte; the rest of the word untouched.
      expect(s.vm.memory.read32(FLAG)).toBe(0xabcd_ef01);
      expect(s.state.pending).toBe(true);
      expect(s.counter('flag-set')).toBe(1);
      // The guest's kvm_guest_apic_eoi_write: bit 0 was set, so it clears it and writes no EOI.
      s.vm.memory.write8(FLAG, s.flag() & ~1);
      expect(s.vcpu.apic.highestInService()).toBe(0x41);
      // The next exit, say an external interrupt: the host reads the flag, finds it clear, EOIs.
      const eois = s.vcpu.counters.virtualEois.value;
      s.exit(EXIT_REASON.EXTERNAL_INTERRUPT);
      expect(s.vcpu.apic.highestInService()).toBe(-1);
      expect(s.vcpu.counters.virtualEois.value).toBe(eois + 1);
      expect(s.counter('eois-skipped')).toBe(1);
      expect(s.state.pending).toBe(false);
      expect(s.stats.counterValue('kvm.exits-handled.wrmsr')).toBe(1); // only the MSR_KVM_PV_EOI_EN write
      // Its cost (apic_set_eoi) is charged with the next entry, since the exit was the hypervisor's.
      expect(s.enter()).toBe(PV_EOI_COST);
      expect(s.flag()).toBe(0);
    });
  }

  it('an exit the strategy handles itself (the MSR) charges the PV EOI with it', () => {
    const s = setup();
    s.enable();
    s.vcpu.apic.raise(0x41);
    s.enter();
    s.vm.memory.write8(FLAG, 0);
    expect(s.exit(EXIT_REASON.RDMSR, { rcx: KVM_MSR.PV_EOI_EN })).toBe(
      COSTS.exitDispatch + PV_EOI_COST + COSTS.msrEmulation,
    );
    expect(s.vcpu.apic.highestInService()).toBe(-1);
  });
});

describe('the unskipped path: no flag, and the guest EOI exits as in baseline', () => {
  it('another interrupt pending in IRR at entry (irr_pending): the flag stays clear; the EOI write exits and is emulated', () => {
    const s = setup();
    s.enable();
    // 0x41 deliverable now, 0x42 in IRR behind it (same class: held by PPR once 0x41 is in service).
    s.vcpu.apic.raise(0x41);
    s.vcpu.apic.raise(0x42);
    s.enter();
    expect(s.injected()).toBe(0x42);
    expect(s.vcpu.apic.highestPending()).toBe(0x41);
    expect(s.flag()).toBe(0);
    expect(s.counter('flag-set')).toBe(0);
    s.exit(EXIT_REASON.WRMSR, { rcx: MSR.X2APIC_EOI });
    expect(s.stats.counterValue('kvm.exits-handled.wrmsr')).toBe(2);
    expect(s.vcpu.apic.highestInService()).toBe(-1);
    // Now 0x41 alone: its injection sets the flag.
    s.enter();
    expect(s.injected()).toBe(0x41);
    expect(s.flag()).toBe(1);
  });

  it('nested: an interrupt injected inside another gets the flag; the outer one, once the inner is EOI’d, does not — its EOI exits', () => {
    const s = setup();
    s.enable();
    s.vcpu.apic.raise(0x41);
    s.enter();
    expect(s.flag()).toBe(1);
    // An exit before the guest EOI'd 0x41 (its handler runs): the flag is still set, so the host withdraws it.
    s.exit(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(s.flag()).toBe(0);
    expect(s.counter('flag-withdrawn')).toBe(1);
    expect(s.vcpu.apic.highestInService()).toBe(0x41);
    // The timer's 0xEF nests inside it: the highest in service is the one just injected, so the flag is set for it.
    s.vcpu.apic.raise(0xef);
    s.enter();
    expect(s.injected()).toBe(0xef);
    expect(s.flag()).toBe(1);
    s.vm.memory.write8(FLAG, 0); // the timer handler's skipped EOI
    s.exit(EXIT_REASON.HLT);
    expect(s.vcpu.apic.highestInService()).toBe(0x41);
    // 0x41 is still in service but no injection put it there since the last EOI: no flag.
    s.enter();
    expect(s.flag()).toBe(0);
    expect(s.state.pending).toBe(false);
    s.exit(EXIT_REASON.WRMSR, { rcx: MSR.X2APIC_EOI });
    expect(s.vcpu.apic.highestInService()).toBe(-1);
  });

  it('re-set after a withdrawal: the same interrupt still alone in service gets the flag again at the next entry', () => {
    const s = setup();
    s.enable();
    s.vcpu.apic.raise(0x41);
    s.enter();
    s.exit(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(s.flag()).toBe(0);
    s.enter();
    expect(s.injected()).toBe(-1);
    expect(s.flag()).toBe(1);
    expect(s.counter('flag-set')).toBe(2);
  });
});

describe('a hostile guest', () => {
  it('sets the flag itself, or writes garbage into the word: the host ignores it (nothing pending) and EOIs nothing', () => {
    const s = setup();
    s.enable();
    s.vcpu.apic.raise(0x41);
    s.vcpu.apic.raise(0x42);
    s.enter();
    s.vm.memory.write32(FLAG, 0xffff_ffff);
    s.exit(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(s.vcpu.apic.highestInService()).toBe(0x42);
    expect(s.counter('eois-skipped')).toBe(0);
  });

  it('never clears the flag and never EOIs: the host withdraws it at every exit, the vector stays in service (as a guest that never EOIs in baseline)', () => {
    const s = setup();
    s.enable();
    s.vcpu.apic.raise(0x41);
    s.enter();
    for (let i = 0; i < 5; i++) {
      s.exit(EXIT_REASON.EXTERNAL_INTERRUPT);
      expect(s.flag()).toBe(0);
      s.enter();
      expect(s.flag()).toBe(1);
    }
    expect(s.vcpu.apic.highestInService()).toBe(0x41);
    expect(s.counter('flag-withdrawn')).toBe(5);
  });

  it('clears the flag and also writes the EOI: one EOI, not two (the write exits after the host EOI’d)', () => {
    const s = setup();
    s.enable();
    s.vcpu.apic.raise(0xef);
    s.enter();
    s.vcpu.apic.raise(0x41); // an interrupt of a lower class waits in IRR; stays there
    s.vm.memory.write8(FLAG, 0);
    s.exit(EXIT_REASON.WRMSR, { rcx: MSR.X2APIC_EOI });
    // The PV EOI ended 0xEF; the written EOI then found nothing in service.
    expect(s.vcpu.apic.highestInService()).toBe(-1);
    expect(s.vcpu.apic.highestPending()).toBe(0x41);
  });

  it('moves the flag to the end of RAM, then past it: accepted, then #GP; the host never writes outside RAM', () => {
    const s = setup();
    s.enable(RAM - 4);
    s.vcpu.apic.raise(0x41);
    s.enter();
    expect(s.vm.memory.read8(RAM - 4)).toBe(1);
    s.vcpu.pendingEvent = 0;
    s.exit(EXIT_REASON.WRMSR, { rcx: KVM_MSR.PV_EOI_EN, rax: RAM | KVM_PV_EOI.MSR_ENABLED, rdx: 0 });
    expect(s.vcpu.pendingEvent).toBe(GP);
    expect(s.state.flagAddress).toBe(RAM - 4);
  });
});

describe('pvEoiStrategy', () => {
  it('reads host.injection, host.msrEmulation and host.eoiEmulation from the profile', () => {
    const read: string[] = [];
    const sim = new Simulator();
    const st = pvEoiStrategy({
      value: (k) => {
        read.push(k);
        return 1;
      },
      stats: new Stats(sim).scope('pv-eoi'),
    });
    expect(st.name).toBe('pv-eoi');
    expect(read.sort()).toEqual(['host.eoiEmulation', 'host.injection', 'host.msrEmulation']);
  });
});
