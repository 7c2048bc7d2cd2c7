import { Cpu, type CpuOptions, type MeasuredCpu } from '@exitless/cpu';
import { type GuestApplication, GuestKernel } from '@exitless/guest';
import { Hypervisor, type InterruptVirtualization, PvEoiStrategy, type Vm } from '@exitless/hypervisor';
import {
  DmaRemappingTables,
  enableDmaRemapping,
  enableInterruptRemapping,
  InterruptRemappingTable,
  Iommu,
  type IommuFactory,
  type IommuUnderTest,
  PageAllocator,
} from '@exitless/iommu';
import { InterruptBus, LocalApicDevice, type LocalApicFactoryOptions } from '@exitless/lapic';
import { ipv4 } from '@exitless/net';
import {
  type NicFactoryOptions,
  type NicUnderTest,
  type NicVirtualFunctionUnderTest,
  PcieLink,
  Wire,
  type WirePort,
} from '@exitless/nic';
import { ns, type ScopedStats, Simulator, Stats, type Tracer, us } from '@exitless/sim';
import type { NetperfReceiver, SenderPort, TcpStreamSender } from '@exitless/workloads';
import {
  type ApicBus,
  CodeSpace,
  findCapability,
  findExtendedCapability,
  type LocalApic,
  MemoryWindow,
  type MmioDevice,
  MSIX_CAP,
  MSIX_CONTROL,
  PCI_CAP_ID,
  PCI_CFG,
  PCI_COMMAND,
  PCI_EXT_CAP_ID,
  PhysicalBus,
  type PhysicalMemory,
  type Routine,
  SparseMemory,
  SRIOV_CAP,
  SRIOV_CONTROL,
} from '@exitless/x86';
import { checkedApicBus, checkedCpu, checkedGuestEntry, checkedLapic, MachineConfigError } from './config.js';
import {
  type AddressMap,
  checkAddresses,
  checkGuestBars,
  checkNicLayout,
  DEFAULT_ADDRESS_MAP,
  MAX_NICS,
  type NicLayout,
} from './layout.js';
import { cpuCosts, guestCosts, guestThrottling, haltPoll, hostCosts } from './parts.js';
import { PeerSwitch } from './peers.js';
import { type PhaseMode, StartPhases } from './phases.js';
import { type CalibrationProfile, profileValue } from './profile.js';
import {
  buildWorkload,
  WORKLOADS,
  type Workload,
  type WorkloadContext,
  type WorkloadMetrics,
  type WorkloadOptions,
} from './workload.js';

const MAX_VIOLATIONS_KEPT = 16;
const MIB = 1024 * 1024;
const PF_RID = 0x0300;
const PF_MAC = 0x02_00_00_00_01_00;
const PEER_MAC = 0x02_00_00_00_02_00;
const GUEST_IP = ipv4(10, 0, 0, 1);
const PEER_IP = ipv4(10, 0, 0, 2);
/** The load generators start after this long, when every guest has booted and its server listens. */
const LOAD_START_PS = us(500);
/**
 * The window a load generator's start is drawn from, after LOAD_START_PS: netperf, ab and
 * memslap are started by hand at no particular moment. Since every tick's phase is drawn too,
 * the window's length changes no distribution of alignments with them; 500 µs keeps every
 * load started by 1 ms, within the shortest warm-up the reference commands use (trace's).
 */
const LOAD_START_WINDOW_PS = us(500);
/** A bare-metal machine's RAM below the OS's: the OS's RAM sits at 0, the rest is the platform's. */
const BARE_METAL_PLATFORM_MIB = 1024;

/** What an interrupt-bus factory is given. */
export interface InterruptBusFactoryOptions {
  /** The simulator the bus schedules IPIs on. */
  readonly sim: Simulator;
  /** How long an IPI takes from the ICR write to the destination's IRR, ps (the profile's `lapic.ipiLatencyNs`). */
  readonly ipiLatencyPs: number;
  /** A stats scope for the bus's counters (`apicbus`). */
  readonly stats: ScopedStats;
  /** Where the bus traces, if tracing is on. */
  readonly tracer?: Tracer;
}

/** What a LAPIC factory is given: `@exitless/lapic`'s part interface, which its conformance suite hands a LAPIC too. */
export type LapicFactoryOptions = LocalApicFactoryOptions;

/** What guest software is given by the machine. */
export interface GuestEnvironment {
  /** The guest's physical memory as it sees it. */
  readonly memory: PhysicalMemory;
  /** Registers a routine at a guest-physical address. */
  readonly registerCode: (address: number, routine: Routine) => void;
  /** How the guest is to drive its LAPIC: the xAPIC page or the x2APIC MSRs. */
  readonly apicMode: 'xapic' | 'x2apic';
  /** Guest-physical addresses of the VF's BAR0 and BAR3 (MSI-X). */
  readonly nicBar0: number;
  /** Guest-physical address of the VF's BAR3. */
  readonly nicBar3: number;
  /** The VF's MAC address. */
  readonly vfMac: number;
}

