/**
 * Two guests on two designs sharing one NIC, assembled on the board directly: two cores, the
 * 82599 with two VFs, a KVM-like host whose strategies come from `builtinStrategies`, guest 0
 * in ELI and guest 1 in baseline, each with its own VF, its own IOMMU domain and its own
 * netperf UDP_RR load generator on the far end of the shared wire.
 *
 *   node --conditions=source --import tsx examples/two-guests-two-designs.ts
 */
import {
  Board,
  type BoardSpec,
  builtinStrategies,
  type GuestSlot,
  HOST_MEMORY_MIB,
  type RunReport,
  runMachine,
  XEON_X5570,
} from '@exitless/machine';
import type { SriovNic } from '@exitless/nic';
import { type ExampleOptions, exampleRun, fmt, isMain } from './common.js';
import { nic82599 } from './smallest-board.js';

const modes = ['eli', 'baseline'];

export const twoGuests: BoardSpec<SriovNic> = {
  profile: XEON_X5570,
  seed: 1,
  memoryMiB: HOST_MEMORY_MIB,
  cores: [{}, {}], // core i runs guest i's one vCPU
  nic: { factory: nic82599, vfs: 2 }, // VF i is assigned to guest i
  host: { mode: 'baseline', strategy: builtinStrategies(XEON_X5570, modes) },
  guests: modes.map(
    (mode, i): GuestSlot => ({
      core: i,
      vf: i,
      mode, // guest 0: ELI, guest 1: baseline, side by side on one host
      memoryMiB: 256,
      apicMode: 'x2apic', // ELI needs x2APIC
      interruptIntervalUs: null,
    }),
  ),
  workload: 'netperf-udp-rr',
};

/** Runs the board; prints each guest's throughput and latency, and each core's exits per second. */
export function main(options: ExampleOptions = {}): RunReport {
  const { run, log } = exampleRun(options);
  const board = new Board(twoGuests);
  board.perGuestModes = true; // the report names each guest's mode
  const report = runMachine(board, run);
  for (const g of report.guests ?? []) {
    log(
      `guest ${g.index} (${g.mode}): ${fmt(g.throughput.value)} ${g.throughput.unit}, ` +
        `p50 ${fmt(g.latency?.p50 ?? Number.NaN, 1)} us`,
    );
  }
  for (const c of report.cpus) {
    const reasons = Object.entries(c.exitsPerSecond.byReason)
      .map(([reason, perSecond]) => `${reason} ${fmt(perSecond)}`)
      .join(', ');
    log(`core ${c.id}: ${fmt(c.exitsPerSecond.total)} exits/s (${reasons})`);
  }
  return report;
}

if (isMain(import.meta.url)) main();
