/**
 * `did`: Direct Interrupt Delivery (Tu, Ferdman, Lee, Chiueh, VEE 2015) as this model builds
 * it. What the paper's abstract says DID does — deliver the interrupts of SR-IOV devices and
 * timers to the guest with no exits, with no change to the guest, and with the correct priority
 * among interrupts in all cases — is the target. Its design section could not be read here
 * (docs/design/did-research-notes.md), so every mechanism below is a stated choice, listed with
 * its reasons in the root README's DID section.
 *
 * The idea: while a vCPU lives on its core (one vCPU per core, pinned), the core's physical
 * LAPIC is the guest's — every interrupt it holds, its TPR and its timer — so the LAPIC itself
 * arbitrates the guest's interrupts (IRR, ISR, PPR), and the guest uses its own IDT and EOIs
 * them directly. The host needs no maskable interrupt on that core meanwhile.
 * - External-interrupt exiting is off and the guest's IDT is the CPU's IDT (no shadow IDT).
 *   HLT does not exit: the guest halts in guest mode, and its interrupts wake it there.
 * - The VF's MSI-X entries are remapped IRTEs that carry the guest's own vector to the core
 *   of the vCPU (`directVector`); a vector below 0x20 or in the classes 0xE0 and up (the
 *   host's own on other cores) is refused, and its entry stays masked.
 * - The guest's x2APIC EOI write reaches the physical LAPIC (the MSR bitmap lets it through),
 *   and so do its reads of PPR, ISR, IRR and the timer's current count, and its reads and
 *   writes of IA32_TSC_DEADLINE.
 * - The guest's writes of TPR, LVT Timer, Divide Configuration and Initial Count exit and
 *   are emulated as KVM does (a periodic timer's period raised to min_timer_period_us); before
 *   the next entry the host copies them into the physical LAPIC, so the guest's timer runs on
 *   the physical timer and its interrupts reach the guest with no exit, and the physical TPR
 *   holds back what the guest masks.
 * - The host's hrtimers (its tick) bound each run through the VMX-preemption timer (exit 52)
 *   and run from the vCPU loop before the next entry (`ownsLapicTimer`). The host's own device
 *   interrupts for the core arrive as NMIs (`hostInterruptsAsNmi`), which exit.
 * - A guest interrupt that the host takes while it runs after an exit (interrupts on) is
 *   recorded; before the next entry the host raises it again as a self-IPI with interrupts off,
 *   so the physical LAPIC delivers it through the guest's IDT at the entry, in priority order
 *   with everything else. Virtual interrupts of the emulated LAPIC (an IPI the guest sent
 *   itself, a timer whose vector the physical LAPIC cannot take) go the same way.
 */
import type { Counter, ScopedStats } from '@exitless/sim';
import {
  type CpuContext,
  EXIT_CONTROLS,
  EXIT_REASON,
  high32,
  LVT,
  low32,
  MSR,
  msrBitmapPosition,
  PIN_BASED,
  PROC_BASED,
  TIMER_MODE,
  VMCS_FIELD,
} from '@exitless/x86';
import { HypervisorConfigError } from './hypervisor.js';
import { HOST_VECTOR } from './layout.js';
import {
  EXIT_NOT_HANDLED,
  type ExitNotHandled,
  type InterruptVirtualization,
  type ProfileReader,
  type VcpuControl,
} from './strategy.js';

/** The lowest and highest vectors a guest's assigned interrupt may carry under `did` (classes 2–13, below every host vector). */
export const DID_VECTOR_RANGE = {
  /** The lowest: 0x20 (class 2). */
  lowest: 0x20,
  /** The highest: 0xDF (class 13). */
  highest: 0xdf,
} as const;

