import { ns } from '@exitless/sim';
import { describe, expect, it } from 'vitest';
import {
  dmaLatencyPs,
  frameTimePs,
  type NicTiming,
  RX_DESC,
  RXD_STAT,
  TX_DESC,
  TXD_CMD,
  VF_REG,
} from '../src/index.js';
import {
  enableVfMsix,
  enableVfs,
  LINK_LATENCY_PS,
  makeFrame,
  makeRig,
  PEER_MAC,
  setupInterrupts,
  setupRx,
  setupTx,
} from './helpers.js';

// pcie-bench's figures as the default machine takes them: 560 ns for a 64-byte read plus
// 0.30 ns per byte beyond; writes half of that.
const SIZED: NicTiming = {
  dmaReadLatencyPs: ns(560),
  dmaWriteLatencyPs: ns(280),
  dmaReadPsPerByte: 300,
  dmaWritePsPerByte: 150,
};

describe('size-dependent DMA latency (pcie-bench: linear in the transfer size)', () => {
  it('dmaLatencyPs: the base latency up to 64 bytes, then the per-byte term beyond', () => {
    expect(dmaLatencyPs(ns(560), 300, 16)).toBe(ns(560));
    expect(dmaLatencyPs(ns(560), 300, 64)).toBe(ns(560));
    // 1,520 bytes: 560 + 0.3 × 1,456 = 996.8 ns (pcie-bench measured 1,000 ns).
    expect(dmaLatencyPs(ns(560), 300, 1520)).toBe(ns(996.8));
  });

  it('a received frame is written the write latency of its size after its last bit; a short frame behind it is not written first', () => {
    const rig = makeRig({ timing: SIZED });
    enableVfs(rig.nic, 1);
    const vf = rig.nic.vfs[0]!;
    enableVfMsix(vf, 0x40);
    setupInterrupts(vf);
    const ring = { ringBase: 0x100000, count: 8, bufferBase: 0x200000, bufferBytes: 2048 };
    setupRx(rig, vf, ring);
    const long = makeFrame(vf.mac, PEER_MAC, 1518, 0x11);
    const short = makeFrame(vf.mac, PEER_MAC, 64, 0x22);
    rig.wire.b.transmit(long, 0, long.length);
    rig.wire.b.transmit(short, 0, short.length);
    rig.sim.runUntilEmpty();
    // EITR 0: one message per frame, sent when its data and write-back are in memory.
    const lastBitLong = frameTimePs(1518, 10e9) + LINK_LATENCY_PS;
    const writtenLong = lastBitLong + dmaLatencyPs(ns(280), 150, 1514);
    expect(writtenLong).toBe(lastBitLong + ns(280) + 150 * (1514 - 64));
    // The 60 bytes of the short frame alone would land at its last bit + 280 ns, before the
    // long frame's data: the NIC's posted writes stay in order, so it lands with it.
    const lastBitShort = lastBitLong + frameTimePs(64, 10e9);
    expect(lastBitShort + ns(280)).toBeLessThan(writtenLong);
    expect(rig.msi.times).toEqual([writtenLong, writtenLong]);
    expect(rig.memory.read16(ring.ringBase + RX_DESC.LENGTH)).toBe(1514);
    expect(rig.memory.read16(ring.ringBase + 16 + RX_DESC.LENGTH)).toBe(60);
    expect(rig.memory.read8(ring.ringBase + 16 + RX_DESC.STATUS)).toBe(RXD_STAT.DD | RXD_STAT.EOP);
  });

  it('a transmitted packet leaves when the read of its buffer completes; the write-back follows the last read', () => {
    const rig = makeRig({ timing: SIZED });
    enableVfs(rig.nic, 1);
    const vf = rig.nic.vfs[0]!;
    enableVfMsix(vf, 0x40);
    setupInterrupts(vf);
    const ringBase = 0x300000;
    const bufs = 0x400000;
    setupTx(vf, ringBase, 64);
    const sizes = [1000, 40];
    for (const [i, size] of sizes.entries()) {
      const payload = makeFrame(PEER_MAC, vf.mac, size, 0x30 + i).subarray(0, size);
      rig.memory.writeBytes(bufs + i * 2048, payload);
      const d = ringBase + i * TX_DESC.SIZE;
      rig.memory.write64(d + TX_DESC.BUFFER_ADDRESS, BigInt(bufs + i * 2048));
      rig.memory.write16(d + TX_DESC.LENGTH, size);
      rig.memory.write8(d + TX_DESC.CMD, TXD_CMD.EOP | TXD_CMD.IFCS | TXD_CMD.RS);
    }
    vf.registers.mmioWrite(VF_REG.VFTDT, 4, 2);
    rig.sim.runUntilEmpty();
    // Tail write at 0; descriptor fetch (16-byte descriptors: the 64-byte latency) at 560 ns;
    // the 1,000-byte buffer read completes 560 + 0.3 × 936 ns later, the 40-byte one 560 ns later.
    const fetch = ns(560);
    const ready0 = fetch + ns(560) + 300 * (1000 - 64);
    const ready1 = fetch + ns(560);
    expect(ready1).toBeLessThan(ready0);
    expect(rig.peer.times[0]).toBe(ready0 + frameTimePs(1004, 10e9) + LINK_LATENCY_PS);
    // The short packet waits for the wire behind the long one.
    expect(rig.peer.times[1]).toBe(rig.peer.times[0]! + frameTimePs(64, 10e9));
    // DD write-back and the TX message: one 64-byte write after the last buffer read.
    expect(rig.msi.times).toEqual([ready0 + ns(280)]);
  });
});
