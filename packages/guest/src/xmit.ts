/**
 * The transmit path between the stack and the driver (dev_queue_xmit → ixgbevf_xmit_frame):
 * a frame's headers built in a scratch buffer, copied into the next TX descriptor's buffer in
 * guest memory with its payload, and the descriptor posted (its TDT write left pending in the
 * driver, a separate MMIO operation). Every IPv4 datagram the kernel sends takes the next IP
 * ID from one counter. CPU-free; allocation-free per frame.
 */
import {
  type TcpSegmentFields,
  tcpHeadersLength,
  UDP_HEADERS_LEN,
  type UdpDatagramFields,
  writeTcpSegment,
  writeUdpDatagram,
} from '@exitless/net';
import type { PhysicalMemory } from '@exitless/x86';
import { type Ixgbevf, TX_SLOT } from './ixgbevf.js';

/** What the transmit path needs of the driver. */
export type TxDriver = Pick<Ixgbevf, 'txSlot' | 'xmit'>;

/** Builds frames into the driver's TX buffers. */
export class FrameTransmitter {
  private readonly memory: PhysicalMemory;
  private readonly driver: TxDriver;
  private readonly scratch = new Uint8Array(128);
  private ipId = 0;

  constructor(memory: PhysicalMemory, driver: TxDriver) {
    this.memory = memory;
    this.driver = driver;
  }

  /** The IP ID of the last datagram sent (0 before the first; the next one is this + 1, modulo 2^16). */
  get lastIpId(): number {
    return this.ipId;
  }

  /**
   * A TCP segment from `f` (its `ipId` set here), its `f.payloadLength` payload bytes copied
   * from `ring` at `start`, wrapping at the ring's end (`ring` null: no payload). Returns the
   * frame's length, or 0 when the TX ring is full (nothing written, nothing counted here).
   */
  tcp(f: TcpSegmentFields, ring: Uint8Array | null, start: number): number {
    const buf = this.driver.txSlot();
    if (buf === TX_SLOT.RING_FULL) return 0;
    f.ipId = this.ipId = (this.ipId + 1) & 0xffff;
    const len = writeTcpSegment(this.scratch, f);
    const hdr = tcpHeadersLength(f.timestamps);
    this.memory.writeBytes(buf, this.scratch, 0, hdr);
    const pl = f.payloadLength;
    if (ring !== null && pl > 0) {
      const first = Math.min(pl, ring.length - start);
      this.memory.writeBytes(buf + hdr, ring, start, first);
      if (pl > first) this.memory.writeBytes(buf + hdr + first, ring, 0, pl - first);
    }
    this.driver.xmit(len);
    return len;
  }

  /**
   * A UDP datagram from `f` (its `ipId` set here): only the headers are written, the payload
   * bytes are whatever the buffer holds (netperf's are a fixed fill too). Returns the frame's
   * length, or 0 when the TX ring is full.
   */
  udp(f: UdpDatagramFields): number {
    const buf = this.driver.txSlot();
    if (buf === TX_SLOT.RING_FULL) return 0;
    f.ipId = this.ipId = (this.ipId + 1) & 0xffff;
    const len = writeUdpDatagram(this.scratch, f);
    this.memory.writeBytes(buf, this.scratch, 0, UDP_HEADERS_LEN);
    this.driver.xmit(len);
    return len;
  }
}
