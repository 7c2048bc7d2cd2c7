import type { Cpu } from '@exitless/cpu';
import { eliStrategy } from '@exitless/eli';
import {
  baselineStrategy,
  didStrategy,
  type InterruptVirtualization,
  postedStrategy,
  pvEoiStrategy,
} from '@exitless/hypervisor';
import type { InterruptBus } from '@exitless/lapic';
import { type SriovNic, sriovNic82599 } from '@exitless/nic';
import type { ScopedStats, Stats, Tracer } from '@exitless/sim';
import type { LocalApic } from '@exitless/x86';
import {
  Board,
  type BoardSpec,
  bareMetalMemoryMiB,
  type GuestEnvironment,
  type LapicFactoryOptions,
  type StrategyBuilder,
} from './board.js';
import {
  BUILTIN_MODES,
  HOST_MEMORY_MIB,
  MachineConfigError,
  type ResolvedMachineConfig,
  validateMachineConfig,
} from './config.js';
import type { AddressMap, NicLayout } from './layout.js';
import type { PhaseMode } from './phases.js';
import { type CalibrationProfile, profileValue } from './profile.js';
import { WORKLOADS, type WorkloadOptions } from './workload.js';

export type { GuestEnvironment, GuestInstance, LapicFactoryOptions } from './board.js';
export { BUILTIN_MODES, MachineConfigError };

/** Builds an interrupt-virtualization strategy for a mode (ELI and others register here). */
export type StrategyFactory = (context: {
  readonly profile: CalibrationProfile;
  /** Where the strategy keeps its counters (named after the mode, e.g. `my-mode.exits-saved`). */
  readonly stats: ScopedStats;
}) => InterruptVirtualization;

export { WORKLOADS };

/**
 * The configuration of one machine: its interrupt-delivery mode, workload, guests and their NICs,
 * calibration profile, seed, and the parts a user may swap in (strategies, LAPIC, guest, tracer).
 */
export interface MachineConfig {
  /** 'bare-metal', 'baseline', or a mode registered in `strategies`. */
  readonly mode: string;
  /** One of WORKLOADS. Default 'netperf-tcp-stream'. */
  readonly workload?: string;
  /** The workloads' knobs (ab's concurrency, memslap's mix…); defaults documented in WorkloadOptions. */
  readonly workloadOptions?: WorkloadOptions;
  /**
   * Guests, each with one vCPU on its own core and its own VF and load generator (default
   * 1, the ELI paper's setup). Bare metal runs one OS on one core.
   */
  readonly guests?: number;
  /**
   * Each guest's mode, one per guest (default: every guest in `mode`): guests on different
   * designs side by side, on one host and one NIC. Each must be a virtualized mode the profile
   * can run; `mode` is then the host's default design. The run report names each guest's mode.
   */
  readonly guestModes?: readonly string[];
  /**
   * Each guest's workload, one per guest (default: every guest runs `workload`), each with its
   * own load generator. The run report names each guest's workload, and its top-level
   * throughput and latency are those of the guests that run guest 0's.
   */
  readonly guestWorkloads?: readonly string[];
  /** The seed every random stream derives from (default 1). */
  readonly seed?: number;
  /**
   * How the periodic sources start (the host's tick on each core, each guest's tick, each load
   * generator): 'seeded' (default) draws each one's phase from the seed, so that different seeds
   * sample different alignments; 'aligned' starts them all at phase 0, for following one
   * event's timing by hand. See StartPhases.
   */
  readonly phases?: PhaseMode;
  /** The calibration profile (default the Xeon X5570 profile, the ELI paper's machine). */
  readonly profile?: CalibrationProfile;
  /** Guest RAM, MiB (bare metal: the OS's RAM). Default 256. */
  readonly guestMemoryMiB?: number;
  /** How the guest kernel drives its LAPIC. Default 'x2apic'. */
  readonly guestApicMode?: 'xapic' | 'x2apic';
  /**
   * A fixed interrupt moderation interval (EITR) the guest's driver programs on its RX and TX
   * vectors, µs (0: none). Absent: the driver's own dynamic throttling (ixgbevf 2.0.0-k2's
   * default, its parameters from the profile's guest.ixgbevf.* entries).
   */
  readonly interruptIntervalUs?: number;
  /** Extra strategies by mode name (how ELI and later designs plug in). */
  readonly strategies?: Readonly<Record<string, StrategyFactory>>;
  /**
   * Builds the CPU's local APIC instead of @exitless/lapic's (a user's own implementation of
   * x86's LocalApic; it must register itself on `bus`, like the conformance suite asks).
   */
  readonly lapicFactory?: (options: LapicFactoryOptions) => LocalApic;
  /**
   * Supplies the guest software instead of @exitless/guest's kernel (an adversarial guest in
   * tests, another OS model): it registers its routines and returns its entry point.
   */
  readonly guestOverride?: (env: GuestEnvironment) => {
    /** The (guest-)physical address of the routine the guest starts at. */
    readonly entryAddress: number;
  };
  /** Where the CPUs and the interrupt bus report spans and instants (guest time, exits, deliveries, IPIs). */
  readonly tracer?: Tracer;
  /**
   * The NICs, each an 82599 in the board's `nics` slots (default: one NIC, with a VF per
   * guest): how many VFs its PF driver enables (default: one per guest on it), its wire and its
   * PCIe link's latencies (default the profile's). NIC k is PCI bus 3 + k, on its own link and
   * wire, with its own load generators.
   */
  readonly nics?: readonly Partial<NicLayout>[];
  /** Each guest's NIC, an index into `nics` (default: every guest on NIC 0); a guest takes the next free VF of its NIC, in guest order. */
  readonly guestNics?: readonly number[];
  /** Where the board maps the VT-d registers and the VF BARs (the board's `addresses`; default DEFAULT_ADDRESS_MAP). */
  readonly addresses?: Partial<AddressMap>;
}

