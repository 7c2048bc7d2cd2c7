import { Simulator } from '@exitless/sim';
import { APIC_REG, MSR, MSR_GP, MSR_OK, type MsrValue } from '@exitless/x86';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InterruptBus, LocalApicDevice } from '../src/index.js';
import { IPI_LATENCY_PS, irrBit, machine, TIMER_HZ, TSC_HZ } from './helpers.js';

// In x2APIC mode a WRMSR that sets a reserved bit raises #GP (SDM vol. 3 §10.12.1.3, table
// 10-6) and the register keeps its value. These tests state the masks again, in the SDM's
// bit ranges, independently of the data table in src/lapic.ts.

const X2APIC_ENABLE = 0xfee00c00;

/** Bits hi..lo set, as the SDM writes a field (e.g. 31:8). */
function field(hi: number, lo: number): number {
  return ((hi === 31 ? 0xffffffff : (1 << (hi + 1)) - 1) & ~((1 << lo) - 1)) >>> 0;
}

function bit(n: number): number {
  return (1 << n) >>> 0;
}

/** One APIC (ID 0) or more in x2APIC mode, software-enabled (SVR 0x1FF). */
function x2apicMachine(ids: readonly number[] = [0]) {
  const m = machine(ids);
  for (const a of m.apics) expect(a.writeMsr(MSR.IA32_APIC_BASE, X2APIC_ENABLE, 0)).toBe(MSR_OK);
  return m;
}

function rdmsr(a: LocalApicDevice, index: number): number {
  const out: MsrValue = { lo: 0, hi: 0 };
  expect(a.readMsr(index, out)).toBe(MSR_OK);
  return out.lo >>> 0;
}

