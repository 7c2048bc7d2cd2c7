import { seqLt, type TcpSegmentFields } from '@exitless/net';
import type { Counter, Gauge, ScopedStats } from '@exitless/sim';

/** What a receiving TCP endpoint is configured with. */
export interface TcpReceiverOptions {
  /** Socket receive buffer, bytes (tcp_rmem; the advertised window is its free space). */
  readonly receiveBuffer: number;
  /** Window scale shift the receiver advertised at connection setup (RFC 7323). */
  readonly windowScale: number;
  /** The peer's maximum segment size (1448 with timestamps on a 1500-byte MTU). */
  readonly mss: number;
  /** Delayed-ACK timeout in ps (Linux's TCP_DELACK_MIN: 40 ms). */
  readonly delayedAckPs: number;
}

/**
 * The receive half of one TCP connection (RFC 9293 §3.10.7.4, with Linux's ACK policy):
 * in-order data is queued for the application and acknowledged once more than one full
 * segment is unacknowledged (or the delayed-ACK timer runs out); an out-of-order or
 * duplicate segment is dropped and answered at once with a duplicate ACK, which is what
 * makes the sender retransmit. There is no out-of-order queue (no SACK): after a loss the
 * sender goes back to the first missing byte.
 */
export class TcpReceiver {
  /** The options the receiver was made with. */
  readonly options: TcpReceiverOptions;
  /** Next sequence number expected (RCV.NXT). */
  rcvNxt = 0;
  /** RCV.NXT at the last ACK sent (Linux's rcv_wup). */
  rcvWup = 0;
  /** Window advertised in the last ACK, bytes. */
  lastWindow = 0;
  /** Bytes queued for the application. */
  queued = 0;
  /** The ACK the stack must send now (immediate) — cleared by the sender. */
  ackNow = false;
  /** Time the first unacknowledged byte arrived (for the delayed-ACK timer), −1 if none. */
  unackedSince = -1;
  private established = false;

  private readonly segments: Counter;
  private readonly bytesIn: Counter;
  private readonly outOfOrder: Counter;
  private readonly duplicates: Counter;
  private readonly acksSent: Counter;
  private readonly windowUpdates: Counter;
  private readonly bytesRead: Counter;
  private readonly queueGauge: Gauge;

  constructor(options: TcpReceiverOptions, stats: ScopedStats) {
    this.options = options;
    this.segments = stats.counter('segments');
    this.bytesIn = stats.counter('bytes');
    this.outOfOrder = stats.counter('out-of-order');
    this.duplicates = stats.counter('duplicates');
    this.acksSent = stats.counter('acks');
    this.windowUpdates = stats.counter('window-updates');
    this.bytesRead = stats.counter('bytes-read');
    this.queueGauge = stats.gauge('queued-bytes');
  }

  /** Free socket-buffer space, bytes: the window the receiver can offer now. */
  freeSpace(): number {
    return Math.max(0, this.options.receiveBuffer - this.queued);
  }

  /** The 16-bit window field for the current free space. */
  windowField(): number {
    return Math.min(0xffff, Math.floor(this.freeSpace() / 2 ** this.options.windowScale));
  }

  /**
   * One (possibly GRO-aggregated) segment in sequence space [seq, seq + length). Returns
   * the payload bytes accepted for the application.
   */
  receive(seg: TcpSegmentFields, length: number, now: number): number {
    if (!this.established) {
      // The connection was set up before the measured stream (netperf's control
      // connection and handshake are outside the model): synchronise on the first segment.
      this.established = true;
      this.rcvNxt = seg.seq >>> 0;
      this.rcvWup = this.rcvNxt;
    }
    this.segments.inc();
    if (length === 0) return 0;
    const seq = seg.seq >>> 0;
    if (seq !== this.rcvNxt) {
      if (seqLt(seq, this.rcvNxt)) this.duplicates.inc();
      else this.outOfOrder.inc();
      this.ackNow = true;
      return 0;
    }
    // Trim to the window the receiver offered (a sender never exceeds it, but be exact).
    const accepted = Math.min(length, this.freeSpace());
    if (accepted < length) this.ackNow = true;
    this.rcvNxt = (this.rcvNxt + accepted) >>> 0;
    this.queued += accepted;
    this.queueGauge.set(this.queued);
    this.bytesIn.add(accepted);
    if (this.unackedSince < 0) this.unackedSince = now;
    // Linux __tcp_ack_snd_check: ACK at once when more than one full segment is unacknowledged.
    if ((this.rcvNxt - this.rcvWup) >>> 0 > this.options.mss) this.ackNow = true;
    return accepted;
  }

  /** True if the delayed-ACK timer has run out. */
  delayedAckDue(now: number): boolean {
    return this.unackedSince >= 0 && now - this.unackedSince >= this.options.delayedAckPs;
  }

  /** Records that an ACK carrying RCV.NXT and the current window was sent. */
  ackSent(): void {
    this.rcvWup = this.rcvNxt;
    this.lastWindow = this.freeSpace();
    this.ackNow = false;
    this.unackedSince = -1;
    this.acksSent.inc();
  }

  /** The application reads up to `max` bytes; returns the bytes read. */
  read(max: number): number {
    const n = Math.min(max, this.queued);
    this.queued -= n;
    this.queueGauge.set(this.queued);
    this.bytesRead.add(n);
    return n;
  }

  /**
   * After a read: should the stack send a window update? Linux tcp_cleanup_rbuf: when the
   * window still open to the sender (advertised at the last ACK, less what arrived since)
   * is at most half the buffer and the window it could offer now is at least twice that.
   */
  windowUpdateDue(): boolean {
    const sinceAck = (this.rcvNxt - this.rcvWup) >>> 0;
    const remaining = Math.max(0, this.lastWindow - sinceAck);
    if (2 * remaining <= this.options.receiveBuffer && this.freeSpace() >= 2 * remaining + this.options.mss) {
      this.windowUpdates.inc();
      return true;
    }
    return false;
  }
}
