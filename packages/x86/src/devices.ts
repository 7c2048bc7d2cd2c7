import type { PhysicalMemory } from './memory.js';

/**
 * The small interfaces through which components talk. Every component implements or
 * uses these and nothing of another component's internals, so any one of them can be
 * replaced by a user's own implementation.
 */

/** Result of an MSR access: performed, or the access raises #GP(0) (SDM vol. 3 §2.1 / RDMSR, WRMSR). */
export const MSR_OK = 0;
/** The MSR access raises #GP(0) (an unknown MSR, a read-only one written, or a reserved bit set). */
export const MSR_GP = 1;
/** The result of an MSR access: {@link MSR_OK} or {@link MSR_GP}. */
export type MsrAccessResult = typeof MSR_OK | typeof MSR_GP;

/** A 64-bit MSR value as EDX:EAX halves (unsigned 32-bit each), reused to avoid allocation. */
export interface MsrValue {
  /** EAX: bits 31:0. */
  lo: number;
  /** EDX: bits 63:32. */
  hi: number;
}

/** A device that owns some model-specific registers (the x2APIC owns 0x800–0x8FF, say). */
export interface MsrDevice {
  /** True if this device implements `index` (the CPU routes the access here). */
  ownsMsr(index: number): boolean;
  /** Reads `index` into `out`; MSR_GP if the read must fault. */
  readMsr(index: number, out: MsrValue): MsrAccessResult;
  /** Writes EDX:EAX = hi:lo to `index`; MSR_GP if the write must fault (nothing changes then). */
  writeMsr(index: number, lo: number, hi: number): MsrAccessResult;
}

/** Access sizes of an MMIO transaction, in bytes. */
export type MmioSize = 1 | 2 | 4;

/**
 * A memory-mapped device region. Offsets are relative to the region's base. A 64-bit
 * access is two 4-byte accesses, low then high (how the SDM-era drivers write 64-bit
 * registers that are not atomic).
 */
export interface MmioDevice {
  /** Reads `size` bytes at byte `offset` of the region. */
  mmioRead(offset: number, size: MmioSize): number;
  /** Writes the low `size` bytes of `value` at byte `offset` of the region. */
  mmioWrite(offset: number, size: MmioSize, value: number): void;
}

/**
 * An upstream memory write that targets the interrupt address range 0xFEEx_xxxx: a
 * message-signalled interrupt. `requesterId` is the PCI bus:device.function of the
 * function that wrote it (used for source-ID validation by interrupt remapping).
 */
export interface MsiSink {
  /** Delivers the interrupt message written as `data` to `address` by the function `requesterId`. */
  msiWrite(address: number, data: number, requesterId: number): void;
}

/** Delivery modes of an interrupt message (SDM vol. 3 §10.6.1 / §10.11.2). */
export const DELIVERY_MODE = {
  /** Fixed: the vector to the destination. */
  FIXED: 0,
  /** Lowest priority: the vector to the destination processor at the lowest priority. */
  LOWEST_PRIORITY: 1,
  /** SMI (the vector field is ignored). */
  SMI: 2,
  /** NMI (the vector field is ignored). */
  NMI: 4,
  /** INIT. */
  INIT: 5,
  /** Start-up (SIPI): the vector gives the start page. */
  STARTUP: 6,
  /** ExtINT: the vector comes from an 8259A-compatible controller. */
  EXTINT: 7,
} as const;
/** A delivery mode: one of the values of {@link DELIVERY_MODE}. */
export type DeliveryMode = (typeof DELIVERY_MODE)[keyof typeof DELIVERY_MODE];

/** Destination modes (SDM vol. 3 §10.6.2). */
export const DEST_MODE = {
  /** Physical: the destination is an APIC ID. */
  PHYSICAL: 0,
  /** Logical: the destination is matched against each LDR (and DFR in xAPIC mode). */
  LOGICAL: 1,
} as const;
/** Trigger modes. */
export const TRIGGER_MODE = {
  /** Edge-triggered. */
  EDGE: 0,
  /** Level-triggered (its EOI is broadcast to the I/O APICs unless suppressed). */
  LEVEL: 1,
} as const;

/**
 * An interrupt message as it travels to local APICs (after MSI decoding or interrupt
 * remapping, or an IPI from an ICR). Senders reuse one object per source: a sink must copy
 * what it keeps and must not hold on to the object.
 */
