/**
 * The smallest board: one core, bare metal, `@exitless/nic`'s 82599, netperf TCP_STREAM —
 * then the same board with a host and one VM on it. Every slot is written out, so this is
 * also the default machine (`new Machine({ mode: 'bare-metal' })`) spelled as parts.
 * The machine README's "Assembling a machine" starts here.
 *
 *   node --conditions=source --import tsx examples/smallest-board.ts
 */
import {
  Board,
  type BoardSpec,
  bareMetalMemoryMiB,
  builtinStrategies,
  HOST_MEMORY_MIB,
  type RunReport,
  runMachine,
  XEON_X5570,
} from '@exitless/machine';
import { NIC_82599, type NicFactoryOptions, SriovNic } from '@exitless/nic';
import { type ExampleOptions, exampleRun, fmt, isMain } from './common.js';

/** The NIC slot's factory: `@exitless/nic`'s 82599, at the requester ID and MAC the board hands it. */
export function nic82599(o: NicFactoryOptions): SriovNic {
  const options = { ...NIC_82599, requesterId: o.requesterId, macAddress: o.macAddress };
  return new SriovNic(o.sim, o.dma, o.msi, o.timing, options, o.stats);
}

export const smallestBoard: BoardSpec<SriovNic> = {
  profile: XEON_X5570, // every cost and latency, from the calibration profile
  seed: 1,
  memoryMiB: bareMetalMemoryMiB(256), // the platform's RAM below the OS's 256 MiB
  cores: [{}], // one core; its LAPIC slot left empty: @exitless/lapic's
  nic: { factory: nic82599, vfs: 1 }, // the OS drives VF 0 itself
  // The one OS: on core 0, driving VF 0, in 256 MiB, through x2APIC, ixgbevf's own throttling.
  guests: [{ core: 0, vf: 0, memoryMiB: 256, apicMode: 'x2apic', interruptIntervalUs: null }],
  workload: 'netperf-tcp-stream', // netperf's sender on its own machine at the wire's far end
};

export const oneVm: BoardSpec<SriovNic> = {
  ...smallestBoard,
  memoryMiB: HOST_MEMORY_MIB, // the host's RAM; the VM's 256 MiB come out of it
  // A KVM-like host on every core; the guest, now a VM, in baseline's design.
  host: { mode: 'baseline', strategy: builtinStrategies(XEON_X5570, ['baseline']) },
};

/** Runs both boards and prints throughput, exits and time in guest. */
export function main(options: ExampleOptions = {}): {
  readonly bareMetal: RunReport;
  readonly vm: RunReport;
} {
  const { run, log } = exampleRun(options);
  const bareMetal = runMachine(new Board(smallestBoard), run);
  const vm = runMachine(new Board(oneVm), run);
  for (const r of [bareMetal, vm]) {
    log(
      `${r.mode.padEnd(10)} ${fmt(r.throughput.value)} ${r.throughput.unit}, ` +
        `${fmt(r.exitsPerSecond.total)} exits/s, ${fmt(r.timeInGuest * 100, 1)}% of the core in the OS`,
    );
  }
  return { bareMetal, vm };
}

if (isMain(import.meta.url)) main();
