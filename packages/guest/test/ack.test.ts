import { makeTcpSegmentFields, TCP_FLAG } from '@exitless/net';
import { VF_REG } from '@exitless/nic';
import { ms, Stats } from '@exitless/sim';
import { describe, expect, it } from 'vitest';
import { STREAM_ACK_SEQ, StreamAckBuilder, TcpReceiver, type TcpReceiverOptions } from '../src/index.js';
import { COSTS, pending } from './driver-helpers.js';
import { GUEST, MSS, makeStack, PEER, STREAM, TCP, tcpFrame, txSegment } from './stack-helpers.js';

function receiver(options: Partial<TcpReceiverOptions> = {}) {
  const stats = new Stats({ now: 0 });
  const tcp = new TcpReceiver({ ...TCP, ...options }, stats.scope('tcp'));
  const seg = makeTcpSegmentFields();
  const rx = (seq: number, length: number, now = 0) => {
    seg.seq = seq >>> 0;
    return tcp.receive(seg, length, now);
  };
  return { tcp, rx, counter: (n: string) => stats.counterValue(`tcp.${n}`) };
}

describe('when the stream receiver owes an ACK (TcpReceiver, Linux __tcp_ack_snd_check)', () => {
  it('ACKs at once only when more than one full segment is unacknowledged (RFC 1122 §4.2.3.2: at least every second)', () => {
    const { tcp, rx } = receiver();
    rx(1000, MSS);
    expect(tcp.ackNow).toBe(false);
    rx(1000 + MSS, MSS);
    expect(tcp.ackNow).toBe(true);
    tcp.ackSent();
    expect(tcp.ackNow).toBe(false);
    expect(tcp.rcvWup).toBe(tcp.rcvNxt);
  });

  it('exactly one MSS unacknowledged waits; one byte more does not', () => {
    const { tcp, rx } = receiver();
    rx(0, 1000);
    rx(1000, MSS - 1000);
    expect(tcp.ackNow).toBe(false);
    rx(MSS, 1);
    expect(tcp.ackNow).toBe(true);
  });

  it('the delayed-ACK timer runs from the first unacknowledged byte, 40 ms', () => {
    const { tcp, rx } = receiver();
    const t0 = ms(3);
    rx(0, 100, t0);
    rx(100, 100, t0 + ms(10)); // a later segment does not restart it
    expect(tcp.delayedAckDue(t0 + ms(40) - 1)).toBe(false);
    expect(tcp.delayedAckDue(t0 + ms(40))).toBe(true);
    tcp.ackSent();
    expect(tcp.delayedAckDue(t0 + ms(100))).toBe(false);
  });

  it('an out-of-order segment is dropped and ACKed at once (a duplicate ACK of RCV.NXT)', () => {
    const { tcp, rx, counter } = receiver();
    rx(0, MSS);
    expect(rx(2 * MSS, MSS)).toBe(0);
    expect(tcp.rcvNxt).toBe(MSS);
    expect(tcp.ackNow).toBe(true);
    expect(counter('out-of-order')).toBe(1);
  });

  it('an old (duplicate) segment is ACKed at once and counted as a duplicate', () => {
    const { tcp, rx, counter } = receiver();
    rx(0, MSS);
    tcp.ackSent();
    expect(rx(0, MSS)).toBe(0);
    expect(tcp.ackNow).toBe(true);
    expect(counter('duplicates')).toBe(1);
    expect(counter('out-of-order')).toBe(0);
  });

  it('the window field is the free buffer space scaled down by the window scale (RFC 7323 §2.3), at most 0xFFFF', () => {
    const { tcp, rx } = receiver();
    expect(tcp.windowField()).toBe(262_144 >> 7);
    rx(0, 10 * MSS);
    expect(tcp.windowField()).toBe(Math.floor((262_144 - 10 * MSS) / 128));
    expect(receiver({ windowScale: 0 }).tcp.windowField()).toBe(0xffff);
  });

  it('data beyond the free space is trimmed to the window and ACKed at once', () => {
    const { tcp, rx } = receiver({ receiveBuffer: 4096, windowScale: 0 });
    expect(rx(0, 3000)).toBe(3000);
    tcp.ackSent();
    expect(rx(3000, 1448)).toBe(1096);
    expect(tcp.rcvNxt).toBe(4096);
    expect(tcp.ackNow).toBe(true);
    expect(tcp.windowField()).toBe(0);
  });

  it('after a read, a window update is due when the window open to the sender has fallen to half the buffer (tcp_cleanup_rbuf)', () => {
    const big = receiver({ receiveBuffer: 65_536, windowScale: 0 });
    for (let seq = 0; seq < 40_000; seq += 1000) big.rx(seq, 1000);
    big.tcp.ackSent(); // advertised 25,536
    big.tcp.read(40_000);
    expect(big.tcp.windowUpdateDue()).toBe(true);

    const small = receiver({ receiveBuffer: 65_536, windowScale: 0 });
    for (let seq = 0; seq < 10_000; seq += 1000) small.rx(seq, 1000);
    small.tcp.ackSent(); // advertised 55,536: more than half the buffer is still open
    small.tcp.read(10_000);
    expect(small.tcp.windowUpdateDue()).toBe(false);
  });
});

