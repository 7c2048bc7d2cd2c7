import {
  makeTcpSegmentFields,
  makeUdpDatagramFields,
  readTcpSegment,
  readUdpDatagram,
  tcpHeadersLength,
  UDP_HEADERS_LEN,
} from '@exitless/net';
import { RX_DESC, TX_DESC, VF_REG } from '@exitless/nic';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameTransmitter, GUEST_LAYOUT, TX_SLOT } from '../src/index.js';
import {
  BAR0,
  DYNAMIC,
  drain,
  makeDriver,
  nicCompletesTx,
  nicWritesBack,
  pending,
} from './driver-helpers.js';
import { GUEST, PEER } from './stack-helpers.js';

const rxDesc = (i: number) => GUEST_LAYOUT.RX_RING + i * RX_DESC.SIZE;
const txDesc = (i: number) => GUEST_LAYOUT.TX_RING + i * TX_DESC.SIZE;

describe('the RX ring wraps (ixgbevf_clean_rx_irq, ixgbevf_alloc_rx_buffers)', () => {
  it('frames written back across the end of the ring reach the stack in ring order', () => {
    const { driver, memory, stack } = makeDriver(DYNAMIC, { rx: 32 });
    nicWritesBack(memory, 0, new Array(28).fill(100), 32);
    driver.poll(stack, 0);
    // Descriptors 28…31, then 0…5: ten frames of distinct lengths.
    const lengths = [60, 61, 62, 63, 64, 65, 66, 67, 68, 69];
    nicWritesBack(memory, 28, lengths, 32);
    stack.frames.length = 0;
    driver.poll(stack, 0);
    expect(stack.frames).toEqual(lengths);
  });

  it('a refill that ends at descriptor 0 writes RDT = ring size − 1 (next_to_use − 1, modulo the ring)', () => {
    const { driver, memory, stack } = makeDriver(DYNAMIC, { rx: 32 });
    // After open next_to_use is 31 (one descriptor held back); one frame frees one: refill 31.
    nicWritesBack(memory, 0, [100], 32);
    driver.poll(stack, 0);
    expect(pending(driver)).toEqual([[VF_REG.VFRDT, 31]]);
    drain(driver);
    // The next one refills descriptor 0: RDT 0.
    nicWritesBack(memory, 1, [100], 32);
    driver.poll(stack, 0);
    expect(pending(driver)).toEqual([[VF_REG.VFRDT, 0]]);
  });

  it('a cleaned descriptor gets its own buffer back and its status cleared', () => {
    const { driver, memory, stack } = makeDriver(DYNAMIC, { rx: 32 });
    nicWritesBack(memory, 0, new Array(31).fill(100), 32);
    driver.poll(stack, 0);
    nicWritesBack(memory, 31, [100, 100], 32);
    driver.poll(stack, 0);
    for (const i of [31, 0]) {
      expect(memory.read32(rxDesc(i))).toBe(GUEST_LAYOUT.RX_BUFFERS + i * GUEST_LAYOUT.BUFFER_SIZE);
      expect(memory.read8(rxDesc(i) + RX_DESC.STATUS)).toBe(0);
    }
  });

  it('every poll refills what it cleaned: RDT = next_to_use − 1 = next_to_clean − 2, modulo the ring', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 31 }), { minLength: 1, maxLength: 40 }), (batches) => {
        const n = 32;
        const { driver, memory, stack } = makeDriver(DYNAMIC, { rx: n });
        let at = 0;
        let total = 0;
        let rdt = n - 1; // open's RDT write
        for (const count of batches) {
          const lengths = Array.from({ length: count }, (_, k) => 60 + ((total + k) % 1000));
          nicWritesBack(memory, at, lengths, n);
          at = (at + count) % n;
          stack.frames.length = 0;
          driver.poll(stack, 0);
          expect(stack.frames).toEqual(lengths);
          total += count;
          for (const [reg, value] of drain(driver)) if (reg === BAR0 + VF_REG.VFRDT) rdt = value;
          // Open's RDT is n − 1; every refill then leaves next_to_use = next_to_clean − 1, RDT one below.
          expect(rdt).toBe(total === 0 ? n - 1 : (((total - 2) % n) + n) % n);
        }
      }),
    );
  });
});

