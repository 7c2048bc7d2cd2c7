import type { InterruptRemappingTable } from '@exitless/iommu';
import { InterruptBus } from '@exitless/lapic';
import type { Counter, ScopedStats, Simulator } from '@exitless/sim';
import {
  type CodeSpace,
  type CpuContext,
  DELIVERY_MODE,
  ENTRY_CONTROLS,
  EXCEPTION,
  encodeIdtGate,
  encodeIdtr,
  IDT_GATE_SIZE,
  INTR_INFO,
  type InterruptMessageSink,
  interruptGate,
  makeInterruptMessage,
  type PhysicalMemory,
  PROC_BASED,
  PROC_BASED2,
  RFLAGS,
  type Routine,
  UserError,
  VMCS_FIELD,
} from '@exitless/x86';
import { KVM_MIN_TIMER_PERIOD_US } from './apic-timer.js';
import type { HostCosts } from './costs.js';
import { ExitHandlers } from './exits.js';
import { type HaltPollOptions, haltPollOptionsProblem } from './halt-poll.js';
import { HostIrqRoutine } from './host-irq.js';
import { HostMainRoutine } from './host-loop.js';
import type { HrTimer } from './hrtimer.js';
import { HOST_LAYOUT, HOST_VECTOR } from './layout.js';
import { type PcpuCounters, PcpuState } from './pcpu.js';
import type { InterruptVirtualization } from './strategy.js';
import { Vcpu } from './vcpu.js';
import { AssignedFunction, type AssignedFunctionConfig, Vm, type VmConfig } from './vm.js';

/** How an assigned device's interrupt reaches the virtual LAPIC (see `HypervisorOptions.assignedInterruptPath`). */
export type AssignedInterruptPath = 'irq-thread' | 'hard-irq';

/** Thrown when a hypervisor is configured wrong. */
export class HypervisorConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'HypervisorConfigError';
  }
}

/** One physical CPU the host kernel runs on. */
export interface HostCpu {
  /** Index (matches the CPU's id). */
  readonly index: number;
  /** The CPU's local APIC ID. */
  readonly apicId: number;
  /**
   * Where in its period this CPU's tick falls, ps, in [0, period): the tick fires at
   * tickPhasePs + k·period (default 0: at every multiple of the period). The machine draws it
   * from the seed, so that a run is not one fixed alignment of the host tick with everything else.
   */
  readonly tickPhasePs?: number;
}

/** Options of a {@link Hypervisor}. */
export interface HypervisorOptions {
  /** The simulator the host runs on. */
  readonly sim: Simulator;
  /** Host-physical memory. */
  readonly memory: PhysicalMemory;
  /** The machine's code space (routines by host-physical address). */
  readonly code: CodeSpace;
  /** The physical CPUs the host kernel runs on, one vCPU run loop each. */
  readonly cpus: readonly HostCpu[];
  /** TSC frequency (the core clock on Nehalem's invariant TSC), Hz. */
  readonly tscHz: number;
  /** The emulated LAPIC timer's input clock, Hz (the bus clock the guest believes in). */
  readonly virtualApicTimerHz: number;
  /** The host kernel's scheduler tick, Hz. */
  readonly hostHz: number;
  /**
   * The shortest period the host lets a guest's periodic LAPIC timer have, µs: KVM's
   * `min_timer_period_us` module parameter (default 200).
   */
  readonly minTimerPeriodUs?: number;
  /**
   * How an assigned device's interrupt reaches the virtual LAPIC (default `irq-thread`):
   * - `irq-thread`: KVM's device assignment of Linux 2.6.36–3.x (virt/kvm/assigned-dev.c,
   *   request_threaded_irq): the hard IRQ wakes the interrupt's kernel thread, which calls
   *   kvm_set_irq after a context switch.
   * - `hard-irq`: VFIO with an irqfd, as in Linux 4.x–5.x: vfio_msihandler signals the
   *   eventfd, and irqfd_wakeup delivers the MSI from the hard IRQ itself
   *   (kvm_arch_set_irq_inatomic), with no thread and no switch.
   */
  readonly assignedInterruptPath?: AssignedInterruptPath;
  /** KVM's halt polling (Linux 4.0+; see halt-poll.ts); default none, as in KVM before 4.0. */
  readonly haltPoll?: HaltPollOptions;
  /** The host's software costs, cycles ({@link HostCosts}). */
  readonly costs: HostCosts;
  /** The interrupt-virtualization design of VMs that do not name their own. */
  readonly strategy: InterruptVirtualization;
  /** The interrupt-remapping table the host programs for assigned devices. */
  readonly interruptRemapping: InterruptRemappingTable;
  /**
   * The physical interrupt bus, for the host's own device interrupts (`hostDeviceInterrupt`).
   * Absent: the host has no devices of its own to route.
   */
  readonly interruptBus?: InterruptMessageSink;
  /** True when IRTEs hold x2APIC destination IDs (IRTA.EIME). */
  readonly x2apicInterruptRemapping: boolean;
  /** Where the host's counters go. */
  readonly stats: ScopedStats;
  /** Called when a VM is stopped (an unexpected exit, a failed entry). */
  readonly onVmStopped?: (vm: Vm, reason: string) => void;
  /** Called when the host refuses something a guest tried (a store to a host-owned page); the VM runs on. */
  readonly onGuestViolation?: (vm: Vm, what: string) => void;
}

