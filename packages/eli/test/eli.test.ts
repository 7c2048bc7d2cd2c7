/**
 * ELI's own logic, without a CPU: the shadow IDT it builds from a guest IDT, the VMCS fields
 * and MSR-bitmap bit of each mode, the switches between them, its exits (#NP, LIDT/SIDT, the
 * trapped EOI) and its factory. The VMCS is a map of field encodings (what vmread/vmwrite
 * see); the vCPU is the hypervisor's own `Vcpu`, seen by ELI only through `VcpuControl`.
 * Whole-machine behaviour is tested in @exitless/machine.
 */
import { AFTER_EXIT, AssignedFunction, HOST_MSR_OP, HOST_VECTOR, Vcpu, Vm } from '@exitless/hypervisor';
import { InterruptRemappingTable, PageAllocator } from '@exitless/iommu';
import { InterruptBus } from '@exitless/lapic';
import { Simulator, Stats } from '@exitless/sim';
import {
  type CpuContext,
  DESCRIPTOR_TABLE_INSTRUCTION,
  decodeIdtGate,
  EXCEPTION,
  EXIT_CONTROLS,
  EXIT_REASON,
  encodeCompatMsiAddress,
  encodeCompatMsiData,
  encodeIdtGate,
  encodeIdtr,
  GATE_TYPE,
  IDT_GATE_SIZE,
  INTR_TYPE,
  interruptGate,
  interruptionInfo,
  type MmioDevice,
  MSR,
  msrBitmapPosition,
  PIN_BASED,
  PROC_BASED,
  PROC_BASED2,
  SparseMemory,
  VMCS_FIELD,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { ELI_MODE, EliStrategy, eliStrategy } from '../src/index.js';

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

/** Programs MSI-X entry `entry` of `fn` with guest vector `vector` and unmasks it (host vector 0x51 + entry). */
function programMsix(fn: AssignedFunction, entry: number, vector: number): void {
  const at = 0xe100_0000 + entry * 16;
  fn.writeMsix(at, encodeCompatMsiAddress({ destination: 0, redirectionHint: 0, destMode: 0 }));
  fn.writeMsix(at + 8, encodeCompatMsiData({ vector, deliveryMode: 0, level: 0, triggerMode: 0 }));
  fn.writeMsix(at + 12, 0);
}

function setup(exitlessEoi: boolean, options: { readonly haltExiting?: boolean } = {}) {
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
  });
  vcpu.apic.writeMsr(MSR.IA32_APIC_BASE, 0xfee00000 | 0xc00, 0);
  vcpu.apic.writeMsr(MSR.X2APIC_SVR, 0x1ff, 0);
  // The guest's IDT: every vector to its own handler.
  const gate = new Uint8Array(IDT_GATE_SIZE);
  for (let v = 0; v < 256; v++) {
    encodeIdtGate(interruptGate(HANDLER(v)), gate);
    vm.memory.writeBytes(GUEST_IDT + v * IDT_GATE_SIZE, gate);
  }
  // The guest programs MSI-X entry 0 with its vector 0x41 and unmasks it: host vector 0x51.
  programMsix(fn, 0, 0x41);
  memory.fill(vcpu.msrBitmapAddress, 4096, 0xff);
  const eli = new EliStrategy({
    exitlessEoi,
    ...options,
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
  const st = eli.createVcpuState(vcpu);
  const { cpu, vmcs } = fakeCpu();
  return { memory, vm, fn, vcpu, eli, st, cpu, vmcs, stats };
}

type Setup = ReturnType<typeof setup>;

/** configureVcpu, as the hypervisor calls it when the vCPU's loop starts. */
function configure(s: Setup): void {
  s.eli.configureVcpu(s.cpu, s.vcpu, s.st);
}

/** The guest's LIDT of its IDT, emulated by ELI as a descriptor-table exit. */
function guestLidt(s: Setup, base: number, limit: number): void {
  const at = 0x8000;
  const bytes = new Uint8Array(10);
  encodeIdtr(limit, BigInt(base), bytes);
  s.vm.memory.writeBytes(at, bytes);
  s.vmcs.set(VMCS_FIELD.EXIT_QUALIFICATION, at);
  s.vmcs.set(VMCS_FIELD.VMX_INSTRUCTION_INFO, DESCRIPTOR_TABLE_INSTRUCTION.LIDT << 28);
  expect(s.eli.handleExit(s.cpu, s.vcpu, EXIT_REASON.GDTR_IDTR_ACCESS, s.st)).toBeGreaterThanOrEqual(0);
}

/** The host carries out the MSR read ELI asked for, with `value` as the physical register's low half. */
function completeHostRdmsr(s: Setup, value: number): void {
  expect(s.vcpu.hostMsr.kind).toBe(HOST_MSR_OP.RDMSR);
  const done = s.vcpu.hostMsr.done!;
  s.vcpu.hostMsr.kind = HOST_MSR_OP.NONE;
  s.vcpu.hostMsr.done = null;
  done(value, 0);
}

function shadowGate(s: Setup, v: number) {
  const bytes = new Uint8Array(IDT_GATE_SIZE);
  s.memory.readBytes(s.vm.strategyPage + v * IDT_GATE_SIZE, bytes);
  return decodeIdtGate(bytes);
}

function eoiWriteIntercepted(s: Setup): boolean {
  const pos = msrBitmapPosition(MSR.X2APIC_EOI, true);
  return ((s.memory.read8(s.vcpu.msrBitmapAddress + (pos >>> 3)) >>> (pos & 7)) & 1) === 1;
}

const field = (s: Setup, f: number) => s.vmcs.get(f) ?? 0;

describe('ELI: the shadow IDT built from the guest IDT', () => {
  it("keeps the guest's exceptions, makes every external vector not present, and gives the assigned host vector the guest's gate", () => {
    const s = setup(true);
    configure(s);
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

  it('writes its not-present gates as interrupt gates with P = 0 (the CPU checks the type before the present bit: #NP, not #GP)', () => {
    const s = setup(true);
    configure(s);
    guestLidt(s, GUEST_IDT, 0xfff);
    for (const v of [32, 0x80, 0xef, 255]) {
      expect(shadowGate(s, v)).toMatchObject({ present: false, type: GATE_TYPE.INTERRUPT });
    }
  });

  it('gives each programmed MSI-X entry its own host vector with the gate of its guest vector, rebuilt when the guest reprograms its table', () => {
    const s = setup(true);
    configure(s);
    guestLidt(s, GUEST_IDT, 0xfff);
    expect(shadowGate(s, HOST_VECTOR.ASSIGNED_BASE + 1).present).toBe(false);
    const rebuilds = s.stats.counterValue('eli.shadow-rebuilds');
    programMsix(s.fn, 1, 0x42);
    // The next entry sees the new assignment and rebuilds the shadow before the guest runs.
    s.eli.beforeEntry(s.cpu, s.vcpu, s.st);
    expect(s.stats.counterValue('eli.shadow-rebuilds')).toBe(rebuilds + 1);
    expect(shadowGate(s, HOST_VECTOR.ASSIGNED_BASE + 1)).toMatchObject({
      present: true,
      offset: BigInt(HANDLER(0x42)),
    });
    expect(shadowGate(s, HOST_VECTOR.ASSIGNED_BASE)).toMatchObject({ offset: BigInt(HANDLER(0x41)) });
  });

  it("never makes present a gate beyond the guest IDT's limit", () => {
    const s = setup(true);
    configure(s);
    // A limit that covers exceptions 0–15 only (16 gates of 16 bytes) and not vector 0x41.
    guestLidt(s, GUEST_IDT, 16 * IDT_GATE_SIZE - 1);
    expect(shadowGate(s, EXCEPTION.GP).present).toBe(true);
    expect(shadowGate(s, 16).present).toBe(false);
    expect(shadowGate(s, HOST_VECTOR.ASSIGNED_BASE).present).toBe(false);
  });

  it("maps the shadow's host page read-only at its guest-physical address, outside the guest's RAM", () => {
    const s = setup(true);
    configure(s);
    expect(s.vm.isHostPage(SHADOW)).toBe(true);
    expect(SHADOW).toBeGreaterThanOrEqual(s.vm.config.memorySize);
  });
});

describe('ELI: the VMCS of direct mode', () => {
  it('external-interrupt exiting off, NMI exiting and the preemption timer on, #NP in the exception bitmap, IDTR at the shadow, descriptor-table exiting on', () => {
    const s = setup(true);
    configure(s);
    const pin = field(s, VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL);
    expect(pin & PIN_BASED.EXTERNAL_INTERRUPT_EXITING).toBe(0);
    expect(pin & PIN_BASED.NMI_EXITING).not.toBe(0);
    expect(pin & PIN_BASED.ACTIVATE_PREEMPTION_TIMER).not.toBe(0);
    expect(field(s, VMCS_FIELD.EXCEPTION_BITMAP)).toBe(1 << EXCEPTION.NP);
    expect(field(s, VMCS_FIELD.GUEST_IDTR_BASE)).toBe(SHADOW);
    expect(field(s, VMCS_FIELD.GUEST_IDTR_LIMIT)).toBe(256 * IDT_GATE_SIZE - 1);
    expect(field(s, VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL) & PROC_BASED2.DESCRIPTOR_TABLE_EXITING).not.toBe(0);
    const proc = field(s, VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
    expect(proc & PROC_BASED.USE_MSR_BITMAPS).not.toBe(0);
    expect(proc & PROC_BASED.INTERRUPT_WINDOW_EXITING).toBe(0);
    // 5 ms at 2.93 GHz >> IA32_VMX_MISC[4:0] = 5.
    expect(field(s, VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE)).toBe(Math.round(14_650_000 / 32));
    expect(s.eli.preemptionTimerValue).toBe(Math.round(14_650_000 / 32));
    expect(s.eli.isDirect(s.st)).toBe(true);
    expect(s.st.mode).toBe(ELI_MODE.DIRECT);
  });

  it('acknowledges interrupts on exit (the #NP exit carries the vector the CPU already acknowledged)', () => {
    const s = setup(true);
    configure(s);
    expect(field(s, VMCS_FIELD.VM_EXIT_CONTROLS) & EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT).not.toBe(0);
  });

  it('HLT exits in direct mode by default, as in the authors’ code; haltExiting: false leaves HLT to the guest', () => {
    const exits = setup(true);
    configure(exits);
    expect(field(exits, VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL) & PROC_BASED.HLT_EXITING).not.toBe(0);
    const guestHlt = setup(true, { haltExiting: false });
    configure(guestHlt);
    expect(field(guestHlt, VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL) & PROC_BASED.HLT_EXITING).toBe(0);
    expect(guestHlt.eli.name).toBe('eli-guest-hlt');
  });

  it('the EOI MSR write is passed through with exitless EOI (eli) and intercepted without (eli-delivery)', () => {
    const eli = setup(true);
    configure(eli);
    expect(eoiWriteIntercepted(eli)).toBe(false);
    expect(eli.eli.name).toBe('eli');
    const delivery = setup(false);
    configure(delivery);
    expect(eoiWriteIntercepted(delivery)).toBe(true);
    expect(delivery.eli.name).toBe('eli-delivery');
  });

  it("SIDT shows the guest its own IDTR, exactly, never the shadow's", () => {
    const s = setup(true);
    configure(s);
    guestLidt(s, GUEST_IDT, 0x7ff);
    s.vmcs.set(VMCS_FIELD.EXIT_QUALIFICATION, 0x9000);
    s.vmcs.set(VMCS_FIELD.VMX_INSTRUCTION_INFO, DESCRIPTOR_TABLE_INSTRUCTION.SIDT << 28);
    s.eli.handleExit(s.cpu, s.vcpu, EXIT_REASON.GDTR_IDTR_ACCESS, s.st);
    expect(s.vm.memory.read16(0x9000)).toBe(0x7ff);
    expect(s.vm.memory.read32(0x9002)).toBe(GUEST_IDT);
    expect(s.vm.memory.read32(0x9006)).toBe(0);
    expect(field(s, VMCS_FIELD.GUEST_IDTR_BASE)).toBe(SHADOW);
  });
});

describe('ELI: exits in direct mode', () => {
  it("a host interrupt's #NP (external interrupt in the IDT-vectoring information) runs the host's handler for it: no #NP delivered, nothing re-injected", () => {
    const s = setup(true);
    configure(s);
    s.vmcs.set(
      VMCS_FIELD.VM_EXIT_INTR_INFO,
      interruptionInfo(EXCEPTION.NP, INTR_TYPE.HARDWARE_EXCEPTION, true),
    );
    s.vmcs.set(
      VMCS_FIELD.IDT_VECTORING_INFO,
      interruptionInfo(HOST_VECTOR.LOCAL_TIMER, INTR_TYPE.EXTERNAL_INTERRUPT, false),
    );
    expect(s.eli.handleExit(s.cpu, s.vcpu, EXIT_REASON.EXCEPTION_OR_NMI, s.st)).toBeGreaterThanOrEqual(0);
    expect(s.vcpu.afterExit).toBe(AFTER_EXIT.DISPATCH_HOST_INTERRUPT);
    expect(s.vcpu.afterExitVector).toBe(HOST_VECTOR.LOCAL_TIMER);
    expect(s.vcpu.pendingEvent).toBe(0);
    expect(s.stats.counterValue('eli.host-interrupts-via-np')).toBe(1);
  });

  it("the guest's own #NP (no external interrupt being delivered) is reflected to it with its error code", () => {
    const s = setup(true);
    configure(s);
    s.vmcs.set(
      VMCS_FIELD.VM_EXIT_INTR_INFO,
      interruptionInfo(EXCEPTION.NP, INTR_TYPE.HARDWARE_EXCEPTION, true),
    );
    s.vmcs.set(VMCS_FIELD.VM_EXIT_INTR_ERROR_CODE, 0x42);
    s.eli.handleExit(s.cpu, s.vcpu, EXIT_REASON.EXCEPTION_OR_NMI, s.st);
    expect(s.vcpu.afterExit).toBe(AFTER_EXIT.RESUME);
    expect(s.vcpu.pendingEvent).toBe(interruptionInfo(EXCEPTION.NP, INTR_TYPE.HARDWARE_EXCEPTION, true));
    expect(s.vcpu.pendingEventError).toBe(0x42);
  });

  it('eli-delivery: a trapped EOI in direct mode is forwarded to the physical LAPIC (a host WRMSR 0x80B)', () => {
    const s = setup(false);
    configure(s);
    s.cpu.rcx = MSR.X2APIC_EOI;
    expect(s.eli.handleExit(s.cpu, s.vcpu, EXIT_REASON.WRMSR, s.st)).toBeGreaterThanOrEqual(0);
    expect(s.vcpu.hostMsr).toMatchObject({ kind: HOST_MSR_OP.WRMSR, index: MSR.X2APIC_EOI, lo: 0, hi: 0 });
    expect(s.stats.counterValue('eli.eoi-forwarded-to-physical')).toBe(1);
  });

  it('a non-zero EOI write is left to the hypervisor (which raises #GP)', () => {
    const s = setup(false);
    configure(s);
    s.cpu.rcx = MSR.X2APIC_EOI;
    s.cpu.rax = 1;
    expect(s.eli.handleExit(s.cpu, s.vcpu, EXIT_REASON.WRMSR, s.st)).toBe(-1);
  });
});

describe('ELI: injection mode and the mode switches', () => {
  it("a pending virtual interrupt switches to the guest's own IDT with external-interrupt exiting and EOI trapping on, and returns once it is EOI'd", () => {
    const s = setup(true);
    configure(s);
    guestLidt(s, GUEST_IDT, 0xfff);
    s.vcpu.apic.raise(0xef);
    s.eli.beforeEntry(s.cpu, s.vcpu, s.st);
    expect(s.eli.isDirect(s.st)).toBe(false);
    const pin = field(s, VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL);
    expect(pin & PIN_BASED.EXTERNAL_INTERRUPT_EXITING).not.toBe(0);
    expect(pin & PIN_BASED.ACTIVATE_PREEMPTION_TIMER).toBe(0);
    expect(field(s, VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL) & PROC_BASED.HLT_EXITING).not.toBe(0);
    expect(field(s, VMCS_FIELD.GUEST_IDTR_BASE)).toBe(GUEST_IDT);
    expect(field(s, VMCS_FIELD.GUEST_IDTR_LIMIT)).toBe(0xfff);
    expect(field(s, VMCS_FIELD.EXCEPTION_BITMAP)).toBe(0);
    expect(eoiWriteIntercepted(s)).toBe(true);
    // Before injecting, ELI asks for the physical ISR (a directly delivered interrupt may
    // outrank the virtual one); with it read and empty, the next pass injects 0xEF.
    expect(s.vcpu.hostMsr.index).toBe(MSR.X2APIC_ISR0 + (HOST_VECTOR.ASSIGNED_BASE >>> 5));
    completeHostRdmsr(s, 0);
    s.vmcs.set(VMCS_FIELD.GUEST_RFLAGS, 0x202); // the guest can take it: IF = 1
    s.eli.beforeEntry(s.cpu, s.vcpu, s.st);
    expect(field(s, VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(0x8000_00ef);
    expect(s.vcpu.counters.injections.value).toBe(1);
    // The guest EOIs it (emulated), and the next entry is in direct mode again.
    s.vcpu.apic.writeMsr(MSR.X2APIC_EOI, 0, 0);
    expect(s.vcpu.apic.eoiVector).toBe(0xef);
    s.eli.beforeEntry(s.cpu, s.vcpu, s.st);
    expect(s.eli.isDirect(s.st)).toBe(true);
    expect(field(s, VMCS_FIELD.GUEST_IDTR_BASE)).toBe(SHADOW);
    expect(eoiWriteIntercepted(s)).toBe(false);
    expect(s.stats.counterValue('eli.to-injection-mode')).toBe(1);
    expect(s.stats.counterValue('eli.to-direct-mode')).toBe(2);
  });

  it('an interrupt the guest cannot take yet (IF = 0) asks for an interrupt-window exit', () => {
    const s = setup(true);
    configure(s);
    s.vcpu.apic.raise(0xef);
    s.eli.beforeEntry(s.cpu, s.vcpu, s.st);
    completeHostRdmsr(s, 0);
    s.vmcs.set(VMCS_FIELD.GUEST_RFLAGS, 0x2);
    s.eli.beforeEntry(s.cpu, s.vcpu, s.st);
    expect(field(s, VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(0);
    expect(field(s, VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL) & PROC_BASED.INTERRUPT_WINDOW_EXITING).not.toBe(0);
  });

  it("holds an injection while the physical ISR shows the guest's directly delivered interrupt of the same class in service", () => {
    const s = setup(true);
    configure(s);
    guestLidt(s, GUEST_IDT, 0xfff);
    s.vcpu.apic.raise(0x41);
    s.eli.beforeEntry(s.cpu, s.vcpu, s.st);
    // Host vector 0x51 is in service: bit 17 of ISR word 2.
    completeHostRdmsr(s, 1 << (HOST_VECTOR.ASSIGNED_BASE & 31));
    s.vmcs.set(VMCS_FIELD.VM_ENTRY_INTR_INFO, 0);
    s.vmcs.set(VMCS_FIELD.GUEST_RFLAGS, 0x202);
    s.eli.beforeEntry(s.cpu, s.vcpu, s.st);
    expect(field(s, VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(0);
    expect(s.vcpu.apic.hasInterrupt()).toBe(true);
    expect(s.stats.counterValue('eli.injections-held-for-direct')).toBe(1);
  });

  it("while the guest's TPR masks its device's class, the vCPU stays in injection mode (SDM §10.8.3.1)", () => {
    const s = setup(true);
    configure(s);
    s.vcpu.apic.writeMsr(MSR.X2APIC_TPR, 0x40, 0);
    s.eli.beforeEntry(s.cpu, s.vcpu, s.st);
    expect(s.eli.isDirect(s.st)).toBe(false);
    s.vcpu.apic.writeMsr(MSR.X2APIC_TPR, 0x30, 0);
    s.eli.beforeEntry(s.cpu, s.vcpu, s.st);
    expect(s.eli.isDirect(s.st)).toBe(true);
  });

  it('a trapped EOI in injection mode with no directly delivered interrupt in service ends the virtual one', () => {
    const s = setup(true);
    configure(s);
    s.vcpu.apic.raise(0xef);
    s.eli.beforeEntry(s.cpu, s.vcpu, s.st);
    completeHostRdmsr(s, 0);
    s.vmcs.set(VMCS_FIELD.GUEST_RFLAGS, 0x202);
    s.eli.beforeEntry(s.cpu, s.vcpu, s.st);
    expect(s.vcpu.apic.highestInService()).toBe(0xef);
    s.cpu.rcx = MSR.X2APIC_EOI;
    s.eli.handleExit(s.cpu, s.vcpu, EXIT_REASON.WRMSR, s.st);
    // ELI reads the physical ISR to compare priorities: empty, so the EOI is the virtual one's.
    completeHostRdmsr(s, 0);
    expect(s.vcpu.apic.highestInService()).toBe(-1);
    expect(s.stats.counterValue('eli.eoi-emulated-virtual')).toBe(1);
  });

  it('LIDT in injection mode loads the new IDT into GUEST_IDTR (the guest runs on its own IDT there)', () => {
    const s = setup(true);
    configure(s);
    s.vcpu.apic.raise(0xef);
    s.eli.beforeEntry(s.cpu, s.vcpu, s.st);
    guestLidt(s, 0x18_0000, 0x7ff);
    expect(field(s, VMCS_FIELD.GUEST_IDTR_BASE)).toBe(0x18_0000);
    expect(field(s, VMCS_FIELD.GUEST_IDTR_LIMIT)).toBe(0x7ff);
  });
});

describe('eliStrategy: ELI from the calibration profile', () => {
  it('reads each cost from its profile entry and the preemption timer from eli.preemptionTimerMs unless given', () => {
    const entries: Record<string, number> = {
      'cpu.hz': 2.93e9,
      'cpu.vmxPreemptionRate': 5,
      'host.injection': 11,
      'host.otherExit': 12,
      'host.msrEmulation': 13,
      'host.eoiEmulation': 14,
      'eli.modeSwitch': 15,
      'eli.shadowRebuild': 16,
      'eli.hostInterruptExit': 17,
      'eli.descriptorTableEmulation': 18,
      'eli.preemptionTimerMs': 5,
    };
    const read: string[] = [];
    const value = (key: string) => {
      read.push(key);
      const v = entries[key];
      if (v === undefined) throw new Error(`no entry ${key}`);
      return v;
    };
    const stats = new Stats(new Simulator());
    const eli = eliStrategy({ value, stats: stats.scope('eli'), exitlessEoi: true });
    expect(eli.name).toBe('eli');
    expect(eli.options.preemptionTimerPs).toBe(5e9);
    expect(eli.preemptionTimerValue).toBe(Math.round(14_650_000 / 32));
    expect(eli.options.costs).toEqual({
      injection: 11,
      modeSwitch: 15,
      shadowRebuild: 16,
      hostInterruptExit: 17,
      descriptorTableEmulation: 18,
      preemptionTimerExit: 12,
      eoiExit: 13 + 14,
      apicReadEmulation: 13,
    });
    read.length = 0;
    const oneMs = eliStrategy({ value, stats: stats.scope('e1'), exitlessEoi: false, preemptionTimerMs: 1 });
    expect(oneMs.name).toBe('eli-delivery');
    expect(oneMs.options.preemptionTimerPs).toBe(1e9);
    expect(read).not.toContain('eli.preemptionTimerMs');
  });
});