/** Guest software of a user's own (an adversarial guest, another OS model): registers its routines, returns its entry. */
export type GuestSoftware = (env: GuestEnvironment) => {
  /** The (guest-)physical address of the routine the guest starts at. */
  readonly entryAddress: number;
};

/** One guest's workload: its application, its load generator, where its figures are. */
export interface GuestInstance {
  /** The guest's application. */
  readonly app: GuestApplication;
  /** Its load generator. */
  readonly peer: {
    /** Starts generating load at simulated time `at`, ps. */
    start(at: number): void;
  };
  /** Where the run report finds the workload's throughput and latency. */
  readonly metrics: WorkloadMetrics;
  /** When the load generator starts, ps: once the guests have booted, plus its drawn phase. */
  readonly loadStartPs: number;
}

/** A core's slot: the CPU, with the LAPIC it is wired to (defaults `@exitless/cpu`'s and `@exitless/lapic`'s). */
export interface CoreSlot {
  /**
   * Builds the core's CPU instead of `@exitless/cpu`'s, from the options the board would give
   * it (its id, clock, buses, LAPIC, costs from the profile, stats): any `MeasuredCpu` — one
   * that passes the CPU conformance suite (`@exitless/cpu/conformance`) and keeps the counters
   * the run report reads.
   */
  readonly cpu?: (options: CpuOptions) => MeasuredCpu;
  /**
   * Builds the core's local APIC instead of `@exitless/lapic`'s: any implementation of x86's
   * `LocalApic` that registers itself on `bus` (what the LAPIC conformance suite checks).
   */
  readonly lapic?: (options: LapicFactoryOptions) => LocalApic;
}

/** The NIC's slot: the SR-IOV card every guest's VF comes from (default `@exitless/nic`'s 82599). */
export interface NicSlot<N extends NicUnderTest = NicUnderTest> extends NicLayout {
  /** Builds the card in its reset state, as the NIC conformance suite's factory does. */
  readonly factory: (options: NicFactoryOptions) => N;
  /**
   * What stands at the far end of its wire between the wire and the load generators (default
   * `PeerSwitch`: a frame goes to the generator whose MAC it is addressed to): given the wire's
   * far end, it hands each generator its port by MAC.
   */
  readonly peers?: (options: { readonly wire: WirePort; readonly stats: ScopedStats }) => PeerNetwork;
}

/** The far end of a NIC's wire as the load generators see it: a port per generator, by MAC. */
export interface PeerNetwork {
  /** The port of the load generator with MAC address `mac`. */
  port(mac: number): SenderPort;
}

/** Builds an interrupt-virtualization strategy for a mode, given where its counters go. */
export type StrategyBuilder = (mode: string, stats: Stats) => InterruptVirtualization;

/** The host's slot: a KVM-like hypervisor, and the design each mode names. Absent: bare metal. */
export interface HostSlot {
  /** The host's default design (the mode of guests that name none). */
  readonly mode: string;
  /** Builds each mode's strategy, once per mode in use (guests in one mode share it). */
  readonly strategy: StrategyBuilder;
}

/** A guest's slot: which core runs it, which VF it gets, its design and software. */
export interface GuestSlot {
  /** The core its single vCPU is pinned to (one vCPU per core). */
  readonly core: number;
  /** The NIC its VF comes from (default 0). */
  readonly nic?: number;
  /** The VF assigned to it (bare metal: the VF its OS drives). */
  readonly vf: number;
  /** Its design, under a host (default the host's `mode`). */
  readonly mode?: string;
  /** Its RAM, MiB. */
  readonly memoryMiB: number;
  /** How its kernel drives its LAPIC. */
  readonly apicMode: 'xapic' | 'x2apic';
  /** A fixed interrupt moderation interval for its driver, µs, or null (ixgbevf's dynamic throttling). */
  readonly interruptIntervalUs: number | null;
  /** Its software (default `@exitless/guest`'s kernel running its workload's application). */
  readonly software?: GuestSoftware;
  /** Its workload (default the board's `workload`), with its own load generator. */
  readonly workload?: string | Workload;
}

/**
 * A machine as parts in typed slots — cores, memory, IOMMU, NIC, the wire and its peers, the
 * host and the guests — each a factory typed by its part's interface, so that anything that
 * passes the part's conformance suite plugs in. `new Board(spec)` assembles it; `Machine`
 * is the paper's default machine on this API (see `paperMachine`).
 */