/**
 * A KVM-like host: a host kernel on each physical CPU (its own IDT, handlers, tick and
 * EOIs, in x2APIC mode), VMs with guest-physical memory windows, a vCPU run loop per
 * physical CPU that enters the guest, dispatches every exit the CPU can raise to a
 * handler, and emulates the virtual LAPIC, the MSI-X table of assigned functions and the
 * LAPIC timer. An interrupt-virtualization strategy decides the controls, the injections
 * and its own exits. An exit nobody expected stops that VM with a report.
 */
export class Hypervisor {
  /** The options the hypervisor was made with. */
  readonly options: HypervisorOptions;
  /** The host's software costs, cycles. */
  readonly costs: HostCosts;
  /** The default interrupt-virtualization design (a VM may carry its own). */
  readonly strategy: InterruptVirtualization;
  /** The VMs created so far. */
  readonly vms: Vm[] = [];
  /** Every VM's vCPUs, in creation order. */
  readonly vcpus: Vcpu[] = [];
  private readonly pcpus: PcpuState[];
  private readonly entries: number[];
  private readonly handlers: {
    readonly timer: number;
    readonly spurious: number;
    readonly unexpected: number;
    readonly assigned: number;
    readonly strategy: number;
    readonly nmi: number;
  };
  /** Vectors some VM's design claims (`hostVectors`): their host gates go to the dispatcher. */
  private readonly claimedVectors = new Uint8Array(256);
  /** How many times the host's handler ran for each vector (a host device's interrupt taken through an NMI included). */
  readonly handledVectors: Uint32Array = new Uint32Array(256);
  private readonly hostDeviceMsg = makeInterruptMessage();
  private nextGuestBase: number = HOST_LAYOUT.GUEST_MEMORY_BASE;
  private nextIrte = 0;
  private readonly exits: ExitHandlers;
  private readonly hostInterrupts: Counter;
  private readonly assignedInterrupts: Counter;
  private readonly stoppedVms: Counter;
  private readonly stoppedVmEois: Counter;

