import { SimulationError } from './errors.js';
import { MAX_TIME_PS } from './time.js';

/** Lowest and highest event priority. At equal times, a lower priority value runs first. */
export const MIN_PRIORITY = -128;
/** The highest event priority: at equal times, an event with it runs after all others. */
export const MAX_PRIORITY = 127;

// Heap order key: time first, then (priority, sequence) packed into one exact double:
// 8 bits of priority above 45 bits of insertion sequence (2^45 ≈ 3.5e13 events per run).
const SEQ_BITS = 2 ** 45;
const MAX_SEQ = SEQ_BITS - 1;

/** Doubles per heap node: time, order key, event slot, padding (32 bytes). */
const NODE = 4;

const STATE_IDLE = 0;
const STATE_SCHEDULED = 1;
const STATE_FIRING = 2;

/** `to` (a larger table of the same kind) holding `from`'s entries at its start. */
function grown<T extends Int32Array | Uint8Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/**
 * A reusable event. Components create their events once and schedule them over and over,
 * so the steady state allocates nothing (gem5's `Event` objects work the same way).
 */
export class SimEvent {
  /** A name for traces and error messages. */
  readonly name: string;
  /** Ties at equal time run in increasing priority, then in the order they were scheduled. */
  readonly priority: number;
  private _callback: () => void;

  /** @internal the event's slot in its simulator's tables, −1 until first scheduled */
  id = -1;
  /** @internal the simulator that owns the slot */
  owner: Simulator | null = null;

  constructor(name: string, callback: () => void, priority = 0) {
    if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
      throw new SimulationError(
        'bad-priority',
        `event '${name}': priority must be an integer in [${MIN_PRIORITY}, ${MAX_PRIORITY}], got ${priority}`,
      );
    }
    this.name = name;
    this.priority = priority;
    this._callback = callback;
  }

  /** Called when the event fires; it may schedule this or any other event. */
  get callback(): () => void {
    return this._callback;
  }

  /** Replaces the callback (it takes effect at the event's next firing). */
  set callback(callback: () => void) {
    this._callback = callback;
    this.owner?.setCallback(this.id, callback);
  }

  /** True while the event waits in the queue (false while its own callback runs). */
  get scheduled(): boolean {
    const o = this.owner;
    return o !== null && o.stateOf(this.id) === STATE_SCHEDULED;
  }

  /** The time the event is scheduled for (meaningful while `scheduled`). */
  get when(): number {
    const o = this.owner;
    return o === null ? 0 : o.timeOf(this.id);
  }
}

/**
 * The discrete-event kernel: one global picosecond clock and an indexed binary heap of
 * events ordered by (time, priority, insertion sequence) — a 4-ary heap —, so that every run with the same
 * inputs processes the same events in the same order.
 *
 * The heap lives in typed arrays (time, order key, event slot) and each event's position
 * in another typed array indexed by its slot, so a sift touches no objects: what keeps the
 * kernel fast when 100 K events are pending and the heap no longer fits in cache. For the
 * same reason each event's state, time, callback and priority live in tables by slot: firing
 * an event, and rescheduling it from its own callback, read no event object.
 */
export class Simulator {
  private _now = 0;
  private seq = 0;
  private size = 0;
  /** Events by slot. */
  private events: SimEvent[] = [];
  /** Heap position by slot (−1 when not in the heap). */
  private pos: Int32Array;
  /**
   * By slot: state, the time last scheduled for, the callback, and the order key's priority
   * part. Firing an event and rescheduling the one firing read these, never the event object:
   * with many events pending, each object is a cache miss of its own.
   */
  private states: Uint8Array;
  private times: Float64Array;
  private ordBase: Float64Array;
  private readonly callbacks: (() => void)[] = [];
  /** The slot of the event whose callback is running, or −1. */
  private firingSlot = -1;
  /** The heap: NODE doubles per node — time, order key, event slot (one cache line holds two nodes). */
  private heap: Float64Array;
  private running = false;
  private stopRequested = false;
  private _eventsProcessed = 0;
  private firing: SimEvent | null = null;
  /** The latest time the current run may reach (−1 while a runWhile condition is being checked between events). */
  private limit = -1;

  constructor(initialCapacity = 1024) {
    const cap = Math.max(16, initialCapacity | 0);
    this.heap = new Float64Array(cap * NODE);
    this.pos = new Int32Array(cap).fill(-1);
    this.states = new Uint8Array(cap);
    this.times = new Float64Array(cap);
    this.ordBase = new Float64Array(cap);
  }

