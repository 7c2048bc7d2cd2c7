import type { InterruptRemappingTable } from '@exitless/iommu';
import { InterruptBus } from '@exitless/lapic';
import type { Counter, ScopedStats, Simulator } from '@exitless/sim';
import {
  APIC_BASE_MSR,
  APIC_DEFAULT_BASE,
  APIC_REG,
  type CodeSpace,
  type CpuContext,
  ENTRY_CONTROLS,
  EPT_VIOLATION_QUAL,
  EXIT_REASON,
  EXIT_REASON_ENTRY_FAILURE,
  encodeIdtGate,
  encodeIdtr,
  exitReasonName,
  type Frame,
  IDT_GATE_SIZE,
  INTR_INFO,
  INTR_TYPE,
  interruptGate,
  isX2apicMsr,
  LVT,
  MSR,
  type MsrValue,
  type PhysicalMemory,
  PROC_BASED,
  PROC_BASED2,
  type Routine,
  TIMER_MODE,
  UserError,
  VMCS_FIELD,
  VMX_STATUS,
} from '@exitless/x86';
import type { HostCosts } from './costs.js';
import { HrTimerQueue } from './hrtimer.js';
import { HOST_LAYOUT, HOST_VECTOR } from './layout.js';
import type { InterruptVirtualization } from './strategy.js';
import { KVM_MIN_TIMER_PERIOD_US, Vcpu } from './vcpu.js';
import { AssignedFunction, type AssignedFunctionConfig, Vm, type VmConfig } from './vm.js';

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
  readonly apicId: number;
  /**
   * Where in its period this CPU's tick falls, ps, in [0, period): the tick fires at
   * tickPhasePs + k·period (default 0: at every multiple of the period). The machine draws it
   * from the seed, so that a run is not one fixed alignment of the host tick with everything else.
   */
  readonly tickPhasePs?: number;
}

export interface HypervisorOptions {
  readonly sim: Simulator;
  /** Host-physical memory. */
  readonly memory: PhysicalMemory;
  /** The machine's code space (routines by host-physical address). */
  readonly code: CodeSpace;
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
  readonly costs: HostCosts;
  readonly strategy: InterruptVirtualization;
  /** The interrupt-remapping table the host programs for assigned devices. */
  readonly interruptRemapping: InterruptRemappingTable;
  /** True when IRTEs hold x2APIC destination IDs (IRTA.EIME). */
  readonly x2apicInterruptRemapping: boolean;
  readonly stats: ScopedStats;
  /** Called when a VM is stopped (an unexpected exit, a failed entry). */
  readonly onVmStopped?: (vm: Vm, reason: string) => void;
  /** Called when the host refuses something a guest tried (a store to a host-owned page); the VM runs on. */
  readonly onGuestViolation?: (vm: Vm, what: string) => void;
}

/** Per physical CPU: its hrtimers, the vCPU it runs, and the IRQ threads woken on it. */
class PcpuState {
  readonly timers: HrTimerQueue = new HrTimerQueue();
  vcpu: Vcpu | null = null;
  /** The TSC deadline last written, ps (−1: none). */
  programmedPs = -1;
  readonly tick: { expires: number; readonly name: string; readonly fire: (now: number) => number };
  readonly ticks: Counter;
  /**
   * The IRQ threads woken on this CPU and not yet run, by host vector, in wake order (one
   * thread per assigned interrupt, as request_threaded_irq gives each IRQ its own): a ring
   * of host vectors and a flag per vector (the thread's IRQTF_RUNTHREAD: a second interrupt
   * before the thread runs does not wake it again, and the thread handles it in the same run).
   */
  private readonly threadQueue = new Uint8Array(256);
  private readonly threadWoken = new Uint8Array(256);
  private threadHead = 0;
  private threadCount = 0;
  /** True once the vCPU loop's HLT has put this CPU to sleep in kvm_vcpu_block (a wake-up then costs a switch back). */
  slept = false;
  /** True when the last thing to run before the vCPU thread was an IRQ thread that switched to it. */
  fromThread = false;
  readonly irqThreadRuns: Counter;
  readonly irqThreadWakeups: Counter;
  readonly contextSwitches: Counter;

  constructor(hz: number, phase: number, cost: number, stats: ScopedStats) {
    this.ticks = stats.counter('ticks');
    this.irqThreadRuns = stats.counter('irq-thread-runs');
    this.irqThreadWakeups = stats.counter('irq-thread-wakeups');
    this.contextSwitches = stats.counter('context-switches');
    const period = Math.round(1e12 / hz);
    this.tick = {
      expires: phase > 0 ? phase : period,
      name: 'host-tick',
      fire: (now) => {
        this.ticks.inc();
        this.tick.expires = now + period - ((now - phase) % period);
        return cost;
      },
    };
    this.timers.add(this.tick);
  }

