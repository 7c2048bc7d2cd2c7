import {
  ipv4,
  makeTcpSegmentFields,
  makeUdpDatagramFields,
  TCP_FLAG,
  type TcpSegmentFields,
  type UdpDatagramFields,
} from '@exitless/net';
import { ms, Simulator, Stats } from '@exitless/sim';
import { SparseMemory } from '@exitless/x86';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type SocketTransmit,
  TCP_STATE,
  TcpListener,
  type TcpServerOptions,
  UdpSocket,
} from '../src/index.js';

const GUEST = { mac: 0x020000000001, ip: ipv4(10, 0, 0, 1) };
const PEER = { mac: 0x020000000002, ip: ipv4(10, 0, 0, 2), port: 40000 };
const MSS = 1448;
const PAYLOAD_AT = 0x1000;

const OPTIONS: TcpServerOptions = {
  port: 80,
  maxConnections: 4,
  backlog: 4,
  mss: MSS,
  receiveBuffer: 65536,
  sendBuffer: 65536,
  windowScale: 7,
  initialWindowSegments: 10,
  initialRtoPs: ms(3000),
  minRtoPs: ms(200),
  maxRtoPs: ms(120_000),
  maxRetransmissions: 3,
  delayedAckPs: ms(40),
};

interface Sent {
  seq: number;
  ack: number;
  flags: number;
  window: number;
  length: number;
  payload: Uint8Array;
}

/** A transmit path that records every segment, with a TX ring that can be made full. */
class Recorder implements SocketTransmit {
  now = 0;
  cycles = 0;
  ringFull = false;
  readonly tcp: Sent[] = [];
  readonly udp: UdpDatagramFields[] = [];
  transmitTcp(f: TcpSegmentFields, ring: Uint8Array | null, start: number): boolean {
    if (this.ringFull) return false;
    const payload = new Uint8Array(f.payloadLength);
    if (ring !== null)
      for (let i = 0; i < f.payloadLength; i++) payload[i] = ring[(start + i) % ring.length]!;
    this.tcp.push({
      seq: f.seq,
      ack: f.ack,
      flags: f.flags,
      window: f.window,
      length: f.payloadLength,
      payload,
    });
    return true;
  }
  transmitUdp(f: UdpDatagramFields): boolean {
    if (this.ringFull) return false;
    this.udp.push({ ...f });
    return true;
  }
  charge(cycles: number): void {
    this.cycles += cycles;
  }
}

function setup(options: TcpServerOptions = OPTIONS) {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const tx = new Recorder();
  const memory = new SparseMemory(0x10000);
  const listener = new TcpListener(options, tx, GUEST, 5000, makeTcpSegmentFields(), stats.scope('tcp80'));
  const seg = makeTcpSegmentFields();
  const ISS_PEER = 0xfffffff0; // wraps 2^32 within the test
  const send = (seq: number, ack: number, flags: number, payload = '', window = 0xffff): void => {
    seg.srcMac = PEER.mac;
    seg.dstMac = GUEST.mac;
    seg.srcIp = PEER.ip;
    seg.dstIp = GUEST.ip;
    seg.srcPort = PEER.port;
    seg.dstPort = 80;
    seg.seq = seq >>> 0;
    seg.ack = ack >>> 0;
    seg.flags = flags;
    seg.window = window;
    seg.payloadLength = payload.length;
    seg.timestamps = true;
    seg.tsVal = 1;
    for (let i = 0; i < payload.length; i++) memory.write8(PAYLOAD_AT + i, payload.charCodeAt(i));
    listener.receive(seg, memory, PAYLOAD_AT);
  };
  const c = () => stats.snapshot().counters;
  return { listener, tx, send, c, ISS_PEER };
}

/** SYN, SYN-ACK, ACK: returns the guest's ISS. */
function handshake(h: ReturnType<typeof setup>): number {
  h.send(h.ISS_PEER, 0, TCP_FLAG.SYN, '', 0xffff);
  const synAck = h.tx.tcp[h.tx.tcp.length - 1]!;
  h.send(h.ISS_PEER + 1, synAck.seq + 1, TCP_FLAG.ACK, '', 0xffff);
  return synAck.seq;
}

