import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AddressMapError,
  CodeSpace,
  formatRequesterId,
  type MmioDevice,
  PhysicalBus,
  requesterId,
  SparseMemory,
} from '../src/index.js';

describe('SparseMemory', () => {
  it('reads zero where nothing was written and is little-endian', () => {
    const m = new SparseMemory(1 << 20);
    expect(m.read32(0x1000)).toBe(0);
    m.write32(0x1000, 0x11223344);
    expect(m.read8(0x1000)).toBe(0x44);
    expect(m.read16(0x1002)).toBe(0x1122);
    m.write64(0x2000, 0x0102030405060708n);
    expect(m.read64(0x2000)).toBe(0x0102030405060708n);
    expect(m.read32(0x2004)).toBe(0x01020304);
  });

  it('handles accesses that cross a page boundary', () => {
    const m = new SparseMemory(1 << 20);
    m.write32(0x0ffe, 0xaabbccdd);
    expect(m.read32(0x0ffe)).toBe(0xaabbccdd);
    expect(m.read16(0x1000)).toBe(0xaabb);
    const src = new Uint8Array(6000).map((_, i) => i & 0xff);
    m.writeBytes(0x3f00, src);
    const dst = new Uint8Array(6000);
    m.readBytes(0x3f00, dst);
    expect(dst).toEqual(src);
  });

  it('treats out-of-range accesses as master aborts: all ones, dropped, counted', () => {
    const m = new SparseMemory(4096);
    expect(m.read32(4094)).toBe(0xffffffff);
    m.write8(4096, 1);
    expect(m.writeBytes(4000, new Uint8Array(200))).toBe(false);
    expect(m.outOfRangeAccesses).toBe(3);
    expect(m.allocatedPages).toBe(0);
    expect(() => new SparseMemory(1000)).toThrow(/multiple of 4096/);
  });

  it('behaves like a flat byte array for any sequence of writes', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            a: fc.integer({ min: 0, max: 3 * 4096 - 4 }),
            v: fc.integer({ min: 0, max: 0xffffffff }),
          }),
          {
            maxLength: 100,
          },
        ),
        (writes) => {
          const m = new SparseMemory(3 * 4096);
          const ref = new DataView(new ArrayBuffer(3 * 4096));
          for (const w of writes) {
            m.write32(w.a, w.v);
            ref.setUint32(w.a, w.v, true);
          }
          for (const w of writes) expect(m.read32(w.a)).toBe(ref.getUint32(w.a, true));
        },
      ),
    );
  });
});

