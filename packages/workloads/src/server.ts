import type {
  GuestApplication,
  GuestCosts,
  TcpConnection,
  TcpListener,
  TcpServerOptions,
} from '@exitless/guest';
import type { Counter, ScopedStats } from '@exitless/sim';
import { WorkloadConfigError } from './errors.js';

/** The part of a guest kernel a TCP server uses (a `GuestKernel` is one). */
export interface TcpServerKernel {
  /**
   * The costs of the system calls a server makes (recv, send, accept, close, the event wait) and of copies.
   */
  readonly costs: Pick<
    GuestCosts,
    | 'recvSyscall'
    | 'copyPerByte'
    | 'sendSyscall'
    | 'copyFromUserPerByte'
    | 'acceptSyscall'
    | 'closeSyscall'
    | 'eventWait'
  >;
  /** Opens a listening TCP socket. */
  listenTcp(options: TcpServerOptions, stats?: ScopedStats): TcpListener;
}

/** The costs a server's burst is made of. */
export type ServerCosts = TcpServerKernel['costs'];

/**
 * A server that is one event loop over the guest's sockets (libevent/epoll-style, as
 * memcached is and as Apache's workers are modeled): each burst handles one event — an
 * accept() of a new connection, or one ready connection. Subclasses say what an accepted
 * connection needs (`onAccept`) and how a ready one is served (`serve`). Counters
 * `accepted` and `closed`.
 */
export abstract class EventLoopServer implements GuestApplication {
  /** The application's name, for reports. */
  abstract readonly name: string;
  private kernel: TcpServerKernel | null = null;
  private listener: TcpListener | null = null;
  private readonly tcp: TcpServerOptions;
  private readonly acceptedCount: Counter;
  private readonly closedCount: Counter;

  constructor(tcp: TcpServerOptions, stats: ScopedStats) {
    this.tcp = tcp;
    this.acceptedCount = stats.counter('accepted');
    this.closedCount = stats.counter('closed');
  }

  attach(kernel: TcpServerKernel): void {
    this.kernel = kernel;
    this.listener = kernel.listenTcp(this.tcp);
  }

  runnable(): boolean {
    return this.listener?.pending === true;
  }

  /** Segments the server's TCP sent again (0 before it listens). */
  get retransmittedSegments(): number {
    return this.listener?.counters.retransmittedSegments.value ?? 0;
  }

  nextBurst(_now: number): number {
    const l = this.listener;
    const k = this.kernel;
    if (l === null || k === null)
      throw new WorkloadConfigError(`${this.name}: the server runs before attach()`);
    const c = k.costs;
    const conn = l.accept();
    if (conn !== null) {
      this.acceptedCount.inc();
      this.onAccept(conn.id);
      return c.eventWait + c.acceptSyscall;
    }
    const r = l.nextReady();
    if (r === null) return 0;
    return c.eventWait + this.serve(r, c);
  }

  /** A connection with pool id `id` was accepted: make its per-connection state ready. */
  protected abstract onAccept(id: number): void;

  /** Serves one ready connection; returns the cycles. */
  protected abstract serve(conn: TcpConnection, c: ServerCosts): number;

  /** close(): returns its cost. */
  protected close(conn: TcpConnection, c: ServerCosts): number {
    conn.close();
    this.closedCount.inc();
    return c.closeSyscall;
  }
}