export interface BoardSpec<N extends NicUnderTest = NicUnderTest> {
  /** The calibration profile every part's costs come from. */
  readonly profile: CalibrationProfile;
  /** The seed every random stream derives from. */
  readonly seed: number;
  /** How the periodic sources start (default 'seeded'). */
  readonly phases?: PhaseMode;
  /** Where the CPUs, the PCIe link and the interrupt bus report spans and instants. */
  readonly tracer?: Tracer;
  /** Physical memory, MiB. */
  readonly memoryMiB: number;
  /** Where the board maps the IOMMU's registers and the VFs' BARs (default DEFAULT_ADDRESS_MAP, field by field). */
  readonly addresses?: Partial<AddressMap>;
  /**
   * The bus between the local APICs, which the IOMMU's interrupt messages also reach (default
   * `@exitless/lapic`'s `InterruptBus`): any `ApicBus`.
   */
  readonly interruptBus?: (options: InterruptBusFactoryOptions) => ApicBus;
  /** The cores, core i with APIC ID i (core 0 the BSP). */
  readonly cores: readonly CoreSlot[];
  /** The remapping unit: DMA port, MSI target and VT-d register page (default `@exitless/iommu`'s). */
  readonly iommu?: IommuFactory;
  /** The NIC (give this, or `nics`). */
  readonly nic?: NicSlot<N>;
  /**
   * Several NICs, each on its own PCIe link with its own wire and load generators (give this,
   * or `nic`). NIC k is PCI bus 3 + k; its VFs' BARs sit 2 MiB above NIC k − 1's. (Typed by
   * the part's interface alone: the board's `nics` are then `N` as its type parameter says.)
   */
  readonly nics?: readonly NicSlot[];
  /** The host; absent: bare metal (one guest, whose OS owns the machine). */
  readonly host?: HostSlot;
  /** The guests (bare metal: the one OS). */
  readonly guests: readonly GuestSlot[];
  /**
   * The workload every guest runs, with its load generator on the far end of the wire: a
   * built-in one by name (`WORKLOADS`), or a user's own (`Workload`).
   */
  readonly workload: string | Workload;
  /** Knobs of the workload (defaults documented on each). */
  readonly workloadOptions?: WorkloadOptions;
}

/** A VF of the NIC, with its counters when the NIC keeps them (`@exitless/nic`'s does). */
type VfWithCounters = NicVirtualFunctionUnderTest & {
  readonly counters?: {
    readonly interruptsSent: { readonly value: number };
    readonly rxMissed: { readonly value: number };
  };
};

/**
 * The assembled machine: every part, reachable for measurement and tests. Built in one fixed
 * order (memory and buses, cores, IOMMU, PCIe link, NIC and its VFs, wire and peers with each
 * guest's workload, host and VMs, guest software), so that a board is the same machine, event
 * for event, whoever describes it.
 */
