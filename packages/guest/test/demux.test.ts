import {
  makeTcpSegmentFields,
  makeUdpDatagramFields,
  readTcpSegment,
  TCP_FLAG,
  type TcpSegmentFields,
  type UdpDatagramFields,
} from '@exitless/net';
import { ms, Stats } from '@exitless/sim';
import { SparseMemory } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  GUEST_LAYOUT,
  SOCKET_ROUTE,
  SocketTable,
  type SocketTransmit,
  TCP_STATE,
  TcpListener,
  type TcpServerOptions,
  UdpSocket,
} from '../src/index.js';
import { COSTS } from './driver-helpers.js';
import { GUEST, makeStack, PEER, STREAM, tcpFrame, udpFrame } from './stack-helpers.js';

const HTTP = 80;
const DNS = 53;
const BUFFER = 0x4000;

const SERVER: TcpServerOptions = {
  port: HTTP,
  maxConnections: 4,
  backlog: 4,
  mss: 1448,
  receiveBuffer: 65_536,
  sendBuffer: 65_536,
  windowScale: 7,
  initialWindowSegments: 10,
  initialRtoPs: ms(1000),
  minRtoPs: ms(200),
  maxRtoPs: ms(120_000),
  maxRetransmissions: 3,
  delayedAckPs: ms(40),
};

/** A transmit path that keeps what the listener sent. */
class Sent implements SocketTransmit {
  readonly now = 0;
  readonly tcp: TcpSegmentFields[] = [];
  transmitTcp(f: TcpSegmentFields): boolean {
    this.tcp.push({ ...f });
    return true;
  }
  transmitUdp(_f: UdpDatagramFields): boolean {
    return true;
  }
  charge(): void {}
}

function setup() {
  const stats = new Stats({ now: 0 });
  const memory = new SparseMemory(0x10000);
  const sent = new Sent();
  const table = new SocketTable(stats.counter('guest0.udp.no-port'));
  const listener = new TcpListener(
    SERVER,
    sent,
    GUEST,
    0,
    makeTcpSegmentFields(),
    stats.scope('guest0.tcp80'),
  );
  const udp = new UdpSocket(
    { port: DNS, queueLength: 4 },
    sent,
    GUEST,
    makeUdpDatagramFields(),
    stats.scope('guest0.udp53'),
  );
  table.addListener(listener);
  table.addUdpSocket(udp);
  /** A frame as the NIC wrote it into the buffer at BUFFER: classified, then delivered. */
  const route = (frame: Uint8Array) => {
    memory.writeBytes(BUFFER, frame, 0, frame.length);
    const r = table.classify(frame, frame.length);
    table.deliver(r, memory, BUFFER);
    return r;
  };
  return { stats, table, listener, udp, sent, route, counter: (n: string) => stats.counterValue(n) };
}

