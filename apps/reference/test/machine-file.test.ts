import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  explicitMachineConfig,
  Machine,
  parseMachineFile,
  type RunReport,
  runMachine,
  XEON_SKYLAKE_SP,
} from '@exitless/machine';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/args.js';
import { type Command, PRINT_DEFAULT_MODE, parseCommand, runMachineConfigs } from '../src/command.js';
import { machineConfig } from '../src/jobs.js';
import { reproduceJobs } from '../src/reproduce.js';
import { baseJobs } from '../src/sensitivity.js';
import { sweepPlan } from '../src/sweep.js';
import { traceMachineConfig } from '../src/trace.js';
import { tempDirs } from './temp-dirs.js';

const tempDir = tempDirs('machine-file');
const root = fileURLToPath(new URL('../../..', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
/** The example machine file: two guests, ELI beside baseline, memcached. */
const twoGuests = join(root, 'examples/machines/two-guests.yaml');

/** `exitless ARGS` as a process: its exit code, stdout and stderr. */
const exitless = (args: readonly string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', cli, ...args],
      { cwd: root, timeout: 60_000 },
      (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
    );
  });

function must<K extends Command['kind']>(command: Command, kind: K): Extract<Command, { kind: K }> {
  if (command.kind !== kind) throw new Error(`expected a ${kind} command, got ${command.kind}`);
  return command as Extract<Command, { kind: K }>;
}

/** The one machine `exitless run ARGS` builds. */
function runConfig(args: readonly string[]) {
  const configs = runMachineConfigs(must(parseCommand(['run', ...args]), 'run').options);
  expect(configs).toHaveLength(1);
  return configs[0]!;
}

describe('exitless run --machine FILE', () => {
  it('builds the file’s machine: two guests in their modes, named in the report', () => {
    const config = runConfig(['--machine', twoGuests]);
    expect(config).toEqual({
      mode: 'eli',
      workload: 'memcached',
      seed: 1,
      guests: 2,
      guestModes: ['eli', 'baseline'],
    });
    expect(config).toEqual(
      parseMachineFile(`mode: eli\nworkload: memcached\nguests: 2\nguestModes: [eli, baseline]\nseed: 1\n`),
    );
    const report = runMachine(new Machine(config), { durationMs: 1, warmupMs: 1 });
    expect(report.guests?.map((g) => g.mode)).toEqual(['eli', 'baseline']);
    expect(report.workload).toBe('memcached');
  });

  it('the options given replace the fields they name; a file’s guestModes belongs to its mode', () => {
    const config = runConfig([
      '--machine',
      twoGuests,
      '--workload',
      'apache',
      '--seed',
      '7',
      '--guests',
      '2',
      '--interrupt-interval',
      '8',
      '--profile',
      'xeon-skylake-sp',
    ]);
    expect(config).toMatchObject({
      mode: 'eli',
      workload: 'apache',
      seed: 7,
      guests: 2,
      interruptIntervalUs: 8,
      guestModes: ['eli', 'baseline'],
    });
    expect(config.profile).toBe(XEON_SKYLAKE_SP);
    // Another mode: every guest in it.
    const baseline = runConfig(['--machine', twoGuests, '--mode', 'baseline']);
    expect(baseline).toMatchObject({ mode: 'baseline', guests: 2 });
    expect(baseline.guestModes).toBeUndefined();
    // The same mode: the file's guestModes stays.
    expect(runConfig(['--machine', twoGuests, '--mode', 'eli']).guestModes).toEqual(['eli', 'baseline']);
  });

  it('guestWorkloads: --set gives every run its list; a file’s belongs to its workload (a run of another workload runs that one on every guest)', async () => {
    const set = runConfig([
      '--mode',
      'eli',
      '--set',
      'guests=2',
      '--set',
      'guestWorkloads=netperf-udp-rr,memcached',
    ]);
    expect(set).toMatchObject({ mode: 'eli', guests: 2, guestWorkloads: ['netperf-udp-rr', 'memcached'] });
    const file = join(await tempDir(), 'two-workloads.yaml');
    await writeFile(file, 'mode: eli\nworkload: apache\nguests: 2\nguestWorkloads: [apache, memcached]\n');
    expect(runConfig(['--machine', file]).guestWorkloads).toEqual(['apache', 'memcached']);
    expect(runConfig(['--machine', file, '--workload', 'netperf-udp-rr']).guestWorkloads).toBeUndefined();
  });

  it('--set FIELD=VALUE sets a machine field, with or without a file; profile entries as before', () => {
    expect(runConfig(['--mode', 'eli', '--set', 'guests=2'])).toMatchObject({ mode: 'eli', guests: 2 });
    const set = runConfig([
      '--mode',
      'baseline',
      '--set',
      'guests=2',
      '--set',
      'guestModes=eli,did',
      '--set',
      'guestMemoryMiB=512',
      '--set',
      'workloadOptions.apache.concurrency=32',
      '--set',
      'phases=aligned',
      '--set',
      'host.contextSwitch=3000',
    ]);
    // guestModes given by --set applies to the run whatever its mode.
    expect(set).toMatchObject({
      mode: 'baseline',
      guests: 2,
      guestModes: ['eli', 'did'],
      guestMemoryMiB: 512,
      workloadOptions: { apache: { concurrency: 32 } },
      phases: 'aligned',
    });
    expect(set.profile?.name).toBe('xeon-x5570[host.contextSwitch=3000]');
    // On top of the file: --set guests=3 with the file's guestModes is a machine the machine rejects.
    expect(() => parseCommand(['run', '--machine', twoGuests, '--set', 'guests=3'])).toThrow(
      /^the machine rejects --mode eli .*\(with --machine .*two-guests\.yaml --set guests=3\): guestModes must be an array of 3 mode name\(s\)/,
    );
    expect(
      runConfig(['--machine', twoGuests, '--set', 'guests=3', '--set', 'guestModes=eli,baseline,did']),
    ).toMatchObject({ guests: 3, guestModes: ['eli', 'baseline', 'did'] });
    expect(runConfig(['--set', 'mode=did'])).toMatchObject({ mode: 'did' });
  });

  it('a field given by an option and by --set is an error, as is a --set value the field does not accept', () => {
    expect(() => parseCommand(['run', '--mode', 'eli', '--guests', '2', '--set', 'guests=2'])).toThrow(
      /^--set guests=2 and --guests both give guests: give it once/,
    );
    expect(() => parseCommand(['run', '--set', 'mode=eli', '--mode', 'eli'])).toThrow(
      /--set mode=eli and --mode/,
    );
    expect(() => parseCommand(['run', '--mode', 'eli', '--set', 'guestMemoryMiB=63'])).toThrow(
      /^--set guestMemoryMiB=63: guestMemoryMiB must be an even integer from 64 to 3840 MiB/,
    );
    expect(() => parseCommand(['run', '--set', 'guest=2'])).toThrow(UsageError);
    expect(() => parseCommand(['run', '--set', 'guest=2'])).toThrow(/\(or the machine field guests\)$/);
  });

  it('a file’s profile.set and --set’s profile entries make one profile; --set wins for a key in both', async () => {
    const dir = await tempDir();
    const file = join(dir, 'posted.yaml');
    await writeFile(
      file,
      'mode: posted\nprofile:\n  name: xeon-x5570\n  set:\n    cpu.apicVirtualization: 1\n    host.hz: 100\n',
    );
    const config = runConfig(['--machine', file, '--set', 'host.hz=250', '--set', 'guest.hz=1000']);
    expect(config.profile?.name).toBe('xeon-x5570[cpu.apicVirtualization=1,host.hz=250,guest.hz=1000]');
    expect(config.profile?.entries['host.hz']?.value).toBe(250);
    // --profile replaces the file's profile, its set included: posted is then refused.
    expect(() => parseCommand(['run', '--machine', file, '--profile', 'xeon-x5570'])).toThrow(
      /mode 'posted' needs APIC virtualization/,
    );
  });
});

describe('--machine on the commands with axes, and on trace', () => {
  it('reproduce: the file’s mode and workload are the axes’ defaults; --modes replaces them', () => {
    const one = reproduceJobs(must(parseCommand(['reproduce', '--machine', twoGuests]), 'reproduce').options);
    expect(one.map((j) => [j.workload, j.mode])).toEqual([['memcached', 'eli']]);
    expect(machineConfig(one[0]!)).toMatchObject({ guests: 2, guestModes: ['eli', 'baseline'] });
    const both = reproduceJobs(
      must(parseCommand(['reproduce', '--machine', twoGuests, '--modes', 'baseline,eli']), 'reproduce')
        .options,
    );
    expect(both.map((j) => [j.mode, machineConfig(j).guestModes])).toEqual([
      ['baseline', undefined],
      ['eli', ['eli', 'baseline']],
    ]);
  });

  it('sweep and sensitivity: the file’s workload and mode, with the modes they always add; sweep’s parameter replaces its field', async () => {
    const dir = await tempDir();
    const file = join(dir, 'one.yaml');
    await writeFile(file, 'mode: did\nworkload: apache\nguestMemoryMiB: 512\ninterruptIntervalUs: 100\n');
    const sweep = sweepPlan(
      must(parseCommand(['sweep', '--machine', file, '--values', '4']), 'sweep').options,
    );
    expect(sweep.map((r) => machineConfig(r.job))).toEqual([
      { mode: 'bare-metal', workload: 'apache', seed: 1, guestMemoryMiB: 512, interruptIntervalUs: 4 },
      { mode: 'did', workload: 'apache', seed: 1, guestMemoryMiB: 512, interruptIntervalUs: 4 },
    ]);
    const sensitivity = must(
      parseCommand(['sensitivity', '--machine', file, '--entries', 'host.injection']),
      'sensitivity',
    ).options;
    expect(sensitivity.workloads).toEqual(['apache']);
    expect(sensitivity.modes).toEqual(['bare-metal', 'baseline', 'did']);
    expect(baseJobs(sensitivity).map((j) => machineConfig(j).interruptIntervalUs)).toEqual([100, 100, 100]);
    // A file with two guests cannot be swept: the sweep always runs bare metal.
    expect(() => parseCommand(['sweep', '--machine', twoGuests])).toThrow(
      /^the machine rejects the sweep's bare-metal runs \(with --machine .*\) \(the sweep always runs bare-metal/,
    );
  });

  it('trace: the file’s machine, its mode the default of --mode', () => {
    const trace = must(parseCommand(['trace', '--machine', twoGuests]), 'trace').options;
    expect(traceMachineConfig(trace)).toEqual({
      mode: 'eli',
      workload: 'memcached',
      seed: 1,
      guests: 2,
      guestModes: ['eli', 'baseline'],
    });
  });
});

describe('exitless machine', () => {
  it('--print writes the default machine, every default explicit, which parses back to it', async () => {
    const yaml = await exitless(['machine', '--print']);
    expect(yaml.code).toBe(0);
    expect(yaml.stdout).toMatch(/^# An exitless machine file/);
    expect(parseMachineFile(yaml.stdout)).toEqual(explicitMachineConfig({ mode: PRINT_DEFAULT_MODE }));
    const json = must(parseCommand(['machine', '--print', '--format', 'json']), 'machine');
    expect(json).toMatchObject({ action: 'print', format: 'json' });
    if (json.action === 'print') expect(json.config).toEqual(explicitMachineConfig({ mode: 'baseline' }));
  });

  it('--print --machine FILE --set …: the file’s machine with the --sets, written back', async () => {
    const out = await exitless([
      'machine',
      '--print',
      '--format',
      'json',
      '--machine',
      'examples/machines/two-guests.yaml',
      '--set',
      'guestMemoryMiB=512',
      '--set',
      'cpu.apicVirtualization=1',
    ]);
    expect(out.code).toBe(0);
    const data = JSON.parse(out.stdout) as Record<string, unknown>;
    expect(data).toMatchObject({
      mode: 'eli',
      guests: 2,
      guestModes: ['eli', 'baseline'],
      guestMemoryMiB: 512,
      profile: { name: 'xeon-x5570', set: { 'cpu.apicVirtualization': 1 } },
    });
    const config = parseMachineFile(out.stdout, { format: 'json' });
    expect(config.profile?.name).toBe('xeon-x5570[cpu.apicVirtualization=1]');
  });

  it('--check FILE says OK, or the error on one line with exit code 2', async () => {
    const ok = await exitless(['machine', '--check', 'examples/machines/two-guests.yaml']);
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(ok.stdout).toBe(
      'examples/machines/two-guests.yaml: OK — eli, 2 guests (eli, baseline), memcached, profile xeon-x5570\n',
    );
    const nics = await exitless(['machine', '--check', 'examples/machines/two-nics.yaml']);
    expect(nics.stdout).toBe(
      'examples/machines/two-nics.yaml: OK — eli, 2 guests, netperf-tcp-stream, 2 NICs, profile xeon-x5570\n',
    );
    const dir = await tempDir();
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'mode: eli\nguests: 2\nguestModes: [eli, nope]\n');
    const no = await exitless(['machine', '--check', bad]);
    expect(no.code).toBe(2);
    expect(no.stdout).toBe('');
    expect(no.stderr).toBe(
      `exitless: machine file ${bad}, line 3, column 19: guestModes[1] must be one of baseline, eli-delivery, eli, eli-guest-hlt, pv-eoi, posted, did, got 'nope'\n`,
    );
  }, 60_000);
});

describe('the example machine file, through the CLI', () => {
  it('exitless run --machine examples/machines/two-guests.yaml --json: a report with both guests and their modes', async () => {
    const out = await exitless([
      'run',
      '--machine',
      'examples/machines/two-guests.yaml',
      '--duration',
      '2',
      '--warmup',
      '1',
      '--json',
    ]);
    expect(out.code).toBe(0);
    const report = JSON.parse(out.stdout) as RunReport;
    expect(report).toMatchObject({ mode: 'eli', workload: 'memcached', seed: 1, profile: 'xeon-x5570' });
    expect(report.guests?.map((g) => g.mode)).toEqual(['eli', 'baseline']);
    expect(report.guests?.every((g) => g.throughput.value > 0)).toBe(true);
    const text = await exitless(['run', '--machine', 'examples/machines/two-guests.yaml', '--duration', '2']);
    expect(text.stdout).toMatch(/^ {2}guest0 \(eli\) +\d/m);
    expect(text.stdout).toMatch(/^ {2}guest1 \(baseline\) +\d/m);
  }, 60_000);
});
