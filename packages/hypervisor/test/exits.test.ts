/**
 * The hypervisor's exit handlers, one by one, without a CPU: a CpuContext double holds the
 * VMCS as a map of field encodings and the guest's registers as the exit left them, and the
 * test reads what each handler leaves on the vCPU (an event for the next entry, a read to
 * complete, what the loop does after the exit, a stopped VM) — in the terms of the SDM's
 * exit-information fields (vol. 3 §27.2).
 */
import { InterruptRemappingTable, PageAllocator } from '@exitless/iommu';
import { Simulator, Stats } from '@exitless/sim';
import {
  APIC_ACCESS_TYPE,
  APIC_REG,
  type CpuContext,
  EPT_VIOLATION_QUAL,
  EXCEPTION,
  EXIT_REASON,
  EXIT_REASON_ENTRY_FAILURE,
  INTR_TYPE,
  interruptionInfo,
  MSR,
  SparseMemory,
  VMCS_FIELD,
  VMX_STATUS,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  AFTER_EXIT,
  AssignedFunction,
  EXIT_NOT_HANDLED,
  ExitHandlers,
  HOST_VECTOR,
  type HostCosts,
  type InterruptVirtualization,
  type VcpuControl,
  Vm,
} from '../src/index.js';
import { fakeCpu, POWER_OF_TWO_COSTS, RecordingMsix, testVcpu } from './fixtures.js';

const COSTS: HostCosts = POWER_OF_TWO_COSTS;

const VIRTUAL_EOI_CYCLES = 1 << 24;

/** A strategy that leaves every exit to the hypervisor (or claims `claim`), recording the EOIs it is told of. */
class RecordingStrategy implements InterruptVirtualization<{ eois: number[] }> {
  readonly name = 'recording';
  claim = -1;
  createVcpuState(): { eois: number[] } {
    return { eois: [] };
  }
  configureVcpu(): void {}
  beforeEntry(): number {
    return 0;
  }
  handleExit(_cpu: CpuContext, _vcpu: VcpuControl, reason: number): number {
    return reason === this.claim ? 7 : EXIT_NOT_HANDLED;
  }
  onVirtualEoi(_cpu: CpuContext, _vcpu: VcpuControl, vector: number, state: { eois: number[] }): number {
    state.eois.push(vector);
    return VIRTUAL_EOI_CYCLES;
  }
  assignedInterrupt(): number {
    return 0;
  }
  describe(): string {
    return 'records';
  }
}

function setup(apicMode: 'x2apic' | 'xapic' = 'x2apic') {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const memory = new SparseMemory(1 << 30);
  const pages = new PageAllocator(memory, 0x100_0000, 0x10_0000);
  const irt = new InterruptRemappingTable(memory, pages, 256);
  const vm = new Vm({ name: 'vm', memorySize: 64 << 20, apicMode }, memory, 0x2000_0000, 2.93e9);
  const fn = new AssignedFunction({
    config: {
      requesterId: 0x0380,
      hostBar0: 0xf000_0000,
      bar0Size: 0x4000,
      hostBar3: 0xf100_0000,
      bar3Size: 0x4000,
      msix: new RecordingMsix(),
      guestBar0: 0xe000_0000,
      guestBar3: 0xe100_0000,
      vectors: 3,
    },
    irt,
    irteBase: 0,
    hostVectorBase: HOST_VECTOR.ASSIGNED_BASE,
    destinationApicId: () => 0,
    x2apicDestinations: true,
    stats: stats.scope('assigned'),
  });
  vm.assigned.push(fn);
  const vcpu = testVcpu(sim, stats, vm);
  // The guest's LAPIC: enabled, in x2APIC mode or not, software-enabled.
  vcpu.apic.writeMsr(MSR.IA32_APIC_BASE, 0xfee00000 | (apicMode === 'x2apic' ? 0xc00 : 0x800), 0);
  if (apicMode === 'x2apic') vcpu.apic.writeMsr(MSR.X2APIC_SVR, 0x1ff, 0);
  else vcpu.apic.writeMmio(APIC_REG.SVR, 0x1ff);
  const strategy = new RecordingStrategy();
  const state = strategy.createVcpuState();
  const stops: string[] = [];
  const violations: string[] = [];
  const exits = new ExitHandlers({
    costs: COSTS,
    strategy,
    stats: stats.scope('kvm'),
    unexpectedExits: stats.counter('kvm.unexpected-exits'),
    stop: (v, reason) => {
      v.stopReason ??= reason;
      stops.push(reason);
    },
    onGuestViolation: (_vm, what) => violations.push(what),
  });
  const { cpu, vmcs } = fakeCpu();
  /** The exit `reason` happened: the handlers run; returns their cycles. */
  const exit = (reason: number): number => {
    vmcs.set(VMCS_FIELD.VM_EXIT_REASON, reason);
    return exits.handle(cpu, vcpu, state);
  };
  return { sim, stats, vm, fn, vcpu, strategy, state, exits, cpu, vmcs, exit, stops, violations };
}

