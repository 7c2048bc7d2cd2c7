import {
  EXIT_NOT_HANDLED,
  type InterruptVirtualization,
  injectPendingInterrupt,
  type ProfileReader,
  type VcpuControl,
} from '@exitless/hypervisor';
import type { Counter, ScopedStats } from '@exitless/sim';
import {
  APIC_ACCESS_TYPE,
  APIC_REG,
  type CpuContext,
  DESCRIPTOR_TABLE_INSTRUCTION,
  EXCEPTION,
  EXIT_CONTROLS,
  EXIT_REASON,
  encodeIdtGate,
  GATE_TYPE,
  IDT_GATE_SIZE,
  INTR_INFO,
  INTR_TYPE,
  interruptGate,
  join64,
  MSR,
  type MsrValue,
  msrBitmapPosition,
  PIN_BASED,
  PROC_BASED,
  PROC_BASED2,
  UserError,
  VMCS_FIELD,
} from '@exitless/x86';

/** Thrown when ELI is configured in a way it cannot work (exitless EOI without x2APIC, say). */
export class EliConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'EliConfigError';
  }
}

/** Cycles of ELI's own host software (from the calibration profile). */
export interface EliCosts {
  /** Injecting a virtual interrupt (as baseline's injection). */
  readonly injection: number;
  /** Switching a vCPU between direct and injection mode (the VMCS writes, the MSR-bitmap bit). */
  readonly modeSwitch: number;
  /** Rebuilding the shadow IDT from the guest's IDT. */
  readonly shadowRebuild: number;
  /** Handling a #NP exit that carries a host interrupt (reading the IDT-vectoring information). */
  readonly hostInterruptExit: number;
  /** Emulating the guest's LIDT or SIDT. */
  readonly descriptorTableEmulation: number;
  /** A preemption-timer exit. */
  readonly preemptionTimerExit: number;
  /** Handling a trapped EOI: deciding whether it is the physical or a virtual interrupt's, and forwarding or emulating it. */
  readonly eoiExit: number;
  /** Emulating the guest's read of its LAPIC's ISR, IRR or PPR with the physical state of its directly delivered interrupts merged in. */
  readonly apicReadEmulation: number;
}

/** Options of an {@link EliStrategy}. */
export interface EliOptions {
  /** True for `eli` (the guest writes the x2APIC EOI MSR straight to the physical LAPIC); false for `eli-delivery`. */
  readonly exitlessEoi: boolean;
  /** The VMX-preemption timer's period, ps: how long a guest can keep the host from its interrupts (5 ms in the authors' code). */
  readonly preemptionTimerPs: number;
  /** TSC frequency, Hz, and IA32_VMX_MISC[4:0], to turn the period into the timer's VMCS value. */
  readonly tscHz: number;
  /** IA32_VMX_MISC[4:0]: the preemption timer counts once every 2^rate TSC cycles. */
  readonly preemptionRate: number;
  /**
   * Whether HLT exits in direct mode (default true, as in the authors' KVM code, which never
   * clears HLT exiting): a halting guest then blocks in the host, and a device interrupt that
   * arrives meanwhile is taken by the host and injected. False lets the guest halt in guest
   * mode in direct mode, so its device's interrupt wakes it with no exit (the model's behaviour
   * before it followed the authors); its timer and other virtual interrupts then wait for the
   * preemption timer's exit.
   */
  readonly haltExiting?: boolean;
  /** Guest-physical address of the shadow IDT's page, outside the guest's RAM (never offered to the guest). */
  readonly shadowIdtAddress?: number;
  /** The costs of ELI's own work (injection, mode switches, shadow-IDT rebuilds, the exits it handles). */
  readonly costs: EliCosts;
  /** Where ELI keeps its counters. */
  readonly stats: ScopedStats;
}

/**
 * How many times per preemption-timer period ordinary exits may look for a stuck vector: a
 * vector is EOI'd by force only when every check over a whole period found it in service,
 * so more checks mean fewer false alarms, at the cost of an ISR read each.
 */
const STUCK_CHECKS_PER_PERIOD = 5;

/** A vCPU's ELI mode. */
export const ELI_MODE = {
  /** The shadow IDT: the assigned device's interrupts reach the guest with no exit; other interrupts exit as #NP. */
  DIRECT: 0,
  /** The guest's own IDT with external-interrupt exiting: virtual interrupts are injected. */
  INJECTION: 1,
} as const;
/** A vCPU's ELI mode: one of the values of {@link ELI_MODE}. */
export type EliMode = (typeof ELI_MODE)[keyof typeof ELI_MODE];
/** The default guest-physical page of the shadow IDT: below the APIC page, outside any RAM a guest is given. */
const DEFAULT_SHADOW_GPA = 0xfeb0_0000;

