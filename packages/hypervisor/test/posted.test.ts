/**
 * `posted` against the seam, without a CPU: a CpuContext double holds the VMCS as a map; the
 * real vCPU, virtual LAPIC and VM run around the strategy, and the descriptor and the
 * virtual-APIC page are host memory, read back with the IOMMU's codec (VT-d §9.12). Written in
 * the terms of SDM vol. 3 ch. 29 and KVM's posted_intr.c.
 */

import { decodePostedInterruptDescriptor } from '@exitless/iommu';
import { InterruptBus } from '@exitless/lapic';
import { Simulator, Stats } from '@exitless/sim';
import {
  type CpuContext,
  EXIT_CONTROLS,
  MSR,
  msrBitmapPosition,
  POSTED_INTERRUPT_DESCRIPTOR as PID,
  PIN_BASED,
  PROC_BASED,
  PROC_BASED2,
  SparseMemory,
  VMCS_FIELD,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  descriptorControl,
  HOST_VECTOR,
  initPostedDescriptor,
  PostedStrategy,
  postInterrupt,
  syncPirToVirr,
  Vcpu,
  Vm,
} from '../src/index.js';

const PAGE = 0x70_0000;
const DESC = 0x80_0040;
const BITMAP = 0x40_0000;
const INJECTION = 7;

function descriptor(memory: SparseMemory, at: number) {
  const w = new Uint32Array(16);
  for (let i = 0; i < 16; i++) w[i] = memory.read32(at + 4 * i);
  return decodePostedInterruptDescriptor(w);
}

function setup() {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const memory = new SparseMemory(1 << 30);
  const vm = new Vm({ name: 'vm', memorySize: 64 << 20, apicMode: 'x2apic' }, memory, 0x2000_0000, 2e9);
  const vcpu = new Vcpu({
    id: 0,
    vm,
    pcpu: 0,
    pcpuApicId: 5,
    vmcsAddress: 0x30_0000,
    msrBitmapAddress: BITMAP,
    virtualApicAddress: PAGE,
    postedDescriptorAddress: DESC,
    sim,
    bus: new InterruptBus({ sim, ipiLatencyPs: 0 }),
    tscHz: 2e9,
    virtualTimerHz: 25e6,
    stats: stats.scope('vcpu0'),
  });
  memory.fill(BITMAP, 4096, 0xff);
  const strategy = new PostedStrategy({ injection: INJECTION, eoi: 11 }, stats.scope('posted'));
  const st = strategy.createVcpuState(vcpu);
  const vmcs = new Map<number, number>();
  const cpu = {
    now: 0,
    rcx: 0,
    vmread: (f: number) => vmcs.get(f) ?? 0,
    vmwrite: (f: number, v: number) => {
      vmcs.set(f, v);
    },
  } as unknown as CpuContext;
  strategy.configureVcpu(cpu, vcpu, st);
  return { memory, vcpu, strategy, st, vmcs, cpu, stats };
}

const intercepted = (memory: SparseMemory, msr: number, write: boolean) => {
  const pos = msrBitmapPosition(msr, write);
  return ((memory.read8(BITMAP + (pos >>> 3)) >>> (pos & 7)) & 1) === 1;
};

