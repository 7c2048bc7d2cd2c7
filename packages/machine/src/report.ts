import { ms, psToSeconds } from '@exitless/sim';
import { exitReasonName } from '@exitless/x86';
import type { Machine } from './machine.js';

/** The version of the run report's JSON schema (bump on any incompatible change). */
export const REPORT_SCHEMA_VERSION = 1;

/** How long to run. */
export interface RunOptions {
  /** Measured simulated time, ms. */
  readonly durationMs: number;
  /** Simulated time before measuring (statistics are reset at its end), ms. */
  readonly warmupMs: number;
}

/** Per-CPU figures of a run. */
export interface CpuReport {
  readonly id: number;
  /** Fractions of the measured time (sum to 1). */
  readonly time: {
    readonly guest: number;
    readonly host: number;
    readonly transition: number;
    readonly exitIndirect: number;
    readonly haltedGuest: number;
    readonly haltedHost: number;
    readonly idle: number;
  };
  readonly exitsPerSecond: { readonly total: number; readonly byReason: Readonly<Record<string, number>> };
  /** Interrupts the CPU acknowledged from its physical LAPIC, per second. */
  readonly physicalInterruptsPerSecond: number;
  /** Virtual interrupts injected at VM entry, per second. */
  readonly injectionsPerSecond: number;
}

/** A latency distribution, µs (from the workload's histogram of round trips in ps). */
export interface LatencyReport {
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly unit: 'us';
}

/** One run, as `exitless run --json` prints it. No wall-clock figures: the same seed gives the same bytes. */
export interface RunReport {
  readonly schemaVersion: number;
  readonly workload: string;
  readonly mode: string;
  readonly seed: number;
  readonly profile: string;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly throughput: { readonly value: number; readonly unit: string };
  /** Request/response latency where the workload measures it (null for netperf TCP_STREAM). */
  readonly latency: LatencyReport | null;
  readonly exitsPerSecond: { readonly total: number; readonly byReason: Readonly<Record<string, number>> };
  readonly interruptsPerSecond: { readonly physical: number; readonly virtual: number };
  /** Interrupt messages the assigned VF sent during the measurement. */
  readonly assignedInterrupts: number;
  readonly exitsPerAssignedInterrupt: number;
  /** Fraction of the measured time the CPU spent running guest code (0..1). */
  readonly timeInGuest: number;
  readonly network: {
    readonly framesReceived: number;
    readonly rxMissed: number;
    readonly retransmissions: number;
    readonly guestAcks: number;
  };
  readonly stopped: string | null;
  readonly cpus: readonly CpuReport[];
}

function round(x: number, digits = 6): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Runs the machine: warm-up, reset of every statistic, the measured interval, and the
 * report read from the components' own counters.
 */
export function runMachine(machine: Machine, options: RunOptions): RunReport {
  if (!(options.durationMs > 0))
    throw new RangeError(`durationMs must be positive, got ${options.durationMs}`);
  if (!(options.warmupMs >= 0)) throw new RangeError(`warmupMs must be ≥ 0, got ${options.warmupMs}`);
  const { sim, stats, cpu } = machine;
  machine.start();
  const warmEnd = ms(options.warmupMs);
  sim.runUntil(warmEnd);
  cpu.flushAccounting();
  stats.reset();
  cpu.resetDeliveredCounts();
  const end = warmEnd + ms(options.durationMs);
  sim.runUntil(end);
  cpu.flushAccounting();
  const snap = stats.snapshot();
  const c = snap.counters;
  const seconds = psToSeconds(end - warmEnd);
  const get = (name: string) => c[name] ?? 0;

  const byReason: Record<string, number> = {};
  let exits = 0;
  for (const [name, value] of Object.entries(c)) {
    if (!name.startsWith('cpu0.exits.') || value === 0) continue;
    const reason = name.slice('cpu0.exits.'.length);
    byReason[reason] = round(value / seconds, 3);
    exits += value;
  }
  const elapsed = end - warmEnd;
  const t = (k: string) => round(get(`cpu0.time.${k}`) / elapsed);
  const injections = Object.entries(c)
    .filter(([n]) => n.startsWith('kvm.') && n.endsWith('.injections'))
    .reduce((a, [, v]) => a + v, 0);
  const physical = get('cpu0.interrupts.acknowledged');
  const assigned = get('nic.vf0.interrupts.total');
  const m = machine.metrics;
  const done = get(m.counter);
  const hist = m.latencyHistogram === null ? undefined : snap.histograms[m.latencyHistogram];
  const toUs = (ps: number) => round(ps / 1e6, 3);
  const latency: LatencyReport | null =
    hist === undefined
      ? null
      : {
          mean: toUs(hist.mean),
          p50: toUs(hist.p50),
          p99: toUs(hist.p99),
          p999: toUs(hist.p999),
          unit: 'us',
        };
  const cpuReport: CpuReport = {
    id: 0,
    time: {
      guest: t('guest'),
      host: t('host'),
      transition: t('transition'),
      exitIndirect: t('exit-indirect'),
      haltedGuest: t('halted-guest'),
      haltedHost: t('halted-host'),
      idle: t('idle'),
    },
    exitsPerSecond: { total: round(exits / seconds, 3), byReason },
    physicalInterruptsPerSecond: round(physical / seconds, 3),
    injectionsPerSecond: round(injections / seconds, 3),
  };
  const guestTime =
    machine.mode === 'bare-metal'
      ? t('host') + t('halted-host')
      : t('guest') + t('exit-indirect') + t('halted-guest');
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    workload: machine.workload,
    mode: machine.mode,
    seed: machine.seed,
    profile: machine.profile.name,
    durationMs: options.durationMs,
    warmupMs: options.warmupMs,
    throughput: { value: round((done * m.multiplier) / seconds / m.divisor, 3), unit: m.unit },
    latency,
    exitsPerSecond: { total: round(exits / seconds, 3), byReason },
    interruptsPerSecond: { physical: round(physical / seconds, 3), virtual: round(injections / seconds, 3) },
    assignedInterrupts: assigned,
    exitsPerAssignedInterrupt: assigned === 0 ? 0 : round(exits / assigned, 4),
    timeInGuest: round(guestTime),
    network: {
      framesReceived: get('guest0.rx.frames'),
      rxMissed: get('nic.vf0.rx.missed'),
      retransmissions: m.retransmissionCounters.reduce((a, n) => a + get(n), 0),
      guestAcks: get('guest0.tx.frames'),
    },
    stopped: machine.stopReason,
    cpus: [cpuReport],
  };
}

export { exitReasonName };
