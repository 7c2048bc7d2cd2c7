import { ms, PS_PER_S } from '@exitless/sim';
import { describe, expect, it } from 'vitest';
import { frameTimePs, TX_DESC, TXD_CMD, TXD_STAT, VF_REG, type VirtualFunction } from '../src/index.js';
import {
  enableVfMsix,
  enableVfs,
  LINK_LATENCY_PS,
  makeFrame,
  makeRig,
  PEER_MAC,
  type Rig,
  setupInterrupts,
  setupTx,
  TIMING,
  WindowDmaPort,
} from './helpers.js';

const TX_RING = 0x300000;
const TX_BUFS = 0x400000;

function txRig(rig: Rig = makeRig(), count = 64): { rig: Rig; vf: VirtualFunction } {
  enableVfs(rig.nic, 1);
  const vf = rig.nic.vfs[0]!;
  enableVfMsix(vf, 0x40);
  setupInterrupts(vf);
  setupTx(vf, TX_RING, count);
  return { rig, vf };
}

/** Writes descriptor i for a packet of `payload` at buffer i (legacy format). */
function postPacket(rig: Rig, i: number, payload: Uint8Array, cmd: number): void {
  const buf = TX_BUFS + i * 2048;
  rig.memory.writeBytes(buf, payload);
  const d = TX_RING + i * TX_DESC.SIZE;
  rig.memory.write64(d + TX_DESC.BUFFER_ADDRESS, BigInt(buf));
  rig.memory.write16(d + TX_DESC.LENGTH, payload.length);
  rig.memory.write8(d + TX_DESC.CSO, 0);
  rig.memory.write8(d + TX_DESC.CMD, cmd);
  rig.memory.write8(d + TX_DESC.STATUS, 0);
}

const EOP_RS = TXD_CMD.EOP | TXD_CMD.IFCS | TXD_CMD.RS;

