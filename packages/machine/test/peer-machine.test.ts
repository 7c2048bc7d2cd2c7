import {
  ETH_FCS_LEN,
  makeUdpDatagramFields,
  readUdpDatagram,
  UDP_HEADERS_LEN,
  type UdpDatagramFields,
  writeUdpDatagram,
} from '@exitless/net';
import { type EthernetEndpoint, frameTimePs, Wire, type WirePort } from '@exitless/nic';
import { ms, ns, Simulator, Stats, us } from '@exitless/sim';
import { PeerHost, UdpRrClient } from '@exitless/workloads';
import { describe, expect, it } from 'vitest';
import { Machine, peerMachine, profileValue, runMachine, UDP_RR_PORT, XEON_X5570 } from '../src/index.js';

const p = (key: string) => profileValue(XEON_X5570, key);

/** The guest side as a script: each request answered `turnaroundPs` after it arrived. */
class ScriptedGuest implements EthernetEndpoint {
  private readonly rx: UdpDatagramFields = makeUdpDatagramFields();
  private readonly tx: UdpDatagramFields = makeUdpDatagramFields();
  private readonly buf = new Uint8Array(1600);
  constructor(
    private readonly sim: Simulator,
    private readonly port: WirePort,
    private readonly turnaroundPs: number,
    private readonly responseSize: number,
  ) {
    port.connect(this);
  }
  receiveFrame(data: Uint8Array, length: number): void {
    if (!readUdpDatagram(data, length - ETH_FCS_LEN, this.rx)) throw new Error('not UDP');
    const r = this.rx;
    const t = this.tx;
    t.srcMac = r.dstMac;
    t.dstMac = r.srcMac;
    t.srcIp = r.dstIp;
    t.dstIp = r.srcIp;
    t.srcPort = r.dstPort;
    t.dstPort = r.srcPort;
    t.payloadLength = this.responseSize;
    this.port.transmit(
      this.buf,
      0,
      writeUdpDatagram(this.buf, t) + ETH_FCS_LEN,
      this.sim.now + this.turnaroundPs,
    );
  }
}

function dmaPs(baseNs: number, perByteNs: number, bytes: number): number {
  return ns(baseNs) + (bytes <= 64 ? 0 : Math.round(ns(perByteNs) * (bytes - 64)));
}