/**
 * The paper's default machine as a recipe on the board API: one Nehalem-class core per guest
 * (default one, as in the ELI paper's experiments), each with its LAPIC; host memory; a VT-d
 * IOMMU; an 82599-like SR-IOV NIC with a VF per guest; a 10 GbE wire to the load generators;
 * a KVM-like host unless the mode is bare metal, running guest i on core i with VF i; the guest
 * kernel running the workload's server. `config` is checked and completed first.
 */
export function paperMachine(resolved: ResolvedMachineConfig, config: MachineConfig): BoardSpec<SriovNic> {
  const { profile, guests, guestMemoryMiB, guestApicMode, interruptIntervalUs, virtualized } = resolved;
  const lapic = config.lapicFactory;
  const software = config.guestOverride;
  return {
    profile,
    seed: resolved.seed,
    phases: resolved.phases,
    ...(config.tracer !== undefined ? { tracer: config.tracer } : {}),
    memoryMiB: virtualized ? HOST_MEMORY_MIB : bareMetalMemoryMiB(guestMemoryMiB),
    cores: Array.from({ length: guests }, () => (lapic !== undefined ? { lapic } : {})),
    ...(resolved.addresses !== null ? { addresses: resolved.addresses } : {}),
    ...(resolved.nics === null
      ? { nic: { factory: sriovNic82599, vfs: guests } }
      : { nics: resolved.nics.map((n) => ({ ...n, factory: sriovNic82599 })) }),
    ...(virtualized
      ? {
          host: {
            mode: resolved.mode,
            strategy: builtinStrategies(profile, resolved.guestModes, config.strategies),
          },
        }
      : {}),
    guests: Array.from({ length: guests }, (_, i) => ({
      core: i,
      ...(resolved.nics !== null ? { nic: resolved.guestNics[i]! } : {}),
      vf: resolved.guestVfs[i]!,
      mode: resolved.guestModes[i]!,
      ...(resolved.perGuestWorkloads ? { workload: resolved.guestWorkloads[i]! } : {}),
      memoryMiB: guestMemoryMiB,
      apicMode: guestApicMode,
      interruptIntervalUs,
      ...(software !== undefined ? { software } : {}),
    })),
    workload: resolved.workload,
    workloadOptions: resolved.workloadOptions,
  };
}

/**
 * The built-in modes' strategies, their costs from the profile, and a user's `strategies` by
 * name. ELI's counters go under `eli` — or under each variant's own name when two ELI
 * variants share a host.
 */
export function builtinStrategies(
  profile: CalibrationProfile,
  guestModes: readonly string[],
  strategies?: Readonly<Record<string, StrategyFactory>>,
): StrategyBuilder {
  const value = (key: string) => profileValue(profile, key);
  const eliVariants = new Set(guestModes.filter((m) => m.startsWith('eli')));
  return (mode: string, stats: Stats): InterruptVirtualization => {
    if (mode === 'baseline') return baselineStrategy({ value });
    if (mode === 'pv-eoi') return pvEoiStrategy({ value, stats: stats.scope('pv-eoi') });
    if (mode === 'posted') return postedStrategy({ value, stats: stats.scope('posted') });
    if (mode === 'did') return didStrategy({ value, stats: stats.scope('did') });
    if (mode === 'eli' || mode === 'eli-delivery' || mode === 'eli-guest-hlt') {
      return eliStrategy({
        value,
        stats: stats.scope(eliVariants.size > 1 ? mode : 'eli'),
        exitlessEoi: mode !== 'eli-delivery',
        haltExiting: mode !== 'eli-guest-hlt',
      });
    }
    const factory = strategies?.[mode];
    if (factory === undefined) throw new MachineConfigError(`no strategy registered for mode '${mode}'`);
    return factory({ profile, stats: stats.scope(mode.replace(/[^A-Za-z0-9_-]/g, '-')) });
  };
}

/**
 * The paper's default machine from a `MachineConfig` (every field checked first, in
 * config.ts): `paperMachine`'s board, assembled. See `Board` for a machine of your own.
 */
export class Machine extends Board<SriovNic> {
  /** The configuration the machine was built from. */
  readonly config: MachineConfig;
  // The paper machine's cores are @exitless/cpu's and its bus @exitless/lapic's.
  /** Core 0 (`@exitless/cpu`'s `Cpu`). */
  declare readonly cpu: Cpu;
  declare readonly cpus: readonly Cpu[];
  /** The bus between the local APICs (`@exitless/lapic`'s `InterruptBus`). */
  declare readonly interruptBus: InterruptBus;

  constructor(config: MachineConfig) {
    const resolved = validateMachineConfig(config);
    super(paperMachine(resolved, config));
    this.config = config;
    this.perGuestModes = resolved.perGuestModes;
    this.perGuestWorkloads = resolved.perGuestWorkloads;
  }
}
