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

/** Doubles per slot in the slot table: state, time, order key, order key's priority part. */
const SLOT = 4;
const S_STATE = 0;
const S_TIME = 1;
const S_ORD = 2;
const S_BASE = 3;

const STATE_IDLE = 0;
const STATE_SCHEDULED = 1;
const STATE_FIRING = 2;

/**
 * Above this many heap entries, the loop touches the next event's slot row and callback
 * while the current callback runs (Simulator.touchNext). Below it, the tables fit in the
 * core's caches (about 100 bytes an event, against 1 MiB of L2 and 32–64 KiB of L1 on the
 * machines this is measured on) and touching is only work.
 */
const TOUCH_MIN_ENTRIES = 4096;

/** `to` (a larger table) holding `from`'s entries at its start. */
function grown(from: Float64Array, to: Float64Array): Float64Array {
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
 * Entries of the heap that no longer stand for a pending event (moved or cancelled) are
 * dropped all at once, by rebuilding the heap, when there are more than this many and more
 * than live ones: the heap never holds more than about twice the events pending.
 */
const COMPACT_MIN_STALE = 1024;

/**
 * The discrete-event kernel: one global picosecond clock and a 4-ary heap of events ordered
 * by (time, priority, insertion sequence), so that every run with the same inputs processes
 * the same events in the same order.
 *
 * The heap lives in typed arrays (time, order key and event slot by position), so a sift
 * touches no objects: what keeps the kernel fast when 100 K events are pending and the heap
 * no longer fits in cache. Each event's state, time, order key, priority and callback live in
 * tables by slot, so firing an event, and rescheduling it from its own callback, read no
 * event object either.
 *
 * The heap does not track where each event sits (a position table written at every step of
 * every sift would be one more cache miss per level). Moving or cancelling a pending event
 * leaves its old entry behind, recognisable by an order key that is no longer the event's; such
 * stale entries are skipped when they reach the top and dropped in bulk when they outnumber
 * the live ones. The firing event's own entry stays at the top while its callback runs, so that
 * the usual case — the callback reschedules its own event — is one sift, not a pop and a push.
 * None of this changes the order: every live entry's key is unique, so any heap of them
 * yields the same sequence.
 */
export class Simulator {
  private _now = 0;
  private seq = 0;
  /** Heap entries, stale ones included. */
  private size = 0;
  /** Heap entries that stand for no pending event. */
  private stale = 0;
  /**
   * By slot, the event at 2·slot and its callback at 2·slot + 1: firing an event reads both,
   * and side by side they are one cache miss, not two.
   */
  private readonly refs: (SimEvent | (() => void))[] = [];
  /**
   * By slot, one row of SLOT doubles: state, the time last scheduled for, the order key of
   * its live heap entry (while scheduled), and the order key's priority part; and, in `refs`,
   * the callback. Firing an event and rescheduling the one firing read these, never the event
   * object: with many events pending, each object is a cache miss of its own.
   */
  private slots: Float64Array;
  /** The slot of the event whose callback is running, or −1. */
  private firingSlot = -1;
  /** True while the firing event's entry is still the heap's root (see the class comment). */
  private firingAtRoot = false;
  /**
   * The heap, in three arrays by position: time, order key, event slot. A 4-ary sift compares
   * times (the order keys only on a tie), and a node's four children's times are 32 bytes.
   */
  private heapT: Float64Array;
  private heapO: Float64Array;
  private heapS: Int32Array;
  /**
   * @internal What touchNext() read, kept so that the compiler cannot drop the reads. Not
   * meaningful.
   */
  touched = 0;
  private running = false;
  private stopRequested = false;
  private _eventsProcessed = 0;
  private firing: SimEvent | null = null;
  /** The latest time the current run may reach (−1 while a runWhile condition is being checked between events). */
  private limit = -1;
  /**
   * The time schedule(), scheduleIn(), reschedule() and tryAdvanceTo() hand to the functions
   * that do their work (moveToTimeArg, place, advanceToTimeArg): V8 does not inline those, and
   * a time beyond the small-integer range (2^30 ps, about a millisecond) passed to one as an
   * argument would be boxed into a new heap number at every call. The four themselves are
   * small, so that V8 can inline them into a component; where it does (its choice, which
   * varies from process to process), the component's call boxes nothing either. The heap's
   * sifts, for the same reason, take their entry's key from the heap arrays.
   */
  private readonly timeArg = new Float64Array(1);

  constructor(initialCapacity = 1024) {
    const cap = Math.max(16, initialCapacity | 0);
    this.heapT = new Float64Array(cap);
    this.heapO = new Float64Array(cap);
    this.heapS = new Int32Array(cap);
    this.slots = new Float64Array(cap * SLOT);
  }

  /** @internal an event's state by its slot */
  stateOf(slot: number): number {
    return this.slots[slot * SLOT + S_STATE]!;
  }

  /** @internal the time the event in `slot` is (or was last) scheduled for */
  timeOf(slot: number): number {
    return this.slots[slot * SLOT + S_TIME]!;
  }

  /** @internal a new callback for the event in `slot` */
  setCallback(slot: number, callback: () => void): void {
    this.refs[2 * slot + 1] = callback;
  }

  /** The current simulated time in picoseconds. */
  get now(): number {
    return this._now;
  }

  /** Events waiting in the queue. */
  get pending(): number {
    return this.size - this.stale - (this.firingAtRoot ? 1 : 0);
  }

  /** Events fired since the simulator was created. */
  get eventsProcessed(): number {
    return this._eventsProcessed;
  }

  /** Creates a reusable event (a convenience for `new SimEvent`). */
  event(name: string, callback: () => void, priority = 0): SimEvent {
    return new SimEvent(name, callback, priority);
  }

  // schedule, scheduleIn, reschedule and tryAdvanceTo hand the time on through `timeArg` (see
  // there).

  /** Schedules an idle event at absolute time `time` (ps). */
  schedule(ev: SimEvent, time: number): void {
    if (ev.scheduled) this.refuseScheduled(ev);
    // The rest is what reschedule does with an idle event (its checks, its errors).
    this.timeArg[0] = time;
    this.moveToTimeArg(ev);
  }

  /** Schedules an idle event `delay` picoseconds from now. */
  scheduleIn(ev: SimEvent, delay: number): void {
    if (ev.scheduled) this.refuseScheduled(ev);
    this.timeArg[0] = this._now + delay;
    this.moveToTimeArg(ev);
  }

  /** Moves an event to `time`, whether it is scheduled or not. */
  reschedule(ev: SimEvent, time: number): void {
    this.timeArg[0] = time;
    this.moveToTimeArg(ev);
  }

  private refuseScheduled(ev: SimEvent): never {
    throw new SimulationError(
      'already-scheduled',
      `event '${ev.name}' is already scheduled for ${ev.when} ps; use reschedule() to move it`,
    );
  }

  /** reschedule(ev, time) with the time in `timeArg`. */
  private moveToTimeArg(ev: SimEvent): void {
    const time = this.timeArg[0]!;
    if (!(time >= this._now && time <= MAX_TIME_PS && Math.floor(time) === time)) this.refuseTime(ev, time);
    if (ev === this.firing && this.firingAtRoot && this.seq < MAX_SEQ) {
      // The usual case (schedule comes here too), done here rather than in place(): a
      // callback moving its own event, whose entry is still the root, gives the root its new
      // key and sifts it down.
      const row = this.firingSlot * SLOT;
      const slots = this.slots;
      const ord = slots[row + S_BASE]! + this.seq++;
      slots[row + S_TIME] = time;
      slots[row + S_ORD] = ord;
      slots[row + S_STATE] = STATE_SCHEDULED;
      this.firingAtRoot = false;
      this.heapT[0] = time;
      this.heapO[0] = ord;
      this.siftDown(0);
      return;
    }
    // timeArg still holds the time.
    this.place(ev);
  }

  /** Cancels a scheduled event; returns false if it was not scheduled. */
  cancel(ev: SimEvent): boolean {
    if (ev.owner !== this || this.slots[ev.id * SLOT + S_STATE] !== STATE_SCHEDULED) return false;
    // Its entry stays in the heap, stale.
    this.slots[ev.id * SLOT + S_STATE] = STATE_IDLE;
    this.addStale();
    return true;
  }

  /** The time of the next event, or Infinity when the queue is empty. */
  nextTime(): number {
    if (this.firingAtRoot) {
      // The root is the firing event's entry, not pending: the next event is the least of
      // the root's children when that child is live (every other entry is below one of them).
      const ht = this.heapT;
      const ho = this.heapO;
      const end = Math.min(this.size, 5);
      if (end === 1) return Number.POSITIVE_INFINITY;
      let c = 1;
      for (let k = 2; k < end; k++) {
        if (ht[k]! < ht[c]! || (ht[k] === ht[c] && ho[k]! < ho[c]!)) c = k;
      }
      const slot = this.heapS[c]!;
      if (
        this.slots[slot * SLOT + S_STATE] === STATE_SCHEDULED &&
        this.slots[slot * SLOT + S_ORD] === ho[c]
      ) {
        return ht[c]!;
      }
      // A stale child: take the firing event's entry out (place() then pushes it if it is
      // rescheduled) and look from the top.
      this.dropFiringRoot();
    }
    this.dropStaleRoots();
    return this.size === 0 ? Number.POSITIVE_INFINITY : this.heapT[0]!;
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
    this.timeArg[0] = time;
    return this.advanceToTimeArg();
  }

  /** tryAdvanceTo with the time in `timeArg`. */
  private advanceToTimeArg(): boolean {
    const time = this.timeArg[0]!;
    if (!this.running || time < this._now || time > this.limit) return false;
    if (!(time < this.nextTime())) return false;
    this._now = time;
    return true;
  }

  /**
   * Fires `ev` from inside the running event's callback rather than from the loop, when it is
   * the event the loop would fire next: it is scheduled, no other event goes before it in
   * (time, priority, sequence) order, and the loop would fire it (the run's limit not passed,
   * no stop() asked for, no runWhile condition to check first). Then the clock moves to its
   * time, it is no longer scheduled, and the caller goes on with what its callback would do —
   * as the last thing the running callback does, since nothing else may happen in between.
   * Returns false and changes nothing the run can see otherwise. Like tryAdvanceTo, one event
   * fewer at exactly the same times and in exactly the same order; unlike it, the event was
   * scheduled (and given its place in the order) when its cause happened.
   */
  consumeIfNext(ev: SimEvent): boolean {
    if (!this.running || this.stopRequested || ev.owner !== this) return false;
    const slot = ev.id;
    const row = slot * SLOT;
    if (this.slots[row + S_STATE] !== STATE_SCHEDULED) return false;
    const time = this.slots[row + S_TIME]!;
    // limit is −1 while a runWhile condition is to be checked before each event.
    if (time > this.limit) return false;
    // The firing event's own entry is not pending (place() pushes it again if it is moved).
    if (this.firingAtRoot) this.dropFiringRoot();
    this.dropStaleRoots();
    if (this.size === 0 || this.heapS[0] !== slot || this.heapO[0] !== this.slots[row + S_ORD]) return false;
    this.popRoot();
    this.slots[row + S_STATE] = ev === this.firing ? STATE_FIRING : STATE_IDLE;
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
        const slot = this.heapS[0]!;
        if (
          this.slots[slot * SLOT + S_STATE] !== STATE_SCHEDULED ||
          this.slots[slot * SLOT + S_ORD] !== this.heapO[0]
        ) {
          this.popRoot();
          this.stale--;
          continue;
        }
        const t = this.heapT[0]!;
        if (t > limit) break;
        if (condition !== null && !condition()) break;
        this._now = t;
        // The event's entry stays at the root while its callback runs: if the callback
        // reschedules it (the common case), place() moves it with one sift.
        this.slots[slot * SLOT + S_STATE] = STATE_FIRING;
        this.firingSlot = slot;
        this.firingAtRoot = true;
        const refs = this.refs;
        this.firing = refs[2 * slot] as SimEvent;
        if (this.size > TOUCH_MIN_ENTRIES) this.touchNext(refs);
        (refs[2 * slot + 1] as () => void)();
        this.endFiring(slot);
        fired++;
      }
    } finally {
      // A callback threw: leave the queue consistent before the error propagates.
      if (this.firingSlot >= 0) this.endFiring(this.firingSlot);
      this.running = false;
      this.limit = -1;
      this._eventsProcessed += fired;
    }
    return fired;
  }

  /**
   * Reads the slot row and callback of the event likely to fire next — the least of the root's
   * children, unless the current callback schedules something earlier — so that, with many
   * events pending, their cache misses overlap the current callback's work instead of
   * following it (JavaScript's software prefetch: a load whose result is used, here the
   * callback's type, which needs its object). Changes nothing: the order and every table are
   * as they were.
   */
  private touchNext(refs: (SimEvent | (() => void))[]): void {
    const ht = this.heapT;
    let c = 1;
    for (let k = 2; k < 5; k++) if (ht[k]! < ht[c]!) c = k;
    const slot = this.heapS[c]!;
    this.touched = this.slots[slot * SLOT + S_STATE]! + (typeof refs[2 * slot + 1] === 'function' ? 1 : 0);
  }

  /** After the firing event's callback: an event that did not reschedule itself is idle. */
  private endFiring(slot: number): void {
    if (this.firingAtRoot) this.dropFiringRoot();
    this.firing = null;
    this.firingSlot = -1;
    if (this.slots[slot * SLOT + S_STATE] === STATE_FIRING) this.slots[slot * SLOT + S_STATE] = STATE_IDLE;
  }

  /** Removes the firing event's entry, still at the root, from the heap. */
  private dropFiringRoot(): void {
    this.firingAtRoot = false;
    this.popRoot();
  }

  /** Pops the stale entries at the top, so that the root (if any) is a pending event. */
  private dropStaleRoots(): void {
    while (this.size > 0) {
      const slot = this.heapS[0]!;
      if (
        this.slots[slot * SLOT + S_STATE] === STATE_SCHEDULED &&
        this.slots[slot * SLOT + S_ORD] === this.heapO[0]
      )
        return;
      this.popRoot();
      this.stale--;
    }
  }

  private addStale(): void {
    if (++this.stale > COMPACT_MIN_STALE && 2 * this.stale > this.size) this.compact();
  }

  /** Rebuilds the heap from its live entries (Floyd's bottom-up construction). */
  private compact(): void {
    if (this.firingAtRoot) this.dropFiringRoot();
    const ht = this.heapT;
    const ho = this.heapO;
    const hs = this.heapS;
    let n = 0;
    for (let i = 0; i < this.size; i++) {
      const slot = hs[i]!;
      const o = ho[i]!;
      if (this.slots[slot * SLOT + S_STATE] !== STATE_SCHEDULED || this.slots[slot * SLOT + S_ORD] !== o)
        continue;
      ht[n] = ht[i]!;
      ho[n] = o;
      hs[n] = slot;
      n++;
    }
    this.size = n;
    this.stale = 0;
    for (let i = (n - 2) >> 2; i >= 0; i--) this.siftDown(i);
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
    const id = this.refs.length >> 1;
    this.refs.push(ev, ev.callback);
    ev.id = id;
    ev.owner = this;
    if (id * SLOT >= this.slots.length) {
      const n = (this.slots.length / SLOT) * 2;
      this.slots = grown(this.slots, new Float64Array(n * SLOT));
    }
    this.slots[id * SLOT + S_BASE] = (ev.priority - MIN_PRIORITY) * SEQ_BITS;
    return id;
  }

  /** Refuses a time that is not an integer in [now, 2^53) ps (what schedule and reschedule check first). */
  private refuseTime(ev: SimEvent, time: number): never {
    this.checkTime(time, `schedule '${ev.name}'`);
    throw new SimulationError(
      'time-in-past',
      `event '${ev.name}' scheduled for ${time} ps, before now (${this._now} ps)`,
    );
  }

  /** Schedules or moves `ev` to the time in `timeArg` (checked by the caller). */
  private place(ev: SimEvent): void {
    const time = this.timeArg[0]!;
    if (this.seq >= MAX_SEQ) {
      throw new SimulationError('sequence-exhausted', 'more than 2^45 events scheduled in one run');
    }
    // The event firing now (a callback rescheduling itself, the common case) is known by its
    // slot: its object is not read.
    const firing = ev === this.firing;
    const slot = firing ? this.firingSlot : ev.owner === this ? ev.id : this.slotOf(ev);
    const ord = this.slots[slot * SLOT + S_BASE]! + this.seq++;
    const wasScheduled = this.slots[slot * SLOT + S_STATE] === STATE_SCHEDULED;
    this.slots[slot * SLOT + S_TIME] = time;
    this.slots[slot * SLOT + S_ORD] = ord;
    this.slots[slot * SLOT + S_STATE] = STATE_SCHEDULED;
    if (this.firingAtRoot) {
      // (The firing event itself, its entry still the root, is moved in reschedule.) Another
      // event that goes before the firing one would take the root: take the firing event's
      // entry out first.
      const t0 = this.heapT[0]!;
      if (time < t0 || (time === t0 && ord < this.heapO[0]!)) this.dropFiringRoot();
    }
    if (this.size === this.heapT.length) this.grow();
    const i = this.size++;
    this.heapT[i] = time;
    this.heapO[i] = ord;
    this.heapS[i] = slot;
    this.siftUp(i);
    // A pending event moved: its old entry is now stale.
    if (wasScheduled) this.addStale();
  }

  private grow(): void {
    const n = this.heapT.length * 2;
    const t = new Float64Array(n);
    t.set(this.heapT);
    this.heapT = t;
    const o = new Float64Array(n);
    o.set(this.heapO);
    this.heapO = o;
    const s = new Int32Array(n);
    s.set(this.heapS);
    this.heapS = s;
  }

  /** Removes the root. */
  private popRoot(): void {
    const last = --this.size;
    if (last === 0) return;
    this.heapT[0] = this.heapT[last]!;
    this.heapO[0] = this.heapO[last]!;
    this.heapS[0] = this.heapS[last]!;
    this.siftDown(0);
  }

  /** Moves the entry at position i up to its place. */
  private siftUp(i: number): void {
    const ht = this.heapT;
    const ho = this.heapO;
    const hs = this.heapS;
    const t = ht[i]!;
    const o = ho[i]!;
    const slot = hs[i]!;
    while (i > 0) {
      const p = (i - 1) >> 2;
      const pt = ht[p]!;
      if (pt < t || (pt === t && ho[p]! < o)) break;
      ht[i] = pt;
      ho[i] = ho[p]!;
      hs[i] = hs[p]!;
      i = p;
    }
    ht[i] = t;
    ho[i] = o;
    hs[i] = slot;
  }

  /** Moves the entry at position i down to its place (a 4-ary heap: half the depth of a binary one). */
  private siftDown(i: number): void {
    const ht = this.heapT;
    const ho = this.heapO;
    const hs = this.heapS;
    const t = ht[i]!;
    const o = ho[i]!;
    const slot = hs[i]!;
    const n = this.size;
    for (;;) {
      const first = 4 * i + 1;
      if (first >= n) break;
      let c = first;
      let ct = ht[first]!;
      const end = Math.min(first + 4, n);
      for (let k = first + 1; k < end; k++) {
        const kt = ht[k]!;
        if (kt < ct || (kt === ct && ho[k]! < ho[c]!)) {
          c = k;
          ct = kt;
        }
      }
      if (t < ct || (t === ct && o < ho[c]!)) break;
      ht[i] = ct;
      ho[i] = ho[c]!;
      hs[i] = hs[c]!;
      i = c;
    }
    ht[i] = t;
    ho[i] = o;
    hs[i] = slot;
  }
}
