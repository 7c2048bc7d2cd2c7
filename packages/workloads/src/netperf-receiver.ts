import type { GuestApplication, GuestCosts } from '@exitless/guest';
import type { Counter, ScopedStats } from '@exitless/sim';
import { WorkloadConfigError } from './errors.js';

/** What netperf's receiver reads from: the connected socket's receive queue (the guest's TcpReceiver is one). */
export interface NetperfSocket {
  /** Bytes queued for the application. */
  readonly queued: number;
  /** Takes up to `max` queued bytes; returns how many it took. */
  read(max: number): number;
}

/**
 * The part of a guest kernel the receiver uses: its socket and the costs of a recv()
 * (a `GuestKernel` is one; a test can pass a plain object).
 */
export interface NetperfKernel {
  /** The data connection's socket. */
  readonly socket: NetperfSocket;
  /** The costs of a recv(): the syscall and the copy per byte. */
  readonly costs: Pick<GuestCosts, 'recvSyscall' | 'copyPerByte'>;
}

/** Options of a {@link NetperfReceiver}. */
export interface NetperfReceiverOptions {
  /**
   * Bytes asked for by each recv() call (netperf's `-M`; its default is the receive
   * socket buffer size, so the machine passes tcp.receiveBuffer unless told otherwise).
   */
  readonly recvSize: number;
  /** Where the receiver's counters live (e.g. `guest0.netperf`). */
  readonly stats: ScopedStats;
}

/**
 * netperf's TCP_STREAM receiver (recv_tcp_stream in nettest_bsd.c): a loop of blocking
 * recv() calls on the data connection, each asking for `recvSize` bytes and taking
 * whatever is queued, up to that. One burst of the application is one recv() that found
 * data; its cost is the syscall's fixed cost plus the copy to user space per byte, both
 * from the kernel's costs. When nothing is queued the task sleeps in recv() (the kernel
 * wakes it when the socket has data: `runnable()`).
 */
export class NetperfReceiver implements GuestApplication {
  /** The application's name, for reports. */
  readonly name = 'netperf-tcp-stream-receiver';
  /** Bytes asked for by each recv() call. */
  readonly recvSize: number;
  private kernel: NetperfKernel | null = null;
  private readonly recvCalls: Counter;
  private readonly bytes: Counter;
  /** What it counts: bytes the application read (the throughput's numerator) and its recv() calls. */
  readonly counters: {
    /** Bytes the application read. */
    readonly bytes: Counter;
    /** recv() calls that returned data. */
    readonly recvCalls: Counter;
  };

  constructor(options: NetperfReceiverOptions) {
    if (!Number.isSafeInteger(options.recvSize) || options.recvSize < 1) {
      throw new WorkloadConfigError(
        `netperf: recvSize must be a positive integer number of bytes (netperf -M), got ${options.recvSize}`,
      );
    }
    this.recvSize = options.recvSize;
    this.recvCalls = options.stats.counter('recv-calls');
    this.bytes = options.stats.counter('bytes');
    this.counters = { bytes: this.bytes, recvCalls: this.recvCalls };
  }

  attach(kernel: NetperfKernel): void {
    this.kernel = kernel;
  }

  /** recv() has data to return. */
  runnable(): boolean {
    return this.kernel !== null && this.kernel.socket.queued > 0;
  }

  /** One recv(): copies up to recvSize queued bytes; returns its cycles (0 when it would block). */
  nextBurst(_now: number): number {
    const k = this.kernel;
    if (k === null) {
      throw new WorkloadConfigError(
        'netperf: the receiver runs before attach(): pass it to a GuestKernel as its app',
      );
    }
    const n = k.socket.read(this.recvSize);
    if (n === 0) return 0;
    this.recvCalls.inc();
    this.bytes.add(n);
    return k.costs.recvSyscall + n * k.costs.copyPerByte;
  }

  /** recv() calls that returned data, since the last Stats reset. */
  get recvCallCount(): number {
    return this.recvCalls.value;
  }

  /** Bytes received by the application, since the last Stats reset. */
  get bytesReceived(): number {
    return this.bytes.value;
  }
}
