import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Machine, type MachineConfig, RunOptionsError, runMachine } from '../src/index.js';

const PS_PER_MS = 1e9;

/** The same machine, run once in one step and once reporting progress in steps of `everyMs`. */
function withAndWithout(
  config: MachineConfig,
  run: { durationMs: number; warmupMs: number },
  everyMs?: number,
): { plain: string; stepped: string; calls: [number, number][] } {
  const plain = JSON.stringify(runMachine(new Machine(config), run));
  const calls: [number, number][] = [];
  const stepped = JSON.stringify(
    runMachine(new Machine(config), {
      ...run,
      onProgress: (simulatedPs, endPs) => calls.push([simulatedPs, endPs]),
      ...(everyMs !== undefined ? { progressEveryMs: everyMs } : {}),
    }),
  );
  return { plain, stepped, calls };
}

describe('runMachine with onProgress', () => {
  const RUN = { durationMs: 3, warmupMs: 1.5 };

  // A single CPU, several CPUs with per-CPU VFs, halts in guest mode, a host that polls, bare metal.
  const machines: [string, MachineConfig][] = [
    ['baseline, UDP_RR', { mode: 'baseline', workload: 'netperf-udp-rr', seed: 3 }],
    ['eli, two guests, TCP_STREAM', { mode: 'eli', workload: 'netperf-tcp-stream', guests: 2, seed: 3 }],
    ['eli-guest-hlt, memcached', { mode: 'eli-guest-hlt', workload: 'memcached', seed: 3 }],
    ['did, apache', { mode: 'did', workload: 'apache', seed: 3 }],
    ['bare metal, UDP_RR', { mode: 'bare-metal', workload: 'netperf-udp-rr', seed: 3 }],
  ];
  for (const [name, config] of machines) {
    it(`gives the same report, byte for byte, as a run without it: ${name}`, () => {
      const { plain, stepped, calls } = withAndWithout(config, RUN, 0.37);
      expect(stepped).toBe(plain);
      // 1.5 ms of warm-up in steps of 0.37 ms: 5 calls; 3 ms measured: 9 calls.
      expect(calls).toHaveLength(5 + 9);
    });
  }

  it('reports simulated time rising to the end, warm-up included, with the run’s end each time', () => {
    const { calls } = withAndWithout({ mode: 'baseline' }, { durationMs: 2, warmupMs: 1 });
    const end = 3 * PS_PER_MS;
    // Every 1 ms by default: the end of the warm-up, then each measured ms.
    expect(calls).toEqual([
      [1 * PS_PER_MS, end],
      [2 * PS_PER_MS, end],
      [3 * PS_PER_MS, end],
    ]);
  });

  it('fires the events due at time 0 before the reset when there is no warm-up, as without it', () => {
    const { plain, stepped, calls } = withAndWithout(
      { mode: 'eli', workload: 'netperf-udp-rr' },
      { durationMs: 1, warmupMs: 0 },
      0.25,
    );
    expect(stepped).toBe(plain);
    expect(calls.map(([t]) => t / PS_PER_MS)).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  it('gives the same report for any step (property: steps of 1 µs to the whole run)', () => {
    const config: MachineConfig = { mode: 'baseline', workload: 'netperf-udp-rr', seed: 11 };
    const run = { durationMs: 1, warmupMs: 0.5 };
    const plain = JSON.stringify(runMachine(new Machine(config), run));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2000 }), (us) => {
        const stepped = runMachine(new Machine(config), {
          ...run,
          onProgress: () => {},
          progressEveryMs: us / 1000,
        });
        expect(JSON.stringify(stepped)).toBe(plain);
      }),
      { numRuns: 8, seed: 16 },
    );
  });

  it('refuses a step it cannot use, naming the option', () => {
    for (const progressEveryMs of [0, -1, Number.NaN, 0.0001]) {
      expect(() =>
        runMachine(new Machine({ mode: 'baseline' }), {
          durationMs: 1,
          warmupMs: 0,
          onProgress: () => {},
          progressEveryMs,
        }),
      ).toThrow(RunOptionsError);
    }
    expect(() =>
      runMachine(new Machine({ mode: 'baseline' }), { durationMs: 1, warmupMs: 0, progressEveryMs: 0 }),
    ).toThrow(/progressEveryMs must be a number from 0.001 to \d+ ms, got 0/);
  });
});