/** ELI's state for one vCPU (made by `createVcpuState`, passed to every hook). */
export class EliVcpuState {
  /** Direct or injection mode. */
  mode: EliMode = ELI_MODE.DIRECT;
  /** The guest's own IDTR, as its last LIDT set it (the guest believes this is its IDTR). */
  guestIdtBase = 0;
  /** The same base exactly, as 32-bit halves (a 64-bit base has no exact number above 2^53). */
  guestIdtBaseLo = 0;
  /** Bits 63:32 of the guest's IDT base. */
  guestIdtBaseHi = 0;
  /** The guest's IDT limit. */
  guestIdtLimit = 0xffff;
  /** The assignment generation (sum over the VM's assigned functions) the shadow IDT was built for. */
  builtFor = -1;
  /** Since when an assigned vector has been seen in service in the physical LAPIC at every check, ps (−1: not). */
  stuckSince = -1;
  /** When the pending stuck-vector check was asked for, ps. */
  checkTime = 0;
  /** When the vCPU blocked on its HLT (first seen by whileBlocked), ps; −1 while it is not blocked. */
  blockedSince = -1;
  /** The physical ISR word (vector >> 5) holding the assigned host vectors, or −1 while none is assigned. */
  isrWord = -1;
  /** Continuations of the host's ISR reads, made once per vCPU (no allocation per exit). */
  onEoiIsr: (lo: number, hi: number) => void = () => {};
  /** Continuation of the stuck-vector check's ISR read. */
  onStuckIsr: (lo: number, hi: number) => void = () => {};
  /** A guest read of ISR, IRR or PPR waiting for the physical word to merge: what, which word, its virtual value. */
  readKind: MergedRead = MERGED_READ.ISR;
  /** Which 32-bit word of the register the guest read. */
  readWord = 0;
  /** The virtual value of that word, before merging. */
  readVirtual = 0;
  /** Continuation of the physical read that completes the guest's read. */
  onMergeRead: (lo: number, hi: number) => void = () => {};
  /** True while EOI writes are trapped to tell a stuck assigned vector from a busy one (exitless EOI). */
  eoiProbe = false;
  /** The physical ISR word of the assigned vectors, read before an injection, and whether it is still current (reset at every exit). */
  physicalIsr = 0;
  /** Whether `physicalIsr` is still current. */
  isrFresh = false;
  /** Continuation of the ISR read before an injection. */
  onEntryIsr: (lo: number, hi: number) => void = () => {};
  /** Scratch space (no allocation per exit): one IDT gate, one MSR value. */
  readonly gate: Uint8Array = new Uint8Array(IDT_GATE_SIZE);
  /** Scratch MSR value. */
  readonly msr: MsrValue = { lo: 0, hi: 0 };
}

/** The LAPIC registers whose guest reads ELI completes with the physical state merged in. */
const MERGED_READ = { ISR: 1, IRR: 2, PPR: 3 } as const;
/**
 * Which register a merged read is of: 1 ISR, 2 IRR, 3 PPR (a value of MERGED_READ).
 *
 * @inline
 */
type MergedRead = (typeof MERGED_READ)[keyof typeof MERGED_READ];

/**
 * ELI (Gordon et al., ASPLOS 2012) as a strategy for the hypervisor's seam. The guest is
 * unmodified and never learns ELI is there.
 *
 * Direct mode: external-interrupt exiting is off and GUEST_IDTR points at a shadow IDT in
 * a guest-physical page only the host maps. In the shadow, exceptions 0–31 keep the guest's
 * gates; every external vector is not present except the host vectors of the assigned
 * device's interrupts, whose gates are the guest's gates for the guest's vectors. So the
 * VF's interrupt reaches the guest's handler with no exit; any other physical interrupt
 * hits a not-present gate, raises #NP, and — #NP being in the exception bitmap — exits
 * with the interrupt in the IDT-vectoring information: the host handles it as its own
 * (the CPU already acknowledged it, so the host's handler EOIs it) and resumes the guest
 * without delivering the #NP. LIDT and SIDT exit (descriptor-table exiting) and are
 * emulated against the guest's own IDTR. The VMX-preemption timer bounds how long the guest
 * can hold the host off. With exitless EOI (`eli`) the MSR bitmap lets the guest's WRMSR to
 * the x2APIC EOI MSR reach the physical LAPIC; in `eli-delivery` it still exits.
 *
 * Injection mode: before injecting a virtual interrupt (the guest's timer, an IPI, an
 * interrupt that came through the host), the vCPU goes back to the guest's own IDT with
 * external-interrupt exiting and EOI trapping on and the preemption timer off; it returns
 * to direct mode once the guest has EOI'd every injected interrupt.
 */
export class EliStrategy implements InterruptVirtualization<EliVcpuState> {
  readonly name: string;
  /** The options the strategy was made with. */
  readonly options: EliOptions;
  private readonly costs: EliCosts;
  private readonly shadowGpa: number;
  private readonly timerValue: number;
  /** The shortest time between two stuck-vector checks on ordinary exits, ps. */
  private readonly checkIntervalPs: number;
  private readonly cToDirect: Counter;
  private readonly cToInjection: Counter;
  private readonly cHostViaNp: Counter;
  private readonly cGenuineNp: Counter;
  private readonly cLidt: Counter;
  private readonly cSidt: Counter;
  private readonly cRebuilds: Counter;
  private readonly cPreemption: Counter;
  private readonly cEoiForwarded: Counter;
  private readonly cEoiEmulated: Counter;
  private readonly cForcedEoi: Counter;
  private readonly cMergedReads: Counter;
  private readonly cInjectionHeld: Counter;

  constructor(options: EliOptions) {
    this.options = options;
    this.name =
      (options.exitlessEoi ? 'eli' : 'eli-delivery') + (options.haltExiting === false ? '-guest-hlt' : '');
    this.costs = options.costs;
    this.shadowGpa = options.shadowIdtAddress ?? DEFAULT_SHADOW_GPA;
    if (this.shadowGpa % 4096 !== 0) throw new EliConfigError('shadowIdtAddress must be 4 KiB-aligned');
    if (!(options.preemptionTimerPs > 0)) throw new EliConfigError('preemptionTimerPs must be positive');
    this.checkIntervalPs = options.preemptionTimerPs / STUCK_CHECKS_PER_PERIOD;
    const cycles = (options.preemptionTimerPs * options.tscHz) / 1e12;
    this.timerValue = Math.max(1, Math.min(0xffffffff, Math.round(cycles / 2 ** options.preemptionRate)));
    const s = options.stats;
    this.cToDirect = s.counter('to-direct-mode');
    this.cToInjection = s.counter('to-injection-mode');
    this.cHostViaNp = s.counter('host-interrupts-via-np');
    this.cGenuineNp = s.counter('guest-np-reflected');
    this.cLidt = s.counter('lidt-emulated');
    this.cSidt = s.counter('sidt-emulated');
    this.cRebuilds = s.counter('shadow-rebuilds');
    this.cPreemption = s.counter('preemption-timer-exits');
    this.cEoiForwarded = s.counter('eoi-forwarded-to-physical');
    this.cEoiEmulated = s.counter('eoi-emulated-virtual');
    this.cForcedEoi = s.counter('forced-eoi');
    this.cMergedReads = s.counter('apic-reads-merged');
    this.cInjectionHeld = s.counter('injections-held-for-direct');
  }

