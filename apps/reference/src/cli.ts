#!/usr/bin/env node
import {
  type CalibrationProfile,
  explicitMachineConfig,
  formatMachineFile,
  loadMachineFile,
  MACHINE_FILE_FIELDS,
  Machine,
  type MachineConfig,
  type RunReport,
  runMachine,
} from '@exitless/machine';
import {
  PRINT_DEFAULT_MODE,
  parseCommand,
  type RunCommandOptions,
  runMachineConfigs,
  userFailure,
} from './command.js';
import { MACHINE_USAGE } from './machine-options.js';
import { availableModes, availableWorkloads } from './modes.js';
import { PROFILE_USAGE, SET_USAGE } from './profiles.js';
import { createProgress } from './progress.js';
import { runRepeated } from './repeat.js';
import { REPRODUCE_USAGE, type ReproduceOptions, reproduce } from './reproduce.js';
import { formatRunReport, pct } from './run-report.js';
import { SENSITIVITY_USAGE, type SensitivityOptions, sensitivity } from './sensitivity.js';
import { SWEEP_USAGE, type SweepOptions, sweep } from './sweep.js';
import { runTrace, TRACE_USAGE } from './trace.js';

const HELP = `exitless — ELI and the interrupt-delivery designs after it, simulated from the mechanism up

usage:
  exitless run [--mode MODE] [--workload W] [--duration MS] [--warmup MS] [--seed N]
               [--runs N] [--jobs N] [--interrupt-interval US] [--guests N] [--profile NAME|FILE]
               [--machine FILE] [--set KEY=VALUE …] [--json]
      Runs the workload on the default machine (one 2.93 GHz Nehalem core, a 10 GbE SR-IOV
      NIC whose VF the guest owns, the load generator on the wire), or --machine's. Without
      --mode (or a machine file's mode), runs every mode and compares them. --json prints the
      report (schema in the README).
      --runs N runs each mode N times, with seeds --seed, --seed+1, … (on --jobs worker threads,
      default: cores), and prints each figure's mean and 95% confidence interval.
      --profile ${PROFILE_USAGE}.
      ${MACHINE_USAGE}
      ${SET_USAGE}
  ${REPRODUCE_USAGE}
  ${SWEEP_USAGE}
  ${SENSITIVITY_USAGE}
  ${TRACE_USAGE}
  exitless profile [--profile NAME|FILE] [--set KEY=VALUE …] [--json]
      Prints a calibration profile (default the ELI paper's machine): every cost, its value, its range [low–high] and its source.
      ${SET_USAGE}
  exitless machine --print [--format yaml|json] [--machine FILE] [--set KEY=VALUE …]
  exitless machine --check FILE
      --print writes a machine file to start from: the default machine (mode ${PRINT_DEFAULT_MODE}), or
      --machine's, with the --sets applied and every default written out (YAML with a comment on
      what each field accepts, or JSON). --check reads a machine file and says OK, or what is wrong
      (the field, its line and what it accepts; exit code 2). Fields: ${MACHINE_FILE_FIELDS.join(', ')}.
      ${SET_USAGE}
  exitless help

modes: ${availableModes().join(', ')}
workloads: ${availableWorkloads().join(', ')}`;

function run(options: RunCommandOptions): void {
  const { durationMs, warmupMs } = options;
  const reports: RunReport[] = [];
  for (const config of runMachineConfigs(options)) {
    const mode = config.mode;
    const t0 = process.hrtime.bigint();
    const machine = new Machine(config);
    const report = runMachine(machine, { durationMs, warmupMs });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    // Wall-clock figures go to stderr so that stdout stays byte-identical for a seed.
    console.error(
      `[${mode}] ${wall.toFixed(2)} s wall for ${(durationMs + warmupMs).toFixed(0)} ms simulated (${((durationMs + warmupMs) / 1000 / wall).toFixed(3)} simulated s per wall s, ${machine.sim.eventsProcessed} events)`,
    );
    reports.push(report);
    if (!options.json) console.log(formatRunReport(report));
  }
  if (options.json) {
    console.log(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2));
    return;
  }
  const bare = reports.find((r) => r.mode === 'bare-metal');
  if (bare !== undefined && reports.length > 1) {
    console.log('\nrelative to bare metal:');
    for (const r of reports) {
      console.log(
        `  ${r.mode.padEnd(12)} ${pct(r.throughput.value / bare.throughput.value).padStart(7)} of bare-metal throughput, ${r.exitsPerSecond.total.toFixed(0)} exits/s`,
      );
    }
  }
}