describe('TCP passive open (RFC 9293 §3.5)', () => {
  it('answers a SYN with SYN|ACK acknowledging SEG.SEQ + 1, and the ACK of it establishes the connection', () => {
    const h = setup();
    h.send(h.ISS_PEER, 0, TCP_FLAG.SYN);
    expect(h.tx.tcp).toHaveLength(1);
    const synAck = h.tx.tcp[0]!;
    expect(synAck.flags).toBe(TCP_FLAG.SYN | TCP_FLAG.ACK);
    expect(synAck.ack).toBe((h.ISS_PEER + 1) >>> 0);
    expect(synAck.length).toBe(0);
    // A SYN-ACK's window is never scaled (RFC 7323 §2.2).
    expect(synAck.window).toBe(0xffff);
    expect(h.listener.accept()).toBeNull();
    expect(h.tx.cycles).toBeGreaterThanOrEqual(5000);
    h.send(h.ISS_PEER + 1, synAck.seq + 1, TCP_FLAG.ACK);
    const conn = h.listener.accept();
    expect(conn).not.toBeNull();
    expect(conn!.state).toBe(TCP_STATE.ESTABLISHED);
    expect(h.c()['tcp80.established']).toBe(1);
    // The third ACK is not answered.
    expect(h.tx.tcp).toHaveLength(1);
  });

  it('drops a SYN beyond the backlog, and an ACK for no connection, counting both', () => {
    const h = setup({ ...OPTIONS, backlog: 1 });
    h.send(1000, 0, TCP_FLAG.SYN);
    const seg2 = 2000;
    // A second SYN from another port while the first is in SYN-RECEIVED.
    const before = h.tx.tcp.length;
    const l = h.listener;
    const f = makeTcpSegmentFields();
    Object.assign(f, {
      srcIp: PEER.ip,
      srcPort: 40001,
      dstPort: 80,
      seq: seg2,
      flags: TCP_FLAG.SYN,
      window: 100,
    });
    l.receive(f, new SparseMemory(0x1000), 0);
    expect(h.tx.tcp.length).toBe(before);
    expect(h.c()['tcp80.syn-dropped']).toBe(1);
    Object.assign(f, { srcPort: 40002, flags: TCP_FLAG.ACK });
    l.receive(f, new SparseMemory(0x1000), 0);
    expect(h.c()['tcp80.no-connection']).toBe(1);
  });

  it('resends the SYN-ACK when the RTO expires before the handshake completes', () => {
    const h = setup();
    h.send(h.ISS_PEER, 0, TCP_FLAG.SYN);
    h.tx.now = ms(2999);
    h.listener.tick(h.tx.now);
    expect(h.tx.tcp).toHaveLength(1);
    h.tx.now = ms(3000);
    h.listener.tick(h.tx.now);
    expect(h.tx.tcp).toHaveLength(2);
    expect(h.tx.tcp[1]!.flags).toBe(TCP_FLAG.SYN | TCP_FLAG.ACK);
    expect(h.tx.tcp[1]!.seq).toBe(h.tx.tcp[0]!.seq);
    expect(h.c()['tcp80.retransmitted-segments']).toBe(1);
  });
});

