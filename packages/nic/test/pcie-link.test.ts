import { MemoryTraceSink, ns, Simulator, Stats, Tracer } from '@exitless/sim';
import type { MmioDevice, MmioSize, MsiSink } from '@exitless/x86';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NicConfigError, PcieLink } from '../src/index.js';

const DOWN = ns(530);
const UP = ns(280);

/** A register file behind the link: remembers each write with the time the device saw it. */
class Registers implements MmioDevice {
  readonly regs = new Map<number, number>();
  readonly seen: { offset: number; value: number; at: number }[] = [];
  constructor(
    private readonly sim: Simulator,
    /** Every device's deliveries in the order they happened. */
    private readonly log: { device: Registers; value: number }[] = [],
  ) {}
  mmioRead(offset: number, _size: MmioSize): number {
    return this.regs.get(offset) ?? 0;
  }
  mmioWrite(offset: number, _size: MmioSize, value: number): void {
    this.regs.set(offset, value);
    this.seen.push({ offset, value, at: this.sim.now });
    this.log.push({ device: this, value });
  }
}

/** The root complex side: records each MSI with the time it arrived. */
class RootComplex implements MsiSink {
  readonly got: { address: number; data: number; rid: number; at: number }[] = [];
  constructor(private readonly sim: Simulator) {}
  msiWrite(address: number, data: number, rid: number): void {
    this.got.push({ address, data, rid, at: this.sim.now });
  }
}

function rig(timing = { postedWritePs: DOWN, msiPs: UP }) {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const root = new RootComplex(sim);
  const link = new PcieLink({ sim, timing, upstream: root, stats: stats.scope('pcie') });
  const log: { device: Registers; value: number }[] = [];
  const bar0 = new Registers(sim, log);
  const bar3 = new Registers(sim, log);
  return { sim, stats, root, link, log, bar0, bar3, cpu0: link.attach(bar0), cpu3: link.attach(bar3) };
}

/** Runs `f` from an event at time `t` (as a CPU's operation would). */
function at(sim: Simulator, t: number, f: () => void): void {
  sim.schedule(sim.event('cpu', f), t);
}

describe('PcieLink: downstream posted writes (PCIe 2.0 §2.4.1)', () => {
  it('a store returns at once; the device sees it postedWritePs later', () => {
    const r = rig();
    at(r.sim, ns(1000), () => {
      r.cpu0.mmioWrite(0x108, 4, 1); // VFEIMS = 1
      expect(r.bar0.seen).toEqual([]);
      expect(r.link.writesInFlight).toBe(1);
    });
    r.sim.runUntil(ns(1000) + DOWN - 1);
    expect(r.bar0.regs.get(0x108)).toBeUndefined();
    r.sim.runUntil(ns(1000) + DOWN);
    expect(r.bar0.seen).toEqual([{ offset: 0x108, value: 1, at: ns(1000) + DOWN }]);
    expect(r.link.writesInFlight).toBe(0);
    expect(r.stats.counterValue('pcie.downstream.writes')).toBe(1);
  });

  it('two posted writes reach the device in the order issued, each postedWritePs after its store', () => {
    const r = rig();
    at(r.sim, ns(100), () => r.cpu0.mmioWrite(0x1018, 4, 15)); // RDT
    at(r.sim, ns(150), () => r.cpu3.mmioWrite(0x0c, 4, 0)); // MSI-X vector control, another BAR
    at(r.sim, ns(150), () => r.cpu0.mmioWrite(0x2018, 4, 7)); // TDT
    r.sim.runUntilEmpty();
    expect(r.bar0.seen).toEqual([
      { offset: 0x1018, value: 15, at: ns(100) + DOWN },
      { offset: 0x2018, value: 7, at: ns(150) + DOWN },
    ]);
    expect(r.bar3.seen).toEqual([{ offset: 0x0c, value: 0, at: ns(150) + DOWN }]);
  });

  it('a read after a write observes the write: the read pushes the posted writes ahead of it', () => {
    const r = rig();
    let read = -1;
    at(r.sim, ns(100), () => {
      r.cpu0.mmioWrite(0x108, 4, 0xa);
      r.cpu3.mmioWrite(0x0c, 4, 1);
      read = r.cpu0.mmioRead(0x108, 4);
    });
    r.sim.runUntil(ns(101));
    expect(read).toBe(0xa);
    // Both writes, the other BAR's too, landed in order before the read, at the read.
    expect(r.bar0.seen).toEqual([{ offset: 0x108, value: 0xa, at: ns(100) }]);
    expect(r.bar3.seen).toEqual([{ offset: 0x0c, value: 1, at: ns(100) }]);
    expect(r.stats.counterValue('pcie.downstream.flushed-by-read')).toBe(2);
    r.sim.runUntilEmpty();
    // Nothing is delivered twice.
    expect(r.bar0.seen).toHaveLength(1);
    expect(r.bar3.seen).toHaveLength(1);
  });

  it('with zero latency the link is transparent', () => {
    const r = rig({ postedWritePs: 0, msiPs: 0 });
    r.cpu0.mmioWrite(0x108, 4, 3);
    expect(r.bar0.regs.get(0x108)).toBe(3);
    r.link.msiWrite(0xfee00000, 0x41, 0x0380);
    expect(r.root.got).toHaveLength(1);
  });

  it('rejects timings that are not whole non-negative picoseconds', () => {
    const sim = new Simulator();
    const root = new RootComplex(sim);
    expect(() => new PcieLink({ sim, timing: { postedWritePs: -1, msiPs: 0 }, upstream: root })).toThrow(
      NicConfigError,
    );
    expect(() => new PcieLink({ sim, timing: { postedWritePs: 0, msiPs: 0.5 }, upstream: root })).toThrow(
      /msiPs/,
    );
  });
});

