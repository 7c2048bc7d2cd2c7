import { MemoryTraceSink, PS_PER_S, psToCycles, Simulator, Stats, Tracer } from '@exitless/sim';
import {
  APIC_REG,
  DELIVERY_MODE,
  DEST_MODE,
  ESR,
  MSR,
  MSR_OK,
  type MsrValue,
  TRIGGER_MODE,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { InterruptBus, LAPIC_MODE, LapicConfigError, LocalApicDevice, x2apicLdr } from '../src/index.js';
import { IPI_LATENCY_PS, irrBit, isrBit, Line, machine, msg } from './helpers.js';

const X2APIC_ENABLE = 0xfee00c00;

describe('configuration errors are thrown as LapicConfigError', () => {
  const sim = new Simulator();
  const bus = new InterruptBus({ sim, ipiLatencyPs: 0 });
  const base = { sim, bus, apicId: 0, tscHz: 1e9, timerHz: 1e8 };

  it('rejects an APIC ID outside 0..0xFFFFFFFE, a non-positive tscHz or timerHz', () => {
    expect(() => new LocalApicDevice({ ...base, apicId: 0xffffffff })).toThrow(LapicConfigError);
    expect(() => new LocalApicDevice({ ...base, apicId: 1.5 })).toThrow(/apicId/);
    expect(() => new LocalApicDevice({ ...base, tscHz: 0 })).toThrow(/tscHz/);
    expect(() => new LocalApicDevice({ ...base, timerHz: Number.NaN })).toThrow(/timerHz/);
    expect(() => new LocalApicDevice({ ...base, timerHz: 2e12 })).toThrow(/timerHz/);
  });

  it('rejects a negative or fractional IPI latency and a double registration', () => {
    expect(() => new InterruptBus({ sim, ipiLatencyPs: -1 })).toThrow(LapicConfigError);
    expect(() => new InterruptBus({ sim, ipiLatencyPs: 0.5 })).toThrow(/ipiLatencyPs/);
    const a = new LocalApicDevice({ ...base, apicId: 7 });
    expect(() => bus.register(a)).toThrow(/already on the bus/);
    expect(bus.unregister(a)).toBe(true);
    expect(bus.unregister(a)).toBe(false);
  });
});

describe('registers (SDM vol. 3 table 10-1)', () => {
  it('version reads 0x01060015: version 15H, Max LVT 6 (Nehalem), EOI-broadcast suppression offered', () => {
    const { apics } = machine([0]);
    expect(apics[0]!.mmioRead(APIC_REG.VERSION, 4)).toBe(0x01060015);
    const sim = new Simulator();
    const bus = new InterruptBus({ sim, ipiLatencyPs: 0 });
    const plain = new LocalApicDevice({
      sim,
      bus,
      apicId: 0,
      tscHz: 1e9,
      timerHz: 1e8,
      eoiBroadcastSuppression: false,
    });
    expect(plain.mmioRead(APIC_REG.VERSION, 4)).toBe(0x00060015);
    plain.mmioWrite(APIC_REG.SVR, 4, 0x11ff);
    expect(plain.mmioRead(APIC_REG.SVR, 4)).toBe(0x1ff); // bit 12 reserved without bit 24
  });

  it('the xAPIC ID register is writable (bits 31:24) and physical routing follows it', () => {
    const { sim, bus, apics } = machine([0]);
    const a = apics[0]!;
    a.mmioWrite(APIC_REG.ID, 4, 0x05ffffff);
    expect(a.mmioRead(APIC_REG.ID, 4)).toBe(0x05000000);
    expect(a.apicId).toBe(5);
    bus.deliverInterrupt(msg(0x50, 5));
    sim.runUntil(0);
    expect(irrBit(a, 0x50)).toBe(true);
    bus.deliverInterrupt(msg(0x51, 0));
    expect(irrBit(a, 0x51)).toBe(false);
    expect(bus.counters.unrouted.value).toBe(1);
  });

  it('LVT writable bits: LINT0 keeps polarity/trigger/mode; delivery status and remote IRR read 0', () => {
    const { apics } = machine([0]);
    const a = apics[0]!;
    a.mmioWrite(APIC_REG.LVT_LINT0, 4, 0xffffffff);
    expect(a.mmioRead(APIC_REG.LVT_LINT0, 4)).toBe(0x0001a7ff);
    a.mmioWrite(APIC_REG.LVT_ERROR, 4, 0xffffffff);
    expect(a.mmioRead(APIC_REG.LVT_ERROR, 4)).toBe(0x000100ff);
    a.mmioWrite(APIC_REG.LVT_TIMER, 4, 0x000200ef);
    expect(a.mmioRead(APIC_REG.LVT_TIMER, 4)).toBe(0x000200ef);
    a.mmioWrite(APIC_REG.LVT_CMCI, 4, 0x000004f0);
    expect(a.mmioRead(APIC_REG.LVT_CMCI, 4)).toBe(0x000004f0); // stored only
  });

  it('an access to an unimplemented register (0x040) sets ESR bit 7 (illegal register address)', () => {
    const { apics } = machine([0]);
    const a = apics[0]!;
    expect(a.mmioRead(0x040, 4)).toBe(0);
    a.mmioWrite(APIC_REG.ESR, 4, 0);
    expect(a.mmioRead(APIC_REG.ESR, 4)).toBe(ESR.ILLEGAL_REGISTER_ADDRESS);
  });

  it('sub-dword reads return bytes of the register; non-dword writes are ignored and counted', () => {
    const { apics } = machine([0]);
    const a = apics[0]!;
    a.mmioWrite(APIC_REG.TPR, 4, 0x5a);
    expect(a.mmioRead(APIC_REG.TPR, 1)).toBe(0x5a);
    expect(a.mmioRead(APIC_REG.VERSION + 2, 1)).toBe(0x06);
    expect(a.mmioRead(APIC_REG.TPR + 4, 4)).toBe(0);
    a.mmioWrite(APIC_REG.TPR, 2, 0x10);
    expect(a.mmioRead(APIC_REG.TPR, 4)).toBe(0x5a);
    expect(a.counters.mmioIgnored.value).toBe(1);
  });

  it('APR = max(TPR[7:4] AND ISRV[7:4], IRRV[7:4]) << 4 unless TPR dominates (§10.6.2.4)', () => {
    const { apics } = machine([0]);
    const a = apics[0]!;
    a.mmioWrite(APIC_REG.TPR, 4, 0x35);
    expect(a.mmioRead(APIC_REG.APR, 4)).toBe(0x35);
    a.acceptInterrupt(msg(0x52, 0));
    expect(a.mmioRead(APIC_REG.APR, 4)).toBe(0x50);
    expect(a.acknowledge()).toBe(0x52);
    // TPR class 3 ≤ ISRV class 5: APR = max(3 & 5, 0) << 4 = 0x10.
    expect(a.mmioRead(APIC_REG.APR, 4)).toBe(0x10);
  });
});

describe('local interrupts through the LVT (§10.5.1)', () => {
  it('LINT1 with delivery mode NMI (0x400) raises an NMI and notifies the CPU', () => {
    const { apics } = machine([0]);
    const a = apics[0]!;
    const line = new Line();
    a.connect(line);
    a.mmioWrite(APIC_REG.LVT_LINT1, 4, 0x400);
    a.assertLint(1);
    expect(a.hasNmi()).toBe(true);
    expect(line.n).toBe(1);
    expect(a.counters.nmi.value).toBe(1);
  });

  it('LINT0 fixed level-triggered vector 0x31 sets IRR and TMR; masked LINT0 does nothing; ExtINT unsupported', () => {
    const { apics } = machine([0]);
    const a = apics[0]!;
    a.mmioWrite(APIC_REG.LVT_LINT0, 4, 0x10031);
    a.assertLint(0);
    expect(irrBit(a, 0x31)).toBe(false);
    a.mmioWrite(APIC_REG.LVT_LINT0, 4, 0x8031);
    a.assertLint(0);
    expect(irrBit(a, 0x31)).toBe(true);
    expect((a.mmioRead(APIC_REG.TMR0 + 0x10, 4) >>> 17) & 1).toBe(1);
    a.mmioWrite(APIC_REG.LVT_LINT0, 4, 0x700);
    a.assertLint(0);
    expect(a.counters.unsupported.value).toBe(1);
  });

  it('an illegal vector in the timer LVT sets ESR bit 6 and raises the error LVT', () => {
    const { sim, apics } = machine([0]);
    const a = apics[0]!;
    a.mmioWrite(APIC_REG.LVT_ERROR, 4, 0xfd);
    a.mmioWrite(APIC_REG.LVT_TIMER, 4, 0x0a);
    a.mmioWrite(APIC_REG.TIMER_DIVIDE_CONFIG, 4, 0xb);
    a.mmioWrite(APIC_REG.TIMER_INITIAL_COUNT, 4, 1);
    sim.runUntil(10_000);
    expect(irrBit(a, 0xfd)).toBe(true);
    a.mmioWrite(APIC_REG.ESR, 4, 0);
    expect(a.mmioRead(APIC_REG.ESR, 4)).toBe(ESR.RECEIVED_ILLEGAL_VECTOR);
  });
});

describe('INIT, SIPI, SMI (§10.6.1)', () => {
  it('INIT and start-up IPIs are recorded and counted; they touch neither IRR nor the interrupt line', () => {
    const { sim, apics } = machine([0, 1]);
    const [a, b] = [apics[0]!, apics[1]!];
    a.mmioWrite(APIC_REG.ICR_HIGH, 4, 0x01000000);
    a.mmioWrite(APIC_REG.ICR_LOW, 4, 0x00004500); // INIT, level assert
    a.mmioWrite(APIC_REG.ICR_LOW, 4, 0x0000469a); // SIPI vector 0x9A
    sim.runUntil(IPI_LATENCY_PS);
    expect(b.counters.init.value).toBe(1);
    expect(b.counters.sipi.value).toBe(1);
    expect(b.lastSipiVector).toBe(0x9a);
    expect(b.hasInterrupt()).toBe(false);
    expect(irrBit(b, 0x9a)).toBe(false);
  });

  it('INIT level de-assert (ICR 0x00008500) is invalid on the Pentium 4 and later: not sent', () => {
    const { sim, apics } = machine([0, 1]);
    const [a, b] = [apics[0]!, apics[1]!];
    a.mmioWrite(APIC_REG.ICR_HIGH, 4, 0x01000000);
    a.mmioWrite(APIC_REG.ICR_LOW, 4, 0x00008500);
    sim.runUntil(IPI_LATENCY_PS);
    expect(b.counters.init.value).toBe(0);
    expect(a.counters.ipisInvalid.value).toBe(1);
  });

  it('initReset() returns registers to power-up values but keeps the APIC ID and the mode', () => {
    const { apics } = machine([4]);
    const a = apics[0]!;
    a.mmioWrite(APIC_REG.ID, 4, 0x09000000);
    a.mmioWrite(APIC_REG.TPR, 4, 0x40);
    a.acceptInterrupt(msg(0x80, 9));
    a.initReset();
    expect(a.mmioRead(APIC_REG.ID, 4)).toBe(0x09000000);
    expect(a.mmioRead(APIC_REG.TPR, 4)).toBe(0);
    expect(a.mmioRead(APIC_REG.SVR, 4)).toBe(0xff);
    expect(irrBit(a, 0x80)).toBe(false);
    expect(a.mode).toBe(LAPIC_MODE.XAPIC);
  });

  it('SMI and ExtINT messages are counted as unsupported', () => {
    const { bus, apics } = machine([0]);
    bus.deliverInterrupt(msg(0, 0, { deliveryMode: DELIVERY_MODE.SMI }));
    bus.deliverInterrupt(msg(0, 0, { deliveryMode: DELIVERY_MODE.EXTINT }));
    expect(apics[0]!.counters.unsupported.value).toBe(2);
  });
});

describe('interrupt bus routing', () => {
  it('an MSI with the redirection hint and logical destination is arbitrated as lowest priority', () => {
    const { bus, apics } = machine([0, 1, 2]);
    apics.forEach((a, i) => {
      a.mmioWrite(APIC_REG.LDR, 4, (1 << (24 + i)) >>> 0);
    });
    apics[0]!.mmioWrite(APIC_REG.TPR, 4, 0x30);
    apics[1]!.mmioWrite(APIC_REG.TPR, 4, 0x30);
    apics[2]!.mmioWrite(APIC_REG.TPR, 4, 0x20);
    bus.deliverInterrupt(msg(0x70, 0x07, { destMode: DEST_MODE.LOGICAL, redirectionHint: 1 }));
    expect(apics.map((a) => irrBit(a, 0x70))).toEqual([false, false, true]);
    expect(bus.counters.lowestPriority.value).toBe(1);
  });

  it('lowest priority skips a software-disabled APIC', () => {
    const { bus, apics } = machine([0, 1]);
    apics[0]!.mmioWrite(APIC_REG.SVR, 4, 0xff);
    bus.deliverInterrupt(msg(0x70, 0xff, { deliveryMode: DELIVERY_MODE.LOWEST_PRIORITY }));
    expect(irrBit(apics[1]!, 0x70)).toBe(true);
  });

  it('x2APIC-format broadcast 0xFFFFFFFF reaches xAPIC-mode APICs; an 8-bit 0xFF reaches x2APIC-mode APICs', () => {
    const { bus, apics } = machine([0, 1]);
    const [a, b] = [apics[0]!, apics[1]!];
    expect(b.writeMsr(MSR.IA32_APIC_BASE, X2APIC_ENABLE, 0)).toBe(MSR_OK);
    bus.deliverInterrupt(msg(0x71, 0xffffffff, { x2apicDestination: true }));
    bus.deliverInterrupt(msg(0x72, 0xff));
    expect([irrBit(a, 0x71), irrBit(b, 0x71), irrBit(a, 0x72), irrBit(b, 0x72)]).toEqual([
      true,
      true,
      true,
      true,
    ]);
  });

  it('IPIs reuse pooled records: 1,000 sequential IPIs allocate one record, 8 in flight allocate 8', () => {
    const { sim, bus, apics } = machine([0, 1]);
    const [a, b] = [apics[0]!, apics[1]!];
    a.mmioWrite(APIC_REG.ICR_HIGH, 4, 0x01000000);
    for (let i = 0; i < 1000; i++) {
      a.mmioWrite(APIC_REG.ICR_LOW, 4, 0x40);
      sim.runUntil(sim.now + IPI_LATENCY_PS);
      expect(b.acknowledge()).toBe(0x40);
      b.mmioWrite(APIC_REG.EOI, 4, 0);
    }
    expect(bus.ipiPoolSize).toBe(1);
    for (let round = 0; round < 3; round++) {
      for (let v = 0x40; v < 0x48; v++) a.mmioWrite(APIC_REG.ICR_LOW, 4, v);
      sim.runUntil(sim.now + IPI_LATENCY_PS);
    }
    expect(bus.ipiPoolSize).toBe(8);
    expect(bus.counters.ipis.value).toBe(1024);
    expect(b.counters.accepted.value).toBe(1008);
  });

  it('IPIs sent at the same time arrive in ICR-write order', () => {
    const { sim, apics } = machine([0, 1]);
    const [a, b] = [apics[0]!, apics[1]!];
    const order: number[] = [];
    b.connect({ interruptLineChanged: () => order.push(b.acknowledge()) });
    a.mmioWrite(APIC_REG.ICR_HIGH, 4, 0x01000000);
    for (const v of [0x90, 0x50, 0xa0]) a.mmioWrite(APIC_REG.ICR_LOW, 4, v);
    sim.runUntil(IPI_LATENCY_PS);
    expect(order).toEqual([0x90, 0xa0]); // 0x50 waits: 0x90 is in service
  });
});

describe('timer details (§10.5.4)', () => {
  it('at 133.33 MHz the k-th periodic expiry is at round(k × period): no drift after 1,000 periods', () => {
    const timerHz = 133_333_333;
    const { sim, apics } = machine([0], { timerHz });
    const a = apics[0]!;
    const fires: number[] = [];
    a.connect({
      interruptLineChanged: () => {
        fires.push(sim.now);
        a.acknowledge();
        a.mmioWrite(APIC_REG.EOI, 4, 0);
      },
    });
    a.mmioWrite(APIC_REG.TIMER_DIVIDE_CONFIG, 4, 0x1); // ÷4
    a.mmioWrite(APIC_REG.LVT_TIMER, 4, 0x200e0);
    a.mmioWrite(APIC_REG.TIMER_INITIAL_COUNT, 4, 1333);
    const periodPs = (1333 * 4 * PS_PER_S) / timerHz;
    sim.runUntil(Math.round(1000 * periodPs));
    expect(fires.length).toBe(1000);
    expect(fires[0]).toBe(Math.round(periodPs));
    expect(fires[999]).toBe(Math.round(1000 * periodPs));
  });

  it('TSC-deadline at 2.93 GHz fires at the first picosecond the TSC reaches the deadline', () => {
    const tscHz = 2_930_000_000;
    const { sim, apics } = machine([0], { tscHz });
    const a = apics[0]!;
    a.mmioWrite(APIC_REG.LVT_TIMER, 4, 0x400e0);
    const deadline = 123_457;
    a.writeMsr(MSR.IA32_TSC_DEADLINE, deadline, 0);
    let fired = -1;
    a.connect({ interruptLineChanged: () => (fired = sim.now) });
    sim.runUntilEmpty();
    expect(psToCycles(fired, tscHz)).toBe(deadline);
    expect(psToCycles(fired - 1, tscHz)).toBe(deadline - 1);
  });

  it('switching the timer LVT out of TSC-deadline mode disarms it', () => {
    const { sim, apics } = machine([0]);
    const a = apics[0]!;
    a.mmioWrite(APIC_REG.LVT_TIMER, 4, 0x400e0);
    a.writeMsr(MSR.IA32_TSC_DEADLINE, 1000, 0);
    a.mmioWrite(APIC_REG.LVT_TIMER, 4, 0x000e0);
    sim.runUntil(10_000_000);
    expect(irrBit(a, 0xe0)).toBe(false);
    expect(a.counters.timerExpired.value).toBe(0);
  });

  it('a divide-configuration write takes effect at the next load of the initial count', () => {
    const { sim, apics } = machine([0]);
    const a = apics[0]!;
    a.mmioWrite(APIC_REG.TIMER_DIVIDE_CONFIG, 4, 0xb); // ÷1
    a.mmioWrite(APIC_REG.LVT_TIMER, 4, 0xe0);
    a.mmioWrite(APIC_REG.TIMER_INITIAL_COUNT, 4, 100); // 1 µs
    a.mmioWrite(APIC_REG.TIMER_DIVIDE_CONFIG, 4, 0x0); // ÷2, from the next load
    sim.runUntil(1_000_000);
    expect(irrBit(a, 0xe0)).toBe(true);
  });
});

describe('EOI, stats and traces', () => {
  it('counts into ScopedStats under the given prefix and traces IRR/ack/EOI', () => {
    const sim0 = new Simulator();
    const stats = new Stats(sim0);
    const tracer = new Tracer();
    const sink = new MemoryTraceSink();
    tracer.attach(sink);
    const { apics } = machine([0], { stats: stats.scope('lapic0'), tracer });
    const a = apics[0]!;
    a.acceptInterrupt(msg(0x41, 0));
    a.acceptInterrupt(msg(0x41, 0));
    expect(a.acknowledge()).toBe(0x41);
    a.mmioWrite(APIC_REG.EOI, 4, 0);
    a.mmioWrite(APIC_REG.EOI, 4, 0);
    expect(a.acknowledge()).toBe(0xff);
    expect(stats.counterValue('lapic0.accepted')).toBe(1);
    expect(stats.counterValue('lapic0.coalesced')).toBe(1);
    expect(stats.counterValue('lapic0.acknowledged')).toBe(1);
    expect(stats.counterValue('lapic0.eoi')).toBe(1);
    expect(stats.counterValue('lapic0.eoi-empty')).toBe(1);
    expect(stats.counterValue('lapic0.spurious')).toBe(1);
    expect(sink.records.map((r) => r.name)).toEqual(['irr', 'ack', 'eoi']);
  });

  it('x2APIC faults are counted in msrFaults', () => {
    const { apics } = machine([0]);
    const a = apics[0]!;
    const out: MsrValue = { lo: 0, hi: 0 };
    a.readMsr(MSR.X2APIC_TPR, out);
    expect(a.writeMsr(MSR.IA32_APIC_BASE, X2APIC_ENABLE, 0)).toBe(MSR_OK);
    a.writeMsr(MSR.X2APIC_EOI, 5, 0);
    expect(a.counters.msrFaults.value).toBe(2);
    expect(a.readRegister(APIC_REG.LDR)).toBe(x2apicLdr(0));
  });

  it('a level-triggered message sets TMR; an edge one for the same vector clears it', () => {
    const { apics } = machine([0]);
    const a = apics[0]!;
    a.acceptInterrupt(msg(0x91, 0, { triggerMode: TRIGGER_MODE.LEVEL }));
    expect((a.mmioRead(APIC_REG.TMR0 + 0x40, 4) >>> 17) & 1).toBe(1);
    expect(a.acknowledge()).toBe(0x91);
    a.acceptInterrupt(msg(0x91, 0));
    expect((a.mmioRead(APIC_REG.TMR0 + 0x40, 4) >>> 17) & 1).toBe(0);
    expect(isrBit(a, 0x91)).toBe(true);
  });

  it('IA32_APIC_BASE relocation is kept (the machine remaps the page)', () => {
    const { apics } = machine([0]);
    const a = apics[0]!;
    expect(a.writeMsr(MSR.IA32_APIC_BASE, 0xfed00800, 0x1)).toBe(MSR_OK);
    expect(a.apicBase).toBe(0x1_fed00000);
    const out: MsrValue = { lo: 0, hi: 0 };
    a.readMsr(MSR.IA32_APIC_BASE, out);
    expect([out.lo >>> 0, out.hi]).toEqual([0xfed00900, 1]);
  });
});
