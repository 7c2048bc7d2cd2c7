import { ms, ns, PS_PER_S, us } from '@exitless/sim';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EITR, eitrForInterval, eitrIntervalPs, frameTimePs, VF_REG } from '../src/index.js';
import {
  enableVfMsix,
  enableVfs,
  LineRateSource,
  makeFrame,
  makeRig,
  PEER_MAC,
  type Rig,
  setupInterrupts,
  setupRx,
} from './helpers.js';

const RING_COUNT = 4096;

/** A VF whose "driver" returns every descriptor at once (interrupt handler stand-in). */
function streamingVf(rig: Rig, eitrUs: number, frameThreshold = 0) {
  enableVfs(rig.nic, 1);
  const vf = rig.nic.vfs[0]!;
  enableVfMsix(vf, 0x40);
  setupInterrupts(vf);
  setupRx(rig, vf, { ringBase: 0x100000, count: RING_COUNT, bufferBase: 0x1000000, bufferBytes: 2048 });
  vf.registers.mmioWrite(VF_REG.VFEITR0, 4, eitrForInterval(eitrUs));
  vf.registers.mmioWrite(VF_REG.VFEITR_FRAMES0, 4, frameThreshold);
  // Keep the ring from filling: a driver that refills as fast as frames arrive.
  const refill = rig.sim.event('refill', () => {
    const head = vf.registers.mmioRead(VF_REG.VFRDH, 4);
    vf.registers.mmioWrite(VF_REG.VFRDT, 4, (head + RING_COUNT - 1) % RING_COUNT);
    rig.sim.scheduleIn(refill, us(20));
  });
  rig.sim.schedule(refill, 0);
  return vf;
}

describe('10 GbE line rate (RFC 5180 frame rates)', () => {
  it('frame time includes 20 bytes of preamble, SFD and IFG: 67.2 ns at 64 B, 1230.4 ns at 1518 B', () => {
    expect(frameTimePs(64, 10e9)).toBe(67_200);
    expect(frameTimePs(1518, 10e9)).toBe(1_230_400);
    expect(Math.floor(PS_PER_S / frameTimePs(64, 10e9))).toBe(14_880_952);
    expect(Math.floor(PS_PER_S / frameTimePs(1518, 10e9))).toBe(812_743);
  });

  for (const [size, fps] of [
    [64, 14_880_952],
    [1518, 812_743],
  ] as const) {
    it(`back-to-back ${size}-byte frames arrive at ${fps} frames/s (measured over 10 ms)`, () => {
      const rig = makeRig();
      const vf = streamingVf(rig, 0);
      new LineRateSource(rig.sim, rig.wire.b, makeFrame(vf.mac, PEER_MAC, size));
      rig.sim.runUntil(ms(1)); // warm up past the link latency
      const start = rig.stats.counterValue('nic.port.rx.frames');
      const startVf = rig.stats.counterValue('nic.vf0.rx.frames');
      rig.sim.runUntil(ms(11));
      const frames = rig.stats.counterValue('nic.port.rx.frames') - start;
      const expected = fps / 100;
      expect(Math.abs(frames - expected)).toBeLessThanOrEqual(1);
      // Every one of them reached the VF's ring.
      expect(rig.stats.counterValue('nic.vf0.rx.frames') - startVf).toBe(frames);
      expect(rig.stats.counterValue('nic.vf0.rx.missed')).toBe(0);
    });
  }

  it('spends at most two simulator events per received frame at line rate', () => {
    const rig = makeRig();
    const vf = streamingVf(rig, 0);
    new LineRateSource(rig.sim, rig.wire.b, makeFrame(vf.mac, PEER_MAC, 64));
    rig.sim.runUntil(ms(1));
    const e0 = rig.sim.eventsProcessed;
    const f0 = rig.stats.counterValue('nic.port.rx.frames');
    rig.sim.runUntil(ms(3));
    const perFrame = (rig.sim.eventsProcessed - e0) / (rig.stats.counterValue('nic.port.rx.frames') - f0);
    // One delivery event per frame; with throttling off the interrupts ride on it.
    expect(perFrame).toBeLessThan(1.1);
  });
});

