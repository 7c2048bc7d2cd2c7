/**
 * KVM's halt polling follows the profile's host kernel: none on the X5570's 2.6.3x host (it
 * came with Linux 4.0), Linux 5.4's parameters on the Skylake-SP's 5.x host.
 */
import { describe, expect, it } from 'vitest';
import { Machine, profileValue, runMachine, XEON_SKYLAKE_SP, XEON_X5570 } from '../src/index.js';

describe('the profile entries of halt polling', () => {
  it('xeon-x5570: halt_poll_ns 0 (KVM of 2.6.3x does not poll); the host is built without halt polling', () => {
    expect(profileValue(XEON_X5570, 'host.haltPollNs')).toBe(0);
    const m = new Machine({ mode: 'baseline', profile: XEON_X5570 });
    expect(m.hypervisor!.options.haltPoll).toBeUndefined();
  });

  it("xeon-skylake-sp: Linux 5.4's x86 defaults — halt_poll_ns 200000, _grow 2, _grow_start 10000, _shrink 0", () => {
    const v = (k: string) => profileValue(XEON_SKYLAKE_SP, `host.${k}`);
    expect([v('haltPollNs'), v('haltPollGrow'), v('haltPollGrowStartNs'), v('haltPollShrink')]).toEqual([
      200_000, 2, 10_000, 0,
    ]);
    const m = new Machine({ mode: 'baseline', profile: XEON_SKYLAKE_SP });
    expect(m.hypervisor!.options.haltPoll).toEqual({
      maxNs: 200_000,
      grow: 2,
      growStartNs: 10_000,
      shrink: 0,
      iterationCycles: v('haltPollIteration'),
    });
  });
});

describe('halt polling in a run (netperf UDP_RR, where the vCPU halts between transactions)', () => {
  const RUN = { durationMs: 10, warmupMs: 5 };

  it('xeon-skylake-sp: the halted vCPU is polled for, and runs again mostly without a switch to idle', () => {
    const m = new Machine({ mode: 'baseline', workload: 'netperf-udp-rr', profile: XEON_SKYLAKE_SP });
    const r = runMachine(m, RUN);
    const c = m.hypervisor!.pcpuCounters(0);
    const halts = m.stats.counterValue('cpu0.exits.hlt');
    expect(halts).toBeGreaterThan(100);
    expect(c.haltPollSuccesses.value).toBeGreaterThan(halts / 2);
    expect(c.contextSwitches.value).toBeLessThan(halts);
    expect(r.cpus[0]!.host.haltPollSuccessesPerSecond).toBeGreaterThan(0);
    expect(r.cpus[0]!.host.haltPollFailsPerSecond).toBeDefined();
  });

  it('xeon-x5570: no poll; every block switches to idle and back, and the report has no halt-poll figures', () => {
    const m = new Machine({ mode: 'baseline', workload: 'netperf-udp-rr', profile: XEON_X5570 });
    const r = runMachine(m, RUN);
    const c = m.hypervisor!.pcpuCounters(0);
    expect(m.stats.counterValue('cpu0.exits.hlt')).toBeGreaterThan(100);
    expect(c.haltPollSuccesses.value + c.haltPollFails.value).toBe(0);
    expect(Object.keys(r.cpus[0]!.host)).toEqual(['irqThreadRunsPerSecond', 'contextSwitchesPerSecond']);
  });
});
