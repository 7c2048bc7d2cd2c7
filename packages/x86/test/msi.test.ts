import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CompatMsi,
  decodeCompatMsi,
  decodeRemappableMsi,
  encodeCompatMsiAddress,
  encodeCompatMsiData,
  encodeRemappableMsiAddress,
  encodeRemappableMsiData,
  isMsiAddress,
  isRemappableMsi,
  remappableMsiIndex,
} from '../src/index.js';

describe('compatibility-format MSI (SDM vol. 3 §10.11)', () => {
  it('encodes an MSI to APIC ID 3, vector 0x41, fixed, edge, physical', () => {
    const m: CompatMsi = {
      destination: 3,
      redirectionHint: 0,
      destMode: 0,
      vector: 0x41,
      deliveryMode: 0,
      level: 0,
      triggerMode: 0,
    };
    expect(encodeCompatMsiAddress(m)).toBe(0xfee03000);
    expect(encodeCompatMsiData(m)).toBe(0x0041);
    expect(isMsiAddress(0xfee03000)).toBe(true);
    expect(isRemappableMsi(0xfee03000)).toBe(false);
    expect(decodeCompatMsi(0xfee03000, 0x41)).toEqual(m);
  });

  it('round-trips every field', () => {
    fc.assert(
      fc.property(
        fc.record({
          destination: fc.integer({ min: 0, max: 255 }),
          redirectionHint: fc.integer({ min: 0, max: 1 }),
          destMode: fc.integer({ min: 0, max: 1 }),
          vector: fc.integer({ min: 0, max: 255 }),
          deliveryMode: fc.integer({ min: 0, max: 7 }),
          level: fc.integer({ min: 0, max: 1 }),
          triggerMode: fc.integer({ min: 0, max: 1 }),
        }),
        (m) => {
          const a = encodeCompatMsiAddress(m);
          expect(isMsiAddress(a)).toBe(true);
          expect(isRemappableMsi(a)).toBe(false);
          expect(decodeCompatMsi(a, encodeCompatMsiData(m))).toEqual(m);
        },
      ),
    );
  });
});

describe('remappable-format MSI (VT-d §5.1.2.2)', () => {
  it('puts handle[14:0] in address 19:5, handle[15] in bit 2, format in bit 4, SHV in bit 3', () => {
    const a = encodeRemappableMsiAddress({ handle: 0x8005, shv: true });
    expect(a).toBe((0xfee00000 | (5 << 5) | 0x10 | 0x8 | 0x4) >>> 0);
    expect(isRemappableMsi(a)).toBe(true);
    expect(remappableMsiIndex(a, 3)).toBe(0x8008);
    expect(remappableMsiIndex(encodeRemappableMsiAddress({ handle: 7, shv: false }), 3)).toBe(7);
  });

  it('round-trips handle, SHV and subhandle', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.boolean(),
        fc.integer({ min: 0, max: 0xffff }),
        (handle, shv, subhandle) => {
          const a = encodeRemappableMsiAddress({ handle, shv });
          const d = encodeRemappableMsiData({ subhandle });
          expect(decodeRemappableMsi(a, d)).toEqual({ handle, shv, subhandle });
        },
      ),
    );
  });
});
