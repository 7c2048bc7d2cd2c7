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
  /**
   * A HLT exit: kvm_emulate_halt and kvm_vcpu_block's own work (mark the vCPU halted,
   * prepare_to_wait, the runnable check). Putting the thread to sleep is `contextSwitch`.
   */
  readonly haltBlock: number;
  /** Waking a blocked vCPU thread (try_to_wake_up from kvm_vcpu_kick or the timer) and finishing its wait; the switch to it is `contextSwitch`. */
  readonly haltWake: number;
  /** The host's interrupt entry and exit (IDT stub, irq_enter/irq_exit). */
  readonly irqEntry: number;
  /** The host's interrupt exit (irq_exit and the return from the interrupt). */
  readonly irqExit: number;
  /**
   * The assigned device's hard-IRQ handler (the primary handler of KVM's threaded IRQ:
   * irq_default_primary_handler / kvm_assigned_dev_intr, which returns IRQ_WAKE_THREAD),
   * without the wake-up itself.
   */
  readonly assignedHardIrq: number;
  /** Waking the IRQ's kernel thread from the hard IRQ (irq_wake_thread → wake_up_process), when it was not already woken. */
  readonly irqThreadWake: number;
  /**
   * One context switch on the host between two threads of the host kernel (schedule():
   * pick the next task, switch_to; kernel threads borrow the previous mm, so no CR3 load
   * when one side is a kernel thread).
   */
  readonly contextSwitch: number;
  /**
   * The IRQ thread's work for one interrupt (kvm_assigned_dev_thread → kvm_set_irq: the
   * routing entry, kvm_set_msi → kvm_irq_delivery_to_apic → __apic_accept_irq sets IRR,
   * kvm_vcpu_kick), on top of what the interrupt-virtualization strategy charges.
   */
  readonly kvmSetIrq: number;
  /**
   * KVM's preempt notifiers when the vCPU thread is switched out and back in (kvm_sched_out →
   * vmx_vcpu_put → __vmx_load_host_state: the host's segment registers and FS/GS/kernel-GS
   * base MSRs; kvm_sched_in → vmx_vcpu_load), and the next entry's vmx_save_host_state: one
   * out-and-in pair, charged when the vCPU thread gives the CPU to another thread or to idle.
   */
  readonly vcpuPutLoad: number;
  /** The host's scheduler tick. */
  readonly hostTick: number;
  /** Running one expired hrtimer (e.g. the guest's emulated LAPIC timer). */
  readonly hrtimerExpire: number;
  /** A hypercall's handling. */
  readonly vmcall: number;
  /** Reflecting an exception to the guest, or another uncommon exit. */
  readonly otherExit: number;
}
