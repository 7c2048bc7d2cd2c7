import {
  APIC_BASE_MSR,
  APIC_DEFAULT_BASE,
  type CpuContext,
  type Frame,
  LVT,
  MSR,
  type Routine,
  TIMER_MODE,
} from '@exitless/x86';
import { adjustHaltPollNs } from './halt-poll.js';
import { writeDeadline } from './host-irq.js';
import type { Hypervisor } from './hypervisor.js';
import { HOST_LAYOUT, HOST_VECTOR } from './layout.js';
import { AFTER_EXIT, HOST_MSR_OP, type Vcpu } from './vcpu.js';

/** IA32_VMX_PINBASED_CTLS, _PROCBASED_CTLS, _EXIT_CTLS, _ENTRY_CTLS, _PROCBASED_CTLS2, in the order of the hypervisor's control fields. */
const CAPABILITY_MSRS = [
  MSR.IA32_VMX_PINBASED_CTLS,
  MSR.IA32_VMX_PROCBASED_CTLS,
  MSR.IA32_VMX_EXIT_CTLS,
  MSR.IA32_VMX_ENTRY_CTLS,
  MSR.IA32_VMX_PROCBASED_CTLS2,
];

/** The host's LVT Timer: its timer vector, unmasked, TSC-deadline mode (SDM vol. 3 §10.5.4.1). */
const HOST_LVT_TIMER = HOST_VECTOR.LOCAL_TIMER | (TIMER_MODE.TSC_DEADLINE << LVT.TIMER_MODE_SHIFT);

/**
 * Program counters (`Frame.pc`) of the host kernel's routine on a physical CPU: boot, then
 * the vCPU loop's states, the IRQ threads, idle, and the stopped VM's clean-up.
 */
export const LOOP = {
  BOOT_LIDT: 0,
  BOOT_APIC_BASE: 1,
  BOOT_SVR: 2,
  BOOT_LVT_TIMER: 3,
  /** 4–9: read the five VMX capability MSRs, one per step. */
  BOOT_CAPABILITIES: 4,
  /** Arm the first TSC deadline; then the vCPU (or idle). */
  ARM_TIMER: 10,
  /** CLI: KVM enters the guest with interrupts disabled. */
  VCPU_CLI: 11,
  /** VMCLEAR, VMPTRLD, the VMCS fields, the strategy's controls. */
  SETUP: 12,
  /** Before an entry, interrupts off: the TSC deadline, the strategy's injections, re-delivery, completions. */
  PREPARE: 13,
  /** VMLAUNCH / VMRESUME. */
  ENTER: 14,
  /** The exit's handler; then the host handler of an interrupt acknowledged on exit. */
  EXITED: 15,
  /** STI: the rest of the exit's handling runs with interrupts on. */
  EXIT_STI: 16,
  /** Interrupts off, about to block: go back to the guest if it has an interrupt, else idle. */
  BLOCK_CHECK: 17,
  /** The exit handler's cycles, interrupts on. */
  HANDLE: 18,
  /** After the exit: a host MSR access, the IRQ threads, HLT, else CLI and prepare. */
  AFTER_HANDLE: 19,
  IDLE_STI: 20,
  /** The switch to idle (once), then HLT until an interrupt. */
  IDLE: 21,
  IDLE_CLI: 22,
  /** The VM is stopped: EOI what it left in service, then idle. */
  STOPPED: 23,
  STOPPED_HLT: 24,
  /** The continuation of a host MSR access made after an exit. */
  HOST_MSR_DONE: 25,
  STOPPED_READ_ISR: 26,
  STOPPED_CHECK_ISR: 27,
  STOPPED_IDLE: 28,
  /** A host MSR access the strategy asked for while preparing an entry (interrupts off). */
  PREPARE_MSR: 29,
  PREPARE_MSR_DONE: 30,
  /** Switch to the IRQ thread. */
  THREAD_IN: 31,
  /** The IRQ thread's work, one interrupt at a time, then the switch back. */
  THREAD_WORK: 32,
  THREAD_DONE: 33,
  /**
   * KVM's halt polling (kvm_vcpu_block, Linux 4.0+), interrupts on: the check at the end of a
   * poll iteration, then the iterations up to the window's end but the last (a spin that an
   * interrupt ends); then back to BLOCK_CHECK with interrupts off, to run or to sleep.
   */
  HALT_POLL: 37,
  /** The poll's last iteration (or the one an interrupt came in), whose end HALT_POLL checks. */
  HALT_POLL_LAST: 38,
  /** The stopped VM's CPU idles: STI, then HLT for good (taking the host's interrupts). */
  STOPPED_STI: 39,
  /** The stopped VM's vectors left in service: the ISR read from the top. */
  STOPPED_SCAN: 40,
  /** The host's LAPIC timer set up again for a stopped VM's CPU. */
  STOPPED_LVT: 41,
  /** The continuation of a host MSR access the strategy asked for while its vCPU is blocked. */
  BLOCKED_MSR_DONE: 42,
} as const;