  describe(): string {
    const hlt = this.options.haltExiting === false ? '; HLT in guest mode' : '; HLT exits';
    return this.options.exitlessEoi
      ? `shadow IDT (exitless delivery) and exitless EOI; injection mode for virtual interrupts${hlt}`
      : `shadow IDT (exitless delivery); EOI exits; injection mode for virtual interrupts${hlt}`;
  }

  /** The VMX-preemption timer's VMCS value (the period >> IA32_VMX_MISC[4:0]). */
  get preemptionTimerValue(): number {
    return this.timerValue;
  }

  /** True while the vCPU whose state is `state` is in direct mode. */
  isDirect(state: EliVcpuState): boolean {
    return state.mode === ELI_MODE.DIRECT;
  }

  createVcpuState(vcpu: VcpuControl): EliVcpuState {
    const st = new EliVcpuState();
    st.onEoiIsr = (isr) => this.decideEoi(vcpu, st, isr);
    st.onStuckIsr = (isr) => this.decideStuck(vcpu, st, isr);
    st.onMergeRead = (word) => this.completeMergedRead(vcpu, st, word);
    st.onEntryIsr = (isr) => {
      st.physicalIsr = isr >>> 0;
      st.isrFresh = true;
    };
    return st;
  }

  configureVcpu(cpu: CpuContext, vcpu: VcpuControl, st: EliVcpuState): void {
    const vm = vcpu.vm;
    if (this.options.exitlessEoi && vm.config.apicMode !== 'x2apic') {
      throw new EliConfigError(
        `VM '${vm.name}': exitless EOI (mode 'eli') needs the guest's LAPIC in x2APIC mode (EOI by WRMSR 0x80B); use guestApicMode 'x2apic' or mode 'eli-delivery'`,
      );
    }
    if (vm.strategyPage < 0) throw new EliConfigError(`VM '${vm.name}' has no host page for the shadow IDT`);
    vm.mapPage(this.shadowGpa, vm.strategyPage);
    cpu.vmwrite(
      VMCS_FIELD.VM_EXIT_CONTROLS,
      vcpu.adjustControl(
        VMCS_FIELD.VM_EXIT_CONTROLS,
        EXIT_CONTROLS.HOST_ADDRESS_SPACE_SIZE | EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT,
      ),
    );
    cpu.vmwrite(
      VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
      vcpu.adjustControl(
        VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
        PROC_BASED.USE_MSR_BITMAPS | PROC_BASED.ACTIVATE_SECONDARY_CONTROLS,
      ),
    );
    // An xAPIC guest's LAPIC page is KVM's APIC-access page: its accesses exit (reason 44).
    const apicAccesses = vm.apicAccessPage >= 0 ? PROC_BASED2.VIRTUALIZE_APIC_ACCESSES : 0;
    cpu.vmwrite(
      VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL,
      vcpu.adjustControl(
        VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL,
        PROC_BASED2.DESCRIPTOR_TABLE_EXITING | apicAccesses,
      ),
    );
    this.rebuildShadow(vcpu, st);
    this.enterDirect(cpu, vcpu, st);
  }

  beforeEntry(cpu: CpuContext, vcpu: VcpuControl, st: EliVcpuState): number {
    let cycles = 0;
    if (this.assignmentKey(vcpu) !== st.builtFor) cycles += this.rebuildShadow(vcpu, st);
    const masked = this.tprMasksAssigned(vcpu);
    const apic = vcpu.apic;
    if (st.mode === ELI_MODE.DIRECT) {
      if (!apic.hasInterrupt() && !masked) return cycles;
      cycles += this.enterInjection(cpu, vcpu, st);
    } else if (!apic.hasInterrupt() && apic.highestInService() < 0 && !masked) {
      // Every injected interrupt was EOI'd and the guest's TPR lets its device through:
      // back to exitless delivery.
      return cycles + this.enterDirect(cpu, vcpu, st);
    }
    if (apic.hasInterrupt() && st.isrWord >= 0) {
      // The virtual LAPIC knows nothing of the interrupts delivered straight to the guest,
      // in service in the physical LAPIC until the guest EOIs them. Injecting a vector of
      // their priority class or lower would nest it inside them, which bare metal never
      // does (SDM §10.8.3.1): it would hold it in IRR. So read the physical ISR first (the
      // loop does it, interrupts off, and prepares again), and hold the injection while it
      // is outranked; the guest's trapped EOI in injection mode ends the wait.
      if (!st.isrFresh) {
        vcpu.requestHostRdmsr(MSR.X2APIC_ISR0 + st.isrWord, st.onEntryIsr);
        return cycles;
      }
      if (apic.highestPending() >>> 4 <= this.directInServiceClass(vcpu, st)) {
        // Held: no interrupt-window exit is wanted for it (the guest's EOI will exit).
        this.cInjectionHeld.inc();
        vcpu.setInterruptWindowExiting(cpu, false);
        return cycles;
      }
    }
    return cycles + injectPendingInterrupt(cpu, vcpu, this.costs);
  }

