import { InterruptRemappingTable, PageAllocator, SQ, SVT } from '@exitless/iommu';
import { ms, Simulator, Stats, us } from '@exitless/sim';
import {
  CodeSpace,
  decodeRemappableMsi,
  encodeCompatMsiAddress,
  encodeCompatMsiData,
  GPA_ACCESS,
  isRemappableMsi,
  LVT,
  MSR,
  SparseMemory,
  TIMER_MODE,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  APIC_WRITE,
  BaselineStrategy,
  HOST_VECTOR,
  type HostCosts,
  Hypervisor,
  HypervisorConfigError,
  Vm,
} from '../src/index.js';
import { AssignedFunction } from '../src/vm.js';
import { RecordingMsix, testVcpu } from './fixtures.js';

function setup() {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const memory = new SparseMemory(1 << 30);
  const pages = new PageAllocator(memory, 0x100_0000, 0x10_0000);
  const irt = new InterruptRemappingTable(memory, pages, 256);
  const msix = new RecordingMsix();
  const vm = new Vm({ name: 'vm', memorySize: 64 << 20, apicMode: 'x2apic' }, memory, 0x2000_0000, 2.93e9);
  const fn = new AssignedFunction({
    config: {
      requesterId: 0x0380,
      hostBar0: 0xf000_0000,
      bar0Size: 0x4000,
      hostBar3: 0xf100_0000,
      bar3Size: 0x4000,
      msix,
      guestBar0: 0xe000_0000,
      guestBar3: 0xe100_0000,
      vectors: 3,
    },
    irt,
    irteBase: 0,
    hostVectorBase: HOST_VECTOR.ASSIGNED_BASE,
    destinationApicId: () => 2,
    x2apicDestinations: true,
    stats: stats.scope('assigned'),
  });
  vm.assigned.push(fn);
  return { sim, stats, memory, irt, msix, vm, fn };
}