export class Board<N extends NicUnderTest = NicUnderTest> {
  /** The spec the board was built from. */
  readonly spec: BoardSpec<N>;
  /** The calibration profile. */
  readonly profile: CalibrationProfile;
  /** The host's default mode, or 'bare-metal'. */
  readonly mode: string;
  /** Each guest's mode. */
  readonly guestModes: readonly string[];
  /** True when the guests' modes were given one by one (the run report then names each). */
  perGuestModes = false;
  /** Guest 0's workload's name (the board's, unless guest 0's slot names its own). */
  readonly workload: string;
  /** Each guest's workload's name. */
  readonly guestWorkloads: readonly string[];
  /** True when the guests' workloads were given one by one (the run report then names each). */
  perGuestWorkloads = false;
  /** The seed. */
  readonly seed: number;
  /** The simulator every part runs on. */
  readonly sim: Simulator;
  /** The statistics registry every part counts in. */
  readonly stats: Stats;
  /** The host-physical memory. */
  readonly memory: SparseMemory;
  /** Routines by host-physical address. */
  readonly code: CodeSpace;
  /** The host-physical address space: RAM and MMIO. */
  readonly bus: PhysicalBus;
  /** The bus between the local APICs (the IOMMU's interrupt messages reach it too). */
  readonly interruptBus: ApicBus;
  /** Where the board placed what it maps (the spec's `addresses` over DEFAULT_ADDRESS_MAP). */
  readonly addresses: AddressMap;
  /** Core 0's local APIC. */
  readonly lapic: LocalApic;
  /** Core 0. */
  readonly cpu: MeasuredCpu;
  /** Every core and its LAPIC (core i runs guest i's vCPU in the default machine). */
  readonly cpus: readonly MeasuredCpu[];
  /** Every core's local APIC (core i's at index i). */
  readonly lapics: readonly LocalApic[];
  /** The remapping unit. */
  readonly iommu: IommuUnderTest;
  /** NIC 0. */
  readonly nic: N;
  /** Every NIC (NIC k on PCI bus 3 + k). */
  readonly nics: readonly N[];
  /** NIC 0's PCIe link: the CPU's stores to its BARs and its MSIs cross it, each way with its latency. */
  readonly pcie: PcieLink;
  /** Each NIC's PCIe link. */
  readonly links: readonly PcieLink[];
  /** Guest 0's VF. */
  readonly vf: ReturnType<N['vf']> & NicVirtualFunctionUnderTest;
  /** Each guest's VF (guest i's at index i). */
  readonly vfs: readonly (ReturnType<N['vf']> & NicVirtualFunctionUnderTest)[];
  /** NIC 0's wire. */
  readonly wire: Wire;
  /** Each NIC's wire to its load generators. */
  readonly wires: readonly Wire[];
  /** Guest i's application, load generator and metrics (index 0 is also `app`, `peer`, `metrics`). */
  readonly instances: readonly GuestInstance[];
  /** netperf TCP_STREAM's remote sender and guest receiver (null for the other workloads). */
  readonly sender: TcpStreamSender | null = null;
  /** netperf TCP_STREAM's guest receiver (null for the other workloads). */
  readonly receiver: NetperfReceiver | null = null;
  /** Guest 0's application. */
  readonly app: GuestApplication;
  /** Guest 0's load generator. */
  readonly peer: {
    /** Starts generating load at simulated time `at`, ps. */
    start(at: number): void;
  };
  /** Where the report finds the workload's throughput and latency. */
  readonly metrics: WorkloadMetrics;
  /** Guest 0's kernel model, or null when its software is a user's. */
  readonly guest: GuestKernel | null;
  /** Every guest's kernel (null where the software is a user's). */
  readonly guests: readonly (GuestKernel | null)[];
  /** Guest 0's software's entry point (guest-physical in a VM). */
  readonly guestEntry: number;
  /** The host, or null on bare metal. */
  readonly hypervisor: Hypervisor | null;
  /** Guest 0's VM, or null on bare metal. */
  readonly vm: Vm | null;
  /** Every VM (guest i's at index i). */
  readonly vms: readonly Vm[];
  /** Why a VM stopped, if one did. */
  stopReason: string | null = null;
  /** How many times the host refused something a guest tried and let it run on (a store to a host-owned page). */
  guestViolations = 0;
  /** The first of those refusals, described (at most 16 are kept; `guestViolations` counts them all). */
  readonly guestViolationLog: string[] = [];
  /** MSIs each VF sent, by requester ID (counted at the links, for a NIC that keeps no counters of its own). */
  private readonly msisByRid = new Map<number, number>();
  private started = false;

