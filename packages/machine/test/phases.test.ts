import { GUEST_VECTOR } from '@exitless/guest';
import { MemoryTraceSink, ms, Tracer, us } from '@exitless/sim';
import { describe, expect, it } from 'vitest';
import { Machine, type MachineConfig, runMachine, StartPhases } from '../src/index.js';

const HOST_TICK_PS = ms(1); // host.hz 1000
const GUEST_TICK_PS = ms(4); // guest.hz 250

/** Times (ps) at which cpu0 took `vector` outside the guest (the host's, or the bare-metal OS's). */
function rootDeliveries(config: MachineConfig, vector: number, untilPs: number): number[] {
  const sink = new MemoryTraceSink();
  const tracer = new Tracer();
  tracer.attach(sink);
  const m = new Machine({ ...config, tracer });
  m.start();
  m.sim.runUntil(untilPs);
  return sink.records
    .filter((r) => r.kind === 'instant' && r.track === 'cpu0' && r.name === 'deliver')
    .filter((r) => r.args?.vector === vector && r.args.guest === false)
    .map((r) => r.time);
}

describe('start phases of the periodic sources', () => {
  it('draw each source from its own named stream: uniform over the period, the same for a seed, independent of other sources', () => {
    const a = new StartPhases(7, 'seeded');
    const first = a.draw('host-tick.cpu0', HOST_TICK_PS);
    a.draw('guest-tick.guest0', GUEST_TICK_PS);
    const b = new StartPhases(7, 'seeded');
    // Drawn alone, after another source, or in another order: the same phase.
    b.draw('load-generator.peer0', us(500));
    expect(b.draw('host-tick.cpu0', HOST_TICK_PS)).toBe(first);
    expect(a.names()).toEqual(['phase.guest-tick.guest0', 'phase.host-tick.cpu0']);
    expect(() => a.draw('host-tick.cpu0', HOST_TICK_PS)).toThrow(/already exists/);
    expect(new StartPhases(7, 'aligned').draw('host-tick.cpu0', HOST_TICK_PS)).toBe(0);
    // Over many seeds: integers in [0, period), spread over every tenth of it, mean near half.
    const draws = Array.from({ length: 2000 }, (_, seed) =>
      new StartPhases(seed, 'seeded').draw('guest-tick.guest0', GUEST_TICK_PS),
    );
    expect(draws.every((d) => Number.isInteger(d) && d >= 0 && d < GUEST_TICK_PS)).toBe(true);
    const deciles = new Set(draws.map((d) => Math.floor((d / GUEST_TICK_PS) * 10)));
    expect(deciles.size).toBe(10);
    const mean = draws.reduce((s, d) => s + d, 0) / draws.length / GUEST_TICK_PS;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.03);
  });

  it("put the host's tick at its drawn phase: every 1 ms from phase.host-tick.cpu0, not from 0", () => {
    const seed = 3;
    const phase = new StartPhases(seed, 'seeded').draw('host-tick.cpu0', HOST_TICK_PS);
    // A phase away from the aligned grid, so that the two machines below cannot agree by chance.
    expect(phase).toBeGreaterThan(us(50));
    expect(phase).toBeLessThan(HOST_TICK_PS - us(50));
    /** The host's ticks on cpu0 counted just before and just after each time in `at`. */
    const ticksAround = (config: MachineConfig, at: readonly number[]) => {
      const m = new Machine(config);
      m.start();
      return at.map((t) => {
        m.sim.runUntil(t - us(1));
        const before = m.stats.counterValue('kvm.pcpu0.ticks');
        m.sim.runUntil(t + us(10));
        return m.stats.counterValue('kvm.pcpu0.ticks') - before;
      });
    };
    const grid = (offset: number) => [1, 2, 3].map((k) => offset + k * HOST_TICK_PS);
    // One tick at each time of the drawn grid, none at the aligned one; aligned, the reverse.
    expect(ticksAround({ mode: 'baseline', seed }, grid(phase))).toEqual([1, 1, 1]);
    expect(ticksAround({ mode: 'baseline', seed }, grid(0))).toEqual([0, 0, 0]);
    expect(ticksAround({ mode: 'baseline', seed, phases: 'aligned' }, grid(0))).toEqual([1, 1, 1]);
  });

  it("put the guest's first tick at its drawn phase (one-shot), then tick every 4 ms", () => {
    const seed = 5;
    const phase = new StartPhases(seed, 'seeded').draw('guest-tick.guest0', GUEST_TICK_PS);
    const until = phase + 2 * GUEST_TICK_PS + us(100);
    const ticks = rootDeliveries({ mode: 'bare-metal', seed }, GUEST_VECTOR.LOCAL_TIMER, until);
    expect(ticks).toHaveLength(3);
    // The kernel programs its timer some microseconds into its boot; the first tick follows by the phase.
    expect(ticks[0]! - phase).toBeGreaterThanOrEqual(0);
    expect(ticks[0]! - phase).toBeLessThan(us(30));
    // The handler of that first tick makes the timer periodic: one period per tick from there
    // (plus the handler's few hundred nanoseconds before it writes the count, once).
    expect(ticks[1]! - ticks[0]!).toBeGreaterThanOrEqual(GUEST_TICK_PS);
    expect(ticks[1]! - ticks[0]!).toBeLessThan(GUEST_TICK_PS + us(5));
    expect(Math.abs(ticks[2]! - ticks[1]! - GUEST_TICK_PS)).toBeLessThan(us(1));
    // Aligned: periodic from the start, the first tick one whole period after programming.
    const aligned = rootDeliveries(
      { mode: 'bare-metal', seed, phases: 'aligned' },
      GUEST_VECTOR.LOCAL_TIMER,
      GUEST_TICK_PS + us(100),
    );
    expect(aligned).toHaveLength(1);
    expect(aligned[0]! - GUEST_TICK_PS).toBeLessThan(us(30));
  });

  it('start each load generator 500 µs in, plus its phase drawn over 500 µs', () => {
    const seed = 11;
    const phase = new StartPhases(seed, 'seeded').draw('load-generator.peer0', us(500));
    expect(new Machine({ mode: 'bare-metal', seed }).instances[0]!.loadStartPs).toBe(us(500) + phase);
    const two = new Machine({ mode: 'baseline', seed, guests: 2 });
    expect(two.instances[1]!.loadStartPs).toBe(
      us(500) + new StartPhases(seed, 'seeded').draw('load-generator.peer1', us(500)),
    );
    expect(new Machine({ mode: 'bare-metal', seed, phases: 'aligned' }).instances[0]!.loadStartPs).toBe(
      us(500),
    );
  });

  it('rejects a phase mode the machine does not have, saying which it has', () => {
    expect(() => new Machine({ mode: 'bare-metal', phases: 'random' as never })).toThrow(
      /unknown phases 'random': use one of seeded, aligned/,
    );
  });
});

describe('seeds that matter', () => {
  const RUN = { durationMs: 3, warmupMs: 1 };
  /** A run's report as bytes, without the seed it names. */
  const bytes = (config: MachineConfig) => {
    const { seed: _seed, ...report } = runMachine(new Machine(config), RUN);
    return JSON.stringify(report);
  };

  for (const workload of ['netperf-tcp-stream', 'netperf-udp-rr']) {
    for (const mode of ['bare-metal', 'baseline']) {
      it(`${workload} on ${mode}: another seed gives another run, the same seed the same bytes; aligned phases make the seed irrelevant again`, () => {
        const one = bytes({ mode, workload, seed: 1 });
        expect(bytes({ mode, workload, seed: 1 })).toBe(one);
        expect(bytes({ mode, workload, seed: 2 })).not.toBe(one);
        // The control: with every phase at 0 (the machine before phases were drawn), nothing
        // else in these workloads depends on the seed.
        expect(bytes({ mode, workload, seed: 2, phases: 'aligned' })).toBe(
          bytes({ mode, workload, seed: 1, phases: 'aligned' }),
        );
      });
    }
  }
});
