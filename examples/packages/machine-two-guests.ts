/**
 * Two guests on two cores, each with its own VF, in ELI, serving memcached; then two guests
 * on different designs side by side on one host. The machine README's "A custom machine".
 *
 *   node --conditions=source --import tsx examples/packages/machine-two-guests.ts
 */
import { Machine, type RunReport, runMachine } from '@exitless/machine';
import { type ExampleOptions, exampleRun, fmt, isMain } from '../common.js';

export function main(options: ExampleOptions = {}): {
  readonly sameDesign: RunReport;
  readonly twoDesigns: RunReport;
} {
  const { run, log } = exampleRun(options);
  const machine = new Machine({ mode: 'eli', guests: 2, workload: 'memcached' });
  const report = runMachine(machine, run);
  for (const g of report.guests ?? [])
    log(`guest ${g.index}: ${fmt(g.throughput.value)} ${g.throughput.unit}`);
  log(`exits/s, core by core: ${report.cpus.map((c) => fmt(c.exitsPerSecond.total)).join(', ')}`);

  const mixed = new Machine({ mode: 'baseline', guests: 2, guestModes: ['eli-guest-hlt', 'baseline'] });
  const mixedReport = runMachine(mixed, run);
  log(`guests' modes: ${mixedReport.guests?.map((g) => g.mode).join(', ')}`);
  return { sameDesign: report, twoDesigns: mixedReport };
}

if (isMain(import.meta.url)) main();