describe('socket demultiplexing (SocketTable)', () => {
  it('a UDP datagram for a bound port goes to that socket’s queue, with its source and length', () => {
    const s = setup();
    expect(s.route(udpFrame(DNS, 100, 5353))).toBe(SOCKET_ROUTE.UDP);
    expect(s.udp.queued).toBe(1);
    const d = makeUdpDatagramFields();
    expect(s.udp.recv(d)).toBe(true);
    expect([d.srcIp, d.srcPort, d.payloadLength]).toEqual([PEER.ip, 5353, 100]);
  });

  it('a UDP datagram for a port nobody bound is dropped and counted (ICMP port unreachable is not modeled)', () => {
    const s = setup();
    expect(s.route(udpFrame(DNS + 1, 100))).toBe(SOCKET_ROUTE.UDP_NO_PORT);
    expect(s.counter('guest0.udp.no-port')).toBe(1);
    expect(s.udp.queued).toBe(0);
  });

  it('a SYN for the listening port goes to the listener, which answers SYN|ACK', () => {
    const s = setup();
    const syn = tcpFrame({ dstPort: HTTP, seq: 1000, flags: TCP_FLAG.SYN });
    expect(s.route(syn)).toBe(SOCKET_ROUTE.TCP);
    expect(s.counter('guest0.tcp80.syn-received')).toBe(1);
    expect(s.sent.tcp).toHaveLength(1);
    expect(s.sent.tcp[0]!.flags).toBe(TCP_FLAG.SYN | TCP_FLAG.ACK);
    expect(s.sent.tcp[0]!.ack).toBe(1001);
  });

  it('a data segment for an established connection lands in its receive buffer: payload found past IP and TCP headers', () => {
    const s = setup();
    s.route(tcpFrame({ dstPort: HTTP, seq: 1000, flags: TCP_FLAG.SYN }));
    const synAck = s.sent.tcp[0]!;
    s.route(tcpFrame({ dstPort: HTTP, seq: 1001, ack: synAck.seq + 1 }));
    const conn = s.listener.accept()!;
    expect(conn.state).toBe(TCP_STATE.ESTABLISHED);
    const request = new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n');
    expect(s.route(tcpFrame({ dstPort: HTTP, seq: 1001, ack: synAck.seq + 1 }, request))).toBe(
      SOCKET_ROUTE.TCP,
    );
    const got = new Uint8Array(64);
    expect(conn.read(got, 0, 64)).toBe(request.length);
    expect(new TextDecoder().decode(got.subarray(0, request.length))).toBe('GET / HTTP/1.0\r\n\r\n');
  });

  it('the payload offset follows the data-offset field: a segment without the timestamps option', () => {
    const s = setup();
    s.route(tcpFrame({ dstPort: HTTP, seq: 1000, flags: TCP_FLAG.SYN }));
    s.route(tcpFrame({ dstPort: HTTP, seq: 1001, ack: s.sent.tcp[0]!.seq + 1 }));
    const conn = s.listener.accept()!;
    s.route(
      tcpFrame(
        { dstPort: HTTP, seq: 1001, ack: s.sent.tcp[0]!.seq + 1, timestamps: false },
        new Uint8Array([7, 8, 9]),
      ),
    );
    const got = new Uint8Array(3);
    expect(conn.read(got, 0, 3)).toBe(3);
    expect([...got]).toEqual([7, 8, 9]);
  });

  it('a TCP segment for a port nobody listens on, and a frame that is not IPv4, go to the stream receiver', () => {
    const s = setup();
    expect(s.route(tcpFrame({ dstPort: STREAM.guestPort, seq: 1 }, 100))).toBe(SOCKET_ROUTE.STREAM);
    const arp = tcpFrame({ dstPort: HTTP });
    arp[12] = 0x08;
    arp[13] = 0x06; // EtherType ARP
    expect(s.route(arp)).toBe(SOCKET_ROUTE.STREAM);
    expect(s.counter('guest0.tcp80.segments-in')).toBe(0);
  });

  it('UDP is looked at only while a UDP socket is bound: without one, a datagram goes to the stream receiver', () => {
    const stats = new Stats({ now: 0 });
    const table = new SocketTable(stats.counter('udp.no-port'));
    table.addListener(
      new TcpListener(SERVER, new Sent(), GUEST, 0, makeTcpSegmentFields(), stats.scope('tcp80')),
    );
    const frame = udpFrame(DNS, 10);
    expect(table.classify(frame, frame.length)).toBe(SOCKET_ROUTE.STREAM);
    expect(stats.counterValue('udp.no-port')).toBe(0);
  });
});

describe('the receive path with sockets in use (NetStack.receive)', () => {
  it('a segment for a listener is the socket layer’s (an skb’s cost, charged to the stack), not GRO’s', () => {
    const s = makeStack();
    s.net.listenTcp(SERVER, s.stats.scope('guest0.tcp80'));
    expect(s.deliver(tcpFrame({ dstPort: HTTP, seq: 5, flags: TCP_FLAG.SYN }))).toBe(0);
    expect(s.net.gro.held).toBe(false);
    // The SYN's rxPerSkb, the passive open's setup, the SYN-ACK's transmit.
    expect(s.net.takeStackCycles()).toBe(COSTS.rxPerSkb + COSTS.tcpConnectionSetup + COSTS.txPerFrame);
    const f = makeTcpSegmentFields();
    const synAck = new Uint8Array(66);
    s.memory.readBytes(s.memory.read32(GUEST_LAYOUT.TX_RING), synAck, 0, 66);
    expect(readTcpSegment(synAck, 66, f)).toBe(true);
    expect([f.flags, f.ack, f.srcPort, f.dstPort]).toEqual([
      TCP_FLAG.SYN | TCP_FLAG.ACK,
      6,
      HTTP,
      STREAM.peerPort,
    ]);
  });

  it('a segment for another port still reaches the stream receiver through GRO', () => {
    const s = makeStack();
    s.net.bindUdp({ port: DNS, queueLength: 4 }, s.stats.scope('guest0.udp53'));
    s.deliver(tcpFrame({ seq: 100 }, 1000));
    expect(s.net.gro.held).toBe(true);
    expect(s.net.gro.heldBytes).toBe(1000);
  });

  it('a UDP datagram costs the stack one datagram’s receive, bound or not', () => {
    const s = makeStack();
    const sock = s.net.bindUdp({ port: DNS, queueLength: 4 }, s.stats.scope('guest0.udp53'));
    s.deliver(udpFrame(DNS, 20));
    s.deliver(udpFrame(DNS + 1, 20));
    expect(sock.queued).toBe(1);
    expect(s.counter('guest0.udp.no-port')).toBe(1);
    expect(s.net.takeStackCycles()).toBe(2 * COSTS.udpRxPerDatagram);
  });
});
