import { Machine, type MachineConfig, type RunReport, runMachine } from '@exitless/machine';

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
}

/** What a job gives back: its report, and how long it took (wall-clock figures go to stderr only). */
export interface JobResult {
  readonly report: RunReport;
  /** Wall-clock time of the run, ms (never written to the output files). */
  readonly wallMs: number;
  /** Simulator events processed, for the simulated-events-per-second figure. */
  readonly events: number;
}

/** The default machine's configuration for a job (everything else from the default profile). */
export function machineConfig(job: RunJob): MachineConfig {
  return {
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
  const machine = new Machine(machineConfig(job));
  const report = runMachine(machine, { durationMs: job.durationMs, warmupMs: job.warmupMs });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return { report, wallMs, events: machine.sim.eventsProcessed };
}

/** A job's label in progress lines and error messages. */
export function jobLabel(job: RunJob): string {
  const param = job.interruptIntervalUs !== undefined ? ` @ ${job.interruptIntervalUs} µs` : '';
  return `${job.workload} × ${job.mode}${param} (seed ${job.seed})`;
}
