import { Cpu, type CpuCosts } from '@exitless/cpu';
import { eliStrategy } from '@exitless/eli';
import {
  type GuestApplication,
  type GuestCosts,
  GuestKernel,
  type InterruptThrottling,
} from '@exitless/guest';
import {
  baselineStrategy,
  didStrategy,
  type HaltPollOptions,
  type HostCosts,
  Hypervisor,
  type InterruptVirtualization,
  PvEoiStrategy,
  postedStrategy,
  pvEoiStrategy,
  type Vm,
} from '@exitless/hypervisor';
import {
  DmaRemappingTables,
  enableDmaRemapping,
  enableInterruptRemapping,
  InterruptRemappingTable,
  Iommu,
  PageAllocator,
} from '@exitless/iommu';
import { InterruptBus, LocalApicDevice } from '@exitless/lapic';
import { ipv4 } from '@exitless/net';
import { NIC_82599, PcieLink, PF_LAYOUT, SriovNic, type VirtualFunction, Wire } from '@exitless/nic';
import { ns, type ScopedStats, Simulator, Stats, type Tracer, us } from '@exitless/sim';
import type { NetperfReceiver, TcpStreamSender } from '@exitless/workloads';
import {
  CodeSpace,
  type LocalApic,
  MemoryWindow,
  type MmioDevice,
  MSIX_CAP,
  MSIX_CONTROL,
  PCI_CFG,
  PCI_COMMAND,
  PhysicalBus,
  type PhysicalMemory,
  type Routine,
  SparseMemory,
  SRIOV_CAP,
  SRIOV_CONTROL,
} from '@exitless/x86';
import {
  BUILTIN_MODES,
  checkedGuestEntry,
  checkedLapic,
  HOST_MEMORY_MIB,
  MachineConfigError,
  validateMachineConfig,
} from './config.js';
import { PeerSwitch } from './peers.js';
import { type PhaseMode, StartPhases } from './phases.js';
import { type CalibrationProfile, profileValue } from './profile.js';
import { buildWorkload, WORKLOADS, type WorkloadMetrics, type WorkloadOptions } from './workload.js';

const MAX_VIOLATIONS_KEPT = 16;

export { BUILTIN_MODES, MachineConfigError };

/** Builds an interrupt-virtualization strategy for a mode (ELI and others register here). */
export type StrategyFactory = (context: {
  readonly profile: CalibrationProfile;
  /** Where the strategy keeps its counters (named after the mode, e.g. `my-mode.exits-saved`). */
  readonly stats: ScopedStats;
}) => InterruptVirtualization;

export { WORKLOADS };

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
  readonly seed?: number;
  /**
   * How the periodic sources start (the host's tick on each core, each guest's tick, each load
   * generator): 'seeded' (default) draws each one's phase from the seed, so that different seeds
   * sample different alignments; 'aligned' starts them all at phase 0, for following one
   * event's timing by hand. See StartPhases.
   */
  readonly phases?: PhaseMode;
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
  readonly guestOverride?: (env: GuestEnvironment) => { readonly entryAddress: number };
  /** Where the CPUs and the interrupt bus report spans and instants (guest time, exits, deliveries, IPIs). */
  readonly tracer?: Tracer;
}

/** One guest's workload: its application, its load generator, where its figures are. */
export interface GuestInstance {
  readonly app: GuestApplication;
  readonly peer: { start(at: number): void };
  readonly metrics: WorkloadMetrics;
  /** When the load generator starts, ps: once the guests have booted, plus its drawn phase. */
  readonly loadStartPs: number;
}

/** What guest software is given by the machine. */
export interface GuestEnvironment {
  /** The guest's physical memory as it sees it. */
  readonly memory: PhysicalMemory;
  /** Registers a routine at a guest-physical address. */
  readonly registerCode: (address: number, routine: Routine) => void;
  readonly apicMode: 'xapic' | 'x2apic';
  /** Guest-physical addresses of the VF's BAR0 and BAR3 (MSI-X). */
  readonly nicBar0: number;
  readonly nicBar3: number;
  readonly vfMac: number;
}

