import type { CpuContext } from '@exitless/x86';
import type { Vcpu } from './vcpu.js';

/**
 * The seam where an interrupt-virtualization design plugs into the hypervisor. A strategy
 * decides the VMCS controls of each vCPU, what happens before every VM entry (injecting
 * virtual interrupts, switching modes), which exits it handles itself, and what a guest EOI
 * and an assigned-device interrupt mean. `baseline` (KVM's device assignment) lives in this
 * package; ELI and posted interrupts plug in from their own packages without editing it.
 *
 * Methods run inside host routines on the vCPU's physical CPU: they may use the CPU's
 * immediate members (vmread, vmwrite, registers) and return the cycles of software work
 * they represent; operations (MSR writes, calls) are requested through the Vcpu.
 */
export interface InterruptVirtualization {
  readonly name: string;
  /** Sets this design's VMCS controls and bitmaps for a new vCPU (its VMCS is current). */
  configureVcpu(cpu: CpuContext, vcpu: Vcpu): void;
  /** Runs before every VM entry with host IF = 0: inject, switch modes. Returns cycles. */
  beforeEntry(cpu: CpuContext, vcpu: Vcpu): number;
  /**
   * Offered every exit first. Returns the cycles of handling it, or −1 to leave it to the
   * hypervisor's own handlers.
   */
  handleExit(cpu: CpuContext, vcpu: Vcpu, reason: number): number;
  /** The guest EOI'd `vector` in its virtual LAPIC (after emulation). Returns cycles. */
  onVirtualEoi(cpu: CpuContext, vcpu: Vcpu, vector: number): number;
  /**
   * The host's handler for an assigned device's interrupt ran on the host: deliver
   * `guestVector` to the guest (baseline: set it in the virtual LAPIC to be injected).
   * Returns cycles.
   */
  assignedInterrupt(vcpu: Vcpu, guestVector: number): number;
  /** Cycles of the guest-facing state a design keeps per exit, for reports. */
  describe(): string;
}
