import { ns } from '@exitless/sim';
import { describe, expect, it } from 'vitest';
import { frameTimePs, RX_DESC, RXD_STAT, VF_REG } from '../src/index.js';
import {
  BROADCAST,
  enableVfMsix,
  enableVfs,
  LINK_LATENCY_PS,
  makeFrame,
  makeRig,
  PEER_MAC,
  PF_MAC,
  RecordingEndpoint,
  type Rig,
  setupInterrupts,
  setupRx,
  TIMING,
  WindowDmaPort,
} from './helpers.js';

const RING = { ringBase: 0x100000, count: 8, bufferBase: 0x200000, bufferBytes: 2048 };

function rxRig(rig: Rig = makeRig(), vfs = 2) {
  enableVfs(rig.nic, vfs);
  for (const vf of rig.nic.vfs) {
    enableVfMsix(vf, 0x40 + 4 * vf.index);
    setupInterrupts(vf);
    setupRx(rig, vf, {
      ...RING,
      ringBase: RING.ringBase + vf.index * 0x10000,
      bufferBase: RING.bufferBase + vf.index * 0x100000,
    });
  }
  return rig;
}

describe('receive path (legacy RX descriptors, 82599 §7.1)', () => {
  it('DMAs the frame into the buffer, writes back length/DD/EOP, advances RDH, then interrupts', () => {
    const rig = rxRig();
    const vf = rig.nic.vfs[1]!;
    const frame = makeFrame(vf.mac, PEER_MAC, 128, 0x5a);
    rig.wire.b.transmit(frame, 0, frame.length);
    rig.sim.runUntilEmpty();
    const ring = RING.ringBase + 0x10000;
    const buf = RING.bufferBase + 0x100000;
    // The CRC is stripped: 124 bytes land in the buffer.
    const got = new Uint8Array(124);
    rig.memory.readBytes(buf, got);
    expect(got).toEqual(frame.subarray(0, 124));
    expect(rig.memory.read8(buf + 124)).toBe(0);
    expect(rig.memory.read16(ring + RX_DESC.LENGTH)).toBe(124);
    expect(rig.memory.read8(ring + RX_DESC.STATUS)).toBe(RXD_STAT.DD | RXD_STAT.EOP);
    expect(Number(rig.memory.read64(ring))).toBe(buf);
    expect(vf.registers.mmioRead(VF_REG.VFRDH, 4)).toBe(1);
    expect(vf.registers.mmioRead(VF_REG.VFGPRC, 4)).toBe(1);
    expect(vf.registers.mmioRead(VF_REG.VFGORC_LSB, 4)).toBe(124);
    // One message on the RX vector (IVAR: RX queue 0 → vector 0 → data 0x44).
    expect(rig.msi.data).toEqual([0x44]);
    // Ordering: the message goes out when the DMA writes are done — the last bit's arrival
    // plus the posted-write latency, never before.
    const lastBit = frameTimePs(128, 10e9) + LINK_LATENCY_PS;
    expect(rig.msi.times).toEqual([lastBit + TIMING.dmaWriteLatencyPs]);
    expect(rig.stats.counterValue('nic.vf1.rx.frames')).toBe(1);
    expect(rig.stats.counterValue('nic.vf0.rx.frames')).toBe(0);
  });

  it('a VF DMA with no mapping (faulting DMA port) writes nothing and counts the drop', () => {
    let port: WindowDmaPort | undefined;
    const rig = rxRig(
      makeRig({
        dma: (m) => {
          // Only VF 0's ring and buffers are reachable; VF 1's are outside the window.
          port = new WindowDmaPort(m, 0x100000, 0x110000);
          return port;
        },
      }),
    );
    const vf = rig.nic.vfs[1]!;
    const frame = makeFrame(vf.mac, PEER_MAC, 256);
    rig.wire.b.transmit(frame, 0, frame.length);
    rig.sim.runUntilEmpty();
    expect(port!.faults).toBeGreaterThan(0);
    expect(rig.stats.counterValue('nic.vf1.rx.dma-faults')).toBe(1);
    expect(rig.stats.counterValue('nic.vf1.rx.frames')).toBe(0);
    expect(rig.memory.read32(RING.bufferBase + 0x100000)).toBe(0);
    expect(rig.memory.read8(RING.ringBase + 0x10000 + RX_DESC.STATUS)).toBe(0);
    expect(vf.registers.mmioRead(VF_REG.VFRDH, 4)).toBe(0);
    expect(rig.msi.data).toEqual([]);
  });

  it('a full ring drops frames and counts rx_missed; nothing is lost silently', () => {
    const rig = rxRig();
    const vf = rig.nic.vfs[0]!;
    const frame = makeFrame(vf.mac, PEER_MAC, 64);
    for (let i = 0; i < 12; i++) rig.wire.b.transmit(frame, 0, frame.length);
    rig.sim.runUntilEmpty();
    // RDT = count − 1 gives the NIC 7 descriptors.
    expect(rig.stats.counterValue('nic.vf0.rx.frames')).toBe(7);
    expect(rig.stats.counterValue('nic.vf0.rx.missed')).toBe(5);
    expect(vf.registers.mmioRead(VF_REG.VFRDH, 4)).toBe(7);
    // The driver returns 4 descriptors: 4 more frames fit.
    vf.registers.mmioWrite(VF_REG.VFRDT, 4, 3);
    for (let i = 0; i < 5; i++) rig.wire.b.transmit(frame, 0, frame.length);
    rig.sim.runUntilEmpty();
    expect(rig.stats.counterValue('nic.vf0.rx.frames')).toBe(11);
    expect(rig.stats.counterValue('nic.vf0.rx.missed')).toBe(6);
  });

  it('a frame larger than the buffer spans descriptors, EOP only on the last', () => {
    const rig = makeRig();
    enableVfs(rig.nic, 1);
    const vf = rig.nic.vfs[0]!;
    enableVfMsix(vf, 0x40);
    setupInterrupts(vf);
    setupRx(rig, vf, { ...RING, bufferBytes: 1024 });
    const frame = makeFrame(vf.mac, PEER_MAC, 1518);
    rig.wire.b.transmit(frame, 0, frame.length);
    rig.sim.runUntilEmpty();
    expect(rig.memory.read16(RING.ringBase + RX_DESC.LENGTH)).toBe(1024);
    expect(rig.memory.read8(RING.ringBase + RX_DESC.STATUS)).toBe(RXD_STAT.DD);
    expect(rig.memory.read16(RING.ringBase + 16 + RX_DESC.LENGTH)).toBe(1514 - 1024);
    expect(rig.memory.read8(RING.ringBase + 16 + RX_DESC.STATUS)).toBe(RXD_STAT.DD | RXD_STAT.EOP);
    expect(vf.registers.mmioRead(VF_REG.VFRDH, 4)).toBe(2);
    expect(rig.msi.data).toEqual([0x40]);
  });

  it('switches by destination MAC: unicast to its VF, broadcast to all, unknown unicast to the PF (or dropped)', () => {
    const rig = rxRig(makeRig(), 3);
    const pfSeen = new RecordingEndpoint(rig.sim);
    rig.nic.pf.receiver = pfSeen;
    const send = (dst: number): void => {
      const f = makeFrame(dst, PEER_MAC, 64);
      rig.wire.b.transmit(f, 0, f.length);
    };
    send(rig.nic.vfs[2]!.mac);
    send(BROADCAST);
    send(0x0c0000000099);
    send(PF_MAC);
    rig.sim.runUntilEmpty();
    expect([0, 1, 2].map((n) => rig.stats.counterValue(`nic.vf${n}.rx.frames`))).toEqual([1, 1, 2]);
    expect(pfSeen.count).toBe(3);

    const drop = rxRig(makeRig({ nic: { unknownUnicast: 'drop' } }), 1);
    const f = makeFrame(0x0c0000000099, PEER_MAC, 64);
    drop.wire.b.transmit(f, 0, f.length);
    drop.sim.runUntilEmpty();
    expect(drop.stats.counterValue('nic.port.rx.unknown-unicast-dropped')).toBe(1);
    expect(drop.stats.counterValue('nic.pf.rx.frames')).toBe(0);
  });

  it('setVfMac moves the VF in the switch', () => {
    const rig = rxRig(makeRig(), 2);
    rig.nic.setVfMac(0, 0x0200000000aa);
    const f = makeFrame(0x0200000000aa, PEER_MAC, 64);
    rig.wire.b.transmit(f, 0, f.length);
    rig.sim.runUntilEmpty();
    expect(rig.stats.counterValue('nic.vf0.rx.frames')).toBe(1);
  });

  it('a disabled queue (RXDCTL.ENABLE clear) and a VF without Bus Master drop and count', () => {
    const rig = rxRig(makeRig(), 2);
    rig.nic.vfs[0]!.registers.mmioWrite(VF_REG.VFRXDCTL, 4, 0);
    rig.nic.vfs[1]!.configWrite(0x04, 2, 0);
    const f = makeFrame(BROADCAST, PEER_MAC, 64);
    rig.wire.b.transmit(f, 0, f.length);
    rig.sim.runUntilEmpty();
    expect(rig.stats.counterValue('nic.vf0.rx.queue-disabled')).toBe(1);
    expect(rig.stats.counterValue('nic.vf1.rx.no-bus-master')).toBe(1);
  });

  it('undersize frames are discarded by the MAC and counted', () => {
    const rig = rxRig(makeRig(), 1);
    const f = makeFrame(rig.nic.vfs[0]!.mac, PEER_MAC, 40);
    rig.wire.b.transmit(f, 0, f.length);
    rig.sim.runUntil(ns(10_000));
    expect(rig.stats.counterValue('nic.port.rx.runts')).toBe(1);
    expect(rig.stats.counterValue('nic.vf0.rx.frames')).toBe(0);
  });
});
