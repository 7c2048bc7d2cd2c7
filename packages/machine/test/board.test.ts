/**
 * The board API's slots beyond the default machine: several NICs, each on its own PCIe link
 * with its own wire and load generators, a guest's VF from any of them; and what `new Board`
 * refuses.
 */
import { Cpu, type CpuOptions } from '@exitless/cpu';
import { NIC_82599, SriovNic } from '@exitless/nic';
import { describe, expect, it } from 'vitest';
import {
  Board,
  type BoardSpec,
  builtinStrategies,
  type GuestSlot,
  HOST_MEMORY_MIB,
  Machine,
  MachineConfigError,
  type NicSlot,
  PeerSwitch,
  paperMachine,
  runMachine,
  validateMachineConfig,
  XEON_X5570,
} from '../src/index.js';

const nic82599: NicSlot<SriovNic>['factory'] = (o) =>
  new SriovNic(
    o.sim,
    o.dma,
    o.msi,
    o.timing,
    { ...NIC_82599, requesterId: o.requesterId, macAddress: o.macAddress },
    o.stats,
  );

const guest = (i: number, nic: number, vf: number): GuestSlot => ({
  core: i,
  nic,
  vf,
  memoryMiB: 256,
  apicMode: 'x2apic',
  interruptIntervalUs: null,
});

function twoNics(): BoardSpec<SriovNic> {
  return {
    profile: XEON_X5570,
    seed: 1,
    memoryMiB: HOST_MEMORY_MIB,
    cores: [{}, {}],
    nics: [
      { factory: nic82599, vfs: 1 },
      { factory: nic82599, vfs: 1 },
    ],
    host: { mode: 'eli-guest-hlt', strategy: builtinStrategies(XEON_X5570, ['eli-guest-hlt']) },
    guests: [guest(0, 0, 0), guest(1, 1, 0)],
    workload: 'netperf-tcp-stream',
  };
}

describe('a board with several NICs', () => {
  it('two guests, each with VF 0 of its own NIC: two PCI buses, two links, two wires — each guest streams at line rate on its own wire', () => {
    const board = new Board(twoNics());
    expect(board.nics).toHaveLength(2);
    expect(board.vfs.map((vf) => vf.requesterId)).toEqual([0x380, 0x480]);
    expect(board.nics[1]!.vfBarAddress(0, 0)).toBe(board.nics[0]!.vfBarAddress(0, 0) + 0x20_0000);
    const r = runMachine(board, { durationMs: 20, warmupMs: 10 });
    expect(r.stopped).toBeNull();
    for (const g of r.guests!) expect(g.throughput.value).toBeGreaterThan(8000);
    // Two 10 GbE wires: together more than one could carry.
    expect(r.throughput.value).toBeGreaterThan(16_000);
    expect(board.stats.counterValue('wire1.b-to-a.tx.frames')).toBeGreaterThan(0);
    // Each VF's interrupts went to its own guest's core.
    const v1 = board.vms[1]!.assigned[0]!.hostVectors[0]!;
    expect(board.cpus[1]!.deliveredGuest[v1]).toBeGreaterThan(0);
    expect(board.cpus[0]!.deliveredGuest[v1]).toBe(0);
  });

  it('refuses a board with both nic and nics, or neither; a guest naming a NIC or VF that does not exist, or one already taken', () => {
    const spec = twoNics();
    expect(() => new Board({ ...spec, nic: { factory: nic82599, vfs: 1 } })).toThrow(/nic, or nics/);
    const { nics: _n, ...none } = spec;
    expect(() => new Board(none as BoardSpec<SriovNic>)).toThrow(MachineConfigError);
    expect(() => new Board({ ...spec, guests: [guest(0, 0, 0), guest(1, 2, 0)] })).toThrow(
      /guests\[1\]\.nic must be one of the board's NICs, 0 to 1, got 2/,
    );
    expect(() => new Board({ ...spec, guests: [guest(0, 0, 0), guest(1, 1, 1)] })).toThrow(
      /guests\[1\]\.vf must be one of NIC 1's VFs, 0 to 0, got 1/,
    );
    expect(() => new Board({ ...spec, guests: [guest(0, 0, 0), guest(1, 0, 0)] })).toThrow(
      /guests\[1\]\.vf 0 of NIC 0 is already assigned/,
    );
  });
});

