import { ITR_CLASS, type ItrClass, itrClassRate, stepItrClass, updateItr } from '@exitless/guest';
import { WorkloadConfigError } from './errors.js';

export { ITR_CLASS };

/**
 * The interrupt throttling of the load generator's own NIC: an 82599 physical function
 * driven by ixgbe of the Linux 2.6.3x era with its defaults (`InterruptThrottleRate` 1:
 * dynamic). Each MSI-X vector (ixgbe then gave RX and TX rings vectors of their own when
 * it had enough of them) keeps an interrupt rate `eitr` (ints/s) that EITR turns into a
 * minimum interval between its interrupts. After each NAPI run (`ixgbe_set_itr_msix`):
 *
 * - the ring's latency class moves from the bytes it handled since the interrupt, per µs
 *   of the current interval (`ixgbe_update_itr`: bytes / (1e6 / eitr), integer division):
 *   lowest → low above `lowBytesPerUs`; low → bulk above `highBytesPerUs`, → lowest at or
 *   below `lowBytesPerUs`; bulk → low at or below `highBytesPerUs`; unchanged when the ring
 *   saw no packets;
 * - a class that would lower the interrupt rate is taken at once, one that would raise it
 *   moves one step (`ring_itr > ret ? ring_itr − 1 : ret`);
 * - the class's rate (lowest, low, bulk ints/s) is smoothed into `eitr`:
 *   eitr = eitr × 90 / 100 + new × 10 / 100 (integer arithmetic), when they differ.
 *
 * The class starts at lowest (the q_vector is zeroed) and `eitr` at the vector's initial
 * rate (rx_eitr_param 20,000, tx_eitr_param 10,000). The EITR register's 2 µs-unit
 * encoding of the interval is not modeled: the interval is 10^12 / eitr ps exactly.
 */
export interface PeerItrOptions {
  /** True for ixgbe's dynamic mode (its default); false keeps each vector at its initial rate. */
  readonly dynamic: boolean;
  /** Initial interrupt rate of the RX vector (rx_eitr_param), ints/s. */
  readonly rxInitialRate: number;
  /** Initial interrupt rate of the TX vector (tx_eitr_param), ints/s. */
  readonly txInitialRate: number;
  /** Rates of the classes lowest, low and bulk latency, ints/s. */
  readonly lowestRate: number;
  /** Rate of the low-latency class, ints/s. */
  readonly lowRate: number;
  /** Rate of the bulk-latency class, ints/s. */
  readonly bulkRate: number;
  /** eitr_low and eitr_high, bytes per µs of the interval. */
  readonly lowBytesPerUs: number;
  /** eitr_high, bytes per µs of the interval. */
  readonly highBytesPerUs: number;
}

/**
 * ixgbe_update_itr: the class a ring moves to after an interrupt in which it handled
 * `packets` packets of `bytes` bytes, the vector's rate being `eitr` ints/s. ixgbe and the
 * guest's ixgbevf share this code (and the class-step rule and the class rates), so both use
 * `updateItr` from @exitless/guest; only the smoothing of the rate differs.
 */
export function ixgbeUpdateItr(
  o: PeerItrOptions,
  eitr: number,
  current: number,
  packets: number,
  bytes: number,
): number {
  return updateItr(eitr, current as ItrClass, packets, bytes, o.lowBytesPerUs, o.highBytesPerUs);
}

/** One vector's dynamic interrupt rate. */
export class PeerItr {
  private readonly o: PeerItrOptions;
  /** The vector's rate, ints/s (q_vector->eitr). */
  rate: number;
  /** The ring's latency class (an ITR_CLASS value). */
  latencyClass: number = ITR_CLASS.LOWEST;
  /** Minimum interval between the vector's interrupts, ps. */
  intervalPs: number;
  /** Packets and bytes the ring handled since the vector's last interrupt. */
  packets = 0;
  /** Bytes the ring handled since the vector's last interrupt. */
  bytes = 0;

  constructor(options: PeerItrOptions, initialRate: number) {
    validate(options, initialRate);
    this.o = options;
    this.rate = initialRate;
    this.intervalPs = Math.round(1e12 / initialRate);
  }

  /** The hard-IRQ handler clears the ring's totals (ixgbe_msix_clean_rx/tx). */
  interrupted(): void {
    this.packets = 0;
    this.bytes = 0;
  }

  /** NAPI completed: recompute the class and the rate (ixgbe_set_itr_msix). */
  update(): void {
    const o = this.o;
    if (!o.dynamic) return;
    const ret = updateItr(
      this.rate,
      this.latencyClass as ItrClass,
      this.packets,
      this.bytes,
      o.lowBytesPerUs,
      o.highBytesPerUs,
    );
    this.latencyClass = stepItrClass(this.latencyClass as ItrClass, ret);
    const target = itrClassRate(this.latencyClass as ItrClass, o);
    if (target !== this.rate) {
      this.rate = Math.floor((this.rate * 90) / 100) + Math.floor((target * 10) / 100);
      this.intervalPs = Math.round(1e12 / this.rate);
    }
  }
}

function validate(o: PeerItrOptions, initialRate: number): void {
  const rate = (v: number, what: string): void => {
    if (!Number.isInteger(v) || v < 100 || v > 500_000) {
      throw new WorkloadConfigError(`peer itr: ${what} must be an integer of 100–500000 ints/s, got ${v}`);
    }
  };
  rate(initialRate, 'the initial rate');
  rate(o.lowestRate, 'lowestRate');
  rate(o.lowRate, 'lowRate');
  rate(o.bulkRate, 'bulkRate');
  // ixgbe compares with both thresholds whatever their order: any pair of numbers ≥ 0 works.
  for (const k of ['lowBytesPerUs', 'highBytesPerUs'] as const) {
    if (!Number.isFinite(o[k]) || o[k] < 0) {
      throw new WorkloadConfigError(`peer itr: ${k} must be a finite number ≥ 0, got ${o[k]}`);
    }
  }
}