/** Where an IRQ thread's run returns (in `Frame.r3`): to the vCPU thread or to idle. */
const THREAD_FROM = { VCPU: 0, IDLE: 1 } as const;

/** Makes the host MSR access `vcpu` asked for; the loop continues at `next`. */
function hostMsrAccess(cpu: CpuContext, vcpu: Vcpu, f: Frame, next: number): void {
  const op = vcpu.hostMsr;
  const kind = op.kind;
  op.kind = HOST_MSR_OP.NONE;
  f.pc = next;
  if (kind === HOST_MSR_OP.RDMSR) cpu.rdmsr(op.index);
  else cpu.wrmsr(op.index, op.lo, op.hi);
}

/** Runs the continuation of the host MSR access just made, with its result. */
function hostMsrDone(cpu: CpuContext, vcpu: Vcpu): void {
  const op = vcpu.hostMsr;
  const done = op.done;
  op.done = null;
  if (done !== null) done(cpu.resultLo, cpu.resultHi);
}

/**
 * The host kernel on one physical CPU: boot (IDT, x2APIC, the TSC-deadline timer), then the
 * vCPU run loop (KVM's vcpu_run: prepare, enter, handle the exit, invoke the handler of an
 * interrupt acknowledged on exit, run the IRQ threads it woke, block on HLT) — or, with no
 * vCPU, the idle loop. Frame registers: r0 the exit's cycles, r1 the ISR word being read
 * (stopped VM), r2 whether PREPARE runs again after a host MSR access, r3 a THREAD_FROM.
 */
