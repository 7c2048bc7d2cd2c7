/**
 * The interrupt shadow (GUEST_INTERRUPTIBILITY_INFO bits 0 and 1, blocking by STI and by MOV SS)
 * after an exit, as KVM treats it: a guest instruction's fault-like exit saves the blocking in
 * effect before the instruction (SDM vol. 3 §25.1, §27.3.4), and the handler that emulates the
 * instruction clears it in skip_emulated_instruction (vmx_set_interrupt_shadow(vcpu, 0), Linux
 * arch/x86/kvm/vmx.c of 2.6.3x and today's vmx/vmx.c) before the next entry decides on
 * injection (vmx_interrupt_allowed reads the same bits). Exits between instructions leave the
 * bits alone, and the injection waits for an interrupt-window exit. Without a CPU: the VMCS is a
 * map (fakeCpu), set as the CPU leaves it at the exit.
 */
import {
  type CpuContext,
  EXIT_REASON,
  INTERRUPTIBILITY,
  INTR_TYPE,
  interruptionInfo,
  PROC_BASED,
  RFLAGS,
  VMCS_FIELD,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  AFTER_EXIT,
  BaselineStrategy,
  completesGuestInstruction,
  EXIT_NOT_HANDLED,
  type ExitNotHandled,
  skipEmulatedInstruction,
  type VcpuControl,
} from '../src/index.js';
import { POWER_OF_TWO_COSTS as COSTS, fakeCpu, oneVcpuHost } from './fixtures.js';

const STI = INTERRUPTIBILITY.BLOCKING_BY_STI;
const MOV_SS = INTERRUPTIBILITY.BLOCKING_BY_MOV_SS;
const NMI = INTERRUPTIBILITY.BLOCKING_BY_NMI;
const VECTOR = 0x41;

/** Baseline's injection, and an exit reason it may claim as its own (as ELI claims the EOI's WRMSR). */
class ClaimingBaseline extends BaselineStrategy {
  claim = -1;
  override handleExit(_cpu: CpuContext, _vcpu: VcpuControl, reason: number): number | ExitNotHandled {
    return reason === this.claim ? 0 : EXIT_NOT_HANDLED;
  }
}

function host(strategy: BaselineStrategy = new BaselineStrategy({ injection: COSTS.injection })) {
  const { hv, vcpu, stats } = oneVcpuHost({
    strategy,
    costs: COSTS,
    tscHz: 2.93e9,
    virtualApicTimerHz: 133.33e6,
  });
  const { cpu, vmcs } = fakeCpu();
  /** The guest exited with `reason` and interruptibility `intr`, IF = 1, activity state active. */
  const exit = (reason: number, intr: number): number => {
    vmcs.set(VMCS_FIELD.VM_EXIT_REASON, reason);
    vmcs.set(VMCS_FIELD.GUEST_RFLAGS, RFLAGS.FIXED1 | RFLAGS.IF);
    vmcs.set(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO, intr);
    return hv.handleExit(cpu, vcpu);
  };
  const windowExiting = (): boolean =>
    ((vmcs.get(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL) ?? 0) & PROC_BASED.INTERRUPT_WINDOW_EXITING) !== 0;
  return { hv, vcpu, stats, cpu, vmcs, exit, windowExiting };
}

