/**
 * Cycles the host kernel and the KVM-like hypervisor spend in software, on top of what the
 * CPU model charges for the hardware transitions (VM exit, VM entry), MSR and MMIO
 * operations and IDT delivery. The machine fills these from the calibration profile, each
 * with its source or marked as an estimate.
 */
export interface HostCosts {
  /** Common exit path: saving guest GPRs, reading the exit reason, dispatch (vmx_handle_exit). */
  readonly exitDispatch: number;
  /** Preparing an entry: vmx_vcpu_run's prologue, checking requests and pending events. */
  readonly entryPrepare: number;
  /** Injecting a virtual interrupt: acknowledging the virtual LAPIC and writing the entry fields. */
  readonly injection: number;
  /** Handling an external-interrupt exit before the host's handler runs. */
  readonly externalInterruptExit: number;
  /** Emulating a WRMSR/RDMSR to the virtual x2APIC (apic register write/read paths). */
  readonly msrEmulation: number;
  /** Emulating an EOI in the virtual LAPIC (apic_set_eoi, priority update, notifiers). */
  readonly eoiEmulation: number;
  /** Emulating an MMIO access (instruction decode, dispatch to the device model). */
  readonly mmioEmulation: number;
  /** Handling an interrupt-window exit. */
  readonly interruptWindowExit: number;
  /** A HLT exit: blocking the vCPU (kvm_vcpu_block → schedule to idle). */
  readonly haltBlock: number;
  /** Waking a blocked vCPU. */
  readonly haltWake: number;
  /** The host's interrupt entry and exit (IDT stub, irq_enter/irq_exit). */
  readonly irqEntry: number;
  readonly irqExit: number;
  /** The assigned device's interrupt handler: signalling the guest's interrupt (irqfd → kvm_set_msi). */
  readonly assignedInterrupt: number;
  /** The host's scheduler tick. */
  readonly hostTick: number;
  /** Running one expired hrtimer (e.g. the guest's emulated LAPIC timer). */
  readonly hrtimerExpire: number;
  /** A hypercall's handling. */
  readonly vmcall: number;
  /** Reflecting an exception to the guest, or another uncommon exit. */
  readonly otherExit: number;
}