describe('x2APIC reserved bits raise #GP, the register unchanged (SDM vol. 3 §10.12.1.3)', () => {
  it('WRMSR 0x808 (TPR) with 0x100 → #GP, TPR unchanged; bits 31:8 are reserved, 0xFF is accepted', () => {
    const a = x2apicMachine().apics[0]!;
    expect(a.writeMsr(MSR.X2APIC_TPR, 0x20, 0)).toBe(MSR_OK);
    expect(a.writeMsr(MSR.X2APIC_TPR, 0x100, 0)).toBe(MSR_GP);
    expect(a.writeMsr(MSR.X2APIC_TPR, 0x80000030, 0)).toBe(MSR_GP);
    expect(rdmsr(a, MSR.X2APIC_TPR)).toBe(0x20);
    expect(a.processorPriority).toBe(0x20);
    expect(a.writeMsr(MSR.X2APIC_TPR, 0xff, 0)).toBe(MSR_OK);
    expect(rdmsr(a, MSR.X2APIC_TPR)).toBe(0xff);
    expect(a.counters.msrFaults.value).toBe(2);
  });

  it('WRMSR 0x80F (SVR) with bit 9 (focus, 0x3FF), bit 10 (0x5FF) or bit 13 (0x21FF) → #GP, SVR unchanged; bit 12 accepted when version bit 24 offers it', () => {
    const a = x2apicMachine().apics[0]!;
    for (const v of [0x3ff, 0x5ff, 0x9ff, 0x21ff, 0x800001ff]) {
      expect(a.writeMsr(MSR.X2APIC_SVR, v, 0), `SVR 0x${v.toString(16)}`).toBe(MSR_GP);
    }
    expect(rdmsr(a, MSR.X2APIC_SVR)).toBe(0x1ff);
    expect(a.enabled).toBe(true);
    expect(a.counters.msrFaults.value).toBe(5);
    expect(rdmsr(a, MSR.X2APIC_VERSION) & bit(24)).not.toBe(0);
    expect(a.writeMsr(MSR.X2APIC_SVR, 0x11ff, 0)).toBe(MSR_OK);
    expect(rdmsr(a, MSR.X2APIC_SVR)).toBe(0x11ff);
  });

  it('WRMSR 0x80F (SVR) with bit 12 → #GP when the version register lacks bit 24 (§10.8.5: bit 12 "reserved to 0")', () => {
    const sim = new Simulator();
    const bus = new InterruptBus({ sim, ipiLatencyPs: IPI_LATENCY_PS });
    const a = new LocalApicDevice({
      sim,
      bus,
      apicId: 0,
      tscHz: TSC_HZ,
      timerHz: TIMER_HZ,
      eoiBroadcastSuppression: false,
    });
    expect(a.writeMsr(MSR.IA32_APIC_BASE, X2APIC_ENABLE, 0)).toBe(MSR_OK);
    expect(rdmsr(a, MSR.X2APIC_VERSION)).toBe(0x00060015);
    expect(a.writeMsr(MSR.X2APIC_SVR, 0x1ff, 0)).toBe(MSR_OK);
    expect(a.writeMsr(MSR.X2APIC_SVR, 0x11ff, 0)).toBe(MSR_GP);
    expect(rdmsr(a, MSR.X2APIC_SVR)).toBe(0x1ff);
  });

  it('WRMSR 0x830 (ICR) with bit 13, 16, 17, 20 or 31 → #GP, no IPI sent, ICR unchanged; bit 12 is ignored', () => {
    const { sim, apics } = x2apicMachine([0, 1]);
    const [a, b] = [apics[0]!, apics[1]!];
    const out: MsrValue = { lo: 0, hi: 0 };
    expect(a.writeMsr(MSR.X2APIC_ICR, 0x61, 1)).toBe(MSR_OK);
    for (const n of [13, 16, 17, 20, 31]) {
      expect(a.writeMsr(MSR.X2APIC_ICR, (0x62 | bit(n)) >>> 0, 1), `ICR bit ${n}`).toBe(MSR_GP);
    }
    expect(a.readMsr(MSR.X2APIC_ICR, out)).toBe(MSR_OK);
    expect([out.lo, out.hi]).toEqual([0x61, 1]);
    sim.runUntil(IPI_LATENCY_PS);
    expect(irrBit(b, 0x61)).toBe(true);
    expect(irrBit(b, 0x62)).toBe(false);
    expect(a.counters.ipisSent.value).toBe(1);
    expect(a.counters.msrFaults.value).toBe(5);
    // Bit 12 (delivery status) is gone in x2APIC mode; WRMSR ignores it (x2APIC spec §2.4.3).
    expect(a.writeMsr(MSR.X2APIC_ICR, 0x1063, 1)).toBe(MSR_OK);
    sim.runUntil(2 * IPI_LATENCY_PS);
    expect(irrBit(b, 0x63)).toBe(true);
    expect(a.readMsr(MSR.X2APIC_ICR, out)).toBe(MSR_OK);
    expect(out.lo).toBe(0x63);
  });

  it('WRMSR 0x83F (SELF IPI) with 0x141 → #GP and vector 0x41 is not pended; bits 31:8 are reserved', () => {
    const a = x2apicMachine().apics[0]!;
    expect(a.writeMsr(MSR.X2APIC_SELF_IPI, 0x141, 0)).toBe(MSR_GP);
    expect(a.writeMsr(MSR.X2APIC_SELF_IPI, 0x80000041, 0)).toBe(MSR_GP);
    expect(irrBit(a, 0x41)).toBe(false);
    expect(a.counters.ipisSent.value).toBe(0);
    expect(a.writeMsr(MSR.X2APIC_SELF_IPI, 0x41, 0)).toBe(MSR_OK);
    expect(irrBit(a, 0x41)).toBe(true);
  });

  it('WRMSR 0x832 (LVT timer) with bit 8, 11, 13, 15 or 19 → #GP; timer mode 11b (0x600EF) → #GP; entry unchanged; bit 12 ignored', () => {
    const { sim, apics } = x2apicMachine();
    const a = apics[0]!;
    expect(a.writeMsr(MSR.X2APIC_TIMER_DIVIDE_CONFIG, 0xb, 0)).toBe(MSR_OK);
    expect(a.writeMsr(MSR.X2APIC_LVT_TIMER, 0x200ef, 0)).toBe(MSR_OK); // periodic, vector 0xEF
    expect(a.writeMsr(MSR.X2APIC_TIMER_INITIAL_COUNT, 100, 0)).toBe(MSR_OK); // 1 µs
    for (const n of [8, 11, 13, 15, 19, 31]) {
      expect(a.writeMsr(MSR.X2APIC_LVT_TIMER, (0x200ef | bit(n)) >>> 0, 0), `bit ${n}`).toBe(MSR_GP);
    }
    expect(a.writeMsr(MSR.X2APIC_LVT_TIMER, 0x600ef, 0)).toBe(MSR_GP);
    expect(rdmsr(a, MSR.X2APIC_LVT_TIMER)).toBe(0x200ef);
    expect(a.counters.msrFaults.value).toBe(7);
    // The periodic timer kept running through the refused writes.
    sim.runUntil(1_000_000);
    expect(irrBit(a, 0xef)).toBe(true);
    // Delivery status is read-only, not reserved: a write ignores it.
    expect(a.writeMsr(MSR.X2APIC_LVT_TIMER, 0x210ef, 0)).toBe(MSR_OK);
    expect(rdmsr(a, MSR.X2APIC_LVT_TIMER)).toBe(0x200ef);
  });

  it('WRMSR 0x82F/0x833/0x834 (CMCI, thermal, perf) with bit 11, 13, 14, 15 or 17 → #GP, entry unchanged; vector, delivery mode and mask accepted', () => {
    const a = x2apicMachine().apics[0]!;
    for (const msr of [MSR.X2APIC_LVT_CMCI, MSR.X2APIC_LVT_THERMAL, MSR.X2APIC_LVT_PERF]) {
      expect(a.writeMsr(msr, 0x104f0, 0)).toBe(MSR_OK); // masked, NMI, vector 0xF0
      for (const n of [11, 13, 14, 15, 17, 31]) {
        expect(a.writeMsr(msr, (0x4f0 | bit(n)) >>> 0, 0), `0x${msr.toString(16)} bit ${n}`).toBe(MSR_GP);
      }
      expect(rdmsr(a, msr)).toBe(0x104f0);
    }
    expect(a.counters.msrFaults.value).toBe(18);
  });

  it('WRMSR 0x835/0x836 (LINT0, LINT1) with bit 11 or 17 → #GP, entry unchanged; polarity and trigger accepted; remote IRR and delivery status ignored', () => {
    const a = x2apicMachine().apics[0]!;
    for (const msr of [MSR.X2APIC_LVT_LINT0, MSR.X2APIC_LVT_LINT1]) {
      expect(a.writeMsr(msr, 0xa031, 0)).toBe(MSR_OK); // level, active low, fixed, vector 0x31
      expect(a.writeMsr(msr, 0xa831, 0)).toBe(MSR_GP);
      expect(a.writeMsr(msr, 0x2a031, 0)).toBe(MSR_GP);
      expect(rdmsr(a, msr)).toBe(0xa031);
      expect(a.writeMsr(msr, 0xf031, 0)).toBe(MSR_OK); // bits 12 and 14 set: read-only
      expect(rdmsr(a, msr)).toBe(0xa031);
    }
    expect(a.counters.msrFaults.value).toBe(4);
  });

  it('WRMSR 0x837 (LVT error) with a delivery mode (0x4FE) or bit 13 → #GP, entry unchanged: the error entry has no delivery-mode field', () => {
    const a = x2apicMachine().apics[0]!;
    expect(a.writeMsr(MSR.X2APIC_LVT_ERROR, 0xfe, 0)).toBe(MSR_OK);
    expect(a.writeMsr(MSR.X2APIC_LVT_ERROR, 0x4fe, 0)).toBe(MSR_GP);
    expect(a.writeMsr(MSR.X2APIC_LVT_ERROR, 0x20fe, 0)).toBe(MSR_GP);
    expect(a.writeMsr(MSR.X2APIC_LVT_ERROR, 0x200fe, 0)).toBe(MSR_GP);
    expect(rdmsr(a, MSR.X2APIC_LVT_ERROR)).toBe(0xfe);
  });

  it('WRMSR 0x83E (divide configuration) with bit 2 (0x4, 0xF) or bit 4 (0x1B) → #GP, DCR unchanged; 0xB accepted', () => {
    const a = x2apicMachine().apics[0]!;
    expect(a.writeMsr(MSR.X2APIC_TIMER_DIVIDE_CONFIG, 0xb, 0)).toBe(MSR_OK);
    for (const v of [0x4, 0xf, 0x1b, 0x8000000b]) {
      expect(a.writeMsr(MSR.X2APIC_TIMER_DIVIDE_CONFIG, v, 0), `DCR 0x${v.toString(16)}`).toBe(MSR_GP);
    }
    expect(rdmsr(a, MSR.X2APIC_TIMER_DIVIDE_CONFIG)).toBe(0xb);
  });

  it('RDMSR 0x80F (SVR) reads reserved bits as 0: a focus bit set over MMIO before the switch does not make a read-modify-write fault', () => {
    const a = machine([0]).apics[0]!;
    a.mmioWrite(APIC_REG.SVR, 4, 0x3ff);
    expect(a.mmioRead(APIC_REG.SVR, 4)).toBe(0x3ff);
    expect(a.writeMsr(MSR.IA32_APIC_BASE, X2APIC_ENABLE, 0)).toBe(MSR_OK);
    const svr = rdmsr(a, MSR.X2APIC_SVR);
    expect(svr).toBe(0x1ff);
    expect(a.writeMsr(MSR.X2APIC_SVR, svr, 0)).toBe(MSR_OK);
  });

  it('xAPIC MMIO writes with the same bits are masked, not refused (the MMIO page has no #GP)', () => {
    const a = machine([0]).apics[0]!;
    a.mmioWrite(APIC_REG.TPR, 4, 0x120);
    expect(a.mmioRead(APIC_REG.TPR, 4)).toBe(0x20);
    a.mmioWrite(APIC_REG.TIMER_DIVIDE_CONFIG, 4, 0x1f);
    expect(a.mmioRead(APIC_REG.TIMER_DIVIDE_CONFIG, 4)).toBe(0xb);
    a.mmioWrite(APIC_REG.LVT_ERROR, 4, 0x4fe);
    expect(a.mmioRead(APIC_REG.LVT_ERROR, 4)).toBe(0xfe);
    expect(a.counters.msrFaults.value).toBe(0);
  });

  it("accepts every x2APIC write the simulator's own software makes (host and guest kernels, ELI, tests)", () => {
    const a = x2apicMachine().apics[0]!;
    const writes: [number, number][] = [
      [MSR.X2APIC_SVR, 0x100 | 0xff], // host and guest: software enable, spurious 0xFF
      [MSR.X2APIC_TPR, 0],
      [MSR.X2APIC_TIMER_DIVIDE_CONFIG, 0xb], // divide by 1
      [MSR.X2APIC_LVT_TIMER, 0xef | (1 << 17)], // guest: periodic, vector 0xEF
      [MSR.X2APIC_TIMER_INITIAL_COUNT, 133_330],
      [MSR.X2APIC_LVT_TIMER, 0xef | (2 << 17)], // host: TSC-deadline, vector 0xEF
      [MSR.X2APIC_EOI, 0], // guest, host and ELI's forwarded EOI
    ];
    for (const [msr, value] of writes) {
      expect(a.writeMsr(msr, value, 0), `WRMSR 0x${msr.toString(16)} 0x${value.toString(16)}`).toBe(MSR_OK);
    }
    expect(a.counters.msrFaults.value).toBe(0);
  });
});

