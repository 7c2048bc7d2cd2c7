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
  const run = kernelHoldModel(pending, seed);
  // Warm up the JIT on the same queue, then time a fresh run of `events`.
  run(Math.min(events, 200_000));
  return measure('exitless Simulator', pending, events, () => run(events), run);
}

/** The hold model on the exitless kernel, ready to handle `n` more events at each call. */
function kernelHoldModel(pending: number, seed: number): (n: number) => void {
  const sim = new Simulator(pending);
  const rng = new RandomStreams(seed).stream('hold');
  let left = 0;
  for (let i = 0; i < pending; i++) {
    const ev: SimEvent = new SimEvent(`hold${i}`, () => {
      if (--left <= 0) sim.stop();
      sim.reschedule(ev, sim.now + 1 + Math.floor(rng.exponential(MEAN_DELAY_PS)));
    });
    sim.schedule(ev, Math.floor(rng.exponential(MEAN_DELAY_PS)));
  }
  return (n) => {
    left = n;
    sim.runUntilEmpty();
  };
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
  const run = heapJsHoldModel(pending, seed);
  run(Math.min(events, 200_000));
  return measure('heap-js (reference)', pending, events, () => run(events), run);
}

/** The hold model on heap-js, ready to handle `n` more events at each call. */
function heapJsHoldModel(pending: number, seed: number): (n: number) => void {
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
  return (n) => {
    for (let i = 0; i < n; i++) {
      const ev = heap.pop()!;
      // Dispatch the handler like a kernel, and reuse the record so the reference does not
      // pay for allocation either.
      ev.time = ev.time + ev.handle();
      ev.seq = seq++;
      heap.push(ev);
    }
  };
}

/** The kernel against heap-js, timed in alternating chunks (pairedRatios, summarizePairs). */
export interface PairedHold {
  readonly pending: number;
  /** Pairs of chunks timed, over all the processes, and events in each chunk. */
  readonly pairs: number;
  readonly chunkEvents: number;
  /** The kernel's speed over heap-js's in each pair: median and quartiles. */
  readonly median: number;
  readonly q1: number;
  readonly q3: number;
}

/**
 * The kernel and heap-js on the same hold model in this process, timed in alternating chunks
 * of `chunkEvents` events, `pairs` pairs after a warm-up, built in the order given (which one
 * is built first moves the ratio by a few per cent: where each lands in memory). Returns, for
 * each pair, the kernel's speed over heap-js's. Each pair sees the same load from the rest of
 * the machine, so these ratios are steadier than the ratio of two separate figures on a
 * shared host. Both models stay in memory throughout, and each chunk starts with the caches
 * holding some of the other's data.
 */
export function pairedRatios(
  pending: number,
  pairs: number,
  chunkEvents: number,
  seed: number,
  kernelFirst: boolean,
): number[] {
  let kernel: (n: number) => void;
  let ref: (n: number) => void;
  if (kernelFirst) {
    kernel = kernelHoldModel(pending, seed);
    ref = heapJsHoldModel(pending, seed);
  } else {
    ref = heapJsHoldModel(pending, seed);
    kernel = kernelHoldModel(pending, seed);
  }
  kernel(Math.max(200_000, chunkEvents));
  ref(Math.max(200_000, chunkEvents));
  const ratios: number[] = [];
  for (let p = 0; p < pairs; p++) {
    const t0 = process.hrtime.bigint();
    kernel(chunkEvents);
    const t1 = process.hrtime.bigint();
    ref(chunkEvents);
    const t2 = process.hrtime.bigint();
    // The kernel's events per second over heap-js's: heap-js's time over the kernel's.
    ratios.push(Number(t2 - t1) / Number(t1 - t0));
  }
  return ratios;
}

/** The median and quartiles of the ratios of pairs of chunks. */
export function summarizePairs(pending: number, chunkEvents: number, ratios: readonly number[]): PairedHold {
  const sorted = [...ratios].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { pending, pairs: sorted.length, chunkEvents, median: at(0.5), q1: at(0.25), q3: at(0.75) };
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