  constructor(options: HypervisorOptions) {
    this.options = options;
    this.costs = options.costs;
    this.strategy = options.strategy;
    if (options.cpus.length === 0) throw new HypervisorConfigError('the host needs at least one CPU');
    if (!(options.hostHz > 0))
      throw new HypervisorConfigError(`hostHz must be positive, got ${options.hostHz}`);
    const minPeriod = options.minTimerPeriodUs;
    if (minPeriod !== undefined && !(Number.isFinite(minPeriod) && minPeriod > 0)) {
      throw new HypervisorConfigError(
        `minTimerPeriodUs must be a positive number of µs (KVM's min_timer_period_us; default ${KVM_MIN_TIMER_PERIOD_US}), got ${minPeriod}`,
      );
    }
    const path = options.assignedInterruptPath;
    if (path !== undefined && path !== 'irq-thread' && path !== 'hard-irq') {
      throw new HypervisorConfigError(
        `assignedInterruptPath must be 'irq-thread' (KVM device assignment, Linux 2.6.36–3.x) or 'hard-irq' (VFIO with an irqfd, 4.x–5.x), got ${String(path)}`,
      );
    }
    const pollProblem = options.haltPoll === undefined ? null : haltPollOptionsProblem(options.haltPoll);
    if (pollProblem !== null) throw new HypervisorConfigError(pollProblem);
    const s = options.stats;
    const unexpectedExits = s.counter('unexpected-exits');
    this.hostInterrupts = s.counter('host-interrupts');
    this.assignedInterrupts = s.counter('assigned-interrupts');
    this.stoppedVms = s.counter('stopped-vms');
    this.stoppedVmEois = s.counter('stopped-vm-eois');
    this.exits = new ExitHandlers({
      costs: options.costs,
      strategy: options.strategy,
      stats: s,
      unexpectedExits,
      stop: (vcpu, reason) => this.stop(vcpu, reason),
      onGuestViolation: options.onGuestViolation,
    });
    const tickPeriod = Math.round(1e12 / options.hostHz);
    for (const c of options.cpus) {
      const phase = c.tickPhasePs;
      if (phase !== undefined && !(Number.isInteger(phase) && phase >= 0 && phase < tickPeriod)) {
        throw new HypervisorConfigError(
          `cpus[${c.index}].tickPhasePs must be an integer number of ps in [0, ${tickPeriod}) (the tick's period), got ${phase}`,
        );
      }
    }
    this.pcpus = options.cpus.map(
      (c) =>
        new PcpuState(options.hostHz, c.tickPhasePs ?? 0, options.costs.hostTick, s.scope(`pcpu${c.index}`)),
    );

    let next: number = HOST_LAYOUT.CODE_BASE;
    const place = (r: Routine): number => {
      const at = next;
      next += HOST_LAYOUT.CODE_STRIDE;
      options.code.register(at, r);
      return at;
    };
    this.entries = options.cpus.map((c) => place(new HostMainRoutine(this, c.index)));
    const simple = (_cpu: CpuContext, vector: number) => {
      this.hostInterrupts.inc();
      this.handledVectors[vector]!++;
      return 0;
    };
    this.handlers = {
      timer: place(
        new HostIrqRoutine(this, 'host_apic_timer_interrupt', (cpu) => this.hostTimer(cpu.id, cpu.now), {
          reprogramTimer: true,
          eoi: true,
        }),
      ),
      spurious: place(
        new HostIrqRoutine(this, 'host_spurious', simple, {
          reprogramTimer: false,
          eoi: 'if-in-service',
          // A real interrupt on the spurious vector: on a core whose maskable interrupts a design
          // gives the guest (did), the guest's own vector 0xFF.
          onInService: (cpu, vector) => {
            const st = this.pcpus[cpu.id]!;
            const strategy = this.strategyOn(st);
            if (strategy.hostVectors?.includes(vector) !== true) return;
            strategy.hostInterrupt?.(cpu.id, vector, st.vcpu, st.vcpu === null ? null : st.strategyState);
          },
        }),
      ),
      unexpected: place(
        new HostIrqRoutine(this, 'host_unexpected_irq', simple, { reprogramTimer: false, eoi: true }),
      ),
      assigned: place(
        new HostIrqRoutine(this, 'vfio_msihandler', (cpu, vector) => this.assignedInterrupt(cpu.id, vector), {
          reprogramTimer: false,
          eoi: true,
        }),
      ),
      // The host's NMI handler: no EOI (an NMI sets no ISR bit, SDM vol. 3 §10.8.1).
      nmi: place(
        new HostIrqRoutine(this, 'host_nmi', (cpu) => this.hostNmi(cpu.id), {
          reprogramTimer: false,
          eoi: false,
        }),
      ),
      // The design's own host vectors (KVM's posted-interrupt notification and wake-up handlers).
      strategy: place(
        new HostIrqRoutine(this, 'strategy_irq', (cpu, vector) => this.strategyInterrupt(cpu.id, vector), {
          reprogramTimer: false,
          eoi: true,
        }),
      ),
    };
    this.claimVectors(options.strategy);
    this.writeHostIdt();
  }

  /** Host-physical address of the host kernel's entry on physical CPU `index` (start the CPU there). */
  entryAddress(index: number): number {
    const e = this.entries[index];
    if (e === undefined) throw new HypervisorConfigError(`no host CPU ${index}`);
    return e;
  }

  private writeHostIdt(): void {
    const gate = new Uint8Array(IDT_GATE_SIZE);
    const mem = this.options.memory;
    for (let v = 0; v < 256; v++) {
      let target = this.handlers.unexpected;
      if (v === EXCEPTION.NMI) target = this.handlers.nmi;
      else if (v === HOST_VECTOR.LOCAL_TIMER) target = this.handlers.timer;
      else if (v === HOST_VECTOR.SPURIOUS) target = this.handlers.spurious;
      // A design's own vectors first: one that delivers assigned interrupts with the guest's
      // vectors (did) allocates no host vectors, and takes the guest's vectors there.
      else if (this.claimedVectors[v] === 1) target = this.handlers.strategy;
      else if (v >= HOST_VECTOR.ASSIGNED_BASE && v < HOST_VECTOR.ASSIGNED_BASE + 32)
        target = this.handlers.assigned;
      encodeIdtGate(interruptGate(target), gate);
      mem.writeBytes(HOST_LAYOUT.IDT_BASE + v * IDT_GATE_SIZE, gate);
    }
    const idtr = new Uint8Array(10);
    encodeIdtr(256 * IDT_GATE_SIZE - 1, BigInt(HOST_LAYOUT.IDT_BASE), idtr);
    mem.writeBytes(HOST_LAYOUT.IDTR_SCRATCH, idtr);
  }

