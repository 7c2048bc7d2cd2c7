/**
 * Trace hooks: components report spans (begin/end), instants and counter samples on
 * named tracks. With no sink attached every call site costs one property read
 * (`if (tracer.enabled)`), so tracing can stay in the hot paths.
 */
export type TraceArgs = Readonly<Record<string, number | string | boolean>>;

/** Where trace records go (an in-memory list for tests, a Perfetto/Chrome JSON writer). */
export interface TraceSink {
  begin(track: string, name: string, time: number, args?: TraceArgs): void;
  end(track: string, time: number): void;
  instant(track: string, name: string, time: number, args?: TraceArgs): void;
  counter(track: string, name: string, time: number, value: number): void;
}

/** The tracer every component holds; forwards to its sink when one is attached. */
export class Tracer {
  private sink: TraceSink | null = null;
  /** True when a sink is attached: guard call sites with it to skip building arguments. */
  enabled = false;

  attach(sink: TraceSink | null): void {
    this.sink = sink;
    this.enabled = sink !== null;
  }

  begin(track: string, name: string, time: number, args?: TraceArgs): void {
    if (this.sink !== null) this.sink.begin(track, name, time, args);
  }

  end(track: string, time: number): void {
    if (this.sink !== null) this.sink.end(track, time);
  }

  instant(track: string, name: string, time: number, args?: TraceArgs): void {
    if (this.sink !== null) this.sink.instant(track, name, time, args);
  }

  counter(track: string, name: string, time: number, value: number): void {
    if (this.sink !== null) this.sink.counter(track, name, time, value);
  }
}

/** One record kept by MemoryTraceSink. */
export interface TraceRecord {
  readonly kind: 'begin' | 'end' | 'instant' | 'counter';
  readonly track: string;
  readonly name: string;
  readonly time: number;
  readonly value?: number;
  readonly args?: TraceArgs;
}

/** A sink that keeps every record in order (for tests and small runs). */
export class MemoryTraceSink implements TraceSink {
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
