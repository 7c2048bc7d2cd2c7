import {
  type GuestCosts,
  type SocketTransmit,
  TcpListener,
  type TcpServerOptions,
  UdpSocket,
  type UdpSocketOptions,
} from '@exitless/guest';
import {
  ETH_FCS_LEN,
  ETH_HEADER_LEN,
  ipv4,
  makeTcpSegmentFields,
  makeUdpDatagramFields,
  OFFSET,
  readTcpSegment,
  readUdpDatagram,
  type TcpSegmentFields,
  tcpHeadersLength,
  type UdpDatagramFields,
  writeTcpSegment,
  writeUdpDatagram,
} from '@exitless/net';
import { Wire } from '@exitless/nic';
import { ms, ns, RandomStreams, type ScopedStats, Simulator, Stats, us } from '@exitless/sim';
import { SparseMemory } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  ApacheBench,
  ApacheServer,
  MemcachedServer,
  Memslap,
  UdpRrClient,
  UdpRrServer,
} from '../src/index.js';

const GUEST = { mac: 0x020000000001, ip: ipv4(10, 0, 0, 1) };
const PEER = { mac: 0x020000000002, ip: ipv4(10, 0, 0, 2) };
const COSTS = {
  recvSyscall: 1,
  copyPerByte: 0,
  sendSyscall: 1,
  copyFromUserPerByte: 0,
  acceptSyscall: 1,
  closeSyscall: 1,
  eventWait: 1,
} as const satisfies Partial<GuestCosts>;

function serverTcp(port: number): TcpServerOptions {
  return {
    port,
    maxConnections: 64,
    backlog: 64,
    mss: 1448,
    receiveBuffer: 87380,
    sendBuffer: 16384,
    windowScale: 7,
    initialWindowSegments: 10,
    initialRtoPs: ms(3000),
    minRtoPs: ms(200),
    maxRtoPs: ms(120_000),
    maxRetransmissions: 15,
    delayedAckPs: ms(40),
  };
}

/**
 * A guest without a CPU: the socket layer of @exitless/guest on end `a` of a real wire,
 * frames in and out as bytes, and the application run after every frame (as if the CPU
 * took no time). What the tests check is the protocol between the two ends.
 */
class BareStack implements SocketTransmit {
  now = 0;
  readonly listeners: TcpListener[] = [];
  readonly udp: UdpSocket[] = [];
  readonly memory = new SparseMemory(0x10000);
  private readonly frame = new Uint8Array(1600);
  private readonly seg: TcpSegmentFields = makeTcpSegmentFields();
  private readonly dgram: UdpDatagramFields = makeUdpDatagramFields();
  app: { nextBurst(now: number): number; runnable(): boolean } | null = null;
  readonly costs = COSTS;
  constructor(
    private readonly sim: Simulator,
    private readonly wire: Wire,
    private readonly stats: ScopedStats,
  ) {
    wire.a.connect({ receiveFrame: (d, l) => this.receive(d, l) });
  }
  listenTcp(options: TcpServerOptions): TcpListener {
    const l = new TcpListener(
      options,
      this,
      GUEST,
      0,
      makeTcpSegmentFields(),
      this.stats.scope(`tcp${options.port}`),
    );
    this.listeners.push(l);
    return l;
  }
  bindUdp(options: UdpSocketOptions): UdpSocket {
    const u = new UdpSocket(
      options,
      this,
      GUEST,
      makeUdpDatagramFields(),
      this.stats.scope(`udp${options.port}`),
    );
    this.udp.push(u);
    return u;
  }
  transmitTcp(f: TcpSegmentFields, ring: Uint8Array | null, start: number): boolean {
    const len = writeTcpSegment(this.frame, f);
    const hdr = tcpHeadersLength(true);
    for (let i = 0; i < f.payloadLength && ring !== null; i++)
      this.frame[hdr + i] = ring[(start + i) % ring.length]!;
    return this.wire.a.transmit(this.frame, 0, len + ETH_FCS_LEN);
  }
  transmitUdp(f: UdpDatagramFields): boolean {
    return this.wire.a.transmit(this.frame, 0, writeUdpDatagram(this.frame, f) + ETH_FCS_LEN);
  }
  charge(_cycles: number): void {}
  private receive(data: Uint8Array, length: number): void {
    this.now = this.sim.now;
    if (readUdpDatagram(data, length - ETH_FCS_LEN, this.dgram)) {
      for (const u of this.udp) if (u.port === this.dgram.dstPort) u.deliver(this.dgram);
    } else if (readTcpSegment(data, length - ETH_FCS_LEN, this.seg)) {
      const ihl = (data[OFFSET.IP]! & 0xf) * 4;
      const hdr = ETH_HEADER_LEN + ihl + (data[OFFSET.IP + ihl + 12]! >>> 4) * 4;
      this.memory.writeBytes(0, data, hdr, Math.max(0, this.seg.payloadLength));
      for (const l of this.listeners) if (l.port === this.seg.dstPort) l.receive(this.seg, this.memory, 0);
    }
    while (this.app?.runnable()) this.app.nextBurst(this.sim.now);
  }
}