/** Host software cycles of `did`'s own work (from the calibration profile). */
export interface DidCosts {
  /** Re-raising one recorded interrupt as a self-IPI before an entry (deciding what to deliver, as an injection's host side). */
  readonly reraise: number;
  /** The host's handler body for a guest's vector that arrived while the host ran (as an assigned device's hard IRQ). */
  readonly hostTakesGuestVector: number;
  /** Handling a VMX-preemption-timer exit (the host's hrtimers then run before the next entry). */
  readonly preemptionTimerExit: number;
}

/** `did`'s counters (under the strategy's stats scope). */
export interface DidCounters {
  /** Guest vectors the host took while it ran after an exit, recorded for the next entry. */
  readonly takenByHost: Counter;
  /** Interrupts raised again as physical self-IPIs before an entry. */
  readonly selfIpis: Counter;
  /** Copies of the guest's timer programming into the physical LAPIC timer. */
  readonly timerCopies: Counter;
  /** Runs of the host's hrtimers from the vCPU loop (after a preemption-timer exit, say). */
  readonly hostTimerRuns: Counter;
}

/** The physical LAPIC-timer register the host copies next (one WRMSR per pass before an entry). */
const COPY = { LVT: 0, DIVIDE: 1, COUNT: 2 } as const;

/** `did`'s state for one vCPU. */
export class DidVcpuState {
  /** Guest vectors recorded by the host while it ran, to raise again before the entry (a 256-bit set). */
  readonly pending: Uint32Array = new Uint32Array(8);
  /** How many bits `pending` holds. */
  pendingCount = 0;
  /** The guest timer's programming generation the physical timer holds (−1: none yet). */
  timerGeneration = -1;
  /** The Initial Count / TSC-deadline generation the physical timer holds. */
  countGeneration = -1;
  /** The LVT Timer and Divide Configuration values the physical LAPIC holds (−1: unknown). */
  physicalLvt = -1;
  /** The Divide Configuration value the physical LAPIC holds (−1: unknown). */
  physicalDivide = -1;
  /** The copy in progress: the next register to write. */
  copyStep: number = COPY.LVT;
  /** The physical TPR as the host last wrote it (the guest's). */
  physicalTpr = 0;
}

/** See the module comment. */
export class DidStrategy implements InterruptVirtualization<DidVcpuState> {
  readonly name: string = 'did';
  readonly hostVectors: readonly number[];
  /** The host's own device interrupts for a VM core arrive as NMIs (`Hypervisor.hostDeviceInterrupt`). */
  readonly hostInterruptsAsNmi: boolean = true;
  /** The TPR, the timer and the preemption timer are set before every entry, a re-delivery's too. */
  readonly beforeEveryEntry: boolean = true;
  /** The core's LAPIC timer is the guest's while the vCPU lives. */
  readonly ownsLapicTimer: boolean = true;
  /** The strategy's counters. */
  readonly counters: DidCounters;
  private readonly costs: DidCosts;
  private readonly tscHz: number;
  private readonly preemptionRate: number;

  constructor(options: {
    readonly costs: DidCosts;
    readonly stats: ScopedStats;
    /** TSC frequency, Hz, and IA32_VMX_MISC[4:0] (the preemption timer's rate), to set the timer's value. */
    readonly tscHz: number;
    readonly preemptionRate: number;
  }) {
    this.costs = options.costs;
    this.tscHz = options.tscHz;
    this.preemptionRate = options.preemptionRate;
    const s = options.stats;
    this.counters = {
      takenByHost: s.counter('taken-by-host'),
      selfIpis: s.counter('self-ipis'),
      timerCopies: s.counter('timer-copies'),
      hostTimerRuns: s.counter('host-timer-runs'),
    };
    // Every vector a guest's interrupt can reach the host's IDT with while the host runs after
    // an exit (16–255: the LAPIC delivers no lower one). The gates of the timer's vector and the
    // spurious vector stay the host's, whose handlers pass the guest's interrupts on them here.
    // (The host takes no exception on 16–31 in the model, so those gates can be the design's.)
    const vectors: number[] = [];
    for (let v = 0x10; v <= 0xff; v++) if (v !== HOST_VECTOR.LOCAL_TIMER) vectors.push(v);
    this.hostVectors = vectors;
  }