describe('interrupt moderation (EITR, 82599 §7.3.2.1)', () => {
  it('encodes the interval in bits 11:3 in 2 µs units', () => {
    expect(eitrForInterval(100)).toBe(50 << 3);
    expect(eitrIntervalPs(eitrForInterval(100))).toBe(us(100));
    expect(eitrIntervalPs(200)).toBe(us(50)); // ixgbe's IXGBE_20K_ITR
    expect(eitrIntervalPs(0x80000000 | (5 << 3))).toBe(us(10)); // CNT_WDIS is not part of the interval
  });

  it('without moderation every frame interrupts (so the bound below is the EITR at work)', () => {
    const rig = makeRig();
    const vf = streamingVf(rig, 0);
    new LineRateSource(rig.sim, rig.wire.b, makeFrame(vf.mac, PEER_MAC, 1518));
    rig.sim.runUntil(ms(2));
    expect(vf.msix.sent(0)).toBe(rig.stats.counterValue('nic.vf0.rx.frames'));
  });

  it('property: at 100 µs, interrupts per second stay ≤ 10,000 whatever the packet rate', () => {
    fc.assert(
      fc.property(fc.integer({ min: 64, max: 1518 }), fc.integer({ min: 0, max: 20_000 }), (size, gapNs) => {
        const rig = makeRig();
        const vf = streamingVf(rig, 100);
        const frame = makeFrame(vf.mac, PEER_MAC, size);
        const gap = ns(gapNs);
        const send = rig.sim.event('paced-source', () => {
          rig.wire.b.transmit(frame, 0, frame.length);
          rig.sim.scheduleIn(send, Math.max(1, frameTimePs(size, 10e9) + gap));
        });
        rig.sim.schedule(send, 0);
        const span = ms(5);
        rig.sim.runUntil(span);
        const interrupts = vf.msix.sent(0);
        expect(rig.stats.counterValue('nic.vf0.rx.frames')).toBeGreaterThan(0);
        expect(interrupts).toBeLessThanOrEqual(Math.floor(span / us(100)) + 1);
        // And the interval is honoured message to message.
        const times = rig.msi.times;
        for (let i = 1; i < times.length; i++)
          expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(us(100));
      }),
      { numRuns: 25 },
    );
  });

  it('a pending cause fires when the interval expires (one throttle event), not on the next frame', () => {
    const rig = makeRig();
    const vf = streamingVf(rig, 100);
    const f = makeFrame(vf.mac, PEER_MAC, 64);
    rig.wire.b.transmit(f, 0, f.length);
    rig.wire.b.transmit(f, 0, f.length);
    rig.sim.runUntil(ms(1));
    expect(rig.msi.times).toHaveLength(2);
    expect(rig.msi.times[1]! - rig.msi.times[0]!).toBe(us(100));
  });

  it('a VTEITR write with CNT_WDIS clear loads the ITR counter: a cause waiting on the interval fires at once', () => {
    // ixgbevf_write_eitr sets CNT_WDIS "to not clear the timer bits and cause an immediate
    // assertion of the interrupt": without it the write ends the running interval.
    const eitr = eitrForInterval(100);
    const run = (rewrite: number) => {
      const rig = makeRig();
      enableVfs(rig.nic, 1);
      const vf = rig.nic.vfs[0]!;
      enableVfMsix(vf, 0x40);
      setupInterrupts(vf);
      const r = vf.registers;
      r.mmioWrite(VF_REG.VFEITR0, 4, (eitr | EITR.CNT_WDIS) >>> 0);
      r.mmioWrite(VF_REG.VFEICS, 4, 1); // a quiet vector: the message goes at once (t = 0)
      rig.sim.runUntil(us(10));
      r.mmioWrite(VF_REG.VFEICS, 4, 1); // throttled until t = 100 µs
      rig.sim.runUntil(us(20));
      expect(rig.msi.times).toEqual([0]);
      r.mmioWrite(VF_REG.VFEITR0, 4, rewrite);
      rig.sim.runUntil(us(500));
      return rig.msi.times;
    };
    expect(run((eitr | EITR.CNT_WDIS) >>> 0)).toEqual([0, us(100)]);
    expect(run(eitr)).toEqual([0, us(20)]);
  });

  it('a VTEITR write with CNT_WDIS clear asserts nothing while the vector is disabled; enabling it then sends at once', () => {
    const rig = makeRig();
    enableVfs(rig.nic, 1);
    const vf = rig.nic.vfs[0]!;
    enableVfMsix(vf, 0x40);
    setupInterrupts(vf);
    const r = vf.registers;
    r.mmioWrite(VF_REG.VFEITR0, 4, eitrForInterval(100));
    r.mmioWrite(VF_REG.VFEICS, 4, 1); // t = 0: sent, the 100 µs interval starts
    r.mmioWrite(VF_REG.VFEIMC, 4, 1);
    r.mmioWrite(VF_REG.VFEICS, 4, 1); // a cause pending on a disabled vector (EIMS clear)
    rig.sim.runUntil(us(5));
    r.mmioWrite(VF_REG.VFEITR0, 4, eitrForInterval(100)); // counter cleared, vector still disabled
    expect(rig.msi.times).toEqual([0]);
    rig.sim.runUntil(us(10));
    r.mmioWrite(VF_REG.VFEIMS, 4, 1); // the interval has ended: sent now, not at 100 µs
    expect(rig.msi.times).toEqual([0, us(10)]);
  });

  it('a frame threshold fires before the interval once that many frames have accumulated', () => {
    const rig = makeRig();
    const vf = streamingVf(rig, 1000, 8);
    const frame = makeFrame(vf.mac, PEER_MAC, 64);
    const send = rig.sim.event('paced', () => {
      rig.wire.b.transmit(frame, 0, frame.length);
      rig.sim.scheduleIn(send, us(1));
    });
    rig.sim.schedule(send, 0);
    rig.sim.runUntil(us(400));
    const frames = rig.stats.counterValue('nic.vf0.rx.frames');
    // The first frame fires at once; then one message per 8 frames.
    expect(vf.msix.sent(0)).toBe(1 + Math.floor((frames - 1) / 8));
  });
});
