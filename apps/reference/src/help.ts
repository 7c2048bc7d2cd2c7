import { MACHINE_FILE_FIELDS } from '@exitless/machine';
import { type CommandName, PRINT_DEFAULT_MODE } from './command.js';
import { MACHINE_USAGE } from './machine-options.js';
import { availableModes, availableWorkloads } from './modes.js';
import { PROFILE_USAGE, SET_USAGE } from './profiles.js';
import { WORKER_USAGE } from './queue-options.js';
import { REPRODUCE_USAGE } from './reproduce.js';
import { SENSITIVITY_USAGE } from './sensitivity.js';
import { SWEEP_USAGE } from './sweep.js';
import { TRACE_USAGE } from './trace.js';

export const RUN_USAGE = `exitless run [--mode MODE] [--workload W] [--duration MS] [--warmup MS] [--seed N]
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
      ${SET_USAGE}`;

export const PROFILE_COMMAND_USAGE = `exitless profile [--profile NAME|FILE] [--set KEY=VALUE …] [--json]
      Prints a calibration profile (default the ELI paper's machine): every cost, its value, its range [low–high] and its source.
      ${SET_USAGE}`;

export const MACHINE_COMMAND_USAGE = `exitless machine --print [--format yaml|json] [--machine FILE] [--set KEY=VALUE …]
  exitless machine --check FILE
      --print writes a machine file to start from: the default machine (mode ${PRINT_DEFAULT_MODE}), or
      --machine's, with the --sets applied and every default written out (YAML with a comment on
      what each field accepts, or JSON). --check reads a machine file and says OK, or what is wrong
      (the field, its line and what it accepts; exit code 2). Fields: ${MACHINE_FILE_FIELDS.join(', ')}.
      ${SET_USAGE}`;

export const HELP_USAGE = `exitless help [COMMAND]
      Prints this help, or COMMAND's alone (as 'exitless COMMAND --help' does).`;

/**
 * Each command's usage, the one text both its own help (`exitless run --help`) and the whole
 * help are built from. Each is written to follow two spaces of indent (its continuation lines
 * carry their own).
 */
export const COMMAND_USAGE: Readonly<Record<CommandName, string>> = {
  run: RUN_USAGE,
  reproduce: REPRODUCE_USAGE,
  sweep: SWEEP_USAGE,
  sensitivity: SENSITIVITY_USAGE,
  trace: TRACE_USAGE,
  worker: WORKER_USAGE,
  profile: PROFILE_COMMAND_USAGE,
  machine: MACHINE_COMMAND_USAGE,
  help: HELP_USAGE,
};

/** The commands whose options name modes and workloads: their help lists the ones this build has. */
const RUNS_MACHINES: ReadonlySet<CommandName> = new Set([
  'run',
  'reproduce',
  'sweep',
  'sensitivity',
  'trace',
]);

function namesAvailable(): string {
  return `modes: ${availableModes().join(', ')}\nworkloads: ${availableWorkloads().join(', ')}`;
}

/**
 * What `exitless help` prints: every command's usage. With a command (`exitless help run`,
 * `exitless run --help`), that command's usage alone, with the modes and workloads when it
 * takes them.
 */
export function helpText(command?: CommandName): string {
  if (command !== undefined && command !== 'help') {
    const names = RUNS_MACHINES.has(command) ? `\n\n${namesAvailable()}` : '';
    return `usage:\n  ${COMMAND_USAGE[command]}${names}`;
  }
  const usages = Object.values(COMMAND_USAGE)
    .map((u) => `  ${u}`)
    .join('\n');
  return `exitless — ELI and the interrupt-delivery designs after it, simulated from the mechanism up

usage:
${usages}

${namesAvailable()}`;
}
