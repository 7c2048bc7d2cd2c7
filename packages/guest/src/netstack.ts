/**
 * The kernel's network stack above the VF driver, put together from its parts: the receive
 * path of each frame (napi_gro_receive: socket demultiplexing, else GRO into the stream
 * receiver), the stream receiver's ACKs, the socket layer's transmit path and the stack
 * cycles its protocol work runs up. CPU-free: the interrupt routines and the idle loop call it
 * and charge what it returns.
 */
import {
  makeTcpSegmentFields,
  makeUdpDatagramFields,
  readTcpSegment,
  type TcpSegmentFields,
  type UdpDatagramFields,
} from '@exitless/net';
import type { Counter, ScopedStats } from '@exitless/sim';
import type { PhysicalMemory } from '@exitless/x86';
import { StreamAckBuilder } from './ack.js';
import { GuestConfigError, validateTcpServerOptions, validateUdpSocketOptions } from './config.js';
import type { GuestCosts } from './costs.js';
import { SOCKET_ROUTE, SocketTable } from './demux.js';
import { TcpGro } from './gro.js';
import type { Ixgbevf, IxgbevfStack } from './ixgbevf.js';
import {
  type SocketTransmit,
  TcpListener,
  type TcpServerOptions,
  UdpSocket,
  type UdpSocketOptions,
} from './sockets.js';
import type { TcpReceiver } from './tcp.js';
import { FrameTransmitter } from './xmit.js';

/** Options of the guest kernel's {@link NetStack}. */
export interface NetStackOptions {
  /** The guest's physical memory (the frame buffers). */
  readonly memory: PhysicalMemory;
  /** The driver frames are sent through. */
  readonly driver: Pick<Ixgbevf, 'txSlot' | 'xmit'>;
  /** The stream receiver (netperf TCP_STREAM's socket). */
  readonly tcp: TcpReceiver;
  /** The guest's MAC and IPv4 address. */
  readonly mac: number;
  /** The guest's IPv4 address. */
  readonly ip: number;
  /** The kernel's cycle costs. */
  readonly costs: GuestCosts;
  /** The kernel's scope: rx.skbs and udp.no-port are counted there. */
  readonly stats: ScopedStats;
}

/** The network stack's counters. */
export interface NetStackCounters {
  /** skbs GRO handed to the stream receiver's TCP (rx.skbs). */
  readonly rxSkbs: Counter;
  /** UDP datagrams for a port no socket is bound to (udp.no-port). */
  readonly udpNoPort: Counter;
}

/** The network stack: what the driver hands frames to, and what the sockets send through. */
export class NetStack implements IxgbevfStack {
  /** The stream receiver (netperf TCP_STREAM's socket). */
  readonly tcp: TcpReceiver;
  /** Generic receive offload: merges the stream receiver's contiguous TCP segments into skbs. */
  readonly gro: TcpGro;
  /** Builds the stream receiver's ACKs. */
  readonly acks: StreamAckBuilder;
  /** The bound UDP sockets and listening TCP sockets. */
  readonly sockets: SocketTable;
  /** Puts the stack's frames on the driver's TX ring. */
  readonly xmit: FrameTransmitter;
  /** The stack's counters. */
  readonly counters: NetStackCounters;
  /** What the socket layer sends through (SocketTransmit): charges its frames to the stack. */
  readonly transport: SocketTransmit;

  private readonly memory: PhysicalMemory;
  private readonly costs: GuestCosts;
  private readonly mac: number;
  private readonly ip: number;
  private readonly headerScratch = new Uint8Array(128);
  private readonly seg = makeTcpSegmentFields();
  /** Stack cycles the socket layer ran up in the current context, charged at its end. */
  private stackCycles = 0;
  /** Time of the current entry into the kernel (poll, tick, system call), ps. */
  private nowPs = 0;

  constructor(options: NetStackOptions) {
    this.memory = options.memory;
    this.costs = options.costs;
    this.tcp = options.tcp;
    this.mac = options.mac;
    this.ip = options.ip;
    const s = options.stats;
    this.counters = { rxSkbs: s.counter('rx.skbs'), udpNoPort: s.counter('udp.no-port') };
    this.gro = new TcpGro(this.tcp, this.counters.rxSkbs);
    this.acks = new StreamAckBuilder(options.mac, options.ip);
    this.sockets = new SocketTable(this.counters.udpNoPort);
    this.xmit = new FrameTransmitter(options.memory, options.driver);
    this.transport = new StackTransport(
      (f, ring, start) => this.charged(this.xmit.tcp(f, ring, start)),
      (f) => this.charged(this.xmit.udp(f)),
      (cycles) => {
        this.stackCycles += cycles;
      },
      () => this.nowPs,
    );
  }

  /** A frame of `length` bytes went to the TX ring (0: the ring was full): its transmit cost is the stack's. */
  private charged(length: number): boolean {
    if (length === 0) return false;
    this.stackCycles += this.costs.txPerFrame;
    return true;
  }

  /** True once any socket is bound or listening. */
  get usesSockets(): boolean {
    return this.sockets.inUse;
  }

  /** The kernel is entered at `now` (a poll, the tick, a system call): the sockets' clock. */
  enter(now: number): void {
    this.nowPs = now;
  }