/** What a LAPIC factory is given (the same shape as @exitless/lapic's conformance suite uses). */
export interface LapicFactoryOptions {
  readonly sim: Simulator;
  readonly bus: InterruptBus;
  readonly apicId: number;
  readonly tscHz: number;
  readonly timerHz: number;
  readonly bsp: boolean;
}

const MIB = 1024 * 1024;
const VF_BAR0_HPA = 0xf000_0000;
const VF_BAR3_HPA = 0xf100_0000;
const IOMMU_REGS_HPA = 0xfed9_0000;
const PF_RID = 0x0300;
const PF_MAC = 0x02_00_00_00_01_00;
const PEER_MAC = 0x02_00_00_00_02_00;
const GUEST_IP = ipv4(10, 0, 0, 1);
const PEER_IP = ipv4(10, 0, 0, 2);
/** Where the guest sees its VF's BARs in a VM (guest-physical). */
const GUEST_BAR0 = 0xf000_0000;
const GUEST_BAR3 = 0xf100_0000;
/** The load generators start after this long, when every guest has booted and its server listens. */
const LOAD_START_PS = us(500);
/**
 * The window a load generator's start is drawn from, after LOAD_START_PS: netperf, ab and
 * memslap are started by hand at no particular moment. Since every tick's phase is drawn too,
 * the window's length changes no distribution of alignments with them; 500 µs keeps every
 * load started by 1 ms, within the shortest warm-up the reference commands use (trace's).
 */
const LOAD_START_WINDOW_PS = us(500);

function cpuCosts(p: CalibrationProfile): CpuCosts {
  const v = (k: string) => profileValue(p, `cpu.${k}`);
  return {
    vmExitCycles: v('vmExitCycles'),
    vmEntryCycles: v('vmEntryCycles'),
    exitIndirectCycles: v('exitIndirectCycles'),
    exitPollutionPerHostCycle: v('exitPollutionPerHostCycle'),
    exitPollutionMaxCycles: v('exitPollutionMaxCycles'),
    eventDeliveryCycles: v('eventDeliveryCycles'),
    iretCycles: v('iretCycles'),
    rdmsrCycles: v('rdmsrCycles'),
    wrmsrCycles: v('wrmsrCycles'),
    mmioReadCycles: v('mmioReadCycles'),
    mmioWriteCycles: v('mmioWriteCycles'),
    cliStiCycles: v('cliStiCycles'),
    descriptorTableCycles: v('descriptorTableCycles'),
    pauseCycles: v('pauseCycles'),
  };
}

function guestCosts(p: CalibrationProfile): GuestCosts {
  const v = (k: string) => profileValue(p, `guest.${k}`);
  return {
    irqEntry: v('irqEntry'),
    irqExit: v('irqExit'),
    nicIrqHandler: v('nicIrqHandler'),
    nicTxIrqHandler: v('nicTxIrqHandler'),
    itrUpdate: v('itrUpdate'),
    napiPollBase: v('napiPollBase'),
    rxPerFrame: v('rxPerFrame'),
    rxRefillPerBuffer: v('rxRefillPerBuffer'),
    rxPerSkb: v('rxPerSkb'),
    txPerFrame: v('txPerFrame'),
    txCleanPerFrame: v('txCleanPerFrame'),
    wakeup: v('wakeup'),
    contextSwitch: v('contextSwitch'),
    recvSyscall: v('recvSyscall'),
    copyPerByte: v('copyPerByte'),
    timerTick: v('timerTick'),
    bootStep: v('bootStep'),
    udpRxPerDatagram: v('udpRxPerDatagram'),
    tcpConnectionSetup: v('tcpConnectionSetup'),
    acceptSyscall: v('acceptSyscall'),
    sendSyscall: v('sendSyscall'),
    copyFromUserPerByte: v('copyFromUserPerByte'),
    closeSyscall: v('closeSyscall'),
    eventWait: v('eventWait'),
  };
}