describe('transmit path (legacy TX descriptors, 82599 §7.2)', () => {
  it('a head or tail outside the ring sends nothing and is counted (the walk from head to tail would never end)', () => {
    // Eight descriptors (VFTDLEN is a multiple of 128 bytes); head 9 is past the end.
    const { rig, vf } = txRig(makeRig(), 8);
    const a = makeFrame(PEER_MAC, vf.mac, 100, 0x11).subarray(0, 100);
    postPacket(rig, 0, a, EOP_RS);
    vf.registers.mmioWrite(VF_REG.VFTDH, 4, 9);
    vf.registers.mmioWrite(VF_REG.VFTDT, 4, 1);
    rig.sim.runUntilEmpty();
    expect(rig.peer.frames).toHaveLength(0);
    vf.registers.mmioWrite(VF_REG.VFTDH, 4, 0);
    vf.registers.mmioWrite(VF_REG.VFTDT, 4, 8);
    rig.sim.runUntilEmpty();
    expect(rig.peer.frames).toHaveLength(0);
    expect(rig.stats.counterValue('nic.vf0.tx.ring-invalid')).toBe(2);
    // Back inside the ring, the packet goes.
    vf.registers.mmioWrite(VF_REG.VFTDT, 4, 1);
    rig.sim.runUntilEmpty();
    expect(rig.peer.frames).toHaveLength(1);
  });

  it('a tail write sends the packets: the peer gets them (padded, with FCS), DD is written back, TDH moves, TX interrupts', () => {
    const { rig, vf } = txRig();
    const a = makeFrame(PEER_MAC, vf.mac, 100, 0x11).subarray(0, 100);
    const b = makeFrame(PEER_MAC, vf.mac, 40, 0x22).subarray(0, 40);
    postPacket(rig, 0, a, EOP_RS);
    postPacket(rig, 1, b, EOP_RS);
    vf.registers.mmioWrite(VF_REG.VFTDT, 4, 2);
    rig.sim.runUntilEmpty();
    expect(rig.peer.frames).toHaveLength(2);
    expect(rig.peer.frames[0]!.length).toBe(104);
    expect(rig.peer.frames[0]!.subarray(0, 100)).toEqual(a);
    // 40 bytes are padded to 60, then the FCS: a 64-byte frame.
    expect(rig.peer.frames[1]!.length).toBe(64);
    expect(rig.peer.frames[1]!.subarray(0, 40)).toEqual(b);
    expect(rig.peer.frames[1]!.subarray(40, 60).every((x) => x === 0)).toBe(true);
    // Descriptor fetch, then buffer fetch, then serialisation and the link.
    const first = 2 * TIMING.dmaReadLatencyPs + frameTimePs(104, 10e9) + LINK_LATENCY_PS;
    expect(rig.peer.times[0]).toBe(first);
    expect(rig.peer.times[1]).toBe(first + frameTimePs(64, 10e9));
    expect(rig.memory.read8(TX_RING + TX_DESC.STATUS) & TXD_STAT.DD).toBe(TXD_STAT.DD);
    expect(rig.memory.read8(TX_RING + 16 + TX_DESC.STATUS) & TXD_STAT.DD).toBe(TXD_STAT.DD);
    expect(vf.registers.mmioRead(VF_REG.VFTDH, 4)).toBe(2);
    expect(vf.registers.mmioRead(VF_REG.VFGPTC, 4)).toBe(2);
    expect(rig.msi.data).toEqual([0x41]);
    expect(rig.msi.times[0]).toBe(2 * TIMING.dmaReadLatencyPs + TIMING.dmaWriteLatencyPs);
  });

  it('gathers a packet from several descriptors; DD only where RS is set', () => {
    const { rig, vf } = txRig();
    const whole = makeFrame(PEER_MAC, vf.mac, 300, 0x33).subarray(0, 300);
    postPacket(rig, 0, whole.subarray(0, 100), TXD_CMD.IFCS);
    postPacket(rig, 1, whole.subarray(100, 300), EOP_RS);
    vf.registers.mmioWrite(VF_REG.VFTDT, 4, 2);
    rig.sim.runUntilEmpty();
    expect(rig.peer.frames).toHaveLength(1);
    expect(rig.peer.frames[0]!.subarray(0, 300)).toEqual(whole);
    expect(rig.memory.read8(TX_RING + TX_DESC.STATUS)).toBe(0);
    expect(rig.memory.read8(TX_RING + 16 + TX_DESC.STATUS)).toBe(TXD_STAT.DD);
  });

  it('waits for the tail to cover the packet’s EOP descriptor', () => {
    const { rig, vf } = txRig();
    const p = makeFrame(PEER_MAC, vf.mac, 200).subarray(0, 200);
    postPacket(rig, 0, p.subarray(0, 100), TXD_CMD.IFCS);
    postPacket(rig, 1, p.subarray(100), EOP_RS);
    vf.registers.mmioWrite(VF_REG.VFTDT, 4, 1);
    rig.sim.runUntilEmpty();
    expect(rig.peer.frames).toHaveLength(0);
    expect(vf.registers.mmioRead(VF_REG.VFTDH, 4)).toBe(0);
    vf.registers.mmioWrite(VF_REG.VFTDT, 4, 2);
    rig.sim.runUntilEmpty();
    expect(rig.peer.frames).toHaveLength(1);
  });

  it('streams at line rate: 1514-byte packets leave at 812,743 frames/s', () => {
    const count = 4096;
    const { rig, vf } = txRig(makeRig({ framesInFlight: 512 }), count);
    rig.peer.keep = false;
    const payload = makeFrame(PEER_MAC, vf.mac, 1514).subarray(0, 1514);
    for (let i = 0; i < count; i++) postPacket(rig, i, payload, EOP_RS);
    // A driver that cleans and re-posts every 100 µs.
    let tail = count - 1;
    const clean = rig.sim.event('clean', () => {
      const head = vf.registers.mmioRead(VF_REG.VFTDH, 4);
      tail = (head + count - 1) % count;
      vf.registers.mmioWrite(VF_REG.VFTDT, 4, tail);
      rig.sim.scheduleIn(clean, 100_000_000);
    });
    rig.sim.schedule(clean, 0);
    rig.sim.runUntil(ms(1));
    const c0 = rig.peer.count;
    rig.sim.runUntil(ms(11));
    const fps = ((rig.peer.count - c0) * PS_PER_S) / ms(10);
    expect(Math.abs(fps - 812_743)).toBeLessThanOrEqual(100);
    expect(rig.stats.counterValue('wire.a-to-b.tx.dropped-queue-full')).toBe(0);
  });

  it('a descriptor read outside the DMA window faults: nothing is sent, the fault is counted', () => {
    const { rig, vf } = txRig(makeRig({ dma: (m) => new WindowDmaPort(m, 0, 0x100000) }));
    postPacket(rig, 0, new Uint8Array(64), EOP_RS);
    vf.registers.mmioWrite(VF_REG.VFTDT, 4, 1);
    rig.sim.runUntilEmpty();
    expect(rig.peer.frames).toHaveLength(0);
    expect(rig.stats.counterValue('nic.vf0.tx.dma-faults')).toBeGreaterThan(0);
    expect(rig.stats.counterValue('nic.vf0.tx.frames')).toBe(0);
  });

  it('TXDCTL.ENABLE clear: a tail write sends nothing until the queue is enabled', () => {
    const { rig, vf } = txRig();
    vf.registers.mmioWrite(VF_REG.VFTXDCTL, 4, 0);
    postPacket(rig, 0, makeFrame(PEER_MAC, vf.mac, 64).subarray(0, 60), EOP_RS);
    vf.registers.mmioWrite(VF_REG.VFTDT, 4, 1);
    rig.sim.runUntilEmpty();
    expect(rig.peer.frames).toHaveLength(0);
    vf.registers.mmioWrite(VF_REG.VFTXDCTL, 4, 0x02000000);
    rig.sim.runUntilEmpty();
    expect(rig.peer.frames).toHaveLength(1);
  });
});
