import {
  Machine,
  type MachineConfig,
  type RunReport,
  recordProfileReads,
  runMachine,
  withOverrides,
  XEON_X5570,
} from '@exitless/machine';
import type { MachineFields } from './machine-options.js';
import { type ProfileRef, profileLabel, resolveProfile } from './profiles.js';

/** One simulation to run: a workload on a mode on the default machine. Plain data, so it crosses to a worker thread. */
export interface RunJob {
  readonly workload: string;
  readonly mode: string;
  readonly seed: number;
  /** Measured simulated time, ms. */
  readonly durationMs: number;
  /** Simulated warm-up before measuring, ms. */
  readonly warmupMs: number;
  /** The NIC's interrupt moderation interval (EITR) the guest programs, µs; absent: the profile's. */
  readonly interruptIntervalUs?: number;
  /** Guests, each on its own core with its own VF (absent: the machine's default, 1). */
  readonly guests?: number;
  /** The calibration profile: a shipped one by name, or a validated profile object; absent: the default (XEON_X5570). */
  readonly profile?: ProfileRef;
  /** Profile entries replaced for this run (key → value), on the job's profile; absent: none. */
  readonly profileOverrides?: Readonly<Record<string, number>>;
  /** What the run is within its command (`sample 3 of 100`), for progress lines; absent: its overrides are shown. */
  readonly tag?: string;
  /** Record which profile entries the run reads (JobResult.profileReads); absent: false. */
  readonly recordProfileReads?: boolean;
  /**
   * The machine's other fields (from --machine and --set: guestModes, guestMemoryMiB, workload
   * options…); the fields above replace theirs. Absent: the default machine's.
   */
  readonly machine?: MachineFields;
}

/** What a job gives back: its report, and how long it took (wall-clock figures go to stderr only). */
export interface JobResult {
  readonly report: RunReport;
  /** Wall-clock time of the run, ms (never written to the output files). */
  readonly wallMs: number;
  /** Simulator events processed, for the simulated-events-per-second figure. */
  readonly events: number;
  /** With RunJob.recordProfileReads: the keys of the profile entries the machine read, sorted. */
  readonly profileReads?: readonly string[];
}

/** The machine's configuration for a job: the default machine, with the job's fields (everything else from the job's profile). */
export function machineConfig(job: RunJob): MachineConfig {
  const overrides = job.profileOverrides;
  const base = job.profile !== undefined ? resolveProfile(job.profile) : undefined;
  const profile =
    overrides !== undefined && Object.keys(overrides).length > 0
      ? withOverrides(base ?? XEON_X5570, overrides)
      : base;
  return {
    ...(profile !== undefined ? { profile } : {}),
    ...job.machine,
    mode: job.mode,
    workload: job.workload,
    seed: job.seed,
    ...(job.interruptIntervalUs !== undefined ? { interruptIntervalUs: job.interruptIntervalUs } : {}),
    ...(job.guests !== undefined ? { guests: job.guests } : {}),
  };
}

/** Builds the default machine for the job and runs it (in whichever thread calls it). */
export function runJob(job: RunJob): JobResult {
  const t0 = process.hrtime.bigint();
  const config = machineConfig(job);
  const reads = job.recordProfileReads === true ? recordProfileReads(config.profile ?? XEON_X5570) : null;
  const machine = new Machine(reads !== null ? { ...config, profile: reads.profile } : config);
  const report = runMachine(machine, { durationMs: job.durationMs, warmupMs: job.warmupMs });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return {
    report,
    wallMs,
    events: machine.sim.eventsProcessed,
    ...(reads !== null ? { profileReads: reads.keys() } : {}),
  };
}

/** A job's profile overrides in a few words: `cpu.vmExitCycles=1500`, or how many when more than two. */
function overridesLabel(overrides: Readonly<Record<string, number>> | undefined): string {
  const entries = Object.entries(overrides ?? {});
  if (entries.length === 0) return '';
  if (entries.length > 2) return ` [${entries.length} profile overrides]`;
  return ` [${entries.map(([k, v]) => `${k}=${v}`).join(', ')}]`;
}

/** A job's label in progress lines and error messages. */
export function jobLabel(job: RunJob): string {
  const param = job.interruptIntervalUs !== undefined ? ` @ ${job.interruptIntervalUs} µs` : '';
  const what = job.tag !== undefined ? ` [${job.tag}]` : overridesLabel(job.profileOverrides);
  return `${job.workload} × ${job.mode}${param}${profileLabel(job.profile)}${what} (seed ${job.seed})`;
}
