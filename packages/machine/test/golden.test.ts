import { describe, expect, it } from 'vitest';
import { BUILTIN_MODES, Machine, runMachine, WORKLOADS } from '../src/index.js';

/**
 * Every built-in mode on every workload, a short run each, against the reports committed in
 * `golden/`: a refactor (a seam made typed, a file split) must leave every report byte for byte
 * as it was. A change that is meant to move a result updates them with `pnpm vitest run -u`
 * and says why in its commit. In CI a missing or different file fails the test.
 */
const RUN = { durationMs: 4, warmupMs: 2 };

describe('run reports against the golden ones', () => {
  for (const workload of WORKLOADS) {
    for (const mode of BUILTIN_MODES) {
      it(`${workload} on ${mode}`, async () => {
        const report = runMachine(new Machine({ mode, workload, seed: 7 }), RUN);
        await expect(`${JSON.stringify(report, null, 2)}\n`).toMatchFileSnapshot(
          `golden/${workload}.${mode}.json`,
        );
      });
    }
  }
});
