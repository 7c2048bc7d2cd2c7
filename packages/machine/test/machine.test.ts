import { GUEST_LAYOUT, GUEST_VECTOR } from '@exitless/guest';
import { BaselineStrategy, HOST_VECTOR, type Vcpu } from '@exitless/hypervisor';
import { makeTcpSegmentFields, readTcpSegment } from '@exitless/net';
import { us } from '@exitless/sim';
import { type CpuContext, EXIT_REASON, INTR_TYPE, interruptionInfo, MSR, VMCS_FIELD } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { Machine, MachineConfigError, runMachine } from '../src/index.js';

const SHORT = { durationMs: 4, warmupMs: 2 };

/** Baseline, recording the first exit of each kind with the fields the SDM says it carries. */
class RecordingBaseline extends BaselineStrategy {
  readonly firsts = new Map<number, { info: number; rcx: number; rax: number; gpa: number; at: number }>();

  override handleExit(cpu: CpuContext, _vcpu: Vcpu, reason: number): number {
    if (!this.firsts.has(reason)) {
      this.firsts.set(reason, {
        info: cpu.vmread(VMCS_FIELD.VM_EXIT_INTR_INFO),
        rcx: cpu.rcx,
        rax: cpu.rax,
        gpa: cpu.vmread(VMCS_FIELD.GUEST_PHYSICAL_ADDRESS),
        at: cpu.now,
      });
    }
    return -1;
  }
}

describe('bare metal', () => {
  it('runs netperf with no exits: the NIC interrupt goes MSI → LAPIC → guest IDT gate 0x41 → EOI', () => {
    const m = new Machine({ mode: 'bare-metal' });
    const r = runMachine(m, SHORT);
    expect(r.exitsPerSecond.total).toBe(0);
    expect(r.throughput.value).toBeGreaterThan(1000);
    expect(r.assignedInterrupts).toBeGreaterThan(0);
    // Every MSI the VF sent was acknowledged by the CPU from its LAPIC and delivered through the IDT.
    expect(m.cpu.deliveredRoot[GUEST_VECTOR.NIC_QUEUE]).toBe(r.assignedInterrupts);
    expect(r.network.rxMissed).toBe(0);
  });
});

