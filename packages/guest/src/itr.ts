/**
 * ixgbevf 2.0.0-k2's dynamic interrupt throttling, as pure functions of numbers (no CPU, no
 * NIC), read from Linux 2.6.39's drivers/net/ixgbevf/ixgbevf_main.c (torvalds/linux
 * a18f22a968de: ixgbevf_update_itr, ixgbevf_set_itr_msix, ixgbevf_write_eitr,
 * ixgbevf_configure_msix, ixgbevf_sw_init) and ixgbevf.h (EITR_INTS_PER_SEC_TO_REG).
 *
 * Each queue vector has a latency class per ring (`rx_itr`, `tx_itr`); after each interrupt's
 * work the driver reclassifies the ring from the bytes it moved per microsecond of the
 * vector's nominal interval (1e6 / eitr µs, not the measured time), lets a class drop by at
 * most one step, maps the vector's class to an interrupt rate and, when the rate changed,
 * writes VTEITR (82599 §8.3.5.1.4; ITR interval in bits 11:3).
 */
import { EITR } from '@exitless/nic';

/** The latency classes (ixgbevf's enum latency_range). */
export const ITR_CLASS = {
  /** lowest_latency: the highest interrupt rate. */
  LOWEST: 0,
  /** low_latency. */
  LOW: 1,
  /** bulk_latency: the lowest interrupt rate. */
  BULK: 2,
} as const;
/** A latency class: one of the values of {@link ITR_CLASS}. */
export type ItrClass = (typeof ITR_CLASS)[keyof typeof ITR_CLASS];

/** The driver's throttling parameters (ixgbevf_sw_init and ixgbevf_set_itr_msix). */
export interface ItrParameters {
  /** adapter->eitr_param: the RX vector's rate at probe, ints/s (a TX-only vector gets half). 20,000. */
  readonly eitrParam: number;
  /** adapter->eitr_low: above this many bytes per µs a ring leaves the lowest class. 10. */
  readonly eitrLow: number;
  /** adapter->eitr_high: above this many bytes per µs a ring goes to the bulk class. 20. */
  readonly eitrHigh: number;
  /** Interrupt rates of the lowest, low and bulk classes, ints/s (100,000 / 20,000 / 8,000). */
  readonly lowestRate: number;
  /** Interrupt rate of the low class, ints/s (20,000). */
  readonly lowRate: number;
  /** Interrupt rate of the bulk class, ints/s (8,000). */
  readonly bulkRate: number;
  /**
   * Reproduce 2.0.0-k2's double conversion: ixgbevf_set_itr_msix converts the new rate to
   * register format and ixgbevf_write_eitr converts that again, so the programmed interval is
   * not the class's (464 / 912 / 976 µs instead of 8 / 48 / 122 µs). False: one conversion,
   * the rate the code means.
   */
  readonly doubleConversion: boolean;
}

/**
 * EITR_INTS_PER_SEC_TO_REG (ixgbevf.h): an interrupt rate to the register's interval in
 * 256 ns units, which lands the interval in 2.048 µs units in VTEITR bits 11:3 (bits 2:0 are
 * reserved). C's u32 arithmetic: integer division; 0 ints/s gives 8 (the smallest interval).
 */
export function eitrIntsPerSecToReg(rate: number): number {
  if (rate === 0) return 8;
  return Math.floor(1_000_000_000 / ((rate * 256) >>> 0)) >>> 0;
}

/** ixgbevf_write_eitr applied to a rate (ints/s): one conversion, with CNT_WDIS set. */
export function eitrForRate(rate: number): number {
  return (eitrIntsPerSecToReg(rate) | EITR.CNT_WDIS) >>> 0;
}

/**
 * The VTEITR value ixgbevf_set_itr_msix writes for a new rate: the rate smoothed (a no-op in
 * this version: `eitr` already holds the new rate when it is averaged with itself), converted
 * to register format, and handed to ixgbevf_write_eitr — which converts it again when
 * `doubleConversion` reproduces the driver as written.
 */
export function eitrForNewRate(rate: number, doubleConversion: boolean): number {
  const smoothed = Math.floor((rate * 90) / 100) + Math.floor((rate * 10) / 100);
  const reg = eitrIntsPerSecToReg(smoothed);
  return ((doubleConversion ? eitrIntsPerSecToReg(reg) : reg) | EITR.CNT_WDIS) >>> 0;
}

/**
 * ixgbevf_update_itr: a ring's next latency class from the packets and bytes it moved since
 * the vector's last interrupt, taking the interval as 1e6 / `eitr` µs (integer division, as
 * in C). No packets: unchanged. Lowest → low above `eitrLow` bytes/µs; low → bulk above
 * `eitrHigh`, low → lowest at or below `eitrLow`; bulk → low at or below `eitrHigh`.
 */
export function updateItr(
  eitr: number,
  itrClass: ItrClass,
  packets: number,
  bytes: number,
  eitrLow: number,
  eitrHigh: number,
): ItrClass {
  if (packets === 0) return itrClass;
  const timepassedUs = Math.max(1, Math.floor(1_000_000 / eitr));
  const bytesPerUs = Math.floor(bytes / timepassedUs);
  switch (itrClass) {
    case ITR_CLASS.LOWEST:
      return bytesPerUs > eitrLow ? ITR_CLASS.LOW : ITR_CLASS.LOWEST;
    case ITR_CLASS.LOW:
      if (bytesPerUs > eitrHigh) return ITR_CLASS.BULK;
      return bytesPerUs <= eitrLow ? ITR_CLASS.LOWEST : ITR_CLASS.LOW;
    default:
      return bytesPerUs <= eitrHigh ? ITR_CLASS.LOW : ITR_CLASS.BULK;
  }
}

/**
 * ixgbevf_set_itr_msix's per-ring rule: "if the result for this queue would decrease
 * interrupt rate for this vector then use that result" — a class moves up to the computed
 * one at once, but down by one step at a time.
 */
export function stepItrClass(current: ItrClass, computed: ItrClass): ItrClass {
  return current > computed ? ((current - 1) as ItrClass) : computed;
}

/** The interrupt rate of a class (ixgbevf_set_itr_msix's switch; anything else is bulk). */
export function itrClassRate(
  itrClass: ItrClass,
  p: Pick<ItrParameters, 'lowestRate' | 'lowRate' | 'bulkRate'>,
): number {
  if (itrClass === ITR_CLASS.LOWEST) return p.lowestRate;
  if (itrClass === ITR_CLASS.LOW) return p.lowRate;
  return p.bulkRate;
}

/** The name of a class, for counters. */
export const ITR_CLASS_NAME: readonly string[] = ['lowest', 'low', 'bulk'];