describe('the ACK segment (StreamAckBuilder)', () => {
  const seg = makeTcpSegmentFields();
  Object.assign(seg, {
    srcMac: PEER.mac,
    dstMac: GUEST.mac,
    srcIp: PEER.ip,
    dstIp: GUEST.ip,
    srcPort: STREAM.peerPort,
    dstPort: STREAM.guestPort,
  });
  const state = { rcvNxt: 0x1234_5678, windowField: () => 2048 };

  it('is not built before a segment has named the peer', () => {
    expect(new StreamAckBuilder(GUEST.mac, GUEST.ip).build(state, 0)).toBeNull();
  });

  it('goes back to the first segment’s source, from the port it was sent to', () => {
    const b = new StreamAckBuilder(GUEST.mac, GUEST.ip);
    b.learnPeer(seg);
    b.learnPeer({ ...seg, srcIp: 0x0a00_0063, srcPort: 1 }); // later segments change nothing
    const a = b.build(state, 0)!;
    expect([a.srcMac, a.dstMac, a.srcIp, a.dstIp, a.srcPort, a.dstPort]).toEqual([
      GUEST.mac,
      PEER.mac,
      GUEST.ip,
      PEER.ip,
      STREAM.guestPort,
      STREAM.peerPort,
    ]);
  });

  it('carries SEQ = SND.NXT (fixed: no data is sent), ACK = RCV.NXT, the window, ACK alone, and TSecr', () => {
    const b = new StreamAckBuilder(GUEST.mac, GUEST.ip);
    b.learnPeer(seg);
    const a = b.build(state, 777)!;
    expect(a.seq).toBe(STREAM_ACK_SEQ);
    expect(a.ack).toBe(0x1234_5678);
    expect(a.window).toBe(2048);
    expect(a.flags).toBe(TCP_FLAG.ACK);
    expect(a.payloadLength).toBe(0);
    expect(a.timestamps).toBe(true);
    expect(a.tsEcr).toBe(777);
  });
});

describe('ACKs through the stack: RX frames in, ACK frames in the TX ring', () => {
  const SEQ0 = 0x7000_0000;

  it('two full segments in one poll: one skb to TCP, one ACK of both at the end of the poll', () => {
    const s = makeStack();
    expect(s.deliver(tcpFrame({ seq: SEQ0, tsVal: 10 }, MSS))).toBe(0);
    expect(s.deliver(tcpFrame({ seq: SEQ0 + MSS, tsVal: 11 }, MSS))).toBe(0);
    expect(s.net.pollDone(0)).toBe(COSTS.rxPerSkb + COSTS.txPerFrame);
    expect(s.counter('guest0.rx.skbs')).toBe(1);
    expect(pending(s.driver)).toEqual([[VF_REG.VFTDT, 1]]);
    const ack = txSegment(s.memory, 0);
    expect(ack.frameLength).toBe(66);
    expect([ack.srcIp, ack.dstIp, ack.srcPort, ack.dstPort, ack.dstMac]).toEqual([
      GUEST.ip,
      PEER.ip,
      STREAM.guestPort,
      STREAM.peerPort,
      PEER.mac,
    ]);
    expect(ack.ack).toBe(SEQ0 + 2 * MSS);
    expect(ack.seq).toBe(STREAM_ACK_SEQ);
    expect(ack.flags).toBe(TCP_FLAG.ACK);
    expect(ack.window).toBe(Math.floor((TCP.receiveBuffer - 2 * MSS) / 128));
    expect(ack.tsEcr).toBe(11);
    expect(ack.ipId).toBe(1);
    expect(s.tcp.rcvWup).toBe(SEQ0 + 2 * MSS);
  });

  it('one segment: no ACK when the poll ends; the delayed ACK goes out on the tick 40 ms later', () => {
    const s = makeStack();
    const t0 = ms(1);
    s.deliver(tcpFrame({ seq: SEQ0 }, MSS), t0);
    expect(s.net.pollDone(t0)).toBe(COSTS.rxPerSkb);
    expect(s.driver.pendingWrites).toBe(0);
    expect(s.net.timerTick(t0 + ms(39))).toBe(false);
    expect(s.net.timerTick(t0 + ms(40))).toBe(true);
    expect(txSegment(s.memory, 0).ack).toBe(SEQ0 + MSS);
  });

  it('a segment after a gap makes the poll ACK RCV.NXT at once; each ACK takes the next IP ID', () => {
    const s = makeStack();
    s.deliver(tcpFrame({ seq: SEQ0 }, MSS));
    s.deliver(tcpFrame({ seq: SEQ0 + 3 * MSS }, MSS)); // flushes the first skb, holds this one
    s.net.pollDone(0); // the held skb is out of order: ACK now
    s.deliver(tcpFrame({ seq: SEQ0 + MSS }, MSS));
    s.deliver(tcpFrame({ seq: SEQ0 + 2 * MSS }, MSS));
    s.net.pollDone(0);
    expect([txSegment(s.memory, 0).ack, txSegment(s.memory, 1).ack]).toEqual([SEQ0 + MSS, SEQ0 + 3 * MSS]);
    expect([txSegment(s.memory, 0).ipId, txSegment(s.memory, 1).ipId]).toEqual([1, 2]);
  });

  it('a full TX ring: the ACK is not sent, stays owed, and the refusal is counted', () => {
    const s = makeStack(TCP, { tx: 8 });
    for (let i = 0; i < 7; i++) {
      s.driver.txSlot();
      s.driver.xmit(60);
    }
    s.deliver(tcpFrame({ seq: SEQ0 }, MSS));
    s.deliver(tcpFrame({ seq: SEQ0 + MSS }, MSS));
    expect(s.net.pollDone(0)).toBe(COSTS.rxPerSkb);
    expect(s.tcp.ackNow).toBe(true);
    expect(s.counter('guest0.tx.ring-full')).toBe(1);
    expect(s.counter('guest0.tcp.acks')).toBe(0);
  });

  it('no ACK before any segment named the peer', () => {
    const s = makeStack();
    expect(s.net.queueAck()).toBe(false);
    expect(s.driver.pendingWrites).toBe(0);
  });
});
