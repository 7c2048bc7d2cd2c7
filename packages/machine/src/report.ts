import { MAX_TIME_PS, ms, PS_PER_MS, psToSeconds } from '@exitless/sim';
import { exitReasonName, UserError } from '@exitless/x86';
import type { Board } from './board.js';
import { describeRange, describeValue, inRange, type NumberRange } from './validate.js';
import type { WorkloadMetrics } from './workload.js';

/** The version of the run report's JSON schema (bump on any incompatible change). */
export const REPORT_SCHEMA_VERSION = 1;

/** How long to run. */
export interface RunOptions {
  /** Measured simulated time, ms. */
  readonly durationMs: number;
  /** Simulated time before measuring (statistics are reset at its end), ms. */
  readonly warmupMs: number;
  /**
   * Called as the run goes (warm-up included), with the simulated time reached and the time
   * the run ends, ps: every `progressEveryMs` of simulated time, and last with
   * `simulatedPs === endPs`. It is called between events, never from one, and the run is cut
   * into steps only where nothing happens: the report is the same, byte for byte, with or
   * without it (`test/report.test.ts`). Wall-clock time belongs to the caller
   * (a progress line on stderr, say); the report keeps none.
   */
  readonly onProgress?: (simulatedPs: number, endPs: number) => void;
  /** How much simulated time between two `onProgress` calls, ms (default 1). Unused without `onProgress`. */
  readonly progressEveryMs?: number;
}

/** The simulated time between two `RunOptions.onProgress` calls when `progressEveryMs` is not given, ms. */
const DEFAULT_PROGRESS_EVERY_MS = 1;

/** Per-CPU figures of a run. */
export interface CpuReport {
  /** The CPU's index (its APIC ID). */
  readonly id: number;
  /** Fractions of the measured time (sum to 1). */
  readonly time: {
    /** Running guest software (non-root operation). */
    readonly guest: number;
    /** Running host software in root operation (the OS itself on bare metal). */
    readonly host: number;
    /** VM entry and exit transitions. */
    readonly transition: number;
    /** Guest work spent paying exits' indirect costs (cache and TLB refills after the entry). */
    readonly exitIndirect: number;
    /** Halted (HLT) in a guest. */
    readonly haltedGuest: number;
    /** Halted (HLT) in root operation. */
    readonly haltedHost: number;
    /** No software to run. */
    readonly idle: number;
  };
  /** VM exits on this CPU per second. */
  readonly exitsPerSecond: {
    /** All exits. */
    readonly total: number;
    /** By exit reason's name (`external-interrupt`, `wrmsr`, …), in name order. */
    readonly byReason: Readonly<Record<string, number>>;
  };
  /** Interrupts the CPU acknowledged from its physical LAPIC, per second. */
  readonly physicalInterruptsPerSecond: number;
  /** Virtual interrupts injected at VM entry, per second. */
  readonly injectionsPerSecond: number;
  /**
   * The mean indirect cost (cache and TLB refills the guest paid after the entry) of an exit
   * of each reason, core cycles: the fixed part plus the part that grows with the host's work
   * during that exit. Empty on bare metal.
   */
  readonly exitIndirectCyclesPerExit: Readonly<Record<string, number>>;
  /**
   * The host's IRQ threads on this CPU (KVM's threaded assigned-device interrupts), per second:
   * runs, and context switches of every kind; and where the host polls before it blocks a
   * halted vCPU (KVM's halt polling, Linux 4.0+), the polls per second that found the vCPU an
   * interrupt (it ran again with no switch) and those that did not (it went on to sleep).
   */
  readonly host: {
    /** Runs of the host's IRQ threads, per second. */
    readonly irqThreadRunsPerSecond: number;
    /** Context switches of every kind, per second. */
    readonly contextSwitchesPerSecond: number;
    /** Halt polls that found the vCPU an interrupt, per second (only with halt polling). */
    readonly haltPollSuccessesPerSecond?: number;
    /** Halt polls that did not (the vCPU went on to sleep), per second (only with halt polling). */
    readonly haltPollFailsPerSecond?: number;
  };
}

