import { SimulationError } from './errors.js';
import { MAX_TIME_PS } from './time.js';

/** Lowest and highest event priority. At equal times, a lower priority value runs first. */
export const MIN_PRIORITY = -128;
export const MAX_PRIORITY = 127;

// Heap order key: time first, then (priority, sequence) packed into one exact double:
// 8 bits of priority above 45 bits of insertion sequence (2^45 ≈ 3.5e13 events per run).
const SEQ_BITS = 2 ** 45;
const MAX_SEQ = SEQ_BITS - 1;

const STATE_IDLE = 0;
const STATE_SCHEDULED = 1;
const STATE_FIRING = 2;

/**
 * A reusable event. Components create their events once and schedule them over and over,
 * so the steady state allocates nothing (gem5's `Event` objects work the same way).
 */
export class SimEvent {
  /** A name for traces and error messages. */
  readonly name: string;
  /** Ties at equal time run in increasing priority, then in the order they were scheduled. */
  readonly priority: number;
  /** Called when the event fires; it may schedule this or any other event. */
  callback: () => void;

  /** @internal position in the heap, −1 when not in it */
  heapIndex = -1;
  /** @internal */
  state: number = STATE_IDLE;
  /** @internal the time it is (or was last) scheduled for */
  time = 0;

  constructor(name: string, callback: () => void, priority = 0) {
    if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
      throw new SimulationError(
        'bad-priority',
        `event '${name}': priority must be an integer in [${MIN_PRIORITY}, ${MAX_PRIORITY}], got ${priority}`,
      );
    }
    this.name = name;
    this.priority = priority;
    this.callback = callback;
  }

  /** True while the event waits in the queue (false while its own callback runs). */
  get scheduled(): boolean {
    return this.state === STATE_SCHEDULED;
  }

  /** The time the event is scheduled for (meaningful while `scheduled`). */
  get when(): number {
    return this.time;
  }
}

/**
 * The discrete-event kernel: one global picosecond clock and an indexed binary heap of
 * events ordered by (time, priority, insertion sequence), so that every run with the same
 * inputs processes the same events in the same order.
 */
export class Simulator {
  private _now = 0;
  private seq = 0;
  private size = 0;
  private heap: SimEvent[] = [];
  private keyTime: Float64Array;
  private keyOrd: Float64Array;
  private running = false;
  private stopRequested = false;
  private _eventsProcessed = 0;
  private firing: SimEvent | null = null;

  constructor(initialCapacity = 1024) {
    const cap = Math.max(16, initialCapacity | 0);
    this.keyTime = new Float64Array(cap);
    this.keyOrd = new Float64Array(cap);
  }

  /** The current simulated time in picoseconds. */
  get now(): number {
    return this._now;
  }

  /** Events waiting in the queue. */
  get pending(): number {
    const f = this.firing;
    return f !== null && f.state === STATE_FIRING ? this.size - 1 : this.size;
  }

  /** Events fired since the simulator was created. */
  get eventsProcessed(): number {
    return this._eventsProcessed;
  }

  /** Creates a reusable event (a convenience for `new SimEvent`). */
  event(name: string, callback: () => void, priority = 0): SimEvent {
    return new SimEvent(name, callback, priority);
  }

  /** Schedules an idle event at absolute time `time` (ps). */
  schedule(ev: SimEvent, time: number): void {
    if (ev.state === STATE_SCHEDULED) {
      throw new SimulationError(
        'already-scheduled',
        `event '${ev.name}' is already scheduled for ${ev.time} ps; use reschedule() to move it`,
      );
    }
    this.place(ev, time);
  }

  /** Schedules an idle event `delay` picoseconds from now. */
  scheduleIn(ev: SimEvent, delay: number): void {
    this.schedule(ev, this._now + delay);
  }

  /** Moves an event to `time`, whether it is scheduled or not. */
  reschedule(ev: SimEvent, time: number): void {
    this.place(ev, time);
  }

  /** Cancels a scheduled event; returns false if it was not scheduled. */
  cancel(ev: SimEvent): boolean {
    if (ev.state !== STATE_SCHEDULED) return false;
    this.removeAt(ev.heapIndex);
    ev.state = STATE_IDLE;
    return true;
  }

  /** The time of the next event, or Infinity when the queue is empty. */
  nextTime(): number {
    if (this.size === 0) return Number.POSITIVE_INFINITY;
    if (this.heap[0]!.state !== STATE_FIRING) return this.keyTime[0]!;
    // The root is the event whose callback is running (kept in place until it returns):
    // the next one is a child of it.
    let t = Number.POSITIVE_INFINITY;
    if (this.size > 1) t = this.keyTime[1]!;
    if (this.size > 2 && this.keyTime[2]! < t) t = this.keyTime[2]!;
    return t;
  }

  /** Asks the running loop to return after the current event. */
  stop(): void {
    this.stopRequested = true;
  }

  /**
   * Fires every event with time ≤ `time`, then advances the clock to `time`.
   * Returns the number of events fired.
   */
  runUntil(time: number): number {
    this.checkTime(time, 'runUntil');
    if (time < this._now) {
      throw new SimulationError('time-in-past', `runUntil(${time}) is before now (${this._now} ps)`);
    }
    const fired = this.loop(time, null);
    if (!this.stopRequested) this._now = time;
    this.stopRequested = false;
    return fired;
  }

  /** Fires events until the queue is empty (or stop() is called). */
  runUntilEmpty(): number {
    const fired = this.loop(MAX_TIME_PS, null);
    this.stopRequested = false;
    return fired;
  }

