import type { Simulator } from '@exitless/sim';
import type { DmaPort, MsiSink } from '@exitless/x86';
import type { WirePort } from './wire.js';

/**
 * DMA timing of the NIC's PCIe link. The machine fills these from the calibration profile.
 * A transfer of `n` bytes takes the 64-byte latency plus the per-byte term for each byte
 * beyond 64 (transfers of 64 bytes or less take the 64-byte latency): the size dependence
 * pcie-bench measured (Neugebauer et al., SIGCOMM 2018), linear between 64 and 2,048 bytes.
 */
export interface NicTiming {
  /**
   * PCIe read round trip of a read of up to 64 bytes: from a descriptor or packet-buffer read
   * request to its completion, ps.
   */
  readonly dmaReadLatencyPs: number;
  /**
   * From the NIC issuing a posted write of up to 64 bytes (descriptor write-back, a small
   * frame) until it is visible in memory, ps. A received frame is written, and its
   * interrupt sent, this long (plus the per-byte term) after its last bit arrives.
   */
  readonly dmaWriteLatencyPs: number;
  /** Added to a read's latency for each byte beyond 64, ps per byte (default 0: size-independent). */
  readonly dmaReadPsPerByte?: number;
  /** Added to a write's latency for each byte beyond 64, ps per byte (default 0). */
  readonly dmaWritePsPerByte?: number;
}

/** Bytes up to which a DMA takes its base latency (one 64-byte cache line). */
export const DMA_BASE_BYTES = 64;

/** Picoseconds a DMA of `bytes` takes with base latency `basePs` and `psPerByte` beyond 64 bytes. */
export function dmaLatencyPs(basePs: number, psPerByte: number, bytes: number): number {
  return bytes <= DMA_BASE_BYTES ? basePs : basePs + Math.round(psPerByte * (bytes - DMA_BASE_BYTES));
}

/** What the NIC is configured as (hardware strapping / EEPROM, not costs). */
export interface NicOptions {
  /** The PF's requester ID (bus[15:8] device[7:3] function[2:0]). */
  readonly requesterId: number;
  /** The PF's MAC address as a 48-bit number (first octet most significant). VF n defaults to this + 1 + n. */
  readonly macAddress: number;
  /** SR-IOV TotalVFs (the 82599 reports 63 or 64 depending on the NVM). */
  readonly totalVfs: number;
  /** SR-IOV InitialVFs. */
  readonly initialVfs: number;
  /** SR-IOV First VF Offset (82599: 0x80). */
  readonly firstVfOffset: number;
  /** SR-IOV VF Stride (82599: 2). */
  readonly vfStride: number;
  /** MSI-X vectors per VF (82599: 3 — RX, TX and mailbox with one queue pair). */
  readonly vfMsixVectors: number;
  /** MSI-X vectors of the PF (82599: 64). */
  readonly pfMsixVectors: number;
  /** Largest frame the transmit path gathers, FCS included (1518 standard, up to 9728 jumbo). */
  readonly maxFrameBytes: number;
  /** Transmit packet buffer: descriptors are fetched only while less than this many bytes wait for the wire (82599: 160 KiB). */
  readonly txPacketBufferBytes: number;
  /** Where a unicast frame to no function's MAC goes: the PF (the 82599's default pool) or nowhere (counted). */
  readonly unknownUnicast: 'pf' | 'drop';
}

/** The 82599's strapping values for everything in NicOptions except the requester ID and MAC. */
export const NIC_82599 = {
  /** TotalVFs: 63. */
  totalVfs: 63,
  /** InitialVFs: 63. */
  initialVfs: 63,
  /** First VF Offset: 0x80. */
  firstVfOffset: 0x80,
  /** VF Stride: 2. */
  vfStride: 2,
  /** MSI-X vectors per VF: 3. */
  vfMsixVectors: 3,
  /** MSI-X vectors of the PF: 64. */
  pfMsixVectors: 64,
  /** Largest frame: 1518 bytes (standard). */
  maxFrameBytes: 1518,
  /** Transmit packet buffer: 160 KiB. */
  txPacketBufferBytes: 163840,
  /** Unknown unicast frames go to the PF. */
  unknownUnicast: 'pf',
} as const;

/**
 * What a function model needs from the NIC that owns it.
 *
 * @internal
 * @inline
 */
export interface NicCore {
  readonly sim: Simulator;
  readonly dma: DmaPort;
  readonly msi: MsiSink;
  readonly timing: NicTiming;
  readonly options: NicOptions;
  /** The port's wire end, or null before connect(). */
  readonly port: WirePort | null;
  /** Transmit gather buffer shared by every queue (processing is synchronous). */
  readonly txBuffer: Uint8Array;
  /** Scratch for descriptor reads and writes. */
  readonly descriptor: Uint8Array;
  /** SR-IOV VF MSE: the VFs answer memory accesses. */
  vfMemoryEnabled(): boolean;
  /** A VF set MBVFICR bits: the PF raises its mailbox interrupt. */
  vfMailboxEvent(vf: number): void;
}