/** A latency distribution, µs (from the workload's histogram of round trips in ps). */
export interface LatencyReport {
  /** Mean, µs. */
  readonly mean: number;
  /** Median (50th percentile), µs. */
  readonly p50: number;
  /** 99th percentile, µs. */
  readonly p99: number;
  /** 99.9th percentile, µs. */
  readonly p999: number;
  /**
   * The distribution to draw (a CDF): the latency at each of a fixed list of percentiles, in
   * this order: 0, 1, 2, 5, 10, 15, …, 90 (every 5), 95, 98, 99, 99.5, 99.9, 100. Every 5 in
   * the body draws a smooth curve; 1, 2 and 95 … 99.9 show the ends, where the modes differ.
   * Read from the same histogram in the same way as `p50`, `p99` and `p999` (the entries at 50,
   * 99 and 99.9 are those values), so the values never fall as the percentile rises. The ends
   * are the smallest and the largest latency at the histogram's precision (0.1%): 0 is the
   * lowest value the smallest one's bucket holds, 100 the highest the largest one's holds.
   */
  readonly cdf: readonly {
    /** The percentile, 0–100. */
    readonly percentile: number;
    /** The latency at it: that share of the round trips took at most this long, µs. */
    readonly value: number;
  }[];
  /** The unit of the figures: always 'us'. */
  readonly unit: 'us';
}

/**
 * The percentiles of `LatencyReport.cdf` (documented there). Percentiles, not fractions, so
 * that the entries at 50, 99 and 99.9 call `Histogram.percentile` with the very arguments
 * `p50`, `p99` and `p999` do.
 */
const LATENCY_CDF_PERCENTILES: readonly number[] = [
  0, 1, 2, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 98, 99, 99.5, 99.9, 100,
];

/** One run, as `exitless run --json` prints it. No wall-clock figures: the same seed gives the same bytes. */
export interface RunReport {
  /** {@link REPORT_SCHEMA_VERSION} of the report's producer. */
  readonly schemaVersion: number;
  /** Guest 0's workload. */
  readonly workload: string;
  /** The host's mode, or 'bare-metal'. */
  readonly mode: string;
  /** The run's seed. */
  readonly seed: number;
  /** The calibration profile's name. */
  readonly profile: string;
  /** Measured simulated time, ms. */
  readonly durationMs: number;
  /** Simulated warm-up time before the measurement, ms. */
  readonly warmupMs: number;
  /** The workload's throughput over the measured interval: guest 0's, plus every guest's that runs the same workload. */
  readonly throughput: {
    /** The value, in `unit`. */
    readonly value: number;
    /** The unit (`Mb/s`, `transactions/s`, `requests/s`, …). */
    readonly unit: string;
  };
  /** Request/response latency where the workload measures it (null for netperf TCP_STREAM). */
  readonly latency: LatencyReport | null;
  /** VM exits per second, all CPUs together. */
  readonly exitsPerSecond: {
    /** All exits. */
    readonly total: number;
    /** By exit reason's name, in name order. */
    readonly byReason: Readonly<Record<string, number>>;
  };
  /** Interrupts per second, all CPUs together. */
  readonly interruptsPerSecond: {
    /** Interrupts the CPUs acknowledged from their physical LAPICs. */
    readonly physical: number;
    /** Virtual interrupts the host injected at VM entry. */
    readonly virtual: number;
  };
  /** Interrupt messages the assigned VF sent during the measurement. */
  readonly assignedInterrupts: number;
  /** VM exits per assigned-device interrupt (0 when the VF sent none). */
  readonly exitsPerAssignedInterrupt: number;
  /** Fraction of the measured time the CPU spent running guest code (0..1). */
  readonly timeInGuest: number;
  /** Network figures over the measured interval, every guest together. */
  readonly network: {
    /** Frames the guests' drivers received. */
    readonly framesReceived: number;
    /** Frames the VFs dropped for want of a free RX descriptor. */
    readonly rxMissed: number;
    /** Segments (or requests) the workloads sent again, both ends (`WorkloadMetrics.retransmissions`). */
    readonly retransmissions: number;
    /** Frames the guests transmitted (netperf TCP_STREAM's receiver sends only ACKs). */
    readonly guestAcks: number;
  };
  /** Why a VM stopped, or null if none did. */
  readonly stopped: string | null;
  /** Per-CPU figures. */
  readonly cpus: readonly CpuReport[];
  /** Per guest, when the machine has more than one: its throughput and latency (the totals above sum them; `latency` above is guest 0's). */
  readonly guests?: readonly GuestReport[];
  /**
   * Present when the host refused something a guest tried and let it run on (a store to a
   * host-owned read-only page), over the whole run including warm-up: how many, and the first 16.
   */
  readonly guestViolations?: {
    /** How many refusals. */
    readonly count: number;
    /** The first refusals (at most 16), described. */
    readonly first: readonly string[];
  };
}