  describe(): string {
    return "guest IDT with external-interrupt exiting off and HLT in guest mode; VF MSIs remapped with the guest's vector; EOI, TPR and LAPIC timer the guest's; host time on the preemption timer, host interrupts as NMIs";
  }

  createVcpuState(_vcpu: VcpuControl): DidVcpuState {
    return new DidVcpuState();
  }

  configureVcpu(cpu: CpuContext, vcpu: VcpuControl, _st: DidVcpuState): void {
    const vm = vcpu.vm;
    if (vm.config.apicMode !== 'x2apic') {
      throw new HypervisorConfigError(
        `VM '${vm.name}': did passes the guest's x2APIC EOI MSR through to the physical LAPIC, so the guest must use x2APIC mode`,
      );
    }
    const set = (field: number, value: number) => cpu.vmwrite(field, vcpu.adjustControl(field, value));
    // External-interrupt exiting off: the core's physical interrupts go through the guest's
    // IDT. NMIs exit (the host's own interrupts for this core), and the preemption timer gives
    // the host its time. HLT does not exit.
    set(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL, PIN_BASED.NMI_EXITING | PIN_BASED.ACTIVATE_PREEMPTION_TIMER);
    set(
      VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
      PROC_BASED.USE_MSR_BITMAPS | PROC_BASED.ACTIVATE_SECONDARY_CONTROLS,
    );
    set(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL, 0);
    set(VMCS_FIELD.VM_EXIT_CONTROLS, EXIT_CONTROLS.HOST_ADDRESS_SPACE_SIZE);
    cpu.vmwrite(VMCS_FIELD.EXCEPTION_BITMAP, 0);
    // What reaches the physical LAPIC straight from the guest: the EOI write; the reads of PPR,
    // ISR, IRR and the timer's current count; IA32_TSC_DEADLINE both ways (ignored by the LAPIC
    // outside TSC-deadline mode, as the emulation ignores it).
    this.passThrough(vcpu, MSR.X2APIC_EOI, true);
    this.passThrough(vcpu, MSR.X2APIC_PPR, false);
    for (let i = 0; i < 8; i++) {
      this.passThrough(vcpu, MSR.X2APIC_ISR0 + i, false);
      this.passThrough(vcpu, MSR.X2APIC_IRR0 + i, false);
    }
    this.passThrough(vcpu, MSR.X2APIC_TIMER_CURRENT_COUNT, false);
    this.passThrough(vcpu, MSR.IA32_TSC_DEADLINE, false);
    this.passThrough(vcpu, MSR.IA32_TSC_DEADLINE, true);
  }

  /** Clears the read or write intercept bit of MSR `index` in the vCPU's MSR bitmap. */
  private passThrough(vcpu: VcpuControl, index: number, write: boolean): void {
    const mem = vcpu.vm.hostMemory;
    const pos = msrBitmapPosition(index, write);
    const at = vcpu.msrBitmapAddress + (pos >>> 3);
    mem.write8(at, mem.read8(at) & ~(1 << (pos & 7)));
  }

  directVector(guestVector: number): number {
    return guestVector >= DID_VECTOR_RANGE.lowest && guestVector <= DID_VECTOR_RANGE.highest
      ? guestVector
      : -1;
  }

