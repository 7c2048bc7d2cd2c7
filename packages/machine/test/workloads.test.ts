import { makeTcpSegmentFields, readTcpSegment, TCP_FLAG } from '@exitless/net';
import { ms } from '@exitless/sim';
import type { ApacheBench, UdpRrClient } from '@exitless/workloads';
import { describe, expect, it } from 'vitest';
import { Machine, runMachine, WORKLOADS } from '../src/index.js';

const SHORT = { durationMs: 6, warmupMs: 2 };

describe('every workload', () => {
  it('is registered', () => {
    expect(WORKLOADS).toEqual(['netperf-tcp-stream', 'netperf-udp-rr', 'apache', 'memcached']);
  });

  const units: Record<string, string> = {
    'netperf-tcp-stream': 'Mb/s',
    'netperf-udp-rr': 'transactions/s',
    apache: 'requests/s',
    memcached: 'operations/s',
  };
  for (const workload of WORKLOADS) {
    for (const mode of ['bare-metal', 'baseline']) {
      it(`${workload} on ${mode}: positive throughput in its unit, latency where measured, identical JSON for the same seed`, () => {
        const a = runMachine(new Machine({ mode, workload, seed: 11 }), SHORT);
        const b = runMachine(new Machine({ mode, workload, seed: 11 }), SHORT);
        expect(JSON.stringify(a)).toBe(JSON.stringify(b));
        expect(a.workload).toBe(workload);
        expect(a.throughput.unit).toBe(units[workload]);
        expect(a.throughput.value).toBeGreaterThan(0);
        expect(a.stopped).toBeNull();
        if (workload === 'netperf-tcp-stream') expect(a.latency).toBeNull();
        else {
          expect(a.latency).not.toBeNull();
          const l = a.latency!;
          expect(l.unit).toBe('us');
          expect(l.p50).toBeGreaterThan(0);
          expect(l.p50).toBeLessThanOrEqual(l.p99);
          expect(l.p99).toBeLessThanOrEqual(l.p999);
        }
        if (mode === 'bare-metal') expect(a.exitsPerSecond.total).toBe(0);
        else expect(a.exitsPerAssignedInterrupt).toBeGreaterThanOrEqual(2);
      });
    }
  }

  it('memcached and apache depend on the seed only through named random streams', () => {
    const a = runMachine(new Machine({ mode: 'bare-metal', workload: 'memcached', seed: 1 }), SHORT);
    const b = runMachine(new Machine({ mode: 'bare-metal', workload: 'memcached', seed: 2 }), SHORT);
    // Different seeds draw different keys and operations: the runs differ.
    expect(JSON.stringify({ ...a, seed: 0 })).not.toBe(JSON.stringify({ ...b, seed: 0 }));
  });
});

describe('netperf UDP_RR', () => {
  it('never has more than one transaction in flight, and every request is answered', () => {
    const m = new Machine({ mode: 'baseline', workload: 'netperf-udp-rr' });
    m.start();
    m.sim.runUntil(ms(8));
    const client = m.peer as UdpRrClient;
    expect(client.maxInFlight).toBe(1);
    const c = m.stats.snapshot().counters;
    const transactions = c['udp-rr.transactions']!;
    expect(transactions).toBeGreaterThan(100);
    // One request per transaction (the last may still be in flight); no timeouts, no late answers.
    expect(c['udp-rr.requests']! - transactions).toBeLessThanOrEqual(1);
    expect(c['udp-rr.timeouts'] ?? 0).toBe(0);
    expect(c['udp-rr.late-responses'] ?? 0).toBe(0);
    // The guest's socket never held more than the one request.
    expect(m.stats.snapshot().gauges['guest0.udp12867.queued']!.max).toBe(1);
    // Each transaction is one frame each way through the VF.
    expect(c['guest0.netserver.transactions']).toBe(c['guest0.udp12867.datagrams-out']);
    expect(c['nic.vf0.tx.frames']! - c['guest0.udp12867.datagrams-out']!).toBeLessThanOrEqual(1);
  });

  it('sizes requests and responses as configured', () => {
    const m = new Machine({
      mode: 'bare-metal',
      workload: 'netperf-udp-rr',
      workloadOptions: { udpRr: { requestSize: 200, responseSize: 1000 } },
    });
    const r = runMachine(m, SHORT);
    const c = m.stats.snapshot().counters;
    // 14 Ethernet + 20 IPv4 + 8 UDP header bytes around each payload.
    expect(c['nic.vf0.tx.bytes']! / c['nic.vf0.tx.frames']!).toBe(1042);
    expect(c['nic.vf0.rx.bytes']! / c['nic.vf0.rx.frames']!).toBe(242);
    expect(r.throughput.value).toBeGreaterThan(0);
  });
});

