import type { CpuContext, MsrValue } from '@exitless/x86';
import type { ApicWriteResult } from './virtual-apic.js';
import type { Vm } from './vm.js';

/**
 * Reads one entry of the calibration profile by key (`'host.injection'`, `'eli.modeSwitch'`…).
 * A strategy package's factory takes one, so that it needs no dependency on the machine that
 * owns the profile (the machine passes `(key) => profileValue(profile, key)`).
 */
export type ProfileReader = (key: string) => number;

/** What `handleExit` returns to leave an exit to the hypervisor's own handlers. */
export const EXIT_NOT_HANDLED = -1;
/** The type of {@link EXIT_NOT_HANDLED}. */
export type ExitNotHandled = typeof EXIT_NOT_HANDLED;

/** Called with the value of an RDMSR the host made on the strategy's behalf (EDX:EAX); after a WRMSR with 0, 0. */
export type HostMsrContinuation = (lo: number, hi: number) => void;

/**
 * The virtual LAPIC as a strategy sees it: KVM's emulated local APIC of one vCPU (a full
 * LAPIC model whose timer the host emulates on an hrtimer). Reads and writes go through the
 * same emulation as the guest's trapped accesses, so a strategy that emulates an access
 * (ELI's trapped EOI, its merged ISR read) behaves exactly as the hypervisor would.
 */
export interface VirtualLapic {
  /** True while the guest's LAPIC is in x2APIC mode (IA32_APIC_BASE.EXTD). */
  readonly x2apicMode: boolean;
  /** The task-priority register (TPR), 8 bits. */
  readonly taskPriority: number;
  /** True when the virtual LAPIC has an interrupt it would deliver now (IRR above PPR). */
  hasInterrupt(): boolean;
  /** The highest vector in the virtual ISR, or −1. */
  highestInService(): number;
  /** The highest vector in the virtual IRR (deliverable or not), or −1. */
  highestPending(): number;
  /** Sets a fixed, edge-triggered interrupt pending in the virtual IRR (KVM's __apic_accept_irq). */
  raise(vector: number): void;
  /** Acknowledges the highest deliverable interrupt (IRR → ISR) and returns its vector (an injection's first half). */
  acknowledge(): number;
  /**
   * Removes the highest vector from the virtual IRR and returns it (−1 when none), leaving
   * nothing in service: for a design whose hardware keeps the guest's IRR and ISR elsewhere
   * (APICv's virtual-APIC page), which moves the interrupts the host raised here (the emulated
   * timer, an IPI) there — as KVM's __apic_accept_irq posts them with APICv.
   */
  takePending(): number;
  /**
   * Emulates a WRMSR to an x2APIC register, IA32_APIC_BASE or IA32_TSC_DEADLINE. On
   * `APIC_WRITE.EOI`, `eoiVector` is the vector the EOI ended.
   */
  writeMsr(index: number, lo: number, hi: number): ApicWriteResult;
  /** Emulates an RDMSR of an x2APIC register or IA32_APIC_BASE into `out`; false means #GP. */
  readMsr(index: number, out: MsrValue): boolean;
  /** Emulates a 32-bit store to the xAPIC page at `offset` (never faults). */
  writeMmio(offset: number, value: number): ApicWriteResult;
  /** Emulates a 32-bit load from the xAPIC page at `offset`. */
  readMmio(offset: number): number;
  /** After a write that returned `APIC_WRITE.EOI`: the vector it ended (the highest in service before it), or −1 when none was. */
  readonly eoiVector: number;
  /** The guest's LAPIC-timer programming, as the emulation holds it. */
  readonly timer: GuestTimerProgramming;
}

/**
 * The guest's LAPIC-timer programming as KVM's emulation holds it: what a design needs to run
 * the guest's timer on the physical LAPIC timer (did).
 */
