import { CpuConfigError } from './errors.js';

/**
 * What each operation and each hardware transition costs, in core cycles of the CPU's own
 * clock. Every field is required: the machine package fills them from the calibration
 * profile (for the ELI-era Xeon X5570, about 2,000 cycles direct per exit+entry and an
 * indirect cost up to ten times that — see calibration-sources.md); tests pass explicit
 * values. Fractional cycles are allowed (they are converted to whole picoseconds).
 */
export interface CpuCosts {
  /** Hardware VM-exit transition: guest-state save, host-state load (core cycles). */
  readonly vmExitCycles: number;
  /** Hardware VM-entry transition: checks, guest-state load (core cycles). */
  readonly vmEntryCycles: number;
  /**
   * The fixed part of a VM exit's indirect cost: what the world switch itself costs the
   * guest afterwards (pipeline refill, the VMCS, host stack and descriptor lines, TLB entries
   * of the host's few pages), whatever the host then does (core cycles per exit). Charged to
   * the guest work that follows the next entry, accounted as `time.exit-indirect`.
   */
  readonly exitIndirectCycles: number;
  /**
   * The part that grows with the host's footprint: guest cycles lost to refilling caches and
   * TLB per core cycle the host spent working (not idle) between the exit and the next entry
   * — its exit handler, interrupt handlers, IRQ threads, context switches (SplitX: the
   * hypervisor's path displaces the guest's lines, and the guest refills them). Charged with
   * the fixed part, after the entry.
   */
  readonly exitPollutionPerHostCycle: number;
  /** The most one exit can cost the guest in refills: its whole cached working set reloaded (core cycles). */
  readonly exitPollutionMaxCycles: number;
  /** Delivering an event through the IDT: gate read, stack frame push, control transfer (core cycles). */
  readonly eventDeliveryCycles: number;
  /** IRET (core cycles). */
  readonly iretCycles: number;
  /** A RDMSR that does not exit (core cycles). */
  readonly rdmsrCycles: number;
  /** A WRMSR that does not exit (core cycles). */
  readonly wrmsrCycles: number;
  /** An uncached MMIO load that does not exit (core cycles). */
  readonly mmioReadCycles: number;
  /** An uncached MMIO store that does not exit (core cycles). */
  readonly mmioWriteCycles: number;
  /** CLI or STI (core cycles). */
  readonly cliStiCycles: number;
  /** LIDT or SIDT that does not exit (core cycles). */
  readonly descriptorTableCycles: number;
  /** PAUSE (core cycles). */
  readonly pauseCycles: number;
}

const COST_FIELDS: readonly (keyof CpuCosts)[] = [
  'vmExitCycles',
  'vmEntryCycles',
  'exitIndirectCycles',
  'exitPollutionPerHostCycle',
  'exitPollutionMaxCycles',
  'eventDeliveryCycles',
  'iretCycles',
  'rdmsrCycles',
  'wrmsrCycles',
  'mmioReadCycles',
  'mmioWriteCycles',
  'cliStiCycles',
  'descriptorTableCycles',
  'pauseCycles',
];

/** Throws CpuConfigError unless every field of `costs` is a finite number ≥ 0. */
export function validateCpuCosts(costs: CpuCosts): void {
  for (const f of COST_FIELDS) {
    const v = costs[f] as unknown;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new CpuConfigError(
        `CpuCosts.${f} must be a finite number of core cycles ≥ 0, got ${String(v)}: set it from the calibration profile`,
      );
    }
  }
}