/** One guest's figures in a machine with several. */
export interface GuestReport {
  /** The guest's index (0 for the first). */
  readonly index: number;
  /** The guest's mode, when the machine's guests run in different ones (`MachineConfig.guestModes`). */
  readonly mode?: string;
  /** The guest's workload, when the machine's guests run different ones (`MachineConfig.guestWorkloads`). */
  readonly workload?: string;
  /** The guest's workload's throughput. */
  readonly throughput: {
    /** The value, in `unit`. */
    readonly value: number;
    /** The unit. */
    readonly unit: string;
  };
  /** The guest's request/response latency, or null where its workload measures none. */
  readonly latency: LatencyReport | null;
}

/** Thrown by runMachine for run options it cannot use; the message names the option and what it accepts. */
export class RunOptionsError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'RunOptionsError';
  }
}

/** The longest run, ms: warm-up and measurement must end on the simulator's clock (2^53 − 1 ps). */
const MAX_RUN_MS = Math.floor(MAX_TIME_PS / PS_PER_MS);

/** What RunOptions accept: at least 1 µs measured (so rates have a denominator), and a run the clock can hold. */
export const RUN_OPTIONS_LIMITS: {
  /** Measured time: 1 µs up to the clock's end. */
  readonly durationMs: NumberRange;
  /** Warm-up: 0 up to the clock's end. */
  readonly warmupMs: NumberRange;
  /** Progress interval: 1 µs up to the clock's end. */
  readonly progressEveryMs: NumberRange;
} = {
  durationMs: { min: 0.001, max: MAX_RUN_MS, unit: 'ms' },
  warmupMs: { min: 0, max: MAX_RUN_MS, unit: 'ms' },
  progressEveryMs: { min: 0.001, max: MAX_RUN_MS, unit: 'ms' },
};

function checkRunOptions(machine: Board, options: RunOptions): void {
  for (const key of ['durationMs', 'warmupMs'] as const) {
    const v: unknown = options[key];
    if (!inRange(v, RUN_OPTIONS_LIMITS[key])) {
      throw new RunOptionsError(
        `${key} must be ${describeRange(RUN_OPTIONS_LIMITS[key])}, got ${describeValue(v)}`,
      );
    }
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new RunOptionsError(`onProgress must be a function, got ${describeValue(options.onProgress)}`);
  }
  if (
    options.progressEveryMs !== undefined &&
    !inRange(options.progressEveryMs, RUN_OPTIONS_LIMITS.progressEveryMs)
  ) {
    throw new RunOptionsError(
      `progressEveryMs must be ${describeRange(RUN_OPTIONS_LIMITS.progressEveryMs)}, got ${describeValue(options.progressEveryMs)}`,
    );
  }
  if (options.durationMs + options.warmupMs > MAX_RUN_MS) {
    throw new RunOptionsError(
      `durationMs + warmupMs must be at most ${MAX_RUN_MS} ms (the simulator's clock ends at 2^53 − 1 ps), got ${options.durationMs + options.warmupMs}`,
    );
  }
  if (machine.sim.now !== 0) {
    throw new RunOptionsError(
      'runMachine runs a machine once, from time 0: build a new Machine for another run',
    );
  }
}

