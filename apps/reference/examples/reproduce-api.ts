/**
 * The reproduction as a library call: what `exitless reproduce --workloads netperf-tcp-stream
 * --modes bare-metal,baseline,eli --duration 50 --warmup 10 --out out/mine --jobs 1` runs,
 * without the command line. `test/examples.test.ts` runs it (shorter) and checks what it
 * returns. Run it in full with `node --conditions=source --import tsx apps/reference/examples/reproduce-api.ts`.
 */
import { fileURLToPath } from 'node:url';
import type { ReproduceEntry } from '../src/format.js';
import { reproduce } from '../src/reproduce.js';

/** TCP_STREAM on bare metal, baseline and ELI: the files go to `outDir`, the table to stdout; returns the runs. */
export async function main(
  outDir = 'out/mine',
  durationMs = 50,
  warmupMs = 10,
): Promise<readonly ReproduceEntry[]> {
  const { entries, text } = await reproduce({
    workloads: ['netperf-tcp-stream'],
    modes: ['bare-metal', 'baseline', 'eli'],
    durationMs,
    warmupMs,
    seed: 1,
    outDir,
    jobs: 1,
  });
  console.log(
    text,
    entries.map((e) => e.relative),
  );
  return entries;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
