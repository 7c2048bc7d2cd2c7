import { ClockDomain, type Counter, type ScopedStats, type Simulator } from '@exitless/sim';
import { WorkloadConfigError } from './errors.js';

/**
 * One core of a load generator's machine as a single FIFO server: each piece of work
 * starts when the work queued before it has finished (or now, if the core is idle), and
 * takes its cycles at the core's clock. Nothing preempts: an interrupt's work waits for
 * what is already queued, which is at most one reaction of the application (its system
 * calls and the skbs they post) — the run-to-completion approximation of a kernel that
 * would preempt it.
 *
 * No events: a piece of work is arithmetic on one number (the time the queue drains), and
 * whoever queued it learns when it completes.
 */
export class PeerCpu {
  /** The core's clock, Hz. */
  readonly hz: number;
  private readonly sim: Simulator;
  private readonly clock: ClockDomain;
  private _freeAt = 0;
  private readonly busy: Counter;
  private readonly pieces: Counter;

  constructor(sim: Simulator, hz: number, stats: ScopedStats) {
    if (!Number.isFinite(hz) || hz <= 0) {
      throw new WorkloadConfigError(`peer cpu: hz must be a positive number of Hz, got ${hz}`);
    }
    this.sim = sim;
    this.hz = hz;
    this.clock = new ClockDomain(hz);
    this.busy = stats.counter('busy-ps');
    this.pieces = stats.counter('work-items');
  }

  /** When the work queued so far completes, ps (at or before now when the core is idle). */
  get freeAt(): number {
    return this._freeAt;
  }

  /** When work queued now would start, ps: now, or the end of the queue. */
  get startTime(): number {
    const now = this.sim.now;
    return Math.max(this._freeAt, now);
  }

  /** Picoseconds the core has been busy since the statistics were last reset (`busy-ps`). */
  get busyPs(): number {
    return this.busy.value;
  }

  /** Queues `cycles` of work after what is queued; returns the time it completes, ps. */
  run(cycles: number): number {
    return this.runAt(this.sim.now, cycles);
  }

  /**
   * Queues `cycles` of work that cannot start before `at` (ps; the core idles until then if
   * nothing else is queued); returns the time it completes.
   */
  runAt(at: number, cycles: number): number {
    let start = this.startTime;
    if (at > start) start = at;
    if (!(cycles > 0)) return start;
    const end = start + this.clock.cyclesToPs(cycles);
    this._freeAt = end;
    this.busy.add(end - start);
    this.pieces.inc();
    return end;
  }
}