  /**
   * Before an entry, interrupts off, one physical MSR access per pass (each brings the loop
   * back here): the host's due hrtimers, the guest's recorded and virtual interrupts as
   * self-IPIs, the guest's timer programming and TPR into the physical LAPIC, the preemption
   * timer.
   */
  beforeEntry(cpu: CpuContext, vcpu: VcpuControl, st: DidVcpuState): number {
    // A continuation asked for another physical MSR access: the loop makes it first.
    if (vcpu.hostMsrPending) return 0;
    const now = cpu.now;
    const apic = vcpu.apic;
    let cycles = 0;
    // The host's hrtimers due now (its tick), run here: the core's timer is not the host's.
    const due = vcpu.hostTimerExpiry(true);
    if (due >= 0 && due <= now) {
      this.counters.hostTimerRuns.inc();
      cycles += vcpu.runHostTimers(cpu, true);
    }
    // Interrupts recorded while the host ran, and virtual ones of the emulated LAPIC, go back to
    // the physical LAPIC as self-IPIs, one per pass: interrupts are off, so they wait in IRR
    // and are delivered through the guest's IDT at the entry, in priority order.
    const v = this.nextPending(vcpu, st);
    if (v >= 0) {
      this.counters.selfIpis.inc();
      vcpu.requestHostWrmsr(MSR.X2APIC_SELF_IPI, v, 0);
      return cycles + this.costs.reraise;
    }
    // The guest's timer programming into the physical timer, a register per pass.
    if (apic.timer.generation !== st.timerGeneration && this.copyTimer(vcpu, st)) return cycles;
    // The guest's TPR into the physical one, so that the LAPIC holds back what the guest
    // masks, as on bare metal (SDM vol. 3 §10.8.3.1).
    const tpr = apic.taskPriority;
    if (tpr !== st.physicalTpr) {
      st.physicalTpr = tpr;
      vcpu.requestHostWrmsr(MSR.X2APIC_TPR, tpr, 0);
      return cycles;
    }
    // The host's next hrtimer (the guest's emulated timer among them while it is not on the
    // physical timer) bounds the run through the VMX-preemption timer.
    const until = vcpu.hostTimerExpiry(true);
    const ticks =
      until < 0
        ? 0xffffffff
        : Math.min(
            0xffffffff,
            Math.max(0, Math.ceil(((until - now) * this.tscHz) / 1e12 / 2 ** this.preemptionRate)),
          );
    cpu.vmwrite(VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE, ticks);
    return cycles;
  }

  /**
   * Copies the guest's timer programming into the physical LAPIC timer, one register per call:
   * LVT Timer, Divide Configuration, then Initial Count (or the armed TSC deadline) — each only
   * when it changed, the count only when the guest wrote it again (a write starts the count).
   * Once done the emulation's hrtimer is stopped: the physical timer runs the guest's timer. A
   * timer vector the LAPIC cannot deliver (below 16) stays with the emulation, the physical
   * timer masked. Returns true when it asked for a WRMSR.
   */
  private copyTimer(vcpu: VcpuControl, st: DidVcpuState): boolean {
    const t = vcpu.apic.timer;
    const legal = (t.lvt & LVT.VECTOR_MASK) >= 16;
    for (;;) {
      switch (st.copyStep) {
        case COPY.LVT: {
          st.copyStep = COPY.DIVIDE;
          const lvt = legal ? t.lvt : (t.lvt | LVT.MASKED) >>> 0;
          if (lvt === st.physicalLvt) continue;
          // A change of mode disarms the physical timer, as it disarmed the emulation's.
          if (((lvt ^ st.physicalLvt) >>> LVT.TIMER_MODE_SHIFT) & 3) st.countGeneration = -1;
          st.physicalLvt = lvt;
          this.counters.timerCopies.inc();
          vcpu.requestHostWrmsr(MSR.X2APIC_LVT_TIMER, lvt, 0);
          return true;
        }
        case COPY.DIVIDE:
          st.copyStep = COPY.COUNT;
          if (t.divideConfig === st.physicalDivide) continue;
          st.physicalDivide = t.divideConfig;
          vcpu.requestHostWrmsr(MSR.X2APIC_TIMER_DIVIDE_CONFIG, t.divideConfig, 0);
          return true;
        default: {
          st.copyStep = COPY.LVT;
          st.timerGeneration = t.generation;
          const write = t.countGeneration !== st.countGeneration;
          st.countGeneration = t.countGeneration;
          if (!legal) return false;
          t.disarm();
          if (!write) return false;
          if (t.timerMode === TIMER_MODE.TSC_DEADLINE) {
            const tsc = t.deadlineTsc;
            vcpu.requestHostWrmsr(MSR.IA32_TSC_DEADLINE, low32(tsc), high32(tsc));
          } else {
            vcpu.requestHostWrmsr(MSR.X2APIC_TIMER_INITIAL_COUNT, t.runCount, 0);
          }
          return true;
        }
      }
    }
  }