/** The guest driver's interrupt throttling: fixed at `intervalUs` when given, else ixgbevf's dynamic throttling. */
function guestThrottling(p: CalibrationProfile, intervalUs: number | null): InterruptThrottling {
  if (intervalUs !== null) return { mode: 'fixed', intervalUs };
  const v = (k: string) => profileValue(p, `guest.ixgbevf.${k}`);
  return {
    mode: 'dynamic',
    eitrParam: v('eitrParam'),
    eitrLow: v('eitrLow'),
    eitrHigh: v('eitrHigh'),
    lowestRate: v('lowestRate'),
    lowRate: v('lowRate'),
    bulkRate: v('bulkRate'),
    doubleConversion: v('itrDoubleConversion') === 1,
  };
}

function hostCosts(p: CalibrationProfile): HostCosts {
  const v = (k: string) => profileValue(p, `host.${k}`);
  return {
    exitDispatch: v('exitDispatch'),
    entryPrepare: v('entryPrepare'),
    injection: v('injection'),
    externalInterruptExit: v('externalInterruptExit'),
    msrEmulation: v('msrEmulation'),
    eoiEmulation: v('eoiEmulation'),
    mmioEmulation: v('mmioEmulation'),
    interruptWindowExit: v('interruptWindowExit'),
    haltBlock: v('haltBlock'),
    haltWake: v('haltWake'),
    irqEntry: v('irqEntry'),
    irqExit: v('irqExit'),
    assignedHardIrq: v('assignedHardIrq'),
    irqThreadWake: v('irqThreadWake'),
    contextSwitch: v('contextSwitch'),
    kvmSetIrq: v('kvmSetIrq'),
    vcpuPutLoad: v('vcpuPutLoad'),
    hostTick: v('hostTick'),
    hrtimerExpire: v('hrtimerExpire'),
    vmcall: v('vmcall'),
    otherExit: v('otherExit'),
  };
}

/**
 * KVM's halt polling as the profile's host has it (Linux 4.0+): none when host.haltPollNs is 0
 * (a 2.6.3x host), and then the other halt-polling entries are not read.
 */
function haltPoll(p: CalibrationProfile): { readonly haltPoll?: HaltPollOptions } {
  const v = (k: string) => profileValue(p, `host.${k}`);
  const maxNs = v('haltPollNs');
  if (maxNs === 0) return {};
  return {
    haltPoll: {
      maxNs,
      grow: v('haltPollGrow'),
      growStartNs: v('haltPollGrowStartNs'),
      shrink: v('haltPollShrink'),
      iterationCycles: v('haltPollIteration'),
    },
  };
}

/**
 * A whole machine, assembled in one readable place from the component packages: one
 * 2.93 GHz Nehalem-class core with its LAPIC (the default machine of the ELI paper's
 * experiments: one guest with one vCPU on its own core), host memory, a VT-d IOMMU, an
 * 82599-like SR-IOV NIC whose VF 0 is the guest's, a 10 GbE wire, and the netperf sender on
 * the far end. In `bare-metal` mode the guest kernel runs on the CPU itself; otherwise a
 * KVM-like host runs it in a VM with the VF assigned, and the mode's strategy decides how
 * interrupts reach it.
 */
