/**
 * The RX poll's fast paths (refills written a run of descriptors at a time, the status clear
 * deferred to the poll's end) against the driver as written one descriptor at a time: after
 * every poll the ring's bytes, the out-of-range count, the queued register writes, the
 * cycles and the frames handed to the stack must be the same, whatever the descriptors held.
 */
import { RX_DESC, RXD_STAT, VF_REG } from '@exitless/nic';
import { Stats } from '@exitless/sim';
import { SparseMemory } from '@exitless/x86';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GUEST_LAYOUT, IXGBEVF_RX_BUFFER_WRITE, Ixgbevf, type IxgbevfStack } from '../src/index.js';
import { BAR0, BAR3, COSTS, DYNAMIC, drain } from './driver-helpers.js';

const BUDGET = 64;

/** ixgbevf_clean_rx_irq and ixgbevf_alloc_rx_buffers one descriptor at a time, as the driver was first written. */
class ReferenceRx {
  ntc = 0;
  ntu: number;
  readonly rdt: number[] = [];

  constructor(
    readonly memory: SparseMemory,
    readonly n: number,
  ) {
    for (let i = 0; i < n; i++) this.post(i);
    this.ntu = n - 1;
  }

  private post(i: number): void {
    const d = GUEST_LAYOUT.RX_RING + i * RX_DESC.SIZE;
    this.memory.write32(d, GUEST_LAYOUT.RX_BUFFERS + i * GUEST_LAYOUT.BUFFER_SIZE);
    this.memory.write32(d + 4, 0);
    this.memory.write32(d + 8, 0);
    this.memory.write32(d + 12, 0);
  }

  private alloc(count: number): number {
    let i = this.ntu;
    for (let k = 0; k < count; k++) {
      this.post(i);
      i = (i + 1) % this.n;
    }
    if (i !== this.ntu) {
      this.ntu = i;
      this.rdt.push(i === 0 ? this.n - 1 : i - 1);
    }
    return count * COSTS.rxRefillPerBuffer;
  }

  poll(stack: IxgbevfStack): { cycles: number; frames: number } {
    const mem = this.memory;
    let cycles = COSTS.napiPollBase;
    let frames = 0;
    let cleaned = 0;
    while (frames < BUDGET) {
      const d = GUEST_LAYOUT.RX_RING + this.ntc * RX_DESC.SIZE;
      const status = mem.read8(d + RX_DESC.STATUS);
      if ((status & RXD_STAT.DD) === 0) break;
      const length = mem.read16(d + RX_DESC.LENGTH);
      cycles += COSTS.rxPerFrame;
      if ((status & RXD_STAT.EOP) !== 0) {
        cycles += stack.receive(length, GUEST_LAYOUT.RX_BUFFERS + this.ntc * GUEST_LAYOUT.BUFFER_SIZE, 0);
      }
      mem.write8(d + RX_DESC.STATUS, 0);
      this.ntc = (this.ntc + 1) % this.n;
      frames++;
      cleaned++;
      if (cleaned >= IXGBEVF_RX_BUFFER_WRITE) {
        cycles += this.alloc(cleaned);
        cleaned = 0;
      }
    }
    const unused = (this.ntc > this.ntu ? 0 : this.n) + this.ntc - this.ntu - 1;
    if (unused > 0) cycles += this.alloc(unused);
    return { cycles, frames };
  }
}

function recordingStack(): IxgbevfStack & { readonly seen: number[] } {
  const seen: number[] = [];
  return {
    seen,
    receive(length: number, buffer: number): number {
      seen.push(length, buffer);
      return length & 0xff;
    },
  };
}

/** One descriptor's write-back between polls: anything, in any descriptor. */
interface Write {
  readonly at: number;
  readonly length: number;
  readonly status: number;
}

