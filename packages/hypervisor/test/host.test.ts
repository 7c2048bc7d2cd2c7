/**
 * The host's pieces around the exit handlers, without a CPU: a physical CPU's IRQ threads
 * and counters, the assigned interrupt's path from hard IRQ to the strategy, and the
 * preparation of an entry (re-delivery, the strategy's injection, a host MSR access it asks
 * for, the completion of an emulated read).
 */
import { type CpuContext, EXCEPTION, INTR_TYPE, interruptionInfo, MSR, VMCS_FIELD } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  EXIT_NOT_HANDLED,
  HOST_MSR_OP,
  HOST_VECTOR,
  type HostCosts,
  type HostMsrContinuation,
  HypervisorConfigError,
  type InterruptVirtualization,
  type VcpuControl,
} from '../src/index.js';
import { fakeCpu, oneVcpuHost } from './fixtures.js';

const COSTS = {
  entryPrepare: 2,
  assignedHardIrq: 10,
  irqThreadWake: 20,
  kvmSetIrq: 40,
} as HostCosts;

interface ProbeState {
  readonly raised: number[];
  /** beforeEntry asks for this host RDMSR once (−1: never), and records the value. */
  readIndex: number;
  readValue: number;
  readonly onRead: HostMsrContinuation;
}

/** A strategy that injects nothing, can ask for one host RDMSR before an entry, and records assigned interrupts. */
class ProbeStrategy implements InterruptVirtualization<ProbeState> {
  readonly name = 'probe';
  createVcpuState(): ProbeState {
    const st: ProbeState = {
      raised: [],
      readIndex: -1,
      readValue: -1,
      onRead: (lo) => {
        st.readValue = lo;
      },
    };
    return st;
  }
  configureVcpu(): void {}
  beforeEntry(_cpu: CpuContext, vcpu: VcpuControl, st: ProbeState): number {
    if (st.readIndex >= 0 && st.readValue < 0) vcpu.requestHostRdmsr(st.readIndex, st.onRead);
    return 100;
  }
  handleExit(): number {
    return EXIT_NOT_HANDLED;
  }
  onVirtualEoi(): number {
    return 0;
  }
  assignedInterrupt(vcpu: VcpuControl, guestVector: number, st: ProbeState): number {
    st.raised.push(guestVector);
    vcpu.apic.raise(guestVector);
    return 5;
  }
  describe(): string {
    return 'probe';
  }
}

function host() {
  const { hv, vm, vcpu, stats } = oneVcpuHost({
    strategy: new ProbeStrategy(),
    costs: COSTS,
    tscHz: 2.93e9,
    virtualApicTimerHz: 133.33e6,
  });
  const state = hv.strategyState(vcpu) as ProbeState;
  const { cpu, vmcs } = fakeCpu();
  return { hv, vm, vcpu, state, stats, cpu, vmcs };
}

describe("a physical CPU's IRQ threads and counters", () => {
  it("a hard IRQ wakes its vector's thread once until it runs (IRQTF_RUNTHREAD); the thread's run hands the guest vector to the strategy", () => {
    const { hv, vm, vcpu, state } = host();
    // The guest programmed MSI-X entry 0 with its vector 0x41: host vector 0x51.
    vm.assigned[0]!.guestVectors[0] = 0x41;
    vm.assigned[0]!.hostVectors[0] = HOST_VECTOR.ASSIGNED_BASE;
    expect(hv.assignedInterrupt(0, HOST_VECTOR.ASSIGNED_BASE)).toBe(
      COSTS.assignedHardIrq + COSTS.irqThreadWake,
    );
    expect(hv.assignedInterrupt(0, HOST_VECTOR.ASSIGNED_BASE)).toBe(COSTS.assignedHardIrq);
    const st = hv.pcpu(0);
    expect(st.threadsPending).toBe(true);
    const v = st.nextThread();
    expect(v).toBe(HOST_VECTOR.ASSIGNED_BASE);
    expect(st.nextThread()).toBe(-1);
    expect(hv.irqThread(0, v)).toBe(COSTS.kvmSetIrq + 5);
    expect(state.raised).toEqual([0x41]);
    expect(vcpu.apic.hasInterrupt()).toBe(true);
    const c = hv.pcpuCounters(0);
    expect([c.irqThreadWakeups.value, c.irqThreadRuns.value, c.contextSwitches.value]).toEqual([1, 1, 0]);
    expect(c.irqThreadRuns.name).toBe('kvm.pcpu0.irq-thread-runs');
    expect(c.ticks.name).toBe('kvm.pcpu0.ticks');
    expect(vcpu.counters.injections.name).toBe('kvm.guest0.vcpu0.injections');
  });

  it('threads run in the order their IRQs woke them', () => {
    const { hv } = host();
    hv.assignedInterrupt(0, 0x52);
    hv.assignedInterrupt(0, 0x51);
    hv.assignedInterrupt(0, 0x52);
    const st = hv.pcpu(0);
    expect([st.nextThread(), st.nextThread(), st.nextThread()]).toEqual([0x52, 0x51, -1]);
  });

  it('pcpuCounters names a CPU that does not exist', () => {
    expect(() => host().hv.pcpuCounters(3)).toThrow(HypervisorConfigError);
  });
});

describe('preparing an entry', () => {
  it("delivers a queued exception (with its error code) instead of the strategy's injection", () => {
    const { hv, vcpu, cpu, vmcs } = host();
    vcpu.queueException(EXCEPTION.GP, 0);
    expect(hv.prepareEntry(cpu, vcpu)).toBe(COSTS.entryPrepare);
    expect(vmcs.get(VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(0x8000_0b0d);
    expect(vmcs.get(VMCS_FIELD.VM_ENTRY_EXCEPTION_ERROR_CODE)).toBe(0);
    expect(vcpu.pendingEvent).toBe(0);
    // The next entry is the strategy's again.
    expect(hv.prepareEntry(cpu, vcpu)).toBe(COSTS.entryPrepare + 100);
  });

  it('re-delivers an external interrupt an exit cut, without an error code', () => {
    const { hv, vcpu, cpu, vmcs } = host();
    const info = interruptionInfo(0x41, INTR_TYPE.EXTERNAL_INTERRUPT, false);
    vcpu.redeliver(info, 0);
    hv.prepareEntry(cpu, vcpu);
    expect(vmcs.get(VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(info);
    expect(vmcs.has(VMCS_FIELD.VM_ENTRY_EXCEPTION_ERROR_CODE)).toBe(false);
  });

  it("loads an emulated read's result into RAX/RDX only on the pass after the strategy's host MSR access", () => {
    const { hv, vcpu, state, cpu } = host();
    state.readIndex = MSR.X2APIC_ISR0 + 2;
    vcpu.completeRead(0x1234, 0x5678);
    hv.prepareEntry(cpu, vcpu);
    expect(vcpu.hostMsrPending).toBe(true);
    expect(vcpu.hostMsr.index).toBe(MSR.X2APIC_ISR0 + 2);
    expect([cpu.rax, cpu.rdx]).toEqual([0, 0]);
    // The loop makes the access and runs the continuation, then prepares again.
    vcpu.hostMsr.kind = HOST_MSR_OP.NONE;
    vcpu.hostMsr.done!(7, 0);
    expect(hv.prepareEntry(cpu, vcpu, true)).toBe(100);
    expect(state.readValue).toBe(7);
    expect([cpu.rax, cpu.rdx]).toEqual([0x1234, 0x5678]);
    expect(vcpu.readPending).toBe(false);
  });
});
