import type { InterruptLine, InterruptMessage, MmioDevice, MsrDevice } from './devices.js';

/**
 * Everything the rest of a machine needs from a local APIC: the CPU uses it as its
 * interrupt line, as the owner of the x2APIC MSRs (0x800–0x8FF), IA32_APIC_BASE and
 * IA32_TSC_DEADLINE, and as the xAPIC register page; the interrupt bus uses it to route
 * messages. A user's own LAPIC implements this interface (and passes the conformance
 * suite of @exitless/lapic) to replace the package's.
 */
export interface LocalApic extends InterruptLine, MsrDevice, MmioDevice {
  /** The current APIC ID (8 bits in xAPIC mode, 32 in x2APIC mode). */
  readonly apicId: number;
  /** True in x2APIC mode (IA32_APIC_BASE.EXTD = 1 and EN = 1). */
  readonly x2apicMode: boolean;
  /** True when the APIC is globally enabled (IA32_APIC_BASE.EN) and software-enabled (SVR bit 8). */
  readonly enabled: boolean;
  /** Does a message with this destination select this APIC? (SDM vol. 3 §10.6.2, §10.12.9). */
  matchesDestination(destination: number, destMode: number, x2apicDestination: boolean): boolean;
  /** Arbitration priority, for lowest-priority delivery (SDM vol. 3 §10.8.3.1, APR). */
  readonly arbitrationPriority: number;
  /** Accepts a message the bus has routed here: fixed and lowest-priority set IRR; NMI, INIT, SIPI as the SDM says. */
  acceptInterrupt(message: InterruptMessage): void;
}