export class Machine {
  readonly config: MachineConfig;
  readonly profile: CalibrationProfile;
  readonly mode: string;
  /** Each guest's mode (all `mode` unless the config gave `guestModes`). */
  readonly guestModes: readonly string[];
  /** True when the config gave `guestModes` (the run report then names each guest's mode). */
  readonly perGuestModes: boolean;
  readonly workload: string;
  readonly seed: number;
  readonly sim: Simulator;
  readonly stats: Stats;
  readonly memory: SparseMemory;
  readonly code: CodeSpace;
  readonly bus: PhysicalBus;
  readonly interruptBus: InterruptBus;
  readonly lapic: LocalApic;
  readonly cpu: Cpu;
  /** Every core and its LAPIC (core i runs guest i's vCPU). */
  readonly cpus: readonly Cpu[];
  readonly lapics: readonly LocalApic[];
  readonly iommu: Iommu;
  readonly nic: SriovNic;
  /** The NIC's PCIe link: the CPU's stores to its BARs and its MSIs cross it, each way with its latency. */
  readonly pcie: PcieLink;
  readonly vf: VirtualFunction;
  /** Every VF (VF i belongs to guest i). */
  readonly vfs: readonly VirtualFunction[];
  readonly wire: Wire;
  /** Guest i's application, load generator and metrics (index 0 is also `app`, `peer`, `metrics`). */
  readonly instances: readonly GuestInstance[];
  /** netperf TCP_STREAM's remote sender and guest receiver (null for the other workloads). */
  readonly sender: TcpStreamSender | null = null;
  readonly receiver: NetperfReceiver | null = null;
  /** The workload's guest application and remote load generator. */
  readonly app: GuestApplication;
  readonly peer: { start(at: number): void };
  /** Where the report finds the workload's throughput and latency. */
  readonly metrics: WorkloadMetrics;
  /** The guest kernel model, or null when `guestOverride` supplied the guest software. */
  readonly guest: GuestKernel | null;
  /** Every guest's kernel (guest i runs on core i). */
  readonly guests: readonly (GuestKernel | null)[];
  /** The guest software's entry point (guest-physical in a VM). */
  readonly guestEntry: number;
  readonly hypervisor: Hypervisor | null;
  readonly vm: Vm | null;
  readonly vms: readonly Vm[];
  /** Why the VM stopped, if it did. */
  stopReason: string | null = null;
  /** How many times the host refused something a guest tried and let it run on (a store to a host-owned page). */
  guestViolations = 0;
  /** The first of those refusals, described (at most 16 are kept; `guestViolations` counts them all). */
  readonly guestViolationLog: string[] = [];
  private started = false;