describe("the load generator's machine, from the calibration profile", () => {
  it("makes netperf UDP_RR's round trip the sum of the profile's entries on both sides of the wire", () => {
    const REQUEST = 1;
    const RESPONSE = 1;
    const T = us(20);
    const sim = new Simulator();
    const stats = new Stats(sim);
    const wire = new Wire(
      sim,
      { bitsPerSecond: p('nic.lineRate'), latencyPs: ns(p('nic.linkLatencyNs')) },
      { maxFrameBytes: 1518, framesInFlight: 64 },
      stats.scope('wire'),
    );
    new ScriptedGuest(sim, wire.a, T, RESPONSE);
    const m = peerMachine(XEON_X5570);
    // The kernel tick (tested in @exitless/workloads) is left out so every period is alike.
    const host = new PeerHost({
      sim,
      port: wire.b,
      hz: m.hz,
      costs: m.costs,
      nic: m.nic,
      tickHz: 0,
      tickPhasePs: 0,
      eventLoop: false,
      stats: stats.scope('peer-host'),
    });
    const deliveries: number[] = [];
    const client = new UdpRrClient({
      sim,
      port: {
        get bitsPerSecond() {
          return host.port.bitsPerSecond;
        },
        get busyUntil() {
          return host.port.busyUntil;
        },
        backlogPs: () => host.port.backlogPs(),
        transmit: (d, o, l, nb) => host.port.transmit(d, o, l, nb),
        connect: (ep) =>
          host.port.connect(
            ep === null
              ? null
              : {
                  receiveFrame: (d, l) => {
                    deliveries.push(sim.now);
                    ep.receiveFrame(d, l);
                  },
                },
          ),
      },
      kernel: host,
      loopCycles: p('workload.udpRr.transactionCycles'),
      stats: stats.scope('udp-rr'),
      local: { mac: 0x020000000200, ip: 0x0a000002, port: 40001 },
      remote: { mac: 0x020000000100, ip: 0x0a000001, port: UDP_RR_PORT },
      requestSize: REQUEST,
      timeoutPs: ms(100),
    });
    client.start(us(5));
    sim.runUntil(ms(3));

    const mmio = p('cpu.mmioWriteCycles');
    const requestFrame = Math.max(64, UDP_HEADERS_LEN + REQUEST + ETH_FCS_LEN);
    const responseFrame = Math.max(64, UDP_HEADERS_LEN + RESPONSE + ETH_FCS_LEN);
    const cycles = {
      // netperf's sendto(), the stack's and ixgbe's transmit path, the tail write.
      peerSend:
        p('guest.sendSyscall') + REQUEST * p('guest.copyFromUserPerByte') + p('guest.txPerFrame') + mmio,
      // The RX interrupt: delivery, irq entry, EOI, ixgbe's handler masking its vector (two
      // EIMC writes), STI; NAPI; unmask (two EIMS writes), CLI, irq exit, IRET.
      peerInterrupt:
        p('cpu.eventDeliveryCycles') +
        p('guest.irqEntry') +
        p('cpu.wrmsrCycles') +
        p('guest.nicIrqHandler') +
        2 * mmio +
        p('cpu.cliStiCycles') +
        p('guest.napiPollBase') +
        2 * mmio +
        p('cpu.cliStiCycles') +
        p('guest.irqExit') +
        p('cpu.iretCycles'),
      // The frame in the driver, its buffer refilled, the datagram through IP and UDP, the RX tail write.
      peerStack: p('guest.rxPerFrame') + p('guest.rxRefillPerBuffer') + p('guest.udpRxPerDatagram') + mmio,
      // netperf woken from recvfrom(), which returns the response.
      peerApp:
        p('guest.wakeup') +
        p('guest.contextSwitch') +
        p('guest.recvSyscall') +
        RESPONSE * p('guest.copyPerByte'),
    };
    const ps = {
      peerNicTx:
        ns(p('pcie.postedWriteNs')) +
        ns(p('nic.dmaReadLatencyNs')) +
        dmaPs(p('nic.dmaReadLatencyNs'), p('nic.dmaReadPerByteNs'), requestFrame - ETH_FCS_LEN),
      wireOut: frameTimePs(requestFrame, p('nic.lineRate')) + ns(p('nic.linkLatencyNs')),
      guestSide: T,
      wireBack: frameTimePs(responseFrame, p('nic.lineRate')) + ns(p('nic.linkLatencyNs')),
      peerNicRx:
        dmaPs(p('nic.dmaWriteLatencyNs'), p('nic.dmaWritePerByteNs'), responseFrame - ETH_FCS_LEN) +
        ns(p('pcie.msiNs')),
    };
    const hz = p('cpu.hz');
    const cpuPs = (Object.values(cycles).reduce((a, b) => a + b, 0) * 1e12) / hz;
    const rtt = cpuPs + Object.values(ps).reduce((a, b) => a + b, 0);
    const period = rtt + (p('workload.udpRr.transactionCycles') * 1e12) / hz;
    // Once ixgbe's dynamic rate has risen past one interrupt per round trip (it starts at
    // 20,000 ints/s), every transaction takes the same time: the loop body and the round trip,
    // each piece rounded to the picosecond once.
    const periods = deliveries
      .slice(-40)
      .map((t, i, a) => (i === 0 ? 0 : t - a[i - 1]!))
      .slice(1);
    expect(periods.length).toBe(39);
    for (const d of periods) expect(Math.abs(d - period)).toBeLessThanOrEqual(8);
    expect(host.rxItr.rate).toBeGreaterThan(1e12 / rtt);
  });

  it('takes one RX and one TX interrupt per transaction in a bare-metal UDP_RR run, and its CPU is busy part of the time', () => {
    const machine = new Machine({ mode: 'bare-metal', workload: 'netperf-udp-rr', seed: 3 });
    const r = runMachine(machine, { durationMs: 5, warmupMs: 2 });
    const c = machine.stats.snapshot().counters;
    const transactions = c['udp-rr.transactions']!;
    expect(transactions).toBeGreaterThan(100);
    expect(Math.abs(c['peer-host.rx.interrupts']! - transactions)).toBeLessThanOrEqual(2);
    expect(Math.abs(c['peer-host.tx.interrupts']! - transactions)).toBeLessThanOrEqual(2);
    const busy = c['peer-host.cpu.busy-ps']! / ms(5);
    expect(busy).toBeGreaterThan(0.05);
    expect(busy).toBeLessThan(1);
    // The round trip holds at least the peer's own part of it and the wire both ways.
    const peerAndWire =
      (p('guest.sendSyscall') + p('guest.txPerFrame') + p('guest.napiPollBase') + p('guest.recvSyscall')) /
        p('cpu.hz') +
      2 * p('nic.linkLatencyNs') * 1e-9;
    expect(r.latency!.p50 * 1e-6).toBeGreaterThan(peerAndWire);
  });
});
