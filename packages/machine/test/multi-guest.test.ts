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

describe('guests on different designs side by side (guestModes): one host, one NIC', () => {
  it('eli-guest-hlt and baseline: each guest gets its own design — the ELI guest’s core takes its VF’s interrupts with no exit, the baseline guest’s core exits for every one — and the report names each guest’s mode', () => {
    const m = new Machine({ mode: 'baseline', guests: 2, guestModes: ['eli-guest-hlt', 'baseline'] });
    const r = runMachine(m, { durationMs: 4, warmupMs: 2 });
    expect(r.stopped).toBeNull();
    expect(r.guests!.map((g) => g.mode)).toEqual(['eli-guest-hlt', 'baseline']);
    const hv = m.hypervisor!;
    expect(hv.strategyOf(hv.vcpus[0]!).name).toBe('eli-guest-hlt');
    expect(hv.strategyOf(hv.vcpus[1]!).name).toBe('baseline');
    for (const g of r.guests!) expect(g.throughput.value).toBeGreaterThan(1000);
    // Core 0 (ELI): no external-interrupt exit; core 1 (baseline): one per VF interrupt, and EOI exits.
    expect(r.cpus[0]!.exitsPerSecond.byReason['external-interrupt'] ?? 0).toBeLessThan(200);
    expect(r.cpus[1]!.exitsPerSecond.byReason['external-interrupt']).toBeGreaterThan(5000);
    expect(r.cpus[1]!.exitsPerSecond.byReason.wrmsr).toBeGreaterThan(5000);
    // ELI's shadow IDT holds guest 0's host vector; guest 1's host vector reaches its core's host.
    const v0 = m.vms[0]!.assigned[0]!.hostVectors[0]!;
    const v1 = m.vms[1]!.assigned[0]!.hostVectors[0]!;
    expect(m.cpus[0]!.deliveredGuest[v0]).toBeGreaterThan(0);
    expect(m.cpus[1]!.deliveredRoot[v1]).toBeGreaterThan(0);
    // The host's tick on the ELI guest's core arrives through its shadow IDT's #NP exits.
    expect(m.stats.counterValue('eli.host-interrupts-via-np')).toBeGreaterThan(0);
    expect(r.cpus[0]!.exitsPerSecond.byReason['exception-or-nmi']).toBeGreaterThan(0);
  });

  it('did beside posted on xeon-skylake-sp: did’s guest takes its VF’s interrupt with its own vector, posted’s through its descriptor; neither design’s host vectors reach the other’s core', async () => {
    const { XEON_SKYLAKE_SP } = await import('../src/index.js');
    const m = new Machine({
      mode: 'posted',
      guests: 2,
      guestModes: ['did', 'posted'],
      profile: XEON_SKYLAKE_SP,
    });
    const r = runMachine(m, { durationMs: 4, warmupMs: 2 });
    expect(r.stopped).toBeNull();
    for (const g of r.guests!) expect(g.throughput.value).toBeGreaterThan(1000);
    expect(m.vms[0]!.assigned[0]!.hostVectors[0]).toBe(m.vms[0]!.assigned[0]!.guestVectors[0]);
    expect(m.vms[1]!.assigned[0]!.posted[0]).toBe(1);
    expect(Object.keys(r.cpus[0]!.exitsPerSecond.byReason)).toEqual(['preemption-timer']);
    expect(m.stats.counterValue('iommu.ir.posted')).toBeGreaterThan(0);
  });

  it('refuses guestModes of the wrong length, with bare metal, or naming a mode the profile cannot run', () => {
    expect(() => new Machine({ mode: 'baseline', guests: 2, guestModes: ['eli'] })).toThrow(
      /guestModes must be an array of 2 mode/,
    );
    expect(() => new Machine({ mode: 'bare-metal', guestModes: ['baseline'] })).toThrow(/virtualized mode/);
    expect(
      () => new Machine({ mode: 'baseline', guests: 2, guestModes: ['baseline', 'bare-metal'] }),
    ).toThrow(/guestModes\[1\] must be one of/);
    expect(() => new Machine({ mode: 'baseline', guests: 2, guestModes: ['baseline', 'posted'] })).toThrow(
      /cpu.apicVirtualization/,
    );
  });
});

describe('guests on different workloads side by side (guestWorkloads)', () => {
  it('UDP_RR beside Memcached: each guest runs its own server with its own load generator; the report names each workload, and its top-level throughput is guest 0’s workload’s', () => {
    const m = new Machine({
      mode: 'eli-guest-hlt',
      guests: 2,
      guestWorkloads: ['netperf-udp-rr', 'memcached'],
    });
    const r = runMachine(m, { durationMs: 4, warmupMs: 2 });
    expect(r.stopped).toBeNull();
    expect(r.workload).toBe('netperf-udp-rr');
    expect(r.guests!.map((g) => g.workload)).toEqual(['netperf-udp-rr', 'memcached']);
    expect(r.guests!.map((g) => g.throughput.unit)).toEqual(['transactions/s', 'operations/s']);
    for (const g of r.guests!) expect(g.throughput.value).toBeGreaterThan(1000);
    expect(r.throughput.value).toBeCloseTo(r.guests![0]!.throughput.value, 3);
    expect(r.throughput.unit).toBe('transactions/s');
  });

  it('refuses guestWorkloads of the wrong length or naming an unknown workload, naming the field', () => {
    expect(() => new Machine({ mode: 'baseline', guests: 2, guestWorkloads: ['apache'] })).toThrow(
      /guestWorkloads must be an array of 2 workload/,
    );
    expect(() => new Machine({ mode: 'baseline', guests: 2, guestWorkloads: ['apache', 'ftp'] })).toThrow(
      /guestWorkloads\[1\] must be one of/,
    );
  });
});
