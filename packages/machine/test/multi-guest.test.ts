import { describe, expect, it } from 'vitest';
import { Machine, MachineConfigError, runMachine } from '../src/index.js';

describe('a custom machine: two guests on two cores, each with its own VF', () => {
  it('runs both guests, each on its own core and VF, and reports each', () => {
    const m = new Machine({ mode: 'eli-guest-hlt', guests: 2 });
    const r = runMachine(m, { durationMs: 4, warmupMs: 2 });
    expect(m.cpus).toHaveLength(2);
    expect(m.vfs.map((vf) => vf.requesterId)).toEqual([0x380, 0x382]);
    expect(r.cpus).toHaveLength(2);
    expect(r.guests).toHaveLength(2);
    for (const g of r.guests!) expect(g.throughput.value).toBeGreaterThan(1000);
    // The two guests share the 10 GbE port: together they cannot exceed it.
    expect(r.throughput.value).toBeLessThanOrEqual(9420);
    expect(r.throughput.value).toBeCloseTo(
      r.guests![0]!.throughput.value + r.guests![1]!.throughput.value,
      2,
    );
    // Each VF's interrupts went to its own guest's core (no exits for them in ELI with HLT in the guest, on either core).
    for (const cpu of r.cpus) expect(cpu.exitsPerSecond.total).toBeLessThan(5000);
    const vector1 = m.vms[1]!.assigned[0]!.hostVectors[0]!;
    expect(m.cpus[1]!.deliveredGuest[vector1]).toBeGreaterThan(0);
    expect(m.cpus[0]!.deliveredGuest[vector1]).toBe(0);
    expect(r.stopped).toBeNull();
  });

  it('refuses several guests on bare metal', () => {
    expect(() => new Machine({ mode: 'bare-metal', guests: 2 })).toThrow(MachineConfigError);
    expect(() => new Machine({ mode: 'baseline', guests: 9 })).toThrow(/guests must be/);
  });
});
