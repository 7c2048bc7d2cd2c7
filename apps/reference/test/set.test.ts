import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Machine, runMachine, validateProfile, XEON_SKYLAKE_SP, XEON_X5570 } from '@exitless/machine';
import { describe, expect, it } from 'vitest';
import { parseOptions, UsageError } from '../src/args.js';
import { type Command, parseCommand, runCommandJobs, runMachineConfigs } from '../src/command.js';
import type { ReproduceEntry } from '../src/format.js';
import { runJob } from '../src/jobs.js';
import { availableWorkloads } from '../src/modes.js';
import { closeKeys, parseSets, profileRef, SET_USAGE, setName, withSets } from '../src/profiles.js';
import { parseReproduceArgs, REPRODUCE_USAGE, reproduce, reproduceJobs } from '../src/reproduce.js';
import { parseSensitivityArgs, SENSITIVITY_USAGE } from '../src/sensitivity.js';
import { parseSweepArgs, SWEEP_USAGE, sweepPlan } from '../src/sweep.js';
import { parseTraceArgs, TRACE_USAGE, traceMachineConfig } from '../src/trace.js';
import { profileWithRanges } from './fixtures.js';
import { contents, tempDirs } from './temp-dirs.js';

const tempDir = tempDirs('set');
const root = fileURLToPath(new URL('../../..', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const exitless = (args: readonly string[]) =>
  promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', cli, ...args], {
    cwd: root,
    timeout: 60_000,
  });

function must<K extends Command['kind']>(command: Command, kind: K): Extract<Command, { kind: K }> {
  if (command.kind !== kind) throw new Error(`expected a ${kind} command, got ${command.kind}`);
  return command as Extract<Command, { kind: K }>;
}

describe('--set KEY=VALUE, parsed', () => {
  it('is repeatable, keeps the order given, and reads each value as a number', () => {
    const values = parseOptions('x', ['--set', 'a=1', '--set=b=1e3', '--json'], {
      set: { type: 'string', value: 'KEY=VALUE', multiple: true },
      json: { type: 'boolean' },
    });
    expect(values.set).toEqual(['a=1', 'b=1e3']);
    expect(parseSets(['host.hz=250', 'cpu.hz=2.5e9', 'guest.copyPerByte= 0.5 '])).toEqual([
      { key: 'host.hz', value: 250 },
      { key: 'cpu.hz', value: 2.5e9 },
      { key: 'guest.copyPerByte', value: 0.5 },
    ]);
    // A value may itself hold '=' only after the first one, where it is no number.
    expect(() => parseSets(['host.hz=1=2'])).toThrow(/VALUE must be a finite number, got '1=2'/);
  });

  it.each([
    [
      ['foo'],
      /^--set takes KEY=VALUE, a calibration-profile entry or a machine field and its value .* got 'foo'$/,
    ],
    [['=5'], /^--set takes KEY=VALUE.* got '=5'$/],
    [['host.hz='], /^--set host\.hz=VALUE: VALUE must be a finite number, got ''$/],
    [['host.hz=abc'], /VALUE must be a finite number, got 'abc'/],
    [['host.hz=1e400'], /VALUE must be a finite number, got '1e400'/],
    [['host.hz=NaN'], /VALUE must be a finite number, got 'NaN'/],
    [
      ['host.hz=100', 'host.hz=250'],
      /^--set host\.hz is given more than once \(=100 and =250\): give each entry once$/,
    ],
  ])('%j is a UsageError: %s', (items, message) => {
    expect(() => parseSets(items)).toThrow(UsageError);
    expect(() => parseSets(items)).toThrow(message);
  });

  it('the same key twice is refused on the command line too, different keys are not', () => {
    expect(() => parseCommand(['profile', '--set', 'host.hz=100', '--set', 'host.hz=100'])).toThrow(
      /--set host\.hz is given more than once/,
    );
    const p = must(parseCommand(['profile', '--set', 'host.hz=100', '--set', 'guest.hz=250']), 'profile');
    expect(p.profile.name).toBe('xeon-x5570[host.hz=100,guest.hz=250]');
  });
});

