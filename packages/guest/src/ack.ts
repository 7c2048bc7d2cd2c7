/**
 * The stream receiver's ACK segments (tcp_send_ack): addressed back to the peer that sent the
 * stream, carrying RCV.NXT, the window and the timestamps option. When one is owed is the
 * receiver's decision (`TcpReceiver`: more than one full segment unacknowledged, a segment out
 * of order, the delayed-ACK timer, a window update after a read); this module only builds it.
 * CPU-free and allocation-free: one reused set of fields.
 */
import { makeTcpSegmentFields, TCP_FLAG, type TcpSegmentFields } from '@exitless/net';

/**
 * SEG.SEQ of every ACK the stream receiver sends. It sends no data, so its SND.NXT never
 * moves; the handshake is outside the model, and the receiver's ISS is taken as 0 (SND.NXT =
 * ISS + 1 after its SYN).
 */
export const STREAM_ACK_SEQ = 1;

/** What the ACK takes from the receiving TCP. */
export interface AckState {
  /** RCV.NXT: the ACK field. */
  readonly rcvNxt: number;
  /** The 16-bit window field (free space, scaled). */
  windowField(): number;
}

/** Builds the stream receiver's ACKs. */
export class StreamAckBuilder {
  /** The ACK's fields (reused: valid until the next `build`). */
  readonly fields: TcpSegmentFields = makeTcpSegmentFields();
  private known = false;

  /** The local MAC and IPv4 address the ACKs come from. */
  constructor(localMac: number, localIp: number) {
    this.fields.srcMac = localMac;
    this.fields.srcIp = localIp;
  }

  /** True once a segment has named the peer. */
  get peerKnown(): boolean {
    return this.known;
  }

  /**
   * The first segment of the stream names the peer: ACKs go back to its source MAC, IP and
   * port, from the port it was sent to. Later segments change nothing (one stream).
   */
  learnPeer(seg: TcpSegmentFields): void {
    if (this.known) return;
    this.known = true;
    const a = this.fields;
    a.dstMac = seg.srcMac;
    a.dstIp = seg.srcIp;
    a.srcPort = seg.dstPort;
    a.dstPort = seg.srcPort;
  }

  /**
   * Fills the ACK: SEQ = STREAM_ACK_SEQ, ACK = RCV.NXT, flags ACK only, the receiver's window
   * field, no payload, timestamps on with TSecr = `tsEcr` (the TSval of the newest segment
   * received, RFC 7323 §4.3). The IP ID is the transmit path's. Returns the fields, or null
   * while no peer is known.
   */
  build(tcp: AckState, tsEcr: number): TcpSegmentFields | null {
    if (!this.known) return null;
    const a = this.fields;
    a.seq = STREAM_ACK_SEQ;
    a.ack = tcp.rcvNxt;
    a.flags = TCP_FLAG.ACK;
    a.window = tcp.windowField();
    a.payloadLength = 0;
    a.timestamps = true;
    a.tsEcr = tsEcr;
    return a;
  }
}
