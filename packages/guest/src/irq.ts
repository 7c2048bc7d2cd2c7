/**
 * The interrupt routines of the VF's three MSI-X vectors: what the CPU runs when it takes
 * them through the IDT. Each is the kernel's IRQ flow (irq entry, the EOI that the edge
 * flow handler's ack does first, the driver's handler, irq_exit) around a handler of
 * ixgbevf 2.0.0-k2 (Linux 2.6.39 drivers/net/ixgbevf/ixgbevf_main.c):
 *
 * - RX (ixgbevf_msix_clean_rx): mask the RX vector with VTEIMC and napi_schedule; on irq_exit
 *   the NET_RX softirq runs with interrupts on, polls (ixgbevf_clean_rxonly) until a poll
 *   takes less than its weight, completes NAPI, updates the ITR and unmasks with VTEIMS —
 *   and polls again if an interrupt taken meanwhile scheduled NAPI anew.
 * - TX (ixgbevf_msix_clean_tx): reclaim transmitted descriptors and update the ITR in the hard
 *   IRQ itself; no mask, no unmask, no softirq.
 * - Mailbox (ixgbevf_msix_mbx): read VTEICS, write it back to VTEICR, read VFMAILBOX.
 *
 * Every register write the driver queued is issued as its own MMIO operation
 * (`Ixgbevf.flushWrite`) at the point of the handler that made it.
 */
import { VF_REG } from '@exitless/nic';
import type { Counter } from '@exitless/sim';
import type { CpuContext, Frame, Routine } from '@exitless/x86';
import type { GuestCosts } from './costs.js';
import type { Ixgbevf, IxgbevfStack } from './ixgbevf.js';
import type { Napi } from './napi.js';

/** What the routines need of the kernel around the driver. */
export interface IrqKernel {
  /** The kernel's cycle costs. */
  readonly costs: GuestCosts;
  /** EOI to the local APIC, the way the kernel's APIC driver does it (one CPU operation). */
  eoi(cpu: CpuContext): void;
  /** The network stack the driver hands frames to. */
  readonly stack: IxgbevfStack;
  /** The stack's work when a NAPI poll returns (GRO flush, ACKs, wake-ups): cycles. */
  napiPollDone(now: number): number;
  /** The stack's work once TX descriptors were reclaimed (what a full ring held back goes on): cycles. */
  txCleaned(now: number): number;
  /** Counts one interrupt taken (every kind). */
  countInterrupt(): void;
}

/** The counters a NIC vector's routine increments on entry. */
export interface IrqCounters {
  /** Every NIC interrupt (interrupts-nic). */
  readonly nic: Counter;
  /** This vector's (interrupts-nic-rx, -tx, -mailbox). */
  readonly vector: Counter;
}

/**
 * The steps of the RX vector's routine (`Frame.pc`): IRQ entry, the EOI, the hard-IRQ handler,
 * its VTEIMC write, then the NET_RX softirq (poll, the poll's register writes, completion's
 * VTEITR/VTEIMS writes, leaving the softirq with interrupts off), irq_exit and IRET.
 */
export const RX_IRQ_STEP = {
  /** IRQ entry. */
  ENTRY: 0,
  /** The EOI. */
  EOI: 1,
  /** The hard-IRQ handler (ixgbevf_msix_clean_rings). */
  HANDLER: 2,
  /** Its VTEIMC write, masking the vector. */
  MASK: 3,
  /** The NAPI poll. */
  POLL: 4,
  /** The poll's register writes (RDT, TDT). */
  POLL_WRITES: 5,
  /** Completion's VTEITR and VTEIMS writes. */
  COMPLETE_WRITES: 6,
  /** Leaving the softirq with interrupts off. */
  LEAVE_SOFTIRQ: 7,
  /** irq_exit. */
  IRQ_EXIT: 9,
  /** IRET. */
  IRET: 10,
} as const;

/** The steps of the TX vector's routine: entry, EOI, the handler, its register writes, irq_exit, IRET. */
export const TX_IRQ_STEP = {
  /** IRQ entry. */
  ENTRY: 0,
  /** The EOI. */
  EOI: 1,
  /** The handler (TX cleanup). */
  HANDLER: 2,
  /** Its register writes. */
  WRITES: 3,
  /** irq_exit and IRET. */
  IRET: 4,
} as const;