  constructor(config: MachineConfig) {
    this.config = config;
    // Every field checked and every default filled in one place (config.ts), before anything is built.
    const {
      profile,
      mode,
      workload,
      workloadOptions,
      seed,
      phases: phaseMode,
      guests,
      guestModes,
      perGuestModes,
      guestMemoryMiB: guestMiB,
      guestApicMode: apicMode,
      interruptIntervalUs: intervalUs,
      virtualized,
    } = validateMachineConfig(config);
    this.profile = profile;
    this.mode = mode;
    this.guestModes = guestModes;
    this.perGuestModes = perGuestModes;
    this.workload = workload;
    this.seed = seed;
    const pv = (k: string) => profileValue(profile, k);
    const hz = pv('cpu.hz');
    const phases = new StartPhases(seed, phaseMode);

    const sim = new Simulator();
    this.sim = sim;
    const stats = new Stats(sim);
    this.stats = stats;
    const memory = new SparseMemory(virtualized ? HOST_MEMORY_MIB * MIB : 1024 * MIB + guestMiB * MIB);
    this.memory = memory;
    const code = new CodeSpace();
    this.code = code;
    const bus = new PhysicalBus(memory);
    this.bus = bus;

    const interruptBus = new InterruptBus({
      sim,
      ipiLatencyPs: ns(pv('lapic.ipiLatencyNs')),
      stats: stats.scope('apicbus'),
      ...(config.tracer !== undefined ? { tracer: config.tracer } : {}),
    });
    this.interruptBus = interruptBus;
    const cpus: Cpu[] = [];
    const lapics: LocalApic[] = [];
    for (let i = 0; i < guests; i++) {
      const lapicOptions = {
        sim,
        bus: interruptBus,
        apicId: i,
        tscHz: hz,
        timerHz: pv('lapic.timerHz'),
        bsp: i === 0,
      };
      const lapic =
        config.lapicFactory !== undefined
          ? checkedLapic(config.lapicFactory(lapicOptions), i)
          : new LocalApicDevice({ ...lapicOptions, stats: stats.scope(`lapic${i}`) });
      lapics.push(lapic);
      cpus.push(
        new Cpu({
          id: i,
          sim,
          hz,
          bus,
          code,
          lapic,
          costs: cpuCosts(profile),
          vmxMiscPreemptionRate: pv('cpu.vmxPreemptionRate'),
          apicVirtualization: pv('cpu.apicVirtualization') === 1,
          stats,
          ...(config.tracer !== undefined ? { tracer: config.tracer } : {}),
        }),
      );
    }
    this.cpus = cpus;
    this.lapics = lapics;
    this.lapic = lapics[0]!;
    this.cpu = cpus[0]!;

    this.iommu = new Iommu({
      memory,
      interruptSink: interruptBus,
      stats: stats.scope('iommu'),
      costs: {
        iotlbHitPs: ns(pv('iommu.iotlbHitNs')),
        contextFetchPs: ns(pv('iommu.contextFetchNs')),
        pageWalkLevelPs: ns(pv('iommu.pageWalkLevelNs')),
        irteFetchPs: ns(pv('iommu.irteFetchNs')),
        postedDescriptorUpdatePs: ns(pv('iommu.postedDescriptorNs')),
      },
      iotlbEntries: pv('iommu.iotlbEntries'),
      faultRecordingRegisters: 8,
      simulator: sim,
    });
    bus.map('iommu', IOMMU_REGS_HPA, 0x1000, this.iommu);

    // The card's PCIe link, shared by its PF and VFs: stores to their BARs are posted writes
    // that reach the NIC a downstream traversal later, and its MSIs reach the IOMMU an
    // upstream traversal later, each direction in order.
    const pcie = new PcieLink({
      sim,
      timing: { postedWritePs: ns(pv('pcie.postedWriteNs')), msiPs: ns(pv('pcie.msiNs')) },
      upstream: this.iommu,
      stats: stats.scope('pcie'),
      ...(config.tracer !== undefined ? { tracer: config.tracer } : {}),
    });
    this.pcie = pcie;
    const nic = new SriovNic(
      sim,
      this.iommu,
      pcie,
      {
        dmaReadLatencyPs: ns(pv('nic.dmaReadLatencyNs')),
        dmaWriteLatencyPs: ns(pv('nic.dmaWriteLatencyNs')),
        dmaReadPsPerByte: ns(pv('nic.dmaReadPerByteNs')),
        dmaWritePsPerByte: ns(pv('nic.dmaWritePerByteNs')),
      },
      { ...NIC_82599, requesterId: PF_RID, macAddress: PF_MAC },
      stats.scope('nic'),
    );
    this.nic = nic;
    this.vfs = this.enableVfs(nic, guests);
    this.vf = this.vfs[0]!;
    // Each VF's BARs as the CPUs reach them: through the link.
    const vfMsixBars: MmioDevice[] = [];
    for (const [i, vf] of this.vfs.entries()) {
      const msixBar = pcie.attach(vf.msixBar);
      vfMsixBars.push(msixBar);
      bus.map(`vf${i}-bar0`, nic.vfBarAddress(i, 0), nic.vfBarSize(0), pcie.attach(vf.registers));
      bus.map(`vf${i}-bar3`, nic.vfBarAddress(i, 3), nic.vfBarSize(3), msixBar);
    }

    const wire = new Wire(
      sim,
      { bitsPerSecond: pv('nic.lineRate'), latencyPs: ns(pv('nic.linkLatencyNs')) },
      { maxFrameBytes: 1518, framesInFlight: 4096 },
      stats.scope('wire'),
    );
    this.wire = wire;
    nic.connect(wire.a);

    const tcpOptions = {
      receiveBuffer: pv('guest.tcpReceiveBuffer'),
      windowScale: pv('guest.tcpWindowScale'),
      mss: 1448,
      delayedAckPs: Math.round(pv('guest.tcpDelayedAckMs') * 1e9),
    };
    // The far end of the wire: one load generator per guest, behind a switch that hands
    // each the frames addressed to its MAC.
    const peers = new PeerSwitch(wire.b, stats.scope('peers'));
    const instances: GuestInstance[] = [];
    for (let i = 0; i < guests; i++) {
      const built = buildWorkload({
        workload,
        options: workloadOptions,
        profile,
        sim,
        stats,
        seed,
        index: i,
        port: peers.port(PEER_MAC + i),
        guest: { mac: this.vfs[i]!.mac, ip: GUEST_IP + i },
        peer: { mac: PEER_MAC + i, ip: PEER_IP + i },
        tcp: tcpOptions,
        // The load generator's machine runs the guest's Linux: its tick has the guest's period.
        peerTickPhasePs: phases.draw(`peer-tick.peer${i}`, Math.round(1e12 / pv('guest.hz'))),
      });
      instances.push({
        app: built.app,
        peer: built.peer,
        metrics: built.metrics,
        loadStartPs: LOAD_START_PS + phases.draw(`load-generator.peer${i}`, LOAD_START_WINDOW_PS),
      });
      if (i === 0) {
        this.sender = built.sender;
        this.receiver = built.receiver;
      }
    }
    this.instances = instances;
    this.app = instances[0]!.app;
    this.peer = instances[0]!.peer;
    this.metrics = instances[0]!.metrics;

    const guestCode = (base: number) => (address: number, routine: Routine) =>
      code.register(base + address, routine);
    let hypervisor: Hypervisor | null = null;
    const vms: Vm[] = [];
    const kernels: (GuestKernel | null)[] = [];
    const entries: number[] = [];
    // Whether the host offers KVM's paravirtual EOI (CPUID's KVM_FEATURE_PV_EOI): only when its
    // strategy is PV EOI's; then the guest kernel uses it.
    const offersPvEoi: boolean[] = [];
    if (virtualized) {
      // One strategy per mode in use (guests in the same mode share it; it keeps per-vCPU state).
      const byMode = new Map<string, InterruptVirtualization>();
      const strategyFor = (m: string): InterruptVirtualization => {
        let s = byMode.get(m);
        if (s === undefined) {
          s = this.makeStrategy(m, config, profile);
          byMode.set(m, s);
        }
        return s;
      };
      const strategy = strategyFor(mode);
      const pages = new PageAllocator(memory, 0x0100_0000, 0x0700_0000);
      const dmar = new DmaRemappingTables(memory, pages);
      const irt = new InterruptRemappingTable(memory, pages, 256);
      hypervisor = new Hypervisor({
        sim,
        memory,
        code,
        cpus: cpus.map((_c, i) => ({
          index: i,
          apicId: i,
          tickPhasePs: phases.draw(`host-tick.cpu${i}`, Math.round(1e12 / pv('host.hz'))),
        })),
        tscHz: hz,
        virtualApicTimerHz: pv('lapic.timerHz'),
        hostHz: pv('host.hz'),
        assignedInterruptPath: pv('host.assignedIrqThreaded') === 1 ? 'irq-thread' : 'hard-irq',
        ...haltPoll(profile),
        costs: hostCosts(profile),
        strategy,
        interruptRemapping: irt,
        x2apicInterruptRemapping: true,
        interruptBus,
        stats: stats.scope('kvm'),
        onVmStopped: (_vm, reason) => {
          this.stopReason ??= reason;
        },
        onGuestViolation: (vm, what) => {
          this.guestViolations++;
          if (this.guestViolationLog.length < MAX_VIOLATIONS_KEPT)
            this.guestViolationLog.push(`${vm.name}: ${what}`);
        },
      });
      for (let i = 0; i < guests; i++) {
        const vf = this.vfs[i]!;
        const guestStrategy = strategyFor(guestModes[i]!);
        offersPvEoi.push(guestStrategy instanceof PvEoiStrategy);
        const vm = hypervisor.createVm(
          { name: `guest${i}`, memorySize: guestMiB * MIB, apicMode },
          i,
          [
            {
              requesterId: vf.requesterId,
              hostBar0: nic.vfBarAddress(i, 0),
              bar0Size: nic.vfBarSize(0),
              hostBar3: nic.vfBarAddress(i, 3),
              bar3Size: nic.vfBarSize(3),
              msix: vfMsixBars[i]!,
              guestBar0: GUEST_BAR0,
              guestBar3: GUEST_BAR3,
              vectors: vf.msix.vectors,
            },
          ],
          guestStrategy,
        );
        // VFIO's device assignment: each VF's DMA goes through a domain that maps its guest's RAM.
        const domain = dmar.createDomain(i + 1);
        dmar.attachDevice(vf.requesterId, domain);
        dmar.map(domain, 0, vm.hostBase, guestMiB * MIB, { read: true, write: true }, 2_097_152);
        vms.push(vm);
      }
      enableDmaRemapping(this.iommu, dmar.rootTableAddress);
      enableInterruptRemapping(this.iommu, irt, {
        extendedInterruptMode: true,
        allowCompatibilityFormat: false,
      });
    }
    this.hypervisor = hypervisor;
    this.vms = vms;
    this.vm = vms[0] ?? null;

    for (let i = 0; i < guests; i++) {
      const vm = vms[i];
      // Bare metal: the OS owns the machine; VT-d stays off (DMA and MSIs pass through).
      const guestMemory: PhysicalMemory =
        vm !== undefined ? vm.memory : new MemoryWindow(memory, 0, guestMiB * MIB);
      const register = guestCode(vm !== undefined ? vm.hostBase : 0);
      const bar0 = vm !== undefined ? GUEST_BAR0 : nic.vfBarAddress(i, 0);
      const bar3 = vm !== undefined ? GUEST_BAR3 : nic.vfBarAddress(i, 3);
      if (config.guestOverride !== undefined) {
        // A user's own guest software (an adversarial guest, a different OS model).
        kernels.push(null);
        entries.push(
          checkedGuestEntry(
            config.guestOverride({
              memory: guestMemory,
              registerCode: register,
              apicMode,
              nicBar0: bar0,
              nicBar3: bar3,
              vfMac: this.vfs[i]!.mac,
            }),
            guestMiB * MIB,
          ),
        );
      } else {
        const kernel = new GuestKernel({
          name: `guest${i}`,
          memory: guestMemory,
          registerCode: register,
          apicMode,
          apicId: 0,
          apicTimerHz: pv('lapic.timerHz'),
          hz: pv('guest.hz'),
          tickPhasePs: phases.draw(`guest-tick.guest${i}`, Math.round(1e12 / pv('guest.hz'))),
          nic: {
            bar0,
            bar3,
            mac: this.vfs[i]!.mac,
            ip: GUEST_IP + i,
            rxRingSize: pv('guest.rxRing'),
            txRingSize: pv('guest.txRing'),
            throttling: guestThrottling(profile, intervalUs),
            napiBudget: pv('guest.napiBudget'),
          },
          tcp: tcpOptions,
          // The BTR of kvm_guest_apic_eoi_write, on a word in L1: a few cycles, as CLI/STI.
          pvEoi: offersPvEoi[i] === true ? { testAndClearCycles: pv('cpu.cliStiCycles') } : undefined,
          costs: guestCosts(profile),
          stats: stats.scope(`guest${i}`),
          app: instances[i]!.app,
        });
        kernels.push(kernel);
        entries.push(kernel.entryAddress);
      }
      if (vm !== undefined) vm.entry = entries[i]!;
    }
    this.guests = kernels;
    this.guest = kernels[0]!;
    this.guestEntry = entries[0]!;
  }