describe('SparseMemory byte copies', () => {
  // 64 GiB and below index pages with a flat table; above, with a Map. Both must behave
  // as one flat byte array, for short copies (done byte by byte) and long ones, at any
  // page offset, above 4 GiB too.
  const layouts = [
    { name: 'flat page index', size: 1 << 20, base: 0 },
    { name: 'page Map (beyond 64 GiB)', size: 2 ** 37, base: 2 ** 37 - 4 * 4096 },
  ];
  for (const { name, size, base } of layouts) {
    it(`readBytes and writeBytes match a flat array (${name})`, () => {
      fc.assert(
        fc.property(
          fc.array(
            fc.record({
              a: fc.integer({ min: 0, max: 3 * 4096 }),
              len: fc.oneof(fc.integer({ min: 0, max: 24 }), fc.integer({ min: 0, max: 4096 })),
              off: fc.integer({ min: 0, max: 8 }),
              seed: fc.integer({ min: 0, max: 255 }),
            }),
            { maxLength: 30 },
          ),
          (ops) => {
            const m = new SparseMemory(size);
            const ref = new Uint8Array(4 * 4096);
            for (const op of ops) {
              const src = new Uint8Array(op.off + op.len).map((_, i) => (i * 31 + op.seed) & 0xff);
              expect(m.writeBytes(base + op.a, src, op.off, op.len)).toBe(true);
              ref.set(src.subarray(op.off, op.off + op.len), op.a);
            }
            for (const op of ops) {
              const dst = new Uint8Array(op.off + op.len).fill(0xee);
              expect(m.readBytes(base + op.a, dst, op.off, op.len)).toBe(true);
              expect(dst.subarray(0, op.off).every((b) => b === 0xee)).toBe(true);
              expect(dst.subarray(op.off)).toEqual(ref.subarray(op.a, op.a + op.len));
            }
            expect(m.outOfRangeAccesses).toBe(0);
          },
        ),
      );
    });

    it(`writeBytes from the same few arrays again, changed between writes, matches a flat array (${name})`, () => {
      const patterns = new Map<number, Uint8Array>();
      const pattern = (seed: number): Uint8Array => {
        let p = patterns.get(seed);
        if (p === undefined) {
          p = new Uint8Array(4096 + 40).map((_, i) => (i * 7 + seed) & 0xff);
          patterns.set(seed, p);
        }
        return p;
      };
      // More arrays than writeBytes keeps views of, each rewritten and copied from at other
      // offsets and lengths: a kept view must never stand for another range or another array.
      fc.assert(
        fc.property(
          fc.array(
            fc.record({
              which: fc.integer({ min: 0, max: 11 }),
              a: fc.integer({ min: 0, max: 3 * 4096 }),
              len: fc.oneof(fc.integer({ min: 17, max: 64 }), fc.integer({ min: 0, max: 4096 })),
              off: fc.integer({ min: 0, max: 40 }),
              seed: fc.integer({ min: 0, max: 255 }),
            }),
            { maxLength: 60 },
          ),
          (ops) => {
            const m = new SparseMemory(size);
            const ref = new Uint8Array(4 * 4096);
            const pool = Array.from({ length: 12 }, () => new Uint8Array(4096 + 40));
            for (const op of ops) {
              const src = pool[op.which]!;
              src.set(pattern(op.seed));
              expect(m.writeBytes(base + op.a, src, op.off, op.len)).toBe(true);
              ref.set(src.subarray(op.off, op.off + op.len), op.a);
            }
            const all = new Uint8Array(ref.length);
            expect(m.readBytes(base, all)).toBe(true);
            // The first byte that differs (−1: none); a whole-array toEqual is slow here.
            expect(all.findIndex((b, i) => b !== ref[i])).toBe(-1);
          },
        ),
      );
    });

    it(`allocates a page on its first write only (${name})`, () => {
      const m = new SparseMemory(size);
      expect(m.read32(base + 0x2000)).toBe(0);
      expect(m.allocatedPages).toBe(0);
      m.write8(base + 0x2fff, 1);
      m.write32(base + 0x2ffe, 0x01020304);
      expect(m.allocatedPages).toBe(2);
      expect(m.read32(base + 0x2ffe)).toBe(0x01020304);
      // Filling, even with zeros, writes: pages 0 and 1 join pages 2 and 3.
      m.fill(base, 8192, 0);
      expect(m.allocatedPages).toBe(4);
    });
  }
});

describe('PhysicalBus', () => {
  const device = (log: string[]): MmioDevice => ({
    mmioRead: (o, s) => {
      log.push(`r${o}/${s}`);
      return 0x1234;
    },
    mmioWrite: (o, s, v) => {
      log.push(`w${o}/${s}=${v}`);
    },
  });

  it('routes device ranges to the device with offsets and the rest to RAM', () => {
    const log: string[] = [];
    const bus = new PhysicalBus(new SparseMemory(1 << 16));
    bus.map('vf0-bar0', 0xf000_0000, 0x4000, device(log));
    bus.write(0xf000_0018, 4, 7);
    expect(bus.read(0xf000_0100, 4)).toBe(0x1234);
    expect(log).toEqual(['w24/4=7', 'r256/4']);
    bus.write(0x100, 4, 0xdead);
    expect(bus.memory.read32(0x100)).toBe(0xdead);
    expect(bus.read(0xe000_0000, 4)).toBe(0xffffffff);
    expect(bus.unclaimedAccesses).toBe(1);
  });

  it('refuses overlapping regions', () => {
    const bus = new PhysicalBus(new SparseMemory(4096));
    bus.map('a', 0x1000_0000, 0x1000, device([]));
    expect(() => bus.map('b', 0x1000_0800, 0x1000, device([]))).toThrow(AddressMapError);
  });
});

describe('CodeSpace and requester IDs', () => {
  it('finds a routine by address and refuses a second routine at the same address', () => {
    const code = new CodeSpace();
    const r = { name: 'nic_irq', step: () => {} };
    code.register(0x40_1000, r);
    expect(code.lookup(0x40_1000)).toBe(r);
    expect(code.lookup(0x40_1010)).toBeUndefined();
    expect(() => code.register(0x40_1000, { name: 'other', step: () => {} })).toThrow(/already holds/);
  });

  it('packs bus:device.function', () => {
    expect(requesterId(3, 0x10, 1)).toBe(0x381);
    expect(formatRequesterId(0x381)).toBe('03:10.1');
  });
});
