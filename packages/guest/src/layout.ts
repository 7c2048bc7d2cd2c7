/**
 * Where the guest kernel keeps things in its (guest-)physical memory, and the vectors it
 * uses. Paging is not modeled: linear = physical, so gate offsets and code addresses are
 * physical addresses in the guest's own address space.
 */
export const GUEST_LAYOUT = {
  /** Kernel code: each routine is registered at an address in this region. */
  CODE_BASE: 0x0010_0000,
  /** Bytes between consecutive routine addresses. */
  CODE_STRIDE: 0x100,
  /** The IDT: 256 gates of 16 bytes. */
  IDT_BASE: 0x0020_0000,
  /** Scratch for LIDT/SIDT pseudo-descriptors. */
  IDTR_SCRATCH: 0x0020_1000,
  /** The per-CPU word kvm_apic_eoi whose bit 0 says the EOI may be skipped (KVM's PV EOI; 4-byte aligned). */
  PV_EOI_FLAG: 0x0020_2000,
  /** RX descriptor ring (128-byte aligned). */
  RX_RING: 0x0030_0000,
  /** TX descriptor ring. */
  TX_RING: 0x0031_0000,
  /** RX packet buffers, one per RX descriptor. */
  RX_BUFFERS: 0x0100_0000,
  /** TX packet buffers, one per TX descriptor. */
  TX_BUFFERS: 0x0200_0000,
  /** Size of each packet buffer. */
  BUFFER_SIZE: 2048,
  /** The lowest amount of memory the layout needs. */
  MIN_MEMORY: 0x0400_0000,
} as const;

/** The vectors the guest kernel uses (Linux-like choices). */
export const GUEST_VECTOR = {
  /** The VF's RX queue interrupt (ixgbevf "eth0-rx-0", MSI-X entry 0). */
  NIC_RX: 0x41,
  /** The VF's TX queue interrupt (ixgbevf "eth0-tx-0", MSI-X entry 1). */
  NIC_TX: 0x42,
  /** The VF's mailbox interrupt (ixgbevf "eth0:mbx", MSI-X entry 2). */
  NIC_MAILBOX: 0x43,
  /** Linux's LOCAL_TIMER_VECTOR. */
  LOCAL_TIMER: 0xef,
  /** Linux's SPURIOUS_APIC_VECTOR. */
  SPURIOUS: 0xff,
} as const;
