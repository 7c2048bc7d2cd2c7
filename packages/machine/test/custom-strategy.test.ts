import { EliStrategy } from '@exitless/eli';
import { describe, expect, it } from 'vitest';
import { Machine, profileValue, runMachine } from '../src/index.js';

describe('a strategy plugged in by the user (the ELI README example)', () => {
  it('runs ELI with a 1 ms preemption timer on two guests, its counters under the mode name', () => {
    const machine = new Machine({
      mode: 'eli-1ms',
      guests: 2,
      strategies: {
        'eli-1ms': ({ profile, stats }) => {
          const v = (key: string) => profileValue(profile, key);
          return new EliStrategy({
            exitlessEoi: true,
            preemptionTimerPs: 1_000_000_000,
            tscHz: v('cpu.hz'),
            preemptionRate: v('cpu.vmxPreemptionRate'),
            costs: {
              injection: v('host.injection'),
              modeSwitch: v('eli.modeSwitch'),
              shadowRebuild: v('eli.shadowRebuild'),
              hostInterruptExit: v('eli.hostInterruptExit'),
              descriptorTableEmulation: v('eli.descriptorTableEmulation'),
              preemptionTimerExit: v('host.otherExit'),
              eoiExit: v('host.msrEmulation') + v('host.eoiEmulation'),
              apicReadEmulation: v('host.msrEmulation'),
            },
            stats,
          });
        },
      },
    });
    const report = runMachine(machine, { durationMs: 4, warmupMs: 2 });
    expect(report.mode).toBe('eli-1ms');
    expect(report.guests).toHaveLength(2);
    // What exits is the host's own: on each core its 1000 Hz tick (#NP), the 1 ms preemption
    // timer and the guest's injected 250 Hz tick with its EOI — about 3 K/s — against the some
    // 25 K/s interrupts of a stream under the guest driver's dynamic throttling.
    expect(report.exitsPerSecond.total / report.cpus.length).toBeLessThan(4000);
    expect(report.exitsPerAssignedInterrupt).toBeLessThan(0.25);
    expect(machine.stats.counterValue('eli-1ms.host-interrupts-via-np')).toBeGreaterThan(0);
  });
});