describe('the TX ring wraps and fills (ixgbevf_xmit_frame, ixgbevf_clean_tx_irq)', () => {
  it('TDT follows next_to_use across the end of the ring', () => {
    const { driver, memory } = makeDriver(DYNAMIC, { tx: 8 });
    for (let i = 0; i < 7; i++) {
      driver.txSlot();
      driver.xmit(60);
    }
    drain(driver);
    nicCompletesTx(memory, 0, 7, 8);
    driver.txHardIrq();
    expect(driver.lastTxCleaned).toBe(7);
    drain(driver);
    const tdt: number[] = [];
    for (let i = 0; i < 3; i++) {
      expect(driver.txSlot()).toBe(GUEST_LAYOUT.TX_BUFFERS + ((7 + i) % 8) * GUEST_LAYOUT.BUFFER_SIZE);
      driver.xmit(70 + i);
    }
    for (const w of pending(driver)) tdt.push(w[1]);
    expect(tdt).toEqual([0, 1, 2]);
    expect(memory.read16(txDesc(0) + TX_DESC.LENGTH)).toBe(71);
  });

  it('a full ring answers TX_SLOT.RING_FULL until the TX IRQ reclaims a descriptor', () => {
    const { driver, memory } = makeDriver(DYNAMIC, { tx: 8 });
    for (let i = 0; i < 7; i++) {
      driver.txSlot();
      driver.xmit(60);
    }
    expect(driver.txSlot()).toBe(TX_SLOT.RING_FULL);
    expect(driver.counters.txRingFull.value).toBe(1);
    nicCompletesTx(memory, 0, 1, 8);
    driver.txHardIrq();
    expect(driver.txSlot()).toBe(GUEST_LAYOUT.TX_BUFFERS + 7 * GUEST_LAYOUT.BUFFER_SIZE);
  });
});

describe('frames built into TX buffers (FrameTransmitter)', () => {
  function tcpFields(payloadLength: number) {
    const f = makeTcpSegmentFields();
    Object.assign(f, {
      srcMac: GUEST.mac,
      dstMac: PEER.mac,
      srcIp: GUEST.ip,
      dstIp: PEER.ip,
      srcPort: 80,
      dstPort: 4000,
    });
    f.payloadLength = payloadLength;
    return f;
  }

  it('a TCP segment: its headers, then its payload from the send ring, wrapped at the ring’s end', () => {
    const { driver, memory } = makeDriver();
    const x = new FrameTransmitter(memory, driver);
    const ring = Uint8Array.from({ length: 16 }, (_, i) => i);
    const hdr = tcpHeadersLength(true);
    expect(x.tcp(tcpFields(6), ring, 13)).toBe(hdr + 6);
    expect(memory.read16(txDesc(0) + TX_DESC.LENGTH)).toBe(hdr + 6);
    const frame = new Uint8Array(hdr + 6);
    memory.readBytes(GUEST_LAYOUT.TX_BUFFERS, frame, 0, frame.length);
    expect([...frame.subarray(hdr)]).toEqual([13, 14, 15, 0, 1, 2]);
    const f = makeTcpSegmentFields();
    expect(readTcpSegment(frame, frame.length, f)).toBe(true);
    expect([f.srcPort, f.dstPort, f.payloadLength]).toEqual([80, 4000, 6]);
    expect(pending(driver)).toEqual([[VF_REG.VFTDT, 1]]);
  });

  it('a UDP datagram: only its headers are written, the payload is what the buffer held', () => {
    const { driver, memory } = makeDriver();
    const x = new FrameTransmitter(memory, driver);
    memory.writeBytes(GUEST_LAYOUT.TX_BUFFERS, new Uint8Array(200).fill(0xaa), 0, 200);
    const f = makeUdpDatagramFields();
    Object.assign(f, {
      srcMac: GUEST.mac,
      dstMac: PEER.mac,
      srcIp: GUEST.ip,
      dstIp: PEER.ip,
      srcPort: 53,
      dstPort: 5353,
    });
    f.payloadLength = 100;
    expect(x.udp(f)).toBe(UDP_HEADERS_LEN + 100);
    const frame = new Uint8Array(UDP_HEADERS_LEN + 100);
    memory.readBytes(GUEST_LAYOUT.TX_BUFFERS, frame, 0, frame.length);
    const back = makeUdpDatagramFields();
    expect(readUdpDatagram(frame, frame.length, back)).toBe(true);
    expect([back.srcPort, back.dstPort, back.payloadLength]).toEqual([53, 5353, 100]);
    expect(frame.subarray(UDP_HEADERS_LEN).every((b) => b === 0xaa)).toBe(true);
  });

  it('every datagram takes the next IP ID, TCP and UDP alike; a refused one takes none', () => {
    const { driver, memory } = makeDriver(DYNAMIC, { tx: 8 });
    const x = new FrameTransmitter(memory, driver);
    const t = tcpFields(0);
    const u = makeUdpDatagramFields();
    x.tcp(t, null, 0);
    expect(t.ipId).toBe(1);
    x.udp(u);
    expect(u.ipId).toBe(2);
    for (let i = 0; i < 5; i++) x.tcp(t, null, 0);
    expect(x.lastIpId).toBe(7);
    expect(x.tcp(t, null, 0)).toBe(0); // the ring is full (7 of 8)
    expect(x.lastIpId).toBe(7);
    expect(driver.pendingWrites).toBe(7);
  });
});