export interface GuestTimerProgramming {
  /** Bumped by every guest write of LVT Timer, Divide Configuration, Initial Count or IA32_TSC_DEADLINE. */
  readonly generation: number;
  /** LVT Timer as the guest wrote it (vector, mask, mode). */
  readonly lvt: number;
  /** Divide Configuration as the guest wrote it. */
  readonly divideConfig: number;
  /** The timer's mode (TIMER_MODE). */
  readonly timerMode: number;
  /** The Initial Count the timer runs with (a periodic one's raised to KVM's min_timer_period_us). */
  readonly runCount: number;
  /** The armed TSC deadline (TSC-deadline mode) as a TSC value, or 0. */
  readonly deadlineTsc: number;
  /** Bumped by every guest write of Initial Count or IA32_TSC_DEADLINE (each starts the count again). */
  readonly countGeneration: number;
  /** Stops the emulation's hrtimer: the physical timer runs the guest's timer instead. */
  disarm(): void;
}

/**
 * What a strategy may see and do on one vCPU: the hypervisor's side of the seam. Every
 * hook receives it; nothing else of the vCPU is a strategy's to touch. Requests are
 * recorded and carried out by the vCPU loop at the next point where the host may do so
 * (documented per method); at most one host MSR access is outstanding at a time.
 */
export interface VcpuControl {
  /** The vCPU's index in its VM. */
  readonly id: number;
  /** Its VM: guest memory, the assigned functions and their vectors, the host page kept for a strategy. */
  readonly vm: Vm;
  /** Host-physical address of the vCPU's MSR bitmap (4 KiB; a strategy may clear or set intercept bits). */
  readonly msrBitmapAddress: number;
  /** The APIC ID of the physical CPU the vCPU runs on (a posted-interrupt descriptor's NDST). */
  readonly pcpuApicId: number;
  /** Host-physical address of a 4 KiB page kept for the vCPU's virtual-APIC page (APICv; never mapped into the guest). */
  readonly virtualApicAddress: number;
  /** Host-physical address of 64 bytes (64-byte aligned) kept for the vCPU's posted-interrupt descriptor. */
  readonly postedDescriptorAddress: number;
  /** The virtual LAPIC. */
  readonly apic: VirtualLapic;
  /**
   * A VMCS control field's value with the bits the CPU requires set and those it does not
   * allow cleared (KVM's adjust_vmx_controls). Asking for a bit the CPU does not allow
   * stops the VM with a report.
   */
  adjustControl(field: number, desired: number): number;
  /**
   * Asks the host to RDMSR `index` on the physical CPU and call `done` with the value. From
   * `handleExit` the loop makes the access after the exit's handling, interrupts on; from
   * `beforeEntry` it makes it with interrupts off and calls `beforeEntry` again (the guest's
   * registers are loaded only on the last pass). `done` may request another access.
   */
  requestHostRdmsr(index: number, done: HostMsrContinuation): void;
  /** Asks the host to WRMSR `index` on the physical CPU (an EOI to the physical LAPIC, say), at the same points, then call `done` (if given) with 0, 0. */
  requestHostWrmsr(index: number, lo: number, hi: number, done?: HostMsrContinuation): void;
  /** True while a host MSR access is requested and not yet made. */
  readonly hostMsrPending: boolean;
  /**
   * Asks the host to run its own IDT handler for `vector` right after this exit, interrupts
   * off: for a physical interrupt the CPU acknowledged on its way out of the guest (ELI's
   * #NP exit). Only from `handleExit`.
   */
  dispatchHostInterrupt(vector: number): void;
  /** Queues hardware exception `vector` (with `errorCode` when the exception has one) for the next entry. */
  queueException(vector: number, errorCode: number): void;
  /** Completes the guest's exiting RDMSR or MMIO load: EDX:EAX are loaded with `hi`:`lo` at the next entry. */
  completeRead(lo: number, hi: number): void;
  /** Turns interrupt-window exiting on or off (the guest exits, reason 7, as soon as it can take an interrupt). */
  setInterruptWindowExiting(cpu: CpuContext, on: boolean): void;
  /** Injects external interrupt `vector` at the next entry (VM-entry interruption information), counted as an injection. */
  injectInterrupt(cpu: CpuContext, vector: number): void;

  // ---- the host's timers on this CPU (a design that gives the guest the physical LAPIC timer: did) ----