/** A CPU of the test's own: `@exitless/cpu`'s, counting the entries it is started at. */
class StartCountingCpu extends Cpu {
  starts = 0;
  override start(entryAddress: number): void {
    this.starts++;
    super.start(entryAddress);
  }
}

describe('the core slot’s CPU and the NIC slot’s wire', () => {
  it('a CPU of a user’s own (a Cpu subclass) in every core: the same machine, report for report, as the default one', () => {
    const config = { mode: 'eli' } as const;
    const spec = paperMachine(validateMachineConfig(config), config);
    const cpus: StartCountingCpu[] = [];
    const board = new Board({
      ...spec,
      cores: spec.cores.map((c) => ({
        ...c,
        cpu: (o: CpuOptions) => {
          const cpu = new StartCountingCpu(o);
          cpus.push(cpu);
          return cpu;
        },
      })),
    });
    const run = { durationMs: 4, warmupMs: 2 };
    const mine = runMachine(board, run);
    expect(cpus.map((c) => c.starts)).toEqual([1]);
    expect(board.cpu).toBe(cpus[0]);
    expect(JSON.stringify(mine)).toBe(JSON.stringify(runMachine(new Machine(config), run)));
  });

  it('a NIC’s wire at 1 Gb/s: the stream is held to the slower wire', () => {
    const config = { mode: 'baseline' } as const;
    const spec = paperMachine(validateMachineConfig(config), config);
    const board = new Board({ ...spec, nic: { ...spec.nic!, wire: { bitsPerSecond: 1e9 } } });
    const r = runMachine(board, { durationMs: 20, warmupMs: 10 });
    expect(r.throughput.value).toBeGreaterThan(800);
    expect(r.throughput.value).toBeLessThan(1000);
  });

  it('refuses a CPU factory that builds no Cpu, and a wire out of range, naming the slot', () => {
    const config = { mode: 'baseline' } as const;
    const spec = paperMachine(validateMachineConfig(config), config);
    expect(() => new Board({ ...spec, cores: [{ cpu: () => ({ start() {} }) as unknown as Cpu }] })).toThrow(
      /cores\[0\]\.cpu must build a Cpu/,
    );
    expect(() => new Board({ ...spec, nic: { ...spec.nic!, wire: { bitsPerSecond: 0 } } })).toThrow(
      /nic\.wire\.bitsPerSecond must be from 1e6/,
    );
  });
});

describe('the NIC slot’s PCIe link and peers', () => {
  it('a user’s network of peers at the far end of the wire (here PeerSwitch behind a counting wrapper): the same machine as the default, report for report', () => {
    const config = { mode: 'baseline', workload: 'netperf-udp-rr' } as const;
    const spec = paperMachine(validateMachineConfig(config), config);
    const ports: number[] = [];
    const board = new Board({
      ...spec,
      nic: {
        ...spec.nic!,
        peers: ({ wire, stats }) => {
          const inner = new PeerSwitch(wire, stats);
          return {
            port: (mac) => {
              ports.push(mac);
              return inner.port(mac);
            },
          };
        },
      },
    });
    const run = { durationMs: 4, warmupMs: 2 };
    const mine = runMachine(board, run);
    expect(ports).toHaveLength(1);
    expect(JSON.stringify(mine)).toBe(JSON.stringify(runMachine(new Machine(config), run)));
  });

  it('a slower PCIe link (MSIs 2 µs up the link instead of the profile’s): every bare-metal UDP_RR round trip is longer', () => {
    const config = { mode: 'bare-metal', workload: 'netperf-udp-rr' } as const;
    const spec = paperMachine(validateMachineConfig(config), config);
    const run = { durationMs: 10, warmupMs: 5 };
    const base = runMachine(new Board(spec), run);
    const slow = runMachine(new Board({ ...spec, nic: { ...spec.nic!, link: { msiNs: 2000 } } }), run);
    expect(slow.latency!.p50).toBeGreaterThan(base.latency!.p50 + 1);
    expect(slow.throughput.value).toBeLessThan(base.throughput.value);
    expect(() => new Board({ ...spec, nic: { ...spec.nic!, link: { msiNs: -1 } } })).toThrow(
      /nic\.link\.msiNs must be from 0 to 1e6 ns, got -1/,
    );
  });
});
