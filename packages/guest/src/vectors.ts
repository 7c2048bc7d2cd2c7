/**
 * The kernel's own interrupt and exception routines (the NIC's are in irq.ts): the LAPIC
 * timer's tick (LOCAL_TIMER_VECTOR, smp_apic_timer_interrupt), the APIC's spurious vector
 * (smp_spurious_interrupt: no EOI, SDM vol. 3 §10.9), any other vector without a handler
 * (do_IRQ's "No irq handler for vector": counted and EOI'd) and exceptions 0–31 (counted and
 * returned from; a real kernel would oops or fix up).
 */
import type { Counter } from '@exitless/sim';
import type { CpuContext, Frame, Routine } from '@exitless/x86';
import type { GuestCosts } from './costs.js';

/** What the kernel's own routines need of it. */
export interface VectorKernel {
  /** The kernel's cycle costs. */
  readonly costs: GuestCosts;
  /** EOI to the local APIC (one CPU operation). */
  eoi(cpu: CpuContext): void;
}

/** What the timer routine needs of the kernel. */
export interface TimerKernel extends VectorKernel {
  /** After a phased first tick, the next LAPIC write that makes the tick periodic; false when none is left. */
  restartTick(cpu: CpuContext): boolean;
  /** The tick's work (counted here; TCP timers, the delayed ACK): true when it queued an ACK. */
  timerTick(now: number): boolean;
  /** Returns and clears the stack cycles the TCP timers ran up. */
  takeStackCycles(): number;
  /** Issues the oldest pending driver register write (a TDT); false when none is left. */
  flushWrite(cpu: CpuContext): boolean;
}

/** The steps of the timer routine (`Frame.pc`). */
export const TIMER_IRQ_STEP = {
  /** IRQ entry. */
  ENTRY: 0,
  /** The EOI. */
  EOI: 1,
  /** The LAPIC timer writes a phased tick still owes, then the tick's work (scheduler, TCP timers). */
  TICK: 2,
  /** The TDT writes of segments the TCP timers sent (the delayed ACK). */
  WRITES: 3,
  /** irq_exit and IRET. */
  IRET: 4,
} as const;

/** LOCAL_TIMER_VECTOR: the scheduler tick (and the TCP timers, the delayed ACK among them). */
export class TimerIrqRoutine implements Routine {
  readonly name = 'apic_timer_interrupt';
  private readonly k: TimerKernel;

  constructor(k: TimerKernel) {
    this.k = k;
  }

  step(cpu: CpuContext, frame: Frame): void {
    const k = this.k;
    switch (frame.pc) {
      case TIMER_IRQ_STEP.ENTRY:
        frame.pc = TIMER_IRQ_STEP.EOI;
        cpu.compute(k.costs.irqEntry);
        return;
      case TIMER_IRQ_STEP.EOI:
        frame.pc = TIMER_IRQ_STEP.TICK;
        k.eoi(cpu);
        return;
      case TIMER_IRQ_STEP.TICK:
        if (k.restartTick(cpu)) return;
        frame.pc = TIMER_IRQ_STEP.WRITES;
        cpu.compute(
          k.costs.timerTick + (k.timerTick(cpu.now) ? k.costs.txPerFrame : 0) + k.takeStackCycles(),
        );
        return;
      case TIMER_IRQ_STEP.WRITES:
        // The delayed ACK's TDT write (and any segment a TCP timer sent).
        if (k.flushWrite(cpu)) return;
        frame.pc = TIMER_IRQ_STEP.IRET;
        cpu.compute(k.costs.irqExit);
        return;
      default: // TIMER_IRQ_STEP.IRET
        cpu.iret();
    }
  }
}

/** The counters a routine without a driver increments on entry. */
export interface VectorCounters {
  /** Every interrupt the kernel took (interrupts). */
  readonly interrupts: Counter;
  /** This kind's (interrupts-spurious, interrupts-unexpected). */
  readonly kind: Counter;
}

/** The steps of the spurious and unexpected routines. */
export const SIMPLE_IRQ_STEP = {
  /** IRQ entry: count. */
  ENTRY: 0,
  /** The EOI, if the routine needs one. */
  EOI: 1,
  /** IRET. */
  IRET: 2,
} as const;

/** Counts, EOIs if `needsEoi`, returns. */
abstract class CountingIrqRoutine implements Routine {
  abstract readonly name: string;
  private readonly k: VectorKernel;
  private readonly counters: VectorCounters;
  private readonly afterEntry: number;

  constructor(k: VectorKernel, counters: VectorCounters, needsEoi: boolean) {
    this.k = k;
    this.counters = counters;
    this.afterEntry = needsEoi ? SIMPLE_IRQ_STEP.EOI : SIMPLE_IRQ_STEP.IRET;
  }

  step(cpu: CpuContext, frame: Frame): void {
    switch (frame.pc) {
      case SIMPLE_IRQ_STEP.ENTRY:
        this.counters.interrupts.inc();
        this.counters.kind.inc();
        frame.pc = this.afterEntry;
        cpu.compute(this.k.costs.irqEntry);
        return;
      case SIMPLE_IRQ_STEP.EOI:
        frame.pc = SIMPLE_IRQ_STEP.IRET;
        this.k.eoi(cpu);
        return;
      default: // SIMPLE_IRQ_STEP.IRET
        cpu.iret();
    }
  }
}

/**
 * SPURIOUS_APIC_VECTOR (SVR's vector): the LAPIC's answer to an INTA with nothing to deliver.
 * No EOI (SDM §10.9: the spurious vector does not set an ISR bit).
 */
export class SpuriousIrqRoutine extends CountingIrqRoutine {
  /** The routine's name (Linux's handler). */
  readonly name = 'spurious_interrupt';

  constructor(k: VectorKernel, counters: VectorCounters) {
    super(k, counters, false);
  }
}

/** Any vector the kernel gave no handler: counted and EOI'd (do_IRQ's "No irq handler for vector"). */
export class UnexpectedIrqRoutine extends CountingIrqRoutine {
  /** The routine's name. */
  readonly name = 'unexpected_irq';

  constructor(k: VectorKernel, counters: VectorCounters) {
    super(k, counters, true);
  }
}

/** The steps of the exception routine. */
export const EXCEPTION_STEP = {
  /** Entry: count. */
  ENTRY: 0,
  /** IRET. */
  IRET: 1,
} as const;

/** Exceptions 0–31: counted (a real kernel would oops or fix up) and returned from. */
export class ExceptionRoutine implements Routine {
  readonly name = 'exception';
  private readonly costs: GuestCosts;
  private readonly exceptions: Counter;

  constructor(costs: GuestCosts, exceptions: Counter) {
    this.costs = costs;
    this.exceptions = exceptions;
  }

  step(cpu: CpuContext, frame: Frame): void {
    if (frame.pc === EXCEPTION_STEP.ENTRY) {
      this.exceptions.inc();
      frame.pc = EXCEPTION_STEP.IRET;
      cpu.compute(this.costs.irqEntry);
      return;
    }
    cpu.iret();
  }
}
