import type { Counter, ScopedStats } from '@exitless/sim';
import { type HrTimer, HrTimerQueue } from './hrtimer.js';
import type { Vcpu } from './vcpu.js';

/** A physical CPU's counters, under `pcpu<i>.` in the hypervisor's stats. */
export interface PcpuCounters {
  /** IRQ-thread runs, one per woken thread (`irq-thread-runs`). */
  readonly irqThreadRuns: Counter;
  /** IRQ threads woken by a hard IRQ (`irq-thread-wakeups`). */
  readonly irqThreadWakeups: Counter;
  /** Host context switches: vCPU thread, IRQ threads, idle (`context-switches`). */
  readonly contextSwitches: Counter;
  /** The host's scheduler ticks (`ticks`). */
  readonly ticks: Counter;
  /**
   * Halt polls that found the vCPU an interrupt to take, so that it ran again without sleeping
   * (`halt-poll-success`; KVM's halt_successful_poll).
   */
  readonly haltPollSuccesses: Counter;
  /**
   * Halt polls that ended without one (the window ran out, or another thread became runnable),
   * so that the vCPU thread went on to sleep (`halt-poll-fail`; KVM's halt_attempted_poll −
   * halt_successful_poll).
   */
  readonly haltPollFails: Counter;
}

/**
 * The host kernel's state on one physical CPU: its hrtimers (the tick among them), the
 * vCPU pinned to it and that vCPU's strategy state, and its IRQ threads — the ones the hard
 * IRQs of assigned interrupts woke and that have not run yet.
 */
export class PcpuState {
  readonly timers: HrTimerQueue = new HrTimerQueue();
  vcpu: Vcpu | null = null;
  /** The strategy's state for `vcpu` (made by its createVcpuState). */
  strategyState: unknown = null;
  /** The TSC deadline last written, ps (−1: none). */
  programmedPs = -1;
  readonly tick: HrTimer;
  readonly counters: PcpuCounters;
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
  /** A HLT exit asked to block the vCPU; the block starts at the next runnable check. */
  blockPending = false;
  /** The vCPU is blocked (between the strategy's preBlock and postBlock). */
  blocked = false;
  /** When the current block began (kvm_vcpu_block's `start`), ps; kept only when the host polls. */
  blockStartPs = 0;
  /** The current block polls before it sleeps (the vCPU's halt-poll window was open when it began). */
  haltPollPending = false;
  /** When the current block's poll ends (`start` + the vCPU's window), ps. */
  haltPollDeadlinePs = 0;

  /** `hz`: the tick's rate; `phase`: its offset in the period, ps; `tickCycles`: each tick's cost. */
  constructor(hz: number, phase: number, tickCycles: number, stats: ScopedStats) {
    const ticks = stats.counter('ticks');
    this.counters = {
      ticks,
      irqThreadRuns: stats.counter('irq-thread-runs'),
      irqThreadWakeups: stats.counter('irq-thread-wakeups'),
      contextSwitches: stats.counter('context-switches'),
      haltPollSuccesses: stats.counter('halt-poll-success'),
      haltPollFails: stats.counter('halt-poll-fail'),
    };
    const period = Math.round(1e12 / hz);
    const tick: HrTimer = {
      expires: phase > 0 ? phase : period,
      name: 'host-tick',
      fire: (now) => {
        ticks.inc();
        tick.expires = now + period - ((now - phase) % period);
        return tickCycles;
      },
    };
    this.tick = tick;
    this.timers.add(tick);
  }

  /** Host device interrupts routed to this CPU as NMIs and not yet handled (a 256-bit set). */
  private readonly hostIrqs = new Uint32Array(8);

  /** Records host device interrupt `vector`, sent to this CPU as an NMI. */
  recordHostIrq(vector: number): void {
    this.hostIrqs[vector >>> 5] = (this.hostIrqs[vector >>> 5]! | (1 << (vector & 31))) >>> 0;
  }

  /** The highest recorded host device interrupt, removed, or −1 when none is left. */
  takeHostIrq(): number {
    for (let i = 7; i >= 0; i--) {
      const w = this.hostIrqs[i]!;
      if (w === 0) continue;
      const bit = 31 - Math.clz32(w);
      this.hostIrqs[i] = (w & ~(1 << bit)) >>> 0;
      return i * 32 + bit;
    }
    return -1;
  }

  /** The hard IRQ of host `vector` wakes its thread; false if the thread was already woken. */
  wakeThread(vector: number): boolean {
    if (this.threadWoken[vector] === 1) return false;
    this.threadWoken[vector] = 1;
    this.threadQueue[(this.threadHead + this.threadCount) & 255] = vector;
    this.threadCount++;
    this.counters.irqThreadWakeups.inc();
    return true;
  }

  /** True while an IRQ thread is runnable. */
  get threadsPending(): boolean {
    return this.threadCount > 0;
  }

  /** The next runnable IRQ thread's host vector (its flag cleared: it runs now), or −1 when none is runnable. */
  nextThread(): number {
    if (this.threadCount === 0) return -1;
    const v = this.threadQueue[this.threadHead]!;
    this.threadHead = (this.threadHead + 1) & 255;
    this.threadCount--;
    this.threadWoken[v] = 0;
    this.counters.irqThreadRuns.inc();
    return v;
  }
}
