/**
 * ELI's own logic, without a CPU: the shadow IDT it builds from a guest IDT, the VMCS fields
 * and MSR-bitmap bit of each mode, the switches between them, and LIDT/SIDT emulation. The
 * VMCS is a map of field encodings (what vmread/vmwrite see); whole-machine behaviour is
 * tested in @exitless/machine.
 */
import { AssignedFunction, HOST_VECTOR, Vcpu, Vm } from '@exitless/hypervisor';
import { InterruptRemappingTable, PageAllocator } from '@exitless/iommu';
import { InterruptBus } from '@exitless/lapic';
import { Simulator, Stats } from '@exitless/sim';
import {
  type CpuContext,
  DESCRIPTOR_TABLE_INSTRUCTION,
  decodeIdtGate,
  EXCEPTION,
  EXIT_REASON,
  encodeCompatMsiAddress,
  encodeCompatMsiData,
  encodeIdtGate,
  encodeIdtr,
  IDT_GATE_SIZE,
  interruptGate,
  type MmioDevice,
  MSR,
  msrBitmapPosition,
  PIN_BASED,
  PROC_BASED2,
  SparseMemory,
  VMCS_FIELD,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { EliStrategy } from '../src/index.js';

const SHADOW = 0xfeb0_0000;
const GUEST_IDT = 0x10_0000;
const HANDLER = (v: number) => 0x20_0000 + v * 0x100;

class NullMsix implements MmioDevice {
  mmioRead(): number {
    return 0;
  }
  mmioWrite(): void {}
}

/** The parts of a CPU ELI touches: a VMCS as a map, and the registers of an exit. */
function fakeCpu() {
  const vmcs = new Map<number, number>();
  const cpu = {
    now: 0,
    rax: 0,
    rcx: 0,
    rdx: 0,
    vmread: (f: number) => vmcs.get(f) ?? 0,
    vmwrite: (f: number, v: number) => {
      vmcs.set(f, v);
    },
  };
  return { cpu: cpu as unknown as CpuContext & typeof cpu, vmcs };
}

function setup(exitlessEoi: boolean) {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const memory = new SparseMemory(1 << 30);
  const pages = new PageAllocator(memory, 0x100_0000, 0x10_0000);
  const irt = new InterruptRemappingTable(memory, pages, 256);
  const vm = new Vm({ name: 'vm', memorySize: 64 << 20, apicMode: 'x2apic' }, memory, 0x2000_0000, 2.93e9);
  vm.strategyPage = 0x60_0000;
  const fn = new AssignedFunction({
    config: {
      requesterId: 0x0380,
      hostBar0: 0xf000_0000,
      bar0Size: 0x4000,
      hostBar3: 0xf100_0000,
      bar3Size: 0x4000,
      msix: new NullMsix(),
      guestBar0: 0xe000_0000,
      guestBar3: 0xe100_0000,
      vectors: 2,
    },
    irt,
    irteBase: 0,
    hostVectorBase: HOST_VECTOR.ASSIGNED_BASE,
    destinationApicId: () => 0,
    x2apicDestinations: true,
    stats: stats.scope('assigned'),
  });
  vm.assigned.push(fn);
  const vcpu = new Vcpu({
    id: 0,
    vm,
    pcpu: 0,
    pcpuApicId: 0,
    vmcsAddress: 0x30_0000,
    msrBitmapAddress: 0x40_0000,
    sim,
    bus: new InterruptBus({ sim, ipiLatencyPs: 0 }),
    tscHz: 2.93e9,
    virtualTimerHz: 133.33e6,
    stats: stats.scope('vcpu'),
    onTimerChange: () => {},
  });
  vcpu.writeApicMsr(MSR.IA32_APIC_BASE, 0xfee00000 | 0xc00, 0);
  vcpu.writeApicMsr(MSR.X2APIC_SVR, 0x1ff, 0);
  // The guest's IDT: every vector to its own handler.
  const gate = new Uint8Array(IDT_GATE_SIZE);
  for (let v = 0; v < 256; v++) {
    encodeIdtGate(interruptGate(HANDLER(v)), gate);
    vm.memory.writeBytes(GUEST_IDT + v * IDT_GATE_SIZE, gate);
  }
  // The guest programs MSI-X entry 0 with its vector 0x41 and unmasks it: host vector 0x51.
  fn.writeMsix(0xe100_0000, encodeCompatMsiAddress({ destination: 0, redirectionHint: 0, destMode: 0 }));
  fn.writeMsix(0xe100_0008, encodeCompatMsiData({ vector: 0x41, deliveryMode: 0, level: 0, triggerMode: 0 }));
  fn.writeMsix(0xe100_000c, 0);
  memory.fill(vcpu.msrBitmapAddress, 4096, 0xff);
  vcpu.adjustControl = (_f, v) => v;
  const eli = new EliStrategy({
    exitlessEoi,
    preemptionTimerPs: 5e9,
    tscHz: 2.93e9,
    preemptionRate: 5,
    costs: {
      injection: 1,
      modeSwitch: 1,
      shadowRebuild: 1,
      hostInterruptExit: 1,
      descriptorTableEmulation: 1,
      preemptionTimerExit: 1,
      eoiExit: 1,
      apicReadEmulation: 1,
    },
    stats: stats.scope('eli'),
  });
  const { cpu, vmcs } = fakeCpu();
  return { memory, vm, vcpu, eli, cpu, vmcs };
}

/** The guest's LIDT of its IDT, emulated by ELI as a descriptor-table exit. */
function guestLidt(s: ReturnType<typeof setup>, base: number, limit: number): void {
  const at = 0x8000;
  const bytes = new Uint8Array(10);
  encodeIdtr(limit, BigInt(base), bytes);
  s.vm.memory.writeBytes(at, bytes);
  s.vmcs.set(VMCS_FIELD.EXIT_QUALIFICATION, at);
  s.vmcs.set(VMCS_FIELD.VMX_INSTRUCTION_INFO, DESCRIPTOR_TABLE_INSTRUCTION.LIDT << 28);
  expect(s.eli.handleExit(s.cpu, s.vcpu, EXIT_REASON.GDTR_IDTR_ACCESS)).toBeGreaterThanOrEqual(0);
}

function shadowGate(s: ReturnType<typeof setup>, v: number) {
  const bytes = new Uint8Array(IDT_GATE_SIZE);
  s.memory.readBytes(s.vm.strategyPage + v * IDT_GATE_SIZE, bytes);
  return decodeIdtGate(bytes);
}

function eoiWriteIntercepted(s: ReturnType<typeof setup>): boolean {
  const pos = msrBitmapPosition(MSR.X2APIC_EOI, true);
  return ((s.memory.read8(s.vcpu.msrBitmapAddress + (pos >>> 3)) >>> (pos & 7)) & 1) === 1;
}

describe('ELI: direct mode and the shadow IDT', () => {
  it("builds the shadow from the guest's IDT: exceptions kept, external vectors not present, the assigned host vector carrying the guest's gate", () => {
    const s = setup(true);
    s.eli.configureVcpu(s.cpu, s.vcpu);
    guestLidt(s, GUEST_IDT, 0xfff);
    for (const v of [0, EXCEPTION.NP, EXCEPTION.GP, 31]) {
      expect(shadowGate(s, v)).toMatchObject({ present: true, offset: BigInt(HANDLER(v)) });
    }
    for (const v of [0x20, 0x41, 0x50, 0x52, 0xef, 0xff]) expect(shadowGate(s, v).present).toBe(false);
    // Host vector 0x51 (MSI-X entry 0) carries the guest's gate for its vector 0x41.
    expect(shadowGate(s, HOST_VECTOR.ASSIGNED_BASE)).toMatchObject({
      present: true,
      offset: BigInt(HANDLER(0x41)),
    });
  });

  it('direct mode: external-interrupt exiting off, preemption timer on, #NP in the exception bitmap, IDTR at the shadow, descriptor-table exiting on', () => {
    const s = setup(true);
    s.eli.configureVcpu(s.cpu, s.vcpu);
    const pin = s.vmcs.get(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL)!;
    expect(pin & PIN_BASED.EXTERNAL_INTERRUPT_EXITING).toBe(0);
    expect(pin & PIN_BASED.ACTIVATE_PREEMPTION_TIMER).not.toBe(0);
    expect(s.vmcs.get(VMCS_FIELD.EXCEPTION_BITMAP)).toBe(1 << EXCEPTION.NP);
    expect(s.vmcs.get(VMCS_FIELD.GUEST_IDTR_BASE)).toBe(SHADOW);
    expect(s.vmcs.get(VMCS_FIELD.GUEST_IDTR_LIMIT)).toBe(0xfff);
    expect(s.vmcs.get(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL)! & PROC_BASED2.DESCRIPTOR_TABLE_EXITING).not.toBe(
      0,
    );
    // 5 ms at 2.93 GHz >> IA32_VMX_MISC[4:0] = 5.
    expect(s.vmcs.get(VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE)).toBe(Math.round(14_650_000 / 32));
    expect(s.eli.isDirect(s.vcpu)).toBe(true);
  });

  it('the EOI MSR write is passed through with exitless EOI (eli) and intercepted without (eli-delivery)', () => {
    const eli = setup(true);
    eli.eli.configureVcpu(eli.cpu, eli.vcpu);
    expect(eoiWriteIntercepted(eli)).toBe(false);
    const delivery = setup(false);
    delivery.eli.configureVcpu(delivery.cpu, delivery.vcpu);
    expect(eoiWriteIntercepted(delivery)).toBe(true);
  });

  it("SIDT shows the guest its own IDTR, exactly, never the shadow's", () => {
    const s = setup(true);
    s.eli.configureVcpu(s.cpu, s.vcpu);
    guestLidt(s, GUEST_IDT, 0x7ff);
    s.vmcs.set(VMCS_FIELD.EXIT_QUALIFICATION, 0x9000);
    s.vmcs.set(VMCS_FIELD.VMX_INSTRUCTION_INFO, DESCRIPTOR_TABLE_INSTRUCTION.SIDT << 28);
    s.eli.handleExit(s.cpu, s.vcpu, EXIT_REASON.GDTR_IDTR_ACCESS);
    expect(s.vm.memory.read16(0x9000)).toBe(0x7ff);
    expect(s.vm.memory.read32(0x9002)).toBe(GUEST_IDT);
    expect(s.vm.memory.read32(0x9006)).toBe(0);
    expect(s.vmcs.get(VMCS_FIELD.GUEST_IDTR_BASE)).toBe(SHADOW);
  });
});

describe('ELI: injection mode', () => {
  it("a pending virtual interrupt switches to the guest's own IDT with external-interrupt exiting and EOI trapping on, and returns once it is EOI'd", () => {
    const s = setup(true);
    s.eli.configureVcpu(s.cpu, s.vcpu);
    guestLidt(s, GUEST_IDT, 0xfff);
    s.vcpu.raise(0xef);
    s.eli.beforeEntry(s.cpu, s.vcpu);
    expect(s.eli.isDirect(s.vcpu)).toBe(false);
    expect(s.vmcs.get(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL)! & PIN_BASED.EXTERNAL_INTERRUPT_EXITING).not.toBe(
      0,
    );
    expect(s.vmcs.get(VMCS_FIELD.GUEST_IDTR_BASE)).toBe(GUEST_IDT);
    expect(s.vmcs.get(VMCS_FIELD.EXCEPTION_BITMAP)).toBe(0);
    expect(eoiWriteIntercepted(s)).toBe(true);
    // Before injecting, ELI asks for the physical ISR (a directly delivered interrupt may
    // outrank the virtual one); with it read and empty, the next pass injects 0xEF.
    expect(s.vcpu.hostOpKind).toBe(1);
    expect(s.vcpu.hostOpIndex).toBe(MSR.X2APIC_ISR0 + (HOST_VECTOR.ASSIGNED_BASE >>> 5));
    s.vcpu.hostOpKind = 0;
    s.vcpu.hostOpDone!(0, 0);
    s.vmcs.set(VMCS_FIELD.GUEST_RFLAGS, 0x202); // the guest can take it: IF = 1
    s.eli.beforeEntry(s.cpu, s.vcpu);
    expect(s.vmcs.get(VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(0x8000_00ef);
    // The guest EOIs it (emulated), and the next entry is in direct mode again.
    expect(s.vcpu.writeApicMsr(MSR.X2APIC_EOI, 0, 0)).toBe(0xef);
    s.eli.beforeEntry(s.cpu, s.vcpu);
    expect(s.eli.isDirect(s.vcpu)).toBe(true);
    expect(s.vmcs.get(VMCS_FIELD.GUEST_IDTR_BASE)).toBe(SHADOW);
  });

  it("holds an injection while the physical ISR shows the guest's directly delivered interrupt of the same class in service", () => {
    const s = setup(true);
    s.eli.configureVcpu(s.cpu, s.vcpu);
    guestLidt(s, GUEST_IDT, 0xfff);
    s.vcpu.raise(0x41);
    s.eli.beforeEntry(s.cpu, s.vcpu);
    s.vcpu.hostOpKind = 0;
    // Host vector 0x51 is in service: bit 17 of ISR word 2.
    s.vcpu.hostOpDone!(1 << (HOST_VECTOR.ASSIGNED_BASE & 31), 0);
    s.vmcs.set(VMCS_FIELD.VM_ENTRY_INTR_INFO, 0);
    s.vmcs.set(VMCS_FIELD.GUEST_RFLAGS, 0x202);
    s.eli.beforeEntry(s.cpu, s.vcpu);
    expect(s.vmcs.get(VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(0);
    expect(s.vcpu.vlapic.hasInterrupt()).toBe(true);
  });

  it("while the guest's TPR masks its device's class, the vCPU stays in injection mode (SDM §10.8.3.1)", () => {
    const s = setup(true);
    s.eli.configureVcpu(s.cpu, s.vcpu);
    s.vcpu.writeApicMsr(MSR.X2APIC_TPR, 0x40, 0);
    s.eli.beforeEntry(s.cpu, s.vcpu);
    expect(s.eli.isDirect(s.vcpu)).toBe(false);
    s.vcpu.writeApicMsr(MSR.X2APIC_TPR, 0x30, 0);
    s.eli.beforeEntry(s.cpu, s.vcpu);
    expect(s.eli.isDirect(s.vcpu)).toBe(true);
  });
});