export class HostMainRoutine implements Routine {
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
        case LOOP.BOOT_LIDT:
          f.pc = LOOP.BOOT_APIC_BASE;
          cpu.lidt(HOST_LAYOUT.IDTR_SCRATCH);
          return;
        case LOOP.BOOT_APIC_BASE:
          f.pc = LOOP.BOOT_SVR;
          cpu.wrmsr(
            MSR.IA32_APIC_BASE,
            APIC_DEFAULT_BASE |
              APIC_BASE_MSR.ENABLE |
              APIC_BASE_MSR.EXTD |
              (this.pcpu === 0 ? APIC_BASE_MSR.BSP : 0),
            0,
          );
          return;
        case LOOP.BOOT_SVR:
          f.pc = LOOP.BOOT_LVT_TIMER;
          cpu.wrmsr(MSR.X2APIC_SVR, 0x100 | HOST_VECTOR.SPURIOUS, 0);
          return;
        case LOOP.BOOT_LVT_TIMER:
          f.pc = LOOP.BOOT_CAPABILITIES;
          cpu.wrmsr(MSR.X2APIC_LVT_TIMER, HOST_LVT_TIMER, 0);
          return;
        case LOOP.BOOT_CAPABILITIES:
        case LOOP.BOOT_CAPABILITIES + 1:
        case LOOP.BOOT_CAPABILITIES + 2:
        case LOOP.BOOT_CAPABILITIES + 3:
        case LOOP.BOOT_CAPABILITIES + 4:
        case LOOP.BOOT_CAPABILITIES + 5: {
          // Read the VMX capability MSRs (allowed-0 and allowed-1 settings of each control
          // field, SDM vol. 3 appendix A.3–A.5), as KVM's setup_vmcs_config does.
          const i = f.pc - LOOP.BOOT_CAPABILITIES;
          if (i > 0) hv.recordCapability(i - 1, cpu.resultLo, cpu.resultHi);
          if (i === CAPABILITY_MSRS.length) {
            f.pc = LOOP.ARM_TIMER;
            continue;
          }
          f.pc++;
          cpu.rdmsr(CAPABILITY_MSRS[i]!);
          return;
        }
        case LOOP.ARM_TIMER: {
          // Arm the first deadline, then start the vCPU (or idle).
          const t = hv.nextDeadline(this.pcpu);
          f.pc = st.vcpu === null ? LOOP.IDLE_STI : LOOP.VCPU_CLI;
          if (t >= 0) {
            writeDeadline(cpu, hv.tscAt(t));
            return;
          }
          continue;
        }
        case LOOP.VCPU_CLI:
          // KVM enters the guest with interrupts disabled.
          f.pc = LOOP.SETUP;
          cpu.cli();
          return;
        case LOOP.SETUP: {
          const vcpu = st.vcpu!;
          hv.setupVcpu(cpu, vcpu, vcpu.vm.entry);
          f.pc = LOOP.PREPARE;
          continue;
        }
        case LOOP.PREPARE: {
          const vcpu = st.vcpu!;
          if (vcpu.stopReason !== null) {
            // Stopped while preparing (a control the CPU does not allow, say).
            f.pc = LOOP.STOPPED;
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
          f.r2 = vcpu.hostMsrPending ? 1 : 0;
          f.pc = f.r2 === 1 ? LOOP.PREPARE_MSR : LOOP.ENTER;
          if (!again || cycles > 0) {
            cpu.compute(cycles);
            return;
          }
          continue;
        }
        case LOOP.PREPARE_MSR:
          // A strategy's MSR access before the entry, interrupts off (see prepareEntry).
          hostMsrAccess(cpu, st.vcpu!, f, LOOP.PREPARE_MSR_DONE);
          return;
        case LOOP.PREPARE_MSR_DONE:
          hostMsrDone(cpu, st.vcpu!);
          f.pc = LOOP.PREPARE;
          continue;
        case LOOP.ENTER: {
          const vcpu = st.vcpu!;
          f.pc = LOOP.EXITED;
          if (vcpu.launched) cpu.vmresume();
          else cpu.vmlaunch();
          return;
        }
        case LOOP.EXITED: {
          const vcpu = st.vcpu!;
          const cycles = hv.handleExit(cpu, vcpu);
          if (vcpu.stopReason !== null) {
            f.pc = LOOP.STOPPED;
            continue;
          }
          f.r0 = cycles;
          f.pc = LOOP.EXIT_STI;
          if (vcpu.afterExit === AFTER_EXIT.DISPATCH_HOST_INTERRUPT) {
            // An interrupt acknowledged on exit: its host handler runs now, with IF = 0
            // (KVM's handle_external_interrupt, through the gate in the host IDT).
            vcpu.afterExit = AFTER_EXIT.RESUME;
            const v = vcpu.afterExitVector;
            cpu.invokeInterruptHandler(hv.hostGateOffset(v), v);
            return;
          }
          continue;
        }
        case LOOP.EXIT_STI:
          // The rest of the exit's handling runs with interrupts on, as in KVM's vcpu_run:
          // any host interrupt still pending (one not acknowledged on exit, a timer that
          // fired while the guest kept IF = 0) is taken here.
          f.pc = LOOP.HANDLE;
          cpu.sti();
          return;
        case LOOP.HANDLE:
          f.pc = LOOP.AFTER_HANDLE;
          cpu.compute(Math.max(1, f.r0));
          return;
        case LOOP.HOST_MSR_DONE:
          hostMsrDone(cpu, st.vcpu!);
          f.pc = LOOP.AFTER_HANDLE;
          continue;
        case LOOP.AFTER_HANDLE: {
          const vcpu = st.vcpu!;
          if (vcpu.hostMsrPending) {
            // A strategy asked for an MSR access on the physical CPU (an EOI, an ISR read).
            hostMsrAccess(cpu, vcpu, f, LOOP.HOST_MSR_DONE);
            return;
          }
          if (st.threadsPending) {
            // An IRQ thread woken by a hard IRQ during the exit: it is SCHED_FIFO and
            // preempts the vCPU thread at the reschedule point of KVM's run loop
            // (need_resched → schedule), interrupts on; then back here.
            f.r3 = THREAD_FROM.VCPU;
            f.pc = LOOP.THREAD_IN;
            continue;
          }
          const halt = vcpu.afterExit === AFTER_EXIT.HALT;
          vcpu.afterExit = AFTER_EXIT.RESUME;
          if (halt) st.blockPending = true;
          // HLT: block the vCPU — but interrupts off first, then look for a pending virtual
          // interrupt, and only then STI;HLT (atomic): an interrupt the host took in the
          // window above must not be slept through (a lost wake-up).
          f.pc = halt ? LOOP.BLOCK_CHECK : LOOP.PREPARE;
          cpu.cli();
          return;
        }
        case LOOP.IDLE_STI:
          f.pc = LOOP.IDLE;
          cpu.sti();
          return;
        case LOOP.IDLE:
          if (st.vcpu !== null && !st.slept) {
            // kvm_vcpu_block's schedule(): the vCPU thread sleeps and the CPU switches to idle,
            // interrupts on. The idle loop then checks again with interrupts off before it
            // halts (an interrupt taken during the switch may have woken a thread or the vCPU:
            // halting past it would be a lost wake-up).
            st.slept = true;
            st.counters.contextSwitches.inc();
            f.pc = LOOP.IDLE_CLI;
            cpu.compute(hv.costs.contextSwitch + hv.costs.vcpuPutLoad);
            return;
          }
          // STI; HLT: an interrupt that arrived after the last check (with interrupts off) is
          // pending and ends the HLT at once.
          f.pc = LOOP.IDLE_CLI;
          cpu.hlt();
          return;
        case LOOP.IDLE_CLI:
          f.pc = LOOP.BLOCK_CHECK;
          cpu.cli();
          return;
        case LOOP.BLOCK_CHECK: {
          if (st.blockPending) {
            // kvm_vcpu_block's start, interrupts off: the design's pre_block hook (posted
            // interrupts: NV becomes the wake-up vector, NDST this CPU).
            st.blockPending = false;
            st.blocked = true;
            hv.preBlock(st.vcpu!);
            const poll = hv.options.haltPoll;
            if (poll !== undefined) {
              // kvm_vcpu_block's start: start = ktime_get(), and whether it polls — for the
              // vCPU's window — before it sleeps. x86's vcpu_block of Linux 4.x–5.x calls
              // pre_block before kvm_vcpu_block and post_block after it, so the design's hooks
              // bracket the poll too (until a rework of late 2021 moved the posted-interrupt
              // wake-up set-up to where the blocking vCPU thread is scheduled out). x86's
              // kvm_arch_no_poll allows the poll: the guest has not turned it off through
              // MSR_KVM_POLL_CONTROL, which the 4.15 guest does not know.
              const window = st.vcpu!.haltPollNs;
              st.blockStartPs = cpu.now;
              st.haltPollPending = window > 0;
              st.haltPollDeadlinePs = cpu.now + window * 1000;
            }
          }
          if (st.threadsPending) {
            // A hard IRQ woke an IRQ thread: the idle CPU switches to it (interrupts on),
            // and comes back here with interrupts off.
            f.r3 = THREAD_FROM.IDLE;
            f.pc = LOOP.THREAD_IN;
            cpu.sti();
            return;
          }
          const vcpu = st.vcpu;
          if (st.blocked && vcpu !== null && vcpu.stopReason === null) {
            // The design's look at the physical CPU while its guest sleeps (whileBlocked):
            // an MSR access it asks for is made now, interrupts still off.
            hv.whileBlocked(cpu, vcpu);
            if (vcpu.hostMsrPending) {
              hostMsrAccess(cpu, vcpu, f, LOOP.BLOCKED_MSR_DONE);
              return;
            }
          }
          // kvm_vcpu_block: go back to the guest once it has an interrupt to take. Having
          // slept, the vCPU thread is woken (try_to_wake_up) and switched to — from the IRQ
          // thread that woke it (which paid that switch) or from idle.
          if (vcpu !== null && vcpu.stopReason === null && hv.vcpuHasInterrupt(vcpu)) {
            f.pc = LOOP.PREPARE;
            st.haltPollPending = false;
            const slept = st.slept;
            let wake = 0;
            if (slept) {
              st.slept = false;
              const fromIdle = !st.fromThread;
              st.fromThread = false;
              if (fromIdle) st.counters.contextSwitches.inc();
              wake = hv.costs.haltWake + (fromIdle ? hv.costs.contextSwitch : 0);
            }
            if (st.blocked) {
              st.blocked = false;
              hv.postBlock(vcpu);
              const poll = hv.options.haltPoll;
              if (poll !== undefined) {
                // kvm_vcpu_block's end: block_ns runs from its start to the vCPU thread
                // running again (after the wake-up when it slept), the poll included; the
                // vCPU's window moves with it (grow_halt_poll_ns / shrink_halt_poll_ns).
                const endPs = cpu.now + (wake * 1e12) / cpu.hz;
                const blockNs = Math.floor((endPs - st.blockStartPs) / 1000);
                vcpu.haltPollNs = adjustHaltPollNs(vcpu.haltPollNs, blockNs, poll);
              }
            }
            if (!slept) continue;
            cpu.compute(wake);
            return;
          }
          if (st.haltPollPending) {
            // kvm_vcpu_block polls before it sleeps (the vCPU's window is open): interrupts on,
            // the CPU busy in the host, iteration after iteration (LOOP.HALT_POLL).
            st.haltPollPending = false;
            f.pc = LOOP.HALT_POLL;
            cpu.sti();
            return;
          }
          st.fromThread = false;
          f.pc = LOOP.IDLE_STI;
          continue;
        }
        case LOOP.BLOCKED_MSR_DONE:
          hostMsrDone(cpu, st.vcpu!);
          f.pc = LOOP.BLOCK_CHECK;
          continue;
        case LOOP.HALT_POLL: {
          // kvm_vcpu_block's poll loop (Linux 4.0+), interrupts on: iterations of
          // kvm_vcpu_check_block (has the vCPU an interrupt to take? with APICv the PIR is
          // synced first), ktime_get and the loop's condition — go on while
          // single_task_running() (no other thread runnable here) and before the window's end.
          // This is the check: as the poll begins, then at the end of each iteration.
          const vcpu = st.vcpu!;
          if (vcpu.stopReason === null && hv.vcpuHasInterrupt(vcpu)) {
            // halt_successful_poll: the vCPU runs again with no sleep and no switch.
            st.counters.haltPollSuccesses.inc();
            f.pc = LOOP.BLOCK_CHECK;
            cpu.cli();
            return;
          }
          if (st.threadsPending) {
            // A hard IRQ woke an IRQ thread: polling stops, and kvm_vcpu_block's wait loop
            // schedules the vCPU thread out (its preempt notifiers put the vCPU) in favour of
            // it. The vCPU thread sleeps; the IRQ thread runs as it would from idle (its
            // switch in is THREAD_IN's), and wakes the vCPU or leaves the CPU idle.
            st.counters.haltPollFails.inc();
            st.slept = true;
            f.pc = LOOP.IDLE_CLI;
            cpu.compute(hv.costs.vcpuPutLoad);
            return;
          }
          if (vcpu.stopReason !== null || cpu.now >= st.haltPollDeadlinePs) {
            // The window ran out: the vCPU thread goes on to sleep, as without polling.
            st.counters.haltPollFails.inc();
            f.pc = LOOP.BLOCK_CHECK;
            cpu.cli();
            return;
          }
          // The iterations to the window's end (whole ones: the loop ends at the first check
          // past it), as one spin-wait — the loop re-reads the same few lines, so its time
          // evicts none of the guest's — that ends early when the host takes an interrupt:
          // only a handler can give the vCPU an interrupt or wake a thread. Then the last
          // iteration, or the one the interrupt came in, and the check at its end.
          const iteration = hv.options.haltPoll!.iterationCycles;
          const left = ((st.haltPollDeadlinePs - cpu.now) * cpu.hz) / 1e12;
          const iterations = Math.max(1, Math.ceil(left / iteration));
          f.pc = LOOP.HALT_POLL_LAST;
          if (iterations > 1) {
            cpu.spin((iterations - 1) * iteration);
            return;
          }
          continue;
        }
        case LOOP.HALT_POLL_LAST:
          f.pc = LOOP.HALT_POLL;
          cpu.spin(hv.options.haltPoll!.iterationCycles);
          return;
        case LOOP.THREAD_IN:
          // Switch to the IRQ thread: from the vCPU thread (its preempt notifiers put and
          // later load the vCPU) or from idle.
          f.pc = LOOP.THREAD_WORK;
          st.counters.contextSwitches.inc();
          // KVM's preempt notifier (kvm_sched_out → vcpu_put): the vCPU thread is preempted.
          if (f.r3 === THREAD_FROM.VCPU) hv.vcpuPut(st.vcpu!);
          cpu.compute(hv.costs.contextSwitch + (f.r3 === THREAD_FROM.VCPU ? hv.costs.vcpuPutLoad : 0));
          return;
        case LOOP.THREAD_WORK: {
          // The thread's work, one interrupt at a time; an interrupt arriving meanwhile
          // (interrupts are on) wakes a thread that runs before the switch back.
          const vector = st.nextThread();
          if (vector >= 0) {
            cpu.compute(hv.irqThread(this.pcpu, vector));
            return;
          }
          // The thread sleeps again: switch back to the vCPU thread, or to idle.
          f.pc = LOOP.THREAD_DONE;
          st.counters.contextSwitches.inc();
          st.fromThread = f.r3 === THREAD_FROM.IDLE;
          cpu.compute(hv.costs.contextSwitch);
          return;
        }
        case LOOP.THREAD_DONE:
          if (f.r3 === THREAD_FROM.VCPU) {
            // kvm_sched_in → vcpu_load: the vCPU thread runs again.
            hv.vcpuLoad(st.vcpu!);
            f.pc = LOOP.AFTER_HANDLE;
            continue;
          }
          f.pc = LOOP.BLOCK_CHECK;
          cpu.cli();
          return;
        case LOOP.STOPPED:
          // The VM is stopped. First the host's own TPR (0) and LAPIC timer (TSC-deadline mode,
          // its vector) back: a design that gave both to the guest (did) may have been stopped
          // with the guest's still in them.
          f.pc = LOOP.STOPPED_LVT;
          cpu.wrmsr(MSR.X2APIC_TPR, 0, 0);
          return;
        case LOOP.STOPPED_LVT:
          f.pc = LOOP.STOPPED_SCAN;
          cpu.wrmsr(MSR.X2APIC_LVT_TIMER, HOST_LVT_TIMER, 0);
          return;
        case LOOP.STOPPED_SCAN:
          // What the VM left in service in the physical LAPIC (an interrupt delivered straight
          // to the guest, as ELI and did do, never EOI'd) would hold off every host interrupt of
          // its priority class or lower for good: read the ISR from the top, and EOI while its
          // highest vector is one the VM's interrupts use. Nothing of the host's own is in
          // service here (its handlers EOI before returning to this loop), so each EOI ends the
          // VM's vector (SDM vol. 3 §10.8.5).
          f.r1 = 7;
          f.pc = LOOP.STOPPED_READ_ISR;
          continue;
        case LOOP.STOPPED_READ_ISR:
          f.pc = LOOP.STOPPED_CHECK_ISR;
          cpu.rdmsr(MSR.X2APIC_ISR0 + f.r1);
          return;
        case LOOP.STOPPED_CHECK_ISR: {
          const word = cpu.resultLo >>> 0;
          if (word === 0) {
            f.r1--;
            f.pc = f.r1 >= 0 ? LOOP.STOPPED_READ_ISR : LOOP.STOPPED_IDLE;
            continue;
          }
          const vector = f.r1 * 32 + 31 - Math.clz32(word);
          if (!hv.vmOwnsPhysicalVector(st.vcpu, vector)) {
            f.pc = LOOP.STOPPED_IDLE;
            continue;
          }
          hv.noteStoppedVmEoi();
          f.pc = LOOP.STOPPED_SCAN;
          cpu.wrmsr(MSR.X2APIC_EOI, 0, 0);
          return;
        }
        case LOOP.STOPPED_HLT:
          f.pc = LOOP.STOPPED_HLT;
          cpu.hlt();
          return;
        case LOOP.STOPPED_IDLE: {
          // The host's own deadline, if the physical one is not it (a design that handed the
          // TSC deadline to the guest, did, and whose VM stopped before it took it back).
          f.pc = LOOP.STOPPED_STI;
          const t = hv.nextDeadline(this.pcpu);
          if (t >= 0) {
            writeDeadline(cpu, hv.tscAt(t));
            return;
          }
          continue;
        }
        default:
          // LOOP.STOPPED_STI: the VM is stopped (or there is none): the host idles, still
          // taking its interrupts.
          f.pc = LOOP.STOPPED_HLT;
          cpu.sti();
          return;
      }
    }
  }
}