  /** The host handler's address for `vector` (read from the host IDT in memory, as KVM does). */
  hostGateOffset(vector: number): number {
    const mem = this.options.memory;
    const at = HOST_LAYOUT.IDT_BASE + vector * IDT_GATE_SIZE;
    const w0 = mem.read32(at);
    const w1 = mem.read32(at + 4);
    return ((w0 & 0xffff) | (w1 & 0xffff0000)) >>> 0;
  }

  /**
   * Creates a VM with one vCPU pinned to physical CPU `pcpu`, and assigns `functions` to it.
   * The guest kernel's entry (GUEST_RIP) and code are registered by the caller through
   * `registerGuestCode` before the host CPU starts.
   */
  createVm(
    config: VmConfig,
    pcpu: number,
    functions: readonly AssignedFunctionConfig[] = [],
    strategy: InterruptVirtualization = this.strategy,
  ): Vm {
    const mib2 = 2 * 1024 * 1024;
    if (
      !Number.isSafeInteger(config.memorySize) ||
      config.memorySize <= 0 ||
      config.memorySize % mib2 !== 0
    ) {
      throw new HypervisorConfigError(`VM '${config.name}': memorySize must be a positive multiple of 2 MiB`);
    }
    const state = this.pcpus[pcpu];
    if (state === undefined) throw new HypervisorConfigError(`VM '${config.name}': no physical CPU ${pcpu}`);
    if (state.vcpu !== null) {
      throw new HypervisorConfigError(
        `VM '${config.name}': physical CPU ${pcpu} already runs a vCPU (one vCPU per core)`,
      );
    }
    const base = this.nextGuestBase;
    if (base + config.memorySize > this.options.memory.size) {
      throw new HypervisorConfigError(
        `VM '${config.name}': host memory (${this.options.memory.size} bytes) has no room for ${config.memorySize} more bytes at 0x${base.toString(16)}`,
      );
    }
    this.nextGuestBase += config.memorySize;
    const vm = new Vm(config, this.options.memory, base, this.options.tscHz);
    if (config.apicMode === 'xapic') vm.apicAccessPage = HOST_LAYOUT.APIC_ACCESS_PAGE;
    vm.strategyPage = HOST_LAYOUT.STRATEGY_PAGES_BASE + this.vms.length * 4096;
    const s = this.options.stats.scope(config.name.replace(/[^A-Za-z0-9_-]/g, '-'));
    vm.refusedWrites = s.counter('refused-writes');
    const index = this.vcpus.length;
    const cpu = this.options.cpus[pcpu]!;
    const vcpu = new Vcpu({
      id: 0,
      vm,
      pcpu,
      pcpuApicId: cpu.apicId,
      vmcsAddress: HOST_LAYOUT.VMCS_BASE + index * 4096,
      msrBitmapAddress: HOST_LAYOUT.MSR_BITMAP_BASE + index * 4096,
      virtualApicAddress: HOST_LAYOUT.VIRTUAL_APIC_BASE + index * 4096,
      postedDescriptorAddress: HOST_LAYOUT.POSTED_DESCRIPTORS_BASE + index * 64,
      sim: this.options.sim,
      bus: new InterruptBus({ sim: this.options.sim, ipiLatencyPs: 0 }),
      tscHz: this.options.tscHz,
      virtualTimerHz: this.options.virtualApicTimerHz,
      minTimerPeriodPs: Math.round((this.options.minTimerPeriodUs ?? KVM_MIN_TIMER_PERIOD_US) * 1e6),
      stats: s.scope('vcpu0'),
    });
    state.timers.add(vcpu.apic.timer.hrtimer);
    const guestTimer = vcpu.apic.timer.hrtimer;
    vcpu.hostTimers = {
      expiry: (includeGuestTimer) =>
        includeGuestTimer ? state.timers.earliest() : state.timers.earliestExcept(guestTimer),
      run: (now, includeGuestTimer) => this.runHostTimers(pcpu, now, includeGuestTimer ? null : guestTimer),
    };
    state.vcpu = vcpu;
    vcpu.strategy = strategy;
    state.strategyState = strategy.createVcpuState(vcpu);
    // A VM's design with host vectors of its own: the host's gates for them go to the
    // dispatcher, which hands each to the design of the vCPU on the CPU that took it.
    if (this.claimVectors(strategy)) this.writeHostIdt();
    this.vcpus.push(vcpu);
    for (const f of functions) {
      const a = new AssignedFunction({
        config: f,
        irt: this.options.interruptRemapping,
        irteBase: this.nextIrte,
        hostVectorBase: HOST_VECTOR.ASSIGNED_BASE + this.nextIrte,
        destinationApicId: () => cpu.apicId,
        x2apicDestinations: this.options.x2apicInterruptRemapping,
        ...(strategy.postsAssignedInterrupts === true
          ? { postedDescriptor: vcpu.postedDescriptorAddress, guestApicId: vcpu.id }
          : {}),
        ...(strategy.directVector !== undefined
          ? { directVector: (gv: number) => strategy.directVector!(gv), guestApicId: vcpu.id }
          : {}),
        stats: s.scope('assigned'),
      });
      this.nextIrte += f.vectors;
      vm.assigned.push(a);
    }
    this.vms.push(vm);
    return vm;
  }