describe('posted: the posted-interrupt descriptor, bit-exact (SDM §29.6 table 29-1, VT-d §9.12)', () => {
  it('initPostedDescriptor writes PIR 0, ON = SN = 0, NV at bits 279:272 and NDST at bits 319:288; post sets PIR[v] and ON (bit 256)', () => {
    const memory = new SparseMemory(1 << 20);
    initPostedDescriptor(memory, 0x1000, 0xf2, 0x12345678);
    expect(memory.read32(0x1000 + 32)).toBe(0x00f2_0000);
    expect(memory.read32(0x1000 + 36)).toBe(0x12345678);
    postInterrupt(memory, 0x1000, 0x41);
    // Vector 0x41 = bit 65: dword 2, bit 1.
    expect(memory.read32(0x1000 + 8)).toBe(0x2);
    expect(memory.read32(0x1000 + 32)).toBe(0x00f2_0001);
    const d = descriptor(memory, 0x1000);
    expect(d.outstandingNotification).toBe(true);
    expect(d.suppressNotification).toBe(false);
    expect(d.notificationVector).toBe(0xf2);
    expect(d.notificationDestination).toBe(0x12345678);
    expect(Array.from(d.pir)).toEqual([0, 0, 2, 0, 0, 0, 0, 0]);
  });

  it('syncPirToVirr: nothing while ON is clear; with ON, ON cleared, PIR ORed into VIRR (200H + 10H·i) and cleared, the highest VIRR vector returned', () => {
    const memory = new SparseMemory(1 << 20);
    initPostedDescriptor(memory, 0x1000, 0xf2, 0);
    memory.write32(0x1000 + 8, 0x2); // PIR[0x41] without ON (as the IOMMU leaves it with SN set)
    expect(syncPirToVirr(memory, 0x1000, 0x4000)).toBe(-2);
    memory.write32(0x4000 + 0x200 + 0x10 * 7, 0x8000_0000); // VIRR[0xFF] already set
    postInterrupt(memory, 0x1000, 0x61);
    expect(syncPirToVirr(memory, 0x1000, 0x4000)).toBe(0xff);
    expect(memory.read32(0x4000 + 0x220)).toBe(0x2); // 0x41
    expect(memory.read32(0x4000 + 0x230)).toBe(0x2); // 0x61
    expect(descriptorControl(memory, 0x1000) & PID.ON).toBe(0);
    for (let i = 0; i < 8; i++) expect(memory.read32(0x1000 + 4 * i)).toBe(0);
  });
});

describe('posted: configureVcpu', () => {
  it('sets the APICv controls, the notification vector 0xF2, the 64-byte descriptor (NV 0xF2, NDST = the physical APIC ID), an empty EOI-exit bitmap', () => {
    const { vmcs, memory } = setup();
    expect(vmcs.get(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL)).toBe(
      PIN_BASED.EXTERNAL_INTERRUPT_EXITING | PIN_BASED.NMI_EXITING | PIN_BASED.PROCESS_POSTED_INTERRUPTS,
    );
    const proc = vmcs.get(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL)!;
    expect(proc & PROC_BASED.USE_TPR_SHADOW).not.toBe(0);
    expect(proc & PROC_BASED.HLT_EXITING).not.toBe(0);
    const proc2 = vmcs.get(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL)!;
    expect(proc2 & PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY).not.toBe(0);
    expect(proc2 & PROC_BASED2.APIC_REGISTER_VIRTUALIZATION).not.toBe(0);
    expect(vmcs.get(VMCS_FIELD.VM_EXIT_CONTROLS)! & EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT).not.toBe(0);
    expect(vmcs.get(VMCS_FIELD.POSTED_INTR_NOTIFICATION_VECTOR)).toBe(0xf2);
    expect(vmcs.get(VMCS_FIELD.POSTED_INTR_DESC_ADDR)).toBe(DESC);
    expect(vmcs.get(VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR)).toBe(PAGE);
    for (const f of [
      VMCS_FIELD.EOI_EXIT_BITMAP0,
      VMCS_FIELD.EOI_EXIT_BITMAP1,
      VMCS_FIELD.EOI_EXIT_BITMAP2,
      VMCS_FIELD.EOI_EXIT_BITMAP3,
    ])
      expect(vmcs.get(f)).toBe(0);
    const d = descriptor(memory, DESC);
    expect(d.notificationVector).toBe(HOST_VECTOR.POSTED_INTR);
    expect(d.notificationDestination).toBe(5);
    expect(d.outstandingNotification).toBe(false);
  });

  it('once the guest is in x2APIC mode: "virtualize x2APIC mode", TPR/EOI/SELF IPI writes and readable registers pass through; ICR and timer writes and TMCCT and EOI reads still exit; the page mirrors the emulated registers', () => {
    const { vmcs, memory, vcpu, strategy, st, cpu } = setup();
    strategy.beforeEntry(cpu, vcpu, st);
    expect(vmcs.get(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL)! & PROC_BASED2.VIRTUALIZE_X2APIC_MODE).toBe(0);
    expect(intercepted(memory, MSR.X2APIC_EOI, true)).toBe(true);
    vcpu.apic.writeMsr(MSR.IA32_APIC_BASE, 0xfee00000 | 0xc00, 0);
    vcpu.apic.writeMsr(MSR.X2APIC_SVR, 0x1ff, 0);
    strategy.beforeEntry(cpu, vcpu, st);
    expect(vmcs.get(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL)! & PROC_BASED2.VIRTUALIZE_X2APIC_MODE).not.toBe(0);
    for (const m of [MSR.X2APIC_TPR, MSR.X2APIC_EOI, MSR.X2APIC_SELF_IPI])
      expect(intercepted(memory, m, true)).toBe(false);
    for (const m of [MSR.X2APIC_ICR, MSR.X2APIC_LVT_TIMER, 0x838])
      expect(intercepted(memory, m, true)).toBe(true);
    for (const m of [MSR.X2APIC_TPR, MSR.X2APIC_ISR0, MSR.X2APIC_IRR0, MSR.X2APIC_SVR])
      expect(intercepted(memory, m, false)).toBe(false);
    for (const m of [0x839, MSR.X2APIC_EOI, MSR.X2APIC_SELF_IPI, 0x804])
      expect(intercepted(memory, m, false)).toBe(true);
    expect(memory.read32(PAGE + 0xf0)).toBe(0x1ff);
  });
});