const GP = interruptionInfo(EXCEPTION.GP, INTR_TYPE.HARDWARE_EXCEPTION, true);

describe('the exit dispatch', () => {
  it('counts each exit under its reason and charges the common path (vmx_handle_exit)', () => {
    const s = setup();
    expect(s.exit(EXIT_REASON.VMCALL)).toBe(COSTS.exitDispatch + COSTS.vmcall);
    s.exit(EXIT_REASON.VMCALL);
    expect(s.stats.counterValue('kvm.exits-handled.vmcall')).toBe(2);
    expect(s.vcpu.launched).toBe(true);
  });

  it("offers every exit to the strategy first: an exit it claims costs what it says, and the hypervisor's handler does not run", () => {
    const s = setup();
    s.strategy.claim = EXIT_REASON.HLT;
    expect(s.exit(EXIT_REASON.HLT)).toBe(COSTS.exitDispatch + 7);
    expect(s.vcpu.afterExit).toBe(AFTER_EXIT.RESUME);
  });

  it('puts back an event whose delivery the exit cut (IDT-vectoring information valid), for the next entry', () => {
    const s = setup();
    const injected = interruptionInfo(0x41, INTR_TYPE.EXTERNAL_INTERRUPT, false);
    s.vmcs.set(VMCS_FIELD.IDT_VECTORING_INFO, injected);
    s.exit(EXIT_REASON.INTERRUPT_WINDOW);
    expect(s.vcpu.pendingEvent).toBe(injected);
  });

  it('stops the VM on a failed entry (VMfail, or an exit with the entry-failure bit)', () => {
    const s = setup();
    s.cpu.vmxStatus = VMX_STATUS.FAIL_VALID;
    s.vmcs.set(VMCS_FIELD.VM_INSTRUCTION_ERROR, 7);
    s.exit(EXIT_REASON.VMCALL);
    expect(s.vcpu.stopReason).toMatch(/VMfail with VM-instruction error 7/);
    const t = setup();
    t.exit((EXIT_REASON_ENTRY_FAILURE | 33) >>> 0);
    expect(t.vcpu.stopReason).toMatch(/entry-failure bit/);
  });

  it('stops the VM on an exit nobody expects (CPUID here), with the reason and its fields in the report', () => {
    const s = setup();
    s.exit(EXIT_REASON.CPUID);
    expect(s.vcpu.stopReason).toMatch(/unexpected VM exit: reason cpuid \(10\)/);
    expect(s.stats.counterValue('kvm.unexpected-exits')).toBe(1);
  });
});

