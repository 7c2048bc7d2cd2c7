/**
 * The board API's slots beyond the default machine: several NICs, each on its own PCIe link
 * with its own wire and load generators, a guest's VF from any of them; and what `new Board`
 * refuses.
 */
import { fileURLToPath } from 'node:url';
import { Cpu, type CpuCounters, type CpuOptions, type MeasuredCpu } from '@exitless/cpu';
import { InterruptBus } from '@exitless/lapic';
import { type SriovNic, sriovNic82599 } from '@exitless/nic';
import type { ApicBus, InterruptMessage, LocalApic } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  type AddressMap,
  Board,
  type BoardSpec,
  builtinStrategies,
  DEFAULT_ADDRESS_MAP,
  type GuestSlot,
  HOST_MEMORY_MIB,
  loadMachineFile,
  Machine,
  type MachineConfig,
  MachineConfigError,
  type NicSlot,
  PeerSwitch,
  paperMachine,
  runMachine,
  validateMachineConfig,
  XEON_X5570,
} from '../src/index.js';

const nic82599: NicSlot<SriovNic>['factory'] = sriovNic82599;

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
    // The board's cores are @exitless/cpu's (no core slot names another CPU).
    const cpus = board.cpus as readonly Cpu[];
    expect(cpus[1]!.deliveredGuest[v1]).toBeGreaterThan(0);
    expect(cpus[0]!.deliveredGuest[v1]).toBe(0);
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

/**
 * A CPU of the test's own, not a subclass of `@exitless/cpu`'s: it counts the entries it is
 * started at and has `@exitless/cpu`'s execute (the board and the report reach only this
 * object, through `MeasuredCpu`).
 */
class StartCountingCpu implements MeasuredCpu {
  starts = 0;
  private readonly inner: Cpu;
  constructor(options: CpuOptions) {
    this.inner = new Cpu(options);
  }
  get id(): number {
    return this.inner.id;
  }
  get hz(): number {
    return this.inner.hz;
  }
  get counters(): CpuCounters {
    return this.inner.counters;
  }
  start(entryAddress: number): void {
    this.starts++;
    this.inner.start(entryAddress);
  }
  flushAccounting(): void {
    this.inner.flushAccounting();
  }
}

/** A user's interrupt bus: `@exitless/lapic`'s behind a wrapper that counts what crosses it. */
class CountingBus implements ApicBus {
  registered = 0;
  messages = 0;
  ipis = 0;
  constructor(private readonly inner: InterruptBus) {}
  register(apic: LocalApic): void {
    this.registered++;
    this.inner.register(apic);
  }
  deliverInterrupt(message: InterruptMessage): void {
    this.messages++;
    this.inner.deliverInterrupt(message);
  }
  sendIpi(source: LocalApic, message: InterruptMessage, shorthand: number): void {
    this.ipis++;
    this.inner.sendIpi(source, message, shorthand);
  }
  broadcastEoi(vector: number): void {
    this.inner.broadcastEoi(vector);
  }
}