describe('TCP data both ways', () => {
  it('queues in-order payload bytes for read(), and answers out-of-order data with an immediate ACK of RCV.NXT', () => {
    const h = setup();
    const iss = handshake(h);
    const conn = h.listener.accept()!;
    h.send(h.ISS_PEER + 1, iss + 1, TCP_FLAG.ACK | TCP_FLAG.PSH, 'GET / HTTP/1.0\r\n\r\n');
    expect(conn.readable).toBe(18);
    const buf = new Uint8Array(64);
    expect(conn.read(buf, 0, 64)).toBe(18);
    expect(String.fromCharCode(...buf.subarray(0, 18))).toBe('GET / HTTP/1.0\r\n\r\n');
    // A delayed ACK is pending (one small segment); a gap forces an ACK at once.
    const sentBefore = h.tx.tcp.length;
    h.send(h.ISS_PEER + 1 + 18 + 100, iss + 1, TCP_FLAG.ACK, 'late');
    expect(h.tx.tcp.length).toBe(sentBefore + 1);
    const ack = h.tx.tcp[h.tx.tcp.length - 1]!;
    expect(ack.flags).toBe(TCP_FLAG.ACK);
    expect(ack.ack).toBe((h.ISS_PEER + 1 + 18) >>> 0);
    expect(conn.readable).toBe(0);
  });

  it('sends at most min(cwnd, SND.WND) beyond SND.UNA, in MSS segments, and more as ACKs arrive', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1000, max: 60000 }),
        (windowField, size) => {
          const h = setup({ ...OPTIONS, windowScale: 0 });
          h.send(h.ISS_PEER, 0, TCP_FLAG.SYN, '', 0xffff);
          const synAck = h.tx.tcp[0]!;
          const wnd = windowField * 100;
          h.send(h.ISS_PEER + 1, synAck.seq + 1, TCP_FLAG.ACK, '', wnd);
          const conn = h.listener.accept()!;
          const data = new Uint8Array(size).map((_, i) => i & 0xff);
          expect(conn.write(data, 0, size)).toBe(size);
          const first = h.tx.tcp.slice(1);
          let inFlight = 0;
          for (const s of first) {
            expect(s.length).toBeLessThanOrEqual(MSS);
            inFlight += s.length;
          }
          expect(inFlight).toBe(Math.min(size, wnd, 10 * MSS));
          // Bytes are the application's, in order.
          let off = 0;
          for (const s of first) {
            expect(s.seq).toBe((synAck.seq + 1 + off) >>> 0);
            for (let i = 0; i < s.length; i++) expect(s.payload[i]).toBe((off + i) & 0xff);
            off += s.length;
          }
          // Acknowledge everything sent, the window stays: the rest follows within the same bounds.
          let acked = off;
          while (acked < size) {
            const n0 = h.tx.tcp.length;
            h.send(h.ISS_PEER + 1, synAck.seq + 1 + acked, TCP_FLAG.ACK, '', wnd);
            const more = h.tx.tcp.slice(n0);
            expect(more.length).toBeGreaterThan(0);
            const sum = more.reduce((a, s) => a + s.length, 0);
            expect(sum).toBeLessThanOrEqual(wnd);
            acked += sum;
          }
          expect(acked).toBe(size);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('retransmits from SND.UNA when the RTO expires, with cwnd down to one segment and the RTO doubled', () => {
    const h = setup();
    const iss = handshake(h);
    const conn = h.listener.accept()!;
    h.tx.now = ms(10);
    conn.write(new Uint8Array(5000), 0, 5000);
    const sent = h.tx.tcp.length;
    expect(sent).toBe(1 + 4); // SYN-ACK + ceil(5000 / 1448) segments
    // The RTO is the 200 ms floor once the handshake's ACK arrived.
    h.tx.now = ms(10) + ms(200);
    h.listener.tick(h.tx.now);
    const re = h.tx.tcp.slice(sent);
    expect(re).toHaveLength(1);
    expect(re[0]!.seq).toBe((iss + 1) >>> 0);
    expect(re[0]!.length).toBe(MSS);
    expect(h.c()['tcp80.timeouts']).toBe(1);
    h.tx.now += ms(399);
    h.listener.tick(h.tx.now);
    expect(h.tx.tcp.length).toBe(sent + 1);
    h.tx.now += ms(1);
    h.listener.tick(h.tx.now);
    expect(h.tx.tcp.length).toBe(sent + 2);
  });
});