/** The steps of the mailbox vector's routine: entry, EOI, VTEICS read, VTEICR write, VFMAILBOX read, irq_exit, IRET. */
export const MAILBOX_IRQ_STEP = {
  /** IRQ entry. */
  ENTRY: 0,
  /** The EOI. */
  EOI: 1,
  /** The VTEICS read. */
  READ_EICS: 2,
  /** The VTEICR write. */
  WRITE_EICR: 3,
  /** The VFMAILBOX read. */
  READ_MAILBOX: 4,
  /** irq_exit. */
  IRQ_EXIT: 5,
  /** IRET. */
  IRET: 6,
} as const;

function enter(k: IrqKernel, counters: IrqCounters): void {
  k.countInterrupt();
  counters.nic.inc();
  counters.vector.inc();
}

/** The RX vector: ixgbevf_msix_clean_rx, then the NET_RX softirq on irq_exit. */
export class RxIrqRoutine implements Routine {
  readonly name = 'ixgbevf_msix_clean_rx';
  private readonly k: IrqKernel;
  private readonly driver: Ixgbevf;
  private readonly napi: Napi;
  private readonly counters: IrqCounters;

  constructor(k: IrqKernel, driver: Ixgbevf, napi: Napi, counters: IrqCounters) {
    this.k = k;
    this.driver = driver;
    this.napi = napi;
    this.counters = counters;
  }

  step(cpu: CpuContext, frame: Frame): void {
    const k = this.k;
    const d = this.driver;
    const napi = this.napi;
    for (;;) {
      switch (frame.pc) {
        case RX_IRQ_STEP.ENTRY:
          enter(k, this.counters);
          frame.pc = RX_IRQ_STEP.EOI;
          cpu.compute(k.costs.irqEntry);
          return;
        case RX_IRQ_STEP.EOI:
          frame.pc = RX_IRQ_STEP.HANDLER;
          k.eoi(cpu);
          return;
        case RX_IRQ_STEP.HANDLER:
          d.rxHardIrq();
          napi.schedule();
          frame.pc = RX_IRQ_STEP.MASK;
          cpu.compute(k.costs.nicIrqHandler);
          return;
        case RX_IRQ_STEP.MASK:
          // The VTEIMC write that masks the vector.
          if (d.flushWrite(cpu)) return;
          if (!napi.enterSoftirq()) {
            frame.pc = RX_IRQ_STEP.IRQ_EXIT;
            continue;
          }
          frame.pc = RX_IRQ_STEP.POLL;
          cpu.sti();
          return;
        case RX_IRQ_STEP.POLL:
          frame.pc = RX_IRQ_STEP.POLL_WRITES;
          cpu.compute(d.poll(k.stack, cpu.now) + k.napiPollDone(cpu.now));
          frame.r0 = d.lastPollFrames;
          return;
        case RX_IRQ_STEP.POLL_WRITES: {
          // The poll's RDT writes and the TDT writes of what the stack sent.
          if (d.flushWrite(cpu)) return;
          if (frame.r0 >= d.options.napiBudget) {
            frame.pc = RX_IRQ_STEP.POLL;
            continue;
          }
          napi.complete();
          frame.pc = RX_IRQ_STEP.COMPLETE_WRITES;
          const itr = d.pollComplete();
          if (itr > 0) {
            cpu.compute(itr);
            return;
          }
          continue;
        }
        case RX_IRQ_STEP.COMPLETE_WRITES:
          // VTEITR if the class changed, then VTEIMS.
          if (d.flushWrite(cpu)) return;
          // An RX interrupt taken after the unmask scheduled NAPI again: poll on.
          if (napi.pending) {
            frame.pc = RX_IRQ_STEP.POLL;
            continue;
          }
          frame.pc = RX_IRQ_STEP.LEAVE_SOFTIRQ;
          cpu.cli();
          return;
        case RX_IRQ_STEP.LEAVE_SOFTIRQ:
          napi.leaveSoftirq();
          frame.pc = RX_IRQ_STEP.IRQ_EXIT;
          continue;
        case RX_IRQ_STEP.IRQ_EXIT:
          frame.pc = RX_IRQ_STEP.IRET;
          cpu.compute(k.costs.irqExit);
          return;
        default: // RX_IRQ_STEP.IRET
          cpu.iret();
          return;
      }
    }
  }
}

