import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeIdtGate,
  decodeIdtGateWords,
  decodeIdtr,
  encodeIdtGate,
  encodeIdtr,
  GATE_TYPE,
  gateOffsetNumber,
  gatePresent,
  type IdtGate,
  interruptGate,
} from '../src/index.js';

const gateArb = fc.record({
  offset: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  selector: fc.integer({ min: 0, max: 0xffff }),
  ist: fc.integer({ min: 0, max: 7 }),
  type: fc.integer({ min: 0, max: 15 }),
  dpl: fc.integer({ min: 0, max: 3 }),
  present: fc.boolean(),
});

describe('IDT gate codec (SDM vol. 3 §6.14.1)', () => {
  it('round-trips any gate through its 16 bytes', () => {
    fc.assert(
      fc.property(gateArb, (g: IdtGate) => {
        const bytes = new Uint8Array(16);
        encodeIdtGate(g, bytes);
        expect(decodeIdtGate(bytes)).toEqual(g);
      }),
    );
  });

  it('encodes a present 64-bit interrupt gate byte for byte', () => {
    const bytes = new Uint8Array(16);
    encodeIdtGate(interruptGate(0xffffffff81234567n, { selector: 0x10 }), bytes);
    expect([...bytes]).toEqual([
      0x67, 0x45, 0x10, 0x00, 0x00, 0x8e, 0x23, 0x81, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
    ]);
  });

  it('encodes a not-present interrupt gate with P (byte 5 bit 7) clear', () => {
    const bytes = new Uint8Array(16);
    encodeIdtGate(interruptGate(0x401000, { present: false }), bytes);
    expect(bytes[5]).toBe(0x0e);
    const w1 = bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24);
    expect(gatePresent(w1)).toBe(false);
    expect(decodeIdtGate(bytes).present).toBe(false);
    expect(decodeIdtGate(bytes).type).toBe(GATE_TYPE.INTERRUPT);
  });

  it('decodes from dwords as a CPU reads them, and gives the offset as a number when exact', () => {
    const bytes = new Uint8Array(16);
    encodeIdtGate(interruptGate(0x12_3456_789an, { type: GATE_TYPE.TRAP, dpl: 3 }), bytes);
    const dv = new DataView(bytes.buffer);
    const w0 = dv.getUint32(0, true);
    const w1 = dv.getUint32(4, true);
    const w2 = dv.getUint32(8, true);
    const g = decodeIdtGateWords(w0, w1, w2);
    expect(g.type).toBe(0xf);
    expect(g.dpl).toBe(3);
    expect(gateOffsetNumber(w0, w1, w2)).toBe(0x12_3456_789a);
    expect(gateOffsetNumber(0, 0, 0xffffffff)).toBe(-1);
  });

  it('round-trips IDTR pseudo-descriptors', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        (limit, base) => {
          const b = new Uint8Array(10);
          encodeIdtr(limit, base, b);
          expect(decodeIdtr(b)).toEqual({ limit, base });
        },
      ),
    );
  });
});
