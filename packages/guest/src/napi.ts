/**
 * The kernel's NAPI core for one device (net/core/dev.c of the 2.6.3x era, reduced to what
 * the model needs): napi_schedule from a hard IRQ, the NET_RX softirq run on irq_exit with
 * interrupts on (net_rx_action polling while a poll uses its whole weight), napi_complete,
 * and softirqs not nesting (an interrupt taken during the softirq schedules, it does not
 * run a second one). CPU-free.
 *
 * Simplified: net_rx_action's own budget (netdev_budget, 300) and two-jiffy limit, after which
 * the rest is left to ksoftirqd, are not modeled — the softirq polls until a poll takes less
 * than the weight; MAX_SOFTIRQ_RESTART is not modeled either.
 */
export class Napi {
  /** NAPI_STATE_SCHED: scheduled by the hard IRQ and not yet completed. */
  private scheduled = false;
  /** The CPU is inside the NET_RX softirq (in_softirq()). */
  private running = false;

  /** napi_schedule: returns true if it was not already scheduled. */
  schedule(): boolean {
    if (this.scheduled) return false;
    this.scheduled = true;
    return true;
  }

  /** True while a poll is owed (scheduled and not completed). */
  get pending(): boolean {
    return this.scheduled;
  }

  /** True while the NET_RX softirq runs. */
  get inSoftirq(): boolean {
    return this.running;
  }

  /**
   * irq_exit → do_softirq: true if this interrupt's exit should run the NET_RX softirq now
   * (something is scheduled and no softirq is already running under it).
   */
  enterSoftirq(): boolean {
    if (this.running || !this.scheduled) return false;
    this.running = true;
    return true;
  }

  /** Marks the NET_RX softirq as no longer running. */
  leaveSoftirq(): void {
    this.running = false;
  }

  /** napi_complete: the device's interrupt may schedule it again. */
  complete(): void {
    this.scheduled = false;
  }
}
