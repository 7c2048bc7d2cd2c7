#!/usr/bin/env node
import { setImmediate } from 'node:timers/promises';
import {
  type CalibrationProfile,
  explicitMachineConfig,
  formatMachineFile,
  loadMachineFile,
  Machine,
  type MachineConfig,
  type RunReport,
  runMachine,
} from '@exitless/machine';
import {
  type Command,
  parseCommand,
  type RunCommandOptions,
  runMachineConfigs,
  userFailure,
} from './command.js';
import { helpText } from './help.js';
import { prepareOutputDir, prepareOutputFile } from './output.js';
import { createProgress } from './progress.js';
import type { QueueOptions } from './queue-options.js';
import { runRepeated } from './repeat.js';
import { type ReproduceOptions, reproduce } from './reproduce.js';
import { formatRunReport, pct } from './run-report.js';
import { type SensitivityOptions, sensitivity } from './sensitivity.js';
import { type SweepOptions, sweep } from './sweep.js';
import { runTrace, traceSummary } from './trace.js';

async function run(options: RunCommandOptions): Promise<void> {
  const { durationMs, warmupMs } = options;
  const reports: RunReport[] = [];
  for (const config of runMachineConfigs(options)) {
    // Between runs, let a closed stdout's error arrive (endQuietlyWhenPipesClose), so that
    // `exitless run | head` stops after the run it printed rather than after every mode.
    if (reports.length > 0) await setImmediate();
    const mode = config.mode;
    const t0 = process.hrtime.bigint();
    const machine = new Machine(config);
    const report = runMachine(machine, { durationMs, warmupMs, ...runProgress(mode, t0) });
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
    const width = Math.max(...reports.map((r) => r.mode.length));
    for (const r of reports) {
      console.log(
        `  ${r.mode.padEnd(width)} ${pct(r.throughput.value / bare.throughput.value).padStart(7)} of bare-metal throughput, ${r.exitsPerSecond.total.toFixed(0)} exits/s`,
      );
    }
  }
}

/**
 * A long run's progress on stderr, when stderr is a terminal: the simulated time reached, at
 * most ten updates a second, cleared before the run's summary line. Stdout (and --json) is
 * the same with or without it: runMachine's report does not depend on its callback.
 */
function runProgress(
  mode: string,
  t0: bigint,
): { onProgress?: (simulatedPs: number, endPs: number) => void } {
  if (process.stderr.isTTY !== true) return {};
  let shown = 0;
  return {
    onProgress: (simulatedPs, endPs) => {
      if (simulatedPs === endPs) {
        if (shown > 0) process.stderr.write('\r\x1b[K');
        return;
      }
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      if (wall - shown < 0.1) return;
      shown = wall;
      process.stderr.write(
        `\r\x1b[K[${mode}] ${(simulatedPs / 1e9).toFixed(0)} of ${(endPs / 1e9).toFixed(0)} ms simulated (${Math.floor((100 * simulatedPs) / endPs)}%), ${wall.toFixed(1)} s wall`,
      );
    },
  };
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

/**
 * Where the runs go: the workers of a Redis queue (--queue); else the pool, which uses at most
 * one worker per run, and --jobs 1 runs in this thread.
 */
function where(jobs: number, runs: number, queue?: QueueOptions): string {
  if (queue !== undefined)
    return `on the workers of ${queue.url}${queue.resume ? ' (reusing finished runs: --resume)' : ''}`;
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
    `reproduce: ${profiles.length > 0 ? `${profiles.map((p) => p.name).join(', ')} × ` : ''}${options.workloads.join(', ')} × ${options.modes.join(', ')}${what} — ${runs} runs of ${options.durationMs} ms after ${options.warmupMs} ms warm-up, ${where(options.jobs, runs, options.queue)}`,
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
    `sweep: ${options.workload}, ${options.param} = ${options.values.join(',')} × ${options.modes.join(', ')} — ${runs} runs of ${options.durationMs} ms after ${options.warmupMs} ms warm-up, ${where(options.jobs, runs, options.queue)}`,
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
      console.error(`sensitivity: ${phase}: ${total} runs, ${where(options.jobs, total, options.queue)}`);
      return createProgress(total);
    },
  });
  process.stdout.write(result.text);
  console.error(
    `sensitivity: ${result.runs.base + result.runs.rerun} runs in ${seconds(t0)} s wall (${result.runs.reused} variations reused a base run); wrote ${result.files.join(', ')}`,
  );
  return result.failures.length > 0 ? 1 : 0;
}

/**
 * Checks that the command can write where its output goes (--out), before anything runs: a path
 * it cannot write is a UsageError now, not a failure after every run.
 */
function prepareOutputs(command: Command): void {
  switch (command.kind) {
    case 'reproduce':
    case 'sweep':
    case 'sensitivity':
      prepareOutputDir(command.options.outDir);
      return;
    case 'trace':
      prepareOutputFile(command.options.out);
      return;
    default:
      return;
  }
}

/**
 * A reader that stops early (`exitless profile | head -1`) closes the pipe: the command then
 * ends quietly, with its exit code so far (0 unless set), as a Unix filter does — no EPIPE
 * stack trace, and no more runs whose output nobody reads. Any other failure to write stdout
 * (a full disk, `> /dev/full`) ends it with one line on stderr and exit code 1. On stderr
 * (progress lines) the lost lines are dropped and the command goes on writing its results.
 */
function endQuietlyWhenPipesClose(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit();
    process.stderr.write(
      `exitless: cannot write the output: ${error.message.replace(/\s*[\r\n]+\s*/g, ' ')}\n`,
    );
    process.exit(1);
  });
  process.stderr.on('error', () => {});
}

async function main(argv: string[]): Promise<number> {
  try {
    const command = parseCommand(argv);
    prepareOutputs(command);
    switch (command.kind) {
      case 'run':
        if (command.options.runs > 1) return await runManyCommand(command.options);
        await run(command.options);
        return 0;
      case 'reproduce':
        return await reproduceCommand(command.options);
      case 'sweep':
        return await sweepCommand(command.options);
      case 'sensitivity':
        return await sensitivityCommand(command.options);
      case 'worker': {
        // Loaded only here: the Redis client and BullMQ stay out of every other command.
        const { runWorker } = await import('./queue-worker.js');
        await runWorker(command.options);
        return 0;
      }
      case 'trace': {
        console.error(traceSummary(runTrace(command.options)));
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
        console.log(helpText(command.command));
        return 0;
    }
  } catch (e) {
    const failure = userFailure(e, argv[0]);
    if (failure === null) throw e;
    console.error(failure.message);
    return failure.exitCode;
  }
}

endQuietlyWhenPipesClose();
process.exitCode = await main(process.argv.slice(2));