/** The TX vector: ixgbevf_msix_clean_tx in the hard IRQ. */
export class TxIrqRoutine implements Routine {
  readonly name = 'ixgbevf_msix_clean_tx';
  private readonly k: IrqKernel;
  private readonly driver: Ixgbevf;
  private readonly counters: IrqCounters;

  constructor(k: IrqKernel, driver: Ixgbevf, counters: IrqCounters) {
    this.k = k;
    this.driver = driver;
    this.counters = counters;
  }

  step(cpu: CpuContext, frame: Frame): void {
    const k = this.k;
    switch (frame.pc) {
      case TX_IRQ_STEP.ENTRY:
        enter(k, this.counters);
        frame.pc = TX_IRQ_STEP.EOI;
        cpu.compute(k.costs.irqEntry);
        return;
      case TX_IRQ_STEP.EOI:
        frame.pc = TX_IRQ_STEP.HANDLER;
        k.eoi(cpu);
        return;
      case TX_IRQ_STEP.HANDLER: {
        frame.pc = TX_IRQ_STEP.WRITES;
        const handler = this.driver.txHardIrq();
        cpu.compute(handler + (this.driver.lastTxCleaned > 0 ? k.txCleaned(cpu.now) : 0));
        return;
      }
      case TX_IRQ_STEP.WRITES:
        // VTEITR if the class changed, VTEICS if the work limit was hit, TDT for what went on.
        if (this.driver.flushWrite(cpu)) return;
        frame.pc = TX_IRQ_STEP.IRET;
        cpu.compute(k.costs.irqExit);
        return;
      default: // TX_IRQ_STEP.IRET
        cpu.iret();
    }
  }
}

/** The mailbox vector: ixgbevf_msix_mbx (the PF's messages and acks). */
export class MailboxIrqRoutine implements Routine {
  readonly name = 'ixgbevf_msix_mbx';
  private readonly k: IrqKernel;
  private readonly bar0: number;
  private readonly counters: IrqCounters;

  constructor(k: IrqKernel, bar0: number, counters: IrqCounters) {
    this.k = k;
    this.bar0 = bar0;
    this.counters = counters;
  }

  step(cpu: CpuContext, frame: Frame): void {
    const k = this.k;
    switch (frame.pc) {
      case MAILBOX_IRQ_STEP.ENTRY:
        enter(k, this.counters);
        frame.pc = MAILBOX_IRQ_STEP.EOI;
        cpu.compute(k.costs.irqEntry);
        return;
      case MAILBOX_IRQ_STEP.EOI:
        frame.pc = MAILBOX_IRQ_STEP.READ_EICS;
        k.eoi(cpu);
        return;
      case MAILBOX_IRQ_STEP.READ_EICS:
        frame.pc = MAILBOX_IRQ_STEP.WRITE_EICR;
        cpu.mmioRead(this.bar0 + VF_REG.VFEICS, 4);
        return;
      case MAILBOX_IRQ_STEP.WRITE_EICR:
        frame.pc = MAILBOX_IRQ_STEP.READ_MAILBOX;
        cpu.mmioWrite(this.bar0 + VF_REG.VFEICR, 4, cpu.resultLo);
        return;
      case MAILBOX_IRQ_STEP.READ_MAILBOX:
        // check_for_ack: VFMAILBOX (its PFSTS, PFACK and RSTD bits clear on read).
        frame.pc = MAILBOX_IRQ_STEP.IRQ_EXIT;
        cpu.mmioRead(this.bar0 + VF_REG.VFMAILBOX, 4);
        return;
      case MAILBOX_IRQ_STEP.IRQ_EXIT:
        frame.pc = MAILBOX_IRQ_STEP.IRET;
        cpu.compute(k.costs.irqExit);
        return;
      default: // MAILBOX_IRQ_STEP.IRET
        cpu.iret();
    }
  }
}
