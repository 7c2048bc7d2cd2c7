/** Where the host kernel keeps its structures in host-physical memory, and its vectors. */
export const HOST_LAYOUT = {
  /** Host kernel code: routines registered here. */
  CODE_BASE: 0x0010_0000,
  /** Bytes between consecutive host routines. */
  CODE_STRIDE: 0x100,
  /** The host IDT (256 × 16 bytes) and its pseudo-descriptor. */
  IDT_BASE: 0x0020_0000,
  /** Where the host writes its IDTR pseudo-descriptor (the LIDT operand). */
  IDTR_SCRATCH: 0x0020_1000,
  /** VMCS regions, one 4 KiB page per vCPU. */
  VMCS_BASE: 0x0030_0000,
  /** MSR bitmaps, one 4 KiB page per vCPU. */
  MSR_BITMAP_BASE: 0x0040_0000,
  /** The APIC-access page KVM maps at the guest's APIC base (xAPIC guests). */
  APIC_ACCESS_PAGE: 0x0050_0000,
  /** Host pages a strategy may keep for a VM (ELI's shadow IDT), one 4 KiB page per VM. */
  STRATEGY_PAGES_BASE: 0x0060_0000,
  /** Virtual-APIC pages (SDM vol. 3 §29.1), one 4 KiB page per vCPU: KVM's apic->regs, never mapped into a guest. */
  VIRTUAL_APIC_BASE: 0x0070_0000,
  /** Posted-interrupt descriptors (SDM vol. 3 §29.6, VT-d §9.12), 64 bytes (64-byte aligned) per vCPU: KVM's vmx->pi_desc. */
  POSTED_DESCRIPTORS_BASE: 0x0080_0000,
  /** Pages for the IOMMU's tables (root, context, page tables, interrupt remapping table). */
  IOMMU_TABLES_BASE: 0x0100_0000,
  /** Bytes of host memory for the IOMMU's tables (112 MiB). */
  IOMMU_TABLES_SIZE: 0x0700_0000,
  /** Guest memory is carved from here up. */
  GUEST_MEMORY_BASE: 0x1_0000_0000,
} as const;

/** The host's vectors (Linux-like). */
export const HOST_VECTOR = {
  /** The first vector for assigned-device interrupts (one per VF MSI-X vector). */
  ASSIGNED_BASE: 0x51,
  /** The host's LAPIC timer vector (Linux's LOCAL_TIMER_VECTOR). */
  LOCAL_TIMER: 0xef,
  /** KVM's POSTED_INTR_WAKEUP_VECTOR (arch/x86/include/asm/irq_vectors.h): notifications for blocked vCPUs. */
  POSTED_INTR_WAKEUP: 0xf1,
  /** KVM's POSTED_INTR_VECTOR: the posted-interrupt notification vector of running vCPUs. */
  POSTED_INTR: 0xf2,
  /** The spurious-interrupt vector (Linux's SPURIOUS_APIC_VECTOR). */
  SPURIOUS: 0xff,
} as const;