  /**
   * True while the guest's (virtual) TPR masks the priority class of one of its assigned
   * vectors: on bare metal that interrupt would wait in IRR (SDM vol. 3 §10.8.3.1: delivered
   * only when its class is above PPR[7:4]). A directly delivered interrupt bypasses the
   * guest's TPR (the physical LAPIC knows only the host's), so while this holds the vCPU
   * takes its device's interrupts through injection mode, where the virtual LAPIC honours
   * the TPR; it returns to direct mode when the guest lowers its TPR (a trapped write).
   */
  private tprMasksAssigned(vcpu: VcpuControl): boolean {
    const tprClass = vcpu.apic.taskPriority >>> 4;
    if (tprClass === 0) return false;
    for (const a of vcpu.vm.assigned) {
      for (let i = 0; i < a.guestVectors.length; i++) {
        const gv = a.guestVectors[i]!;
        if (gv >= 0 && a.hostVectors[i]! >= 0 && gv >>> 4 <= tprClass) return true;
      }
    }
    return false;
  }

  handleExit(cpu: CpuContext, vcpu: VcpuControl, reason: number, st: EliVcpuState): number {
    // The guest ran: what it has in service in the physical LAPIC may have changed.
    st.isrFresh = false;
    const cycles = this.ownExit(cpu, vcpu, reason, st);
    // Every exit is a chance to look for an assigned vector stuck in service (a guest whose
    // handler never EOIs, or whose delivery fails and loops through exits): at most once per
    // check interval, unless the exit already asked the host for an MSR access.
    this.checkStuckIfDue(vcpu, st, cpu.now);
    return cycles;
  }

  private ownExit(cpu: CpuContext, vcpu: VcpuControl, reason: number, st: EliVcpuState): number {
    switch (reason) {
      case EXIT_REASON.EXCEPTION_OR_NMI:
        return this.exceptionExit(cpu, vcpu, st);
      case EXIT_REASON.GDTR_IDTR_ACCESS:
        return this.descriptorTableExit(cpu, vcpu, st);
      case EXIT_REASON.WRMSR:
        // A non-zero EOI write is the hypervisor's to refuse with #GP (SDM §10.12.1.2).
        if (cpu.rcx >>> 0 !== MSR.X2APIC_EOI || cpu.rax >>> 0 !== 0 || cpu.rdx >>> 0 !== 0)
          return EXIT_NOT_HANDLED;
        return this.eoiExit(vcpu, st);
      case EXIT_REASON.RDMSR: {
        const index = cpu.rcx >>> 0;
        if (index === MSR.X2APIC_PPR) return this.mergedRead(vcpu, st, MERGED_READ.PPR, 0);
        if (index >= MSR.X2APIC_ISR0 && index < MSR.X2APIC_ISR0 + 8)
          return this.mergedRead(vcpu, st, MERGED_READ.ISR, index - MSR.X2APIC_ISR0);
        if (index >= MSR.X2APIC_IRR0 && index < MSR.X2APIC_IRR0 + 8)
          return this.mergedRead(vcpu, st, MERGED_READ.IRR, index - MSR.X2APIC_IRR0);
        return EXIT_NOT_HANDLED;
      }
      case EXIT_REASON.APIC_ACCESS: {
        // An xAPIC guest's EOI: a linear write at offset 0xB0 of the APIC-access page (SDM
        // vol. 3 Table 27-6); its reads of PPR, ISR and IRR as for x2APIC; any other APIC
        // access is the hypervisor's to emulate.
        const qual = cpu.vmread(VMCS_FIELD.EXIT_QUALIFICATION);
        const type = (qual >>> 12) & 0xf;
        const offset = qual & 0xfff;
        if (type === APIC_ACCESS_TYPE.LINEAR_WRITE)
          return offset === APIC_REG.EOI ? this.eoiExit(vcpu, st) : EXIT_NOT_HANDLED;
        if (type !== APIC_ACCESS_TYPE.LINEAR_READ || (offset & 0xf) !== 0) return EXIT_NOT_HANDLED;
        if (offset === APIC_REG.PPR) return this.mergedRead(vcpu, st, MERGED_READ.PPR, 0);
        const word = (offset - APIC_REG.ISR0) >>> 4;
        if (offset >= APIC_REG.ISR0 && word < 8) return this.mergedRead(vcpu, st, MERGED_READ.ISR, word);
        const irrWord = (offset - APIC_REG.IRR0) >>> 4;
        if (offset >= APIC_REG.IRR0 && irrWord < 8)
          return this.mergedRead(vcpu, st, MERGED_READ.IRR, irrWord);
        return EXIT_NOT_HANDLED;
      }
      case EXIT_REASON.PREEMPTION_TIMER:
        // The host has the CPU back: its pending interrupts are taken in the exit's IF = 1 window.
        this.cPreemption.inc();
        this.checkStuckInService(vcpu, st, cpu.now);
        return this.costs.preemptionTimerExit;
      default:
        return EXIT_NOT_HANDLED;
    }
  }

  /**
   * The vCPU sleeps on its HLT and the host has the CPU (a host interrupt woke the idle CPU):
   * a guest that halts with an assigned vector in service holds off every host interrupt of
   * its class or lower for as long as it sleeps, and no exit comes to check it. So the check
   * goes on while it sleeps, at the same interval and by the same rule (EOI'd by force once
   * seen in service for a whole preemption-timer period), from one check interval into the
   * block: the short halts of a busy guest cost nothing.
   */
  whileBlocked(cpu: CpuContext, vcpu: VcpuControl, st: EliVcpuState): void {
    if (st.blockedSince < 0) st.blockedSince = cpu.now;
    if (cpu.now - st.blockedSince >= this.checkIntervalPs) this.checkStuckIfDue(vcpu, st, cpu.now);
  }