describe('--set KEY=VALUE, applied to a profile', () => {
  it('replaces the values in order, renames the profile, records the profile’s own values, and validates', () => {
    const p = withSets(XEON_X5570, parseSets(['cpu.apicVirtualization=1', 'host.contextSwitch=1e3']));
    expect(p.name).toBe('xeon-x5570[cpu.apicVirtualization=1,host.contextSwitch=1000]');
    expect(setName('p', [{ key: 'k', value: 0.5 }])).toBe('p[k=0.5]');
    expect(p.entries['cpu.apicVirtualization']).toMatchObject({ value: 1, overridden: 0 });
    expect(p.entries['host.contextSwitch']).toMatchObject({ value: 1000, overridden: 2000 });
    expect(p.entries['host.contextSwitch']?.source).toMatch(/^override of the profile's value 2000 \(/);
    expect(p.description).toMatch(/ — set: cpu\.apicVirtualization 1 \(the profile's 0\)/);
    // Every other entry is the profile's, and the profile itself is untouched.
    expect(p.entries['cpu.hz']).toBe(XEON_X5570.entries['cpu.hz']);
    expect(XEON_X5570.entries['cpu.apicVirtualization']?.value).toBe(0);
    expect(validateProfile(p)).toBe(p);
    // No --set: the profile itself (so default options stay as they were).
    expect(withSets(XEON_SKYLAKE_SP, [])).toBe(XEON_SKYLAKE_SP);
  });

  it('takes a value outside the entry’s low–high estimate, keeping the range as the profile’s', () => {
    const e = XEON_X5570.entries['host.contextSwitch']!;
    expect(e.high).toBeLessThan(9000);
    const p = withSets(XEON_X5570, [{ key: 'host.contextSwitch', value: 9000 }]);
    expect(p.entries['host.contextSwitch']).toMatchObject({
      value: 9000,
      low: e.low,
      high: e.high,
      range: e.range,
      overridden: e.value,
    });
  });

  it.each([
    [
      'host.contextSwitch=-5',
      /^--set host\.contextSwitch=-5: calibration profile 'xeon-x5570': 'host\.contextSwitch' must be a number from 0 to 100000000 cycles, got -5$/,
    ],
    [
      'cpu.apicVirtualization=0.5',
      /'cpu\.apicVirtualization' must be an integer from 0 to 1 flag .*got 0\.5$/,
    ],
    ['cpu.apicVirtualization=2', /'cpu\.apicVirtualization' must be an integer from 0 to 1 flag .*got 2$/],
    ['guest.napiBudget=64.5', /'guest\.napiBudget' must be an integer from 1 to 4096 frames, got 64\.5$/],
    ['guest.rxRing=100', /'guest\.rxRing' must be an integer multiple of 8 from 8 to 4096 descriptors/],
    ['cpu.hz=1', /'cpu\.hz' must be a number from 100000000 to 10000000000 Hz/],
  ])('%s is out of what the schema accepts: a UsageError that says what it accepts', (item, message) => {
    expect(() => withSets(XEON_X5570, parseSets([item]))).toThrow(UsageError);
    expect(() => withSets(XEON_X5570, parseSets([item]))).toThrow(message);
  });

  it('an unknown key lists close names, or says where the names are', () => {
    const keys = Object.keys(XEON_X5570.entries);
    expect(closeKeys('host.contextSwich', keys)[0]).toBe('host.contextSwitch');
    expect(closeKeys('CPU.APICVIRTUALISATION', keys)[0]).toBe('cpu.apicVirtualization');
    expect(closeKeys('eli.nothing', keys)).toEqual(keys.filter((k) => k.startsWith('eli.')).slice(0, 5));
    expect(closeKeys('nonsense', keys)).toEqual([]);
    expect(() => withSets(XEON_X5570, parseSets(['host.contextSwich=5']))).toThrow(
      /^--set host\.contextSwich=5: calibration profile 'xeon-x5570' has no entry 'host\.contextSwich': use one of its entries such as host\.contextSwitch, .*or one that 'exitless profile' lists$/,
    );
    expect(() => withSets(XEON_SKYLAKE_SP, parseSets(['nonsense=1']))).toThrow(
      /has no entry 'nonsense': use one that 'exitless profile --profile xeon-skylake-sp' lists$/,
    );
  });
});

describe('--set on every command that runs machines or shows a profile', () => {
  const set = ['--set', 'host.contextSwitch=3000'];
  const name = 'xeon-x5570[host.contextSwitch=3000]';

  it('reaches the machine of run, reproduce, sweep, trace and sensitivity, and profile shows it', () => {
    const run = must(parseCommand(['run', '--mode', 'baseline', ...set]), 'run');
    expect(runMachineConfigs(run.options)[0]?.profile?.name).toBe(name);
    // A job carries the overridden profile itself: a name would lose the overrides.
    const runs = must(parseCommand(['run', '--mode', 'baseline', '--runs', '2', ...set]), 'run');
    const job = runCommandJobs(runs.options)[0]!;
    expect(typeof job.profile === 'object' && job.profile.name).toBe(name);
    expect(typeof job.profile === 'object' && job.profile.entries['host.contextSwitch']?.value).toBe(3000);
    expect(structuredClone(job.profile)).toEqual(job.profile);
    for (const j of reproduceJobs(parseReproduceArgs(['--modes', 'baseline', ...set]))) {
      expect(typeof j.profile === 'object' && j.profile.name).toBe(name);
    }
    const swept = sweepPlan(parseSweepArgs(['--values', '8', ...set]))[0]!.job.profile;
    expect(typeof swept === 'object' && swept.name).toBe(name);
    expect(traceMachineConfig(parseTraceArgs(set)).profile?.name).toBe(name);
    expect(parseSensitivityArgs(set).profile?.name).toBe(name);
    expect(must(parseCommand(['profile', ...set]), 'profile').profile.name).toBe(name);
    // On top of --profile.
    const skx = must(parseCommand(['run', '--profile', 'xeon-skylake-sp', ...set]), 'run');
    expect(skx.options.profile?.name).toBe('xeon-skylake-sp[host.contextSwitch=3000]');
    expect(skx.options.profile?.entries['cpu.hz']?.value).toBe(2e9);
  });

  it('changes a baseline run, and the report names the overridden profile', () => {
    const run = (args: readonly string[]) => {
      const c = must(parseCommand(['run', '--mode', 'baseline', ...args]), 'run');
      return runMachine(new Machine(runMachineConfigs(c.options)[0]!), { durationMs: 2, warmupMs: 1 });
    };
    const plain = run([]);
    const set = run(['--set', 'host.contextSwitch=20000']);
    expect(plain.profile).toBe('xeon-x5570');
    expect(set.profile).toBe('xeon-x5570[host.contextSwitch=20000]');
    // Ten times the cost of each host context switch: far more of the core's time in the host.
    expect(set.cpus[0]!.time.host).toBeGreaterThan(2 * plain.cpus[0]!.time.host);
    // Same seed, same --set: the same report.
    expect(run(['--set', 'host.contextSwitch=20000'])).toEqual(set);
  });

  it('a --set to the profile’s own value changes nothing but the name', () => {
    const job = { workload: 'netperf-udp-rr', mode: 'posted', seed: 2, durationMs: 2, warmupMs: 1 };
    const plain = runJob({ ...job, profile: 'xeon-skylake-sp' }).report;
    const same = withSets(XEON_SKYLAKE_SP, [{ key: 'cpu.apicVirtualization', value: 1 }]);
    const set = runJob({ ...job, profile: same }).report;
    expect(set.profile).toBe('xeon-skylake-sp[cpu.apicVirtualization=1]');
    expect({ ...set, profile: plain.profile }).toEqual(plain);
  });

  it('posted runs on xeon-x5570 only with --set cpu.apicVirtualization=1 (a counterfactual)', () => {
    const refused = ['run', '--mode', 'posted', '--profile', 'xeon-x5570'];
    expect(() => parseCommand(refused)).toThrow(UsageError);
    expect(() => parseCommand(refused)).toThrow(
      /mode 'posted' needs APIC virtualization.*or, as a counterfactual, --set cpu\.apicVirtualization=1/,
    );
    const c = must(parseCommand([...refused, '--set', 'cpu.apicVirtualization=1']), 'run');
    const config = runMachineConfigs(c.options)[0]!;
    const report = runMachine(new Machine(config), { durationMs: 2, warmupMs: 1 });
    expect(report.mode).toBe('posted');
    expect(report.profile).toBe('xeon-x5570[cpu.apicVirtualization=1]');
    // Posted interrupts: the guest gets its interrupts with no injection by the host.
    expect(report.interruptsPerSecond.virtual).toBe(0);
    expect(report.assignedInterrupts).toBeGreaterThan(0);
    // Without --mode, every mode the overridden profile has: posted among them.
    const all = must(parseCommand(['run', '--set', 'cpu.apicVirtualization=1']), 'run');
    expect(all.options.modes).toContain('posted');
    expect(must(parseCommand(['run']), 'run').options.modes).not.toContain('posted');
    // And the other way: a Skylake-SP without APIC virtualization refuses it.
    expect(() =>
      parseCommand([
        'trace',
        '--mode',
        'posted',
        '--profile',
        'xeon-skylake-sp',
        '--set',
        'cpu.apicVirtualization=0',
      ]),
    ).toThrow(/profile 'xeon-skylake-sp\[cpu\.apicVirtualization=0\]' does not have/);
  });

  it('reproduce --profiles a,b --set applies to each profile: posted runs on both', () => {
    const options = parseReproduceArgs([
      '--profiles',
      'xeon-x5570,xeon-skylake-sp',
      '--set',
      'cpu.apicVirtualization=1',
      '--modes',
      'bare-metal,baseline,eli,posted',
    ]);
    expect(options.profiles?.map((p) => p.name)).toEqual([
      'xeon-x5570[cpu.apicVirtualization=1]',
      'xeon-skylake-sp[cpu.apicVirtualization=1]',
    ]);
    const posted = reproduceJobs(options).filter((j) => j.mode === 'posted');
    expect(posted.length).toBe(2 * availableWorkloads().length);
    expect(new Set(posted.map((j) => (typeof j.profile === 'object' ? j.profile.name : j.profile)))).toEqual(
      new Set(['xeon-x5570[cpu.apicVirtualization=1]', 'xeon-skylake-sp[cpu.apicVirtualization=1]']),
    );
    // A key one of the profiles lacks is named with that profile.
    expect(() => parseReproduceArgs(['--profiles', 'xeon-x5570,xeon-skylake-sp', '--set', 'x.y=1'])).toThrow(
      /--set x\.y=1: calibration profile 'xeon-x5570' has no entry 'x\.y'/,
    );
    // A job carries the overridden profile itself, not the shipped profile's name.
    expect(profileRef(options.profiles![1])).toBe(options.profiles![1]);
  });

  it('leaves the entries set out of what --uncertainty samples and sensitivity moves', () => {
    const keys = ['host.injection', 'guest.irqEntry', 'guest.napiBudget'];
    // The default profile with ranges on `keys` only, as a valid profile (an estimate needs a range).
    const ranged = profileWithRanges(keys);
    const profile = validateProfile({
      ...ranged,
      entries: Object.fromEntries(
        Object.entries(ranged.entries).map(([k, { estimate: _, ...e }]) => [
          k,
          keys.includes(k) ? ranged.entries[k] : e,
        ]),
      ),
    });
    const u = parseReproduceArgs(['--uncertainty', '4', '--set', 'host.injection=500'], profile);
    expect(u.uncertainty?.entries.map((e) => e.key).sort()).toEqual(['guest.irqEntry', 'guest.napiBudget']);
    expect(u.profiles?.[0]?.entries['host.injection']?.value).toBe(500);
    for (const j of reproduceJobs(u)) expect(j.profileOverrides?.['host.injection']).toBeUndefined();
    expect(() =>
      parseReproduceArgs(
        ['--uncertainty', '4', ...keys.flatMap((k, i) => ['--set', `${k}=${[500, 400, 64][i]}`])],
        profile,
      ),
    ).toThrow(/has none that --set leaves free/);
    const s = parseSensitivityArgs(['--set', 'guest.irqEntry=900'], profile);
    expect(s.entries.map((e) => e.key).sort()).toEqual(['guest.napiBudget', 'host.injection']);
    expect(s.profile?.entries['guest.irqEntry']?.value).toBe(900);
    expect(() =>
      parseSensitivityArgs(['--set', 'guest.irqEntry=900', '--entries', 'guest.irqEntry'], profile),
    ).toThrow(/^--entries: 'guest\.irqEntry' is fixed by --set guest\.irqEntry=900, so it is not moved/);
  });

  it('is in the usage text of every command', async () => {
    for (const usage of [REPRODUCE_USAGE, SWEEP_USAGE, SENSITIVITY_USAGE, TRACE_USAGE]) {
      expect(usage).toContain('[--set KEY=VALUE …]');
      expect(usage).toContain(SET_USAGE);
    }
    const { stdout } = await exitless(['help']);
    expect(stdout).toMatch(/exitless run \[--mode MODE\][\s\S]*?\[--set KEY=VALUE …\] \[--json\]/);
    expect(stdout).toMatch(/exitless profile \[--profile NAME\|FILE\] \[--set KEY=VALUE …\]/);
    // run, reproduce, sweep, sensitivity, trace, profile, machine.
    expect(stdout.split(SET_USAGE).length - 1).toBe(7);
    // An unknown option's message lists it among the command's options.
    expect(() => parseCommand(['trace', '--sett', 'a=1'])).toThrow(/--set KEY=VALUE \(repeatable\)/);
  }, 60_000);
});

describe('--set, end to end', () => {
  it('exitless profile --set prints the overridden value, and its JSON records the profile’s own', async () => {
    const text = await exitless(['profile', '--set', 'host.contextSwitch=9000']);
    expect(text.stdout).toMatch(/^xeon-x5570\[host\.contextSwitch=9000\]: /);
    expect(text.stdout).toMatch(
      /^host\.contextSwitch +9000 cycles +\[1000–6000\] \[outside the range\] \[estimate\] override of the profile's value 2000 /m,
    );
    const json = JSON.parse(
      (await exitless(['profile', '--set', 'cpu.apicVirtualization=1', '--json'])).stdout,
    );
    expect(json.name).toBe('xeon-x5570[cpu.apicVirtualization=1]');
    expect(json.entries['cpu.apicVirtualization']).toMatchObject({ value: 1, overridden: 0 });
  }, 60_000);

  it('a mistake is one line on stderr with exit code 2', async () => {
    const failed = await exitless(['run', '--set', 'host.contextSwitch=lots']).catch((e: unknown) => e);
    expect(failed).toMatchObject({
      code: 2,
      stdout: '',
      stderr:
        "exitless: --set host.contextSwitch=VALUE: VALUE must be a finite number, got 'lots' (see 'exitless run --help')\n",
    });
  }, 60_000);

  it('the worker pool carries the overrides: reproduce --jobs 2 writes the bytes of --jobs 1', async () => {
    const args = [
      '--profile',
      'xeon-x5570',
      '--set',
      'cpu.apicVirtualization=1',
      '--set',
      'host.contextSwitch=3000',
      '--workloads',
      'netperf-udp-rr',
      '--modes',
      'bare-metal,baseline,posted',
      '--duration',
      '2',
      '--warmup',
      '1',
      '--seed',
      '5',
    ];
    const pooled = await tempDir();
    const { stderr } = await exitless(['reproduce', ...args, '--jobs', '2', '--out', pooled]);
    expect(stderr).toMatch(/on 2 worker threads/);
    expect(stderr).toMatch(/3 runs in [\d.]+ s wall/);
    const inThread = await tempDir();
    const result = await reproduce(parseReproduceArgs([...args, '--jobs', '1', '--out', inThread]));
    expect(result.failures).toEqual([]);
    const files = await contents(pooled);
    expect(files).toEqual(await contents(inThread));
    const json = JSON.parse(files['results.json']!) as ReproduceEntry[];
    expect(json.map((r) => [r.mode, r.profile])).toEqual([
      ['bare-metal', 'xeon-x5570[cpu.apicVirtualization=1,host.contextSwitch=3000]'],
      ['baseline', 'xeon-x5570[cpu.apicVirtualization=1,host.contextSwitch=3000]'],
      ['posted', 'xeon-x5570[cpu.apicVirtualization=1,host.contextSwitch=3000]'],
    ]);
    // results.md names the profile it ran on.
    expect(files['results.md']).toContain('`xeon-x5570[cpu.apicVirtualization=1,host.contextSwitch=3000]`');
  }, 60_000);
});