function profile(json: boolean, p: CalibrationProfile): void {
  if (json) {
    console.log(JSON.stringify(p, null, 2));
    return;
  }
  console.log(`${p.name}: ${p.description}\n`);
  for (const [key, e] of Object.entries(p.entries)) {
    const range = e.low !== undefined && e.high !== undefined ? `[${e.low}–${e.high}] ` : '';
    // A --set value may leave the estimate's range, which stays the profile's (validateProfile allows it).
    const outside =
      e.overridden !== undefined &&
      e.low !== undefined &&
      e.high !== undefined &&
      (e.value < e.low || e.value > e.high)
        ? '[outside the range] '
        : '';
    const why = e.range !== undefined ? ` Range: ${e.range}` : '';
    console.log(
      `${key.padEnd(28)} ${String(e.value).padStart(12)} ${e.unit.padEnd(12)} ${range}${outside}${e.estimate === true ? '[estimate] ' : ''}${e.source}${e.note !== undefined ? ` — ${e.note}` : ''}${why}`,
    );
  }
}

/** A machine in a few words: `eli, 2 guests (eli, baseline), memcached, profile xeon-x5570`. */
function describeMachine(config: MachineConfig): string {
  const c = explicitMachineConfig(config);
  const guests = c.guests ?? 1;
  return [
    c.mode,
    `${guests} guest${guests > 1 ? 's' : ''}${c.guestModes !== undefined ? ` (${c.guestModes.join(', ')})` : ''}`,
    c.workload,
    ...(c.nics !== undefined ? [`${c.nics.length} NIC${c.nics.length > 1 ? 's' : ''}`] : []),
    `profile ${c.profile?.name}`,
  ].join(', ');
}

function seconds(t0: bigint): string {
  return (Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1);
}

/** Where the runs go: the pool uses at most one worker per run, and --jobs 1 runs in this thread. */
function where(jobs: number, runs: number): string {
  const workers = Math.min(jobs, runs);
  return workers <= 1 ? 'in this thread' : `on ${workers} worker threads`;
}

async function reproduceCommand(options: ReproduceOptions): Promise<number> {
  const seeds = options.runs ?? 1;
  const samples = options.uncertainty?.samples;
  const perPair = samples !== undefined ? samples + 1 : seeds;
  const profiles = options.profiles ?? [];
  const runs = options.workloads.length * options.modes.length * perPair * Math.max(1, profiles.length);
  const what =
    samples !== undefined
      ? ` × (the profile + ${samples} profiles sampled across the ranges of ${options.uncertainty!.entries.length} entries, seed ${options.seed})`
      : seeds > 1
        ? ` × seeds ${options.seed}–${options.seed + seeds - 1}`
        : '';
  console.error(
    `reproduce: ${profiles.length > 0 ? `${profiles.map((p) => p.name).join(', ')} × ` : ''}${options.workloads.join(', ')} × ${options.modes.join(', ')}${what} — ${runs} runs of ${options.durationMs} ms after ${options.warmupMs} ms warm-up, ${where(options.jobs, runs)}`,
  );
  const t0 = process.hrtime.bigint();
  const progress = createProgress(runs);
  const result = await reproduce(options, { onDone: progress.onDone }).finally(() => progress.stop());
  process.stdout.write(result.text);
  // Wall-clock time goes to stderr only: the files and stdout stay byte-identical for a seed.
  console.error(`reproduce: ${runs} runs in ${seconds(t0)} s wall; wrote ${result.files.join(', ')}`);
  return result.failures.length > 0 ? 1 : 0;
}