// ---------------------------------------------------------------- property

interface Register {
  readonly name: string;
  readonly msr: number;
  /** Reserved bits (WRMSR → #GP). */
  readonly reserved: number;
  /** Read-only bits a write ignores. */
  readonly ignored: number;
}

// Table 10-6 and the figures it cites, in the SDM's bit ranges.
const LVT_SOURCE = { reserved: field(31, 17) | field(15, 13) | bit(11), ignored: bit(12) };
const LVT_LINT = { reserved: field(31, 17) | bit(11), ignored: bit(12) | bit(14) };
const REGISTERS: readonly Register[] = [
  { name: 'TPR', msr: MSR.X2APIC_TPR, reserved: field(31, 8), ignored: 0 },
  { name: 'SVR', msr: MSR.X2APIC_SVR, reserved: field(31, 13) | field(11, 9), ignored: 0 },
  { name: 'LVT CMCI', msr: MSR.X2APIC_LVT_CMCI, ...LVT_SOURCE },
  {
    name: 'ICR',
    msr: MSR.X2APIC_ICR,
    reserved: field(31, 20) | field(17, 16) | bit(13),
    ignored: bit(12),
  },
  {
    name: 'LVT timer',
    msr: MSR.X2APIC_LVT_TIMER,
    reserved: field(31, 19) | field(15, 13) | field(11, 8),
    ignored: bit(12),
  },
  { name: 'LVT thermal', msr: MSR.X2APIC_LVT_THERMAL, ...LVT_SOURCE },
  { name: 'LVT perf', msr: MSR.X2APIC_LVT_PERF, ...LVT_SOURCE },
  { name: 'LVT LINT0', msr: MSR.X2APIC_LVT_LINT0, ...LVT_LINT },
  { name: 'LVT LINT1', msr: MSR.X2APIC_LVT_LINT1, ...LVT_LINT },
  {
    name: 'LVT error',
    msr: MSR.X2APIC_LVT_ERROR,
    reserved: field(31, 17) | field(15, 13) | field(11, 8),
    ignored: bit(12),
  },
  { name: 'DCR', msr: MSR.X2APIC_TIMER_DIVIDE_CONFIG, reserved: field(31, 4) | bit(2), ignored: 0 },
];

