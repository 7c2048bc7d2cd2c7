/**
 * The local APIC as a machine builds it: what a factory of one is given, which
 * `describeLocalApicConformance` (`@exitless/lapic/conformance`) hands the APIC under test and
 * a board's core slot hands a LAPIC of its own (`@exitless/machine`).
 */
import type { Simulator } from '@exitless/sim';
import type { ApicBus, LocalApic } from '@exitless/x86';

/** What a factory is given to build one local APIC. */
export interface LocalApicFactoryOptions {
  /** The simulator the APIC schedules its timer on. */
  readonly sim: Simulator;
  /** The bus the APIC must register with and send IPIs and EOI broadcasts on. */
  readonly bus: ApicBus;
  /** The APIC ID to give the APIC (on a board, the core's index). */
  readonly apicId: number;
  /** The TSC frequency, Hz (TSC-deadline mode). */
  readonly tscHz: number;
  /** The timer's input clock, Hz. */
  readonly timerHz: number;
  /** Whether the APIC is the bootstrap processor's (IA32_APIC_BASE.BSP). */
  readonly bsp: boolean;
}

/** Builds a local APIC. It must register itself on `options.bus`. */
export type LocalApicFactory = (options: LocalApicFactoryOptions) => LocalApic;
