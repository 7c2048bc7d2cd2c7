/**
 * `@exitless/sim`'s event loop: a periodic event every 100 µs for 1 ms of simulated time,
 * counted in `Stats`. The sim README's example.
 *
 *   node --conditions=source --import tsx examples/packages/sim-periodic-timer.ts
 */

import { SimEvent, Simulator, Stats, us } from '@exitless/sim';
import { type ExampleOptions, exampleRun, isMain } from '../common.js';

export function main(options: ExampleOptions = {}): Readonly<Record<string, number>> {
  const { log } = exampleRun(options);
  const sim = new Simulator();
  const stats = new Stats(sim);
  const ticks = stats.counter('timer.ticks');
  const tick: SimEvent = new SimEvent('timer', () => {
    ticks.inc();
    sim.scheduleIn(tick, us(100));
  });
  sim.schedule(tick, 0);
  sim.runUntil(us(1000)); // events at 0, 100, …, 1000 µs: the one at the limit runs too
  const { counters } = stats.snapshot();
  log(JSON.stringify(counters)); // {"timer.ticks":11}
  return counters;
}

if (isMain(import.meta.url)) main();
