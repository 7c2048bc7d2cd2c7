import type { RunReport } from '@exitless/machine';

/** A fixed run report (no simulation): the figures are chosen, not measured. */
export function fixedReport(
  mode: string,
  throughput: number,
  figures: {
    readonly workload?: string;
    readonly unit?: string;
    readonly exits?: number;
    readonly physical?: number;
    readonly virtual?: number;
    readonly assigned?: number;
    readonly exitsPerIrq?: number;
    readonly timeInGuest?: number;
    readonly stopped?: string | null;
    readonly latency?: unknown;
  } = {},
): RunReport {
  const exits = figures.exits ?? 0;
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
    exitsPerSecond: { total: exits, byReason: exits > 0 ? { 'external-interrupt': exits } : {} },
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