describe('Apache + ApacheBench', () => {
  it('opens every connection with SYN, SYN-ACK, ACK and closes it with a FIN each way', () => {
    const m = new Machine({ mode: 'baseline', workload: 'apache' });
    // Watch every frame the guest puts on the wire.
    const seg = makeTcpSegmentFields();
    const guestFlags = { synAck: 0, fin: 0 };
    const wire = m.wire.b;
    const inner = (m.peer as ApacheBench).client;
    wire.connect({
      receiveFrame(data: Uint8Array, length: number) {
        if (readTcpSegment(data, length - 4, seg)) {
          if ((seg.flags & (TCP_FLAG.SYN | TCP_FLAG.ACK)) === (TCP_FLAG.SYN | TCP_FLAG.ACK))
            guestFlags.synAck++;
          if ((seg.flags & TCP_FLAG.FIN) !== 0) guestFlags.fin++;
        }
        inner.receiveFrame(data, length);
      },
    });
    m.start();
    m.sim.runUntil(ms(10));
    const c = m.stats.snapshot().counters;
    const concurrency = 16;
    const syns = c['ab.tcp.syn-sent']!;
    expect(c['ab.requests']!).toBeGreaterThan(50);
    expect(c['ab.failed'] ?? 0).toBe(0);
    // Handshake: the guest answered every SYN with a SYN-ACK and every handshake completed,
    // except those still in progress (at most one per ab slot).
    expect(c['guest0.tcp80.syn-received']).toBe(syns);
    // (a frame may still be on the wire when the run stops)
    expect(c['guest0.tcp80.syn-ack-sent']! - guestFlags.synAck).toBeGreaterThanOrEqual(0);
    expect(c['guest0.tcp80.syn-ack-sent']! - guestFlags.synAck).toBeLessThanOrEqual(concurrency);
    expect(syns - c['ab.tcp.syn-ack-received']!).toBeLessThanOrEqual(concurrency);
    expect(syns - c['guest0.tcp80.established']!).toBeLessThanOrEqual(concurrency);
    // Teardown: Apache's FIN follows each response, ab's FIN answers it, and the guest
    // acknowledges ab's FIN, which closes the client's side.
    expect(c['guest0.tcp80.fin-sent']! - guestFlags.fin).toBeGreaterThanOrEqual(0);
    expect(c['guest0.tcp80.fin-sent']! - guestFlags.fin).toBeLessThanOrEqual(concurrency);
    expect(guestFlags.fin).toBeGreaterThanOrEqual(c['ab.tcp.fin-received']!);
    expect(c['ab.tcp.fin-received']).toBe(c['ab.requests']);
    expect(c['ab.tcp.fin-sent']).toBe(c['ab.tcp.fin-received']);
    expect(c['ab.tcp.fin-sent']! - c['guest0.tcp80.fin-received']!).toBeLessThanOrEqual(concurrency);
    expect(c['guest0.tcp80.fin-received']! - c['ab.tcp.closed']!).toBeLessThanOrEqual(concurrency);
    expect(c['guest0.tcp80.time-wait']).toBe(c['guest0.tcp80.fin-received']);
    // Nothing was aborted, nothing arrived for an unknown connection.
    expect(c['guest0.tcp80.aborted'] ?? 0).toBe(0);
    expect(c['guest0.tcp80.no-connection'] ?? 0).toBe(0);
    // Connections completed = connections opened, minus those in flight.
    expect(syns - c['ab.tcp.closed']!).toBeLessThanOrEqual(2 * concurrency);
  });

  it("sends a file larger than the initial window as the peer's ACKs open it", () => {
    const fileSize = 20000;
    const m = new Machine({
      mode: 'bare-metal',
      workload: 'apache',
      workloadOptions: { apache: { fileSize, concurrency: 4 } },
    });
    // Counted from the start (no warm-up): a measured window would open in the middle of some
    // responses and count their ends but not their beginnings.
    runMachine(m, { durationMs: SHORT.durationMs + SHORT.warmupMs, warmupMs: 0 });
    const c = m.stats.snapshot().counters;
    const responses = c['ab.requests']!;
    expect(responses).toBeGreaterThan(10);
    expect(c['ab.failed'] ?? 0).toBe(0);
    // Each response of header + 20000 bytes needs ceil(bytes / 1448) data segments.
    const bytes = c['ab.tcp.bytes-in']! / responses;
    expect(bytes).toBeGreaterThan(fileSize);
    expect(c['guest0.tcp80.retransmitted-segments'] ?? 0).toBe(0);
  });
});

