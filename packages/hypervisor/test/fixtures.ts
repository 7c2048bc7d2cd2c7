import { InterruptRemappingTable, PageAllocator } from '@exitless/iommu';
import { InterruptBus } from '@exitless/lapic';
import { type ScopedStats, Simulator, Stats } from '@exitless/sim';
import { CodeSpace, type CpuContext, type MmioDevice, MSR, SparseMemory, VMX_STATUS } from '@exitless/x86';
import {
  type HaltPollOptions,
  type HostCosts,
  Hypervisor,
  type InterruptVirtualization,
  Vcpu,
  type Vm,
} from '../src/index.js';

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

/** An MSI-X table that reads as zeros and ignores writes. */
export class NullMsix implements MmioDevice {
  mmioRead(): number {
    return 0;
  }
  mmioWrite(): void {}
}

/**
 * A host of one physical CPU running one VM ('guest0', x2APIC) with one assigned function of
 * two MSI-X vectors (requester 03:80.0, BARs 0 and 3 at the addresses the tests use), its vCPU's
 * virtual LAPIC enabled in x2APIC mode (IA32_APIC_BASE EN|EXTD, SVR 0x1ff).
 */
export function oneVcpuHost(options: {
  readonly strategy: InterruptVirtualization<unknown>;
  readonly costs: HostCosts;
  readonly tscHz: number;
  readonly virtualApicTimerHz: number;
  readonly haltPoll?: HaltPollOptions;
}): {
  readonly sim: Simulator;
  readonly stats: Stats;
  readonly code: CodeSpace;
  readonly hv: Hypervisor;
  readonly vm: Vm;
  readonly vcpu: Vcpu;
} {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const memory = new SparseMemory(2 ** 33);
  const pages = new PageAllocator(memory, 0x100_0000, 0x10_0000);
  const code = new CodeSpace();
  const hv = new Hypervisor({
    sim,
    memory,
    code,
    cpus: [{ index: 0, apicId: 0 }],
    tscHz: options.tscHz,
    virtualApicTimerHz: options.virtualApicTimerHz,
    hostHz: 1000,
    ...(options.haltPoll !== undefined ? { haltPoll: options.haltPoll } : {}),
    costs: options.costs,
    strategy: options.strategy,
    interruptRemapping: new InterruptRemappingTable(memory, pages, 256),
    x2apicInterruptRemapping: true,
    stats: stats.scope('kvm'),
  });
  const vm = hv.createVm({ name: 'guest0', memorySize: 64 << 20, apicMode: 'x2apic' }, 0, [
    {
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
  ]);
  const vcpu = hv.vcpus[0]!;
  vcpu.apic.writeMsr(MSR.IA32_APIC_BASE, 0xfee00000 | 0xc00, 0);
  vcpu.apic.writeMsr(MSR.X2APIC_SVR, 0x1ff, 0);
  return { sim, stats, code, hv, vm, vcpu };
}