describe('external-interrupt exits (reason 1)', () => {
  it("not acknowledged on exit (KVM of 2.6.3x): nothing to dispatch, the loop's IF = 1 window takes the interrupt", () => {
    const s = setup();
    expect(s.exit(EXIT_REASON.EXTERNAL_INTERRUPT)).toBe(COSTS.exitDispatch + COSTS.externalInterruptExit);
    expect(s.vcpu.afterExit).toBe(AFTER_EXIT.RESUME);
  });

  it("acknowledged on exit (VM-exit interruption information valid): the host's handler for the vector runs after the exit", () => {
    const s = setup();
    s.vmcs.set(VMCS_FIELD.VM_EXIT_INTR_INFO, interruptionInfo(0x51, INTR_TYPE.EXTERNAL_INTERRUPT, false));
    s.exit(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(s.vcpu.afterExit).toBe(AFTER_EXIT.DISPATCH_HOST_INTERRUPT);
    expect(s.vcpu.afterExitVector).toBe(0x51);
  });
});

describe('interrupt-window exits (reason 7)', () => {
  it('cost the window exit and leave the injection to the next entry', () => {
    const s = setup();
    expect(s.exit(EXIT_REASON.INTERRUPT_WINDOW)).toBe(COSTS.exitDispatch + COSTS.interruptWindowExit);
    expect(s.vcpu.pendingEvent).toBe(0);
  });
});

describe('WRMSR exits (reason 32) to the virtual x2APIC', () => {
  const wrmsr = (s: ReturnType<typeof setup>, index: number, lo: number, hi = 0) => {
    s.cpu.rcx = index;
    s.cpu.rax = lo;
    s.cpu.rdx = hi;
    return s.exit(EXIT_REASON.WRMSR);
  };

  it("emulate the EOI: the virtual ISR's highest vector ends and the strategy hears of it", () => {
    const s = setup();
    s.vcpu.apic.raise(0x41);
    expect(s.vcpu.apic.acknowledge()).toBe(0x41);
    expect(wrmsr(s, MSR.X2APIC_EOI, 0)).toBe(
      COSTS.exitDispatch + COSTS.msrEmulation + COSTS.eoiEmulation + VIRTUAL_EOI_CYCLES,
    );
    expect(s.state.eois).toEqual([0x41]);
    expect(s.vcpu.apic.highestInService()).toBe(-1);
    expect(s.stats.counterValue('vcpu0.virtual-eois')).toBe(1);
  });

  it('an EOI with nothing in service is emulated but tells the strategy nothing', () => {
    const s = setup();
    expect(wrmsr(s, MSR.X2APIC_EOI, 0)).toBe(COSTS.exitDispatch + COSTS.msrEmulation);
    expect(s.state.eois).toEqual([]);
  });

  it('a non-zero EOI write raises #GP(0) (SDM vol. 3 §10.12.1.2)', () => {
    const s = setup();
    wrmsr(s, MSR.X2APIC_EOI, 1);
    expect(s.vcpu.pendingEvent).toBe(GP);
    expect(s.vcpu.pendingEventError).toBe(0);
  });

  it('the timer initial count is a 32-bit register: bits 63:32 set raise #GP; a valid write arms the timer', () => {
    const s = setup();
    wrmsr(s, MSR.X2APIC_TIMER_INITIAL_COUNT, 100, 1);
    expect(s.vcpu.pendingEvent).toBe(GP);
    const t = setup();
    wrmsr(t, MSR.X2APIC_TIMER_INITIAL_COUNT, 100_000);
    expect(t.vcpu.pendingEvent).toBe(0);
    expect(t.vcpu.apic.timer.hrtimer.expires).toBeGreaterThan(0);
    expect(t.vcpu.timerReprogram).toBe(true);
  });

  it('x2APIC MSRs raise #GP while the LAPIC is in xAPIC mode', () => {
    const s = setup('xapic');
    wrmsr(s, MSR.X2APIC_TPR, 0x20);
    expect(s.vcpu.pendingEvent).toBe(GP);
  });

  it('a write to an MSR the model does not need is accepted and ignored', () => {
    const s = setup();
    expect(wrmsr(s, 0xc000_0080, 0x500)).toBe(COSTS.exitDispatch + COSTS.msrEmulation);
    expect(s.vcpu.pendingEvent).toBe(0);
  });
});

describe('RDMSR exits (reason 31)', () => {
  const rdmsr = (s: ReturnType<typeof setup>, index: number) => {
    s.cpu.rcx = index;
    return s.exit(EXIT_REASON.RDMSR);
  };

  it('complete the read with the virtual x2APIC register in EDX:EAX at the next entry', () => {
    const s = setup();
    s.vcpu.apic.writeMsr(MSR.X2APIC_TPR, 0x30, 0);
    expect(rdmsr(s, MSR.X2APIC_TPR)).toBe(COSTS.exitDispatch + COSTS.msrEmulation);
    expect(s.vcpu.readPending).toBe(true);
    expect([s.vcpu.completeLo, s.vcpu.completeHi]).toEqual([0x30, 0]);
  });

  it('the timer current count outside x2APIC mode raises #GP; other MSRs read 0', () => {
    const s = setup('xapic');
    rdmsr(s, MSR.X2APIC_TIMER_CURRENT_COUNT);
    expect(s.vcpu.pendingEvent).toBe(GP);
    expect(s.vcpu.readPending).toBe(false);
    const t = setup();
    rdmsr(t, 0xc000_0080);
    expect([t.vcpu.readPending, t.vcpu.completeLo, t.vcpu.completeHi]).toEqual([true, 0, 0]);
  });
});

describe('EPT-violation exits (reason 48)', () => {
  const violation = (s: ReturnType<typeof setup>, gpa: number, qualification: number) => {
    s.vmcs.set(VMCS_FIELD.GUEST_PHYSICAL_ADDRESS, gpa);
    s.vmcs.set(VMCS_FIELD.EXIT_QUALIFICATION, qualification);
    return s.exit(EXIT_REASON.EPT_VIOLATION);
  };

  it("emulate the assigned function's MSI-X table: a store programs the entry, a load completes with it", () => {
    const s = setup();
    s.cpu.rax = 0xfee0_0000;
    expect(violation(s, 0xe100_0010, EPT_VIOLATION_QUAL.WRITE)).toBe(
      COSTS.exitDispatch + COSTS.mmioEmulation,
    );
    expect(s.fn.readMsix(0xe100_0010)).toBe(0xfee0_0000);
    violation(s, 0xe100_0010, EPT_VIOLATION_QUAL.READ);
    expect([s.vcpu.readPending, s.vcpu.completeLo]).toEqual([true, 0xfee0_0000]);
    expect(s.vcpu.stopReason).toBeNull();
  });

  it('refuse a store to a host-owned read-only page: dropped, counted, reported, and the VM runs on', () => {
    const s = setup();
    s.vm.mapPage(0xfeb0_0000, 0x60_0000);
    violation(s, 0xfeb0_0008, EPT_VIOLATION_QUAL.WRITE | EPT_VIOLATION_QUAL.READABLE);
    expect(s.vm.refusedWrites.value).toBe(1);
    expect(s.violations).toHaveLength(1);
    expect(s.violations[0]).toMatch(/store to host-owned read-only guest-physical 0xfeb00008 refused/);
    expect(s.vcpu.stopReason).toBeNull();
  });

  it('stop the VM where nothing is mapped, or on a fetch from a page that is not executable', () => {
    const s = setup();
    violation(s, 0xd000_0000, EPT_VIOLATION_QUAL.READ);
    expect(s.vcpu.stopReason).toMatch(/nothing is mapped there/);
    const t = setup();
    t.vm.mapPage(0xfeb0_0000, 0x60_0000);
    violation(t, 0xfeb0_0000, EPT_VIOLATION_QUAL.FETCH | EPT_VIOLATION_QUAL.READABLE);
    expect(t.vcpu.stopReason).toMatch(/a page that is not executable/);
    expect(t.stats.counterValue('kvm.unexpected-exits')).toBe(1);
  });
});

describe('APIC-access exits (reason 44, xAPIC guests)', () => {
  const access = (s: ReturnType<typeof setup>, type: number, offset: number) => {
    s.vmcs.set(VMCS_FIELD.EXIT_QUALIFICATION, (type << 12) | offset);
    return s.exit(EXIT_REASON.APIC_ACCESS);
  };

  it("emulate a store to the EOI register: the virtual ISR's highest vector ends and the strategy hears of it", () => {
    const s = setup('xapic');
    s.vcpu.apic.raise(0x41);
    s.vcpu.apic.acknowledge();
    s.cpu.rax = 0;
    expect(access(s, APIC_ACCESS_TYPE.LINEAR_WRITE, APIC_REG.EOI)).toBe(
      COSTS.exitDispatch + COSTS.mmioEmulation + COSTS.eoiEmulation + VIRTUAL_EOI_CYCLES,
    );
    expect(s.state.eois).toEqual([0x41]);
  });

  it('complete a load with the virtual register', () => {
    const s = setup('xapic');
    s.vcpu.apic.writeMmio(APIC_REG.TPR, 0x20);
    access(s, APIC_ACCESS_TYPE.LINEAR_READ, APIC_REG.TPR);
    expect([s.vcpu.readPending, s.vcpu.completeLo]).toEqual([true, 0x20]);
  });
});

describe('HLT, VMCALL and preemption-timer exits', () => {
  it('HLT (reason 12) blocks the vCPU after the exit (kvm_vcpu_block)', () => {
    const s = setup();
    expect(s.exit(EXIT_REASON.HLT)).toBe(COSTS.exitDispatch + COSTS.haltBlock);
    expect(s.vcpu.afterExit).toBe(AFTER_EXIT.HALT);
  });

  it('VMCALL (reason 18) costs a hypercall', () => {
    const s = setup();
    expect(s.exit(EXIT_REASON.VMCALL)).toBe(COSTS.exitDispatch + COSTS.vmcall);
  });

  it("the VMX-preemption timer (reason 52) only gives the host its CPU back (its interrupts are taken in the exit's IF = 1 window)", () => {
    const s = setup();
    expect(s.exit(EXIT_REASON.PREEMPTION_TIMER)).toBe(COSTS.exitDispatch + COSTS.otherExit);
    expect(s.vcpu.afterExit).toBe(AFTER_EXIT.RESUME);
    expect(s.vcpu.stopReason).toBeNull();
  });
});
