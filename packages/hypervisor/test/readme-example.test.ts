/**
 * The README's example strategy (examples/ack-on-exit.ts, written against the seam only):
 * its code is the README's, character for character, and it works through the hypervisor's
 * own exit handlers and entry hooks.
 */
import { readFileSync } from 'node:fs';
import { Simulator, Stats } from '@exitless/sim';
import {
  EXIT_CONTROLS,
  EXIT_REASON,
  INTR_TYPE,
  interruptionInfo,
  MSR,
  PIN_BASED,
  SparseMemory,
  VMCS_FIELD,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { ackOnExitStrategy } from '../examples/ack-on-exit.js';
import { AFTER_EXIT, ExitHandlers, type HostCosts, Vm } from '../src/index.js';
import { fakeCpu, testVcpu } from './fixtures.js';

function readmeExample(heading: string): string {
  const text = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const at = text.indexOf(heading);
  expect(at).toBeGreaterThanOrEqual(0);
  const start = text.indexOf('```ts\n', at) + '```ts\n'.length;
  return text.slice(start, text.indexOf('```', start));
}

describe("the README's example strategy", () => {
  it('is the code of examples/ack-on-exit.ts', () => {
    const file = readFileSync(new URL('../examples/ack-on-exit.ts', import.meta.url), 'utf8');
    expect(readmeExample('## Example: a strategy against the seam')).toBe(file);
  });

  it('acknowledges on exit, injects at entry, and the hypervisor dispatches the acknowledged vector', () => {
    const sim = new Simulator();
    const stats = new Stats(sim);
    const vm = new Vm(
      { name: 'vm', memorySize: 64 << 20, apicMode: 'x2apic' },
      new SparseMemory(1 << 30),
      0x2000_0000,
      2.93e9,
    );
    const vcpu = testVcpu(sim, stats, vm);
    vcpu.apic.writeMsr(MSR.IA32_APIC_BASE, 0xfee00000 | 0xc00, 0);
    vcpu.apic.writeMsr(MSR.X2APIC_SVR, 0x1ff, 0);
    const strategy = ackOnExitStrategy({ value: (key) => (key === 'host.injection' ? 300 : Number.NaN) });
    const state = strategy.createVcpuState(vcpu);
    const { cpu, vmcs } = fakeCpu();
    strategy.configureVcpu(cpu, vcpu, state);
    expect(vmcs.get(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL)! & PIN_BASED.EXTERNAL_INTERRUPT_EXITING).not.toBe(
      0,
    );
    expect(vmcs.get(VMCS_FIELD.VM_EXIT_CONTROLS)! & EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT).not.toBe(0);
    // An assigned interrupt's IRQ thread sets the guest's vector; the next entry injects it.
    strategy.assignedInterrupt(vcpu, 0x41, state);
    vmcs.set(VMCS_FIELD.GUEST_RFLAGS, 0x202);
    expect(strategy.beforeEntry(cpu, vcpu, state)).toBe(300);
    expect(vmcs.get(VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(
      interruptionInfo(0x41, INTR_TYPE.EXTERNAL_INTERRUPT, false),
    );
    // An external-interrupt exit that acknowledged host vector 0x51: counted by the
    // strategy, dispatched by the hypervisor's handler.
    const exits = new ExitHandlers({
      costs: { exitDispatch: 0, externalInterruptExit: 0 } as HostCosts,
      strategy,
      stats: stats.scope('kvm'),
      unexpectedExits: stats.counter('kvm.unexpected-exits'),
      stop: () => {},
    });
    vmcs.set(VMCS_FIELD.VM_EXIT_REASON, EXIT_REASON.EXTERNAL_INTERRUPT);
    vmcs.set(VMCS_FIELD.VM_EXIT_INTR_INFO, interruptionInfo(0x51, INTR_TYPE.EXTERNAL_INTERRUPT, false));
    exits.handle(cpu, vcpu, state);
    expect(state.externalInterruptExits).toBe(1);
    expect(vcpu.afterExit).toBe(AFTER_EXIT.DISPATCH_HOST_INTERRUPT);
    expect(vcpu.afterExitVector).toBe(0x51);
  });
});