  /** The next interrupt to raise again before the entry: a recorded guest vector, else a virtual one; −1 when none. */
  private nextPending(vcpu: VcpuControl, st: DidVcpuState): number {
    if (st.pendingCount > 0) {
      for (let i = 7; i >= 0; i--) {
        const w = st.pending[i]!;
        if (w === 0) continue;
        const bit = 31 - Math.clz32(w);
        st.pending[i] = (w & ~(1 << bit)) >>> 0;
        st.pendingCount--;
        return i * 32 + bit;
      }
    }
    for (;;) {
      const v = vcpu.apic.takePending();
      if (v < 0) return -1;
      // A vector the LAPIC cannot accept as a self-IPI (0–15) is dropped, as the LAPIC would.
      if (v >= 16) return v;
    }
  }

  /** Only the preemption timer's exit is did's own: the host's hrtimers then run before the next entry. */
  handleExit(
    _cpu: CpuContext,
    _vcpu: VcpuControl,
    reason: number,
    _st: DidVcpuState,
  ): number | ExitNotHandled {
    return reason === EXIT_REASON.PREEMPTION_TIMER ? this.costs.preemptionTimerExit : EXIT_NOT_HANDLED;
  }

  onVirtualEoi(_cpu: CpuContext, _vcpu: VcpuControl, _vector: number, _st: DidVcpuState): number {
    return 0;
  }

  /** An assigned interrupt through the host's own path: none arrive (a refused entry stays masked); raised like a virtual one if one did. */
  assignedInterrupt(vcpu: VcpuControl, guestVector: number, _st: DidVcpuState): number {
    if (guestVector >= 0) vcpu.apic.raise(guestVector);
    return 0;
  }

  /**
   * A guest's interrupt reached the host's IDT while the host ran after an exit (interrupts
   * on): the host's handler EOIs it; it is recorded here and raised again before the entry.
   */
  hostInterrupt(_pcpu: number, vector: number, vcpu: VcpuControl | null, st: DidVcpuState | null): number {
    if (vcpu === null || st === null) return 0;
    const w = vector >>> 5;
    const bit = 1 << (vector & 31);
    if ((st.pending[w]! & bit) === 0) {
      st.pending[w] = (st.pending[w]! | bit) >>> 0;
      st.pendingCount++;
    }
    this.counters.takenByHost.inc();
    return this.costs.hostTakesGuestVector;
  }

  /** Whether the vCPU has an interrupt to take (HLT does not exit: asked only of a loop about to idle). */
  hasInterrupt(vcpu: VcpuControl, st: DidVcpuState): boolean {
    return st.pendingCount > 0 || vcpu.apic.hasInterrupt();
  }
}

/** What `didStrategy` needs. */
export interface DidStrategyOptions {
  /** Reads `cpu.hz`, `cpu.vmxPreemptionRate`, `host.injection`, `host.assignedHardIrq` and `host.otherExit`. */
  readonly value: ProfileReader;
  /** Where the strategy keeps its counters. */
  readonly stats: ScopedStats;
}

/** `did` with its costs from the calibration profile. */
export function didStrategy(options: DidStrategyOptions): DidStrategy {
  const v = options.value;
  return new DidStrategy({
    costs: {
      reraise: v('host.injection'),
      hostTakesGuestVector: v('host.assignedHardIrq'),
      preemptionTimerExit: v('host.otherExit'),
    },
    tscHz: v('cpu.hz'),
    preemptionRate: v('cpu.vmxPreemptionRate'),
    stats: options.stats,
  });
}
