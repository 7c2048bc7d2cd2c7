/**
 * Generic receive offload for the stream receiver (net/core/dev.c napi_gro_receive with
 * tcp4_gro_receive, reduced to one flow): consecutive in-order TCP segments are merged into
 * one skb, which goes up through IP and TCP once instead of once per frame. CPU-free and
 * allocation-free: the held skb is one reused set of fields.
 */
import { makeTcpSegmentFields, type TcpSegmentFields } from '@exitless/net';
import type { Counter } from '@exitless/sim';

/** The largest skb GRO builds: an IPv4 datagram's 16-bit total length bounds it (64 KiB − 1). */
export const GRO_MAX_BYTES = 65535;

/** Where GRO hands its skbs: TCP's receive (`TcpReceiver` is one). */
export interface GroReceiver {
  /** One skb: sequence space [skb.seq, skb.seq + length). */
  receive(skb: TcpSegmentFields, length: number, now: number): unknown;
}

/**
 * GRO for the stream receiver's frames. A segment merges into the held skb when the skb
 * is held, the segment starts where the skb ends (SEG.SEQ = skb SEQ + its length, modulo
 * 2^32) and the merged length stays within GRO_MAX_BYTES; the skb keeps its first segment's
 * SEQ and flags and takes the last one's TSval. Any other segment first sends the held skb up
 * (flush) and is then held as a new skb. The NAPI poll's end flushes what is held.
 */
export class TcpGro {
  /** The skb held: SEQ and flags of its first segment, TSval of its last. */
  readonly skb: TcpSegmentFields = makeTcpSegmentFields();
  private bytes = 0;
  private active = false;
  private readonly tcp: GroReceiver;
  private readonly skbs: Counter;

  /** `skbs` counts the skbs handed to `tcp` (rx.skbs). */
  constructor(tcp: GroReceiver, skbs: Counter) {
    this.tcp = tcp;
    this.skbs = skbs;
  }

  /** True while an skb is held. */
  get held(): boolean {
    return this.active;
  }

  /** Payload bytes of the held skb. */
  get heldBytes(): number {
    return this.bytes;
  }

  /** TSval of the newest segment GRO took (the ACK's TSecr echoes it, RFC 7323 §4.3). */
  get lastTsVal(): number {
    return this.skb.tsVal;
  }

  /**
   * One received segment with `seg.payloadLength` payload bytes. Returns the skbs it made GRO
   * hand to TCP: 0 when it merged (or nothing was held), 1 when it flushed the held skb.
   */
  receive(seg: TcpSegmentFields, now: number): number {
    const payload = seg.payloadLength;
    if (
      this.active &&
      seg.seq === (this.skb.seq + this.bytes) >>> 0 &&
      this.bytes + payload <= GRO_MAX_BYTES
    ) {
      this.bytes += payload;
      this.skb.tsVal = seg.tsVal;
      return 0;
    }
    // A segment that does not continue the held skb sends that one up the stack first.
    const flushed = this.flush(now);
    const s = this.skb;
    s.seq = seg.seq;
    s.tsVal = seg.tsVal;
    s.flags = seg.flags;
    this.bytes = payload;
    this.active = true;
    return flushed;
  }

  /** Hands the held skb to TCP (napi_gro_flush); returns 1, or 0 when none was held. */
  flush(now: number): number {
    if (!this.active) return 0;
    this.active = false;
    this.skbs.inc();
    this.tcp.receive(this.skb, this.bytes, now);
    return 1;
  }
}