describe('PcieLink: upstream MSIs', () => {
  it('an MSI reaches the root complex msiPs after the device wrote it, with its address, data and requester ID', () => {
    const r = rig();
    at(r.sim, ns(2000), () => r.link.msiWrite(0xfee0_0018, 0, 0x0380));
    r.sim.runUntil(ns(2000) + UP - 1);
    expect(r.root.got).toEqual([]);
    expect(r.link.msisInFlight).toBe(1);
    r.sim.runUntil(ns(2000) + UP);
    expect(r.root.got).toEqual([{ address: 0xfee0_0018, data: 0, rid: 0x0380, at: ns(2000) + UP }]);
    expect(r.stats.counterValue('pcie.upstream.msis')).toBe(1);
  });

  it('MSIs arrive in the order written (a posted write passes no posted write)', () => {
    const r = rig();
    at(r.sim, ns(10), () => {
      r.link.msiWrite(0xfee00000, 0x41, 0x0380);
      r.link.msiWrite(0xfee00000, 0x42, 0x0380);
    });
    at(r.sim, ns(20), () => r.link.msiWrite(0xfee00000, 0x43, 0x0382));
    r.sim.runUntilEmpty();
    expect(r.root.got.map((m) => [m.data, m.at])).toEqual([
      [0x41, ns(10) + UP],
      [0x42, ns(10) + UP],
      [0x43, ns(20) + UP],
    ]);
  });

  it('reports each crossing on its tracer', () => {
    const sim = new Simulator();
    const tracer = new Tracer();
    const sink = new MemoryTraceSink();
    tracer.attach(sink);
    const root = new RootComplex(sim);
    const link = new PcieLink({ sim, timing: { postedWritePs: DOWN, msiPs: UP }, upstream: root, tracer });
    const bar = link.attach(new Registers(sim));
    at(sim, 0, () => {
      bar.mmioWrite(0x108, 4, 1);
      link.msiWrite(0xfee00000, 0x41, 0x0380);
    });
    sim.runUntilEmpty();
    expect(sink.records.map((x) => [x.name, x.time])).toEqual([
      ['posted-write', 0],
      ['msi', 0],
      ['msi-arrives', UP],
      ['posted-write-arrives', DOWN],
    ]);
  });
});

describe('PcieLink: allocation-free steady state', () => {
  it('the rings stop growing once they hold the deepest traffic, and keep order across growth and wrap', () => {
    const r = rig();
    // Steady traffic: a write and an MSI every 200 ns keeps three of each in flight.
    for (let i = 0; i < 5000; i++) {
      at(r.sim, i * ns(200), () => {
        r.cpu0.mmioWrite(0x2018, 4, i);
        r.link.msiWrite(0xfee00000, i & 0xffff, 0x0380);
      });
    }
    r.sim.runUntilEmpty();
    expect(r.link.capacity).toEqual({ downstream: 16, upstream: 16 });
    // A burst of 40 in one instant grows them once (16 → 32 → 64), in order.
    at(r.sim, r.sim.now + 1, () => {
      for (let i = 0; i < 40; i++) {
        r.cpu0.mmioWrite(0x1018, 4, i);
        r.link.msiWrite(0xfee00000, i, 0x0380);
      }
    });
    r.sim.runUntilEmpty();
    expect(r.link.capacity).toEqual({ downstream: 64, upstream: 64 });
    const tail = r.bar0.seen.filter((s) => s.offset === 0x1018).map((s) => s.value);
    expect(tail).toEqual([...Array(40).keys()]);
    expect(r.root.got.slice(-40).map((m) => m.data)).toEqual([...Array(40).keys()]);
  });
});

