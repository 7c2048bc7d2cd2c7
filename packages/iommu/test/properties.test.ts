import { DMA_OK, encodeCompatMsiAddress, encodeRemappableMsiAddress } from '@exitless/x86';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RemappedIrte, SVT, xapicIrteDestination } from '../src/index.js';
import { POOL_BASE, POOL_SIZE, rig } from './helpers.js';

const HPA_BASE = 0x1000000;
const HPA_PAGES = 32;
const IOVA_PAGES = 24;
const RIDS = [0x0380, 0x0382, 0x0384] as const; // two attached to domains 1 and 2, one never attached

interface Mapping {
  readonly iovaPage: number;
  readonly hpaPage: number;
  readonly read: boolean;
  readonly write: boolean;
}

const mappingArb = fc.record({
  iovaPage: fc.integer({ min: 0, max: IOVA_PAGES - 1 }),
  hpaPage: fc.integer({ min: 0, max: HPA_PAGES - 1 }),
  read: fc.boolean(),
  write: fc.boolean(),
});

const requestArb = fc.record({
  rid: fc.constantFrom(...RIDS),
  write: fc.boolean(),
  address: fc.integer({ min: 0, max: IOVA_PAGES * 4096 + 4096 }),
  length: fc.integer({ min: 1, max: 3 * 4096 }),
  fill: fc.integer({ min: 1, max: 255 }),
});