  // ---- the vCPU loop's pieces ----------------------------------------------------------

  /** The host kernel's state on physical CPU `index`. @internal */
  pcpu(index: number): PcpuState {
    return this.pcpus[index]!;
  }

  /** The counters of physical CPU `index` (IRQ threads, context switches, ticks). */
  pcpuCounters(index: number): PcpuCounters {
    const st = this.pcpus[index];
    if (st === undefined) throw new HypervisorConfigError(`no host CPU ${index}`);
    return st.counters;
  }

  /** The strategy's state for `vcpu` (what its createVcpuState made). */
  strategyState(vcpu: Vcpu): unknown {
    return this.pcpus[vcpu.pcpu]!.strategyState;
  }

  /** VMCLEAR, VMPTRLD and the VMCS fields every design shares; then the strategy's controls. */
  setupVcpu(cpu: CpuContext, vcpu: Vcpu, guestEntry: number): void {
    cpu.vmclear(vcpu.vmcsAddress);
    cpu.vmptrld(vcpu.vmcsAddress);
    cpu.setGuestPhysicalMap(vcpu.vm);
    vcpu.adjustControl = (field, desired) => this.adjustControl(vcpu, field, desired);
    // A 64-bit guest (its IDT holds 16-byte gates): IA-32e mode guest on entry.
    cpu.vmwrite(
      VMCS_FIELD.VM_ENTRY_CONTROLS,
      this.adjustControl(vcpu, VMCS_FIELD.VM_ENTRY_CONTROLS, ENTRY_CONTROLS.IA32E_MODE_GUEST),
    );
    cpu.vmwrite(VMCS_FIELD.GUEST_RIP, guestEntry);
    cpu.vmwrite(VMCS_FIELD.GUEST_RFLAGS, RFLAGS.FIXED1);
    cpu.vmwrite(VMCS_FIELD.GUEST_IDTR_BASE, 0);
    cpu.vmwrite(VMCS_FIELD.GUEST_IDTR_LIMIT, 0xffff);
    cpu.vmwrite(VMCS_FIELD.HOST_IDTR_BASE, HOST_LAYOUT.IDT_BASE);
    cpu.vmwrite(VMCS_FIELD.MSR_BITMAP, vcpu.msrBitmapAddress);
    cpu.vmwrite(VMCS_FIELD.VMCS_LINK_POINTER, 0xffffffffffff);
    if (vcpu.vm.apicAccessPage >= 0) cpu.vmwrite(VMCS_FIELD.APIC_ACCESS_ADDR, vcpu.vm.apicAccessPage);
    // Every MSR access exits unless a design clears its bit (KVM's default for the x2APIC range).
    this.options.memory.fill(vcpu.msrBitmapAddress, 4096, 0xff);
    this.strategyOf(vcpu).configureVcpu(cpu, vcpu, this.pcpus[vcpu.pcpu]!.strategyState);
    // KVM always runs guests with EPT on this generation: guest-physical addresses go
    // through the VM's map (the EPT pointer's role is played by setGuestPhysicalMap).
    const proc = cpu.vmread(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
    cpu.vmwrite(
      VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
      this.adjustControl(
        vcpu,
        VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
        proc | PROC_BASED.ACTIVATE_SECONDARY_CONTROLS,
      ),
    );
    const secondary =
      (proc & PROC_BASED.ACTIVATE_SECONDARY_CONTROLS) !== 0
        ? cpu.vmread(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL)
        : 0;
    cpu.vmwrite(
      VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL,
      this.adjustControl(vcpu, VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL, secondary | PROC_BASED2.ENABLE_EPT),
    );
    cpu.vmwrite(VMCS_FIELD.EPT_POINTER, vcpu.vm.hostBase);
  }

  /**
   * Before an entry: re-delivery of an event the last exit cut (or an exception an exit
   * handler queued) with the strategy's `beforeRedeliveringEntry`, else the strategy's
   * `beforeEntry`; then an emulated read's result in
   * RAX/RDX. When the strategy requests a host MSR access the loop makes it and calls this
   * again (`again`), and the registers are loaded only on the last pass. Returns cycles.
   */
  prepareEntry(cpu: CpuContext, vcpu: Vcpu, again = false): number {
    let cycles = again ? 0 : this.costs.entryPrepare;
    let redelivering = false;
    if (vcpu.pendingEvent !== 0) {
      cpu.vmwrite(VMCS_FIELD.VM_ENTRY_INTR_INFO, vcpu.pendingEvent);
      if ((vcpu.pendingEvent & INTR_INFO.ERROR_CODE_VALID) !== 0) {
        cpu.vmwrite(VMCS_FIELD.VM_ENTRY_EXCEPTION_ERROR_CODE, vcpu.pendingEventError);
      }
      vcpu.pendingEvent = 0;
      redelivering = true;
    }
    const strategy = this.strategyOf(vcpu);
    if (!redelivering || strategy.beforeEveryEntry === true) {
      cycles += strategy.beforeEntry(cpu, vcpu, this.pcpus[vcpu.pcpu]!.strategyState);
      // The strategy asked for an MSR access on the physical CPU before it can decide (ELI
      // reads the physical ISR before an injection): the loop makes it, with interrupts off,
      // and prepares again. The guest's registers are loaded only on the last pass.
      if (vcpu.hostMsrPending) return cycles;
    } else if (strategy.beforeRedeliveringEntry !== undefined) {
      cycles += strategy.beforeRedeliveringEntry(cpu, vcpu, this.pcpus[vcpu.pcpu]!.strategyState);
    }
    if (vcpu.readPending) {
      cpu.rax = vcpu.completeLo;
      cpu.rdx = vcpu.completeHi;
      vcpu.readPending = false;
    }
    return cycles;
  }

  /**
   * Handles the exit that just happened (the exit handlers, the strategy first); returns the
   * cycles of host software it costs. The VM was stopped if `vcpu.stopReason` is set afterwards.
   */
  handleExit(cpu: CpuContext, vcpu: Vcpu): number {
    return this.exits.handle(cpu, vcpu, this.pcpus[vcpu.pcpu]!.strategyState);
  }

  /**
   * Whether physical `vector`, in service on `vcpu`'s CPU, is the VM's: a host vector carrying
   * one of its assigned functions' interrupts — or any vector, for a design that delivers the
   * guest's own vectors through the physical LAPIC (did). @internal
   */
  vmOwnsPhysicalVector(vcpu: Vcpu | null, vector: number): boolean {
    if (vcpu === null) return false;
    if (this.strategyOf(vcpu).directVector !== undefined) return true;
    for (const a of vcpu.vm.assigned) if (a.entryForHostVector(vector) >= 0) return true;
    return false;
  }

  /** Counts an EOI the host made for a stopped VM's vector left in service. @internal */
  noteStoppedVmEoi(): void {
    this.stoppedVmEois.inc();
  }

  /** Stops `vcpu`'s VM with a report (once). */
  private stop(vcpu: Vcpu, reason: string): void {
    if (vcpu.stopReason !== null) return;
    vcpu.stopReason = reason;
    this.stoppedVms.inc();
    this.options.onVmStopped?.(vcpu.vm, reason);
  }

  // ---- host interrupts --------------------------------------------------------------------

  /**
   * A host device's interrupt for physical CPU `pcpu`, with host vector `vector`, sent as the
   * host routed it: a fixed interrupt with that vector to the CPU's APIC — or, for a design
   * that gives the guest every maskable interrupt of its core while it runs
   * (`hostInterruptsAsNmi`, did), the vector recorded for the CPU and an NMI sent instead: the
   * NMI exits the guest (NMI exiting), and the host's NMI handler runs the recorded interrupts.
   */
  hostDeviceInterrupt(pcpu: number, vector: number): void {
    const bus = this.options.interruptBus;
    const cpu = this.options.cpus[pcpu];
    if (bus === undefined)
      throw new HypervisorConfigError('the host has no interrupt bus for its own devices');
    if (cpu === undefined) throw new HypervisorConfigError(`no host CPU ${pcpu}`);
    if (!(Number.isInteger(vector) && vector >= 16 && vector <= 255))
      throw new HypervisorConfigError(`a host device interrupt's vector must be 16–255, got ${vector}`);
    const m = this.hostDeviceMsg;
    const asNmi =
      this.pcpus[pcpu]!.vcpu !== null && this.strategyOn(this.pcpus[pcpu]!).hostInterruptsAsNmi === true;
    if (asNmi) this.pcpus[pcpu]!.recordHostIrq(vector);
    m.vector = asNmi ? 0 : vector;
    m.deliveryMode = asNmi ? DELIVERY_MODE.NMI : DELIVERY_MODE.FIXED;
    m.triggerMode = 0;
    m.level = 1;
    m.destMode = 0;
    m.destination = cpu.apicId;
    m.x2apicDestination = true;
    bus.deliverInterrupt(m);
  }

  /** The host's NMI handler on `pcpu`: the host device interrupts routed to it as NMIs. Returns cycles. */
  private hostNmi(pcpu: number): number {
    const st = this.pcpus[pcpu]!;
    for (let v = st.takeHostIrq(); v >= 0; v = st.takeHostIrq()) {
      this.hostInterrupts.inc();
      this.handledVectors[v]!++;
    }
    return 0;
  }

  /** Whether the guest owns the LAPIC timer of the CPU whose state is `st` (did, its vCPU alive). */
  private guestOwnsTimer(st: PcpuState): boolean {
    return st.vcpu !== null && st.vcpu.stopReason === null && this.strategyOn(st).ownsLapicTimer === true;
  }

  /** The host timer interrupt: run expired hrtimers. Returns cycles. */
  hostTimer(pcpu: number, now: number): number {
    const st = this.pcpus[pcpu]!;
    if (this.guestOwnsTimer(st)) {
      // The core's timer is the guest's (did): its interrupt, taken while the host ran after
      // an exit, is the guest's timer interrupt. The design keeps it for the guest.
      this.hostInterrupts.inc();
      return (
        this.strategyOn(st).hostInterrupt?.(pcpu, HOST_VECTOR.LOCAL_TIMER, st.vcpu, st.strategyState) ?? 0
      );
    }
    this.hostInterrupts.inc();
    this.handledVectors[HOST_VECTOR.LOCAL_TIMER]!++;
    return this.runHostTimers(pcpu, now, null) + this.costs.hrtimerExpire;
  }

  /** Runs the hrtimers of `pcpu` due at `now` (all but `except`, when given). Returns their cycles. */
  runHostTimers(pcpu: number, now: number, except: HrTimer | null): number {
    return this.pcpus[pcpu]!.timers.runExpired(now, except).cycles;
  }

  /** A host interrupt on one of the strategy's `hostVectors`: its handler. Returns cycles. */
  private strategyInterrupt(pcpu: number, vector: number): number {
    const st = this.pcpus[pcpu]!;
    const strategy = this.strategyOn(st);
    if (strategy.hostVectors?.includes(vector) !== true) {
      // Another VM's design claims this vector; on this CPU it is the host's as usual.
      if (vector >= HOST_VECTOR.ASSIGNED_BASE && vector < HOST_VECTOR.ASSIGNED_BASE + 32)
        return this.assignedInterrupt(pcpu, vector);
      this.hostInterrupts.inc();
      this.handledVectors[vector]!++;
      return 0;
    }
    this.hostInterrupts.inc();
    // A design that gives the guest its own vectors (did) takes the guest's interrupts here:
    // those are not the host's own.
    if (strategy.directVector === undefined) this.handledVectors[vector]!++;
    return strategy.hostInterrupt?.(pcpu, vector, st.vcpu, st.vcpu === null ? null : st.strategyState) ?? 0;
  }

  /** The strategy of `vcpu`'s VM. */
  strategyOf(vcpu: Vcpu): InterruptVirtualization {
    return vcpu.strategy ?? this.strategy;
  }

  /** The strategy of the vCPU pinned to the CPU whose state is `st` (the default one when none is). */
  private strategyOn(st: PcpuState): InterruptVirtualization {
    return st.vcpu?.strategy ?? this.strategy;
  }

  /** Marks `strategy`'s host vectors as the dispatcher's; true when one was not yet. */
  private claimVectors(strategy: InterruptVirtualization): boolean {
    let changed = false;
    for (const v of strategy.hostVectors ?? []) {
      if (this.claimedVectors[v] === 1) continue;
      this.claimedVectors[v] = 1;
      changed = true;
    }
    return changed;
  }

  /** Whether the blocked `vcpu` has an interrupt to take (the strategy's view if it has one). @internal */
  vcpuHasInterrupt(vcpu: Vcpu): boolean {
    const strategy = this.strategyOf(vcpu);
    const has = strategy.hasInterrupt;
    if (has === undefined) return vcpu.apic.hasInterrupt();
    return has.call(strategy, vcpu, this.pcpus[vcpu.pcpu]!.strategyState);
  }

  /** The loop is about to block `vcpu` after a HLT exit (the strategy's preBlock). @internal */
  preBlock(vcpu: Vcpu): void {
    this.strategyOf(vcpu).preBlock?.(vcpu, this.pcpus[vcpu.pcpu]!.strategyState);
  }

  /** The host has the CPU while `vcpu` is blocked (the strategy's whileBlocked). @internal */
  whileBlocked(cpu: CpuContext, vcpu: Vcpu): void {
    this.strategyOf(vcpu).whileBlocked?.(cpu, vcpu, this.pcpus[vcpu.pcpu]!.strategyState);
  }

  /** The blocked `vcpu` runs again (the strategy's postBlock). @internal */
  postBlock(vcpu: Vcpu): void {
    this.strategyOf(vcpu).postBlock?.(vcpu, this.pcpus[vcpu.pcpu]!.strategyState);
  }

  /** The vCPU thread of `vcpu` is preempted by an IRQ thread (the strategy's vcpuPut). @internal */
  vcpuPut(vcpu: Vcpu): void {
    this.strategyOf(vcpu).vcpuPut?.(vcpu, this.pcpus[vcpu.pcpu]!.strategyState);
  }

  /** The vCPU thread of `vcpu` runs again after an IRQ thread (the strategy's vcpuLoad). @internal */
  vcpuLoad(vcpu: Vcpu): void {
    this.strategyOf(vcpu).vcpuLoad?.(vcpu, this.pcpus[vcpu.pcpu]!.strategyState);
  }

  /** The TSC-deadline value the host must program next on `pcpu`, or −1 when nothing changed. */
  nextDeadline(pcpu: number): number {
    const st = this.pcpus[pcpu]!;
    if (this.guestOwnsTimer(st)) {
      // The guest owns this core's LAPIC timer (did): the host does not arm it, and arms it
      // again (whatever it last held) once the VM is stopped.
      st.programmedPs = -2;
      return -1;
    }
    const t = st.timers.earliest();
    if (t === st.programmedPs) return -1;
    st.programmedPs = t;
    return t;
  }

  /**
   * An assigned device's interrupt reached the host on `pcpu` with `hostVector`: the hard
   * IRQ's primary handler, which wakes the interrupt's kernel thread (KVM's threaded
   * assigned-device IRQ, virt/kvm/assigned-dev.c of Linux 2.6.36–3.x: IRQ_WAKE_THREAD).
   * The guest learns of the interrupt only when the thread runs (`irqThread`). Returns cycles.
   */
  assignedInterrupt(pcpu: number, hostVector: number): number {
    this.hostInterrupts.inc();
    this.handledVectors[hostVector]!++;
    this.assignedInterrupts.inc();
    // VFIO and an irqfd (Linux 4.x–5.x): the MSI is delivered from the hard IRQ itself.
    if (this.options.assignedInterruptPath === 'hard-irq') {
      return this.costs.assignedHardIrq + this.irqThread(pcpu, hostVector);
    }
    const woke = this.pcpus[pcpu]!.wakeThread(hostVector);
    return this.costs.assignedHardIrq + (woke ? this.costs.irqThreadWake : 0);
  }

  /**
   * An IRQ thread's run for host `hostVector` on `pcpu` (kvm_assigned_dev_thread →
   * kvm_set_irq): the VM's routing gives the guest vector, the strategy sets it pending in
   * the virtual LAPIC (and kicks the vCPU). Returns cycles. @internal
   */
  irqThread(pcpu: number, hostVector: number): number {
    const vcpu = this.pcpus[pcpu]!.vcpu;
    if (vcpu === null || vcpu.stopReason !== null) return this.costs.kvmSetIrq;
    for (const a of vcpu.vm.assigned) {
      const i = a.entryForHostVector(hostVector);
      if (i >= 0) {
        const state = this.pcpus[pcpu]!.strategyState;
        return (
          this.costs.kvmSetIrq + this.strategyOf(vcpu).assignedInterrupt(vcpu, a.guestVectors[i]!, state)
        );
      }
    }
    return this.costs.kvmSetIrq;
  }

  private readonly allowed0 = new Float64Array(5);
  private readonly allowed1 = new Float64Array(5);

  /** Stores a capability MSR's allowed-0 (low half: bits that must be 1) and allowed-1 (high half) settings. @internal */
  recordCapability(index: number, lo: number, hi: number): void {
    this.allowed0[index] = lo >>> 0;
    this.allowed1[index] = hi >>> 0;
  }

  /**
   * A control field's value with the bits the CPU requires set (KVM's adjust_vmx_controls).
   * A design asking for a control the CPU does not allow stops its VM with a report.
   */
  adjustControl(vcpu: Vcpu, field: number, desired: number): number {
    const i = CONTROL_FIELDS.indexOf(field as (typeof CONTROL_FIELDS)[number]);
    if (i < 0) return desired;
    const missing = (desired & ~this.allowed1[i]!) >>> 0;
    if (missing !== 0) {
      this.stop(
        vcpu,
        `the CPU does not allow control bits 0x${missing.toString(16)} of VMCS field 0x${field.toString(16)} (the mode needs them)`,
      );
    }
    return ((desired | this.allowed0[i]!) & this.allowed1[i]!) >>> 0;
  }

  /** Converts a time in ps to the TSC value (cycles at tscHz since time 0). */
  tscAt(ps: number): number {
    return Math.ceil((ps * this.options.tscHz) / 1e12);
  }
}

const CONTROL_FIELDS = [
  VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL,
  VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
  VMCS_FIELD.VM_EXIT_CONTROLS,
  VMCS_FIELD.VM_ENTRY_CONTROLS,
  VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL,
];
