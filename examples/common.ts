import { pathToFileURL } from 'node:url';

/** What each example's `main` takes: how long to simulate, and where its lines go. */
export interface ExampleOptions {
  /** Measured simulated time, ms (default 50). */
  readonly durationMs?: number;
  /** Simulated time before measuring, ms (default 10; the load generators start by 1 ms). */
  readonly warmupMs?: number;
  /** Where the example prints (default console.log). */
  readonly log?: (line: string) => void;
}

/** `runMachine`'s options and the printer, with the defaults filled in. */
export function exampleRun(options: ExampleOptions): {
  readonly run: { readonly durationMs: number; readonly warmupMs: number };
  readonly log: (line: string) => void;
} {
  return {
    run: { durationMs: options.durationMs ?? 50, warmupMs: options.warmupMs ?? 10 },
    log: options.log ?? ((line) => console.log(line)),
  };
}

/** True when the module at `moduleUrl` is the program node was asked to run (not an import). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && moduleUrl === pathToFileURL(entry).href;
}

/** A figure for printing: grouped thousands, at most `digits` decimals. */
export function fmt(value: number, digits = 0): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits });
}
