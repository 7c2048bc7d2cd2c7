import { APIC_REG, MSR, MSR_OK, type MsrValue, priorityClass, x2apicMsr } from '@exitless/x86';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LocalApicDevice } from '../src/index.js';
import { machine, msg } from './helpers.js';

type Op =
  | { readonly kind: 'raise'; readonly vector: number }
  | { readonly kind: 'ack' }
  | { readonly kind: 'eoi' }
  | { readonly kind: 'tpr'; readonly value: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.integer({ min: 16, max: 255 }).map((vector) => ({ kind: 'raise', vector }) as const),
  },
  { weight: 3, arbitrary: fc.constant({ kind: 'ack' } as const) },
  { weight: 2, arbitrary: fc.constant({ kind: 'eoi' } as const) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 255 }).map((value) => ({ kind: 'tpr', value }) as const),
  },
);

// Register reads through the mode's architectural interface.
function reader(a: LocalApicDevice, x2apic: boolean): (offset: number) => number {
  const out: MsrValue = { lo: 0, hi: 0 };
  return (offset) => {
    if (!x2apic) return a.mmioRead(offset, 4) >>> 0;
    expect(a.readMsr(x2apicMsr(offset), out)).toBe(MSR_OK);
    return out.lo >>> 0;
  };
}

function bitsOf(read: (offset: number) => number, base: number): number[] {
  const out: number[] = [];
  for (let w = 0; w < 8; w++) {
    const word = read(base + w * 0x10);
    for (let b = 0; b < 32; b++) if ((word >>> b) & 1) out.push(w * 32 + b);
  }
  return out;
}

describe('property: no interrupt lost or duplicated, ISR nesting by class, PPR by the SDM formula', () => {
  it('holds for any sequence of incoming vectors, INTAs, EOIs and TPR writes (xAPIC and x2APIC)', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(opArb, { maxLength: 120 }), (x2apic, ops) => {
        const { apics } = machine([0]);
        const a = apics[0]!;
        if (x2apic) expect(a.writeMsr(MSR.IA32_APIC_BASE, 0xfee00c00, 0)).toBe(MSR_OK);
        const read = reader(a, x2apic);
        const write = (offset: number, v: number): void => {
          if (x2apic) expect(a.writeMsr(x2apicMsr(offset), v, 0)).toBe(MSR_OK);
          else a.mmioWrite(offset, 4, v);
        };
        write(APIC_REG.SVR, 0x1ff);

        // Reference model: the set of pending vectors and the stack of in-service ones.
        const pending = new Set<number>();
        const inService: number[] = [];
        let tpr = 0;
        let raisedNew = 0;
        let delivered = 0;

        const ppr = (): number => {
          const isrv = inService.length === 0 ? 0 : Math.max(...inService);
          return priorityClass(tpr) >= priorityClass(isrv) ? tpr : isrv & 0xf0;
        };
        const check = (): void => {
          expect(bitsOf(read, APIC_REG.IRR0)).toEqual([...pending].sort((x, y) => x - y));
          expect(bitsOf(read, APIC_REG.ISR0)).toEqual([...inService].sort((x, y) => x - y));
          // PPR from the TPR and ISR registers as read, by §10.8.3.1.
          const isrBits = bitsOf(read, APIC_REG.ISR0);
          const isrv = isrBits.length === 0 ? 0 : isrBits[isrBits.length - 1]!;
          const t = read(APIC_REG.TPR);
          expect(read(APIC_REG.PPR)).toBe(priorityClass(t) >= priorityClass(isrv) ? t : isrv & 0xf0);
          expect(read(APIC_REG.PPR)).toBe(ppr());
        };

        const inta = (): void => {
          const top = pending.size === 0 ? -1 : Math.max(...pending);
          const expected = top >= 0 && priorityClass(top) > priorityClass(ppr()) ? top : -1;
          expect(a.hasInterrupt()).toBe(expected >= 0);
          const got = a.acknowledge();
          if (expected < 0) {
            expect(got).toBe(0xff); // spurious, ISR untouched
            return;
          }
          expect(got).toBe(expected);
          // Nesting: a newly serviced vector outranks (by class) everything in service.
          for (const v of inService) expect(priorityClass(got)).toBeGreaterThan(priorityClass(v));
          pending.delete(got);
          inService.push(got);
          delivered++;
        };
        const eoi = (): void => {
          write(APIC_REG.EOI, 0);
          if (inService.length > 0) {
            const top = Math.max(...inService);
            inService.splice(inService.indexOf(top), 1);
          }
        };

        for (const op of ops) {
          switch (op.kind) {
            case 'raise':
              a.acceptInterrupt(msg(op.vector, 0));
              if (!pending.has(op.vector)) raisedNew++;
              pending.add(op.vector);
              break;
            case 'ack':
              inta();
              break;
            case 'eoi':
              eoi();
              break;
            case 'tpr':
              write(APIC_REG.TPR, op.value);
              tpr = op.value;
              break;
          }
          check();
        }

        // Drain: every accepted instance is delivered exactly once.
        write(APIC_REG.TPR, 0);
        tpr = 0;
        while (inService.length > 0) eoi();
        while (pending.size > 0) {
          inta();
          eoi();
        }
        check();
        expect(delivered).toBe(raisedNew);
        expect(a.counters.acknowledged.value).toBe(delivered);
        expect(a.counters.accepted.value + a.counters.coalesced.value).toBe(
          ops.filter((o) => o.kind === 'raise').length,
        );
      }),
      { numRuns: 300 },
    );
  });
});
