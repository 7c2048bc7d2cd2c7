import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ContextEntry,
  decodeContextEntry,
  decodeFaultRecord,
  decodeIrte,
  decodePostedInterruptDescriptor,
  decodeRootEntry,
  decodeSecondLevelEntry,
  encodeContextEntry,
  encodeIrte,
  encodePostedInterruptDescriptor,
  encodeRootEntry,
  encodeSecondLevelEntry,
  type PostedIrte,
  type RemappedIrte,
  xapicIrteDestination,
} from '../src/index.js';

const page = (maxPages: number) => fc.integer({ min: 0, max: maxPages }).map((p) => p * 4096);
const addr52Page = page(2 ** 40 - 1);
const bit = fc.integer({ min: 0, max: 1 });

const remappedIrte: fc.Arbitrary<RemappedIrte> = fc.record({
  mode: fc.constant('remapped' as const),
  present: fc.boolean(),
  faultProcessingDisable: fc.boolean(),
  destinationMode: bit,
  redirectionHint: bit,
  triggerMode: bit,
  deliveryMode: fc.integer({ min: 0, max: 7 }),
  available: fc.integer({ min: 0, max: 15 }),
  vector: fc.integer({ min: 0, max: 255 }),
  destination: fc.integer({ min: 0, max: 0xffffffff }),
  sourceId: fc.integer({ min: 0, max: 0xffff }),
  sourceIdQualifier: fc.integer({ min: 0, max: 3 }),
  sourceValidationType: fc.integer({ min: 0, max: 3 }),
});

const postedIrte: fc.Arbitrary<PostedIrte> = fc.record({
  mode: fc.constant('posted' as const),
  present: fc.boolean(),
  faultProcessingDisable: fc.boolean(),
  urgent: fc.boolean(),
  available: fc.integer({ min: 0, max: 15 }),
  vector: fc.integer({ min: 0, max: 255 }),
  descriptorAddress: fc.integer({ min: 0, max: 2 ** 46 - 1 }).map((n) => n * 64),
  sourceId: fc.integer({ min: 0, max: 0xffff }),
  sourceIdQualifier: fc.integer({ min: 0, max: 3 }),
  sourceValidationType: fc.integer({ min: 0, max: 3 }),
});

describe('root entry (VT-d §9.1)', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(fc.boolean(), addr52Page, (present, contextTablePointer) => {
        const w = new Uint32Array(4);
        encodeRootEntry({ present, contextTablePointer }, w);
        expect(decodeRootEntry(w)).toEqual({ present, contextTablePointer });
      }),
    );
  });

  it('puts P in bit 0 and CTP in bits 63:12, with the upper qword zero', () => {
    const w = new Uint32Array(4);
    encodeRootEntry({ present: true, contextTablePointer: 0x12_3456_7000 }, w);
    expect([...w]).toEqual([0x34567001, 0x12, 0, 0]);
  });
});

describe('context entry (VT-d §9.3)', () => {
  const entry: fc.Arbitrary<ContextEntry> = fc.record({
    present: fc.boolean(),
    faultProcessingDisable: fc.boolean(),
    translationType: fc.integer({ min: 0, max: 3 }),
    secondLevelPageTable: addr52Page,
    addressWidth: fc.integer({ min: 0, max: 7 }),
    domainId: fc.integer({ min: 0, max: 0xffff }),
  });

  it('round-trips', () => {
    fc.assert(
      fc.property(entry, (e) => {
        const w = new Uint32Array(4);
        encodeContextEntry(e, w);
        expect(decodeContextEntry(w)).toEqual(e);
      }),
    );
  });

  it('lays out P 0, FPD 1, TT 3:2, SLPTPTR 63:12, AW 66:64, DID 87:72', () => {
    const w = new Uint32Array(4);
    encodeContextEntry(
      {
        present: true,
        faultProcessingDisable: true,
        translationType: 2,
        secondLevelPageTable: 0x5000,
        addressWidth: 2,
        domainId: 0xabcd,
      },
      w,
    );
    expect([...w]).toEqual([0x5000 | 0b1011, 0, 0xabcd02, 0]);
  });
});

describe('second-level paging entry (VT-d §9.8)', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.boolean(), addr52Page, (read, write, pageSize, address) => {
        const w = new Uint32Array(2);
        encodeSecondLevelEntry({ read, write, pageSize, address }, w);
        expect(decodeSecondLevelEntry(w)).toEqual({ read, write, pageSize, address });
      }),
    );
  });

  it('puts R in bit 0, W in bit 1, PS in bit 7', () => {
    const w = new Uint32Array(2);
    encodeSecondLevelEntry({ read: true, write: false, pageSize: true, address: 0x1_0020_0000 }, w);
    expect([...w]).toEqual([0x00200081, 1]);
  });
});