export interface InterruptMessage {
  /** The vector, 0–255. */
  vector: number;
  /** The delivery mode ({@link DELIVERY_MODE}). */
  deliveryMode: number;
  /** 0 physical, 1 logical. */
  destMode: number;
  /** APIC ID (physical) or logical destination; 8 bits in xAPIC, 32 in x2APIC format. */
  destination: number;
  /** 0 edge, 1 level. */
  triggerMode: number;
  /** Level (assert = 1); meaningful for level-triggered messages. */
  level: number;
  /** The redirection hint of an MSI (lowest-priority among the destinations when set). */
  redirectionHint: number;
  /** True when `destination` is a 32-bit x2APIC ID (from an x2APIC ICR or a remapped IRTE). */
  x2apicDestination: boolean;
}

/** Makes a zeroed InterruptMessage (a fixed, edge, physical message to APIC 0). */
export function makeInterruptMessage(): InterruptMessage {
  return {
    vector: 0,
    deliveryMode: DELIVERY_MODE.FIXED,
    destMode: DEST_MODE.PHYSICAL,
    destination: 0,
    triggerMode: TRIGGER_MODE.EDGE,
    level: 1,
    redirectionHint: 0,
    x2apicDestination: false,
  };
}

/** Where interrupt messages go: the interrupt bus that reaches every local APIC. */
export interface InterruptMessageSink {
  /** Delivers `message` to the local APICs it addresses (the sink copies what it keeps). */
  deliverInterrupt(message: InterruptMessage): void;
}

/** Told by an interrupt line when its state may have changed (new interrupt or NMI pending). */
export interface InterruptLineListener {
  /** Called when the line's state may have changed; the listener reads the line again. */
  interruptLineChanged(): void;
}

/**
 * The line between a local APIC and its CPU core (the INTR and NMI pins and the INTA
 * cycle, SDM vol. 3 §10.8). The CPU samples it at instruction boundaries.
 */
export interface InterruptLine {
  /** True if a maskable interrupt is ready: the highest IRR vector's priority class exceeds PPR's. */
  hasInterrupt(): boolean;
  /** The INTA cycle: moves the highest IRR vector to ISR and returns it (the spurious vector if none is ready). */
  acknowledge(): number;
  /** True if an NMI is pending. */
  hasNmi(): boolean;
  /** Takes the pending NMI. */
  acknowledgeNmi(): void;
  /** Registers the CPU to be told when the line may have become active. */
  connect(listener: InterruptLineListener): void;
}

/** Result of a DMA access: 0 when performed, otherwise a nonzero fault reason (VT-d fault reason for an IOMMU). */
export const DMA_OK = 0;

/**
 * A device's upstream port for DMA: every read and write carries the requester ID of the
 * function that issued it. An IOMMU implements it (translating and checking); without
 * one, a pass-through port reaches host memory directly.
 */
export interface DmaPort {
  /** Reads `length` bytes at I/O virtual address `address`. Returns DMA_OK or a fault reason; on a fault dst is untouched. */
  dmaRead(requesterId: number, address: number, dst: Uint8Array, offset: number, length: number): number;
  /** Writes; returns DMA_OK or a fault reason; on a fault nothing reaches memory. */
  dmaWrite(requesterId: number, address: number, src: Uint8Array, offset: number, length: number): number;
  /** Picoseconds the last access spent in address translation (IOTLB hit or page walk). */
  readonly lastLatencyPs: number;
}

/** A DMA port straight to memory (no IOMMU): every access reaches memory, nothing translates. */
export class DirectDmaPort implements DmaPort {
  readonly lastLatencyPs = 0;
  private readonly memory: PhysicalMemory;
  /** Accesses outside implemented memory (reported as fault reason 1). */
  faults = 0;

  constructor(memory: PhysicalMemory) {
    this.memory = memory;
  }

  dmaRead(_requesterId: number, address: number, dst: Uint8Array, offset: number, length: number): number {
    if (address < 0 || address + length > this.memory.size) {
      this.faults++;
      return 1;
    }
    this.memory.readBytes(address, dst, offset, length);
    return DMA_OK;
  }

  dmaWrite(_requesterId: number, address: number, src: Uint8Array, offset: number, length: number): number {
    if (address < 0 || address + length > this.memory.size) {
      this.faults++;
      return 1;
    }
    this.memory.writeBytes(address, src, offset, length);
    return DMA_OK;
  }
}

/** A PCI requester ID from bus, device and function numbers (bus[15:8] dev[7:3] fn[2:0]). */
export function requesterId(bus: number, device: number, fn: number): number {
  return ((bus & 0xff) << 8) | ((device & 0x1f) << 3) | (fn & 0x7);
}

/** Formats a requester ID as bb:dd.f. */
export function formatRequesterId(rid: number): string {
  const bus = (rid >>> 8) & 0xff;
  const dev = (rid >>> 3) & 0x1f;
  const fn = rid & 7;
  return `${bus.toString(16).padStart(2, '0')}:${dev.toString(16).padStart(2, '0')}.${fn}`;
}
