import type { ExampleOptions } from '../common.js';

/** A few simulated milliseconds (the load generators start by 1 ms), and the lines the example printed. */
export function shortRun(): ExampleOptions & { readonly lines: string[] } {
  const lines: string[] = [];
  return { durationMs: 3, warmupMs: 1, log: (line) => lines.push(line), lines };
}
