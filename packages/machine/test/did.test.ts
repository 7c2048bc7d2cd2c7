/**
 * `did`: Direct Interrupt Delivery as the model builds it (see the root README and
 * packages/hypervisor/src/did.ts). The VMCS controls, the MSR bitmap and the VF's remapped IRTE
 * read back bit by bit; one VF interrupt followed through each path (the guest running, halted
 * in guest mode, the host running after an exit); the guest's timer on the physical LAPIC timer;
 * the host's time on the preemption timer and its own device interrupts as NMIs; a vector of
 * the host's classes refused; exits per assigned interrupt measured on both profiles.
 */
import { GUEST_VECTOR } from '@exitless/guest';
import { DID_VECTOR_RANGE, HOST_VECTOR } from '@exitless/hypervisor';
import { SVT } from '@exitless/iommu';
import { ms, us } from '@exitless/sim';
import {
  EXIT_REASON,
  LVT,
  MSR,
  type MsrValue,
  msrBitmapPosition,
  PIN_BASED,
  PROC_BASED,
  TIMER_MODE,
  VMCS_FIELD,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { Machine, MachineConfigError, runMachine, WORKLOADS, XEON_SKYLAKE_SP } from '../src/index.js';
import { type Adversary, adversary, fireVf, totalExits } from './adversary.js';

function didMachine(workload?: string): { m: Machine; c: (k: string) => number } {
  const m = new Machine({ mode: 'did', ...(workload !== undefined ? { workload } : {}) });
  return { m, c: (k) => m.stats.counterValue(k) };
}

/** Whether MSR `index`'s read or write intercept bit is set in vCPU 0's MSR bitmap. */
function intercepted(m: Machine, index: number, write: boolean): boolean {
  const pos = msrBitmapPosition(index, write);
  const bitmap = m.hypervisor!.vcpus[0]!.msrBitmapAddress;
  return ((m.memory.read8(bitmap + (pos >>> 3)) >>> (pos & 7)) & 1) === 1;
}

/** A physical LAPIC register of CPU 0, as an x2APIC MSR. */
function physical(m: Machine, index: number): number {
  const out: MsrValue = { lo: 0, hi: 0 };
  m.lapic.readMsr(index, out);
  return out.lo >>> 0;
}

describe('did: the controls, the MSR bitmap and the VF’s IRTE, bit-exact', () => {
  it('external-interrupt exiting 0, NMI exiting 1, the preemption timer on; HLT does not exit; the EOI write, the PPR/ISR/IRR and current-count reads and IA32_TSC_DEADLINE pass through, every other x2APIC access exits', () => {
    const { m } = didMachine();
    m.start();
    m.sim.runUntil(us(400));
    // VMREAD in root mode: at the next exit (the host's tick), the vCPU's VMCS current.
    m.sim.runWhile(() => m.cpu.vmxNonRoot);
    const pin = m.cpu.vmread(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL);
    expect(pin & PIN_BASED.EXTERNAL_INTERRUPT_EXITING).toBe(0);
    expect(pin & PIN_BASED.NMI_EXITING).toBe(PIN_BASED.NMI_EXITING);
    expect(pin & PIN_BASED.ACTIVATE_PREEMPTION_TIMER).toBe(PIN_BASED.ACTIVATE_PREEMPTION_TIMER);
    expect(pin & PIN_BASED.PROCESS_POSTED_INTERRUPTS).toBe(0);
    expect(m.cpu.vmread(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL) & PROC_BASED.HLT_EXITING).toBe(0);
    expect(m.cpu.vmread(VMCS_FIELD.EXCEPTION_BITMAP)).toBe(0);
    expect(intercepted(m, MSR.X2APIC_EOI, true)).toBe(false);
    expect(intercepted(m, MSR.X2APIC_PPR, false)).toBe(false);
    for (let i = 0; i < 8; i++) {
      expect(intercepted(m, MSR.X2APIC_ISR0 + i, false)).toBe(false);
      expect(intercepted(m, MSR.X2APIC_IRR0 + i, false)).toBe(false);
    }
    expect(intercepted(m, MSR.X2APIC_TIMER_CURRENT_COUNT, false)).toBe(false);
    expect(intercepted(m, MSR.IA32_TSC_DEADLINE, true)).toBe(false);
    expect(intercepted(m, MSR.IA32_TSC_DEADLINE, false)).toBe(false);
    for (const index of [
      MSR.X2APIC_TPR,
      MSR.X2APIC_ICR,
      MSR.X2APIC_SELF_IPI,
      MSR.X2APIC_LVT_TIMER,
      MSR.X2APIC_TIMER_INITIAL_COUNT,
      MSR.X2APIC_TIMER_DIVIDE_CONFIG,
      MSR.IA32_APIC_BASE,
    ]) {
      expect(intercepted(m, index, true), `0x${index.toString(16)}`).toBe(true);
    }
    expect(intercepted(m, MSR.X2APIC_TPR, false)).toBe(true);
  });

  it("IRTE 0 (the VF's RX entry) is remapped (IM 0) with the guest's own vector 0x41 in bits 23:16, destination APIC ID 0 (x2APIC, bits 63:32), fixed, physical, SID = the VF's requester ID with SVT 01b; the host keeps no vector of its own for it", () => {
    const { m } = didMachine();
    m.start();
    m.sim.runUntil(us(400));
    const irt = m.hypervisor!.options.interruptRemapping;
    const w = [0, 4, 8, 12].map((o) => m.memory.read32(irt.address + o) >>> 0);
    expect(w[0]).toBe((1 | (GUEST_VECTOR.NIC_RX << 16)) >>> 0);
    expect(w[1]).toBe(0);
    expect(w[2]).toBe((m.vf.requesterId | (SVT.REQUESTER_ID << 18)) >>> 0);
    expect(w[3]).toBe(0);
    const a = m.vm!.assigned[0]!;
    for (let i = 0; i < a.guestVectors.length; i++) {
      if (a.guestVectors[i]! < 0) continue;
      expect(a.hostVectors[i]).toBe(a.guestVectors[i]);
      expect(a.posted[i]).toBe(0);
    }
  });
});

describe('did: one VF interrupt through each path', () => {
  it('while the guest runs (Apache, whose guest never idles): MSI → remapped IRTE → the physical LAPIC’s IRR[0x41] → the guest’s own IDT gate → its handler → its EOI to the physical LAPIC — no exit from the MSI to the EOI', () => {
    const { m, c } = didMachine('apache');
    m.start();
    m.sim.runUntil(m.instances[0]!.loadStartPs + us(1000));
    let found = false;
    for (let tries = 0; tries < 300 && !found; tries++) {
      const msi = c('nic.vf0.interrupts.v0');
      m.sim.runWhile(() => c('nic.vf0.interrupts.v0') === msi);
      if (!m.cpu.vmxNonRoot || m.cpu.isHalted) continue;
      const exits = totalExits(m);
      const remapped = c('iommu.ir.remapped');
      const delivered = m.cpu.deliveredGuest[GUEST_VECTOR.NIC_RX]!;
      const root = m.cpu.deliveredRoot[GUEST_VECTOR.NIC_RX]!;
      const eois = c('lapic0.eoi');
      const until = m.sim.now + us(30);
      m.sim.runWhile(() => m.sim.now < until && c('lapic0.eoi') === eois);
      if (c('lapic0.eoi') === eois || totalExits(m) !== exits) continue;
      expect(c('iommu.ir.remapped')).toBeGreaterThanOrEqual(remapped);
      expect(m.cpu.deliveredGuest[GUEST_VECTOR.NIC_RX]).toBe(delivered + 1);
      expect(m.cpu.deliveredRoot[GUEST_VECTOR.NIC_RX]).toBe(root);
      found = true;
    }
    expect(found).toBe(true);
    expect(c('kvm.exits-handled.external-interrupt')).toBe(0);
    expect(c('kvm.exits-handled.wrmsr')).toBeLessThan(20); // boot and timer programming only
  });

  it('while the guest is halted: its HLT does not exit, and the VF’s interrupt wakes it in guest mode and reaches its handler with no exit', () => {
    const { m, c } = didMachine();
    m.start();
    m.sim.runUntil(m.instances[0]!.loadStartPs + us(1000));
    let found = false;
    for (let tries = 0; tries < 300 && !found; tries++) {
      m.sim.runWhile(() => !(m.cpu.vmxNonRoot && m.cpu.isHalted));
      const exits = totalExits(m);
      const delivered = m.cpu.deliveredGuest[GUEST_VECTOR.NIC_RX]!;
      const msi = c('nic.vf0.interrupts.v0');
      m.sim.runWhile(() => m.cpu.isHalted && c('nic.vf0.interrupts.v0') === msi);
      if (c('nic.vf0.interrupts.v0') === msi) continue;
      const until = m.sim.now + us(10);
      m.sim.runWhile(() => m.sim.now < until && m.cpu.deliveredGuest[GUEST_VECTOR.NIC_RX] === delivered);
      if (totalExits(m) !== exits) continue;
      expect(m.cpu.deliveredGuest[GUEST_VECTOR.NIC_RX]).toBe(delivered + 1);
      found = true;
    }
    expect(found).toBe(true);
    expect(c('kvm.exits-handled.hlt')).toBe(0);
  });

  it('while the host runs after an exit: the host’s IDT takes the guest’s 0x41 (did’s handler: recorded, EOI’d), and before the entry raises it again as a self-IPI with interrupts off, so the guest takes it through its own IDT at the entry', () => {
    const { m, c } = didMachine();
    m.start();
    m.sim.runUntil(m.instances[0]!.loadStartPs + us(1000));
    // The host runs after the preemption timer's exit (its tick): fire the VF then.
    m.sim.runWhile(() => m.cpu.vmxNonRoot);
    const taken = c('did.taken-by-host');
    const selfIpis = c('did.self-ipis');
    const delivered = m.cpu.deliveredGuest[GUEST_VECTOR.NIC_RX]!;
    fireVf(m);
    const until = m.sim.now + us(20);
    m.sim.runWhile(() => m.sim.now < until && m.cpu.deliveredGuest[GUEST_VECTOR.NIC_RX] === delivered);
    expect(c('did.taken-by-host')).toBe(taken + 1);
    expect(c('did.self-ipis')).toBeGreaterThanOrEqual(selfIpis + 1);
    expect(m.cpu.deliveredGuest[GUEST_VECTOR.NIC_RX]).toBe(delivered + 1);
    expect(m.cpu.vmxNonRoot).toBe(true);
  });
});

describe('did: the guest’s timer on the physical LAPIC timer, the host’s on the preemption timer', () => {
  it('the guest’s periodic tick is programmed into the physical LAPIC (LVT: its vector 0xEF, periodic; its count) and every tick reaches the guest with no exit; the host’s tick comes through exit 52, the host’s timer vector is never delivered in root mode', () => {
    const { m, c } = didMachine();
    m.start();
    m.sim.runUntil(ms(2));
    const lvt = physical(m, MSR.X2APIC_LVT_TIMER);
    expect(lvt & LVT.VECTOR_MASK).toBe(GUEST_VECTOR.LOCAL_TIMER);
    expect((lvt >>> LVT.TIMER_MODE_SHIFT) & 3).toBe(TIMER_MODE.PERIODIC);
    expect(lvt & LVT.MASKED).toBe(0);
    expect(physical(m, MSR.X2APIC_TIMER_INITIAL_COUNT)).toBe(m.guest!.tick.periodCount);
    const ticks0 = c('guest0.interrupts-timer');
    const hostTicks0 = c('kvm.pcpu0.ticks');
    const exits0 = c('kvm.exits-handled.preemption-timer');
    const wrmsr0 = c('kvm.exits-handled.wrmsr');
    const rootTimer0 = m.cpu.deliveredRoot[HOST_VECTOR.LOCAL_TIMER]!;
    m.sim.runUntil(ms(22));
    const guestTicks = c('guest0.interrupts-timer') - ticks0;
    expect(guestTicks).toBeGreaterThanOrEqual(4); // 20 ms of the guest's 250 Hz tick
    expect(c('kvm.guest0.vcpu0.timer-fires')).toBe(0); // the emulation never fired it
    expect(c('kvm.exits-handled.wrmsr')).toBe(wrmsr0); // nor was it re-programmed
    expect(c('kvm.exits-handled.external-interrupt')).toBe(0);
    // The host's 1 kHz tick: one preemption-timer exit per tick, none of it through its vector.
    const hostTicks = c('kvm.pcpu0.ticks') - hostTicks0;
    expect(hostTicks).toBeGreaterThanOrEqual(19);
    expect(hostTicks).toBeLessThanOrEqual(21);
    expect(c('kvm.exits-handled.preemption-timer') - exits0).toBe(hostTicks);
    expect(m.cpu.deliveredRoot[HOST_VECTOR.LOCAL_TIMER]).toBe(rootTimer0);
  });

  it('a host device’s interrupt for the core arrives as an NMI: it exits (reason 0, NMI), the host’s NMI handler runs it once, and the guest never sees its vector', () => {
    const { m, c } = didMachine();
    m.start();
    m.sim.runUntil(m.instances[0]!.loadStartPs + us(500));
    m.sim.runWhile(() => !m.cpu.vmxNonRoot || m.cpu.isHalted);
    const nmiExits = c('kvm.exits-handled.exception-or-nmi');
    m.hypervisor!.hostDeviceInterrupt(0, 0x30);
    m.sim.runUntil(m.sim.now + us(50));
    expect(c('kvm.exits-handled.exception-or-nmi')).toBe(nmiExits + 1);
    expect(m.hypervisor!.handledVectors[0x30]).toBe(1);
    expect(m.cpu.deliveredGuest[0x30]).toBe(0);
    expect(m.cpu.deliveredRoot[0x30]).toBe(0);
    expect(m.stopReason).toBeNull();
    expect(m.cpu.counters.exits[EXIT_REASON.EXCEPTION_OR_NMI]?.value).toBe(nmiExits + 1);
  });
});

describe('did: what a hostile guest can and cannot do', () => {
  it(`an MSI-X entry with a vector of the host's classes (0x${(DID_VECTOR_RANGE.highest + 1).toString(16)} and up) is refused: no IRTE, the physical entry stays masked, counted; the host runs on`, () => {
    const out: { a?: Adversary } = {};
    const m = new Machine({
      mode: 'did',
      guestOverride: (env) =>
        adversary(
          env,
          {
            msi: { vector: 0xe5, destination: 0 },
            extra: [(c) => c.sti()],
            loop: [(c) => c.compute(50_000)],
          },
          out,
        ),
    });
    m.start();
    m.sim.runUntil(ms(3));
    const a = m.vm!.assigned[0]!;
    expect(a.guestVectors[0]).toBe(0xe5);
    expect(a.hostVectors[0]).toBe(-1);
    expect(a.refusedEntries.value).toBe(1);
    expect(m.vf.msixBar.mmioRead(12, 4) & 1).toBe(1);
    expect(m.hypervisor!.options.interruptRemapping.read(0).present).toBe(false);
    expect(m.stats.counterValue('kvm.pcpu0.ticks')).toBeGreaterThanOrEqual(2);
    expect(m.stopReason).toBeNull();
  });

  it('a guest that keeps interrupts off and never EOIs its device cannot hold off the host: its ticks come every millisecond through exit 52, and a host device interrupt is handled once', () => {
    const out: { a?: Adversary } = {};
    const m = new Machine({
      mode: 'did',
      guestOverride: (env) =>
        adversary(
          env,
          {
            nicEoi: false,
            extra: [(c) => c.sti()],
            loop: [(c) => c.sti(), (c) => c.compute(200_000), (c) => c.cli(), (c) => c.compute(10_000_000)],
          },
          out,
        ),
    });
    m.start();
    m.sim.runUntil(ms(1));
    fireVf(m);
    const ticks0 = m.stats.counterValue('kvm.pcpu0.ticks');
    m.sim.runUntil(ms(2));
    m.hypervisor!.hostDeviceInterrupt(0, 0x30);
    m.sim.runUntil(ms(11));
    expect(m.stats.counterValue('kvm.pcpu0.ticks') - ticks0).toBeGreaterThanOrEqual(9);
    expect(m.hypervisor!.handledVectors[0x30]).toBe(1);
    expect(out.a!.nic.count).toBe(1);
    expect(m.stopReason).toBeNull();
  });
});

describe('did: exits per assigned interrupt, measured', () => {
  for (const profile of [undefined, XEON_SKYLAKE_SP]) {
    it(`netperf TCP_STREAM on ${profile?.name ?? 'xeon-x5570'}: after boot only the host's tick exits (the preemption timer), far below one exit per assigned interrupt`, () => {
      const run = { durationMs: 20, warmupMs: 10 };
      const m = new Machine({ mode: 'did', ...(profile !== undefined ? { profile } : {}) });
      const r = runMachine(m, run);
      expect(r.stopped).toBeNull();
      expect(r.assignedInterrupts).toBeGreaterThan(200);
      expect(Object.keys(r.exitsPerSecond.byReason)).toEqual(['preemption-timer']);
      expect(r.exitsPerAssignedInterrupt).toBeLessThan(0.1);
      expect(m.stats.counterValue('kvm.assigned-interrupts')).toBe(0);
    });
  }

  it('every workload runs on both profiles', () => {
    for (const profile of [undefined, XEON_SKYLAKE_SP]) {
      for (const workload of WORKLOADS) {
        const m = new Machine({ mode: 'did', workload, ...(profile !== undefined ? { profile } : {}) });
        const r = runMachine(m, { durationMs: 4, warmupMs: 2 });
        expect(r.stopped, `${workload} on ${profile?.name ?? 'xeon-x5570'}`).toBeNull();
        expect(r.throughput.value).toBeGreaterThan(0);
      }
    }
  });
});

describe('did: the guest must be in x2APIC mode', () => {
  it('an xAPIC guest is refused before anything is built, with the value to use', () => {
    const make = () => new Machine({ mode: 'did', guestApicMode: 'xapic' });
    expect(make).toThrow(MachineConfigError);
    expect(make).toThrow(/mode 'did' passes the guest's EOI .*: use guestApicMode 'x2apic'$/);
  });
});
