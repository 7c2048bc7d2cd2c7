import { writeMac } from '@exitless/net';
import { Wire } from '@exitless/nic';
import { ns, Simulator, Stats } from '@exitless/sim';
import { describe, expect, it } from 'vitest';
import { PeerSwitch } from '../src/index.js';

describe('PeerSwitch', () => {
  it('hands each frame to the generator whose MAC it is addressed to, as ports connect, reconnect and leave', () => {
    const sim = new Simulator();
    const stats = new Stats(sim);
    const wire = new Wire(
      sim,
      { bitsPerSecond: 10e9, latencyPs: ns(100) },
      { maxFrameBytes: 1518, framesInFlight: 64 },
      stats.scope('wire'),
    );
    const sw = new PeerSwitch(wire.b, stats.scope('peers'));
    const got: string[] = [];
    const endpoint = (name: string) => ({
      receiveFrame: (d: Uint8Array, l: number) => got.push(`${name}:${d[12]}:${l}`),
    });
    const A = 0x02000000aa01;
    const B = 0x02000000bb01;
    const portA = sw.port(A);
    const portB = sw.port(B);
    portA.connect(endpoint('a'));
    portB.connect(endpoint('b'));
    const frame = new Uint8Array(100);
    let n = 0;
    const send = (mac: number): void => {
      writeMac(frame, 0, mac);
      frame[12] = n++;
      wire.a.transmit(frame, 0, 64);
      sim.runUntilEmpty();
    };
    send(A);
    send(A);
    send(B);
    send(A);
    portA.connect(endpoint('a2')); // a new endpoint for A: the next frames go to it
    send(A);
    portB.connect(null); // B leaves: its frames are counted, not delivered
    send(B);
    send(B);
    portB.connect(endpoint('b2'));
    send(B);
    send(0x02000000cc01);
    expect(got).toEqual(['a:0:64', 'a:1:64', 'b:2:64', 'a:3:64', 'a2:4:64', 'b2:7:64']);
    expect(stats.counterValue('peers.unknown-destination')).toBe(3);

    // Frames from a generator go straight to the wire.
    const seen: number[] = [];
    wire.a.connect({ receiveFrame: (_d, l) => seen.push(l) });
    expect(portA.transmit(frame, 0, 70)).toBe(true);
    expect(portB.transmit(frame, 0, 80, ns(50))).toBe(true);
    expect(portA.busyUntil).toBe(wire.b.busyUntil);
    expect(portB.backlogPs()).toBe(wire.b.backlogPs());
    sim.runUntilEmpty();
    expect(seen).toEqual([70, 80]);
  });
});
