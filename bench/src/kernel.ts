import { RandomStreams, SimEvent, Simulator } from '@exitless/sim';
import { Heap } from 'heap-js';
import { allocatedPerUnit } from './alloc.js';

/** One benchmark figure. */
export interface HoldResult {
  readonly name: string;
  readonly pending: number;
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  /** Bytes V8 allocates per event once warm (allocatedPerUnit). */
  readonly allocatedBytesPerEvent: number;
}

const MEAN_DELAY_PS = 1_000_000;

/** Events per allocation window (allocatedPerUnit). */
const ALLOCATION_WINDOW = 20_000;

/**
 * Times `body` (which handles `events` events), then measures what `window(n)` (which handles
 * n more) allocates per event.
 */
function measure(
  name: string,
  pending: number,
  events: number,
  body: () => void,
  window: (n: number) => void,
): HoldResult {
  globalThis.gc?.();
  const t0 = process.hrtime.bigint();
  body();
  const t1 = process.hrtime.bigint();
  const seconds = Number(t1 - t0) / 1e9;
  const allocatedBytesPerEvent = allocatedPerUnit(() => {
    window(ALLOCATION_WINDOW);
    return ALLOCATION_WINDOW;
  });
  return { name, pending, events, seconds, eventsPerSecond: events / seconds, allocatedBytesPerEvent };
}

/**
 * The classic hold model on the exitless kernel: `pending` events wait; each one, when
 * handled, reschedules itself at a random (exponential) time in the future.
 */
export function holdKernel(pending: number, events: number, seed: number): HoldResult {
  const sim = new Simulator(pending);
  const rng = new RandomStreams(seed).stream('hold');
  let left = events;
  const evs: SimEvent[] = [];
  for (let i = 0; i < pending; i++) {
    const ev: SimEvent = new SimEvent(`hold${i}`, () => {
      if (--left <= 0) sim.stop();
      sim.reschedule(ev, sim.now + 1 + Math.floor(rng.exponential(MEAN_DELAY_PS)));
    });
    evs.push(ev);
    sim.schedule(ev, Math.floor(rng.exponential(MEAN_DELAY_PS)));
  }
  // Warm up the JIT on the same queue, then time a fresh run of `events`.
  left = Math.min(events, 200_000);
  sim.runUntilEmpty();
  left = events;
  return measure(
    'exitless Simulator',
    pending,
    events,
    () => sim.runUntilEmpty(),
    (n) => {
      left = n;
      sim.runUntilEmpty();
    },
  );
}

interface RefEvent {
  time: number;
  seq: number;
  /** The event's handler, as a kernel must dispatch one: returns the delay to its next firing. */
  handle: () => number;
}

/**
 * The same hold model on heap-js, a popular npm binary heap, with the same (time, sequence)
 * order and one handler call per event, as any event kernel dispatches.
 */
export function holdHeapJs(pending: number, events: number, seed: number): HoldResult {
  const rng = new RandomStreams(seed).stream('hold');
  let seq = 0;
  const heap = new Heap<RefEvent>((a, b) => a.time - b.time || a.seq - b.seq);
  for (let i = 0; i < pending; i++) {
    heap.push({
      time: Math.floor(rng.exponential(MEAN_DELAY_PS)),
      seq: seq++,
      handle: () => 1 + Math.floor(rng.exponential(MEAN_DELAY_PS)),
    });
  }
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const ev = heap.pop()!;
      // Dispatch the handler like a kernel, and reuse the record so the reference does not
      // pay for allocation either.
      ev.time = ev.time + ev.handle();
      ev.seq = seq++;
      heap.push(ev);
    }
  };
  run(Math.min(events, 200_000));
  return measure('heap-js (reference)', pending, events, () => run(events), run);
}

/**
 * The machine's ceiling for the same key sequence: a bare typed-array binary heap doing
 * replace-top with no event objects and no handler dispatch. Not a usable kernel; it shows
 * how much of a kernel's time the dispatch and the event objects' cache misses take.
 */
export function holdRawCeiling(pending: number, events: number, seed: number): HoldResult {
  const rng = new RandomStreams(seed).stream('hold');
  const kt = new Float64Array(pending);
  for (let i = 0; i < pending; i++) kt[i] = Math.floor(rng.exponential(MEAN_DELAY_PS));
  kt.sort();
  const run = (n: number) => {
    for (let it = 0; it < n; it++) {
      const t = kt[0]! + 1 + Math.floor(rng.exponential(MEAN_DELAY_PS));
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= pending) break;
        let ct = kt[c]!;
        if (c + 1 < pending && kt[c + 1]! < ct) {
          c++;
          ct = kt[c]!;
        }
        if (t <= ct) break;
        kt[i] = ct;
        i = c;
      }
      kt[i] = t;
    }
  };
  run(Math.min(events, 200_000));
  return measure('bare typed-array heap (ceiling)', pending, events, () => run(events), run);
}