  /**
   * The earliest expiry among the host's hrtimers on this vCPU's physical CPU, ps, or −1: all
   * of them, or (`includeGuestTimer` false) all but the vCPU's emulated LAPIC timer.
   */
  hostTimerExpiry(includeGuestTimer: boolean): number;
  /**
   * Runs the host's hrtimers due now, as its timer interrupt would (hrtimer_interrupt), from
   * the vCPU loop: all of them, or (`includeGuestTimer` false) all but the vCPU's emulated LAPIC
   * timer. For a design that owns the core's LAPIC timer (`ownsLapicTimer`). Returns cycles.
   */
  runHostTimers(cpu: CpuContext, includeGuestTimer: boolean): number;
}

/**
 * The seam where an interrupt-virtualization design plugs into the hypervisor. A strategy
 * decides the VMCS controls of each vCPU, what happens before every VM entry (injecting
 * virtual interrupts, switching modes), which exits it handles itself, and what a guest EOI
 * and an assigned-device interrupt mean. `baseline` (KVM's device assignment) lives in this
 * package; ELI and the designs to come (posted interrupts, PV EOI, DID) plug in from their
 * own packages without touching the hypervisor's internals.
 *
 * `S` is the strategy's own per-vCPU state: `createVcpuState` makes it once per vCPU and
 * every hook receives it (last), so a strategy keeps no table of vCPUs and the hypervisor
 * none of the strategy's fields. Hooks run inside host routines on the vCPU's physical CPU,
 * whose current VMCS is the vCPU's: they may use the CPU's immediate members (vmread,
 * vmwrite, the guest's registers as saved at the exit, `now`), act through `VcpuControl`,
 * and return the cycles of host software they stand for (charged by the loop). They must not
 * allocate per call (preallocate in `S`).
 */
export interface InterruptVirtualization<S = unknown> {
  /** The mode's name (for reports). */
  readonly name: string;
  /** A one-line description of the design's mechanisms, for reports (text, not cycles). */
  describe(): string;
  /** Makes the strategy's state for a new vCPU, when its VM is created (before `configureVcpu`). */
  createVcpuState(vcpu: VcpuControl): S;
  /**
   * Sets the design's VMCS controls and bitmaps, once, when the vCPU's loop starts: its
   * VMCS is current, the fields every design shares are written, and the MSR bitmap
   * intercepts everything. The hypervisor then adds EPT to the secondary controls.
   */
  configureVcpu(cpu: CpuContext, vcpu: VcpuControl, state: S): void;
  /**
   * Runs before every VM entry with host IF = 0 (unless an event cut by the last exit is
   * being re-delivered, and `beforeEveryEntry` is not set): inject, switch modes, change controls. May request a host MSR
   * access, after which it runs again once the access is made. Returns cycles.
   */
  beforeEntry(cpu: CpuContext, vcpu: VcpuControl, state: S): number;
  /**
   * Runs instead of `beforeEntry` before an entry that re-delivers an event the last exit cut
   * (or an exception an exit handler queued), when `beforeEveryEntry` is not set; optional. KVM's
   * vcpu_enter_guest re-injects the cut event (inject_pending_event returns early) and then
   * still asks for an interrupt window when the vCPU has an interrupt pending (Linux 2.6.38
   * arch/x86/kvm/x86.c: `else if (kvm_cpu_has_interrupt(vcpu) || req_int_win)
   * enable_irq_window`), so the pending interrupt comes at the first boundary where the guest
   * can take it. No host MSR access. Returns cycles.
   */
  beforeRedeliveringEntry?(cpu: CpuContext, vcpu: VcpuControl, state: S): number;
  /**
   * Offered every exit first, with its basic exit reason (SDM vol. 3 appendix C), after the
   * exit is counted. Returns the cycles of handling it, or `EXIT_NOT_HANDLED` to leave it to
   * the hypervisor's own handlers (which then also re-deliver an event the exit cut).
   */
  handleExit(cpu: CpuContext, vcpu: VcpuControl, reason: number, state: S): number;
  /** The guest EOI'd `vector` in its virtual LAPIC (a trapped EOI the hypervisor emulated). Returns cycles. */
  onVirtualEoi(cpu: CpuContext, vcpu: VcpuControl, vector: number, state: S): number;
  /**
   * The IRQ thread of an assigned device's interrupt runs on the host (kvm_set_irq): deliver
   * `guestVector` to the guest (baseline: `vcpu.apic.raise`, injected at the next entry).
   * Runs outside the vCPU's loop, so no VMCS access. Returns cycles.
   */
  assignedInterrupt(vcpu: VcpuControl, guestVector: number, state: S): number;