describe('isolation properties', () => {
  it('no DMA outside a domain’s mappings ever reaches memory (memory compared with a model)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(mappingArb, { selector: (m) => m.iovaPage, maxLength: 16 }),
        fc.uniqueArray(mappingArb, { selector: (m) => m.iovaPage, maxLength: 16 }),
        fc.array(requestArb, { minLength: 1, maxLength: 25 }),
        fc.integer({ min: 1, max: 6 }),
        (maps1, maps2, requests, tlb) => {
          const r = rig({ iotlbEntries: tlb });
          const domains = [r.tables.createDomain(1), r.tables.createDomain(2)];
          const models: Map<number, Mapping>[] = [new Map(), new Map()];
          [maps1, maps2].forEach((maps, i) => {
            for (const m of maps) {
              r.tables.map(domains[i]!, m.iovaPage * 4096, HPA_BASE + m.hpaPage * 4096, 4096, m);
              models[i]!.set(m.iovaPage, m);
            }
          });
          r.tables.attachDevice(RIDS[0], domains[0]!);
          r.tables.attachDevice(RIDS[1], domains[1]!);
          const tablesBefore = new Uint8Array(POOL_SIZE);
          r.memory.readBytes(POOL_BASE, tablesBefore);
          const model = new Uint8Array(HPA_PAGES * 4096);

          for (const q of requests) {
            const d = RIDS.indexOf(q.rid);
            const map = models[d];
            let allowed = map !== undefined;
            for (
              let p = Math.floor(q.address / 4096);
              p <= Math.floor((q.address + q.length - 1) / 4096);
              p++
            ) {
              const m = map?.get(p);
              if (m === undefined || !(q.write ? m.write : m.read)) allowed = false;
            }
            const buf = new Uint8Array(q.length).fill(q.fill);
            const result = q.write
              ? r.iommu.dmaWrite(q.rid, q.address, buf, 0, q.length)
              : r.iommu.dmaRead(q.rid, q.address, buf, 0, q.length);
            expect(result === DMA_OK).toBe(allowed);
            for (let i = 0; i < q.length && allowed; i++) {
              const iova = q.address + i;
              const hpaOff = map!.get(Math.floor(iova / 4096))!.hpaPage * 4096 + (iova % 4096);
              if (q.write) model[hpaOff] = q.fill;
              else expect(buf[i]).toBe(model[hpaOff]);
            }
            if (!allowed && !q.write) expect(buf.every((b) => b === q.fill)).toBe(true);
          }
          const actual = new Uint8Array(HPA_PAGES * 4096);
          r.memory.readBytes(HPA_BASE, actual);
          expect(Buffer.from(actual).equals(Buffer.from(model))).toBe(true);
          const tablesAfter = new Uint8Array(POOL_SIZE);
          r.memory.readBytes(POOL_BASE, tablesAfter);
          expect(Buffer.from(tablesAfter).equals(Buffer.from(tablesBefore))).toBe(true);
          // Nothing outside the data pages and the tables was touched either.
          expect(r.memory.allocatedPages).toBeLessThanOrEqual(POOL_SIZE / 4096 + HPA_PAGES);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("interrupts never escape their IRTE's vector and destination, nor its source-ID check", () => {
    const irteArb = fc.record({
      index: fc.integer({ min: 0, max: 31 }),
      present: fc.boolean(),
      vector: fc.integer({ min: 0x20, max: 0xff }),
      apicId: fc.integer({ min: 0, max: 255 }),
      svt: fc.constantFrom(SVT.NONE, SVT.REQUESTER_ID, SVT.BUS_RANGE),
      sid: fc.integer({ min: 0, max: 0xffff }),
      sq: fc.integer({ min: 0, max: 3 }),
    });
    const msiArb = fc.record({
      compat: fc.boolean(),
      handle: fc.integer({ min: 0, max: 40 }),
      rid: fc.oneof(fc.constantFrom(0x0380, 0x0382, 0x0384), fc.integer({ min: 0, max: 0xffff })),
      vector: fc.integer({ min: 0, max: 255 }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(irteArb, { selector: (e) => e.index, maxLength: 20 }),
        fc.array(msiArb, { minLength: 1, maxLength: 30 }),
        (irtes, msis) => {
          const r = rig();
          const byIndex = new Map<number, (typeof irtes)[number]>();
          for (const e of irtes) {
            const irte: RemappedIrte = {
              mode: 'remapped',
              present: e.present,
              faultProcessingDisable: false,
              destinationMode: 0,
              redirectionHint: 0,
              triggerMode: 0,
              deliveryMode: 0,
              available: 0,
              vector: e.vector,
              destination: xapicIrteDestination(e.apicId),
              sourceId: e.sid,
              sourceIdQualifier: e.sq,
              sourceValidationType: e.svt,
            };
            r.irt.write(e.index, irte);
            byIndex.set(e.index, e);
          }
          for (const m of msis) {
            const before = r.sink.messages.length;
            if (m.compat) {
              r.iommu.msiWrite(
                encodeCompatMsiAddress({ destination: 1, redirectionHint: 0, destMode: 0 }),
                m.vector,
                m.rid,
              );
              expect(r.sink.messages.length).toBe(before); // CFI is off: always blocked
              continue;
            }
            r.iommu.msiWrite(encodeRemappableMsiAddress({ handle: m.handle, shv: false }), 0, m.rid);
            const e = byIndex.get(m.handle);
            const mask = [0xffff, 0xfffb, 0xfff9, 0xfff8][e?.sq ?? 0]!;
            const sourceOk =
              e !== undefined &&
              (e.svt === SVT.NONE ||
                (e.svt === SVT.REQUESTER_ID && (m.rid & mask) === (e.sid & mask)) ||
                (e.svt === SVT.BUS_RANGE && m.rid >>> 8 >= e.sid >>> 8 && m.rid >>> 8 <= (e.sid & 0xff)));
            if (e?.present === true && sourceOk) {
              expect(r.sink.messages.length).toBe(before + 1);
              expect(r.sink.messages[before]).toMatchObject({ vector: e.vector, destination: e.apicId });
            } else {
              expect(r.sink.messages.length).toBe(before);
            }
          }
          expect(r.counter('ir.remapped') + r.counter('ir.blocked')).toBe(msis.length);
        },
      ),
      { numRuns: 150 },
    );
  });
});
