/**
 * Socket demultiplexing (ip_local_deliver → udp_rcv / tcp_v4_rcv with their socket lookups):
 * which socket a received frame belongs to. A UDP datagram goes to the socket bound to its
 * destination port (none: counted, as Linux would answer ICMP port unreachable, which is not
 * modeled); a TCP segment to the listener on its destination port, which finds the connection
 * by the peer's address and port; anything else — a TCP segment for no listening port, a frame
 * that is not IPv4 — to the stream receiver. CPU-free; no object created per frame.
 */
import {
  ETH_HEADER_LEN,
  makeTcpSegmentFields,
  makeUdpDatagramFields,
  OFFSET,
  readTcpSegment,
  readUdpDatagram,
  type TcpSegmentFields,
  type UdpDatagramFields,
} from '@exitless/net';
import type { Counter } from '@exitless/sim';
import type { PhysicalMemory } from '@exitless/x86';
import type { TcpListener, UdpSocket } from './sockets.js';

/** Where `SocketTable.classify` sends a frame. */
export const SOCKET_ROUTE = {
  /** Not for the socket layer: the stream receiver (and its GRO) gets it. */
  STREAM: 0,
  /** A UDP datagram for a bound socket. */
  UDP: 1,
  /** A UDP datagram for a port no socket is bound to (dropped, counted). */
  UDP_NO_PORT: 2,
  /** A TCP segment for a listening port. */
  TCP: 3,
} as const;
/** Where a received frame goes: one of the values of {@link SOCKET_ROUTE}. */
export type SocketRoute = (typeof SOCKET_ROUTE)[keyof typeof SOCKET_ROUTE];

/** The kernel's bound UDP sockets and listening TCP sockets, and the lookup of a received frame's socket. */
export class SocketTable {
  private readonly listeners: TcpListener[] = [];
  private readonly udpSockets: UdpSocket[] = [];
  /** The frame `classify` looked at last: its UDP or TCP fields, its target and the TCP payload's offset. */
  readonly udp: UdpDatagramFields = makeUdpDatagramFields();
  /** The TCP fields of the frame `classify` looked at last. */
  readonly tcp: TcpSegmentFields = makeTcpSegmentFields();
  private udpTarget: UdpSocket | null = null;
  private tcpTarget: TcpListener | null = null;
  private payloadOffset = 0;
  private readonly noPort: Counter;

  /** `noPort` counts UDP datagrams for unbound ports (udp.no-port). */
  constructor(noPort: Counter) {
    this.noPort = noPort;
  }

  /** True once any socket is bound or listening. */
  get inUse(): boolean {
    return this.listeners.length > 0 || this.udpSockets.length > 0;
  }

  /** The listener on `port`, if any. */
  listener(port: number): TcpListener | undefined {
    return this.listeners.find((l) => l.port === port);
  }

  /** The UDP socket bound to `port`, if any. */
  udpSocket(port: number): UdpSocket | undefined {
    return this.udpSockets.find((u) => u.port === port);
  }

  /** Adds a listening TCP socket. */
  addListener(l: TcpListener): void {
    this.listeners.push(l);
  }

  /** Adds a bound UDP socket. */
  addUdpSocket(u: UdpSocket): void {
    this.udpSockets.push(u);
  }

  /** Every listener (for the TCP timers and the retries after TX completions). */
  get allListeners(): readonly TcpListener[] {
    return this.listeners;
  }

  /**
   * Looks up the socket of the frame whose first bytes are `h` (`length` bytes in all). UDP is
   * looked at only while a UDP socket is bound, TCP only while a listener is.
   */
  classify(h: Uint8Array, length: number): SocketRoute {
    this.udpTarget = null;
    this.tcpTarget = null;
    if (this.udpSockets.length > 0 && readUdpDatagram(h, length, this.udp)) {
      const port = this.udp.dstPort;
      for (let i = 0; i < this.udpSockets.length; i++) {
        const u = this.udpSockets[i]!;
        if (u.port === port) {
          this.udpTarget = u;
          return SOCKET_ROUTE.UDP;
        }
      }
      return SOCKET_ROUTE.UDP_NO_PORT;
    }
    if (this.listeners.length === 0) return SOCKET_ROUTE.STREAM;
    const seg = this.tcp;
    if (!readTcpSegment(h, length, seg)) return SOCKET_ROUTE.STREAM;
    for (let i = 0; i < this.listeners.length; i++) {
      const l = this.listeners[i]!;
      if (l.port !== seg.dstPort) continue;
      // Header lengths from the IHL and data-offset fields (RFC 791, RFC 9293 §3.1).
      const ihl = (h[OFFSET.IP]! & 0xf) * 4;
      const doff = (h[OFFSET.IP + ihl + 12]! >>> 4) * 4;
      this.payloadOffset = ETH_HEADER_LEN + ihl + doff;
      this.tcpTarget = l;
      return SOCKET_ROUTE.TCP;
    }
    return SOCKET_ROUTE.STREAM;
  }

  /**
   * Delivers the frame `classify` just looked at (route `route`) to its socket: the datagram
   * to the UDP socket's queue, the segment to the listener with its payload at guest-physical
   * `buffer` + the header lengths (where the NIC's DMA put it). Runs in the NET_RX softirq.
   */
  deliver(route: SocketRoute, memory: PhysicalMemory, buffer: number): void {
    switch (route) {
      case SOCKET_ROUTE.UDP:
        this.udpTarget!.deliver(this.udp);
        return;
      case SOCKET_ROUTE.UDP_NO_PORT:
        this.noPort.inc();
        return;
      case SOCKET_ROUTE.TCP:
        this.tcpTarget!.receive(this.tcp, memory, buffer + this.payloadOffset);
        return;
      default:
        return;
    }
  }
}