describe('baseline device assignment', () => {
  it('every assigned interrupt costs an external-interrupt exit and an EOI exit; IF = 0 adds window exits', () => {
    const m = new Machine({ mode: 'baseline' });
    m.start();
    m.sim.runUntil(us(4000));
    const c = m.stats.snapshot().counters;
    const msis = c['nic.vf0.interrupts.total'] ?? 0;
    const hostHandled = m.cpu.deliveredRoot[HOST_VECTOR.ASSIGNED_BASE]!;
    expect(msis).toBeGreaterThan(100);
    // Each VF MSI became a physical interrupt that the host handled (one may still be in flight).
    expect(hostHandled).toBeGreaterThanOrEqual(msis - 1);
    expect(hostHandled).toBeLessThanOrEqual(msis);
    // While the guest runs, each one is an external-interrupt exit (the rest found the vCPU
    // halted in the host, which took them through its own IDT).
    const ext = c['cpu0.exits.external-interrupt'] ?? 0;
    const halts = c['cpu0.exits.hlt'] ?? 0;
    expect(ext + halts).toBeGreaterThanOrEqual(hostHandled);
    // Each NIC interrupt injected into the guest is EOI'd by a WRMSR 0x80B that exits.
    expect(c['kvm.guest0.vcpu0.virtual-eois']!).toBeGreaterThanOrEqual(
      m.cpu.deliveredGuest[GUEST_VECTOR.NIC_QUEUE]! - 1,
    );
    expect(c['cpu0.exits.wrmsr']!).toBeGreaterThanOrEqual(c['kvm.guest0.vcpu0.virtual-eois']!);
    expect(c['cpu0.exits.interrupt-window']).toBeGreaterThan(0);
    const r = runMachine(new Machine({ mode: 'baseline' }), SHORT);
    expect(r.exitsPerAssignedInterrupt).toBeGreaterThanOrEqual(2);
    expect(r.stopped).toBeNull();
  });

  it('loses throughput to time outside the guest, and the report shows where it went', () => {
    const bare = runMachine(new Machine({ mode: 'bare-metal' }), SHORT);
    const base = runMachine(new Machine({ mode: 'baseline' }), SHORT);
    expect(base.throughput.value).toBeLessThan(bare.throughput.value);
    const t = base.cpus[0]!.time;
    expect(t.host + t.transition + t.exitIndirect).toBeGreaterThan(0.05);
    expect(base.timeInGuest).toBeLessThan(0.95);
  });

  it('follows one packet: DMA through the IOMMU, remapped MSI-X, LAPIC IRR, exit 1 with the host vector, injection through gate 0x41, NAPI, EOI exit', () => {
    const strategy = new RecordingBaseline({ injection: 300 });
    const m = new Machine({ mode: 'recording', strategies: { recording: () => strategy } });
    m.start();
    // Once the stream runs the guest is busy: follow the next packet's interrupt from there.
    m.sim.runUntil(us(2000));
    const delivered0 = m.cpu.deliveredGuest[GUEST_VECTOR.NIC_QUEUE]!;
    m.sim.runWhile(() => m.cpu.deliveredGuest[GUEST_VECTOR.NIC_QUEUE] === delivered0);
    // The next MSI-X message the VF sends: follow it.
    const msi0 = m.stats.counterValue('nic.vf0.interrupts.total');
    m.sim.runWhile(() => m.stats.counterValue('nic.vf0.interrupts.total') === msi0);
    strategy.firsts.clear();
    const irr0 = m.stats.counterValue('lapic0.accepted');
    const polls0 = m.stats.counterValue('guest0.napi.polls');
    const eois0 = m.stats.counterValue('kvm.guest0.vcpu0.virtual-eois');
    const delivered1 = m.cpu.deliveredGuest[GUEST_VECTOR.NIC_QUEUE]!;
    m.sim.runWhile(() => m.cpu.deliveredGuest[GUEST_VECTOR.NIC_QUEUE] === delivered1 && m.sim.now < us(5000));
    const c = () => m.stats.snapshot().counters;
    // The first frame reached guest memory by DMA through the IOMMU's translation.
    expect(c()['nic.vf0.rx.frames']).toBeGreaterThan(0);
    expect(c()['iommu.dma.writes']).toBeGreaterThan(0);
    expect(c()['iommu.dma.faults'] ?? 0).toBe(0);
    const vm = m.vm!;
    // A descriptor the NIC wrote back (DD set) and not yet cleaned: its buffer holds the frame.
    let done = -1;
    for (let i = 0; i < 512 && done < 0; i++)
      if ((vm.memory.read8(GUEST_LAYOUT.RX_RING + i * 16 + 12) & 1) !== 0) done = i;
    expect(done).toBeGreaterThanOrEqual(0);
    const len = vm.memory.read16(GUEST_LAYOUT.RX_RING + done * 16 + 8);
    const header = new Uint8Array(128);
    vm.memory.readBytes(GUEST_LAYOUT.RX_BUFFERS + done * GUEST_LAYOUT.BUFFER_SIZE, header, 0, 128);
    const seg = makeTcpSegmentFields();
    expect(readTcpSegment(header, len, seg)).toBe(true);
    expect(seg.dstMac).toBe(m.vf.mac);
    expect(seg.payloadLength).toBe(1448);
    // The VF's MSI-X write was remappable format and went through a present IRTE.
    expect(c()['iommu.ir.remapped']).toBeGreaterThan(0);
    expect(c()['iommu.ir.compat'] ?? 0).toBe(0);
    expect(m.stats.counterValue('lapic0.accepted')).toBeGreaterThan(irr0);
    // The LAPIC's interrupt made the guest exit with reason 1, acknowledged on exit: info = valid | host vector.
    const ext = strategy.firsts.get(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(ext).toBeDefined();
    expect(ext!.info).toBe(interruptionInfo(HOST_VECTOR.ASSIGNED_BASE, INTR_TYPE.EXTERNAL_INTERRUPT, false));
    expect(m.cpu.deliveredRoot[HOST_VECTOR.ASSIGNED_BASE]).toBeGreaterThan(0);
    // The host's handler marked the guest's vector and KVM injected it through the guest IDT's gate 0x41.
    expect(c()['kvm.assigned-interrupts']).toBeGreaterThan(0);
    expect(c()['kvm.guest0.vcpu0.injections']).toBeGreaterThan(0);
    expect(m.cpu.deliveredGuest[GUEST_VECTOR.NIC_QUEUE]).toBe(delivered1 + 1);
    // Let the handler run: NAPI polls the ring, and the guest's EOI (WRMSR 0x80B) exits.
    m.sim.runUntil(m.sim.now + us(50));
    expect(m.stats.counterValue('guest0.napi.polls')).toBeGreaterThan(polls0);
    const eoi = strategy.firsts.get(EXIT_REASON.WRMSR);
    expect(eoi).toBeDefined();
    expect(eoi!.rcx).toBe(MSR.X2APIC_EOI);
    expect(eoi!.at).toBeGreaterThan(ext!.at);
    expect(m.stats.counterValue('kvm.guest0.vcpu0.virtual-eois')).toBeGreaterThan(eois0);
  });
});

describe('reports', () => {
  it('are byte-identical for the same seed', () => {
    const a = JSON.stringify(runMachine(new Machine({ mode: 'baseline', seed: 7 }), SHORT));
    const b = JSON.stringify(runMachine(new Machine({ mode: 'baseline', seed: 7 }), SHORT));
    expect(a).toBe(b);
    expect(JSON.parse(a).schemaVersion).toBe(1);
  });

  it('reject configurations that cannot be built, saying what to change', () => {
    expect(() => new Machine({ mode: 'nope' })).toThrow(MachineConfigError);
    expect(() => new Machine({ mode: 'nope' })).toThrow(/use one of bare-metal, baseline/);
    expect(() => new Machine({ mode: 'baseline', guestMemoryMiB: 3 })).toThrow(/guestMemoryMiB/);
    expect(() => new Machine({ mode: 'baseline', interruptIntervalUs: -1 })).toThrow(/interruptIntervalUs/);
    expect(() => runMachine(new Machine({ mode: 'baseline' }), { durationMs: 0, warmupMs: 0 })).toThrow(
      /durationMs/,
    );
  });
});
