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