  /** The vCPU runs again: the next block starts its own interval. */
  postBlock(_vcpu: VcpuControl, st: EliVcpuState): void {
    st.blockedSince = -1;
  }

  onVirtualEoi(_cpu: CpuContext, _vcpu: VcpuControl, _vector: number, _st: EliVcpuState): number {
    return 0;
  }

  assignedInterrupt(vcpu: VcpuControl, guestVector: number, _st: EliVcpuState): number {
    // The assigned device's interrupt reached the host (in injection mode, with external-
    // interrupt exiting on, or while the vCPU was blocked): deliver it by injection.
    if (guestVector >= 0) vcpu.apic.raise(guestVector);
    return 0;
  }

  // ---- exits ---------------------------------------------------------------------------

  private exceptionExit(cpu: CpuContext, vcpu: VcpuControl, st: EliVcpuState): number {
    const info = cpu.vmread(VMCS_FIELD.VM_EXIT_INTR_INFO);
    const type = (info & INTR_INFO.TYPE_MASK) >>> INTR_INFO.TYPE_SHIFT;
    if (
      (info & INTR_INFO.VALID) === 0 ||
      type !== INTR_TYPE.HARDWARE_EXCEPTION ||
      (info & 0xff) !== EXCEPTION.NP
    ) {
      return EXIT_NOT_HANDLED;
    }
    const vectoring = cpu.vmread(VMCS_FIELD.IDT_VECTORING_INFO);
    const vType = (vectoring & INTR_INFO.TYPE_MASK) >>> INTR_INFO.TYPE_SHIFT;
    if (
      (vectoring & INTR_INFO.VALID) !== 0 &&
      vType === INTR_TYPE.EXTERNAL_INTERRUPT &&
      st.mode === ELI_MODE.DIRECT
    ) {
      // A physical interrupt hit a not-present gate of the shadow IDT: it is the host's.
      // The CPU acknowledged it on its way to the gate, so it is in service in the physical
      // LAPIC: the host's own handler runs now and EOIs it. The #NP is not delivered and the
      // interrupt is not re-injected.
      this.cHostViaNp.inc();
      vcpu.dispatchHostInterrupt(vectoring & INTR_INFO.VECTOR_MASK);
      this.checkStuckInService(vcpu, st, cpu.now);
      return this.costs.hostInterruptExit;
    }
    // The guest's own #NP (not caused by delivery through the shadow IDT): reflect it.
    this.cGenuineNp.inc();
    vcpu.queueException(EXCEPTION.NP, cpu.vmread(VMCS_FIELD.VM_EXIT_INTR_ERROR_CODE));
    return this.costs.hostInterruptExit;
  }

  /**
   * The guest's EOI exited (always in eli-delivery; in injection mode for eli). It ends the
   * guest's highest-priority interrupt in service, which is either one delivered straight
   * through the shadow IDT (in service in the physical LAPIC, under its host vector) or one
   * injected (in service in the virtual LAPIC). In direct mode nothing injected is in
   * service, so the EOI goes to the physical LAPIC; in injection mode the host reads the
   * physical ISR and compares priorities.
   */
  private eoiExit(vcpu: VcpuControl, st: EliVcpuState): number {
    if (st.mode === ELI_MODE.DIRECT) {
      this.forwardEoi(vcpu, st);
      return this.costs.eoiExit;
    }
    if (st.isrWord < 0) this.emulateVirtualEoi(vcpu);
    else vcpu.requestHostRdmsr(MSR.X2APIC_ISR0 + st.isrWord, st.onEoiIsr);
    return this.costs.eoiExit;
  }

  /**
   * The guest reads its LAPIC's ISR, IRR or PPR. An interrupt delivered straight through the
   * shadow IDT is in service (or pending) in the physical LAPIC under its host vector, not in
   * the virtual LAPIC, so the virtual register alone would show the guest an ISR without the
   * interrupt it is handling and a PPR that ignores it — not what bare metal shows (SDM vol. 3
   * §10.8.3.1, §10.8.4). The host reads the physical word of the assigned vectors and merges
   * each one it finds, under the guest vector it carries, into the answer.
   */
  private mergedRead(vcpu: VcpuControl, st: EliVcpuState, kind: MergedRead, word: number): number {
    if (st.isrWord < 0 || vcpu.hostMsrPending) return EXIT_NOT_HANDLED;
    const out = st.msr;
    const apic = vcpu.apic;
    const x2 = apic.x2apicMode;
    if (kind === MERGED_READ.PPR) {
      st.readVirtual = x2 ? (apic.readMsr(MSR.X2APIC_PPR, out) ? out.lo : -1) : apic.readMmio(APIC_REG.PPR);
    } else if (kind === MERGED_READ.ISR) {
      st.readVirtual = x2
        ? apic.readMsr(MSR.X2APIC_ISR0 + word, out)
          ? out.lo
          : -1
        : apic.readMmio(APIC_REG.ISR0 + word * 0x10);
    } else {
      st.readVirtual = x2
        ? apic.readMsr(MSR.X2APIC_IRR0 + word, out)
          ? out.lo
          : -1
        : apic.readMmio(APIC_REG.IRR0 + word * 0x10);
    }
    // A read the virtual LAPIC refuses (not in x2APIC mode, say) is the hypervisor's to fault.
    if (st.readVirtual < 0) return EXIT_NOT_HANDLED;
    st.readKind = kind;
    st.readWord = word;
    this.cMergedReads.inc();
    const physical = kind === MERGED_READ.IRR ? MSR.X2APIC_IRR0 : MSR.X2APIC_ISR0;
    vcpu.requestHostRdmsr(physical + st.isrWord, st.onMergeRead);
    return this.costs.apicReadEmulation;
  }