describe('TCP close (RFC 9293 §3.6)', () => {
  it('server closes first: a FIN after the sent data, FIN-WAIT-2 on its ACK, the peer FIN acknowledged in TIME-WAIT', () => {
    const h = setup();
    const iss = handshake(h);
    const conn = h.listener.accept()!;
    conn.write(new Uint8Array(2000), 0, 2000);
    conn.close();
    const segs = h.tx.tcp.slice(1);
    // The data went out at write(); close() then sends a FIN of its own (tcp_send_fin).
    expect(segs.map((s) => s.length)).toEqual([1448, 552, 0]);
    expect(segs[2]!.flags).toBe(TCP_FLAG.FIN | TCP_FLAG.ACK);
    expect(segs[2]!.seq).toBe((iss + 1 + 2000) >>> 0);
    expect(conn.state).toBe(TCP_STATE.FIN_WAIT_1);
    // The peer acknowledges data and FIN (2000 + 1), then sends its own FIN.
    h.send(h.ISS_PEER + 1, iss + 1 + 2001, TCP_FLAG.ACK);
    expect(conn.state).toBe(TCP_STATE.FIN_WAIT_2);
    const n = h.tx.tcp.length;
    h.send(h.ISS_PEER + 1, iss + 1 + 2001, TCP_FLAG.ACK | TCP_FLAG.FIN);
    const last = h.tx.tcp[n]!;
    expect(last.flags).toBe(TCP_FLAG.ACK);
    expect(last.ack).toBe((h.ISS_PEER + 2) >>> 0);
    expect(conn.state).toBe(TCP_STATE.CLOSED);
    const c = h.c();
    expect(c['tcp80.fin-sent']).toBe(1);
    expect(c['tcp80.fin-received']).toBe(1);
    expect(c['tcp80.time-wait']).toBe(1);
    expect(h.listener.openConnections).toBe(0);
  });

  it('puts the FIN on the last data segment when that segment waited for the window', () => {
    const h = setup({ ...OPTIONS, windowScale: 0 });
    h.send(h.ISS_PEER, 0, TCP_FLAG.SYN, '', 1000);
    const iss = h.tx.tcp[0]!.seq;
    h.send(h.ISS_PEER + 1, iss + 1, TCP_FLAG.ACK, '', 1000);
    const conn = h.listener.accept()!;
    conn.write(new Uint8Array(1500), 0, 1500);
    conn.close();
    expect(h.tx.tcp.slice(1).map((s) => s.length)).toEqual([1000]);
    h.send(h.ISS_PEER + 1, iss + 1 + 1000, TCP_FLAG.ACK, '', 1000);
    const last = h.tx.tcp[h.tx.tcp.length - 1]!;
    expect(last.length).toBe(500);
    expect(last.flags).toBe(TCP_FLAG.ACK | TCP_FLAG.PSH | TCP_FLAG.FIN);
  });

  it('peer closes first: CLOSE-WAIT, EOF for the application, its close() sends FIN, LAST-ACK ends on the ACK', () => {
    const h = setup();
    const iss = handshake(h);
    const conn = h.listener.accept()!;
    h.send(h.ISS_PEER + 1, iss + 1, TCP_FLAG.ACK | TCP_FLAG.FIN, 'bye');
    expect(conn.state).toBe(TCP_STATE.CLOSE_WAIT);
    // The FIN is acknowledged at once.
    expect(h.tx.tcp[h.tx.tcp.length - 1]!.ack).toBe((h.ISS_PEER + 1 + 3 + 1) >>> 0);
    expect(h.listener.nextReady()).toBe(conn);
    expect(conn.read(new Uint8Array(8), 0, 8)).toBe(3);
    expect(conn.eof).toBe(true);
    conn.close();
    expect(conn.state).toBe(TCP_STATE.LAST_ACK);
    const fin = h.tx.tcp[h.tx.tcp.length - 1]!;
    expect(fin.flags).toBe(TCP_FLAG.FIN | TCP_FLAG.ACK);
    h.send(h.ISS_PEER + 5, iss + 2, TCP_FLAG.ACK);
    expect(conn.state).toBe(TCP_STATE.CLOSED);
    expect(h.c()['tcp80.closed']).toBe(1);
  });

  it('holds segments back while the TX ring is full and sends them when retried', () => {
    const h = setup();
    handshake(h);
    const conn = h.listener.accept()!;
    h.tx.ringFull = true;
    conn.write(new Uint8Array(100), 0, 100);
    expect(h.c()['tcp80.tx-ring-full']).toBe(1);
    h.tx.ringFull = false;
    const n = h.tx.tcp.length;
    h.listener.retryBlocked();
    expect(h.tx.tcp.length).toBe(n + 1);
    expect(h.tx.tcp[n]!.length).toBe(100);
  });
});

describe('UDP socket (RFC 768)', () => {
  it('queues datagrams up to its length, drops and counts the rest, and sendto() answers the source', () => {
    const sim = new Simulator();
    const stats = new Stats(sim);
    const tx = new Recorder();
    const u = new UdpSocket(
      { port: 7, queueLength: 2 },
      tx,
      GUEST,
      makeUdpDatagramFields(),
      stats.scope('udp7'),
    );
    const d = makeUdpDatagramFields();
    Object.assign(d, { srcMac: PEER.mac, srcIp: PEER.ip, srcPort: 5555, dstPort: 7, payloadLength: 1 });
    u.deliver(d);
    u.deliver(d);
    u.deliver(d);
    expect(u.queued).toBe(2);
    expect(stats.counterValue('udp7.dropped-queue-full')).toBe(1);
    const got = makeUdpDatagramFields();
    expect(u.recv(got)).toBe(true);
    expect(got.srcPort).toBe(5555);
    expect(got.payloadLength).toBe(1);
    expect(u.sendTo(got.srcMac, got.srcIp, got.srcPort, 1)).toBe(true);
    const out = tx.udp[0]!;
    expect(out.srcPort).toBe(7);
    expect(out.dstPort).toBe(5555);
    expect(out.dstIp).toBe(PEER.ip);
    expect(out.srcIp).toBe(GUEST.ip);
  });
});
