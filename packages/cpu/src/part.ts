/**
 * The CPU as a machine uses it: the part's interface. `describeCpuConformance`
 * (`@exitless/cpu/conformance`) checks `CpuUnderTest`'s behaviour; a board's core slot takes a
 * `MeasuredCpu` (`@exitless/machine`), which adds what the run report reads.
 */
import type { CpuCounters } from './cpu.js';

/** What the conformance suite needs of the CPU under test: starting software in VMX root operation. */
export interface CpuUnderTest {
  /** Runs the routine registered at host-physical `entryAddress`, in VMX root operation, from `sim.now`. */
  start(entryAddress: number): void;
}

/**
 * A CPU a board can measure: one that passes the conformance suite and keeps the counters the
 * run report reads — time by category, exits and their indirect cost by basic exit reason,
 * interrupts acknowledged. `@exitless/cpu`'s `Cpu` is one.
 */
export interface MeasuredCpu extends CpuUnderTest {
  /** The core's index (its APIC ID on a board). */
  readonly id: number;
  /** Core clock, Hz. */
  readonly hz: number;
  /** Time by category, exits and their indirect cost by reason, interrupts delivered and acknowledged. */
  readonly counters: CpuCounters;
  /** Brings `counters.time` up to now: the report calls it before reading them. */
  flushAccounting(): void;
  /** Zeroes any per-vector counts kept outside `counters` (the report calls it when warm-up ends). */
  resetDeliveredCounts?(): void;
}