  /** Returns and clears the stack cycles the socket layer ran up in the current context. */
  takeStackCycles(): number {
    const c = this.stackCycles;
    this.stackCycles = 0;
    return c;
  }

  /**
   * napi_gro_receive for one frame the driver took from the RX ring (IxgbevfStack): its
   * headers are read from the buffer the NIC wrote by DMA; a frame for a socket goes to the
   * socket layer, anything else to the stream receiver through GRO. Returns the cycles of an
   * skb this frame made GRO flush (IP and TCP receive); the socket layer's are charged with
   * the poll.
   */
  receive(length: number, buffer: number, now: number): number {
    this.nowPs = now;
    const h = this.headerScratch;
    this.memory.readBytes(buffer, h, 0, Math.min(length, h.length));
    if (this.sockets.inUse) {
      const route = this.sockets.classify(h, length);
      if (route !== SOCKET_ROUTE.STREAM) {
        this.stackCycles += route === SOCKET_ROUTE.TCP ? this.costs.rxPerSkb : this.costs.udpRxPerDatagram;
        this.sockets.deliver(route, this.memory, buffer);
        return 0;
      }
    }
    const seg = this.seg;
    if (!readTcpSegment(h, length, seg)) return 0;
    this.acks.learnPeer(seg);
    return this.gro.receive(seg, now) > 0 ? this.costs.rxPerSkb : 0;
  }

  /**
   * The end of a NAPI poll: the skb GRO holds goes to TCP, and the ACK TCP then owes is sent.
   * Returns the cycles (the skb's, the ACK's); the socket layer's are taken separately.
   */
  pollDone(now: number): number {
    this.nowPs = now;
    let cycles = this.gro.flush(now) > 0 ? this.costs.rxPerSkb : 0;
    // An ACK due after this skb goes out with the current RCV.NXT (tcp_ack_snd_check per skb).
    if (this.tcp.ackNow && this.queueAck()) cycles += this.costs.txPerFrame;
    return cycles;
  }

  /**
   * After the TX hard IRQ reclaimed descriptors: connections a full TX ring held up go on
   * (the driver waking its stopped queue). Returns the socket layer's cycles.
   */
  txCleaned(now: number): number {
    if (!this.sockets.inUse) return 0;
    this.nowPs = now;
    const listeners = this.sockets.allListeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]!.retryBlocked();
    return this.takeStackCycles();
  }

  /** The TCP timers on the tick; true when the stream receiver's delayed ACK was queued. */
  timerTick(now: number): boolean {
    if (this.sockets.inUse) {
      this.nowPs = now;
      const listeners = this.sockets.allListeners;
      for (let i = 0; i < listeners.length; i++) listeners[i]!.tick(now);
    }
    return this.tcp.delayedAckDue(now) && this.queueAck();
  }

  /** After the application read from the stream (tcp_cleanup_rbuf): the window update, if one is due; true when queued. */
  windowUpdate(): boolean {
    return this.tcp.windowUpdateDue() && this.queueAck();
  }

  /**
   * Builds the stream receiver's ACK in the next TX buffer and hands it to the driver (its
   * descriptor in memory; the TDT write that passes it to the NIC is left pending, a separate
   * MMIO operation). Returns false when the ring is full (counted) or no peer is known yet.
   */
  queueAck(): boolean {
    const ack = this.acks.build(this.tcp, this.gro.lastTsVal);
    if (ack === null) return false;
    if (this.xmit.tcp(ack, null, 0) === 0) return false;
    this.tcp.ackSent();
    return true;
  }

  /** listen(): a TCP server socket on `options.port`, its connections from a pool of `options.maxConnections`. */
  listenTcp(options: TcpServerOptions, stats: ScopedStats): TcpListener {
    validateTcpServerOptions(options);
    if (this.sockets.listener(options.port) !== undefined) {
      throw new GuestConfigError(`TCP port ${options.port} already has a listener: use another port`);
    }
    const l = new TcpListener(
      options,
      this.transport,
      { mac: this.mac, ip: this.ip },
      this.costs.tcpConnectionSetup,
      makeTcpSegmentFields(),
      stats,
    );
    this.sockets.addListener(l);
    return l;
  }

  /** bind(): a UDP socket on `options.port`. */
  bindUdp(options: UdpSocketOptions, stats: ScopedStats): UdpSocket {
    validateUdpSocketOptions(options);
    if (this.sockets.udpSocket(options.port) !== undefined) {
      throw new GuestConfigError(`UDP port ${options.port} is already bound: use another port`);
    }
    const u = new UdpSocket(
      options,
      this.transport,
      { mac: this.mac, ip: this.ip },
      makeUdpDatagramFields(),
      stats,
    );
    this.sockets.addUdpSocket(u);
    return u;
  }
}

/**
 * What the sockets send through and charge to. A class, not an object literal: V8 keeps an
 * object literal with a getter in dictionary mode, and every load from it is a hash lookup.
 */
class StackTransport implements SocketTransmit {
  constructor(
    readonly transmitTcp: (f: TcpSegmentFields, ring: Uint8Array | null, start: number) => boolean,
    readonly transmitUdp: (f: UdpDatagramFields) => boolean,
    readonly charge: (cycles: number) => void,
    private readonly clock: () => number,
  ) {}

  get now(): number {
    return this.clock();
  }
}
