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

/**
 * The system bus that carries interrupt messages between local APICs (SDM vol. 3 §10.6 and
 * §10.8.5; a Xeon's QPI and its uncore): messages from the IOMMU and MSIs in, IPIs between
 * APICs, and the EOI messages an APIC broadcasts for level-triggered vectors. Each local APIC
 * registers on it; it routes a message to the APICs its destination names. `@exitless/lapic`'s
 * `InterruptBus` is one; a board's interrupt-bus slot takes any.
 */
export interface ApicBus {
  /** Adds a local APIC to those the bus routes to (an APIC calls this when it is built). */
  register(apic: LocalApic): void;
  /** Delivers a message from a device (an MSI, or the IOMMU's remapped interrupt) to the APICs it names. */
  deliverInterrupt(message: InterruptMessage): void;
  /** Sends an IPI from `source`'s ICR: `message`, or the destination shorthand (ICR bits 19:18). */
  sendIpi(source: LocalApic, message: InterruptMessage, shorthand: number): void;
  /** Broadcasts an EOI for level-triggered `vector` to whoever listens (an I/O APIC). */
  broadcastEoi(vector: number): void;
}