describe('after `sti; hlt`, the HLT exit saved blocking by STI', () => {
  it('the HLT handler clears it (skip_emulated_instruction), so the interrupt that wakes the vCPU is injected at the next entry', () => {
    const { hv, vcpu, cpu, vmcs, exit, windowExiting } = host();
    exit(EXIT_REASON.HLT, STI);
    expect(vcpu.afterExit).toBe(AFTER_EXIT.HALT);
    expect(vmcs.get(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO)).toBe(0);
    // The vCPU blocks; an interrupt for it arrives; kvm_vcpu_block returns and the entry is prepared.
    vcpu.apic.raise(VECTOR);
    expect(hv.vcpuHasInterrupt(vcpu)).toBe(true);
    expect(hv.prepareEntry(cpu, vcpu)).toBe(COSTS.entryPrepare + COSTS.injection);
    expect(vmcs.get(VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(
      interruptionInfo(VECTOR, INTR_TYPE.EXTERNAL_INTERRUPT, false),
    );
    expect(windowExiting()).toBe(false);
    expect(vcpu.counters.injections.value).toBe(1);
    // The entry's checks pass: no STI or MOV-SS blocking with an injected external interrupt (§26.3.1.5).
    expect((vmcs.get(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO) ?? 0) & (STI | MOV_SS)).toBe(0);
  });

  it('blocking by NMI (bit 3) is left as saved; only bits 1:0 are cleared', () => {
    const { vmcs, exit } = host();
    exit(EXIT_REASON.HLT, STI | NMI);
    expect(vmcs.get(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO)).toBe(NMI);
  });

  it('a strategy that handles the exit itself does not keep the shadow: the clearing comes before it is asked', () => {
    const strategy = new ClaimingBaseline({ injection: COSTS.injection });
    strategy.claim = EXIT_REASON.WRMSR;
    const { vmcs, exit } = host(strategy);
    expect(exit(EXIT_REASON.WRMSR, STI)).toBe(COSTS.exitDispatch);
    expect(vmcs.get(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO)).toBe(0);
  });
});

describe('exits that skip no instruction leave the shadow', () => {
  it('a preemption-timer exit between STI and the next instruction: the injection waits for an interrupt-window exit (enable_irq_window)', () => {
    const { hv, vcpu, cpu, vmcs, exit, windowExiting } = host();
    exit(EXIT_REASON.PREEMPTION_TIMER, STI);
    expect(vmcs.get(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO)).toBe(STI);
    vcpu.apic.raise(VECTOR);
    expect(hv.prepareEntry(cpu, vcpu)).toBe(COSTS.entryPrepare);
    expect(vmcs.has(VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(false);
    expect(windowExiting()).toBe(true);
    expect(vcpu.counters.injections.value).toBe(0);
    // The window exit (the guest executed an instruction, so no blocking is saved) then injects.
    exit(EXIT_REASON.INTERRUPT_WINDOW, 0);
    hv.prepareEntry(cpu, vcpu);
    expect(vmcs.get(VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(
      interruptionInfo(VECTOR, INTR_TYPE.EXTERNAL_INTERRUPT, false),
    );
    expect(windowExiting()).toBe(false);
  });

  it.each([
    EXIT_REASON.EXTERNAL_INTERRUPT,
    EXIT_REASON.INTERRUPT_WINDOW,
    EXIT_REASON.PREEMPTION_TIMER,
    EXIT_REASON.EXCEPTION_OR_NMI,
    EXIT_REASON.APIC_WRITE,
    EXIT_REASON.VIRTUALIZED_EOI,
    EXIT_REASON.TPR_BELOW_THRESHOLD,
  ])('reason %i: not an instruction the host completes', (reason) => {
    expect(completesGuestInstruction(reason)).toBe(false);
  });
});

describe('the exits whose instruction the host emulates clear bits 1:0', () => {
  it.each([
    EXIT_REASON.HLT,
    EXIT_REASON.VMCALL,
    EXIT_REASON.RDMSR,
    EXIT_REASON.WRMSR,
    EXIT_REASON.APIC_ACCESS,
    EXIT_REASON.EPT_VIOLATION,
    EXIT_REASON.GDTR_IDTR_ACCESS,
  ])('reason %i', (reason) => {
    expect(completesGuestInstruction(reason)).toBe(true);
    for (const saved of [STI, MOV_SS, MOV_SS | NMI]) {
      const { cpu, vmcs } = fakeCpu();
      vmcs.set(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO, saved);
      skipEmulatedInstruction(cpu);
      expect(vmcs.get(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO)).toBe(saved & NMI);
    }
  });

  it('writes the field only when a bit changes (as vmx_set_interrupt_shadow does)', () => {
    const { cpu, vmcs } = fakeCpu();
    let writes = 0;
    const write = cpu.vmwrite;
    cpu.vmwrite = (f: number, v: number) => {
      writes++;
      write(f, v);
    };
    vmcs.set(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO, NMI);
    skipEmulatedInstruction(cpu);
    expect(writes).toBe(0);
  });
});

describe('an entry that re-delivers an event the last exit cut', () => {
  const cut = interruptionInfo(0x31, INTR_TYPE.EXTERNAL_INTERRUPT, false);

  it('with another interrupt pending, re-delivers the cut event and asks for an interrupt window (vcpu_enter_guest after inject_pending_event)', () => {
    const { hv, vcpu, cpu, vmcs, windowExiting } = host();
    vcpu.apic.raise(VECTOR);
    vcpu.redeliver(cut, 0);
    expect(hv.prepareEntry(cpu, vcpu)).toBe(COSTS.entryPrepare);
    expect(vmcs.get(VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(cut);
    // Nothing injected over it: the pending vector stays in the virtual LAPIC for the window exit.
    expect(vcpu.counters.injections.value).toBe(0);
    expect(vcpu.apic.hasInterrupt()).toBe(true);
    expect(windowExiting()).toBe(true);
  });

  it('with nothing pending, asks for no interrupt window', () => {
    const { hv, vcpu, cpu, vmcs, windowExiting } = host();
    vcpu.redeliver(cut, 0);
    hv.prepareEntry(cpu, vcpu);
    expect(vmcs.get(VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(cut);
    expect(windowExiting()).toBe(false);
  });
});