function bench() {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const wire = new Wire(
    sim,
    { bitsPerSecond: 10e9, latencyPs: ns(500) },
    { maxFrameBytes: 1518, framesInFlight: 1024 },
    stats.scope('wire'),
  );
  const guest = new BareStack(sim, wire, stats.scope('guest'));
  const random = new RandomStreams(5);
  const tcp = { mss: 1448, windowScale: 7, rtoPs: ms(200), delayedAckPs: ms(40), timerIntervalPs: ms(1) };
  return { sim, stats, wire, guest, random, tcp, c: () => stats.snapshot().counters };
}

describe('netperf UDP_RR client and server', () => {
  it('one transaction at a time, each a request datagram and a response datagram', () => {
    const b = bench();
    const server = new UdpRrServer({
      port: 12867,
      responseSize: 1,
      queueLength: 8,
      transactionCycles: 0,
      stats: b.stats.scope('srv'),
    });
    server.attach(b.guest);
    b.guest.app = server;
    const client = new UdpRrClient({
      sim: b.sim,
      port: b.wire.b,
      stats: b.stats.scope('rr'),
      local: { ...PEER, port: 40001 },
      remote: { ...GUEST, port: 12867 },
      requestSize: 1,
      timeoutPs: ms(10),
    });
    client.start(0);
    b.sim.runUntil(us(100));
    const c = b.c();
    expect(client.maxInFlight).toBe(1);
    // Round trip: two minimum frames (67.2 ns each on 10 GbE) + 2 × 500 ns of wire latency.
    const rtt = 2 * (67.2 + 500);
    expect(c['rr.transactions']).toBe(Math.floor(100_000 / rtt));
    // The histogram keeps 3 significant digits.
    expect(Math.abs(b.stats.histogram('rr.latency').percentile(50) / (rtt * 1000) - 1)).toBeLessThan(0.002);
  });
});

describe('memslap against memcached', () => {
  it('opens its connections once, keeps one request in flight on each, and the mix is 9:1', () => {
    const b = bench();
    const server = new MemcachedServer({
      tcp: serverTcp(11211),
      getCycles: 0,
      setCycles: 0,
      preloadKeys: 100,
      keySize: 64,
      valueSize: 1024,
      maxRequestBytes: 2048,
      stats: b.stats.scope('mc'),
    });
    server.attach(b.guest);
    b.guest.app = server;
    const slap = new Memslap({
      sim: b.sim,
      port: b.wire.b,
      stats: b.stats.scope('slap'),
      local: PEER,
      remote: { ...GUEST, port: 11211 },
      concurrency: 8,
      setRatio: 0.1,
      keys: 100,
      keySize: 64,
      valueSize: 1024,
      random: b.random.stream('ops'),
      tcp: b.tcp,
      isnRandom: b.random.stream('isn'),
    });
    slap.start(0);
    b.sim.runUntil(ms(5));
    const c = b.c();
    const n = c['slap.operations']!;
    expect(n).toBeGreaterThan(2000);
    expect(Math.abs(c['slap.sets']! - 0.1 * n)).toBeLessThan(5 * Math.sqrt(n * 0.09));
    expect(c['slap.bad-responses'] ?? 0).toBe(0);
    expect(c['mc.get-hits']).toBe(c['mc.gets']);
    expect(c['slap.tcp.syn-sent']).toBe(8);
    expect(c['guest.tcp11211.established']).toBe(8);
    // Requests outstanding never exceed one per connection: server commands − client completions ≤ 8.
    expect(c['mc.gets']! + c['mc.sets']! - n).toBeLessThanOrEqual(8);
    expect(c['slap.tcp.retransmitted-segments'] ?? 0).toBe(0);
  });
});

describe('ab against Apache', () => {
  it('every request is a connection: handshake, GET, response, FIN from the server, FIN from ab', () => {
    const b = bench();
    const fileSize = 10240;
    const server = new ApacheServer({
      tcp: serverTcp(80),
      fileSize,
      requestCycles: 0,
      maxRequestBytes: 4096,
      stats: b.stats.scope('httpd'),
    });
    server.attach(b.guest);
    b.guest.app = server;
    const ab = new ApacheBench({
      sim: b.sim,
      port: b.wire.b,
      stats: b.stats.scope('ab'),
      local: PEER,
      remote: { ...GUEST, port: 80 },
      concurrency: 4,
      fileSize,
      path: '/index.html',
      tcp: b.tcp,
      isnRandom: b.random.stream('isn'),
    });
    ab.start(0);
    b.sim.runUntil(ms(2));
    // Let the requests in progress finish, with no new ones after the last.
    const c = b.c();
    const requests = c['ab.requests']!;
    expect(requests).toBeGreaterThan(50);
    expect(c['ab.failed'] ?? 0).toBe(0);
    expect(c['httpd.requests']! - requests).toBeLessThanOrEqual(4);
    const syn = c['ab.tcp.syn-sent']!;
    expect(c['guest.tcp80.syn-received']).toBe(syn);
    expect(syn - c['ab.tcp.syn-ack-received']!).toBeLessThanOrEqual(4);
    expect(c['ab.tcp.fin-received']).toBe(requests);
    expect(c['ab.tcp.fin-sent']).toBe(requests);
    expect(requests - c['guest.tcp80.fin-received']!).toBeLessThanOrEqual(4);
    expect(c['guest.tcp80.fin-received']! - c['ab.tcp.closed']!).toBeLessThanOrEqual(4);
    expect(c['guest.tcp80.time-wait']).toBe(c['guest.tcp80.fin-received']);
    expect(c['guest.tcp80.retransmitted-segments'] ?? 0).toBe(0);
  });
});