  /** The hard IRQ of host `vector` wakes its thread; false if the thread was already woken. */
  wakeThread(vector: number): boolean {
    if (this.threadWoken[vector] === 1) return false;
    this.threadWoken[vector] = 1;
    this.threadQueue[(this.threadHead + this.threadCount) & 255] = vector;
    this.threadCount++;
    this.irqThreadWakeups.inc();
    return true;
  }

  /** True while an IRQ thread is runnable. */
  get threadsPending(): boolean {
    return this.threadCount > 0;
  }

  /** The next runnable IRQ thread's host vector (its flag cleared: it runs now), or −1. */
  nextThread(): number {
    if (this.threadCount === 0) return -1;
    const v = this.threadQueue[this.threadHead]!;
    this.threadHead = (this.threadHead + 1) & 255;
    this.threadCount--;
    this.threadWoken[v] = 0;
    this.irqThreadRuns.inc();
    return v;
  }
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
  readonly options: HypervisorOptions;
  readonly costs: HostCosts;
  readonly strategy: InterruptVirtualization;
  readonly vms: Vm[] = [];
  readonly vcpus: Vcpu[] = [];
  private readonly pcpus: PcpuState[];
  private readonly entries: number[];
  private readonly handlers: {
    readonly timer: number;
    readonly spurious: number;
    readonly unexpected: number;
    readonly assigned: number;
  };
  private nextGuestBase: number = HOST_LAYOUT.GUEST_MEMORY_BASE;
  private nextIrte = 0;
  private readonly msrScratch: MsrValue = { lo: 0, hi: 0 };
  private readonly exitCounters = new Map<number, Counter>();
  private readonly unexpectedExits: Counter;
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
    const s = options.stats;
    this.unexpectedExits = s.counter('unexpected-exits');
    this.hostInterrupts = s.counter('host-interrupts');
    this.assignedInterrupts = s.counter('assigned-interrupts');
    this.stoppedVms = s.counter('stopped-vms');
    this.stoppedVmEois = s.counter('stopped-vm-eois');
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
    const simple = () => {
      this.hostInterrupts.inc();
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
        new HostIrqRoutine(this, 'host_spurious', simple, { reprogramTimer: false, eoi: false }),
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
    };
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
      if (v === HOST_VECTOR.LOCAL_TIMER) target = this.handlers.timer;
      else if (v === HOST_VECTOR.SPURIOUS) target = this.handlers.spurious;
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
  createVm(config: VmConfig, pcpu: number, functions: readonly AssignedFunctionConfig[] = []): Vm {
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
      sim: this.options.sim,
      bus: new InterruptBus({ sim: this.options.sim, ipiLatencyPs: 0 }),
      tscHz: this.options.tscHz,
      virtualTimerHz: this.options.virtualApicTimerHz,
      minTimerPeriodPs: Math.round((this.options.minTimerPeriodUs ?? KVM_MIN_TIMER_PERIOD_US) * 1e6),
      stats: s.scope('vcpu0'),
      onTimerChange: () => {
        vcpu.timerReprogram = true;
      },
    });
    state.timers.add(vcpu.timer);
    state.vcpu = vcpu;
    this.vcpus.push(vcpu);
    for (const f of functions) {
      const a = new AssignedFunction({
        config: f,
        irt: this.options.interruptRemapping,
        irteBase: this.nextIrte,
        hostVectorBase: HOST_VECTOR.ASSIGNED_BASE + this.nextIrte,
        destinationApicId: () => cpu.apicId,
        x2apicDestinations: this.options.x2apicInterruptRemapping,
        stats: s.scope('assigned'),
      });
      this.nextIrte += f.vectors;
      vm.assigned.push(a);
    }
    this.vms.push(vm);
    return vm;
  }

  // ---- the vCPU loop's pieces ----------------------------------------------------------

  pcpu(index: number): PcpuState {
    return this.pcpus[index]!;
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
    cpu.vmwrite(VMCS_FIELD.GUEST_RFLAGS, 0x2);
    cpu.vmwrite(VMCS_FIELD.GUEST_IDTR_BASE, 0);
    cpu.vmwrite(VMCS_FIELD.GUEST_IDTR_LIMIT, 0xffff);
    cpu.vmwrite(VMCS_FIELD.HOST_IDTR_BASE, HOST_LAYOUT.IDT_BASE);
    cpu.vmwrite(VMCS_FIELD.MSR_BITMAP, vcpu.msrBitmapAddress);
    cpu.vmwrite(VMCS_FIELD.VMCS_LINK_POINTER, 0xffffffffffff);
    if (vcpu.vm.apicAccessPage >= 0) cpu.vmwrite(VMCS_FIELD.APIC_ACCESS_ADDR, vcpu.vm.apicAccessPage);
    // Every MSR access exits unless a design clears its bit (KVM's default for the x2APIC range).
    this.options.memory.fill(vcpu.msrBitmapAddress, 4096, 0xff);
    this.strategy.configureVcpu(cpu, vcpu);
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

  /** Before an entry: the strategy's injections, re-injection of a cut event, and emulation results in RAX/RDX. */
  prepareEntry(cpu: CpuContext, vcpu: Vcpu, again = false): number {
    let cycles = again ? 0 : this.costs.entryPrepare;
    if (vcpu.reinject !== 0) {
      cpu.vmwrite(VMCS_FIELD.VM_ENTRY_INTR_INFO, vcpu.reinject);
      if ((vcpu.reinject & INTR_INFO.ERROR_CODE_VALID) !== 0) {
        cpu.vmwrite(VMCS_FIELD.VM_ENTRY_EXCEPTION_ERROR_CODE, vcpu.reinjectError);
      }
      vcpu.reinject = 0;
    } else {
      cycles += this.strategy.beforeEntry(cpu, vcpu);
      // The strategy asked for an MSR access on the physical CPU before it can decide (ELI
      // reads the physical ISR before an injection): the loop makes it, with interrupts off,
      // and prepares again. The guest's registers are loaded only on the last pass.
      if (vcpu.hostOpKind !== 0) return cycles;
    }
    if (vcpu.completeRax >= 0) {
      cpu.rax = vcpu.completeRax;
      cpu.rdx = vcpu.completeRdx;
      vcpu.completeRax = -1;
    }
    return cycles;
  }

  private countExit(reason: number): void {
    let c = this.exitCounters.get(reason);
    if (c === undefined) {
      c = this.options.stats.counter(`exits-handled.${exitReasonName(reason)}`);
      this.exitCounters.set(reason, c);
    }
    c.inc();
  }

  /**
   * Handles the exit that just happened; returns the cycles of host software it costs, or
   * −1 when the VM was stopped. May leave `vcpu.dispatchVector` for the loop to invoke.
   */
  handleExit(cpu: CpuContext, vcpu: Vcpu): number {
    if (cpu.vmxStatus !== VMX_STATUS.SUCCEED) {
      this.stop(
        vcpu,
        `VM entry failed: VMfail with VM-instruction error ${cpu.vmread(VMCS_FIELD.VM_INSTRUCTION_ERROR)}`,
      );
      return -1;
    }
    vcpu.launched = true;
    const raw = cpu.vmread(VMCS_FIELD.VM_EXIT_REASON);
    const reason = raw & 0xffff;
    if ((raw & EXIT_REASON_ENTRY_FAILURE) !== 0) {
      this.stop(
        vcpu,
        `VM entry failed: exit reason ${exitReasonName(reason)} (${reason}) with the entry-failure bit`,
      );
      return -1;
    }
    this.countExit(reason);
    let cycles = this.costs.exitDispatch;
    const own = this.strategy.handleExit(cpu, vcpu, reason);
    if (own >= 0) return cycles + own;
    this.noteCutEvent(cpu, vcpu);
    switch (reason) {
      case EXIT_REASON.EXTERNAL_INTERRUPT: {
        const info = cpu.vmread(VMCS_FIELD.VM_EXIT_INTR_INFO);
        if ((info & INTR_INFO.VALID) !== 0) vcpu.dispatchVector = info & INTR_INFO.VECTOR_MASK;
        // Without acknowledge-on-exit the interrupt stays pending: the loop's IF = 1 window takes it.
        return cycles + this.costs.externalInterruptExit;
      }
      case EXIT_REASON.INTERRUPT_WINDOW:
        return cycles + this.costs.interruptWindowExit;
      case EXIT_REASON.WRMSR:
        return cycles + this.emulateWrmsr(cpu, vcpu);
      case EXIT_REASON.RDMSR:
        return cycles + this.emulateRdmsr(cpu, vcpu);
      case EXIT_REASON.EPT_VIOLATION:
        cycles += this.emulateEptViolation(cpu, vcpu);
        return vcpu.stopReason === null ? cycles : -1;
      case EXIT_REASON.APIC_ACCESS:
        return cycles + this.emulateApicAccess(cpu, vcpu);
      case EXIT_REASON.HLT:
        vcpu.dispatchVector = 257;
        return cycles + this.costs.haltBlock;
      case EXIT_REASON.VMCALL:
        return cycles + this.costs.vmcall;
      case EXIT_REASON.PREEMPTION_TIMER:
        return cycles + this.costs.otherExit;
      default:
        this.unexpectedExits.inc();
        this.stop(
          vcpu,
          `unexpected VM exit: reason ${exitReasonName(reason)} (${reason}), qualification 0x${cpu
            .vmread(VMCS_FIELD.EXIT_QUALIFICATION)
            .toString(16)}, interruption info 0x${cpu.vmread(VMCS_FIELD.VM_EXIT_INTR_INFO).toString(16)}`,
        );
        return -1;
    }
  }

  /** An exit during delivery of an injected event: put the event back for the next entry (KVM's vmx_complete_interrupts). */
  private noteCutEvent(cpu: CpuContext, vcpu: Vcpu): void {
    const info = cpu.vmread(VMCS_FIELD.IDT_VECTORING_INFO);
    if ((info & INTR_INFO.VALID) === 0) return;
    const type = (info & INTR_INFO.TYPE_MASK) >>> INTR_INFO.TYPE_SHIFT;
    if (
      type === INTR_TYPE.EXTERNAL_INTERRUPT ||
      type === INTR_TYPE.HARDWARE_EXCEPTION ||
      type === INTR_TYPE.NMI
    ) {
      vcpu.reinject = info >>> 0;
      vcpu.reinjectError = cpu.vmread(VMCS_FIELD.IDT_VECTORING_ERROR_CODE);
    }
  }

  private emulateWrmsr(cpu: CpuContext, vcpu: Vcpu): number {
    const index = cpu.rcx >>> 0;
    let cycles = this.costs.msrEmulation;
    if (isX2apicMsr(index) || index === MSR.IA32_APIC_BASE || index === MSR.IA32_TSC_DEADLINE) {
      const eoied = vcpu.writeApicMsr(index, cpu.rax >>> 0, cpu.rdx >>> 0);
      if (eoied === -2) {
        // The virtual x2APIC refused the write: the guest gets #GP(0) (SDM §10.12.1.2).
        vcpu.reinject = 0x80000b0d;
        vcpu.reinjectError = 0;
        return cycles;
      }
      if (index === MSR.X2APIC_EOI && eoied >= 0) {
        cycles += this.costs.eoiEmulation + this.strategy.onVirtualEoi(cpu, vcpu, eoied);
      }
      return cycles;
    }
    // Other MSRs: accepted and ignored (a guest's writes the model does not need).
    return cycles;
  }

  private emulateRdmsr(cpu: CpuContext, vcpu: Vcpu): number {
    const index = cpu.rcx >>> 0;
    const out = this.msrScratch;
    if (isX2apicMsr(index) || index === MSR.IA32_APIC_BASE) {
      if (!vcpu.readApicMsr(index, out)) {
        vcpu.reinject = 0x80000b0d;
        vcpu.reinjectError = 0;
        return this.costs.msrEmulation;
      }
    } else {
      out.lo = 0;
      out.hi = 0;
    }
    vcpu.completeRax = out.lo >>> 0;
    vcpu.completeRdx = out.hi >>> 0;
    return this.costs.msrEmulation;
  }

  private emulateEptViolation(cpu: CpuContext, vcpu: Vcpu): number {
    const gpa = cpu.vmread(VMCS_FIELD.GUEST_PHYSICAL_ADDRESS);
    const qual = cpu.vmread(VMCS_FIELD.EXIT_QUALIFICATION);
    const vm = vcpu.vm;
    const fetch = (qual & EPT_VIOLATION_QUAL.FETCH) !== 0;
    if ((qual & EPT_VIOLATION_QUAL.WRITE) !== 0 && vm.isHostPage(gpa)) {
      // A store to a page the host keeps for itself and maps read-only (ELI's shadow IDT):
      // refused. The store is dropped, the instruction completes (as a write to ROM does),
      // and the attempt is counted and reported; the guest runs on, the page unchanged.
      vm.refusedWrites.inc();
      this.options.onGuestViolation?.(
        vm,
        `store to host-owned read-only guest-physical 0x${gpa.toString(16)} refused (EPT violation, qualification 0x${qual.toString(16)})`,
      );
      return this.costs.mmioEmulation;
    }
    const owner = fetch ? undefined : vm.msixOwner(gpa);
    if (owner !== undefined) {
      if ((qual & EPT_VIOLATION_QUAL.WRITE) !== 0) owner.writeMsix(gpa, cpu.rax >>> 0);
      else {
        vcpu.completeRax = owner.readMsix(gpa) >>> 0;
        vcpu.completeRdx = 0;
      }
      return this.costs.mmioEmulation;
    }
    this.unexpectedExits.inc();
    this.stop(
      vcpu,
      fetch
        ? `EPT violation at guest-physical 0x${gpa.toString(16)} (qualification 0x${qual.toString(16)}): an instruction fetch from ${vm.permissions(gpa) === 0 ? 'an address where nothing is mapped' : 'a page that is not executable'} (KVM cannot emulate it)`
        : `EPT violation at guest-physical 0x${gpa.toString(16)} (qualification 0x${qual.toString(16)}): nothing is mapped there`,
    );
    return 0;
  }

  private emulateApicAccess(cpu: CpuContext, vcpu: Vcpu): number {
    const qual = cpu.vmread(VMCS_FIELD.EXIT_QUALIFICATION);
    const offset = qual & 0xfff;
    const type = (qual >>> 12) & 0xf;
    let cycles = this.costs.mmioEmulation;
    if (type === 1) {
      const eoied = vcpu.writeApicMmio(offset, cpu.rax >>> 0);
      if (offset === APIC_REG.EOI && eoied >= 0) {
        cycles += this.costs.eoiEmulation + this.strategy.onVirtualEoi(cpu, vcpu, eoied);
      }
    } else {
      vcpu.completeRax = vcpu.readApicMmio(offset) >>> 0;
      vcpu.completeRdx = 0;
    }
    return cycles;
  }

  /** Whether host `vector` carries one of the interrupts of a function assigned to `vcpu`'s VM. @internal */
  ownsAssignedVector(vcpu: Vcpu | null, vector: number): boolean {
    if (vcpu === null) return false;
    for (const a of vcpu.vm.assigned) if (a.entryForHostVector(vector) >= 0) return true;
    return false;
  }

  /** Counts an EOI the host made for a stopped VM's vector left in service. @internal */
  noteStoppedVmEoi(): void {
    this.stoppedVmEois.inc();
  }

  private stop(vcpu: Vcpu, reason: string): void {
    if (vcpu.stopReason !== null) return;
    vcpu.stopReason = reason;
    this.stoppedVms.inc();
    this.options.onVmStopped?.(vcpu.vm, reason);
  }

  // ---- host interrupts --------------------------------------------------------------------

  /** The host timer interrupt: run expired hrtimers. Returns cycles. */
  hostTimer(pcpu: number, now: number): number {
    this.hostInterrupts.inc();
    return this.pcpus[pcpu]!.timers.runExpired(now).cycles + this.costs.hrtimerExpire;
  }

  /** The TSC-deadline value the host must program next on `pcpu`, or −1 when nothing changed. */
  nextDeadline(pcpu: number): number {
    const st = this.pcpus[pcpu]!;
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
    this.assignedInterrupts.inc();
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
      if (i >= 0) return this.costs.kvmSetIrq + this.strategy.assignedInterrupt(vcpu, a.guestVectors[i]!);
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

/** WRMSR IA32_TSC_DEADLINE with a TSC value (EDX:EAX). */
function writeDeadline(cpu: CpuContext, tsc: number): void {
  cpu.wrmsr(MSR.IA32_TSC_DEADLINE, (tsc % 4294967296) >>> 0, Math.floor(tsc / 4294967296));
}

/** IA32_VMX_PINBASED_CTLS, _PROCBASED_CTLS, _EXIT_CTLS, _ENTRY_CTLS, _PROCBASED_CTLS2, in the order of CONTROL_FIELDS. */
const CAPABILITY_MSRS = [
  MSR.IA32_VMX_PINBASED_CTLS,
  MSR.IA32_VMX_PROCBASED_CTLS,
  MSR.IA32_VMX_EXIT_CTLS,
  MSR.IA32_VMX_ENTRY_CTLS,
  MSR.IA32_VMX_PROCBASED_CTLS2,
];
const CONTROL_FIELDS = [
  VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL,
  VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
  VMCS_FIELD.VM_EXIT_CONTROLS,
  VMCS_FIELD.VM_ENTRY_CONTROLS,
  VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL,
];

// Program counters of the host routine: 0–3 boot, then the loop's states.
const LOOP_ARM_TIMER = 10;
const LOOP_BOOT = 11;
const LOOP_SETUP = 12;
const LOOP_PREPARE = 13;
const LOOP_ENTER = 14;
const LOOP_EXITED = 15;
const LOOP_AFTER = 16;
const LOOP_TAKE_IRQ = 17;
const LOOP_HANDLE = 18;
const LOOP_TAKE_IRQ_CLI2 = 19;
const LOOP_HALT_STI = 20;
const LOOP_HALT = 21;
const LOOP_HALT_CLI = 22;
const LOOP_STOPPED = 23;
const LOOP_STOPPED_HLT = 24;
const LOOP_STOPPED_IDLE = 28;
const LOOP_PREPARE_OP = 29;
const LOOP_PREPARE_OP_DONE = 30;
const LOOP_HOST_OP_DONE = 25;
const LOOP_STOP_READ_ISR = 26;
const LOOP_STOP_CHECK_ISR = 27;
const LOOP_THREAD_IN = 31;
const LOOP_THREAD_WORK = 32;
const LOOP_THREAD_DONE = 33;

/**
 * The host kernel on one physical CPU: boot (IDT, x2APIC, the TSC-deadline timer), then the
 * vCPU run loop (KVM's vcpu_run: prepare, enter, handle the exit, invoke the handler of an
 * interrupt acknowledged on exit, block on HLT) — or, with no vCPU, the idle loop.
 */
class HostMainRoutine implements Routine {
  readonly name: string;
  private readonly hv: Hypervisor;
  private readonly pcpu: number;

  constructor(hv: Hypervisor, pcpu: number) {
    this.hv = hv;
    this.pcpu = pcpu;
    this.name = `host_kernel_cpu${pcpu}`;
  }

  step(cpu: CpuContext, f: Frame): void {
    const hv = this.hv;
    const st = hv.pcpu(this.pcpu);
    for (;;) {
      switch (f.pc) {
        case 0:
          f.pc = 1;
          cpu.lidt(HOST_LAYOUT.IDTR_SCRATCH);
          return;
        case 1:
          f.pc = 2;
          cpu.wrmsr(
            MSR.IA32_APIC_BASE,
            APIC_DEFAULT_BASE |
              APIC_BASE_MSR.ENABLE |
              APIC_BASE_MSR.EXTD |
              (this.pcpu === 0 ? APIC_BASE_MSR.BSP : 0),
            0,
          );
          return;
        case 2:
          f.pc = 3;
          cpu.wrmsr(MSR.X2APIC_SVR, 0x100 | HOST_VECTOR.SPURIOUS, 0);
          return;
        case 3:
          f.pc = 4;
          cpu.wrmsr(
            MSR.X2APIC_LVT_TIMER,
            HOST_VECTOR.LOCAL_TIMER | (TIMER_MODE.TSC_DEADLINE << LVT.TIMER_MODE_SHIFT),
            0,
          );
          return;
        case 4:
        case 5:
        case 6:
        case 7:
        case 8:
        case 9: {
          // Read the VMX capability MSRs (allowed-0 and allowed-1 settings of each control
          // field, SDM vol. 3 appendix A.3–A.5), as KVM's setup_vmcs_config does.
          const i = f.pc - 4;
          if (i > 0) hv.recordCapability(i - 1, cpu.resultLo, cpu.resultHi);
          if (i === CAPABILITY_MSRS.length) {
            f.pc = LOOP_ARM_TIMER;
            continue;
          }
          f.pc++;
          cpu.rdmsr(CAPABILITY_MSRS[i]!);
          return;
        }
        case LOOP_ARM_TIMER: {
          // Arm the first deadline, then start the vCPU (or idle).
          const t = hv.nextDeadline(this.pcpu);
          f.pc = st.vcpu === null ? LOOP_HALT_STI : LOOP_BOOT;
          if (t >= 0) {
            writeDeadline(cpu, hv.tscAt(t));
            return;
          }
          continue;
        }
        case LOOP_BOOT:
          // KVM enters the guest with interrupts disabled.
          f.pc = LOOP_SETUP;
          cpu.cli();
          return;
        case LOOP_SETUP: {
          const vcpu = st.vcpu!;
          hv.setupVcpu(cpu, vcpu, vcpu.vm.entry);
          f.pc = LOOP_PREPARE;
          continue;
        }
        case LOOP_PREPARE: {
          const vcpu = st.vcpu!;
          if (vcpu.stopReason !== null) {
            // Stopped while preparing (a control the CPU does not allow, say).
            f.pc = LOOP_STOPPED;
            continue;
          }
          if (vcpu.timerReprogram) {
            vcpu.timerReprogram = false;
            const t = hv.nextDeadline(this.pcpu);
            if (t >= 0) {
              writeDeadline(cpu, hv.tscAt(t));
              return;
            }
          }
          const again = f.r2 === 1;
          const cycles = hv.prepareEntry(cpu, vcpu, again);
          f.r2 = vcpu.hostOpKind !== 0 ? 1 : 0;
          f.pc = f.r2 === 1 ? LOOP_PREPARE_OP : LOOP_ENTER;
          if (!again || cycles > 0) {
            cpu.compute(cycles);
            return;
          }
          continue;
        }
        case LOOP_PREPARE_OP: {
          // A strategy's MSR access before the entry, interrupts off (see prepareEntry).
          const vcpu = st.vcpu!;
          const kind = vcpu.hostOpKind;
          vcpu.hostOpKind = 0;
          f.pc = LOOP_PREPARE_OP_DONE;
          if (kind === 1) cpu.rdmsr(vcpu.hostOpIndex);
          else cpu.wrmsr(vcpu.hostOpIndex, vcpu.hostOpLo, vcpu.hostOpHi);
          return;
        }
        case LOOP_PREPARE_OP_DONE: {
          const vcpu = st.vcpu!;
          const done = vcpu.hostOpDone;
          vcpu.hostOpDone = null;
          if (done !== null) done(cpu.resultLo, cpu.resultHi);
          f.pc = LOOP_PREPARE;
          continue;
        }
        case LOOP_ENTER: {
          const vcpu = st.vcpu!;
          f.pc = LOOP_EXITED;
          if (vcpu.launched) cpu.vmresume();
          else cpu.vmlaunch();
          return;
        }
        case LOOP_EXITED: {
          const vcpu = st.vcpu!;
          const cycles = hv.handleExit(cpu, vcpu);
          if (cycles < 0 || vcpu.stopReason !== null) {
            f.pc = LOOP_STOPPED;
            continue;
          }
          f.r0 = cycles;
          f.pc = LOOP_AFTER;
          const v = vcpu.dispatchVector;
          if (v >= 0 && v < 256) {
            // An interrupt acknowledged on exit: its host handler runs now, with IF = 0
            // (KVM's handle_external_interrupt, through the gate in the host IDT).
            vcpu.dispatchVector = -1;
            cpu.invokeInterruptHandler(hv.hostGateOffset(v), v);
            return;
          }
          continue;
        }
        case LOOP_AFTER:
          // The rest of the exit's handling runs with interrupts on, as in KVM's vcpu_run:
          // any host interrupt still pending (one not acknowledged on exit, a timer that
          // fired while the guest kept IF = 0) is taken here.
          f.pc = LOOP_HANDLE;
          cpu.sti();
          return;
        case LOOP_HANDLE:
          f.pc = LOOP_TAKE_IRQ_CLI2;
          cpu.compute(Math.max(1, f.r0));
          return;
        case LOOP_HOST_OP_DONE: {
          const vcpu = st.vcpu!;
          const done = vcpu.hostOpDone;
          vcpu.hostOpDone = null;
          if (done !== null) done(cpu.resultLo, cpu.resultHi);
          f.pc = LOOP_TAKE_IRQ_CLI2;
          continue;
        }
        case LOOP_TAKE_IRQ_CLI2: {
          const vcpu = st.vcpu!;
          if (vcpu.hostOpKind !== 0) {
            // A strategy asked for an MSR access on the physical CPU (an EOI, an ISR read).
            const kind = vcpu.hostOpKind;
            vcpu.hostOpKind = 0;
            f.pc = LOOP_HOST_OP_DONE;
            if (kind === 1) cpu.rdmsr(vcpu.hostOpIndex);
            else cpu.wrmsr(vcpu.hostOpIndex, vcpu.hostOpLo, vcpu.hostOpHi);
            return;
          }
          if (st.threadsPending) {
            // An IRQ thread woken by a hard IRQ during the exit: it is SCHED_FIFO and
            // preempts the vCPU thread at the reschedule point of KVM's run loop
            // (need_resched → schedule), interrupts on. r3 = 0: back here afterwards.
            f.r3 = 0;
            f.pc = LOOP_THREAD_IN;
            continue;
          }
          if (vcpu.dispatchVector === 257) {
            // HLT: block the vCPU — but interrupts off first, then look for a pending virtual
            // interrupt, and only then STI;HLT (atomic): an interrupt the host took in the
            // window above must not be slept through (a lost wake-up).
            vcpu.dispatchVector = -1;
            f.pc = LOOP_TAKE_IRQ;
            cpu.cli();
            return;
          }
          vcpu.dispatchVector = -1;
          f.pc = LOOP_PREPARE;
          cpu.cli();
          return;
        }
        case LOOP_HALT_STI:
          f.pc = LOOP_HALT;
          cpu.sti();
          return;
        case LOOP_HALT:
          if (st.vcpu !== null && !st.slept) {
            // kvm_vcpu_block's schedule(): the vCPU thread sleeps and the CPU switches to idle,
            // interrupts on. The idle loop then checks again with interrupts off before it
            // halts (an interrupt taken during the switch may have woken a thread or the vCPU:
            // halting past it would be a lost wake-up).
            st.slept = true;
            st.contextSwitches.inc();
            f.pc = LOOP_HALT_CLI;
            cpu.compute(hv.costs.contextSwitch + hv.costs.vcpuPutLoad);
            return;
          }
          // STI; HLT: an interrupt that arrived after the last check (with interrupts off) is
          // pending and ends the HLT at once.
          f.pc = LOOP_HALT_CLI;
          cpu.hlt();
          return;
        case LOOP_HALT_CLI: {
          f.pc = LOOP_TAKE_IRQ;
          cpu.cli();
          return;
        }
        case LOOP_TAKE_IRQ: {
          if (st.threadsPending) {
            // A hard IRQ woke an IRQ thread: the idle CPU switches to it (interrupts on),
            // and comes back here (r3 = 1) with interrupts off.
            f.r3 = 1;
            f.pc = LOOP_THREAD_IN;
            cpu.sti();
            return;
          }
          // kvm_vcpu_block: go back to the guest once it has an interrupt to take. Having
          // slept, the vCPU thread is woken (try_to_wake_up) and switched to — from the IRQ
          // thread that woke it (which paid that switch) or from idle.
          const vcpu = st.vcpu;
          if (vcpu !== null && vcpu.stopReason === null && vcpu.vlapic.hasInterrupt()) {
            f.pc = LOOP_PREPARE;
            if (!st.slept) continue;
            st.slept = false;
            const fromIdle = !st.fromThread;
            st.fromThread = false;
            if (fromIdle) st.contextSwitches.inc();
            cpu.compute(hv.costs.haltWake + (fromIdle ? hv.costs.contextSwitch : 0));
            return;
          }
          st.fromThread = false;
          f.pc = LOOP_HALT_STI;
          continue;
        }
        case LOOP_THREAD_IN:
          // Switch to the IRQ thread: from the vCPU thread (r3 = 0: its preempt notifiers
          // put and later load the vCPU) or from idle.
          f.pc = LOOP_THREAD_WORK;
          st.contextSwitches.inc();
          cpu.compute(hv.costs.contextSwitch + (f.r3 === 0 ? hv.costs.vcpuPutLoad : 0));
          return;
        case LOOP_THREAD_WORK: {
          // The thread's work, one interrupt at a time; an interrupt arriving meanwhile
          // (interrupts are on) wakes a thread that runs before the switch back.
          const vector = st.nextThread();
          if (vector >= 0) {
            cpu.compute(hv.irqThread(this.pcpu, vector));
            return;
          }
          // The thread sleeps again: switch back to the vCPU thread, or to idle.
          f.pc = LOOP_THREAD_DONE;
          st.contextSwitches.inc();
          st.fromThread = f.r3 === 1;
          cpu.compute(hv.costs.contextSwitch);
          return;
        }
        case LOOP_THREAD_DONE:
          if (f.r3 === 0) {
            f.pc = LOOP_TAKE_IRQ_CLI2;
            continue;
          }
          f.pc = LOOP_TAKE_IRQ;
          cpu.cli();
          return;
        case LOOP_STOPPED:
          // The VM is stopped. What it left in service in the physical LAPIC (an assigned
          // vector delivered straight to the guest, as ELI does, never EOI'd) would hold off
          // every host interrupt of its priority class or lower for good: read the ISR from
          // the top, and EOI while its highest vector is one of the VM's assigned vectors.
          // Nothing of the host's own is in service here (its handlers EOI before returning
          // to this loop), so each EOI ends the VM's vector (SDM vol. 3 §10.8.5).
          f.r1 = 7;
          f.pc = LOOP_STOP_READ_ISR;
          continue;
        case LOOP_STOP_READ_ISR:
          f.pc = LOOP_STOP_CHECK_ISR;
          cpu.rdmsr(MSR.X2APIC_ISR0 + f.r1);
          return;
        case LOOP_STOP_CHECK_ISR: {
          const word = cpu.resultLo >>> 0;
          if (word === 0) {
            f.r1--;
            f.pc = f.r1 >= 0 ? LOOP_STOP_READ_ISR : LOOP_STOPPED_IDLE;
            continue;
          }
          const vector = f.r1 * 32 + 31 - Math.clz32(word);
          if (!hv.ownsAssignedVector(st.vcpu, vector)) {
            f.pc = LOOP_STOPPED_IDLE;
            continue;
          }
          hv.noteStoppedVmEoi();
          f.pc = LOOP_STOPPED;
          cpu.wrmsr(MSR.X2APIC_EOI, 0, 0);
          return;
        }
        case LOOP_STOPPED_HLT:
          f.pc = LOOP_STOPPED_HLT;
          cpu.hlt();
          return;
        default:
          // The VM is stopped (or there is none): the host idles, still taking its interrupts.
          f.pc = LOOP_STOPPED_HLT;
          cpu.sti();
          return;
      }
    }
  }
}

/**
 * A host interrupt handler: interrupt entry and the handler's own work (`body`, which
 * returns its cycles), optionally a new TSC deadline for the host's hrtimers, the EOI
 * (not for the spurious vector, SDM §10.9), interrupt exit, IRET.
 */
class HostIrqRoutine implements Routine {
  readonly name: string;
  private readonly hv: Hypervisor;
  private readonly body: (cpu: CpuContext, vector: number) => number;
  private readonly reprogramTimer: boolean;
  private readonly eoi: boolean;

  constructor(
    hv: Hypervisor,
    name: string,
    body: (cpu: CpuContext, vector: number) => number,
    options: { readonly reprogramTimer: boolean; readonly eoi: boolean },
  ) {
    this.hv = hv;
    this.name = name;
    this.body = body;
    this.reprogramTimer = options.reprogramTimer;
    this.eoi = options.eoi;
  }

  step(cpu: CpuContext, f: Frame): void {
    const hv = this.hv;
    for (;;) {
      switch (f.pc) {
        case 0:
          f.pc = 1;
          cpu.compute(hv.costs.irqEntry + this.body(cpu, f.vector));
          return;
        case 1: {
          f.pc = 2;
          const t = this.reprogramTimer ? hv.nextDeadline(cpu.id) : -1;
          if (t < 0) continue;
          writeDeadline(cpu, hv.tscAt(t));
          return;
        }
        case 2:
          f.pc = 3;
          if (!this.eoi) continue;
          cpu.wrmsr(MSR.X2APIC_EOI, 0, 0);
          return;
        case 3:
          f.pc = 4;
          cpu.compute(hv.costs.irqExit);
          return;
        default:
          cpu.iret();
          return;
      }
    }
  }
}