describe('device assignment (VFIO/KVM MSI-X emulation)', () => {
  it('programs a remapped IRTE and a remappable-format physical entry when the guest unmasks its MSI-X entry', () => {
    const { irt, msix, fn } = setup();
    const base = 0xe100_0000 + 16; // entry 1
    fn.writeMsix(base, encodeCompatMsiAddress({ destination: 7, redirectionHint: 0, destMode: 0 }));
    fn.writeMsix(base + 8, encodeCompatMsiData({ vector: 0x42, deliveryMode: 0, level: 0, triggerMode: 0 }));
    expect(fn.hostVectors[1]).toBe(-1); // still masked (reset state of vector control)
    fn.writeMsix(base + 12, 0);
    expect(fn.guestVectors[1]).toBe(0x42);
    expect(fn.hostVectors[1]).toBe(HOST_VECTOR.ASSIGNED_BASE + 1);
    const irte = irt.read(1);
    expect(irte).toMatchObject({
      mode: 'remapped',
      present: true,
      vector: HOST_VECTOR.ASSIGNED_BASE + 1,
      destination: 2, // the host's CPU, not the guest's destination 7
      sourceId: 0x0380,
      sourceIdQualifier: SQ.ALL,
      sourceValidationType: SVT.REQUESTER_ID,
    });
    const address = msix.words[4]!;
    expect(isRemappableMsi(address)).toBe(true);
    expect(decodeRemappableMsi(address, msix.words[6]!)).toEqual({ handle: 1, shv: false, subhandle: 0 });
    expect(msix.words[7]).toBe(0); // unmasked
    expect(fn.readMsix(base + 8)).toBe(0x42); // the guest reads back what it wrote
    expect(fn.entryForHostVector(HOST_VECTOR.ASSIGNED_BASE + 1)).toBe(1);
  });

  it('maps RAM and the VF BAR0 through, and leaves the MSI-X page and the rest unmapped (EPT violations)', () => {
    const { vm } = setup();
    expect(vm.translate(0x1000, GPA_ACCESS.READ)).toBe(0x2000_1000);
    expect(vm.translate(0xe000_0018, GPA_ACCESS.WRITE)).toBe(0xf000_0018);
    expect(vm.translate(0xe100_0000, GPA_ACCESS.WRITE)).toBe(-1);
    expect(vm.translate(64 << 20, GPA_ACCESS.READ)).toBe(-1);
    expect(vm.msixOwner(0xe100_0010)).toBe(vm.assigned[0]);
    vm.mapPage(0xfeb0_0000, 0x60_0000);
    expect(vm.translate(0xfeb0_0010, GPA_ACCESS.READ)).toBe(0x60_0010);
    expect(() => vm.mapPage(0x1000, 0x60_0000)).toThrow(/inside the guest's RAM/);
  });

  it('maps a host-owned page read-only by default: a store or a fetch there is an EPT violation, and the permissions say why', () => {
    const { vm } = setup();
    vm.mapPage(0xfeb0_0000, 0x60_0000);
    expect(vm.translate(0xfeb0_0ff0, GPA_ACCESS.WRITE)).toBe(-1);
    expect(vm.translate(0xfeb0_0000, GPA_ACCESS.EXECUTE)).toBe(-1);
    expect(vm.isHostPage(0xfeb0_0123)).toBe(true);
    expect(vm.isHostPage(0xfeb0_1000)).toBe(false);
    // Bits 5:3 of the qualification come from these (readable only).
    expect(vm.permissions(0xfeb0_0010)).toBe(GPA_ACCESS.READ);
    expect(vm.permissions(0x1000)).toBe(GPA_ACCESS.READ | GPA_ACCESS.WRITE | GPA_ACCESS.EXECUTE);
    expect(vm.permissions(0xe100_0000)).toBe(0);
    // A page mapped writable on purpose is writable.
    vm.mapPage(0xfeb0_1000, 0x61_0000, GPA_ACCESS.READ | GPA_ACCESS.WRITE);
    expect(vm.translate(0xfeb0_1008, GPA_ACCESS.WRITE)).toBe(0x61_0008);
  });
});

describe('the virtual LAPIC timer on a host hrtimer', () => {
  it('arms a periodic timer from the guest x2APIC writes and raises the vector each period', () => {
    const { sim, stats, vm } = setup();
    const vcpu = testVcpu(sim, stats, vm, { virtualTimerHz: 100e6, scope: 'vcpu' });
    vcpu.apic.writeMsr(MSR.IA32_APIC_BASE, 0xfee00000 | 0xc00, 0);
    vcpu.apic.writeMsr(MSR.X2APIC_SVR, 0x1ff, 0);
    vcpu.apic.writeMsr(MSR.X2APIC_TIMER_DIVIDE_CONFIG, 0xb, 0); // divide by 1
    vcpu.apic.writeMsr(MSR.X2APIC_LVT_TIMER, 0xef | (TIMER_MODE.PERIODIC << LVT.TIMER_MODE_SHIFT), 0);
    vcpu.apic.writeMsr(MSR.X2APIC_TIMER_INITIAL_COUNT, 100_000, 0); // 1 ms at 100 MHz
    expect(vcpu.timerReprogram).toBe(true); // the host reprograms its deadline before the next entry
    expect(vcpu.apic.timer.hrtimer.expires).toBe(ms(1));
    sim.runUntil(us(1000));
    vcpu.apic.timer.hrtimer.fire(vcpu.apic.timer.hrtimer.expires);
    expect(vcpu.apic.hasInterrupt()).toBe(true);
    expect(vcpu.apic.acknowledge()).toBe(0xef);
    expect(vcpu.apic.timer.hrtimer.expires).toBe(ms(2));
    // EOI through the emulated x2APIC reports the vector it ended.
    expect(vcpu.apic.highestInService()).toBe(0xef);
    expect(vcpu.apic.writeMsr(MSR.X2APIC_EOI, 0, 0)).toBe(APIC_WRITE.EOI);
    expect(vcpu.apic.eoiVector).toBe(0xef);
    expect(vcpu.apic.highestInService()).toBe(-1);
    // A non-zero EOI write is a #GP in x2APIC mode.
    expect(vcpu.apic.writeMsr(MSR.X2APIC_EOI, 1, 0)).toBe(APIC_WRITE.GP);
  });
});

describe('the virtual LAPIC timer is bounded as KVM bounds it (min_timer_period_us)', () => {
  function timerVcpu() {
    const { sim, stats, vm } = setup();
    const vcpu = testVcpu(sim, stats, vm, { scope: 'vcpu' });
    vcpu.apic.writeMsr(MSR.IA32_APIC_BASE, 0xfee00000 | 0xc00, 0);
    vcpu.apic.writeMsr(MSR.X2APIC_SVR, 0x1ff, 0);
    vcpu.apic.writeMsr(MSR.X2APIC_TIMER_DIVIDE_CONFIG, 0xb, 0); // divide by 1
    return { sim, vcpu };
  }
  const periodic = 0xef | (TIMER_MODE.PERIODIC << LVT.TIMER_MODE_SHIFT);
  const oneShot = 0xef | (TIMER_MODE.ONE_SHOT << LVT.TIMER_MODE_SHIFT);

  it('raises a periodic period below 200 µs to 200 µs (initial count 1 at divide-by-1 is 7.5 ns of bus clock)', () => {
    const { vcpu } = timerVcpu();
    vcpu.apic.writeMsr(MSR.X2APIC_LVT_TIMER, periodic, 0);
    vcpu.apic.writeMsr(MSR.X2APIC_TIMER_INITIAL_COUNT, 1, 0);
    expect(vcpu.apic.timer.hrtimer.expires).toBe(us(200));
    expect(vcpu.counters.timerPeriodLimited.value).toBe(1);
    // Each expiry re-arms one bounded period later, never in the past.
    vcpu.apic.timer.hrtimer.fire(us(200));
    expect(vcpu.apic.timer.hrtimer.expires).toBe(us(400));
    // A period above the floor is left alone: 26,666 × 7.5 ns ≈ 200 µs + a little.
    vcpu.apic.writeMsr(MSR.X2APIC_TIMER_INITIAL_COUNT, 40_000, 0);
    expect(vcpu.counters.timerPeriodLimited.value).toBe(1);
  });

  it('leaves a one-shot count alone, but bounds it once the LVT turns it periodic', () => {
    const { vcpu, sim } = timerVcpu();
    vcpu.apic.writeMsr(MSR.X2APIC_LVT_TIMER, oneShot, 0);
    vcpu.apic.writeMsr(MSR.X2APIC_TIMER_INITIAL_COUNT, 1, 0);
    expect(vcpu.apic.timer.hrtimer.expires).toBe(sim.now + 7500);
    vcpu.apic.writeMsr(MSR.X2APIC_LVT_TIMER, periodic, 0);
    expect(vcpu.counters.timerPeriodLimited.value).toBe(1);
    vcpu.apic.timer.hrtimer.fire(7500);
    expect(vcpu.apic.timer.hrtimer.expires).toBe(7500 + us(200));
  });

  it('disarms the timer and clears the count when the LVT enters or leaves TSC-deadline mode (SDM §10.5.4.1)', () => {
    const { vcpu, sim } = timerVcpu();
    vcpu.apic.writeMsr(MSR.X2APIC_LVT_TIMER, periodic, 0);
    vcpu.apic.writeMsr(MSR.X2APIC_TIMER_INITIAL_COUNT, 100_000, 0);
    expect(vcpu.apic.timer.hrtimer.expires).toBeGreaterThan(0);
    vcpu.apic.writeMsr(MSR.X2APIC_LVT_TIMER, 0xef | (TIMER_MODE.TSC_DEADLINE << LVT.TIMER_MODE_SHIFT), 0);
    expect(vcpu.apic.timer.hrtimer.expires).toBe(-1);
    const out = { lo: 0, hi: 0 };
    expect(vcpu.apic.readMsr(MSR.X2APIC_TIMER_INITIAL_COUNT, out)).toBe(true);
    expect(out.lo).toBe(0);
    // A deadline already in the past fires at once (now), not earlier.
    sim.runUntil(us(10));
    vcpu.apic.writeMsr(MSR.IA32_TSC_DEADLINE, 1, 0);
    expect(vcpu.apic.timer.hrtimer.expires).toBe(us(10));
  });
});

describe("the host tick's phase", () => {
  function hypervisor(tickPhasePs: number | undefined) {
    const sim = new Simulator();
    const stats = new Stats(sim);
    const memory = new SparseMemory(1 << 30);
    const pages = new PageAllocator(memory, 0x100_0000, 0x10_0000);
    const costs: HostCosts = {
      exitDispatch: 0,
      entryPrepare: 0,
      injection: 0,
      externalInterruptExit: 0,
      msrEmulation: 0,
      eoiEmulation: 0,
      mmioEmulation: 0,
      interruptWindowExit: 0,
      haltBlock: 0,
      haltWake: 0,
      irqEntry: 0,
      irqExit: 0,
      assignedHardIrq: 0,
      irqThreadWake: 0,
      contextSwitch: 0,
      kvmSetIrq: 0,
      vcpuPutLoad: 0,
      hostTick: 0,
      hrtimerExpire: 0,
      vmcall: 0,
      otherExit: 0,
    };
    return new Hypervisor({
      sim,
      memory,
      code: new CodeSpace(),
      cpus: [{ index: 0, apicId: 0, ...(tickPhasePs === undefined ? {} : { tickPhasePs }) }],
      tscHz: 2.93e9,
      virtualApicTimerHz: 133.33e6,
      hostHz: 1000,
      costs,
      strategy: new BaselineStrategy({ injection: 0 }),
      interruptRemapping: new InterruptRemappingTable(memory, pages, 256),
      x2apicInterruptRemapping: true,
      stats: stats.scope('kvm'),
    });
  }

  it('arms the first tick at the phase, and every tick a whole period later', () => {
    expect(hypervisor(undefined).nextDeadline(0)).toBe(ms(1));
    const hv = hypervisor(us(250));
    expect(hv.nextDeadline(0)).toBe(us(250));
    hv.hostTimer(0, us(250));
    expect(hv.nextDeadline(0)).toBe(us(1250));
    // A tick handled late (at 2.7 ms) re-arms on the grid, not a period after it ran.
    hv.hostTimer(0, us(2700));
    expect(hv.nextDeadline(0)).toBe(us(3250));
  });

  it('rejects a phase outside one period, naming the CPU and the field', () => {
    for (const bad of [-1, ms(1), 0.5, Number.NaN]) {
      expect(() => hypervisor(bad)).toThrow(HypervisorConfigError);
      expect(() => hypervisor(bad)).toThrow(
        /cpus\[0\]\.tickPhasePs must be an integer number of ps in \[0, /,
      );
    }
  });
});
