import { eliStrategy } from '@exitless/eli';
import { Machine, profileValue, type RunReport, runMachine } from '@exitless/machine';

// ELI with a 1 ms VMX-preemption timer instead of 5, on two guests, each on its own core
// with its own VF. Its counters appear as eli-1ms.*.
export const machine: Machine = new Machine({
  mode: 'eli-1ms',
  guests: 2,
  strategies: {
    'eli-1ms': ({ profile, stats }) =>
      eliStrategy({
        value: (key) => profileValue(profile, key),
        stats,
        exitlessEoi: true,
        haltExiting: true, // the default, as in the authors' code
        preemptionTimerMs: 1,
      }),
  },
});
export const report: RunReport = runMachine(machine, { durationMs: 10, warmupMs: 4 });