describe('posted: interrupts the host raises, blocking and preemption', () => {
  it("the emulated timer's vector (raised in the emulated LAPIC) is posted and synced into VIRR before the entry, RVI = the vector, one injection's cost", () => {
    const { memory, vcpu, strategy, st, cpu, vmcs } = setup();
    vcpu.apic.writeMsr(MSR.IA32_APIC_BASE, 0xfee00000 | 0xc00, 0);
    vcpu.apic.writeMsr(MSR.X2APIC_SVR, 0x1ff, 0);
    vcpu.apic.raise(0xec);
    expect(strategy.hasInterrupt(vcpu, st)).toBe(true);
    expect(strategy.beforeEntry(cpu, vcpu, st)).toBe(INJECTION);
    expect(vcpu.apic.highestPending()).toBe(-1);
    expect(vcpu.apic.highestInService()).toBe(-1);
    expect(memory.read32(PAGE + 0x200 + 0x70) >>> 12).toBe(1); // VIRR[0xEC]
    expect(vmcs.get(VMCS_FIELD.GUEST_INTERRUPT_STATUS)! & 0xff).toBe(0xec);
    expect(strategy.counters.hostPosted.value).toBe(1);
    // Nothing new: no sync, no cost.
    expect(strategy.beforeEntry(cpu, vcpu, st)).toBe(0);
  });

  it('pre_block: NV = 0xF1, NDST = this CPU; post_block: NV = 0xF2; a vector below VPPR does not wake a blocked vCPU', () => {
    const { memory, vcpu, strategy, st } = setup();
    strategy.preBlock(vcpu, st);
    expect(descriptor(memory, DESC).notificationVector).toBe(HOST_VECTOR.POSTED_INTR_WAKEUP);
    expect(descriptor(memory, DESC).notificationDestination).toBe(5);
    expect(strategy.hasInterrupt(vcpu, st)).toBe(false);
    memory.write32(PAGE + 0xa0, 0x50); // VPPR class 5
    postInterrupt(memory, DESC, 0x45);
    expect(strategy.hasInterrupt(vcpu, st)).toBe(false);
    postInterrupt(memory, DESC, 0x61);
    expect(strategy.hasInterrupt(vcpu, st)).toBe(true);
    strategy.hostInterrupt(0, HOST_VECTOR.POSTED_INTR_WAKEUP, vcpu, st);
    expect(strategy.counters.wakeupKicks.value).toBe(1);
    strategy.postBlock(vcpu, st);
    expect(descriptor(memory, DESC).notificationVector).toBe(HOST_VECTOR.POSTED_INTR);
  });

  it('vcpu_put sets SN; vcpu_load clears it and sets ON when the PIR holds something the IOMMU posted meanwhile', () => {
    const { memory, vcpu, strategy, st } = setup();
    strategy.vcpuPut(vcpu, st);
    expect(descriptor(memory, DESC).suppressNotification).toBe(true);
    memory.write32(DESC + 8, 0x2); // what the IOMMU does with SN set: PIR only
    strategy.vcpuLoad(vcpu, st);
    const d = descriptor(memory, DESC);
    expect(d.suppressNotification).toBe(false);
    expect(d.outstandingNotification).toBe(true);
  });
});
