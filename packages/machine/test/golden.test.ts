import { describe, expect, it } from 'vitest';
import {
  BUILTIN_MODES,
  Machine,
  modeRefusal,
  runMachine,
  WORKLOADS,
  XEON_SKYLAKE_SP,
  XEON_X5570,
} from '../src/index.js';

/**
 * Every built-in mode on every workload, a short run each, against the reports committed in
 * `golden/`: a refactor (a seam made typed, a file split) must leave every report byte for byte
 * as it was. A change that is meant to move a result updates them with `pnpm vitest run -u`
 * and says why in its commit. In CI a missing or different file fails the test.
 *
 * A mode the default profile refuses (`posted`: the X5570 has no APIC virtualization) runs on
 * xeon-skylake-sp instead, with its reports in `golden/xeon-skylake-sp/`.
 */
const RUN = { durationMs: 4, warmupMs: 2 };

describe('run reports against the golden ones', () => {
  for (const workload of WORKLOADS) {
    for (const mode of BUILTIN_MODES.filter((m) => modeRefusal(m, XEON_X5570) === null)) {
      it(`${workload} on ${mode}`, async () => {
        const report = runMachine(new Machine({ mode, workload, seed: 7 }), RUN);
        await expect(`${JSON.stringify(report, null, 2)}\n`).toMatchFileSnapshot(
          `golden/${workload}.${mode}.json`,
        );
      });
    }
  }
});

describe('run reports against the golden ones: modes the default profile refuses, on xeon-skylake-sp', () => {
  for (const workload of WORKLOADS) {
    for (const mode of BUILTIN_MODES.filter((m) => modeRefusal(m, XEON_X5570) !== null)) {
      it(`${workload} on ${mode}`, async () => {
        const report = runMachine(new Machine({ mode, workload, seed: 7, profile: XEON_SKYLAKE_SP }), RUN);
        await expect(`${JSON.stringify(report, null, 2)}\n`).toMatchFileSnapshot(
          `golden/xeon-skylake-sp/${workload}.${mode}.json`,
        );
      });
    }
  }
});

/**
 * The latency CDF in the reports (`LatencyReport.cdf`), against the histogram it is read from:
 * the documented percentiles in order, values that never fall, the entries at 50, 99 and 99.9
 * equal to p50, p99 and p999, and ends that are the histogram's smallest and largest value at
 * its precision (3 significant digits: a bucket spans under 0.1% of its values).
 */
describe('the latency CDF of a run report', () => {
  const PERCENTILES = [
    0, 1, 2, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 98, 99, 99.5, 99.9,
    100,
  ];
  const toUs = (ps: number) => Math.round(ps / 1e3) / 1e3;
  for (const workload of WORKLOADS) {
    for (const mode of ['baseline', 'eli']) {
      it(`${workload} on ${mode}`, () => {
        const machine = new Machine({ mode, workload, seed: 7 });
        const report = runMachine(machine, RUN);
        const hist = machine.metrics.latency;
        if (hist === null) {
          expect(report.latency).toBeNull();
          return;
        }
        const l = report.latency!;
        expect(hist.count).toBeGreaterThan(10);
        expect(l.cdf.map((p) => p.percentile)).toEqual(PERCENTILES);
        for (const [i, p] of l.cdf.entries()) {
          if (i > 0) expect(p.value).toBeGreaterThanOrEqual(l.cdf[i - 1]!.value);
        }
        const at = (percentile: number) => l.cdf.find((p) => p.percentile === percentile)!.value;
        expect(at(50)).toBe(l.p50);
        expect(at(99)).toBe(l.p99);
        expect(at(99.9)).toBe(l.p999);
        const [min, max] = [toUs(hist.min), toUs(hist.max)];
        expect(at(0)).toBeLessThanOrEqual(min);
        expect(min - at(0)).toBeLessThanOrEqual(min * 1e-3 + 0.001);
        expect(at(100)).toBeGreaterThanOrEqual(max);
        expect(at(100) - max).toBeLessThanOrEqual(max * 1e-3 + 0.001);
        expect(at(0)).toBeLessThan(at(100));
      });
    }
  }
});