function faults(r: Register, value: number): boolean {
  if ((value & r.reserved) !== 0) return true;
  // Timer mode 11b is reserved (figure 10-8).
  return r.msr === MSR.X2APIC_LVT_TIMER && ((value >>> 17) & 3) === 3;
}

function setBits(mask: number): number[] {
  const out: number[] = [];
  for (let n = 0; n < 32; n++) if ((mask >>> n) & 1) out.push(n);
  return out;
}

describe('property: x2APIC WRMSR and reserved bits', () => {
  it('a value with a reserved bit set faults and changes nothing; a value within the mask is accepted and reads back (less read-only bits)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...REGISTERS),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.nat(),
        fc.boolean(),
        (r, raw, k, withReserved) => {
          const reservedBits = setBits(r.reserved);
          let value = (raw & ~r.reserved) >>> 0;
          if (withReserved) value = (value | bit(reservedBits[k % reservedBits.length]!)) >>> 0;
          const a = x2apicMachine().apics[0]!;
          const before = rdmsr(a, r.msr);
          const sent = a.counters.ipisSent.value + a.counters.ipisInvalid.value;
          const result = a.writeMsr(r.msr, value, 0);
          if (faults(r, value)) {
            expect(result).toBe(MSR_GP);
            expect(a.counters.msrFaults.value).toBe(1);
            expect(rdmsr(a, r.msr)).toBe(before);
            expect(a.counters.ipisSent.value + a.counters.ipisInvalid.value).toBe(sent);
          } else {
            expect(result).toBe(MSR_OK);
            expect(a.counters.msrFaults.value).toBe(0);
            expect(rdmsr(a, r.msr)).toBe((value & ~r.ignored) >>> 0);
          }
        },
      ),
      { numRuns: 600 },
    );
  });

  it('bits 63:32 of every register but the ICR are reserved', () => {
    fc.assert(
      fc.property(fc.constantFrom(...REGISTERS), fc.integer({ min: 1, max: 0xffffffff }), (r, hi) => {
        const a = x2apicMachine().apics[0]!;
        const before = rdmsr(a, r.msr);
        const result = a.writeMsr(r.msr, 0, hi);
        if (r.msr === MSR.X2APIC_ICR) {
          expect(result).toBe(MSR_OK); // the destination
        } else {
          expect(result).toBe(MSR_GP);
          expect(rdmsr(a, r.msr)).toBe(before);
        }
      }),
      { numRuns: 200 },
    );
  });
});
