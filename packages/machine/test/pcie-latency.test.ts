import { IVAR, VF_REG } from '@exitless/nic';
import { ns, us } from '@exitless/sim';
import { APIC_REG, encodeCompatMsiAddress, MSIX_ENTRY } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { Machine, profileValue, runMachine } from '../src/index.js';

/** Bit `vector` of the LAPIC's 256-bit IRR, read from its register page (SDM vol. 3 §10.8.4). */
function irrHas(m: Machine, vector: number): boolean {
  return ((m.lapic.mmioRead(APIC_REG.IRR0 + (vector >>> 5) * 0x10, 4) >>> (vector & 31)) & 1) === 1;
}

describe("the interrupt path's PCIe latencies (default profile)", () => {
  it('follows one MMIO write and one MSI: VFEIMS store at t, the VF sees it at t + L_down and sends its MSI, the IOMMU takes it at + L_up, IRR is set after the IRTE fetch', () => {
    const m = new Machine({ mode: 'baseline' });
    const pv = (k: string) => ns(profileValue(m.profile, k));
    const down = pv('pcie.postedWriteNs');
    const up = pv('pcie.msiNs');
    const irte = pv('iommu.irteFetchNs');
    const vf = m.vf;
    const bar0 = m.nic.vfBarAddress(0, 0);
    const c = (k: string) => m.stats.counterValue(k);
    // The host's LAPIC, software-enabled (SVR bit 8), takes fixed interrupts.
    m.lapic.mmioWrite(APIC_REG.SVR, 4, 0x1ff);
    // The guest programs MSI-X entry 0 and unmasks it (trapped): the host writes a remapped
    // IRTE for a host vector and programs the physical entry — posted writes across the link.
    const assigned = m.vm!.assigned[0]!;
    const entry = assigned.config.guestBar3;
    assigned.writeMsix(
      entry + MSIX_ENTRY.ADDRESS_LO,
      encodeCompatMsiAddress({ destination: 0, redirectionHint: 0, destMode: 0 }),
    );
    assigned.writeMsix(entry + MSIX_ENTRY.ADDRESS_HI, 0);
    assigned.writeMsix(entry + MSIX_ENTRY.DATA, 0x41);
    assigned.writeMsix(entry + MSIX_ENTRY.VECTOR_CONTROL, 0);
    const hostVector = assigned.hostVectors[0]!;
    expect(hostVector).toBeGreaterThanOrEqual(0x20);
    // The driver: RX queue → vector 0, auto-clear and auto-mask on send, and a cause pending
    // (VFEICS) while the vector is masked (VFEIMS clear) — as when NAPI polls with it masked.
    m.bus.write(bar0 + VF_REG.VFIVAR0, 4, IVAR.ALLOC_VAL | 0);
    m.bus.write(bar0 + VF_REG.VFEIAC, 4, 1);
    m.bus.write(bar0 + VF_REG.VFEIAM, 4, 1);
    m.bus.write(bar0 + VF_REG.VFEICS, 4, 1);
    m.sim.runUntil(us(10));
    expect(m.pcie.writesInFlight).toBe(0);
    expect(vf.registers.mmioRead(VF_REG.VFEICS, 4)).toBe(1);
    expect(c('nic.vf0.interrupts.total')).toBe(0);

    // t: the store that unmasks the vector. It completes on the CPU at once; the VF (read
    // here directly, not across the link) does not see it yet.
    const t = m.sim.now;
    m.bus.write(bar0 + VF_REG.VFEIMS, 4, 1);
    expect(vf.registers.mmioRead(VF_REG.VFEIMS, 4)).toBe(0);
    m.sim.runUntil(t + down - 1);
    expect(vf.registers.mmioRead(VF_REG.VFEIMS, 4)).toBe(0);
    expect(c('nic.vf0.interrupts.total')).toBe(0);

    // t + L_down: the VF sees VFEIMS = 1 with the cause pending and writes its MSI (t').
    m.sim.runUntil(t + down);
    const t1 = t + down;
    expect(c('nic.vf0.interrupts.total')).toBe(1);
    expect(m.pcie.msisInFlight).toBe(1);
    // EIAM masked the vector again and EIAC cleared the cause as the message went out.
    expect(vf.registers.mmioRead(VF_REG.VFEIMS, 4)).toBe(0);
    expect(vf.registers.mmioRead(VF_REG.VFEICS, 4)).toBe(0);

    // t' + L_up: the MSI reaches the IOMMU, which fetches the IRTE and remaps it.
    m.sim.runUntil(t1 + up - 1);
    expect(c('iommu.ir.requests')).toBe(0);
    m.sim.runUntil(t1 + up);
    expect(c('iommu.ir.requests')).toBe(1);
    expect(c('iommu.ir.remapped')).toBe(1);
    expect(irrHas(m, hostVector)).toBe(false);

    // t' + L_up + IRTE fetch: the remapped interrupt sets the host vector in the LAPIC's IRR.
    m.sim.runUntil(t1 + up + irte - 1);
    expect(irrHas(m, hostVector)).toBe(false);
    m.sim.runUntil(t1 + up + irte);
    expect(irrHas(m, hostVector)).toBe(true);
    expect(t1 + up + irte - t).toBe(down + up + irte);
  });

  it('a read of the VF after a write observes it: the read pushes the posted write ahead of it', () => {
    const m = new Machine({ mode: 'baseline' });
    const bar0 = m.nic.vfBarAddress(0, 0);
    m.sim.runUntil(us(1));
    m.bus.write(bar0 + VF_REG.VFEIAM, 4, 5);
    expect(m.vf.registers.mmioRead(VF_REG.VFEIAM, 4)).toBe(0);
    expect(m.bus.read(bar0 + VF_REG.VFEIAM, 4)).toBe(5);
    expect(m.pcie.writesInFlight).toBe(0);
    expect(m.stats.counterValue('pcie.downstream.flushed-by-read')).toBe(1);
  });

  it("every message the NIC sends crosses the link, and the host's MSI-X programming does too", () => {
    const m = new Machine({ mode: 'baseline' });
    runMachine(m, { durationMs: 2, warmupMs: 0 });
    const c = m.stats.snapshot().counters;
    const sent = (c['nic.vf0.interrupts.total'] ?? 0) + (c['nic.pf.interrupts.total'] ?? 0);
    expect(sent).toBeGreaterThan(10);
    expect(c['pcie.upstream.msis']).toBe(sent);
    // MSIs still crossing when the run stopped have not reached the IOMMU yet.
    expect(c['iommu.ir.requests']).toBe(sent - m.pcie.msisInFlight);
    // The guest's VF register stores (tail bumps, unmasks) and the host's MSI-X table writes.
    expect(c['pcie.downstream.writes']).toBeGreaterThan(sent);
  });
});
