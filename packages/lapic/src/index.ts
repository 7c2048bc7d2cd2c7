/**
 * `@exitless/lapic`: the local APIC (xAPIC and x2APIC) and the interrupt bus between APICs.
 *
 * @module @exitless/lapic
 */
export type { EoiBroadcastListener, InterruptBusCounters, InterruptBusOptions } from './bus.js';
export { InterruptBus } from './bus.js';
export { LapicConfigError } from './errors.js';
export type { LapicCounters, LapicMode, LocalApicOptions } from './lapic.js';
export {
  LAPIC_MODE,
  LAPIC_VERSION,
  LAPIC_VERSION_EOI_BROADCAST_SUPPRESSION,
  LocalApicDevice,
  x2apicLdr,
} from './lapic.js';
export type { LocalApicFactory, LocalApicFactoryOptions } from './part.js';