describe('memcached + memslap', () => {
  it('keeps the get/set mix at 9:1 within tolerance, on persistent connections', () => {
    const m = new Machine({ mode: 'bare-metal', workload: 'memcached' });
    m.start();
    m.sim.runUntil(ms(20));
    const c = m.stats.snapshot().counters;
    const gets = c['memslap.gets']!;
    const sets = c['memslap.sets']!;
    expect(gets + sets).toBe(c['memslap.operations']);
    expect(gets + sets).toBeGreaterThan(1500);
    // Binomial with p = 0.1: 5 standard deviations.
    const n = gets + sets;
    expect(Math.abs(sets - 0.1 * n)).toBeLessThan(5 * Math.sqrt(n * 0.1 * 0.9));
    // The server parsed the same commands from the bytes on the wire, and every get hit.
    expect(c['guest0.memcached.sets']! - sets).toBeGreaterThanOrEqual(0);
    expect(c['guest0.memcached.sets']! - sets).toBeLessThanOrEqual(16);
    expect(c['guest0.memcached.get-hits']).toBe(c['guest0.memcached.gets']);
    expect(c['guest0.memcached.errors'] ?? 0).toBe(0);
    expect(c['memslap.bad-responses'] ?? 0).toBe(0);
    // 16 connections, opened once with a handshake each, never closed.
    expect(c['memslap.tcp.syn-sent']).toBe(16);
    expect(c['guest0.tcp11211.established']).toBe(16);
    expect(c['memslap.tcp.fin-sent'] ?? 0).toBe(0);
  });

  it('honours key and value sizes and the set ratio', () => {
    const m = new Machine({
      mode: 'bare-metal',
      workload: 'memcached',
      workloadOptions: { memcached: { setRatio: 1, keySize: 16, valueSize: 100, concurrency: 4 } },
    });
    // Counted from the start (no warm-up), as for Apache above: a measured window would count
    // the sets of requests whose bytes arrived before it opened.
    runMachine(m, { durationMs: SHORT.durationMs + SHORT.warmupMs, warmupMs: 0 });
    const c = m.stats.snapshot().counters;
    expect(c['memslap.gets'] ?? 0).toBe(0);
    expect(c['memslap.sets']).toBeGreaterThan(0);
    // "set " + 16-byte key + " 0 0 100\r\n" + 100 bytes + "\r\n" = 132 bytes per request.
    expect(c['guest0.tcp11211.bytes-in']! / c['guest0.memcached.sets']!).toBeCloseTo(132, 0);
  });
});
