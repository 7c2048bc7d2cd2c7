/**
 * The conformance suite every LocalApic implementation must pass, in the spirit of
 * kvm-unit-tests' x86/apic.c and unstorage's driver suite. It talks to the APIC only
 * through the x86 `LocalApic` interface (MMIO page, MSRs, interrupt line, bus routing
 * hooks) and checks the register values the Intel SDM vol. 3 ch. 10 prescribes.
 *
 *   import { describeLocalApicConformance } from '@exitless/lapic/conformance';
 *   describeLocalApicConformance('my LAPIC', (o) => new MyLapic(o));
 *
 * @module @exitless/lapic/conformance
 */
import { Simulator } from '@exitless/sim';
import type { InterruptLineListener, InterruptMessage, LocalApic, MsrValue } from '@exitless/x86';
import {
  APIC_BASE_MSR,
  APIC_DEFAULT_BASE,
  APIC_REG,
  DELIVERY_MODE,
  DEST_MODE,
  ESR,
  MSR,
  MSR_GP,
  MSR_OK,
  makeInterruptMessage,
  TRIGGER_MODE,
  x2apicMsr,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { InterruptBus } from './bus.js';
import type { LocalApicFactory } from './part.js';

// What the suite hands the factory: the package's part interface (the suite's bus is an
// `InterruptBus`, its clocks CONFORMANCE_CLOCKS).
export type { LocalApicFactory, LocalApicFactoryOptions } from './part.js';

/**
 * The clocks the suite runs at, chosen so that every expected time is an exact number of
 * picoseconds: a 1 GHz TSC (1,000 ps per cycle), a 100 MHz timer input clock (10,000 ps per
 * tick) and an IPI latency of 50 ns.
 */
export const CONFORMANCE_CLOCKS = {
  /** TSC frequency: 1 GHz. */
  tscHz: 1_000_000_000,
  /** Timer input clock: 100 MHz. */
  timerHz: 100_000_000,
  /** IPI latency: 50 ns, in ps. */
  ipiLatencyPs: 50_000,
} as const;

/** A CPU-side double: counts the interrupt-line notifications it receives. */
export class InterruptLineRecorder implements InterruptLineListener {
  /** Calls of `interruptLineChanged` so far. */
  notifications = 0;

  /** Counts one notification. */
  interruptLineChanged(): void {
    this.notifications++;
  }
}

type Mode = 'xAPIC' | 'x2APIC';

/** Register access through the mode's own interface: the MMIO page or the x2APIC MSRs. */
interface Rig {
  readonly sim: Simulator;
  readonly bus: InterruptBus;
  readonly apics: LocalApic[];
  readonly cpus: InterruptLineRecorder[];
  readonly mode: Mode;
  read(apic: LocalApic, offset: number): number;
  write(apic: LocalApic, offset: number, value: number): void;
  /** Writes the ICR: the destination first in xAPIC mode, one 64-bit WRMSR in x2APIC mode. */
  sendIcr(apic: LocalApic, low: number, destination: number): void;
  irrBit(apic: LocalApic, vector: number): boolean;
  isrBit(apic: LocalApic, vector: number): boolean;
  tmrBit(apic: LocalApic, vector: number): boolean;
}

const SVR_ENABLED_SPURIOUS_FF = 0x1ff;
const X2APIC_ENABLE = (APIC_DEFAULT_BASE | APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.EXTD) >>> 0;
const XAPIC_ENABLE = (APIC_DEFAULT_BASE | APIC_BASE_MSR.ENABLE) >>> 0;
const TIMER_PERIODIC = 0x20000;
const TIMER_TSC_DEADLINE = 0x40000;
const ICR_SELF = 0x40000;
const ICR_ALL_EXCLUDING_SELF = 0xc0000;
const ICR_LOGICAL = 0x800;
const ICR_NMI = 0x400;
const ICR_LOWEST = 0x100;

function makeRig(factory: LocalApicFactory, mode: Mode, ids: readonly number[], enable = true): Rig {
  const sim = new Simulator();
  const bus = new InterruptBus({ sim, ipiLatencyPs: CONFORMANCE_CLOCKS.ipiLatencyPs });
  const apics: LocalApic[] = [];
  const cpus: InterruptLineRecorder[] = [];
  for (const [i, apicId] of ids.entries()) {
    const apic = factory({
      sim,
      bus,
      apicId,
      tscHz: CONFORMANCE_CLOCKS.tscHz,
      timerHz: CONFORMANCE_CLOCKS.timerHz,
      bsp: i === 0,
    });
    const cpu = new InterruptLineRecorder();
    apic.connect(cpu);
    apics.push(apic);
    cpus.push(cpu);
  }
  const out: MsrValue = { lo: 0, hi: 0 };
  const rig: Rig = {
    sim,
    bus,
    apics,
    cpus,
    mode,
    read(apic, offset) {
      if (mode === 'xAPIC') return apic.mmioRead(offset, 4) >>> 0;
      expect(apic.readMsr(x2apicMsr(offset), out)).toBe(MSR_OK);
      return out.lo >>> 0;
    },
    write(apic, offset, value) {
      if (mode === 'xAPIC') apic.mmioWrite(offset, 4, value);
      else expect(apic.writeMsr(x2apicMsr(offset), value, 0)).toBe(MSR_OK);
    },
    sendIcr(apic, low, destination) {
      if (mode === 'xAPIC') {
        apic.mmioWrite(APIC_REG.ICR_HIGH, 4, (destination << 24) >>> 0);
        apic.mmioWrite(APIC_REG.ICR_LOW, 4, low);
      } else {
        expect(apic.writeMsr(MSR.X2APIC_ICR, low, destination)).toBe(MSR_OK);
      }
    },
    irrBit: (apic, v) => ((rig.read(apic, APIC_REG.IRR0 + (v >>> 5) * 0x10) >>> (v & 31)) & 1) === 1,
    isrBit: (apic, v) => ((rig.read(apic, APIC_REG.ISR0 + (v >>> 5) * 0x10) >>> (v & 31)) & 1) === 1,
    tmrBit: (apic, v) => ((rig.read(apic, APIC_REG.TMR0 + (v >>> 5) * 0x10) >>> (v & 31)) & 1) === 1,
  };
  if (mode === 'x2APIC') {
    for (const apic of apics) expect(apic.writeMsr(MSR.IA32_APIC_BASE, X2APIC_ENABLE, 0)).toBe(MSR_OK);
  }
  if (enable) for (const apic of apics) rig.write(apic, APIC_REG.SVR, SVR_ENABLED_SPURIOUS_FF);
  return rig;
}

function fixedMessage(vector: number, destination: number, level = false): InterruptMessage {
  const m = makeInterruptMessage();
  m.vector = vector;
  m.destination = destination;
  m.triggerMode = level ? TRIGGER_MODE.LEVEL : TRIGGER_MODE.EDGE;
  return m;
}

function isrEmpty(rig: Rig, apic: LocalApic): boolean {
  for (let i = 0; i < 8; i++) if (rig.read(apic, APIC_REG.ISR0 + i * 0x10) !== 0) return false;
  return true;
}

/** Reads ESR the way software must: write first, then read (SDM vol. 3 §10.5.3). */
function latchEsr(rig: Rig, apic: LocalApic): number {
  rig.write(apic, APIC_REG.ESR, 0);
  return rig.read(apic, APIC_REG.ESR);
}

/**
 * Registers the conformance tests for the LocalApic built by `factory` under a describe
 * block named after `name`.
 */
export function describeLocalApicConformance(name: string, factory: LocalApicFactory): void {
  describe(`LocalApic conformance: ${name}`, () => {
    describe('reset state (SDM vol. 3 §10.4.7.1)', () => {
      it('IA32_APIC_BASE = 0xFEE00900 on the BSP (EN, BSP), 0xFEE00800 elsewhere; xAPIC mode', () => {
        const rig = makeRig(factory, 'xAPIC', [0, 1], false);
        const out: MsrValue = { lo: 0, hi: 0 };
        expect(rig.apics[0]!.readMsr(MSR.IA32_APIC_BASE, out)).toBe(MSR_OK);
        expect([out.lo >>> 0, out.hi]).toEqual([0xfee00900, 0]);
        expect(rig.apics[1]!.readMsr(MSR.IA32_APIC_BASE, out)).toBe(MSR_OK);
        expect([out.lo >>> 0, out.hi]).toEqual([0xfee00800, 0]);
        expect(rig.apics[0]!.x2apicMode).toBe(false);
      });

      it('SVR = 0xFF (software disabled), LVTs = 0x00010000, DFR = 0xFFFFFFFF, TPR = PPR = 0, ID in 31:24', () => {
        const rig = makeRig(factory, 'xAPIC', [3], false);
        const a = rig.apics[0]!;
        expect(rig.read(a, APIC_REG.SVR)).toBe(0xff);
        expect(a.enabled).toBe(false);
        for (const r of [
          APIC_REG.LVT_TIMER,
          APIC_REG.LVT_THERMAL,
          APIC_REG.LVT_PERF,
          APIC_REG.LVT_LINT0,
          APIC_REG.LVT_LINT1,
          APIC_REG.LVT_ERROR,
        ]) {
          expect(rig.read(a, r)).toBe(0x00010000);
        }
        expect(rig.read(a, APIC_REG.DFR)).toBe(0xffffffff);
        expect(rig.read(a, APIC_REG.TPR)).toBe(0);
        expect(rig.read(a, APIC_REG.PPR)).toBe(0);
        expect(rig.read(a, APIC_REG.LDR)).toBe(0);
        expect(rig.read(a, APIC_REG.TIMER_INITIAL_COUNT)).toBe(0);
        expect(rig.read(a, APIC_REG.TIMER_CURRENT_COUNT)).toBe(0);
        expect(rig.read(a, APIC_REG.ID)).toBe(0x03000000);
        expect(a.apicId).toBe(3);
      });

      it('version: integrated APIC (0x10–0x15 in 7:0), at least 6 LVT entries (Max LVT ≥ 5)', () => {
        const rig = makeRig(factory, 'xAPIC', [0], false);
        const v = rig.read(rig.apics[0]!, APIC_REG.VERSION);
        expect(v & 0xff).toBeGreaterThanOrEqual(0x10);
        expect(v & 0xff).toBeLessThanOrEqual(0x15);
        expect((v >>> 16) & 0xff).toBeGreaterThanOrEqual(5);
      });
    });

    describe('software disable (SVR bit 8, §10.4.7.2)', () => {
      it('LVT mask bits cannot be cleared while SVR bit 8 = 0', () => {
        const rig = makeRig(factory, 'xAPIC', [0], false);
        const a = rig.apics[0]!;
        rig.write(a, APIC_REG.LVT_TIMER, 0x000000e0);
        expect(rig.read(a, APIC_REG.LVT_TIMER)).toBe(0x000100e0);
        rig.write(a, APIC_REG.SVR, 0x1ff);
        rig.write(a, APIC_REG.LVT_TIMER, 0x000000e0);
        expect(rig.read(a, APIC_REG.LVT_TIMER)).toBe(0x000000e0);
      });

      it('clearing SVR bit 8 masks every LVT entry', () => {
        const rig = makeRig(factory, 'xAPIC', [0]);
        const a = rig.apics[0]!;
        rig.write(a, APIC_REG.LVT_LINT0, 0x00000031);
        rig.write(a, APIC_REG.SVR, 0x0ff);
        expect(rig.read(a, APIC_REG.LVT_LINT0)).toBe(0x00010031);
      });

      it('a software-disabled APIC ignores fixed messages but accepts NMI', () => {
        const rig = makeRig(factory, 'xAPIC', [0], false);
        const a = rig.apics[0]!;
        rig.bus.deliverInterrupt(fixedMessage(0x51, 0));
        expect(rig.irrBit(a, 0x51)).toBe(false);
        const nmi = fixedMessage(0, 0);
        nmi.deliveryMode = DELIVERY_MODE.NMI;
        rig.bus.deliverInterrupt(nmi);
        expect(a.hasNmi()).toBe(true);
        a.acknowledgeNmi();
        expect(a.hasNmi()).toBe(false);
      });
    });

    for (const mode of ['xAPIC', 'x2APIC'] as const) {
      describe(`${mode}: acceptance, priority and EOI (§10.8)`, () => {
        it('self-IPI: ICR 0x00040041 (self, fixed, vector 0x41) → IRR 0x41, line raised, INTA 0x41 → ISR 0x41', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          rig.sendIcr(a, ICR_SELF | 0x41, 0);
          expect(rig.irrBit(a, 0x41)).toBe(true);
          expect(a.hasInterrupt()).toBe(true);
          expect(rig.cpus[0]!.notifications).toBeGreaterThan(0);
          expect(a.acknowledge()).toBe(0x41);
          expect(rig.irrBit(a, 0x41)).toBe(false);
          expect(rig.isrBit(a, 0x41)).toBe(true);
          expect(rig.read(a, APIC_REG.PPR)).toBe(0x40);
          rig.write(a, APIC_REG.EOI, 0);
          expect(rig.isrBit(a, 0x41)).toBe(false);
          expect(rig.read(a, APIC_REG.PPR)).toBe(0);
        });

        it('TPR masking: TPR 0x50, self-IPI 0x41 → pending in IRR, not delivered; TPR 0x40 → still not; TPR 0x30 → delivered', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          const cpu = rig.cpus[0]!;
          rig.write(a, APIC_REG.TPR, 0x50);
          rig.sendIcr(a, ICR_SELF | 0x41, 0);
          expect(rig.irrBit(a, 0x41)).toBe(true);
          expect(a.hasInterrupt()).toBe(false);
          expect(cpu.notifications).toBe(0);
          rig.write(a, APIC_REG.TPR, 0x40); // same class: a class must exceed PPR's
          expect(a.hasInterrupt()).toBe(false);
          rig.write(a, APIC_REG.TPR, 0x30);
          expect(a.hasInterrupt()).toBe(true);
          expect(cpu.notifications).toBe(1);
          expect(a.acknowledge()).toBe(0x41);
        });

        it('PPR = TPR when TPR[7:4] ≥ ISRV[7:4], else ISRV[7:4]:0 (§10.8.3.1)', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          rig.sendIcr(a, ICR_SELF | 0x61, 0);
          expect(a.acknowledge()).toBe(0x61);
          rig.write(a, APIC_REG.TPR, 0x35);
          expect(rig.read(a, APIC_REG.PPR)).toBe(0x60);
          rig.write(a, APIC_REG.TPR, 0x6a);
          expect(rig.read(a, APIC_REG.PPR)).toBe(0x6a);
          rig.write(a, APIC_REG.TPR, 0x75);
          expect(rig.read(a, APIC_REG.PPR)).toBe(0x75);
        });

        it('nested interrupts: 0x45 waits behind 0x41 in service (same class), 0x61 preempts', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          rig.sendIcr(a, ICR_SELF | 0x41, 0);
          expect(a.acknowledge()).toBe(0x41);
          rig.sendIcr(a, ICR_SELF | 0x45, 0);
          expect(a.hasInterrupt()).toBe(false);
          rig.sendIcr(a, ICR_SELF | 0x61, 0);
          expect(a.hasInterrupt()).toBe(true);
          expect(a.acknowledge()).toBe(0x61);
          expect(rig.read(a, APIC_REG.PPR)).toBe(0x60);
          rig.write(a, APIC_REG.EOI, 0); // clears 0x61, the highest ISR bit
          expect(rig.isrBit(a, 0x61)).toBe(false);
          expect(rig.isrBit(a, 0x41)).toBe(true);
          expect(a.hasInterrupt()).toBe(false);
          rig.write(a, APIC_REG.EOI, 0); // clears 0x41
          expect(a.hasInterrupt()).toBe(true);
          expect(a.acknowledge()).toBe(0x45);
        });

        it('EOI order: ISR {0x81, 0x61, 0x41} is retired highest first', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          for (const v of [0x41, 0x61, 0x81]) {
            rig.sendIcr(a, ICR_SELF | v, 0);
            expect(a.acknowledge()).toBe(v);
          }
          for (const v of [0x81, 0x61, 0x41]) {
            expect(rig.isrBit(a, v)).toBe(true);
            rig.write(a, APIC_REG.EOI, 0);
            expect(rig.isrBit(a, v)).toBe(false);
          }
          expect(isrEmpty(rig, a)).toBe(true);
        });

        it('the highest of several pending vectors is delivered first', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          for (const v of [0x33, 0xa7, 0x52, 0xa1]) rig.sendIcr(a, ICR_SELF | v, 0);
          expect(a.acknowledge()).toBe(0xa7);
          rig.write(a, APIC_REG.EOI, 0);
          expect(a.acknowledge()).toBe(0xa1);
          rig.write(a, APIC_REG.EOI, 0);
          expect(a.acknowledge()).toBe(0x52);
          rig.write(a, APIC_REG.EOI, 0);
          expect(a.acknowledge()).toBe(0x33);
        });

        it('one pending instance per vector: two MSIs of 0x51 before INTA → one delivery', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          rig.bus.deliverInterrupt(fixedMessage(0x51, 0));
          rig.bus.deliverInterrupt(fixedMessage(0x51, 0));
          expect(a.acknowledge()).toBe(0x51);
          expect(a.hasInterrupt()).toBe(false);
          // A vector in service can be pending once more.
          rig.bus.deliverInterrupt(fixedMessage(0x51, 0));
          expect(rig.irrBit(a, 0x51)).toBe(true);
          expect(rig.isrBit(a, 0x51)).toBe(true);
        });

        it('spurious vector: SVR 0x1EF, INTA with nothing deliverable returns 0xEF and leaves ISR empty', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          rig.write(a, APIC_REG.SVR, 0x1ef);
          expect(a.acknowledge()).toBe(0xef);
          expect(isrEmpty(rig, a)).toBe(true);
          rig.write(a, APIC_REG.TPR, 0xf0);
          rig.sendIcr(a, ICR_SELF | 0x80, 0);
          expect(a.acknowledge()).toBe(0xef);
          expect(rig.irrBit(a, 0x80)).toBe(true);
          expect(isrEmpty(rig, a)).toBe(true);
        });

        it('illegal vector 0x0F received: not in IRR, ESR bit 6 after a write; error LVT 0xFE raised', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          rig.write(a, APIC_REG.LVT_ERROR, 0xfe);
          rig.bus.deliverInterrupt(fixedMessage(0x0f, 0));
          expect(rig.read(a, APIC_REG.IRR0)).toBe(0);
          expect(rig.read(a, APIC_REG.ESR)).toBe(0); // not visible before the write
          expect(latchEsr(rig, a)).toBe(ESR.RECEIVED_ILLEGAL_VECTOR);
          expect(latchEsr(rig, a)).toBe(0); // the write cleared it
          expect(a.acknowledge()).toBe(0xfe);
        });

        it('illegal vector 0x05 sent to self through the ICR: ESR bits 5 (sent) and 6 (received), nothing in IRR', () => {
          // §10.5.3: bit 5 for the ICR write with a vector in 0–15; bit 6 for the illegal
          // vector "in an interrupt generated locally … via a self IPI". No IRR bit 0–15 is set.
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          rig.sendIcr(a, ICR_SELF | 0x05, 0);
          rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs * 2);
          expect(rig.read(a, APIC_REG.IRR0)).toBe(0);
          expect(latchEsr(rig, a)).toBe(ESR.SEND_ILLEGAL_VECTOR | ESR.RECEIVED_ILLEGAL_VECTOR);
        });

        it('illegal vector 0x0A in a fixed IPI to APIC 1: the sender logs ESR bit 5 only, the receiver bit 6 and raises its error LVT; no IRR bit', () => {
          // §10.5.3 (x2APIC error handling): a write to the ICR with a vector ≤ 0FH sets "Send
          // Illegal Vector"; "on receiving an IPI with an illegal vector" the receiver sets
          // "Receive Illegal Vector", and the interrupt is not delivered nor an IRR bit set.
          const rig = makeRig(factory, mode, [0, 1]);
          const [a, b] = [rig.apics[0]!, rig.apics[1]!];
          rig.write(b, APIC_REG.LVT_ERROR, 0xfe);
          rig.sendIcr(a, 0x0a, 1);
          rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs);
          expect(rig.read(b, APIC_REG.IRR0)).toBe(0);
          expect(latchEsr(rig, a)).toBe(ESR.SEND_ILLEGAL_VECTOR);
          expect(latchEsr(rig, b)).toBe(ESR.RECEIVED_ILLEGAL_VECTOR);
          expect(b.acknowledge()).toBe(0xfe);
        });

        it('level-triggered 0x71: TMR bit set on acceptance, EOI broadcast heard once; edge 0x72: no broadcast', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          const heard: number[] = [];
          rig.bus.addEoiListener({ eoiBroadcast: (v) => heard.push(v) });
          rig.bus.deliverInterrupt(fixedMessage(0x71, 0, true));
          expect(rig.tmrBit(a, 0x71)).toBe(true);
          expect(a.acknowledge()).toBe(0x71);
          rig.write(a, APIC_REG.EOI, 0);
          expect(heard).toEqual([0x71]);
          rig.bus.deliverInterrupt(fixedMessage(0x72, 0));
          expect(rig.tmrBit(a, 0x72)).toBe(false);
          expect(a.acknowledge()).toBe(0x72);
          rig.write(a, APIC_REG.EOI, 0);
          expect(heard).toEqual([0x71]);
        });

        it('SVR bit 12 suppresses the EOI broadcast when the version register offers it (bit 24)', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          const heard: number[] = [];
          rig.bus.addEoiListener({ eoiBroadcast: (v) => heard.push(v) });
          const supported = (rig.read(a, APIC_REG.VERSION) & 0x01000000) !== 0;
          if (mode === 'x2APIC' && !supported) {
            // Without version bit 24, SVR bit 12 is reserved: #GP in x2APIC mode (§10.12.1.3).
            expect(a.writeMsr(MSR.X2APIC_SVR, 0x11ff, 0)).toBe(MSR_GP);
          } else {
            rig.write(a, APIC_REG.SVR, 0x11ff);
          }
          expect((rig.read(a, APIC_REG.SVR) & 0x1000) !== 0).toBe(supported);
          rig.bus.deliverInterrupt(fixedMessage(0x71, 0, true));
          expect(a.acknowledge()).toBe(0x71);
          rig.write(a, APIC_REG.EOI, 0);
          expect(heard).toEqual(supported ? [] : [0x71]);
        });

        it('NMI IPI (ICR delivery mode 100b) to APIC 1 arrives after the bus latency; NMI with the self shorthand is invalid', () => {
          const rig = makeRig(factory, mode, [0, 1]);
          const [a, b] = [rig.apics[0]!, rig.apics[1]!];
          rig.sendIcr(a, ICR_NMI, 1);
          expect(b.hasNmi()).toBe(false);
          rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs);
          expect(b.hasNmi()).toBe(true);
          expect(rig.cpus[1]!.notifications).toBeGreaterThan(0);
          expect(a.hasNmi()).toBe(false);
          rig.sendIcr(a, ICR_SELF | ICR_NMI, 0); // self shorthand carries fixed only
          rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs * 3);
          expect(a.hasNmi()).toBe(false);
        });
      });

      describe(`${mode}: IPIs on the bus (§10.6)`, () => {
        it('fixed physical IPI 0x61 to APIC 1 is accepted exactly ipiLatencyPs after the ICR write', () => {
          const rig = makeRig(factory, mode, [0, 1]);
          const [a, b] = [rig.apics[0]!, rig.apics[1]!];
          rig.sim.runUntil(1_000_000);
          rig.sendIcr(a, 0x61, 1);
          rig.sim.runUntil(1_000_000 + CONFORMANCE_CLOCKS.ipiLatencyPs - 1);
          expect(rig.irrBit(b, 0x61)).toBe(false);
          rig.sim.runUntil(1_000_000 + CONFORMANCE_CLOCKS.ipiLatencyPs);
          expect(rig.irrBit(b, 0x61)).toBe(true);
          expect(rig.irrBit(a, 0x61)).toBe(false);
          expect(b.acknowledge()).toBe(0x61);
        });

        it('all-excluding-self shorthand reaches every other APIC; physical broadcast reaches all', () => {
          const rig = makeRig(factory, mode, [0, 1, 2]);
          const [a, b, c] = [rig.apics[0]!, rig.apics[1]!, rig.apics[2]!];
          rig.sendIcr(a, ICR_ALL_EXCLUDING_SELF | 0x62, 0);
          rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs);
          expect([rig.irrBit(a, 0x62), rig.irrBit(b, 0x62), rig.irrBit(c, 0x62)]).toEqual([
            false,
            true,
            true,
          ]);
          rig.sendIcr(a, 0x63, mode === 'xAPIC' ? 0xff : 0xffffffff);
          rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs * 2);
          expect([rig.irrBit(a, 0x63), rig.irrBit(b, 0x63), rig.irrBit(c, 0x63)]).toEqual([true, true, true]);
        });

        it('lowest priority: the APIC with the lowest APR wins, ties go to the lowest APIC ID', () => {
          const rig = makeRig(factory, mode, [0, 1, 2]);
          const [a, b, c] = [rig.apics[0]!, rig.apics[1]!, rig.apics[2]!];
          rig.write(a, APIC_REG.TPR, 0x20);
          rig.write(b, APIC_REG.TPR, 0x10);
          rig.write(c, APIC_REG.TPR, 0x10);
          // An xAPIC sends it from the ICR (all excluding self). The x2APIC ICR has no
          // lowest-priority mode (001b is reserved, figure 10-28), so there the message comes
          // from the bus (an MSI) to the physical broadcast; APIC 0 takes part and loses.
          const lowest = (vector: number): void => {
            if (mode === 'xAPIC') {
              rig.sendIcr(a, ICR_ALL_EXCLUDING_SELF | ICR_LOWEST | vector, 0);
              return;
            }
            const m = fixedMessage(vector, 0xffffffff);
            m.deliveryMode = DELIVERY_MODE.LOWEST_PRIORITY;
            m.x2apicDestination = true;
            rig.bus.deliverInterrupt(m);
          };
          lowest(0x64);
          rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs);
          expect([rig.irrBit(a, 0x64), rig.irrBit(b, 0x64), rig.irrBit(c, 0x64)]).toEqual([
            false,
            true,
            false,
          ]);
          expect(b.arbitrationPriority).toBeGreaterThan(0x10); // 0x64 pending raises APR to 0x60
          lowest(0x65);
          rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs * 2);
          expect(rig.irrBit(c, 0x65)).toBe(true);
        });
      });

      describe(`${mode}: timer on the simulation clock (§10.5.4)`, () => {
        it('one-shot: DCR 0xB (÷1), initial count 1000 → vector 0xE0 at exactly 10 µs; current count 500 at 5 µs', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          rig.write(a, APIC_REG.TIMER_DIVIDE_CONFIG, 0xb);
          rig.write(a, APIC_REG.LVT_TIMER, 0xe0);
          rig.write(a, APIC_REG.TIMER_INITIAL_COUNT, 1000);
          expect(rig.read(a, APIC_REG.TIMER_CURRENT_COUNT)).toBe(1000);
          rig.sim.runUntil(5_000_000);
          expect(rig.read(a, APIC_REG.TIMER_CURRENT_COUNT)).toBe(500);
          rig.sim.runUntil(10_000_000 - 1);
          expect(rig.irrBit(a, 0xe0)).toBe(false);
          rig.sim.runUntil(10_000_000);
          expect(rig.irrBit(a, 0xe0)).toBe(true);
          expect(rig.read(a, APIC_REG.TIMER_CURRENT_COUNT)).toBe(0);
          expect(a.acknowledge()).toBe(0xe0);
          rig.write(a, APIC_REG.EOI, 0);
          rig.sim.runUntil(50_000_000);
          expect(rig.irrBit(a, 0xe0)).toBe(false);
        });

        it('periodic: DCR 0x0 (÷2), initial count 50 → 0xE1 every 1 µs, at exactly 1, 2, 3 µs', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          rig.write(a, APIC_REG.TIMER_DIVIDE_CONFIG, 0x0);
          rig.write(a, APIC_REG.LVT_TIMER, TIMER_PERIODIC | 0xe1);
          rig.write(a, APIC_REG.TIMER_INITIAL_COUNT, 50);
          for (const t of [1_000_000, 2_000_000, 3_000_000]) {
            rig.sim.runUntil(t - 1);
            expect(rig.irrBit(a, 0xe1)).toBe(false);
            rig.sim.runUntil(t);
            expect(rig.irrBit(a, 0xe1)).toBe(true);
            expect(rig.read(a, APIC_REG.TIMER_CURRENT_COUNT)).toBe(50);
            expect(a.acknowledge()).toBe(0xe1);
            rig.write(a, APIC_REG.EOI, 0);
          }
          rig.write(a, APIC_REG.TIMER_INITIAL_COUNT, 0); // stops the timer
          rig.sim.runUntil(10_000_000);
          expect(rig.irrBit(a, 0xe1)).toBe(false);
        });

        it('divide configuration 0x3 (÷16) and 0xA (÷128) scale the period', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          rig.write(a, APIC_REG.LVT_TIMER, 0xe2);
          rig.write(a, APIC_REG.TIMER_DIVIDE_CONFIG, 0x3);
          rig.write(a, APIC_REG.TIMER_INITIAL_COUNT, 100); // 100 × 16 × 10 ns
          rig.sim.runUntil(16_000_000 - 1);
          expect(rig.irrBit(a, 0xe2)).toBe(false);
          rig.sim.runUntil(16_000_000);
          expect(a.acknowledge()).toBe(0xe2);
          rig.write(a, APIC_REG.EOI, 0);
          rig.write(a, APIC_REG.TIMER_DIVIDE_CONFIG, 0xa);
          rig.write(a, APIC_REG.TIMER_INITIAL_COUNT, 10); // 10 × 128 × 10 ns
          rig.sim.runUntil(16_000_000 + 12_800_000 - 1);
          expect(rig.irrBit(a, 0xe2)).toBe(false);
          rig.sim.runUntil(16_000_000 + 12_800_000);
          expect(rig.irrBit(a, 0xe2)).toBe(true);
        });

        it('a masked timer LVT counts down but raises nothing', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          rig.write(a, APIC_REG.TIMER_DIVIDE_CONFIG, 0xb);
          rig.write(a, APIC_REG.LVT_TIMER, 0x100e3);
          rig.write(a, APIC_REG.TIMER_INITIAL_COUNT, 10);
          rig.sim.runUntil(1_000_000);
          expect(rig.irrBit(a, 0xe3)).toBe(false);
          expect(rig.read(a, APIC_REG.TIMER_CURRENT_COUNT)).toBe(0);
        });

        it('TSC-deadline: IA32_TSC_DEADLINE = TSC + 5000 fires at exactly +5 µs (1 GHz TSC); reads 0 afterwards', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          const out: MsrValue = { lo: 0, hi: 0 };
          rig.write(a, APIC_REG.LVT_TIMER, TIMER_TSC_DEADLINE | 0xe4);
          rig.sim.runUntil(2_000_000); // TSC = 2000
          expect(a.writeMsr(MSR.IA32_TSC_DEADLINE, 7000, 0)).toBe(MSR_OK);
          expect(a.readMsr(MSR.IA32_TSC_DEADLINE, out)).toBe(MSR_OK);
          expect([out.lo, out.hi]).toEqual([7000, 0]);
          rig.sim.runUntil(7_000_000 - 1);
          expect(rig.irrBit(a, 0xe4)).toBe(false);
          rig.sim.runUntil(7_000_000);
          expect(rig.irrBit(a, 0xe4)).toBe(true);
          expect(a.readMsr(MSR.IA32_TSC_DEADLINE, out)).toBe(MSR_OK);
          expect([out.lo, out.hi]).toEqual([0, 0]);
          // Initial-count writes are ignored in TSC-deadline mode; the current count reads 0.
          rig.write(a, APIC_REG.TIMER_INITIAL_COUNT, 100);
          expect(rig.read(a, APIC_REG.TIMER_CURRENT_COUNT)).toBe(0);
        });

        it('TSC-deadline in the past fires at once; zero disarms; outside deadline mode the MSR reads 0 and ignores writes', () => {
          const rig = makeRig(factory, mode, [0]);
          const a = rig.apics[0]!;
          const out: MsrValue = { lo: 0, hi: 0 };
          rig.sim.runUntil(10_000_000);
          expect(a.writeMsr(MSR.IA32_TSC_DEADLINE, 500, 0)).toBe(MSR_OK); // one-shot mode: ignored
          expect(a.readMsr(MSR.IA32_TSC_DEADLINE, out)).toBe(MSR_OK);
          expect(out.lo).toBe(0);
          rig.write(a, APIC_REG.LVT_TIMER, TIMER_TSC_DEADLINE | 0xe5);
          expect(a.writeMsr(MSR.IA32_TSC_DEADLINE, 500, 0)).toBe(MSR_OK);
          rig.sim.runUntil(10_000_000);
          expect(rig.irrBit(a, 0xe5)).toBe(true);
          expect(a.acknowledge()).toBe(0xe5);
          rig.write(a, APIC_REG.EOI, 0);
          expect(a.writeMsr(MSR.IA32_TSC_DEADLINE, 20_000, 0)).toBe(MSR_OK);
          expect(a.writeMsr(MSR.IA32_TSC_DEADLINE, 0, 0)).toBe(MSR_OK);
          rig.sim.runUntil(30_000_000);
          expect(rig.irrBit(a, 0xe5)).toBe(false);
        });
      });
    }

    describe('x2APIC registers and faults (§10.12.1.2)', () => {
      it('SELF IPI MSR 0x83F: write 0x41 with TPR 0x50 → not delivered; TPR 0x30 → pending vector 0x41', () => {
        const rig = makeRig(factory, 'x2APIC', [0]);
        const a = rig.apics[0]!;
        expect(a.writeMsr(MSR.X2APIC_TPR, 0x50, 0)).toBe(MSR_OK);
        expect(a.writeMsr(MSR.X2APIC_SELF_IPI, 0x41, 0)).toBe(MSR_OK);
        expect(rig.irrBit(a, 0x41)).toBe(true);
        expect(a.hasInterrupt()).toBe(false);
        expect(a.writeMsr(MSR.X2APIC_TPR, 0x30, 0)).toBe(MSR_OK);
        expect(a.hasInterrupt()).toBe(true);
        expect(rig.cpus[0]!.notifications).toBe(1);
        expect(a.acknowledge()).toBe(0x41);
      });

      it('x2APIC ID (0x802) reads the 32-bit ID; LDR (0x80D) is derived: cluster ID[19:4] in 31:16, 1 << ID[3:0]', () => {
        const rig = makeRig(factory, 'x2APIC', [0x123]);
        const a = rig.apics[0]!;
        expect(rig.read(a, APIC_REG.ID)).toBe(0x123);
        expect(rig.read(a, APIC_REG.LDR)).toBe(0x00120008);
        expect(a.apicId).toBe(0x123);
        expect(a.x2apicMode).toBe(true);
      });

      it('faults: EOI non-zero write, reads of EOI and SELF IPI, writes to ID/version/PPR/LDR/ISR/IRR/current count, APR/RRD/DFR/ICR2 and reserved MSRs', () => {
        const rig = makeRig(factory, 'x2APIC', [0]);
        const a = rig.apics[0]!;
        const out: MsrValue = { lo: 0, hi: 0 };
        expect(a.writeMsr(MSR.X2APIC_EOI, 1, 0)).toBe(MSR_GP);
        expect(a.writeMsr(MSR.X2APIC_EOI, 0, 0)).toBe(MSR_OK);
        expect(a.readMsr(MSR.X2APIC_EOI, out)).toBe(MSR_GP);
        expect(a.readMsr(MSR.X2APIC_SELF_IPI, out)).toBe(MSR_GP);
        for (const ro of [
          MSR.X2APIC_ID,
          MSR.X2APIC_VERSION,
          MSR.X2APIC_PPR,
          MSR.X2APIC_LDR,
          MSR.X2APIC_ISR0,
          MSR.X2APIC_TMR0 + 7,
          MSR.X2APIC_IRR0 + 3,
          MSR.X2APIC_TIMER_CURRENT_COUNT,
        ]) {
          expect(a.writeMsr(ro, 0, 0), `WRMSR 0x${ro.toString(16)}`).toBe(MSR_GP);
          expect(a.readMsr(ro, out), `RDMSR 0x${ro.toString(16)}`).toBe(MSR_OK);
        }
        for (const absent of [
          0x800, 0x801, 0x804, 0x807, 0x809, 0x80c, 0x80e, 0x829, 0x82e, 0x831, 0x83a, 0x840, 0x8ff,
        ]) {
          expect(a.readMsr(absent, out), `RDMSR 0x${absent.toString(16)}`).toBe(MSR_GP);
          expect(a.writeMsr(absent, 0, 0), `WRMSR 0x${absent.toString(16)}`).toBe(MSR_GP);
        }
        // Only zero may be written to the ESR; bits 63:32 of 32-bit registers are reserved.
        expect(a.writeMsr(MSR.X2APIC_ESR, 1, 0)).toBe(MSR_GP);
        expect(a.writeMsr(MSR.X2APIC_TPR, 0, 1)).toBe(MSR_GP);
      });

      it('reserved bits (§10.12.1.3, table 10-6): TPR 31:8, SVR 31:13 and 11:9, LVT 11 and 31:17 (timer 31:19), error LVT 10:8, DCR bit 2 and 31:4 → #GP, register unchanged', () => {
        const rig = makeRig(factory, 'x2APIC', [0]);
        const a = rig.apics[0]!;
        const cases: readonly (readonly [offset: number, good: number, bad: readonly number[]])[] = [
          [APIC_REG.TPR, 0x20, [0x120, 0x80000020]],
          [APIC_REG.SVR, 0x1ff, [0x3ff, 0x5ff, 0x9ff, 0x21ff]],
          [APIC_REG.LVT_TIMER, 0x200e0, [0x208e0, 0x2a0e0, 0xa00e0]],
          [APIC_REG.LVT_THERMAL, 0x104f0, [0x10cf0, 0x124f0, 0x304f0]],
          [APIC_REG.LVT_PERF, 0x104f0, [0x10cf0, 0x184f0, 0x304f0]],
          [APIC_REG.LVT_LINT0, 0xa031, [0xa831, 0x2a031]],
          [APIC_REG.LVT_LINT1, 0x400, [0xc00, 0x20400]],
          [APIC_REG.LVT_ERROR, 0xfe, [0x4fe, 0x20fe, 0x200fe]],
          [APIC_REG.TIMER_DIVIDE_CONFIG, 0xb, [0x4, 0xf, 0x1b]],
        ];
        for (const [offset, good, bad] of cases) {
          const msr = x2apicMsr(offset);
          rig.write(a, offset, good);
          for (const v of bad) {
            expect(a.writeMsr(msr, v, 0), `WRMSR 0x${msr.toString(16)} 0x${v.toString(16)}`).toBe(MSR_GP);
          }
          expect(rig.read(a, offset), `RDMSR 0x${msr.toString(16)}`).toBe(good);
        }
      });

      it('LVT read-only bits are not reserved: delivery status (12) and LINT remote IRR (14) are ignored by WRMSR', () => {
        const rig = makeRig(factory, 'x2APIC', [0]);
        const a = rig.apics[0]!;
        rig.write(a, APIC_REG.LVT_LINT0, 0x5031);
        expect(rig.read(a, APIC_REG.LVT_LINT0) & ~0x5000).toBe(0x31);
        rig.write(a, APIC_REG.LVT_TIMER, 0x10e0);
        expect(rig.read(a, APIC_REG.LVT_TIMER) & ~0x1000).toBe(0xe0);
      });

      it('the ICR (0x830) with bit 13, 16, 17 or 20–31 set → #GP and nothing is sent; bit 12 is ignored (x2APIC spec §2.4.3)', () => {
        const rig = makeRig(factory, 'x2APIC', [0, 1]);
        const [a, b] = [rig.apics[0]!, rig.apics[1]!];
        for (const bit of [13, 16, 17, 20, 24, 31]) {
          expect(a.writeMsr(MSR.X2APIC_ICR, (0x66 | (1 << bit)) >>> 0, 1), `ICR bit ${bit}`).toBe(MSR_GP);
        }
        rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs);
        expect(rig.irrBit(b, 0x66)).toBe(false);
        expect(a.writeMsr(MSR.X2APIC_ICR, 0x1067, 1)).toBe(MSR_OK);
        rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs * 2);
        expect(rig.irrBit(b, 0x67)).toBe(true);
      });

      it('ICR (0x830) with delivery mode 001b (lowest priority, reserved in x2APIC mode): no #GP, nothing sent, ESR bit 4 (redirectable IPI) only, even with an illegal vector', () => {
        // SDM figure 10-28 marks 001b reserved; the x2APIC specification (ref. 318148 §2.3.5)
        // and the SDM's ESR bit 4: the "Re-directible IPI" bit is set and the interrupt is not
        // processed; with an illegal vector only bit 4 is set (§10.5.3, bit 5).
        const rig = makeRig(factory, 'x2APIC', [0, 1]);
        const [a, b] = [rig.apics[0]!, rig.apics[1]!];
        expect(a.writeMsr(MSR.X2APIC_ICR, ICR_LOWEST | 0x66, 1)).toBe(MSR_OK);
        expect(a.writeMsr(MSR.X2APIC_ICR, ICR_ALL_EXCLUDING_SELF | ICR_LOWEST | 0x67, 0)).toBe(MSR_OK);
        rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs);
        expect([rig.irrBit(b, 0x66), rig.irrBit(b, 0x67), rig.irrBit(a, 0x67)]).toEqual([
          false,
          false,
          false,
        ]);
        expect(latchEsr(rig, a)).toBe(ESR.REDIRECTABLE_IPI);
        expect(latchEsr(rig, b)).toBe(0);
        expect(a.writeMsr(MSR.X2APIC_ICR, ICR_LOWEST | 0x06, 1)).toBe(MSR_OK);
        rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs * 2);
        expect(latchEsr(rig, a)).toBe(ESR.REDIRECTABLE_IPI);
        expect(latchEsr(rig, b)).toBe(0);
      });

      it('SELF IPI (0x83F) with illegal vector 0x0E: ESR bits 5 and 6 (§10.5.3), no IRR bit', () => {
        const rig = makeRig(factory, 'x2APIC', [0]);
        const a = rig.apics[0]!;
        expect(a.writeMsr(MSR.X2APIC_SELF_IPI, 0x0e, 0)).toBe(MSR_OK);
        expect(rig.read(a, APIC_REG.IRR0)).toBe(0);
        expect(a.hasInterrupt()).toBe(false);
        expect(latchEsr(rig, a)).toBe(ESR.SEND_ILLEGAL_VECTOR | ESR.RECEIVED_ILLEGAL_VECTOR);
      });

      it('SELF IPI (0x83F) with any of bits 31:8 set → #GP and no vector is pended', () => {
        const rig = makeRig(factory, 'x2APIC', [0]);
        const a = rig.apics[0]!;
        expect(a.writeMsr(MSR.X2APIC_SELF_IPI, 0x141, 0)).toBe(MSR_GP);
        expect(a.writeMsr(MSR.X2APIC_SELF_IPI, 0x80000041, 0)).toBe(MSR_GP);
        expect(rig.irrBit(a, 0x41)).toBe(false);
        expect(a.hasInterrupt()).toBe(false);
      });

      it('the 64-bit ICR (0x830): one WRMSR with destination in 63:32 sends; it reads back whole', () => {
        const rig = makeRig(factory, 'x2APIC', [0, 0x1234]);
        const [a, b] = [rig.apics[0]!, rig.apics[1]!];
        const out: MsrValue = { lo: 0, hi: 0 };
        expect(a.writeMsr(MSR.X2APIC_ICR, 0x66, 0x1234)).toBe(MSR_OK);
        expect(a.readMsr(MSR.X2APIC_ICR, out)).toBe(MSR_OK);
        expect([out.lo & 0xfff, out.hi]).toEqual([0x66, 0x1234]);
        rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs);
        expect(rig.irrBit(b, 0x66)).toBe(true);
      });

      it('x2APIC cluster addressing: destination 0x00010003 reaches IDs 0x10 and 0x11, not 0x21', () => {
        const rig = makeRig(factory, 'x2APIC', [0x10, 0x11, 0x21]);
        const [a, b, c] = [rig.apics[0]!, rig.apics[1]!, rig.apics[2]!];
        expect(a.writeMsr(MSR.X2APIC_ICR, ICR_LOGICAL | 0x67, 0x00010003)).toBe(MSR_OK);
        rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs);
        expect([rig.irrBit(a, 0x67), rig.irrBit(b, 0x67), rig.irrBit(c, 0x67)]).toEqual([true, true, false]);
        expect(c.matchesDestination(0x00020002, DEST_MODE.LOGICAL, true)).toBe(true);
      });

      it('the MMIO page does not answer in x2APIC mode: reads all ones, writes ignored', () => {
        const rig = makeRig(factory, 'x2APIC', [0]);
        const a = rig.apics[0]!;
        expect(a.mmioRead(APIC_REG.TPR, 4) >>> 0).toBe(0xffffffff);
        a.mmioWrite(APIC_REG.TPR, 4, 0x80);
        expect(rig.read(a, APIC_REG.TPR)).toBe(0);
      });
    });

    describe('xAPIC logical addressing (§10.6.2.2)', () => {
      it('flat model (DFR 0xFFFFFFFF): destination 0x05 reaches LDR 0x01000000 and 0x04000000', () => {
        const rig = makeRig(factory, 'xAPIC', [0, 1, 2]);
        rig.apics.forEach((a, i) => {
          rig.write(a, APIC_REG.LDR, (1 << (24 + i)) >>> 0);
        });
        rig.sendIcr(rig.apics[0]!, ICR_LOGICAL | 0x68, 0x05);
        rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs);
        expect(rig.apics.map((a) => rig.irrBit(a, 0x68))).toEqual([true, false, true]);
        expect(rig.read(rig.apics[1]!, APIC_REG.LDR)).toBe(0x02000000);
      });

      it('cluster model (DFR 0x0FFFFFFF): 0x13 reaches cluster 1 members 0 and 1; 0xF1 reaches member 0 of every cluster', () => {
        const rig = makeRig(factory, 'xAPIC', [0, 1, 2]);
        const ldrs = [0x11000000, 0x12000000, 0x21000000];
        rig.apics.forEach((a, i) => {
          rig.write(a, APIC_REG.DFR, 0x0fffffff);
          rig.write(a, APIC_REG.LDR, ldrs[i]!);
        });
        expect(rig.read(rig.apics[0]!, APIC_REG.DFR)).toBe(0x0fffffff);
        rig.sendIcr(rig.apics[0]!, ICR_LOGICAL | 0x69, 0x13);
        rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs);
        expect(rig.apics.map((a) => rig.irrBit(a, 0x69))).toEqual([true, true, false]);
        rig.sendIcr(rig.apics[1]!, ICR_LOGICAL | 0x6a, 0xf1);
        rig.sim.runUntil(CONFORMANCE_CLOCKS.ipiLatencyPs * 2);
        expect(rig.apics.map((a) => rig.irrBit(a, 0x6a))).toEqual([true, false, true]);
      });
    });

    describe('IA32_APIC_BASE mode transitions (§10.12.5)', () => {
      it('xAPIC → x2APIC is legal; x2APIC → xAPIC raises #GP; EN = 0 with EXTD = 1 raises #GP', () => {
        const rig = makeRig(factory, 'xAPIC', [0], false);
        const a = rig.apics[0]!;
        expect(a.writeMsr(MSR.IA32_APIC_BASE, 0xfee00400, 0)).toBe(MSR_GP);
        expect(a.writeMsr(MSR.IA32_APIC_BASE, X2APIC_ENABLE, 0)).toBe(MSR_OK);
        expect(a.x2apicMode).toBe(true);
        expect(a.writeMsr(MSR.IA32_APIC_BASE, XAPIC_ENABLE, 0)).toBe(MSR_GP);
        expect(a.x2apicMode).toBe(true);
        expect(a.writeMsr(MSR.IA32_APIC_BASE, 0xfee00400, 0)).toBe(MSR_GP);
      });

      it('x2APIC → disabled is legal; disabled → x2APIC raises #GP; disabled → xAPIC finds the reset state', () => {
        const rig = makeRig(factory, 'x2APIC', [0]);
        const a = rig.apics[0]!;
        expect(a.writeMsr(MSR.X2APIC_TPR, 0x20, 0)).toBe(MSR_OK);
        expect(a.writeMsr(MSR.IA32_APIC_BASE, APIC_DEFAULT_BASE, 0)).toBe(MSR_OK);
        expect(a.x2apicMode).toBe(false);
        expect(a.enabled).toBe(false);
        expect(a.writeMsr(MSR.IA32_APIC_BASE, X2APIC_ENABLE, 0)).toBe(MSR_GP);
        expect(a.writeMsr(MSR.IA32_APIC_BASE, XAPIC_ENABLE, 0)).toBe(MSR_OK);
        expect(a.mmioRead(APIC_REG.SVR, 4)).toBe(0xff);
        expect(a.mmioRead(APIC_REG.TPR, 4)).toBe(0);
      });

      it('a disabled APIC accepts no message and raises no interrupt', () => {
        const rig = makeRig(factory, 'xAPIC', [0]);
        const a = rig.apics[0]!;
        expect(a.writeMsr(MSR.IA32_APIC_BASE, APIC_DEFAULT_BASE, 0)).toBe(MSR_OK);
        rig.bus.deliverInterrupt(fixedMessage(0x51, 0));
        expect(a.hasInterrupt()).toBe(false);
        expect(a.matchesDestination(0, DEST_MODE.PHYSICAL, false)).toBe(false);
      });

      it('reserved IA32_APIC_BASE bits (bit 0, bit 9) raise #GP', () => {
        const rig = makeRig(factory, 'xAPIC', [0]);
        const a = rig.apics[0]!;
        expect(a.writeMsr(MSR.IA32_APIC_BASE, XAPIC_ENABLE | 0x1, 0)).toBe(MSR_GP);
        expect(a.writeMsr(MSR.IA32_APIC_BASE, XAPIC_ENABLE | 0x200, 0)).toBe(MSR_GP);
      });

      it('x2APIC MSRs raise #GP in xAPIC mode', () => {
        const rig = makeRig(factory, 'xAPIC', [0]);
        const a = rig.apics[0]!;
        const out: MsrValue = { lo: 0, hi: 0 };
        expect(a.readMsr(MSR.X2APIC_ID, out)).toBe(MSR_GP);
        expect(a.writeMsr(MSR.X2APIC_TPR, 0x10, 0)).toBe(MSR_GP);
        expect(a.writeMsr(MSR.X2APIC_SELF_IPI, 0x41, 0)).toBe(MSR_GP);
        expect(a.ownsMsr(MSR.X2APIC_EOI)).toBe(true);
        expect(a.ownsMsr(MSR.IA32_APIC_BASE)).toBe(true);
        expect(a.ownsMsr(MSR.IA32_TSC_DEADLINE)).toBe(true);
      });
    });
  });
}