  /** Fires events while `condition()` holds (checked before each event). */
  runWhile(condition: () => boolean): number {
    const fired = this.loop(MAX_TIME_PS, condition);
    this.stopRequested = false;
    return fired;
  }

  private loop(limit: number, condition: (() => boolean) | null): number {
    if (this.running) {
      throw new SimulationError(
        'reentrant-run',
        'the simulator is already running: do not call run* from an event',
      );
    }
    this.running = true;
    this.stopRequested = false;
    let fired = 0;
    try {
      while (this.size > 0 && !this.stopRequested) {
        const t = this.keyTime[0]!;
        if (t > limit) break;
        if (condition !== null && !condition()) break;
        const ev = this.heap[0]!;
        this._now = t;
        // The event stays at the root while its callback runs: if the callback
        // reschedules it (the common case), the heap updates its key in place,
        // one sift instead of a pop and a push.
        ev.state = STATE_FIRING;
        this.firing = ev;
        ev.callback();
        this.firing = null;
        if (ev.state === STATE_FIRING) {
          this.removeAt(ev.heapIndex);
          ev.state = STATE_IDLE;
        }
        fired++;
      }
    } finally {
      if (this.firing !== null) {
        // A callback threw: leave the queue consistent before the error propagates.
        const f = this.firing;
        this.firing = null;
        if (f.state === STATE_FIRING) {
          this.removeAt(f.heapIndex);
          f.state = STATE_IDLE;
        }
      }
      this.running = false;
      this._eventsProcessed += fired;
    }
    return fired;
  }

  private checkTime(time: number, what: string): void {
    if (!Number.isInteger(time)) {
      throw new SimulationError(
        'time-not-integer',
        `${what}: time must be an integer number of ps, got ${time}`,
      );
    }
    if (time > MAX_TIME_PS) {
      throw new SimulationError(
        'time-overflow',
        `${what}: ${time} ps is beyond the last exact simulated time (2^53 − 1 ps)`,
      );
    }
  }

  private place(ev: SimEvent, time: number): void {
    this.checkTime(time, `schedule '${ev.name}'`);
    if (time < this._now) {
      throw new SimulationError(
        'time-in-past',
        `event '${ev.name}' scheduled for ${time} ps, before now (${this._now} ps)`,
      );
    }
    if (this.seq >= MAX_SEQ) {
      throw new SimulationError('sequence-exhausted', 'more than 2^45 events scheduled in one run');
    }
    const ord = (ev.priority - MIN_PRIORITY) * SEQ_BITS + this.seq++;
    ev.time = time;
    if (ev.heapIndex >= 0) {
      // Scheduled, or firing and still at its heap position: update the key in place.
      const i = ev.heapIndex;
      const oldTime = this.keyTime[i]!;
      const oldOrd = this.keyOrd[i]!;
      this.keyTime[i] = time;
      this.keyOrd[i] = ord;
      ev.state = STATE_SCHEDULED;
      if (time < oldTime || (time === oldTime && ord < oldOrd)) this.siftUp(i);
      else this.siftDown(i);
      return;
    }
    if (this.size === this.keyTime.length) this.grow();
    const i = this.size++;
    this.heap[i] = ev;
    this.keyTime[i] = time;
    this.keyOrd[i] = ord;
    ev.heapIndex = i;
    ev.state = STATE_SCHEDULED;
    this.siftUp(i);
  }

  private grow(): void {
    const cap = this.keyTime.length * 2;
    const t = new Float64Array(cap);
    t.set(this.keyTime);
    const o = new Float64Array(cap);
    o.set(this.keyOrd);
    this.keyTime = t;
    this.keyOrd = o;
  }

  private removeAt(i: number): void {
    const heap = this.heap;
    const removed = heap[i]!;
    removed.heapIndex = -1;
    const last = --this.size;
    if (i === last) {
      heap[last] = undefined as unknown as SimEvent;
      return;
    }
    const moved = heap[last]!;
    heap[i] = moved;
    heap[last] = undefined as unknown as SimEvent;
    this.keyTime[i] = this.keyTime[last]!;
    this.keyOrd[i] = this.keyOrd[last]!;
    moved.heapIndex = i;
    this.siftDown(i);
    if (moved.heapIndex === i) this.siftUp(i);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const kt = this.keyTime;
    const ko = this.keyOrd;
    const ev = heap[i]!;
    const t = kt[i]!;
    const o = ko[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = kt[p]!;
      if (pt < t || (pt === t && ko[p]! < o)) break;
      const pe = heap[p]!;
      heap[i] = pe;
      kt[i] = pt;
      ko[i] = ko[p]!;
      pe.heapIndex = i;
      i = p;
    }
    heap[i] = ev;
    kt[i] = t;
    ko[i] = o;
    ev.heapIndex = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const kt = this.keyTime;
    const ko = this.keyOrd;
    const n = this.size;
    const ev = heap[i]!;
    const t = kt[i]!;
    const o = ko[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      let ct = kt[c]!;
      let co = ko[c]!;
      const r = c + 1;
      if (r < n) {
        const rt = kt[r]!;
        const ro = ko[r]!;
        if (rt < ct || (rt === ct && ro < co)) {
          c = r;
          ct = rt;
          co = ro;
        }
      }
      if (t < ct || (t === ct && o < co)) break;
      const ce = heap[c]!;
      heap[i] = ce;
      kt[i] = ct;
      ko[i] = co;
      ce.heapIndex = i;
      i = c;
    }
    heap[i] = ev;
    kt[i] = t;
    ko[i] = o;
    ev.heapIndex = i;
  }
}