// Any interleaving of stores, loads and time: each store reaches its device exactly once, in
// the order the stores were issued across both BARs, postedWritePs after it was issued unless
// a later load pushed it there sooner; every load returns what the stores before it wrote.
const op = fc.oneof(
  fc.record({
    kind: fc.constant('write' as const),
    bar: fc.integer({ min: 0, max: 1 }),
    reg: fc.integer({ min: 0, max: 3 }),
    value: fc.nat(),
  }),
  fc.record({
    kind: fc.constant('read' as const),
    bar: fc.integer({ min: 0, max: 1 }),
    reg: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({ kind: fc.constant('wait' as const), ps: fc.integer({ min: 0, max: 2 * DOWN }) }),
);

it('posted writes stay ordered and every read sees the writes issued before it (property)', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const r = rig();
      const bars = [r.bar0, r.bar3];
      const views = [r.cpu0, r.cpu3];
      const issued: { bar: number; offset: number; value: number; at: number }[] = [];
      const expected = [new Map<number, number>(), new Map<number, number>()];
      const readsAt: number[] = [];
      let t = 0;
      let n = 0;
      for (const o of ops) {
        if (o.kind === 'wait') {
          t += o.ps;
          continue;
        }
        const when = t;
        // Each write carries its issue number as its value, so deliveries can be matched.
        const value = n++;
        at(r.sim, when, () => {
          const offset = o.reg * 4;
          if (o.kind === 'write') {
            views[o.bar]!.mmioWrite(offset, 4, value);
            issued.push({ bar: o.bar, offset, value, at: when });
            expected[o.bar]!.set(offset, value);
          } else {
            expect(views[o.bar]!.mmioRead(offset, 4)).toBe(expected[o.bar]!.get(offset) ?? 0);
            readsAt.push(when);
          }
        });
      }
      r.sim.runUntilEmpty();
      // Every store delivered once, in issue order across both devices, to its own device.
      expect(r.log.map((d) => d.value)).toEqual(issued.map((w) => w.value));
      expect(r.log.map((d) => bars.indexOf(d.device))).toEqual(issued.map((w) => w.bar));
      for (const b of [0, 1]) {
        const mine = issued.filter((w) => w.bar === b);
        const got = bars[b]!.seen;
        expect(got.map((s) => [s.offset, s.value])).toEqual(mine.map((w) => [w.offset, w.value]));
        for (let i = 0; i < got.length; i++) {
          const due = mine[i]!.at + DOWN;
          expect(got[i]!.at).toBeGreaterThanOrEqual(mine[i]!.at);
          // On time, or sooner only because a read issued meanwhile pushed it.
          if (got[i]!.at !== due) {
            expect(got[i]!.at).toBeLessThan(due);
            expect(readsAt).toContain(got[i]!.at);
          }
        }
      }
    }),
    { numRuns: 200 },
  );
});

