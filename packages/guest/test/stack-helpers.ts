import {
  ipv4,
  makeTcpSegmentFields,
  makeUdpDatagramFields,
  readTcpSegment,
  TCP_FLAG,
  type TcpSegmentFields,
  tcpHeadersLength,
  type UdpDatagramFields,
  writeTcpSegment,
  writeUdpDatagram,
} from '@exitless/net';
import { TX_DESC } from '@exitless/nic';
import { ms } from '@exitless/sim';
import type { SparseMemory } from '@exitless/x86';
import { GUEST_LAYOUT, NetStack, TcpReceiver, type TcpReceiverOptions } from '../src/index.js';
import { COSTS, makeDriver, type TestDriver } from './driver-helpers.js';

export const GUEST: { readonly mac: number; readonly ip: number } = {
  mac: 0x02_00_00_00_00_01,
  ip: ipv4(10, 0, 0, 1),
};
export const PEER: { readonly mac: number; readonly ip: number } = {
  mac: 0x02_00_00_00_00_02,
  ip: ipv4(10, 0, 0, 2),
};
/** netperf's data connection: the peer's port and the guest's. */
export const STREAM = { peerPort: 40_000, guestPort: 12_866 };
export const MSS = 1448;

export const TCP: TcpReceiverOptions = {
  receiveBuffer: 262_144,
  windowScale: 7,
  mss: MSS,
  delayedAckPs: ms(40),
};

export interface TestStack extends Omit<TestDriver, 'stack'> {
  readonly tcp: TcpReceiver;
  readonly net: NetStack;
  /** The NIC's DMA of `frame` into the next RX buffer, then the driver handing it to the stack; returns its cycles. */
  deliver(frame: Uint8Array, now?: number): number;
  /** A counter's value by its full name. */
  counter(name: string): number;
}

/** A NetStack over a real driver (rings in sparse memory), the stream receiver behind it. */
export function makeStack(
  tcp: TcpReceiverOptions = TCP,
  rings: { rx?: number; tx?: number } = {},
): TestStack {
  const t = makeDriver(undefined, rings);
  const receiver = new TcpReceiver(tcp, t.stats.scope('guest0.tcp'));
  const net = new NetStack({
    memory: t.memory,
    driver: t.driver,
    tcp: receiver,
    mac: GUEST.mac,
    ip: GUEST.ip,
    costs: COSTS,
    stats: t.stats.scope('guest0'),
  });
  let rxIndex = 0;
  /** The NIC's DMA of `frame` into the next RX buffer, then the driver handing it to the stack. */
  const deliver = (frame: Uint8Array, now = 0): number => {
    const buffer = GUEST_LAYOUT.RX_BUFFERS + rxIndex * GUEST_LAYOUT.BUFFER_SIZE;
    rxIndex = (rxIndex + 1) % (rings.rx ?? 512);
    t.memory.writeBytes(buffer, frame, 0, frame.length);
    return net.receive(frame.length, buffer, now);
  };
  const counter = (name: string) => t.stats.counterValue(name);
  return { driver: t.driver, memory: t.memory, stats: t.stats, tcp: receiver, net, deliver, counter };
}

/** A frame from the peer: a TCP segment (defaults: the stream's ports, ACK, timestamps) with `payload` bytes. */
export function tcpFrame(fields: Partial<TcpSegmentFields>, payload: Uint8Array | number = 0): Uint8Array {
  const f = makeTcpSegmentFields();
  Object.assign(f, {
    srcMac: PEER.mac,
    dstMac: GUEST.mac,
    srcIp: PEER.ip,
    dstIp: GUEST.ip,
    srcPort: STREAM.peerPort,
    dstPort: STREAM.guestPort,
    flags: TCP_FLAG.ACK,
    window: 0xffff,
    timestamps: true,
    ...fields,
  });
  const bytes = typeof payload === 'number' ? new Uint8Array(payload) : payload;
  f.payloadLength = bytes.length;
  const hdr = tcpHeadersLength(f.timestamps);
  const out = new Uint8Array(Math.max(hdr + bytes.length, 60));
  writeTcpSegment(out, f);
  out.set(bytes, hdr);
  return out;
}

/** A UDP datagram from the peer to `dstPort`, `length` payload bytes. */
export function udpFrame(dstPort: number, length: number, srcPort = 50_000): Uint8Array {
  const f: UdpDatagramFields = makeUdpDatagramFields();
  Object.assign(f, {
    srcMac: PEER.mac,
    dstMac: GUEST.mac,
    srcIp: PEER.ip,
    dstIp: GUEST.ip,
    srcPort,
    dstPort,
    payloadLength: length,
  });
  const out = new Uint8Array(Math.max(42 + length, 60));
  writeUdpDatagram(out, f);
  return out;
}

/** The frame in TX descriptor `i`: its length from the descriptor, its TCP fields from the buffer. */
export function txSegment(
  memory: SparseMemory,
  i: number,
): TcpSegmentFields & { readonly frameLength: number } {
  const d = GUEST_LAYOUT.TX_RING + i * TX_DESC.SIZE;
  const frameLength = memory.read16(d + TX_DESC.LENGTH);
  const bytes = new Uint8Array(frameLength);
  memory.readBytes(memory.read32(d), bytes, 0, frameLength);
  const f = makeTcpSegmentFields();
  if (!readTcpSegment(bytes, frameLength, f)) throw new Error(`TX descriptor ${i} holds no TCP segment`);
  return { ...f, frameLength };
}