  /** Completes a merged read once the physical word of the assigned vectors is in. */
  private completeMergedRead(vcpu: VcpuControl, st: EliVcpuState, physical: number): void {
    let merged = 0;
    let highest = -1;
    for (const a of vcpu.vm.assigned) {
      for (let i = 0; i < a.hostVectors.length; i++) {
        const hv = a.hostVectors[i]!;
        const gv = a.guestVectors[i]!;
        if (hv < 0 || gv < 0 || hv >>> 5 !== st.isrWord || ((physical >>> (hv & 31)) & 1) === 0) continue;
        if (gv >>> 5 === st.readWord) merged |= 1 << (gv & 31);
        if (gv > highest) highest = gv;
      }
    }
    let value = st.readVirtual;
    if (st.readKind === MERGED_READ.PPR) {
      // PPR = TPR if TPR[7:4] ≥ ISRV[7:4], else ISRV[7:4]:0, with ISRV over both ISRs.
      const tpr = vcpu.apic.taskPriority;
      const isrv = Math.max(highest, vcpu.apic.highestInService());
      value = isrv >= 0 && isrv >>> 4 > tpr >>> 4 ? isrv & 0xf0 : tpr;
    } else {
      value = (value | merged) >>> 0;
    }
    vcpu.completeRead(value >>> 0, 0);
  }

  /** The highest priority class among the guest vectors of assigned interrupts in service physically (per the fresh ISR read), or −1. */
  private directInServiceClass(vcpu: VcpuControl, st: EliVcpuState): number {
    let highest = -1;
    const isr = st.physicalIsr;
    for (const a of vcpu.vm.assigned) {
      for (let i = 0; i < a.hostVectors.length; i++) {
        const hv = a.hostVectors[i]!;
        const gv = a.guestVectors[i]!;
        if (hv < 0 || gv < 0 || hv >>> 5 !== st.isrWord || ((isr >>> (hv & 31)) & 1) === 0) continue;
        if (gv >>> 4 > highest) highest = gv >>> 4;
      }
    }
    return highest;
  }

  /** Forwards a trapped guest EOI to the physical LAPIC: the guest ended its directly delivered interrupt. */
  private forwardEoi(vcpu: VcpuControl, st: EliVcpuState): void {
    this.cEoiForwarded.inc();
    this.endEoiProbe(vcpu, st);
    vcpu.requestHostWrmsr(MSR.X2APIC_EOI, 0, 0);
  }

  /** Decides a trapped EOI once the physical ISR word of the assigned vectors is read. */
  private decideEoi(vcpu: VcpuControl, st: EliVcpuState, isr: number): void {
    let physical = -1;
    let guestOfPhysical = -1;
    for (const a of vcpu.vm.assigned) {
      for (let i = 0; i < a.hostVectors.length; i++) {
        const hv = a.hostVectors[i]!;
        if (hv >>> 5 !== st.isrWord || ((isr >>> (hv & 31)) & 1) === 0) continue;
        if (hv > physical) {
          physical = hv;
          guestOfPhysical = a.guestVectors[i]!;
        }
      }
    }
    const virtual = vcpu.apic.highestInService();
    if (physical >= 0 && (virtual < 0 || guestOfPhysical > virtual)) {
      this.forwardEoi(vcpu, st);
    } else {
      this.emulateVirtualEoi(vcpu);
    }
  }

  /** checkStuckInService, at most once per check interval (ordinary exits, a sleeping vCPU). */
  private checkStuckIfDue(vcpu: VcpuControl, st: EliVcpuState, now: number): void {
    if (now - st.checkTime >= this.checkIntervalPs) this.checkStuckInService(vcpu, st, now);
  }

  /**
   * Protection against a guest that never EOIs: an interrupt delivered straight to the
   * guest stays in service in the physical LAPIC until the guest EOIs it, and meanwhile
   * holds off every host interrupt of its priority class or lower. Whenever the host has
   * the CPU (a host interrupt's #NP exit, a preemption-timer exit) it reads the physical
   * ISR; an assigned vector found in service at every such check for a whole
   * preemption-timer period is EOI'd by the host itself (counted as forced). While the vCPU
   * sleeps on HLT the host checks too (whileBlocked).
   */
  private checkStuckInService(vcpu: VcpuControl, st: EliVcpuState, now: number): void {
    if (vcpu.hostMsrPending) return;
    if (st.isrWord < 0) return;
    st.checkTime = now;
    vcpu.requestHostRdmsr(MSR.X2APIC_ISR0 + st.isrWord, st.onStuckIsr);
  }

