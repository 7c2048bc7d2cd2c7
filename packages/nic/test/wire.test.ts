import { Simulator, Stats } from '@exitless/sim';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type EthernetEndpoint, frameTimePs, Wire } from '../src/index.js';
import { LINE_RATE, LINK_LATENCY_PS, RecordingEndpoint } from './helpers.js';

function frame(length: number, seed: number): Uint8Array {
  return new Uint8Array(length).map((_, i) => (i * 7 + seed) & 0xff);
}

function makeWire(framesInFlight: number): { sim: Simulator; stats: Stats; wire: Wire } {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const wire = new Wire(
    sim,
    { bitsPerSecond: LINE_RATE, latencyPs: LINK_LATENCY_PS },
    { maxFrameBytes: 1518, framesInFlight },
    stats.scope('wire'),
  );
  return { sim, stats, wire };
}

describe('Wire frame pool', () => {
  it('holds framesInFlight frames; one more is dropped and counted in tx.dropped-queue-full', () => {
    const { sim, stats, wire } = makeWire(4);
    const peer = new RecordingEndpoint(sim);
    wire.b.connect(peer);
    const sent = [0, 1, 2, 3, 4].map((k) => frame(64 + k * 100, k));
    const accepted = sent.map((f) => wire.a.transmit(f, 0, f.length));
    expect(accepted).toEqual([true, true, true, true, false]);
    expect(stats.counterValue('wire.a-to-b.tx.dropped-queue-full')).toBe(1);
    sim.runUntilEmpty();
    expect(peer.frames).toEqual(sent.slice(0, 4));
    // The first frame's last bit arrives one frame time plus the latency after the start.
    expect(peer.times[0]).toBe(frameTimePs(64, LINE_RATE) + LINK_LATENCY_PS);
    // Buffers are free again once delivered.
    expect(wire.a.transmit(sent[4]!, 0, sent[4]!.length)).toBe(true);
    sim.runUntilEmpty();
    expect(peer.frames[4]).toEqual(sent[4]);
  });

  it('delivers every accepted frame intact and in order, whatever the timing', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            length: fc.integer({ min: 1, max: 1518 }),
            gapPs: fc.integer({ min: 0, max: 3_000_000 }),
            offset: fc.integer({ min: 0, max: 16 }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        (plan) => {
          const { sim, stats, wire } = makeWire(8);
          const peer = new RecordingEndpoint(sim);
          wire.b.connect(peer);
          const accepted: Uint8Array[] = [];
          let t = 0;
          plan.forEach((p, k) => {
            t += p.gapPs;
            sim.runUntil(t);
            const buf = new Uint8Array(p.offset + p.length);
            buf.set(frame(p.length, k), p.offset);
            if (wire.a.transmit(buf, p.offset, p.length)) accepted.push(buf.slice(p.offset));
            // The sender reuses its buffer at once: the wire must have copied the frame.
            buf.fill(0xaa);
          });
          sim.runUntilEmpty();
          expect(peer.frames).toEqual(accepted);
          expect(accepted.length + stats.counterValue('wire.a-to-b.tx.dropped-queue-full')).toBe(plan.length);
        },
      ),
    );
  });

  it('never overwrites the frame being delivered with one sent from inside the delivery', () => {
    const { sim, stats, wire } = makeWire(2);
    const seen: Uint8Array[] = [];
    // An endpoint at b that sends a frame back towards b (through a) while it reads one.
    const echo: EthernetEndpoint = {
      receiveFrame(data, length) {
        const before = data.slice(0, length);
        wire.a.transmit(frame(length, 99), 0, length);
        seen.push(before);
        expect(data.subarray(0, length)).toEqual(before);
      },
    };
    wire.b.connect(echo);
    const f0 = frame(100, 1);
    const f1 = frame(200, 2);
    wire.a.transmit(f0, 0, f0.length);
    wire.a.transmit(f1, 0, f1.length);
    sim.runUntil(frameTimePs(100, LINE_RATE) + LINK_LATENCY_PS);
    expect(seen).toEqual([f0]);
    // While f0 was being delivered f1 and f0 held both buffers: the echo was dropped.
    expect(stats.counterValue('wire.a-to-b.tx.dropped-queue-full')).toBe(1);
  });
});

describe('Wire delivery of a burst', () => {
  /** An endpoint that records when each frame reached it. */
  function timedEndpoint(sim: Simulator, log: string[]): EthernetEndpoint {
    return {
      receiveFrame(data) {
        log.push(`frame ${data[0]} at ${sim.now}`);
      },
    };
  }

  it('back-to-back frames reach the endpoint at their own arrival times, in one event when nothing else is due between them', () => {
    const { sim, wire } = makeWire(8);
    const log: string[] = [];
    wire.b.connect(timedEndpoint(sim, log));
    for (let k = 0; k < 4; k++) wire.a.transmit(frame(1518, k), 0, 1518);
    const each = frameTimePs(1518, LINE_RATE);
    const fired = sim.runUntil(10 * each + LINK_LATENCY_PS);
    expect(log).toEqual([0, 1, 2, 3].map((k) => `frame ${k} at ${(k + 1) * each + LINK_LATENCY_PS}`));
    // One event carried the four frames: nothing else was due while they arrived.
    expect(fired).toBe(1);
  });

  it('an event due between two arrivals runs between them, as with one event per frame', () => {
    const { sim, wire } = makeWire(8);
    const log: string[] = [];
    wire.b.connect(timedEndpoint(sim, log));
    for (let k = 0; k < 3; k++) wire.a.transmit(frame(1518, k), 0, 1518);
    const each = frameTimePs(1518, LINE_RATE);
    const between = 2 * each + LINK_LATENCY_PS - 1;
    sim.schedule(
      sim.event('between', () => log.push(`other at ${sim.now}`)),
      between,
    );
    // An event at the very time of the third arrival, scheduled before the burst: it runs first.
    const atThird = 3 * each + LINK_LATENCY_PS;
    sim.schedule(
      sim.event('tie', () => log.push(`tie at ${sim.now}`)),
      atThird,
    );
    sim.runUntil(10 * each + LINK_LATENCY_PS);
    expect(log).toEqual([
      `frame 0 at ${each + LINK_LATENCY_PS}`,
      `other at ${between}`,
      `frame 1 at ${2 * each + LINK_LATENCY_PS}`,
      `tie at ${atThird}`,
      `frame 2 at ${atThird}`,
    ]);
  });
});
