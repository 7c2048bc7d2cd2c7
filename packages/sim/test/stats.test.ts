import { describe, expect, it } from 'vitest';
import { ChromeTraceSink, MemoryTraceSink, Simulator, Stats, Tracer } from '../src/index.js';

describe('Stats', () => {
  it('counts, resets at the end of warm-up, and snapshots sorted names', () => {
    const sim = new Simulator();
    const stats = new Stats(sim);
    const exits = stats.scope('cpu0').counter('exits.external-interrupt');
    exits.inc();
    exits.add(4);
    expect(stats.counterValue('cpu0.exits.external-interrupt')).toBe(5);
    stats.counter('a.b').inc();
    stats.reset();
    exits.inc();
    const snap = stats.snapshot();
    expect(Object.keys(snap.counters)).toEqual(['a.b', 'cpu0.exits.external-interrupt']);
    expect(snap.counters['cpu0.exits.external-interrupt']).toBe(1);
    expect(snap.counters['a.b']).toBe(0);
  });

  it('returns the same instrument for the same name and rejects kind clashes and bad names', () => {
    const stats = new Stats(new Simulator());
    expect(stats.counter('x.y')).toBe(stats.counter('x.y'));
    expect(() => stats.gauge('x.y')).toThrow(/another kind/);
    expect(() => stats.counter('bad name')).toThrow(/dot-separated/);
    expect(() => stats.counter('a..b')).toThrow(/dot-separated/);
  });

  it('time-weights gauges', () => {
    const sim = new Simulator();
    const stats = new Stats(sim);
    const g = stats.gauge('ring.occupancy');
    g.set(10);
    sim.runUntil(100);
    g.set(30);
    sim.runUntil(400);
    // 10 for 100 ps, 30 for 300 ps → mean 25.
    expect(g.mean()).toBe(25);
    expect(g.max).toBe(30);
    stats.reset();
    sim.runUntil(500);
    expect(g.mean()).toBe(30);
  });

  it('keeps histogram percentiles within the configured relative error', () => {
    const stats = new Stats(new Simulator());
    const h = stats.histogram('latency', { significantDigits: 3 });
    for (let v = 1; v <= 100_000; v++) h.record(v * 1000);
    const check = (p: number, exact: number) => {
      const got = h.percentile(p);
      expect(Math.abs(got - exact) / exact).toBeLessThan(0.001);
    };
    check(50, 50_000_000);
    check(99, 99_000_000);
    check(99.9, 99_900_000);
    expect(h.count).toBe(100_000);
    expect(Math.abs(h.mean - 50_000_500) / 50_000_500).toBeLessThan(0.001);
    const s = stats.snapshot().histograms.latency!;
    expect(s.count).toBe(100_000);
    expect(s.p50).toBe(h.percentile(50));
  });

  it('clamps and counts values above the range', () => {
    const h = new Stats(new Simulator()).histogram('x', { highest: 1000 });
    h.record(5000);
    expect(h.clamped).toBe(1);
    expect(h.count).toBe(1);
  });
});

describe('Tracer', () => {
  it('is disabled with no sink and forwards every record to an attached sink', () => {
    const t = new Tracer();
    expect(t.enabled).toBe(false);
    t.begin('cpu0', 'guest', 0);
    const sink = new MemoryTraceSink();
    t.attach(sink);
    expect(t.enabled).toBe(true);
    t.begin('cpu0', 'guest', 10, { vcpu: 0 });
    t.instant('cpu0', 'exit', 20);
    t.end('cpu0', 30);
    t.counter('nic', 'ring', 40, 7);
    expect(sink.records.map((r) => r.kind)).toEqual(['begin', 'instant', 'end', 'counter']);
    expect(sink.records[0]!.args).toEqual({ vcpu: 0 });
    t.attach(null);
    t.instant('cpu0', 'x', 50);
    expect(sink.records.length).toBe(4);
  });
});

describe('ChromeTraceSink', () => {
  it('writes Chrome trace-event JSON with one thread per track, and counts what it drops', () => {
    const sink = new ChromeTraceSink(4);
    const t = new Tracer();
    t.attach(sink);
    t.begin('cpu0', 'guest', 1_000_000);
    t.instant('cpu0', 'external-interrupt', 2_500_000, { reason: 1 });
    t.end('cpu0', 3_000_000);
    t.counter('nic', 'ring', 4_000_000, 7);
    t.instant('cpu0', 'dropped', 5_000_000);
    const parsed = JSON.parse(sink.toJSON()) as {
      traceEvents: Array<Record<string, unknown>>;
      otherData: { dropped: number };
    };
    expect(parsed.otherData.dropped).toBe(1);
    const ev = parsed.traceEvents;
    expect(ev.filter((e) => e.ph === 'M').map((e) => (e.args as { name: string }).name)).toEqual([
      'cpu0',
      'nic',
    ]);
    expect(ev.filter((e) => e.ph !== 'M').map((e) => [e.ph, e.ts])).toEqual([
      ['B', 1],
      ['i', 2.5],
      ['E', 3],
      ['C', 4],
    ]);
    expect(() => new ChromeTraceSink(0)).toThrow(/positive/);
  });
});
