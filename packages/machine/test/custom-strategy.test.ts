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
            haltExiting: true,
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
    const report = runMachine(machine, { durationMs: 10, warmupMs: 4 });
    expect(report.mode).toBe('eli-1ms');
    expect(report.guests).toHaveLength(2);
    // Directly delivered interrupts cause no exit. What exits: the host's own interrupts (its
    // 1000 Hz tick as #NP), the 1 ms preemption timer, the guest's injected 250 Hz tick with its
    // EOI, and — HLT exiting being on, as in the authors' code — each halt, with the device
    // interrupt that wakes the guest taken by the host and injected (its EOI trapped).
    const c = machine.stats.snapshot().counters;
    expect(machine.stats.counterValue('eli-1ms.host-interrupts-via-np')).toBeGreaterThan(0);
    const nonDirect = c['kvm.assigned-interrupts'] ?? 0;
    const halts = (c['cpu0.exits.hlt'] ?? 0) + (c['cpu1.exits.hlt'] ?? 0);
    expect(halts).toBeGreaterThan(0);
    expect(nonDirect).toBeLessThanOrEqual(halts + c['eli-1ms.to-injection-mode']!);
    // The rest went straight to each guest's handler through its shadow IDT, on its own core.
    for (const [i, cpu] of machine.cpus.entries()) {
      const direct = machine.vms[i]!.assigned[0]!.hostVectors.reduce((a, v) => a + cpu.deliveredGuest[v]!, 0);
      expect(direct).toBeGreaterThan(0);
    }
  });
});