describe('PcieLink: writes and MSIs in a row, one event', () => {
  it('delivers posted writes that arrive in a row with nothing else due in one event, each at its own arrival', () => {
    const r = rig();
    at(r.sim, ns(100), () => r.cpu0.mmioWrite(0x1018, 4, 1));
    at(r.sim, ns(150), () => r.cpu0.mmioWrite(0x1018, 4, 2));
    at(r.sim, ns(160), () => r.cpu3.mmioWrite(0x0c, 4, 3));
    r.sim.runUntilEmpty();
    expect(r.log.map((d) => [d.value, d.device.seen.find((s) => s.value === d.value)!.at])).toEqual([
      [1, ns(100) + DOWN],
      [2, ns(150) + DOWN],
      [3, ns(160) + DOWN],
    ]);
    // Three stores, and one delivery event for the three writes.
    expect(r.sim.eventsProcessed).toBe(4);
  });

  it('lets an event due between two arrivals run between them, and one at an arrival, scheduled first, before it', () => {
    const r = rig();
    const order: string[] = [];
    r.bar0.mmioWrite = function (offset, size, value) {
      Registers.prototype.mmioWrite.call(this, offset, size, value);
      order.push(`write ${value} @${r.sim.now}`);
    };
    at(r.sim, ns(100), () => r.cpu0.mmioWrite(0x1018, 4, 1));
    at(r.sim, ns(150), () => r.cpu0.mmioWrite(0x1018, 4, 2));
    at(r.sim, ns(170), () => r.cpu0.mmioWrite(0x1018, 4, 3));
    // Between the first two arrivals; then exactly at the third's, scheduled before it was.
    at(r.sim, ns(100) + DOWN + 1, () => order.push(`other @${r.sim.now}`));
    at(r.sim, ns(170) + DOWN, () => order.push(`tie @${r.sim.now}`));
    r.sim.runUntilEmpty();
    expect(order).toEqual([
      `write 1 @${ns(100) + DOWN}`,
      `other @${ns(100) + DOWN + 1}`,
      `write 2 @${ns(150) + DOWN}`,
      `tie @${ns(170) + DOWN}`,
      `write 3 @${ns(170) + DOWN}`,
    ]);
  });

  it('never delivers past the limit of runUntil', () => {
    const r = rig();
    at(r.sim, ns(100), () => {
      r.cpu0.mmioWrite(0x1018, 4, 1);
      r.link.msiWrite(0xfee00000, 0x41, 0x0380);
    });
    at(r.sim, ns(120), () => {
      r.cpu0.mmioWrite(0x1018, 4, 2);
      r.link.msiWrite(0xfee00000, 0x42, 0x0380);
    });
    r.sim.runUntil(ns(100) + UP + 10);
    expect(r.root.got.map((m) => m.data)).toEqual([0x41]);
    r.sim.runUntil(ns(100) + DOWN + 10);
    expect(r.bar0.seen.map((s) => s.value)).toEqual([1]);
    expect(r.link.writesInFlight).toBe(1);
    r.sim.runUntilEmpty();
    expect(r.bar0.seen.map((s) => [s.value, s.at])).toEqual([
      [1, ns(100) + DOWN],
      [2, ns(120) + DOWN],
    ]);
    expect(r.root.got.map((m) => [m.data, m.at])).toEqual([
      [0x41, ns(100) + UP],
      [0x42, ns(120) + UP],
    ]);
  });

  it('gives the same trace as one event per write and per MSI, with other events about (property)', () => {
    // The reference: what the link did before it delivered in rows: one delivery event, set
    // for the head of its ring each time it delivers.
    class OneEventEach {
      private readonly t: number[] = [];
      private readonly v: number[] = [];
      private readonly ev;
      constructor(
        private readonly sim: Simulator,
        private readonly latency: number,
        private readonly sink: (v: number) => void,
        name: string,
      ) {
        this.ev = sim.event(name, () => this.deliver());
      }
      send(value: number): void {
        let when = this.sim.now + this.latency;
        const last = this.t[this.t.length - 1];
        if (last !== undefined && last > when) when = last;
        this.t.push(when);
        this.v.push(value);
        if (!this.ev.scheduled) this.sim.schedule(this.ev, this.t[0]!);
      }
      private deliver(): void {
        while (this.t.length > 0 && this.t[0]! <= this.sim.now) {
          this.t.shift();
          this.sink(this.v.shift()!);
        }
        if (this.t.length > 0 && !this.ev.scheduled) this.sim.schedule(this.ev, this.t[0]!);
      }
    }
    // Gaps and delays that often land another event exactly on an arrival, or 1 ps either side.
    const near = [0, 1, UP - 1, UP, UP + 1, DOWN - 1, DOWN, DOWN + 1, DOWN - UP];
    const step = fc.record({
      kind: fc.constantFrom('write', 'msi', 'other'),
      gap: fc.oneof(fc.constantFrom(...near), fc.integer({ min: 0, max: DOWN + UP })),
      delay: fc.oneof(fc.constantFrom(...near), fc.integer({ min: 0, max: 2 * DOWN })),
      priority: fc.integer({ min: -1, max: 1 }),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 50 }), (steps) => {
        const trace = (real: boolean): string[] => {
          const sim = new Simulator();
          const out: string[] = [];
          let send: (v: number) => void;
          let msi: (v: number) => void;
          if (real) {
            const root: MsiSink = { msiWrite: (_a, data) => out.push(`msi ${data} @${sim.now}`) };
            const link = new PcieLink({ sim, timing: { postedWritePs: DOWN, msiPs: UP }, upstream: root });
            const bar = link.attach({
              mmioRead: () => 0,
              mmioWrite: (_o, _s, value) => out.push(`write ${value} @${sim.now}`),
            });
            send = (v) => bar.mmioWrite(0, 4, v);
            msi = (v) => link.msiWrite(0xfee00000, v, 0);
          } else {
            const w = new OneEventEach(sim, DOWN, (v) => out.push(`write ${v} @${sim.now}`), 'w');
            const m = new OneEventEach(sim, UP, (v) => out.push(`msi ${v} @${sim.now}`), 'm');
            send = (v) => w.send(v);
            msi = (v) => m.send(v);
          }
          let t = 0;
          steps.forEach((s, i) => {
            t += s.gap;
            const issue = sim.event(`step${i}`, () => {
              if (s.kind === 'write') send(i);
              else if (s.kind === 'msi') msi(i);
              else {
                // Another component's event, set from here for a little later.
                const other = sim.event(`other${i}`, () => out.push(`other ${i} @${sim.now}`), s.priority);
                sim.schedule(other, sim.now + s.delay);
              }
            });
            sim.schedule(issue, t);
          });
          sim.runUntilEmpty();
          return out;
        };
        expect(trace(true)).toEqual(trace(false));
      }),
      { numRuns: 300 },
    );
  });
});
