/**
 * The scheduler, reduced to its two tasks: the idle task (cpu_idle: `cli`, check for work,
 * `sti; hlt`) and the application's task, switched to when it has work and away from when a
 * burst finds none. The application runs in process context; the stack cycles its system
 * calls ran up are charged on top of its burst, and the TX tail writes of the frames they
 * built follow the burst.
 */
import type { CpuContext, Frame } from '@exitless/x86';
import type { GuestApplication } from './config.js';
import type { GuestCosts } from './costs.js';

/** What the idle loop needs of the kernel. */
export interface IdleKernel {
  /** The kernel's cycle costs. */
  readonly costs: GuestCosts;
  /** The application the idle loop runs. */
  readonly app: GuestApplication;
  /** The socket layer is in use (its frames' TDT writes follow each burst). */
  readonly usesSockets: boolean;
  /** Process context starts running at `now`, ps (the stack's clock for the system calls). */
  enterProcessContext(now: number): void;
  /** Returns and clears the stack cycles the system calls ran up. */
  takeStackCycles(): number;
  /** Issues the oldest pending driver register write (TDT); false when none is left. */
  flushWrite(cpu: CpuContext): boolean;
  /** After a read (tcp_cleanup_rbuf): sends the stream's window update if one is due; true when one was queued. */
  windowUpdate(): boolean;
}

/** The states of the idle loop and the application task (`Frame.r0` of the reset routine). */
export const IDLE_STATE = {
  /** local_irq_disable(). */
  DISABLE_IRQS: 0,
  /** need_resched()? STI, then either the application or HLT (STI;HLT is atomic). */
  CHECK_WORK: 1,
  /** Switch from the idle task to the application if it was asleep. */
  SWITCH_IN: 2,
  /** The application's next burst and the stack work of its system calls. */
  BURST: 3,
  /** After a burst: its frames' TDT writes, or (stream receiver) a window update. */
  AFTER_BURST: 4,
  /** HLT until an interrupt. */
  HALT: 5,
  /** The window update's TDT write. */
  WINDOW_UPDATE_WRITE: 6,
} as const;
/** Where the idle task is: one of the values of {@link IDLE_STATE}. */
export type IdleState = (typeof IDLE_STATE)[keyof typeof IDLE_STATE];

/** The idle task and the application's task on one CPU. */
export class Scheduler {
  private readonly k: IdleKernel;
  /** The application task is asleep (the CPU is in the idle loop). */
  appSleeping = true;

  constructor(k: IdleKernel) {
    this.k = k;
  }

  /** One step of the idle loop and the application task; the state is `frame.r0`. */
  step(cpu: CpuContext, frame: Frame): void {
    const k = this.k;
    const app = k.app;
    for (;;) {
      switch (frame.r0) {
        case IDLE_STATE.DISABLE_IRQS:
          cpu.cli();
          frame.r0 = IDLE_STATE.CHECK_WORK;
          return;
        case IDLE_STATE.CHECK_WORK:
          // local_irq_disable(); if (!need_resched()) safe_halt(); — STI;HLT is atomic.
          cpu.sti();
          frame.r0 = app.runnable() ? IDLE_STATE.SWITCH_IN : IDLE_STATE.HALT;
          return;
        case IDLE_STATE.SWITCH_IN:
          if (this.appSleeping) {
            this.appSleeping = false;
            cpu.compute(k.costs.contextSwitch);
            frame.r0 = IDLE_STATE.BURST;
            return;
          }
          frame.r0 = IDLE_STATE.BURST;
          continue;
        case IDLE_STATE.BURST: {
          k.enterProcessContext(cpu.now);
          const cycles = app.nextBurst(cpu.now);
          const stack = k.takeStackCycles();
          if (cycles <= 0 && stack === 0) {
            this.appSleeping = true;
            frame.r0 = IDLE_STATE.DISABLE_IRQS;
            cpu.compute(k.costs.contextSwitch);
            return;
          }
          cpu.compute(Math.max(cycles, 0) + stack);
          frame.r0 = IDLE_STATE.AFTER_BURST;
          return;
        }
        case IDLE_STATE.AFTER_BURST:
          if (k.usesSockets) {
            // The frames the burst's system calls posted: their TDT writes (one per packet).
            if (k.flushWrite(cpu)) return;
            frame.r0 = IDLE_STATE.BURST;
            continue;
          }
          frame.r0 = IDLE_STATE.BURST;
          // After a read, tcp_cleanup_rbuf may send a window update.
          if (k.windowUpdate()) {
            cpu.compute(k.costs.txPerFrame);
            frame.r0 = IDLE_STATE.WINDOW_UPDATE_WRITE;
            return;
          }
          continue;
        case IDLE_STATE.WINDOW_UPDATE_WRITE:
          if (k.flushWrite(cpu)) return;
          frame.r0 = IDLE_STATE.BURST;
          continue;
        default: // IDLE_STATE.HALT
          cpu.hlt();
          frame.r0 = IDLE_STATE.DISABLE_IRQS;
          return;
      }
    }
  }
}
