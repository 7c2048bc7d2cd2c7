/**
 * Trace hooks: components report spans (begin/end), instants and counter samples on
 * named tracks. With no sink attached every call site costs one property read
 * (`if (tracer.enabled)`), so tracing can stay in the hot paths.
 */
export type TraceArgs = Readonly<Record<string, number | string | boolean>>;

/** Where trace records go (an in-memory list for tests, a Perfetto/Chrome JSON writer). */
export interface TraceSink {
  /** Opens a span `name` on `track` at `time` (ps). */
  begin(track: string, name: string, time: number, args?: TraceArgs): void;
  /** Closes the innermost open span on `track` at `time` (ps). */
  end(track: string, time: number): void;
  /** Records an instant event `name` on `track` at `time` (ps). */
  instant(track: string, name: string, time: number, args?: TraceArgs): void;
  /** Records a sample `value` of the counter `name` on `track` at `time` (ps). */
  counter(track: string, name: string, time: number, value: number): void;
}

/** The tracer every component holds; forwards to its sink when one is attached. */
export class Tracer {
  private sink: TraceSink | null = null;
  /** True when a sink is attached: guard call sites with it to skip building arguments. */
  enabled = false;

  /** Attaches `sink` (or detaches with null); sets {@link Tracer.enabled}. */
  attach(sink: TraceSink | null): void {
    this.sink = sink;
    this.enabled = sink !== null;
  }

  /** Opens a span `name` on `track` at `time` (ps), if a sink is attached. */
  begin(track: string, name: string, time: number, args?: TraceArgs): void {
    if (this.sink !== null) this.sink.begin(track, name, time, args);
  }

  /** Closes the innermost open span on `track` at `time` (ps), if a sink is attached. */
  end(track: string, time: number): void {
    if (this.sink !== null) this.sink.end(track, time);
  }

  /** Records an instant event `name` on `track` at `time` (ps), if a sink is attached. */
  instant(track: string, name: string, time: number, args?: TraceArgs): void {
    if (this.sink !== null) this.sink.instant(track, name, time, args);
  }

  /** Records a sample `value` of the counter `name` on `track` at `time` (ps), if a sink is attached. */
  counter(track: string, name: string, time: number, value: number): void {
    if (this.sink !== null) this.sink.counter(track, name, time, value);
  }
}

/** One record kept by MemoryTraceSink. */
export interface TraceRecord {
  /** Which call made the record. */
  readonly kind: 'begin' | 'end' | 'instant' | 'counter';
  /** The track (one thread in a trace viewer). */
  readonly track: string;
  /** The span, instant or counter name (empty for `end`). */
  readonly name: string;
  /** Simulated time, ps. */
  readonly time: number;
  /** The counter's value (counter records only). */
  readonly value?: number;
  /** Arguments of a begin or instant record, if given. */
  readonly args?: TraceArgs;
}

/** A sink that keeps every record in order (for tests and small runs). */
export class MemoryTraceSink implements TraceSink {
  /** Every record, in the order received. */
  readonly records: TraceRecord[] = [];

  begin(track: string, name: string, time: number, args?: TraceArgs): void {
    this.records.push(
      args === undefined ? { kind: 'begin', track, name, time } : { kind: 'begin', track, name, time, args },
    );
  }

  end(track: string, time: number): void {
    this.records.push({ kind: 'end', track, name: '', time });
  }

  instant(track: string, name: string, time: number, args?: TraceArgs): void {
    this.records.push(
      args === undefined
        ? { kind: 'instant', track, name, time }
        : { kind: 'instant', track, name, time, args },
    );
  }

  counter(track: string, name: string, time: number, value: number): void {
    this.records.push({ kind: 'counter', track, name, time, value });
  }
}

/**
 * A sink that keeps records in the Chrome trace-event format, which the Perfetto UI
 * (ui.perfetto.dev) and chrome://tracing open: one thread per track, spans as B/E events,
 * instants as `i`, counters as `C`; timestamps in microseconds. It keeps at most
 * `maxEvents` records; the rest are counted in `dropped` (and said in the file's metadata).
 */
export class ChromeTraceSink implements TraceSink {
  /** Most records kept; later ones are counted in {@link ChromeTraceSink.dropped}. */
  readonly maxEvents: number;
  /** Records dropped because `maxEvents` were already kept. */
  dropped = 0;
  private readonly events: string[] = [];
  private readonly tids = new Map<string, number>();

  constructor(maxEvents = 1_000_000) {
    if (!Number.isInteger(maxEvents) || maxEvents < 1)
      throw new RangeError('maxEvents must be a positive integer');
    this.maxEvents = maxEvents;
  }

  private tid(track: string): number {
    let t = this.tids.get(track);
    if (t === undefined) {
      t = this.tids.size + 1;
      this.tids.set(track, t);
    }
    return t;
  }

  private push(json: string): void {
    if (this.events.length >= this.maxEvents) {
      this.dropped++;
      return;
    }
    this.events.push(json);
  }

  private static ts(time: number): string {
    return (time / 1e6).toFixed(6);
  }

  begin(track: string, name: string, time: number, args?: TraceArgs): void {
    this.push(
      `{"ph":"B","pid":1,"tid":${this.tid(track)},"ts":${ChromeTraceSink.ts(time)},"name":${JSON.stringify(name)}${args === undefined ? '' : `,"args":${JSON.stringify(args)}`}}`,
    );
  }

  end(track: string, time: number): void {
    this.push(`{"ph":"E","pid":1,"tid":${this.tid(track)},"ts":${ChromeTraceSink.ts(time)}}`);
  }

  instant(track: string, name: string, time: number, args?: TraceArgs): void {
    this.push(
      `{"ph":"i","s":"t","pid":1,"tid":${this.tid(track)},"ts":${ChromeTraceSink.ts(time)},"name":${JSON.stringify(name)}${args === undefined ? '' : `,"args":${JSON.stringify(args)}`}}`,
    );
  }

  counter(track: string, name: string, time: number, value: number): void {
    this.push(
      `{"ph":"C","pid":1,"tid":${this.tid(track)},"ts":${ChromeTraceSink.ts(time)},"name":${JSON.stringify(name)},"args":{"value":${value}}}`,
    );
  }

  /** Records kept so far. */
  get size(): number {
    return this.events.length;
  }

  /** The trace file: thread names for the tracks, then the records in order. */
  toJSON(): string {
    const names = [...this.tids.entries()].map(
      ([track, tid]) =>
        `{"ph":"M","pid":1,"tid":${tid},"name":"thread_name","args":{"name":${JSON.stringify(track)}}}`,
    );
    return `{"displayTimeUnit":"ns","otherData":{"dropped":${this.dropped}},"traceEvents":[\n${[...names, ...this.events].join(',\n')}\n]}\n`;
  }
}