  /** Acts on the physical ISR word read by checkStuckInService. */
  private decideStuck(vcpu: VcpuControl, st: EliVcpuState, isr: number): void {
    let inService = false;
    for (const a of vcpu.vm.assigned) {
      for (const hv of a.hostVectors)
        if (hv >>> 5 === st.isrWord && ((isr >>> (hv & 31)) & 1) !== 0) inService = true;
    }
    if (!inService) {
      this.endEoiProbe(vcpu, st);
      return;
    }
    if (st.stuckSince < 0) {
      st.stuckSince = st.checkTime;
      // With exitless EOI the host never sees the guest's EOIs, so "in service at every
      // check" cannot tell a stuck vector from a busy device whose interrupts follow each
      // other. Trap the EOI MSR while the suspicion lasts: a guest EOI then exits, is
      // forwarded, and clears it (forwardEoi); only a guest that EOIs nothing for a whole
      // period has its vector EOI'd by force.
      if (this.options.exitlessEoi && st.mode === ELI_MODE.DIRECT && !st.eoiProbe) {
        st.eoiProbe = true;
        this.setEoiIntercept(vcpu, true);
      }
      return;
    }
    if (st.checkTime - st.stuckSince >= this.options.preemptionTimerPs) {
      this.cForcedEoi.inc();
      this.endEoiProbe(vcpu, st);
      vcpu.requestHostWrmsr(MSR.X2APIC_EOI, 0, 0);
    }
  }

  /** The suspicion of a stuck vector is over: EOI writes pass through again (exitless EOI, direct mode). */
  private endEoiProbe(vcpu: VcpuControl, st: EliVcpuState): void {
    st.stuckSince = -1;
    if (!st.eoiProbe) return;
    st.eoiProbe = false;
    if (st.mode === ELI_MODE.DIRECT) this.setEoiIntercept(vcpu, !this.options.exitlessEoi);
  }

  private emulateVirtualEoi(vcpu: VcpuControl): void {
    this.cEoiEmulated.inc();
    const apic = vcpu.apic;
    if (apic.x2apicMode) apic.writeMsr(MSR.X2APIC_EOI, 0, 0);
    else apic.writeMmio(APIC_REG.EOI, 0);
  }

  private descriptorTableExit(cpu: CpuContext, vcpu: VcpuControl, st: EliVcpuState): number {
    const mem = vcpu.vm.memory;
    const address = cpu.vmread(VMCS_FIELD.EXIT_QUALIFICATION);
    const identity = (cpu.vmread(VMCS_FIELD.VMX_INSTRUCTION_INFO) >>> 28) & 3;
    if (identity === DESCRIPTOR_TABLE_INSTRUCTION.LIDT) {
      this.cLidt.inc();
      // Whatever IDT the guest loads, it becomes the guest's IDTR; the CPU keeps using the
      // shadow, rebuilt from it (so vectors the guest marks present stay the host's).
      st.guestIdtLimit = mem.read16(address);
      st.guestIdtBaseLo = mem.read32(address + 2) >>> 0;
      st.guestIdtBaseHi = mem.read32(address + 6) >>> 0;
      st.guestIdtBase = join64(st.guestIdtBaseHi, st.guestIdtBaseLo);
      const cycles = this.costs.descriptorTableEmulation + this.rebuildShadow(vcpu, st);
      if (st.mode === ELI_MODE.INJECTION) {
        cpu.vmwrite(VMCS_FIELD.GUEST_IDTR_BASE, st.guestIdtBase);
        cpu.vmwrite(VMCS_FIELD.GUEST_IDTR_LIMIT, st.guestIdtLimit);
      }
      return cycles;
    }
    if (identity === DESCRIPTOR_TABLE_INSTRUCTION.SIDT) {
      this.cSidt.inc();
      // The guest sees its own IDTR, never the shadow's: the 10-byte pseudo-descriptor,
      // limit then the 64-bit base, stored exactly as its LIDT loaded it.
      mem.write16(address, st.guestIdtLimit);
      mem.write32(address + 2, st.guestIdtBaseLo);
      mem.write32(address + 6, st.guestIdtBaseHi);
      return this.costs.descriptorTableEmulation;
    }
    return EXIT_NOT_HANDLED;
  }

  // ---- modes ---------------------------------------------------------------------------