  private makeStrategy(
    mode: string,
    config: MachineConfig,
    profile: CalibrationProfile,
  ): InterruptVirtualization {
    const value = (key: string) => profileValue(profile, key);
    if (mode === 'baseline') return baselineStrategy({ value });
    if (mode === 'pv-eoi') return pvEoiStrategy({ value, stats: this.stats.scope('pv-eoi') });
    if (mode === 'posted') return postedStrategy({ value, stats: this.stats.scope('posted') });
    if (mode === 'did') return didStrategy({ value, stats: this.stats.scope('did') });
    if (mode === 'eli' || mode === 'eli-delivery' || mode === 'eli-guest-hlt') {
      // Counters under `eli`, or the mode's own name when two ELI variants share a host.
      const scope = this.guestModes.filter((m) => m.startsWith('eli')).some((m) => m !== mode) ? mode : 'eli';
      return eliStrategy({
        value,
        stats: this.stats.scope(scope),
        exitlessEoi: mode !== 'eli-delivery',
        haltExiting: mode !== 'eli-guest-hlt',
      });
    }
    const factory = config.strategies?.[mode];
    if (factory === undefined) throw new MachineConfigError(`no strategy registered for mode '${mode}'`);
    return factory({ profile, stats: this.stats.scope(mode.replace(/[^A-Za-z0-9_-]/g, '-')) });
  }

