import {
  type CalibrationProfile,
  entryRange,
  type ProfileEntry,
  type RunReport,
  XEON_X5570,
} from '@exitless/machine';
import { validValue } from '../src/sampling.js';

/** A fixed run report (no simulation): the figures are chosen, not measured. */
export function fixedReport(
  mode: string,
  throughput: number,
  figures: {
    readonly workload?: string;
    readonly unit?: string;
    readonly exits?: number;
    /** Exits per second by exit reason (absent: all of `exits` as external interrupts); the total is their sum unless `exits` is given. */
    readonly byReason?: Readonly<Record<string, number>>;
    readonly physical?: number;
    readonly virtual?: number;
    readonly assigned?: number;
    readonly exitsPerIrq?: number;
    readonly timeInGuest?: number;
    readonly stopped?: string | null;
    readonly latency?: unknown;
  } = {},
): RunReport {
  const byReason = figures.byReason;
  const exits =
    figures.exits ?? (byReason !== undefined ? Object.values(byReason).reduce((a, b) => a + b, 0) : 0);
  const assigned = figures.assigned ?? 1000;
  const report = {
    schemaVersion: 1,
    workload: figures.workload ?? 'netperf-tcp-stream',
    mode,
    seed: 1,
    profile: 'xeon-x5570',
    durationMs: 100,
    warmupMs: 20,
    throughput: { value: throughput, unit: figures.unit ?? 'Mb/s' },
    latency: null,
    exitsPerSecond: {
      total: exits,
      byReason: byReason ?? (exits > 0 ? { 'external-interrupt': exits } : {}),
    },
    interruptsPerSecond: { physical: figures.physical ?? 100_000, virtual: figures.virtual ?? 0 },
    assignedInterrupts: assigned,
    exitsPerAssignedInterrupt: figures.exitsPerIrq ?? 0,
    timeInGuest: figures.timeInGuest ?? 1,
    network: { framesReceived: 1, rxMissed: 0, retransmissions: 0, guestAcks: 1 },
    stopped: figures.stopped ?? null,
    cpus: [],
  };
  // Request/response workloads fill `latency`; today's RunReport types it as null.
  return (figures.latency !== undefined ? { ...report, latency: figures.latency } : report) as RunReport;
}

/**
 * The default profile with ranges on `keys` only (every other entry's range removed), so that
 * a test does not depend on which entries the shipped profile gives a range. A key keeps the
 * shipped range when it has one (the runs apply values to the shipped profile, which checks
 * them against it); otherwise it gets [value / 2, value × 1.5], made valid for its schema.
 */
export function profileWithRanges(keys: readonly string[]): CalibrationProfile {
  const entries: Record<string, ProfileEntry> = {};
  for (const [key, entry] of Object.entries(XEON_X5570.entries)) {
    const { low, high, range: _range, ...rest } = entry;
    if (!keys.includes(key)) {
      entries[key] = rest;
      continue;
    }
    const l = low ?? validValue(key, entry.value / 2, entryRange(key).min, entry.value);
    const h = high ?? validValue(key, entry.value * 1.5, entry.value, entryRange(key).max);
    entries[key] = { ...rest, low: l, high: h, range: 'a test range' };
  }
  return { ...XEON_X5570, entries };
}