describe('IRTE (VT-d §9.10, §9.11)', () => {
  it('round-trips the remapped format', () => {
    fc.assert(
      fc.property(remappedIrte, (e) => {
        const w = new Uint32Array(4);
        encodeIrte(e, w);
        expect(decodeIrte(w)).toEqual(e);
      }),
    );
  });

  it('round-trips the posted format', () => {
    fc.assert(
      fc.property(postedIrte, (e) => {
        const w = new Uint32Array(4);
        encodeIrte(e, w);
        expect(decodeIrte(w)).toEqual(e);
      }),
    );
  });

  it('encodes a remapped IRTE bit-exact: P 0, DM 2, RH 3, TM 4, DLM 7:5, IM 15 = 0, V 23:16, DST 63:32, SID 79:64, SQ 81:80, SVT 83:82', () => {
    const w = new Uint32Array(4);
    encodeIrte(
      {
        mode: 'remapped',
        present: true,
        faultProcessingDisable: false,
        destinationMode: 1,
        redirectionHint: 1,
        triggerMode: 1,
        deliveryMode: 4,
        available: 0,
        vector: 0x41,
        destination: xapicIrteDestination(3),
        sourceId: 0x0380,
        sourceIdQualifier: 3,
        sourceValidationType: 1,
      },
      w,
    );
    expect(w[0]).toBe(0x0041_009d);
    expect(w[1]).toBe(0x0000_0300);
    expect(w[2]).toBe(0x0007_0380);
    expect(w[3]).toBe(0);
  });

  it('encodes a posted IRTE: URG 14, IM 15 = 1, PDA low in 63:38, PDA high in 127:96', () => {
    const w = new Uint32Array(4);
    encodeIrte(
      {
        mode: 'posted',
        present: true,
        faultProcessingDisable: false,
        urgent: true,
        vector: 0x55,
        descriptorAddress: 0x2_1234_5640,
        sourceId: 0,
        sourceIdQualifier: 0,
        sourceValidationType: 0,
      },
      w,
    );
    expect(w[0]).toBe(0x0055_c001);
    expect(w[1]).toBe(0x1234_5640);
    expect(w[3]).toBe(2);
  });

  it("puts a posted IRTE's AVAIL in bits 11:8, as in the remapped format (VT-d posted IRTE figure)", () => {
    const w = new Uint32Array(4);
    const e: PostedIrte = {
      mode: 'posted',
      present: true,
      faultProcessingDisable: false,
      urgent: false,
      available: 0xa,
      vector: 0x55,
      descriptorAddress: 0x40,
      sourceId: 0,
      sourceIdQualifier: 0,
      sourceValidationType: 0,
    };
    encodeIrte(e, w);
    expect(w[0]).toBe(0x0055_8a01);
    expect(decodeIrte(w)).toMatchObject({ mode: 'posted', available: 0xa, urgent: false });
  });
});

describe('posted-interrupt descriptor (VT-d §9.12)', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 8, maxLength: 8 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (pir, on, sn, nv, ndst) => {
          const d = {
            pir: Uint32Array.from(pir),
            outstandingNotification: on,
            suppressNotification: sn,
            notificationVector: nv,
            notificationDestination: ndst,
          };
          const w = new Uint32Array(16);
          encodePostedInterruptDescriptor(d, w);
          expect(decodePostedInterruptDescriptor(w)).toEqual(d);
        },
      ),
    );
  });

  it('puts ON at bit 256, SN at 257, NV at 279:272, NDST at 319:288', () => {
    const w = new Uint32Array(16);
    encodePostedInterruptDescriptor(
      {
        pir: new Uint32Array(8),
        outstandingNotification: true,
        suppressNotification: true,
        notificationVector: 0xf2,
        notificationDestination: 0x0500,
      },
      w,
    );
    expect(w[8]).toBe(0x00f2_0003);
    expect(w[9]).toBe(0x0500);
  });
});

describe('fault record (VT-d §10.4.14)', () => {
  it('decodes FI 63:12, SID 79:64, FR 103:96, T 126, F 127', () => {
    const r = decodeFaultRecord(Uint32Array.from([0x1234_5000, 0x7, 0x0380, 0xc000_0006]));
    expect(r).toEqual({ fault: true, reason: 6, sourceId: 0x380, read: true, faultInfo: 0x7_1234_5000 });
  });
});