  /** What the host's PF driver and VFIO do before the guests start: VFs on, BARs placed, bus mastering and MSI-X on. */
  private enableVfs(nic: SriovNic, count: number): VirtualFunction[] {
    const pf = nic.pf;
    pf.configWrite(PCI_CFG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE | PCI_COMMAND.BUS_MASTER);
    const cap = PF_LAYOUT.SRIOV_EXT_CAP;
    pf.configWrite(cap + SRIOV_CAP.VF_BAR0, 4, VF_BAR0_HPA);
    pf.configWrite(cap + SRIOV_CAP.VF_BAR0 + 4, 4, 0);
    pf.configWrite(cap + SRIOV_CAP.VF_BAR0 + 12, 4, VF_BAR3_HPA);
    pf.configWrite(cap + SRIOV_CAP.VF_BAR0 + 16, 4, 0);
    pf.configWrite(cap + SRIOV_CAP.NUM_VFS, 2, count);
    pf.configWrite(cap + SRIOV_CAP.CONTROL, 2, SRIOV_CONTROL.VF_ENABLE | SRIOV_CONTROL.VF_MSE);
    const vfs: VirtualFunction[] = [];
    for (let i = 0; i < count; i++) {
      const vf = nic.vf(i);
      if (vf === undefined) throw new MachineConfigError(`the NIC created no VF ${i}`);
      vf.configWrite(PCI_CFG.COMMAND, 2, PCI_COMMAND.BUS_MASTER);
      vf.configWrite(0x70 + MSIX_CAP.MESSAGE_CONTROL, 2, MSIX_CONTROL.ENABLE);
      vfs.push(vf);
    }
    if (nic.vfBarAddress(0, 0) !== VF_BAR0_HPA || nic.vfBarAddress(0, 3) !== VF_BAR3_HPA) {
      throw new MachineConfigError('the VF BARs did not land where the machine placed them');
    }
    return vfs;
  }

  /** Starts the CPU at its reset entry (the host kernel, or the bare-metal OS). */
  start(): void {
    if (this.started) return;
    this.started = true;
    const hv = this.hypervisor;
    if (hv !== null) for (const [i, cpu] of this.cpus.entries()) cpu.start(hv.entryAddress(i));
    else this.cpu.start(this.guestEntry);
    // The load generators start once the guests have booted and their servers listen.
    for (const instance of this.instances) instance.peer.start(instance.loadStartPs);
  }
}
