/**
 * A local APIC of the example's own in the board's core slot. `TallyingLapic` is
 * `@exitless/lapic`'s `LocalApicDevice` with one method overridden: `acknowledge` (the CPU's
 * INTA cycle, SDM vol. 3 §10.8.4) also counts the vector it returns. The tally shows which
 * vectors each design has the core's physical LAPIC deliver for the VF's two MSI-X entries:
 * in baseline, the host's (0x51, 0x52), acknowledged at an external-interrupt exit, the guest's
 * vectors then injected; in ELI the same host vectors, but taken in guest mode, where the shadow IDT's
 * gates for them lead to the guest's handlers with no exit; in DID the guest's own vectors
 * (0x41, 0x42), through its own IDT.
 *
 * Any `LocalApic` that registers itself on the interrupt bus fits the slot (what
 * `describeLocalApicConformance` checks, and this one's test runs); a LAPIC written from
 * scratch plugs in the same way.
 *
 *   node --conditions=source --import tsx examples/own-lapic.ts
 */
import { LocalApicDevice } from '@exitless/lapic';
import { Board, type BoardSpec, builtinStrategies, runMachine, XEON_X5570 } from '@exitless/machine';
import type { SriovNic } from '@exitless/nic';
import { type ExampleOptions, exampleRun, fmt, isMain } from './common.js';
import { oneVm } from './smallest-board.js';

export class TallyingLapic extends LocalApicDevice {
  /** Interrupts acknowledged, by vector, since the LAPIC was built (the whole run, warm-up included). */
  readonly taken: Float64Array = new Float64Array(256);

  override acknowledge(): number {
    const vector = super.acknowledge();
    this.taken[vector]!++;
    return vector;
  }
}

/** One VM running netperf UDP_RR in `mode`, its core's LAPIC a TallyingLapic (pushed to `lapics`). */
export function tallyingBoard(mode: string, lapics: TallyingLapic[]): BoardSpec<SriovNic> {
  return {
    ...oneVm,
    cores: [
      {
        lapic: (o) => {
          const lapic = new TallyingLapic(o);
          lapics.push(lapic);
          return lapic;
        },
      },
    ],
    host: { mode, strategy: builtinStrategies(XEON_X5570, [mode]) },
    workload: 'netperf-udp-rr',
  };
}

/** The vectors a LAPIC took, most frequent first: [vector, count]. */
export function vectorsTaken(lapic: TallyingLapic): [number, number][] {
  return [...lapic.taken.entries()].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
}

/** Runs baseline, ELI and DID; prints the vectors core 0's LAPIC delivered in each. */
export function main(
  options: ExampleOptions = {},
): Readonly<Record<'baseline' | 'eli' | 'did', [number, number][]>> {
  const { run, log } = exampleRun(options);
  const taken = {
    baseline: [] as [number, number][],
    eli: [] as [number, number][],
    did: [] as [number, number][],
  };
  for (const mode of ['baseline', 'eli', 'did'] as const) {
    const lapics: TallyingLapic[] = [];
    const report = runMachine(new Board(tallyingBoard(mode, lapics)), run);
    taken[mode] = vectorsTaken(lapics[0]!);
    const list = taken[mode].map(([v, n]) => `0x${v.toString(16)} ×${fmt(n)}`).join(', ');
    log(
      `${mode.padEnd(8)} ${fmt(report.throughput.value)} ${report.throughput.unit}; core 0's LAPIC took ${list}`,
    );
  }
  return taken;
}

if (isMain(import.meta.url)) main();