describe('the core slot’s CPU and the NIC slot’s wire', () => {
  it('a CPU of a user’s own (a MeasuredCpu wrapping @exitless/cpu’s, not a subclass) in every core: the same machine, report for report, as the default one', () => {
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

  it('refuses a CPU factory that builds no MeasuredCpu, or one with another id, and a wire out of range, naming the slot', () => {
    const config = { mode: 'baseline' } as const;
    const spec = paperMachine(validateMachineConfig(config), config);
    expect(() => new Board({ ...spec, cores: [{ cpu: () => ({ start() {} }) as unknown as Cpu }] })).toThrow(
      /cores\[0\]\.cpu must build a MeasuredCpu \(@exitless\/cpu's interface: the run report reads its counters\), got an object without flushAccounting\(\), id \(a number\), hz \(a number\), counters \(an object\)/,
    );
    expect(() => new Board({ ...spec, cores: [{ cpu: (o) => new Cpu({ ...o, id: 3 }) }] })).toThrow(
      /cores\[0\]\.cpu must have id 0, got 3/,
    );
    expect(() => new Board({ ...spec, nic: { ...spec.nic!, wire: { bitsPerSecond: 0 } } })).toThrow(
      /nic\.wire\.bitsPerSecond must be a number from 1000000 to 1000000000000 b\/s \(1 Mb\/s to 1 Tb\/s\), got 0/,
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
      /nic\.link\.msiNs must be a number from 0 to 1000000 ns, got -1/,
    );
  });
});

describe('the interrupt bus and the address map', () => {
  it('a user’s interrupt bus (InterruptBus behind a counting wrapper): every LAPIC registers on it, the IOMMU’s messages and the IPIs cross it, and the report is the default machine’s', () => {
    const config = { mode: 'baseline', guests: 2 } as const;
    const spec = paperMachine(validateMachineConfig(config), config);
    let bus: CountingBus | null = null;
    const board = new Board({
      ...spec,
      interruptBus: (o) => {
        bus = new CountingBus(new InterruptBus(o));
        return bus;
      },
    });
    const run = { durationMs: 4, warmupMs: 2 };
    const mine = runMachine(board, run);
    const b = bus as CountingBus | null;
    expect(board.interruptBus).toBe(b);
    expect(b!.registered).toBe(2);
    // Every MSI the VFs sent reached the bus as a remapped message (VT-d on: none is blocked).
    expect(b!.messages).toBeGreaterThan(0);
    // (The wrapper counts from time 0, the VFs' counters from the end of warm-up.)
    expect(b!.messages).toBeGreaterThanOrEqual(board.vfInterruptsSent(0) + board.vfInterruptsSent(1));
    expect(JSON.stringify(mine)).toBe(JSON.stringify(runMachine(new Machine(config), run)));
    const empty = { register() {} } as unknown as ApicBus;
    expect(() => new Board({ ...spec, interruptBus: () => empty })).toThrow(
      /interruptBus must build an ApicBus \(x86's interface\), got an object without deliverInterrupt\(\), sendIpi\(\), broadcastEoi\(\)/,
    );
  });

  it('the IOMMU’s registers and the VF BARs placed elsewhere, host- and guest-physical: the NIC decodes its BARs there, the guest finds its VF there, and the run is the same', () => {
    const config = { mode: 'eli' } as const;
    const spec = paperMachine(validateMachineConfig(config), config);
    const addresses = {
      iommuRegisters: 0xfed0_0000,
      vfBar0: 0xe000_0000,
      vfBar3: 0xe080_0000,
      guestBar0: 0xc000_0000,
      guestBar3: 0xc010_0000,
    };
    const board = new Board({ ...spec, addresses });
    expect(board.addresses).toEqual({ ...DEFAULT_ADDRESS_MAP, ...addresses });
    expect(board.nic.vfBarAddress(0, 0)).toBe(0xe000_0000);
    expect(board.nic.vfBarAddress(0, 3)).toBe(0xe080_0000);
    expect(board.vm!.assigned[0]!.config.guestBar0).toBe(0xc000_0000);
    expect(board.vm!.assigned[0]!.config.guestBar3).toBe(0xc010_0000);
    const run = { durationMs: 4, warmupMs: 2 };
    expect(JSON.stringify(runMachine(board, run))).toBe(JSON.stringify(runMachine(new Machine(config), run)));
  });

  it('refuses an address map whose windows overlap, sit on RAM or on the interrupt range, are not page-aligned, or leave a guest’s RAM under its BARs', () => {
    const config = { mode: 'baseline' } as const;
    const spec = paperMachine(validateMachineConfig(config), config);
    const refuse = (addresses: Partial<AddressMap>, message: RegExp) =>
      expect(() => new Board({ ...spec, addresses })).toThrow(message);
    refuse(
      { vfBar3: 0xf010_0000 },
      /addresses\.vfBar0 \(0xF0000000–0xF01FFFFF\) overlaps addresses\.vfBar3 \(0xF0100000–0xF02FFFFF\)/,
    );
    refuse(
      { iommuRegisters: 0xfee0_0000 },
      /addresses\.iommuRegisters .* overlaps the interrupt address range/,
    );
    refuse({ vfBar0: 0x0400_0000 }, /addresses\.vfBar0 .* overlaps the host's own pages/);
    refuse(
      { vfBar0: 0xf000_0800 },
      /addresses\.vfBar0 must be a multiple of 4 KiB below 4 GiB \(the VF BARs are 32-bit\), got 0xF0000800/,
    );
    refuse({ vfBar0: 0x1_0000_0000 }, /addresses\.vfBar0 must be a multiple of 4 KiB below 4 GiB/);
    refuse(
      { guestBar0: 0x0800_0000 },
      /guests\[0\]\.memoryMiB \(256\) must end at or below the guest's VF BARs/,
    );
    refuse(
      { guestBar3: 0xf000_0000 },
      /addresses\.guestBar0 overlaps addresses\.guestBar3 in the guest's address space/,
    );
    refuse(
      { nicStride: 0x1000 },
      /the NIC's 1 VFs need more than the 4 KiB of address space .* \(addresses\.nicStride\)/,
    );
    refuse(
      { vfBar: 1 } as unknown as Partial<AddressMap>,
      /addresses\.vfBar is not an address the board places: use iommuRegisters, vfBar0/,
    );
    const bare = { mode: 'bare-metal' } as const;
    const bareSpec = paperMachine(validateMachineConfig(bare), bare);
    expect(() => new Board({ ...bareSpec, addresses: { vfBar0: 0x0800_0000 } })).toThrow(
      /addresses\.vfBar0 \(0x8000000–0x81FFFFF\) overlaps the OS's RAM \(0x0–0xFFFFFFF\)/,
    );
  });
});

describe('MachineConfig’s board data: nics, guestNics, addresses', () => {
  it('examples/machines/two-nics.yaml is the board written by hand with two nics slots, report for report; guest 1 is held to its 1 Gb/s wire', () => {
    const config = loadMachineFile(
      fileURLToPath(new URL('../../../examples/machines/two-nics.yaml', import.meta.url)),
    );
    expect(config.nics).toEqual([{}, { wire: { bitsPerSecond: 1e9 } }]);
    expect(config.guestNics).toEqual([0, 1]);
    const machine = new Machine(config);
    expect(machine.nics).toHaveLength(2);
    expect(machine.vfs.map((vf) => vf.requesterId)).toEqual([0x380, 0x480]);
    const byHand: BoardSpec<SriovNic> = {
      ...twoNics(),
      nics: [
        { factory: nic82599, vfs: 1 },
        { factory: nic82599, vfs: 1, wire: { bitsPerSecond: 1e9 } },
      ],
      host: { mode: 'eli', strategy: builtinStrategies(XEON_X5570, ['eli', 'eli']) },
      guests: [
        { ...guest(0, 0, 0), mode: 'eli' },
        { ...guest(1, 1, 0), mode: 'eli' },
      ],
    };
    const run = { durationMs: 10, warmupMs: 5 };
    const fromFile = runMachine(machine, run);
    expect(JSON.stringify(fromFile)).toBe(JSON.stringify(runMachine(new Board(byHand), run)));
    expect(fromFile.guests![0]!.throughput.value).toBeGreaterThan(8000);
    expect(fromFile.guests![1]!.throughput.value).toBeLessThan(1000);
  });

  it('guests share a NIC’s VFs in guest order; an address map is the board’s', () => {
    const config = {
      mode: 'baseline',
      guests: 3,
      nics: [{}, {}],
      guestNics: [1, 0, 1],
      addresses: { vfBar0: 0xe000_0000 },
    } as const;
    const resolved = validateMachineConfig(config);
    expect(resolved.guestVfs).toEqual([0, 0, 1]);
    expect(resolved.nics!.map((n) => n.vfs)).toEqual([1, 2]);
    const machine = new Machine(config);
    expect(machine.nics[0]!.vfBarAddress(0, 0)).toBe(0xe000_0000);
    // The 82599 spaces its VFs two requester IDs apart (First VF Offset 0x80, VF Stride 2).
    expect(machine.vfs.map((vf) => vf.requesterId)).toEqual([0x480, 0x380, 0x482]);
  });

  it('refuses what the board would: a NIC index out of range, too few VFs, a wire out of range, a field of no NIC, overlapping windows — before anything is built', () => {
    const refuse = (extra: Record<string, unknown>, message: RegExp) =>
      expect(() => validateMachineConfig({ mode: 'baseline', guests: 2, ...extra } as MachineConfig)).toThrow(
        message,
      );
    refuse(
      { guestNics: [0, 2], nics: [{}, {}] },
      /guestNics\[1\] must be one of the NICs, 0 to 1 \(2 in nics\), got 2/,
    );
    refuse(
      { guestNics: [0, 1] },
      /guestNics\[1\] must be one of the NICs, 0 to 0 \(no nics given: the machine has one NIC; list them in nics, which a machine file can hold\), got 1/,
    );
    refuse(
      { guestNics: [0] },
      /guestNics must be a list of 2 NIC index\(es\), one per guest \(guests is 2\)/,
    );
    refuse(
      { nics: [{ vfs: 1 }] },
      /nics\[0\]\.vfs must be at least 2 \(the guests guestNics puts on NIC 0\), got 1/,
    );
    refuse(
      { nics: [{ wire: { bitsPerSecond: 10 } }] },
      /nics\[0\]\.wire\.bitsPerSecond must be a number from 1000000/,
    );
    refuse({ nics: [{ speed: 1 }] }, /nics\[0\]\.speed is not a field of a NIC: use vfs, wire, link/);
    refuse({ nics: [] }, /nics must be a list of 1 to 8 NICs/);
    refuse({ addresses: { guestBar3: 0xf000_0000 } }, /overlaps/);
    refuse({ addresses: { vfBar0: 0x0400_0000 } }, /addresses\.vfBar0 .* overlaps the host's own pages/);
    refuse(
      { addresses: { nicStride: 0x1000 } },
      /addresses\.nicStride \(4096 bytes\) must hold a NIC's 2 VFs' BARs/,
    );
  });
});