  /** @internal an event's state by its slot */
  stateOf(slot: number): number {
    return this.states[slot]!;
  }

  /** @internal the time the event in `slot` is (or was last) scheduled for */
  timeOf(slot: number): number {
    return this.times[slot]!;
  }

  /** @internal a new callback for the event in `slot` */
  setCallback(slot: number, callback: () => void): void {
    this.callbacks[slot] = callback;
  }

  /** The current simulated time in picoseconds. */
  get now(): number {
    return this._now;
  }

  /** Events waiting in the queue. */
  get pending(): number {
    const f = this.firingSlot;
    return f >= 0 && this.states[f] === STATE_FIRING ? this.size - 1 : this.size;
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
    if (ev.scheduled) {
      throw new SimulationError(
        'already-scheduled',
        `event '${ev.name}' is already scheduled for ${ev.when} ps; use reschedule() to move it`,
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
    if (ev.owner !== this || this.states[ev.id] !== STATE_SCHEDULED) return false;
    this.removeAt(this.pos[ev.id]!);
    this.states[ev.id] = STATE_IDLE;
    return true;
  }

  /** The time of the next event, or Infinity when the queue is empty. */
  nextTime(): number {
    if (this.size === 0) return Number.POSITIVE_INFINITY;
    if (this.states[this.heap[2]!] !== STATE_FIRING) return this.heap[0]!;
    // The root is the event whose callback is running (kept in place until it returns):
    // the next one is a child of it.
    let t = Number.POSITIVE_INFINITY;
    const end = Math.min(this.size, 5);
    for (let k = 1; k < end; k++) if (this.heap[k * NODE]! < t) t = this.heap[k * NODE]!;
    return t;
  }

  /**
   * Moves the clock forward to `time` from inside an event's callback, when no other event
   * can happen before then: nothing is pending before `time` (strictly) and `time` is within
   * the current run's limit. A component whose next step is purely its own (a CPU finishing
   * an operation's cycles) can go on without an event of its own; everything else still
   * happens at exactly the same simulated times. Returns false (and does nothing) when the
   * clock cannot move: not inside a run, a `runWhile` condition to check, or an event due
   * first.
   */
  tryAdvanceTo(time: number): boolean {
    if (!this.running || time < this._now || time > this.limit) return false;
    if (!(time < this.nextTime())) return false;
    this._now = time;
    return true;
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
    this.limit = condition === null ? limit : -1;
    let fired = 0;
    try {
      while (this.size > 0 && !this.stopRequested) {
        const t = this.heap[0]!;
        if (t > limit) break;
        if (condition !== null && !condition()) break;
        const slot = this.heap[2]!;
        this._now = t;
        // The event stays at the root while its callback runs: if the callback
        // reschedules it (the common case), the heap updates its key in place,
        // one sift instead of a pop and a push.
        this.states[slot] = STATE_FIRING;
        this.firingSlot = slot;
        this.firing = this.events[slot]!;
        this.callbacks[slot]!();
        this.firing = null;
        this.firingSlot = -1;
        if (this.states[slot] === STATE_FIRING) {
          this.removeAt(this.pos[slot]!);
          this.states[slot] = STATE_IDLE;
        }
        fired++;
      }
    } finally {
      if (this.firingSlot >= 0) {
        // A callback threw: leave the queue consistent before the error propagates.
        const f = this.firingSlot;
        this.firing = null;
        this.firingSlot = -1;
        if (this.states[f] === STATE_FIRING) {
          this.removeAt(this.pos[f]!);
          this.states[f] = STATE_IDLE;
        }
      }
      this.running = false;
      this.limit = -1;
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

  private slotOf(ev: SimEvent): number {
    if (ev.owner === this) return ev.id;
    if (ev.owner !== null) {
      throw new SimulationError('bad-argument', `event '${ev.name}' belongs to another simulator`);
    }
    const id = this.events.length;
    this.events.push(ev);
    this.callbacks.push(ev.callback);
    ev.id = id;
    ev.owner = this;
    if (id >= this.pos.length) {
      const n = this.pos.length * 2;
      this.pos = grown(this.pos, new Int32Array(n).fill(-1));
      this.states = grown(this.states, new Uint8Array(n));
      this.times = grown(this.times, new Float64Array(n));
      this.ordBase = grown(this.ordBase, new Float64Array(n));
    }
    this.ordBase[id] = (ev.priority - MIN_PRIORITY) * SEQ_BITS;
    return id;
  }

  private place(ev: SimEvent, time: number): void {
    // Cheap checks first: an integer in [now, 2^53).
    if (!(time >= this._now && time <= MAX_TIME_PS && Math.floor(time) === time)) {
      this.checkTime(time, `schedule '${ev.name}'`);
      throw new SimulationError(
        'time-in-past',
        `event '${ev.name}' scheduled for ${time} ps, before now (${this._now} ps)`,
      );
    }
    if (this.seq >= MAX_SEQ) {
      throw new SimulationError('sequence-exhausted', 'more than 2^45 events scheduled in one run');
    }
    // The event firing now (a callback rescheduling itself, the common case) is known by its
    // slot: its object is not read.
    const slot = ev === this.firing ? this.firingSlot : ev.owner === this ? ev.id : this.slotOf(ev);
    const ord = this.ordBase[slot]! + this.seq++;
    this.times[slot] = time;
    const i = this.pos[slot]!;
    this.states[slot] = STATE_SCHEDULED;
    if (i >= 0) {
      // Scheduled, or firing and still at its heap position: update the key in place.
      if (time < this.heap[i * NODE]!) this.siftUp(i, slot, time, ord);
      else this.siftDown(i, slot, time, ord);
      return;
    }
    if ((this.size + 1) * NODE > this.heap.length) this.grow();
    this.siftUp(this.size++, slot, time, ord);
  }

  private grow(): void {
    const h = new Float64Array(this.heap.length * 2);
    h.set(this.heap);
    this.heap = h;
  }

  private removeAt(i: number): void {
    const h = this.heap;
    this.pos[h[i * NODE + 2]!] = -1;
    const last = --this.size;
    if (i === last) return;
    const b = last * NODE;
    const t = h[b]!;
    const o = h[b + 1]!;
    const slot = h[b + 2]!;
    if (i > 0) {
      const p = ((i - 1) >> 2) * NODE;
      const pt = h[p]!;
      if (t < pt || (t === pt && o < h[p + 1]!)) {
        this.siftUp(i, slot, t, o);
        return;
      }
    }
    this.siftDown(i, slot, t, o);
  }

  /** Places (slot, t, o) at or above position i. */
  private siftUp(i: number, slot: number, t: number, o: number): void {
    const h = this.heap;
    const pos = this.pos;
    while (i > 0) {
      const p = (i - 1) >> 2;
      const pb = p * NODE;
      const pt = h[pb]!;
      if (pt < t || (pt === t && h[pb + 1]! < o)) break;
      const ib = i * NODE;
      const ps = h[pb + 2]!;
      h[ib] = pt;
      h[ib + 1] = h[pb + 1]!;
      h[ib + 2] = ps;
      pos[ps] = i;
      i = p;
    }
    const ib = i * NODE;
    h[ib] = t;
    h[ib + 1] = o;
    h[ib + 2] = slot;
    pos[slot] = i;
  }

  /** Places (slot, t, o) at or below position i (a 4-ary heap: half the depth of a binary one). */
  private siftDown(i: number, slot: number, t: number, o: number): void {
    const h = this.heap;
    const pos = this.pos;
    const n = this.size;
    for (;;) {
      const first = 4 * i + 1;
      if (first >= n) break;
      let c = first;
      let cb = first * NODE;
      let ct = h[cb]!;
      const end = Math.min(first + 4, n);
      for (let k = first + 1; k < end; k++) {
        const kb = k * NODE;
        const kt = h[kb]!;
        if (kt < ct || (kt === ct && h[kb + 1]! < h[cb + 1]!)) {
          c = k;
          cb = kb;
          ct = kt;
        }
      }
      if (t < ct || (t === ct && o < h[cb + 1]!)) break;
      const ib = i * NODE;
      const cs = h[cb + 2]!;
      h[ib] = ct;
      h[ib + 1] = h[cb + 1]!;
      h[ib + 2] = cs;
      pos[cs] = i;
      i = c;
    }
    const ib = i * NODE;
    h[ib] = t;
    h[ib + 1] = o;
    h[ib + 2] = slot;
    pos[slot] = i;
  }
}