  constructor(spec: BoardSpec<N>) {
    this.spec = spec;
    const { profile, seed } = spec;
    checkSpec(spec);
    this.profile = profile;
    this.seed = seed;
    const workloadOf = (g: GuestSlot): string | Workload => g.workload ?? spec.workload;
    const nameOf = (w: string | Workload): string => (typeof w === 'string' ? w : w.name);
    this.guestWorkloads = spec.guests.map((g) => nameOf(workloadOf(g)));
    this.workload = this.guestWorkloads[0]!;
    const host = spec.host;
    this.mode = host?.mode ?? 'bare-metal';
    this.guestModes = spec.guests.map((g) => (host === undefined ? 'bare-metal' : (g.mode ?? host.mode)));
    const pv = (k: string) => profileValue(profile, k);
    const hz = pv('cpu.hz');
    const phases = new StartPhases(seed, spec.phases ?? 'seeded');
    const tracer = spec.tracer;
    const traced = tracer !== undefined ? { tracer } : {};

    const sim = new Simulator();
    this.sim = sim;
    const stats = new Stats(sim);
    this.stats = stats;
    const memory = new SparseMemory(spec.memoryMiB * MIB);
    this.memory = memory;
    const code = new CodeSpace();
    this.code = code;
    const bus = new PhysicalBus(memory);
    this.bus = bus;

    const addresses: AddressMap = { ...DEFAULT_ADDRESS_MAP, ...spec.addresses };
    this.addresses = addresses;
    const busOptions: InterruptBusFactoryOptions = {
      sim,
      ipiLatencyPs: ns(pv('lapic.ipiLatencyNs')),
      stats: stats.scope('apicbus'),
      ...traced,
    };
    const interruptBus =
      spec.interruptBus !== undefined
        ? checkedApicBus(spec.interruptBus(busOptions))
        : new InterruptBus(busOptions);
    this.interruptBus = interruptBus;

    // The cores: a CPU and its LAPIC each.
    const cpus: MeasuredCpu[] = [];
    const lapics: LocalApic[] = [];
    for (const [i, core] of spec.cores.entries()) {
      const lapicOptions = {
        sim,
        bus: interruptBus,
        apicId: i,
        tscHz: hz,
        timerHz: pv('lapic.timerHz'),
        bsp: i === 0,
      };
      const lapic =
        core.lapic !== undefined
          ? checkedLapic(core.lapic(lapicOptions), i)
          : new LocalApicDevice({ ...lapicOptions, stats: stats.scope(`lapic${i}`) });
      lapics.push(lapic);
      const cpuOptions: CpuOptions = {
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
        ...traced,
      };
      const cpu = core.cpu !== undefined ? checkedCpu(core.cpu(cpuOptions), i) : new Cpu(cpuOptions);
      cpus.push(cpu);
    }
    this.cpus = cpus;
    this.lapics = lapics;
    this.lapic = lapics[0]!;
    this.cpu = cpus[0]!;

    // The remapping unit, its register page at the DMAR's base.
    const iommuFactory = spec.iommu ?? defaultIommu(profile);
    this.iommu = iommuFactory({ memory, interruptSink: interruptBus, sim, stats: stats.scope('iommu') });
    bus.map('iommu', addresses.iommuRegisters, 0x1000, this.iommu);

    // Each card on its own PCIe link, shared by its PF and VFs: stores to their BARs are posted
    // writes that reach the NIC a downstream traversal later, and its MSIs reach the IOMMU an
    // upstream traversal later, each direction in order. Each card has its own wire.
    const nicSlots: readonly NicSlot<N>[] = (spec.nics as readonly NicSlot<N>[] | undefined) ?? [spec.nic!];
    const scoped = (base: string, k: number) => (k === 0 ? base : `${base}${k}`);
    const nics: N[] = [];
    const links: PcieLink[] = [];
    const wires: Wire[] = [];
    const vfsByNic: NicVirtualFunctionUnderTest[][] = [];
    const msixBarsByNic: MmioDevice[][] = [];
    for (const [k, slot] of nicSlots.entries()) {
      const pcie = new PcieLink({
        sim,
        timing: {
          postedWritePs: ns(slot.link?.postedWriteNs ?? pv('pcie.postedWriteNs')),
          msiPs: ns(slot.link?.msiNs ?? pv('pcie.msiNs')),
        },
        upstream: this.iommu,
        stats: stats.scope(scoped('pcie', k)),
        ...traced,
      });
      links.push(pcie);
      // The NIC's MSIs go up the link; the board counts each VF's on the way (for a NIC of a
      // user's that keeps no counters of its own).
      const msiSink = {
        msiWrite: (address: number, data: number, requesterId: number) => {
          this.msisByRid.set(requesterId, (this.msisByRid.get(requesterId) ?? 0) + 1);
          pcie.msiWrite(address, data, requesterId);
        },
      };
      const nic = slot.factory({
        sim,
        dma: this.iommu,
        msi: msiSink,
        requesterId: PF_RID + k * 0x100,
        macAddress: PF_MAC + k * 0x1_0000,
        timing: {
          dmaReadLatencyPs: ns(pv('nic.dmaReadLatencyNs')),
          dmaWriteLatencyPs: ns(pv('nic.dmaWriteLatencyNs')),
          dmaReadPsPerByte: ns(pv('nic.dmaReadPerByteNs')),
          dmaWritePsPerByte: ns(pv('nic.dmaWritePerByteNs')),
        },
        stats: stats.scope(scoped('nic', k)),
      });
      nics.push(nic);
      const vfs = enableVfs(
        nic,
        slot.vfs,
        addresses.vfBar0 + k * addresses.nicStride,
        addresses.vfBar3 + k * addresses.nicStride,
        addresses.nicStride,
      );
      vfsByNic.push(vfs);
      // Each VF's BARs as the CPUs reach them: through the link.
      const msixBars: MmioDevice[] = [];
      for (const [i, vf] of vfs.entries()) {
        const msixBar = pcie.attach(vf.msixBar);
        msixBars.push(msixBar);
        const name = k === 0 ? `vf${i}` : `nic${k}-vf${i}`;
        bus.map(`${name}-bar0`, nic.vfBarAddress(i, 0), nic.vfBarSize(0), pcie.attach(vf.registers));
        bus.map(`${name}-bar3`, nic.vfBarAddress(i, 3), nic.vfBarSize(3), msixBar);
      }
      msixBarsByNic.push(msixBars);
      const wire = new Wire(
        sim,
        {
          bitsPerSecond: slot.wire?.bitsPerSecond ?? pv('nic.lineRate'),
          latencyPs: ns(slot.wire?.latencyNs ?? pv('nic.linkLatencyNs')),
        },
        { maxFrameBytes: 1518, framesInFlight: 4096 },
        stats.scope(scoped('wire', k)),
      );
      wires.push(wire);
      nic.connect(wire.a);
    }
    this.nics = nics;
    this.nic = nics[0]!;
    this.links = links;
    this.pcie = links[0]!;
    this.wires = wires;
    this.wire = wires[0]!;
    const nicOf = (g: GuestSlot): number => g.nic ?? 0;
    this.vfs = spec.guests.map((g) => vfsByNic[nicOf(g)]![g.vf]!) as (ReturnType<N['vf']> &
      NicVirtualFunctionUnderTest)[];
    this.vf = this.vfs[0]!;

    const tcpOptions = {
      receiveBuffer: pv('guest.tcpReceiveBuffer'),
      windowScale: pv('guest.tcpWindowScale'),
      mss: 1448,
      delayedAckPs: Math.round(pv('guest.tcpDelayedAckMs') * 1e9),
    };
    // The far end of each wire: one load generator per guest, behind a switch that hands each
    // the frames addressed to its MAC.
    const switches: PeerNetwork[] = wires.map((w, k) => {
      const scope = stats.scope(scoped('peers', k));
      const make = nicSlots[k]!.peers;
      return make !== undefined ? make({ wire: w.b, stats: scope }) : new PeerSwitch(w.b, scope);
    });
    const instances: GuestInstance[] = [];
    for (const [i, g] of spec.guests.entries()) {
      const workload = workloadOf(g);
      const context: WorkloadContext = {
        workload: this.guestWorkloads[i]!,
        options: spec.workloadOptions ?? {},
        profile,
        sim,
        stats,
        seed,
        index: i,
        port: switches[nicOf(g)]!.port(PEER_MAC + i),
        guest: { mac: this.vfs[i]!.mac, ip: GUEST_IP + i },
        peer: { mac: PEER_MAC + i, ip: PEER_IP + i },
        tcp: tcpOptions,
        // The load generator's machine runs the guest's Linux: its tick has the guest's period.
        peerTickPhasePs: phases.draw(`peer-tick.peer${i}`, Math.round(1e12 / pv('guest.hz'))),
      };
      const built =
        typeof workload === 'string'
          ? buildWorkload(context)
          : { ...workload.build(context), sender: null, receiver: null };
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

    // The host, and a VM per guest with its VF assigned.
    let hypervisor: Hypervisor | null = null;
    const vms: Vm[] = [];
    const offersPvEoi: boolean[] = [];
    if (host !== undefined) {
      // One strategy per mode in use (guests in the same mode share it; it keeps per-vCPU state).
      const byMode = new Map<string, InterruptVirtualization>();
      const strategyFor = (m: string): InterruptVirtualization => {
        let s = byMode.get(m);
        if (s === undefined) {
          s = host.strategy(m, stats);
          byMode.set(m, s);
        }
        return s;
      };
      const strategy = strategyFor(host.mode);
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
      for (const [i, g] of spec.guests.entries()) {
        const vf = this.vfs[i]!;
        const nic = nics[nicOf(g)]!;
        checkGuestBars(addresses, nic.vfBarSize(0), nic.vfBarSize(3));
        const guestStrategy = strategyFor(this.guestModes[i]!);
        offersPvEoi.push(guestStrategy instanceof PvEoiStrategy);
        const vm = hypervisor.createVm(
          { name: `guest${i}`, memorySize: g.memoryMiB * MIB, apicMode: g.apicMode },
          g.core,
          [
            {
              requesterId: vf.requesterId,
              hostBar0: nic.vfBarAddress(g.vf, 0),
              bar0Size: nic.vfBarSize(0),
              hostBar3: nic.vfBarAddress(g.vf, 3),
              bar3Size: nic.vfBarSize(3),
              msix: msixBarsByNic[nicOf(g)]![g.vf]!,
              guestBar0: addresses.guestBar0,
              guestBar3: addresses.guestBar3,
              vectors: msixTableSize(vf),
            },
          ],
          guestStrategy,
        );
        // VFIO's device assignment: each VF's DMA goes through a domain that maps its guest's RAM.
        const domain = dmar.createDomain(i + 1);
        dmar.attachDevice(vf.requesterId, domain);
        dmar.map(domain, 0, vm.hostBase, g.memoryMiB * MIB, { read: true, write: true }, 2_097_152);
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

    // Each guest's software: the guest kernel running the workload's application, or a user's.
    const kernels: (GuestKernel | null)[] = [];
    const entries: number[] = [];
    for (const [i, g] of spec.guests.entries()) {
      const vm = vms[i];
      // Bare metal: the OS owns the machine; VT-d stays off (DMA and MSIs pass through).
      const guestMemory: PhysicalMemory =
        vm !== undefined ? vm.memory : new MemoryWindow(memory, 0, g.memoryMiB * MIB);
      const base = vm !== undefined ? vm.hostBase : 0;
      const register = (address: number, routine: Routine) => code.register(base + address, routine);
      const nic = nics[nicOf(g)]!;
      const bar0 = vm !== undefined ? addresses.guestBar0 : nic.vfBarAddress(g.vf, 0);
      const bar3 = vm !== undefined ? addresses.guestBar3 : nic.vfBarAddress(g.vf, 3);
      if (g.software !== undefined) {
        kernels.push(null);
        entries.push(
          checkedGuestEntry(
            g.software({
              memory: guestMemory,
              registerCode: register,
              apicMode: g.apicMode,
              nicBar0: bar0,
              nicBar3: bar3,
              vfMac: this.vfs[i]!.mac,
            }),
            g.memoryMiB * MIB,
          ),
        );
      } else {
        const kernel = new GuestKernel({
          name: `guest${i}`,
          memory: guestMemory,
          registerCode: register,
          apicMode: g.apicMode,
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
            throttling: guestThrottling(profile, g.interruptIntervalUs),
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

  /** MSIs guest `i`'s VF has sent (the NIC's own counter where it keeps one; else counted at the link). */
  vfInterruptsSent(i: number): number {
    const vf = this.vfs[i] as VfWithCounters | undefined;
    if (vf?.counters !== undefined) return vf.counters.interruptsSent.value;
    return vf === undefined ? 0 : (this.msisByRid.get(vf.requesterId) ?? 0);
  }

  /** Frames guest `i`'s VF dropped for want of a receive descriptor (0 for a NIC that keeps no such counter). */
  vfRxMissed(i: number): number {
    const vf = this.vfs[i] as VfWithCounters | undefined;
    return vf?.counters?.rxMissed.value ?? 0;
  }

  /** Starts the CPUs at their reset entries (the host kernel, or the bare-metal OS), and the load generators. */
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

/** `@exitless/iommu`'s VT-d model, its costs from the profile. */
export function defaultIommu(profile: CalibrationProfile): IommuFactory {
  const pv = (k: string) => profileValue(profile, k);
  return ({ memory, interruptSink, sim, stats }) =>
    new Iommu({
      memory,
      interruptSink,
      stats,
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
}

/** A bare-metal board's memory, MiB: the platform's and the OS's RAM. */
export function bareMetalMemoryMiB(osMiB: number): number {
  return BARE_METAL_PLATFORM_MIB + osMiB;
}

/** A workload slot's value: a built-in workload's name, or a Workload. */
function checkWorkload(where: string, w: unknown): void {
  const ok =
    typeof w === 'string'
      ? WORKLOADS.includes(w)
      : typeof w === 'object' &&
        w !== null &&
        typeof (w as Workload).build === 'function' &&
        typeof (w as Workload).name === 'string';
  if (!ok) {
    throw new MachineConfigError(
      `${where} must be one of ${WORKLOADS.join(', ')}, or a Workload ({ name, build(context) }), got ${typeof w === 'string' ? `'${w}'` : typeof w}`,
    );
  }
}

/** Checks what the assembly relies on: one vCPU per core, a VF per guest, one OS on bare metal. Throws a MachineConfigError naming the slot. */
function checkSpec(spec: BoardSpec): void {
  checkWorkload('workload', spec.workload);
  for (const [i, g] of spec.guests.entries())
    if (g.workload !== undefined) checkWorkload(`guests[${i}].workload`, g.workload);
  if (spec.cores.length === 0) throw new MachineConfigError('cores: a board needs at least one core');
  if (spec.guests.length === 0)
    throw new MachineConfigError('guests: a board needs at least one guest (or, bare metal, its OS)');
  if ((spec.nic === undefined) === (spec.nics === undefined)) {
    throw new MachineConfigError('give the board its NIC: nic, or nics for several (not both)');
  }
  const nicSlots = spec.nics ?? [spec.nic!];
  if (nicSlots.length === 0 || nicSlots.length > MAX_NICS) {
    throw new MachineConfigError(`nics must list 1 to ${MAX_NICS} NICs, got ${nicSlots.length}`);
  }
  for (const [k, slot] of nicSlots.entries())
    checkNicLayout(spec.nics !== undefined ? `nics[${k}]` : 'nic', slot);
  if (spec.host === undefined && spec.guests.length !== 1) {
    throw new MachineConfigError('bare metal runs one OS: give one guest, or a host');
  }
  checkAddresses(spec.addresses, {
    nics: nicSlots.length,
    virtualized: spec.host !== undefined,
    guestMemoryMiB: spec.guests.map((g) => g.memoryMiB),
  });
  const cores = new Set<number>();
  const vfs = new Set<number>();
  for (const [i, g] of spec.guests.entries()) {
    if (!(Number.isInteger(g.core) && g.core >= 0 && g.core < spec.cores.length)) {
      throw new MachineConfigError(
        `guests[${i}].core must be a core of the board, 0 to ${spec.cores.length - 1}, got ${g.core}`,
      );
    }
    if (cores.has(g.core)) {
      throw new MachineConfigError(`guests[${i}].core ${g.core} already runs a guest (one vCPU per core)`);
    }
    cores.add(g.core);
    const nic = g.nic ?? 0;
    if (!(Number.isInteger(nic) && nic >= 0 && nic < nicSlots.length)) {
      throw new MachineConfigError(
        `guests[${i}].nic must be one of the board's NICs, 0 to ${nicSlots.length - 1}, got ${nic}`,
      );
    }
    const count = nicSlots[nic]!.vfs;
    if (!(Number.isInteger(g.vf) && g.vf >= 0 && g.vf < count)) {
      throw new MachineConfigError(
        `guests[${i}].vf must be one of NIC ${nic}'s VFs, 0 to ${count - 1}, got ${g.vf}`,
      );
    }
    const key = nic * 64 + g.vf;
    if (vfs.has(key))
      throw new MachineConfigError(
        `guests[${i}].vf ${g.vf} of NIC ${nic} is already assigned to another guest`,
      );
    vfs.add(key);
    if (g.core !== i && spec.host !== undefined) {
      throw new MachineConfigError(`guests[${i}].core must be ${i}: the host pins guest i's vCPU to core i`);
    }
  }
}

/** The offset of a PCI function's MSI-X capability (PCI 3.0 §6.8.2), found by walking its capability list. */
function msixCapability(fn: NicVirtualFunctionUnderTest): number {
  const at = findCapability(fn, PCI_CAP_ID.MSIX);
  if (at === 0) throw new MachineConfigError(`VF ${fn.requesterId.toString(16)} has no MSI-X capability`);
  return at;
}

/** The MSI-X table size of a PCI function: Message Control's Table Size (bits 10:0, N − 1; PCI 3.0 §6.8.2.3). */
function msixTableSize(fn: NicVirtualFunctionUnderTest): number {
  return (fn.configRead(msixCapability(fn) + MSIX_CAP.MESSAGE_CONTROL, 2) & 0x7ff) + 1;
}

/** What the host's PF driver and VFIO do before the guests start: VFs on, BARs placed, bus mastering and MSI-X on. */
function enableVfs<N extends NicUnderTest>(
  nic: N,
  count: number,
  bar0: number,
  bar3: number,
  stride: number,
): NicVirtualFunctionUnderTest[] {
  const pf = nic.pf;
  pf.configWrite(PCI_CFG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE | PCI_COMMAND.BUS_MASTER);
  const cap = findExtendedCapability(pf, PCI_EXT_CAP_ID.SRIOV);
  if (cap === 0) throw new MachineConfigError('the NIC’s PF has no SR-IOV extended capability');
  pf.configWrite(cap + SRIOV_CAP.VF_BAR0, 4, bar0);
  pf.configWrite(cap + SRIOV_CAP.VF_BAR0 + 4, 4, 0);
  pf.configWrite(cap + SRIOV_CAP.VF_BAR0 + 12, 4, bar3);
  pf.configWrite(cap + SRIOV_CAP.VF_BAR0 + 16, 4, 0);
  pf.configWrite(cap + SRIOV_CAP.NUM_VFS, 2, count);
  pf.configWrite(cap + SRIOV_CAP.CONTROL, 2, SRIOV_CONTROL.VF_ENABLE | SRIOV_CONTROL.VF_MSE);
  const vfs: NicVirtualFunctionUnderTest[] = [];
  for (let i = 0; i < count; i++) {
    const vf = nic.vf(i);
    if (vf === undefined) throw new MachineConfigError(`the NIC created no VF ${i}`);
    vf.configWrite(PCI_CFG.COMMAND, 2, PCI_COMMAND.BUS_MASTER);
    vf.configWrite(msixCapability(vf) + MSIX_CAP.MESSAGE_CONTROL, 2, MSIX_CONTROL.ENABLE);
    vfs.push(vf);
  }
  if (nic.vfBarAddress(0, 0) !== bar0 || nic.vfBarAddress(0, 3) !== bar3) {
    throw new MachineConfigError('the VF BARs did not land where the machine placed them');
  }
  if (nic.vfBarSize(0) * count > stride || nic.vfBarSize(3) * count > stride) {
    throw new MachineConfigError(
      `the NIC's ${count} VFs need more than the ${stride / 1024} KiB of address space the board gives each NIC's VF BARs (addresses.nicStride)`,
    );
  }
  return vfs;
}
