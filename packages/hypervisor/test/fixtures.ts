import { InterruptBus } from '@exitless/lapic';
import type { ScopedStats, Simulator } from '@exitless/sim';
import { type CpuContext, type MmioDevice, VMX_STATUS } from '@exitless/x86';
import { type HostCosts, Vcpu, type Vm } from '../src/index.js';

/** Host costs, each a distinct power of two, so that a sum of charged cycles says which costs were charged. */
export const POWER_OF_TWO_COSTS: HostCosts = {
  exitDispatch: 1,
  entryPrepare: 2,
  injection: 4,
  externalInterruptExit: 8,
  msrEmulation: 16,
  eoiEmulation: 32,
  mmioEmulation: 64,
  interruptWindowExit: 128,
  haltBlock: 256,
  haltWake: 512,
  irqEntry: 1024,
  irqExit: 2048,
  assignedHardIrq: 4096,
  irqThreadWake: 8192,
  contextSwitch: 16384,
  kvmSetIrq: 32768,
  vcpuPutLoad: 65536,
  hostTick: 131072,
  hrtimerExpire: 262144,
  vmcall: 524288,
  otherExit: 1048576,
};

/** A device's MSI-X table as plain words: what the guest wrote is what the host reads. */
export class RecordingMsix implements MmioDevice {
  readonly words: Uint32Array = new Uint32Array(16);
  mmioRead(offset: number): number {
    return this.words[offset >>> 2]!;
  }
  mmioWrite(offset: number, _size: number, value: number): void {
    this.words[offset >>> 2] = value >>> 0;
  }
}

/** The vCPU 0 of `vm` on physical CPU 0, at the addresses the tests use, with its own interrupt bus. */
export function testVcpu(
  sim: Simulator,
  stats: { scope(name: string): ScopedStats },
  vm: Vm,
  options: { readonly virtualTimerHz?: number; readonly scope?: string } = {},
): Vcpu {
  return new Vcpu({
    id: 0,
    vm,
    pcpu: 0,
    pcpuApicId: 0,
    vmcsAddress: 0x30_0000,
    msrBitmapAddress: 0x40_0000,
    sim,
    bus: new InterruptBus({ sim, ipiLatencyPs: 0 }),
    tscHz: 2.93e9,
    virtualTimerHz: options.virtualTimerHz ?? 133.33e6,
    stats: stats.scope(options.scope ?? 'vcpu0'),
  });
}

/**
 * A CPU as the exit handlers see it: the VMCS as a map, the guest's registers and the VMX
 * status. The handlers read and write only these, so no CPU model is needed.
 */
export function fakeCpu(): {
  readonly cpu: CpuContext & { now: number; rax: number; rcx: number; rdx: number; vmxStatus: number };
  readonly vmcs: Map<number, number>;
} {
  const vmcs = new Map<number, number>();
  const cpu = {
    now: 0,
    rax: 0,
    rcx: 0,
    rdx: 0,
    vmxStatus: VMX_STATUS.SUCCEED as number,
    vmread: (f: number) => vmcs.get(f) ?? 0,
    vmwrite: (f: number, v: number) => {
      vmcs.set(f, v);
    },
  };
  return { cpu: cpu as unknown as CpuContext & typeof cpu, vmcs };
}