/**
 * Runs the simulator to `until`: in one step, or with `onProgress` in steps of
 * `progressEveryMs`, calling it after each. Steps change nothing: `runUntil(t)` fires every
 * event due at or before `t` and nothing else, so the same events fire in the same order
 * however the time is cut (a CPU that would move the clock past a step's end without an event
 * schedules one at the same time instead: `Simulator.tryAdvanceTo`).
 */
function runTo(machine: Board, until: number, endPs: number, options: RunOptions): void {
  const { onProgress } = options;
  if (onProgress === undefined) {
    machine.sim.runUntil(until);
    return;
  }
  const step = Math.max(1, ms(options.progressEveryMs ?? DEFAULT_PROGRESS_EVERY_MS));
  let t = machine.sim.now;
  // At least one step, even to the time it is at: events due now fire (a run with no warm-up).
  do {
    t = Math.min(until, t + step);
    machine.sim.runUntil(t);
    onProgress(t, endPs);
  } while (t < until);
}

function round(x: number, digits = 6): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Runs the machine: warm-up, reset of every statistic, the measured interval, and the
 * report read from the components' own counters.
 */
export function runMachine(machine: Board, options: RunOptions): RunReport {
  checkRunOptions(machine, options);
  const { stats, cpus } = machine;
  machine.start();
  const warmEnd = ms(options.warmupMs);
  const end = warmEnd + ms(options.durationMs);
  runTo(machine, warmEnd, end, options);
  for (const cpu of cpus) cpu.flushAccounting();
  stats.reset();
  for (const cpu of cpus) cpu.resetDeliveredCounts?.();
  runTo(machine, end, end, options);
  for (const cpu of cpus) cpu.flushAccounting();
  const seconds = psToSeconds(end - warmEnd);
  const elapsed = end - warmEnd;
  const perSecond = (n: number) => round(n / seconds, 3);
  const hv = machine.hypervisor;

  const cpuReports: CpuReport[] = [];
  const allByReason: Record<string, number> = {};
  let allExits = 0;
  let allPhysical = 0;
  let guestTimeSum = 0;
  for (const cpu of cpus) {
    const counters = cpu.counters;
    const byReason: Record<string, number> = {};
    const indirect: Record<string, number> = {};
    const psPerCycle = 1e12 / cpu.hz;
    let exits = 0;
    // By exit reason, in the order of the reasons' names.
    const reasons = counters.exits
      .flatMap((counter, reason) => (counter !== undefined && counter.value !== 0 ? [reason] : []))
      .sort((a, b) => (exitReasonName(a) < exitReasonName(b) ? -1 : 1));
    for (const reason of reasons) {
      const value = counters.exits[reason]!.value;
      const name = exitReasonName(reason);
      byReason[name] = perSecond(value);
      allByReason[name] = (allByReason[name] ?? 0) + value;
      exits += value;
      indirect[name] = round((counters.exitIndirectPs[reason]?.value ?? 0) / psPerCycle / value, 1);
    }
    allExits += exits;
    const time = counters.time;
    const t = (k: keyof typeof time) => round(time[k].value / elapsed);
    const vcpu = hv?.vcpus.find((v) => v.pcpu === cpu.id);
    const vcpuInjections = vcpu?.counters.injections.value ?? 0;
    const physical = counters.interruptsAcknowledged.value;
    allPhysical += physical;
    guestTimeSum +=
      machine.mode === 'bare-metal'
        ? t('host') + t('haltedHost')
        : t('guest') + t('exitIndirect') + t('haltedGuest');
    cpuReports.push({
      id: cpu.id,
      time: {
        guest: t('guest'),
        host: t('host'),
        transition: t('transition'),
        exitIndirect: t('exitIndirect'),
        haltedGuest: t('haltedGuest'),
        haltedHost: t('haltedHost'),
        idle: t('idle'),
      },
      exitsPerSecond: { total: perSecond(exits), byReason },
      physicalInterruptsPerSecond: perSecond(physical),
      injectionsPerSecond: perSecond(vcpuInjections),
      exitIndirectCyclesPerExit: indirect,
      host: {
        irqThreadRunsPerSecond: perSecond(hv?.pcpuCounters(cpu.id).irqThreadRuns.value ?? 0),
        contextSwitchesPerSecond: perSecond(hv?.pcpuCounters(cpu.id).contextSwitches.value ?? 0),
        ...(hv?.options.haltPoll !== undefined
          ? {
              haltPollSuccessesPerSecond: perSecond(hv.pcpuCounters(cpu.id).haltPollSuccesses.value),
              haltPollFailsPerSecond: perSecond(hv.pcpuCounters(cpu.id).haltPollFails.value),
            }
          : {}),
      },
    });
  }
  const byReason: Record<string, number> = {};
  for (const reason of Object.keys(allByReason).sort()) byReason[reason] = perSecond(allByReason[reason]!);
  const injections = (hv?.vcpus ?? []).reduce((a, v) => a + v.counters.injections.value, 0);

  const toUs = (ps: number) => round(ps / 1e6, 3);
  const latencyOf = (m: WorkloadMetrics): LatencyReport | null => {
    const hist = m.latency;
    return hist === null
      ? null
      : {
          mean: toUs(hist.mean),
          p50: toUs(hist.percentile(50)),
          p99: toUs(hist.percentile(99)),
          p999: toUs(hist.percentile(99.9)),
          cdf: LATENCY_CDF_PERCENTILES.map((percentile) => ({
            percentile,
            value: toUs(hist.percentile(percentile)),
          })),
          unit: 'us',
        };
  };
  const throughputOf = (m: WorkloadMetrics) =>
    round((m.counter.value * m.multiplier) / seconds / m.divisor, 3);
  let assigned = 0;
  let framesReceived = 0;
  let rxMissed = 0;
  let retransmissions = 0;
  let guestAcks = 0;
  let throughput = 0;
  const guests: GuestReport[] = [];
  for (const [i, instance] of machine.instances.entries()) {
    const m = instance.metrics;
    const kernel = machine.guests[i]?.counters;
    assigned += machine.vfInterruptsSent(i);
    framesReceived += kernel?.rxFrames.value ?? 0;
    rxMissed += machine.vfRxMissed(i);
    retransmissions += m.retransmissions();
    guestAcks += kernel?.txFrames.value ?? 0;
    // The top-level throughput is guest 0's workload's: the guests running another add their own.
    if (machine.guestWorkloads[i] === machine.workload) throughput += throughputOf(m);
    guests.push({
      index: i,
      ...(machine.perGuestModes ? { mode: machine.guestModes[i]! } : {}),
      ...(machine.perGuestWorkloads ? { workload: machine.guestWorkloads[i]! } : {}),
      throughput: { value: throughputOf(m), unit: m.unit },
      latency: latencyOf(m),
    });
  }
  const metrics = machine.metrics;
  const report: RunReport = {
    schemaVersion: REPORT_SCHEMA_VERSION,
    workload: machine.workload,
    mode: machine.mode,
    seed: machine.seed,
    profile: machine.profile.name,
    durationMs: options.durationMs,
    warmupMs: options.warmupMs,
    throughput: { value: round(throughput, 3), unit: metrics.unit },
    latency: latencyOf(metrics),
    exitsPerSecond: { total: perSecond(allExits), byReason },
    interruptsPerSecond: { physical: perSecond(allPhysical), virtual: perSecond(injections) },
    assignedInterrupts: assigned,
    exitsPerAssignedInterrupt: assigned === 0 ? 0 : round(allExits / assigned, 4),
    timeInGuest: round(guestTimeSum / cpus.length),
    network: { framesReceived, rxMissed, retransmissions, guestAcks },
    stopped: machine.stopReason,
    cpus: cpuReports,
  };
  const withGuests = guests.length > 1 ? { ...report, guests } : report;
  return machine.guestViolations > 0
    ? {
        ...withGuests,
        guestViolations: { count: machine.guestViolations, first: [...machine.guestViolationLog] },
      }
    : withGuests;
}

export { exitReasonName };