async function runManyCommand(options: RunCommandOptions): Promise<number> {
  const runs = options.modes.length * options.runs;
  console.error(
    `run: ${options.workload} × ${options.modes.join(', ')} — ${runs} runs (seeds ${options.seed}–${options.seed + options.runs - 1}) of ${options.durationMs} ms after ${options.warmupMs} ms warm-up, ${where(options.jobs, runs)}`,
  );
  const t0 = process.hrtime.bigint();
  const progress = createProgress(runs);
  const result = await runRepeated(options, { onDone: progress.onDone }).finally(() => progress.stop());
  process.stdout.write(result.text);
  console.error(`run: ${runs} runs in ${seconds(t0)} s wall`);
  return result.failures.length > 0 ? 1 : 0;
}

async function sweepCommand(options: SweepOptions): Promise<number> {
  const runs = options.values.length * options.modes.length;
  console.error(
    `sweep: ${options.workload}, ${options.param} = ${options.values.join(',')} × ${options.modes.join(', ')} — ${runs} runs of ${options.durationMs} ms after ${options.warmupMs} ms warm-up, ${where(options.jobs, runs)}`,
  );
  const t0 = process.hrtime.bigint();
  const progress = createProgress(runs);
  const result = await sweep(options, { onDone: progress.onDone }).finally(() => progress.stop());
  process.stdout.write(result.text);
  console.error(`sweep: ${runs} runs in ${seconds(t0)} s wall; wrote ${result.files.join(', ')}`);
  return result.failures.length > 0 ? 1 : 0;
}

async function sensitivityCommand(options: SensitivityOptions): Promise<number> {
  const pairs = options.workloads.length * options.modes.length;
  console.error(
    `sensitivity: ${options.entries.length} profile entries, each at the low and the high end of its range, × ${options.workloads.join(', ')} × ${options.modes.join(', ')} — ${pairs} base runs, then up to ${pairs * options.entries.length * 2} variations (only those whose base run read the entry), each ${options.durationMs} ms after ${options.warmupMs} ms warm-up, seed ${options.seed}`,
  );
  const t0 = process.hrtime.bigint();
  const result = await sensitivity(options, {
    progress: (phase, total) => {
      console.error(`sensitivity: ${phase}: ${total} runs, ${where(options.jobs, total)}`);
      return createProgress(total);
    },
  });
  process.stdout.write(result.text);
  console.error(
    `sensitivity: ${result.runs.base + result.runs.rerun} runs in ${seconds(t0)} s wall (${result.runs.reused} variations reused a base run); wrote ${result.files.join(', ')}`,
  );
  return result.failures.length > 0 ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  try {
    const command = parseCommand(argv);
    switch (command.kind) {
      case 'run':
        if (command.options.runs > 1) return await runManyCommand(command.options);
        run(command.options);
        return 0;
      case 'reproduce':
        return await reproduceCommand(command.options);
      case 'sweep':
        return await sweepCommand(command.options);
      case 'sensitivity':
        return await sensitivityCommand(command.options);
      case 'trace': {
        const t = runTrace(command.options);
        console.error(
          `wrote ${t.file}: ${t.events} trace events${t.dropped > 0 ? ` (${t.dropped} dropped: raise --max-events)` : ''}`,
        );
        return 0;
      }
      case 'profile':
        profile(command.json, command.profile);
        return 0;
      case 'machine':
        if (command.action === 'print') {
          process.stdout.write(
            formatMachineFile(command.config, command.format, { comments: command.format === 'yaml' }),
          );
        } else {
          console.log(`${command.file}: OK — ${describeMachine(loadMachineFile(command.file))}`);
        }
        return 0;
      case 'help':
        console.log(HELP);
        return 0;
    }
  } catch (e) {
    const failure = userFailure(e);
    if (failure === null) throw e;
    console.error(failure.message);
    return failure.exitCode;
  }
}

process.exitCode = await main(process.argv.slice(2));