function compare(n: number, memorySize: number, rounds: readonly (readonly Write[])[]): void {
  const fast = new SparseMemory(memorySize);
  const slow = new SparseMemory(memorySize);
  const driver = new Ixgbevf({
    memory: fast,
    bar0: BAR0,
    bar3: BAR3,
    apicId: 0,
    vectors: { rx: 0x41, tx: 0x42, mailbox: 0x43 },
    rxRingSize: n,
    txRingSize: 64,
    napiBudget: BUDGET,
    throttling: DYNAMIC,
    costs: COSTS,
    stats: new Stats({ now: 0 }).scope('guest0'),
  });
  driver.configureRings();
  const reference = new ReferenceRx(slow, n);
  const ringBytes = n * RX_DESC.SIZE;
  const ring = (m: SparseMemory) => {
    const b = new Uint8Array(ringBytes);
    m.readBytes(
      GUEST_LAYOUT.RX_RING,
      b,
      0,
      Math.max(0, Math.min(ringBytes, memorySize - GUEST_LAYOUT.RX_RING)),
    );
    return b;
  };
  /** The first ring byte where the two memories differ (−1: none), as a descriptor and offset. */
  const firstDifference = (): string | number => {
    const a = ring(fast);
    const b = ring(slow);
    for (let i = 0; i < ringBytes; i++) {
      if (a[i] !== b[i]) return `descriptor ${i >> 4} byte ${i & 15}: ${a[i]} vs ${b[i]}`;
    }
    return -1;
  };
  expect(firstDifference()).toBe(-1);
  for (const writes of rounds) {
    for (const w of writes) {
      for (const m of [fast, slow]) {
        const d = GUEST_LAYOUT.RX_RING + (w.at % n) * RX_DESC.SIZE;
        m.write16(d + RX_DESC.LENGTH, w.length);
        m.write8(d + RX_DESC.STATUS, w.status);
      }
    }
    const fs = recordingStack();
    const ss = recordingStack();
    const cycles = driver.poll(fs, 0);
    const expected = reference.poll(ss);
    expect(cycles).toBe(expected.cycles);
    expect(driver.lastPollFrames).toBe(expected.frames);
    expect(fs.seen).toEqual(ss.seen);
    expect(drain(driver)).toEqual(reference.rdt.map((v) => [BAR0 + VF_REG.VFRDT, v]));
    reference.rdt.length = 0;
    expect(firstDifference()).toBe(-1);
    expect(fast.outOfRangeAccesses).toBe(slow.outOfRangeAccesses);
  }
}

const writes = (n: number) =>
  fc.array(
    fc.array(
      fc.record({
        at: fc.integer({ min: 0, max: n - 1 }),
        length: fc.integer({ min: 0, max: 0xffff }),
        status: fc.constantFrom(0, RXD_STAT.DD, RXD_STAT.DD | RXD_STAT.EOP, RXD_STAT.EOP, 0xff),
      }),
      { maxLength: 80 },
    ),
    { minLength: 1, maxLength: 12 },
  );

/** Write-backs the way the NIC makes them: the next `count` descriptors in ring order, DD|EOP. */
const inOrder = (n: number, counts: readonly number[]): Write[][] => {
  let at = 0;
  return counts.map((count, r) =>
    Array.from({ length: count }, (_, k) => {
      const w = { at: at % n, length: 60 + ((r * 131 + k) % 1455), status: RXD_STAT.DD | RXD_STAT.EOP };
      at++;
      return w;
    }),
  );
};

describe('RX poll fast paths give what one descriptor at a time gives', () => {
  // Rings smaller than the budget (no deferred clear), just above it, across a 4 KiB page of
  // the ring at an odd descriptor (300: page at 256), the default (512).
  for (const n of [8, 16, 17, 32, 64, 65, 100, 300, 512]) {
    it(`ring of ${n}: write-backs in ring order, batches of every size`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 0, max: Math.min(n - 1, 100) }), { minLength: 1, maxLength: 30 }),
          (counts) => {
            compare(n, GUEST_LAYOUT.MIN_MEMORY, inOrder(n, counts));
          },
        ),
        { numRuns: 25 },
      );
    });

    it(`ring of ${n}: any status and length in any descriptor between polls`, () => {
      fc.assert(
        fc.property(writes(n), (rounds) => {
          compare(n, GUEST_LAYOUT.MIN_MEMORY, rounds);
        }),
        { numRuns: 25 },
      );
    });
  }

  it('a ring that runs out of memory: every access beyond it counted as before', () => {
    // Memory ends one page into the ring: descriptors 256… are out of range (read as all ones).
    const size = GUEST_LAYOUT.RX_RING + 4096;
    fc.assert(
      fc.property(writes(300), (rounds) => {
        compare(300, size, rounds);
      }),
      { numRuns: 40 },
    );
    // In ring order: the polls reach the descriptors past the end of memory (all ones: DD|EOP).
    compare(300, size, inOrder(300, [63, 63, 63, 63, 63, 63, 63]));
  });

  it('a full budget of frames in one poll, the ring wrapping in the middle', () => {
    const n = 100;
    // 90 frames first, then 64 (the budget) across the end of the ring, then the rest.
    compare(n, GUEST_LAYOUT.MIN_MEMORY, inOrder(n, [90, 70, 5, 0, 64, 64]));
  });
});
