import { InterruptBus, LAPIC_MODE } from '@exitless/lapic';
import { Counter, Simulator } from '@exitless/sim';
import { APIC_BASE_MSR, APIC_DEFAULT_BASE, APIC_REG, MSR } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { VirtualApic } from '../src/index.js';

function virtualApic(): VirtualApic {
  const sim = new Simulator();
  return new VirtualApic({
    apicId: 0,
    name: 'vm0.vcpu0',
    sim,
    bus: new InterruptBus({ sim, ipiLatencyPs: 0 }),
    tscHz: 2.93e9,
    guestTscHz: 2.93e9,
    virtualTimerHz: 133.33e6,
    minTimerPeriodPs: 500_000_000,
    onTimerChange: () => {},
    counters: {
      virtualInterrupts: new Counter('vi'),
      virtualEois: new Counter('ve'),
      timerFires: new Counter('tf'),
      timerPeriodLimited: new Counter('tp'),
    },
  });
}

/** A small deterministic generator (the test's own, so the sequence is fixed). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x;
  };
}

describe('VirtualApic.highestInService / highestPending', () => {
  // They answer from the LAPIC model directly when it is enabled, instead of reading the eight
  // ISR or IRR registers from the top as the guest would (scanRegisters): the answers must agree.
  it.each([
    ['x2APIC', LAPIC_MODE.X2APIC],
    ['xAPIC', LAPIC_MODE.XAPIC],
  ])('agree with a scan of the registers in %s mode, through raises, INTAs and EOIs', (_name, mode) => {
    const apic = virtualApic();
    const d = apic.device;
    const base = APIC_DEFAULT_BASE | APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.BSP;
    d.writeMsr(MSR.IA32_APIC_BASE, base, 0);
    if (mode === LAPIC_MODE.X2APIC) {
      d.writeMsr(MSR.IA32_APIC_BASE, base | APIC_BASE_MSR.EXTD, 0);
      d.writeMsr(MSR.X2APIC_SVR, 0x1ff, 0);
    } else {
      d.mmioWrite(APIC_REG.SVR, 4, 0x1ff);
    }
    expect(d.mode).toBe(mode);
    const next = lcg(17);
    let nonEmpty = 0;
    for (let i = 0; i < 400; i++) {
      const r = next() % 4;
      if (r <= 1) apic.raise(16 + (next() % 240));
      else if (r === 2 && d.hasInterrupt()) d.acknowledge();
      else if (mode === LAPIC_MODE.X2APIC) apic.writeMsr(MSR.X2APIC_EOI, 0, 0);
      else apic.writeMmio(APIC_REG.EOI, 0);
      expect(apic.highestInService()).toBe(apic.scanRegisters(true));
      expect(apic.highestPending()).toBe(apic.scanRegisters(false));
      if (apic.highestInService() >= 0 && apic.highestPending() >= 0) nonEmpty++;
    }
    // The walk put vectors in both ISR and IRR often enough to tell them apart.
    expect(nonEmpty).toBeGreaterThan(50);
  });

  it('a disabled LAPIC answers as its page reads (all ones: vector 255), counting the reads', () => {
    const apic = virtualApic();
    const d = apic.device;
    d.writeMsr(MSR.IA32_APIC_BASE, APIC_DEFAULT_BASE, 0);
    expect(d.mode).toBe(LAPIC_MODE.DISABLED);
    const before = d.counters.mmioIgnored.value;
    expect(apic.highestInService()).toBe(255);
    expect(apic.highestPending()).toBe(255);
    expect(d.counters.mmioIgnored.value).toBe(before + 2);
  });
});