  /**
   * True when `beforeEntry` must run before every entry, also one that re-delivers an event
   * the last exit cut (or an exception an exit handler queued): for a design whose entry work
   * is more than injecting (did hands the TSC deadline and the TPR to the guest and arms the
   * preemption timer). It must then not inject over the event being delivered.
   */
  readonly beforeEveryEntry?: boolean;
  /**
   * True for a design that gives the core's physical LAPIC timer to the guest while its vCPU
   * lives (did): the host never arms it for its own hrtimers then, and runs them from the vCPU
   * loop (`runHostTimers`) after the VMX-preemption timer's exits instead; the timer vector's
   * interrupts that the host takes then are the guest's (`hostInterrupt`). Once the VM is
   * stopped the host takes its timer back.
   */
  readonly ownsLapicTimer?: boolean;

  // ---- optional: a design whose hardware delivers interrupts itself (APICv, posted interrupts) ----

  /**
   * True when the host should write a posted-format IRTE for an assigned function's MSI-X
   * entry the guest programmed (a fixed or lowest-priority message to the vCPU alone), aimed
   * at the vCPU's posted-interrupt descriptor with the guest's vector (KVM's
   * vmx_update_pi_irte); other entries keep the remapped format and the host vector.
   */
  readonly postsAssignedInterrupts?: boolean;
  /**
   * A design that delivers an assigned function's interrupt with the guest's own vector
   * through a remapped IRTE aimed at the vCPU's physical CPU (`did`): the physical vector to
   * program for a message the guest programmed with `guestVector` (fixed or lowest-priority,
   * physical destination, the vCPU's APIC ID), or −1 to refuse it (the entry then stays masked).
   * Absent: the host allocates a host vector of its own for every entry.
   */
  directVector?(guestVector: number): number;
  /**
   * True for a design that gives the guest every maskable interrupt of its core while it runs
   * (did): the host routes its own device interrupts for that core as NMIs (which exit, NMI
   * exiting on) and handles the recorded interrupts in its NMI handler.
   */
  readonly hostInterruptsAsNmi?: boolean;
  /** Host vectors whose handler is the design's (`hostInterrupt`), not the host's default. */
  readonly hostVectors?: readonly number[];
  /**
   * The host took one of `hostVectors` on physical CPU `pcpu` (interrupts off, in the host's
   * IDT handler, before its EOI); `vcpu` is the vCPU pinned there, or null. Returns cycles.
   */
  hostInterrupt?(pcpu: number, vector: number, vcpu: VcpuControl | null, state: S | null): number;
  /**
   * Whether a blocked (halted) vCPU has an interrupt to take, replacing the virtual LAPIC's
   * `hasInterrupt` (KVM's kvm_cpu_has_interrupt, which syncs the PIR first with APICv).
   */
  hasInterrupt?(vcpu: VcpuControl, state: S): boolean;
  /** The vCPU is about to block after a HLT exit, interrupts off (KVM's pre_block hook). */
  preBlock?(vcpu: VcpuControl, state: S): void;
  /** The blocked vCPU is runnable again, interrupts off, before its next entry (post_block). */
  postBlock?(vcpu: VcpuControl, state: S): void;
  /**
   * The vCPU is blocked and the host has its CPU, interrupts off: at the block's start and
   * each time the idle CPU wakes (a host interrupt) before it looks for the vCPU's interrupt.
   * A design that must look at the physical CPU while its guest sleeps (ELI: an assigned
   * vector the guest left in service holds off the host's interrupts) may request one host
   * MSR access here; the loop makes it at once, runs its continuation (which may request
   * another) and calls this hook again before it goes on.
   */
  whileBlocked?(cpu: CpuContext, vcpu: VcpuControl, state: S): void;
  /** The vCPU thread is preempted by another host thread (KVM's vcpu_put on sched_out). */
  vcpuPut?(vcpu: VcpuControl, state: S): void;
  /** The preempted vCPU thread runs again (vcpu_load on sched_in). */
  vcpuLoad?(vcpu: VcpuControl, state: S): void;
}