  private enterDirect(cpu: CpuContext, vcpu: VcpuControl, st: EliVcpuState): number {
    st.mode = ELI_MODE.DIRECT;
    this.cToDirect.inc();
    cpu.vmwrite(
      VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL,
      vcpu.adjustControl(
        VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL,
        PIN_BASED.NMI_EXITING | PIN_BASED.ACTIVATE_PREEMPTION_TIMER,
      ),
    );
    const proc = cpu.vmread(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
    const hlt = this.options.haltExiting === false ? 0 : PROC_BASED.HLT_EXITING;
    cpu.vmwrite(
      VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
      ((proc & ~(PROC_BASED.HLT_EXITING | PROC_BASED.INTERRUPT_WINDOW_EXITING)) | hlt) >>> 0,
    );
    cpu.vmwrite(VMCS_FIELD.EXCEPTION_BITMAP, 1 << EXCEPTION.NP);
    cpu.vmwrite(VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE, this.timerValue);
    cpu.vmwrite(VMCS_FIELD.GUEST_IDTR_BASE, this.shadowGpa);
    cpu.vmwrite(VMCS_FIELD.GUEST_IDTR_LIMIT, 256 * IDT_GATE_SIZE - 1);
    this.setEoiIntercept(vcpu, !this.options.exitlessEoi || st.eoiProbe);
    return this.costs.modeSwitch;
  }

  private enterInjection(cpu: CpuContext, vcpu: VcpuControl, st: EliVcpuState): number {
    st.mode = ELI_MODE.INJECTION;
    this.cToInjection.inc();
    cpu.vmwrite(
      VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL,
      vcpu.adjustControl(
        VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL,
        PIN_BASED.EXTERNAL_INTERRUPT_EXITING | PIN_BASED.NMI_EXITING,
      ),
    );
    const proc = cpu.vmread(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
    cpu.vmwrite(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, (proc | PROC_BASED.HLT_EXITING) >>> 0);
    cpu.vmwrite(VMCS_FIELD.EXCEPTION_BITMAP, 0);
    cpu.vmwrite(VMCS_FIELD.GUEST_IDTR_BASE, st.guestIdtBase);
    cpu.vmwrite(VMCS_FIELD.GUEST_IDTR_LIMIT, st.guestIdtLimit);
    this.setEoiIntercept(vcpu, true);
    return this.costs.modeSwitch;
  }

  /** Sets or clears the write-intercept bit of the x2APIC EOI MSR in the vCPU's MSR bitmap (in host memory). */
  private setEoiIntercept(vcpu: VcpuControl, intercept: boolean): void {
    const mem = vcpu.vm.hostMemory;
    const pos = msrBitmapPosition(MSR.X2APIC_EOI, true);
    const at = vcpu.msrBitmapAddress + (pos >>> 3);
    const bit = 1 << (pos & 7);
    const b = mem.read8(at);
    mem.write8(at, intercept ? b | bit : b & ~bit);
  }

  // ---- the shadow IDT ------------------------------------------------------------------

  private assignmentKey(vcpu: VcpuControl): number {
    let generation = 0;
    for (const a of vcpu.vm.assigned) generation += a.generation;
    return generation;
  }

  /**
   * Writes the shadow IDT into the host page mapped at the shadow's guest-physical address:
   * exceptions 0–31 from the guest's IDT, every external vector not present (type kept:
   * an interrupt gate with P = 0), and each assigned host vector with the guest's gate for
   * the guest vector it carries. Returns its cost.
   */
  private rebuildShadow(vcpu: VcpuControl, st: EliVcpuState): number {
    const vm = vcpu.vm;
    const host = vm.hostMemory;
    const guest = vm.memory;
    const gate = st.gate;
    const readGuestGate = (vector: number): boolean => {
      const at = st.guestIdtBase + vector * IDT_GATE_SIZE;
      if (vector * IDT_GATE_SIZE + IDT_GATE_SIZE - 1 > st.guestIdtLimit) return false;
      return guest.readBytes(at, gate, 0, IDT_GATE_SIZE);
    };
    const notPresent = new Uint8Array(IDT_GATE_SIZE);
    encodeIdtGate(interruptGate(0, { present: false, type: GATE_TYPE.INTERRUPT }), notPresent);
    for (let v = 0; v < 256; v++) {
      const at = vm.strategyPage + v * IDT_GATE_SIZE;
      if (v < 32 && readGuestGate(v)) host.writeBytes(at, gate);
      else host.writeBytes(at, notPresent);
    }
    for (const a of vm.assigned) {
      for (let i = 0; i < a.hostVectors.length; i++) {
        const hv = a.hostVectors[i]!;
        const gv = a.guestVectors[i]!;
        if (hv < 32 || gv < 32 || !readGuestGate(gv)) continue;
        host.writeBytes(vm.strategyPage + hv * IDT_GATE_SIZE, gate);
      }
    }
    st.builtFor = this.assignmentKey(vcpu);
    st.isrWord = -1;
    for (const a of vm.assigned)
      for (const hv of a.hostVectors) if (hv >= 32 && st.isrWord < 0) st.isrWord = hv >>> 5;
    this.cRebuilds.inc();
    return this.costs.shadowRebuild;
  }
}

/** What `eliStrategy` needs: the calibration profile, where to count, and the variant. */
export interface EliStrategyOptions {
  /**
   * Reads a profile entry by key: `cpu.hz`, `cpu.vmxPreemptionRate`, `host.injection`,
   * `host.otherExit`, `host.msrEmulation`, `host.eoiEmulation`, `eli.modeSwitch`,
   * `eli.shadowRebuild`, `eli.hostInterruptExit`, `eli.descriptorTableEmulation`, and
   * `eli.preemptionTimerMs` unless `preemptionTimerMs` is given.
   */
  readonly value: ProfileReader;
  /** Where ELI's counters go (`to-direct-mode`, `host-interrupts-via-np`…). */
  readonly stats: ScopedStats;
  /** True for `eli` (the guest's EOI MSR write reaches the physical LAPIC); false for `eli-delivery`. */
  readonly exitlessEoi: boolean;
  /** Whether HLT exits in direct mode (default true, as in the authors' code; false: `eli-guest-hlt`). */
  readonly haltExiting?: boolean;
  /** The VMX-preemption timer's period, ms (default: the profile's `eli.preemptionTimerMs`, 5 ms as in the authors' code). */
  readonly preemptionTimerMs?: number;
}

/**
 * ELI's strategy with its costs from the calibration profile: the one place that says which
 * profile entry each of ELI's costs is (the machine's `eli`, `eli-delivery` and
 * `eli-guest-hlt` modes are built here, and a user's variant the same way).
 */
export function eliStrategy(options: EliStrategyOptions): EliStrategy {
  const v = options.value;
  return new EliStrategy({
    exitlessEoi: options.exitlessEoi,
    ...(options.haltExiting !== undefined ? { haltExiting: options.haltExiting } : {}),
    preemptionTimerPs: Math.round((options.preemptionTimerMs ?? v('eli.preemptionTimerMs')) * 1e9),
    tscHz: v('cpu.hz'),
    preemptionRate: v('cpu.vmxPreemptionRate'),
    costs: {
      injection: v('host.injection'),
      modeSwitch: v('eli.modeSwitch'),
      shadowRebuild: v('eli.shadowRebuild'),
      hostInterruptExit: v('eli.hostInterruptExit'),
      descriptorTableEmulation: v('eli.descriptorTableEmulation'),
      preemptionTimerExit: v('host.otherExit'),
      eoiExit: v('host.msrEmulation') + v('host.eoiEmulation'),
      apicReadEmulation: v('host.msrEmulation'),
    },
    stats: options.stats,
  });
}
