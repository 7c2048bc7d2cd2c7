import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROFILES, ProfileError, XEON_SKYLAKE_SP, XEON_X5570 } from '@exitless/machine';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/args.js';
import { parseCommand, runCommandJobs, runMachineConfigs } from '../src/command.js';
import { formatTable, reproduceColumns, withProfileColumn } from '../src/format.js';
import { machineConfig, runJob } from '../src/jobs.js';
import { loadProfile, loadProfiles, profileRef, resolveProfile } from '../src/profiles.js';
import { withRelative } from '../src/relative.js';
import { parseReproduceArgs, reproduceJobs } from '../src/reproduce.js';
import { parseSensitivityArgs } from '../src/sensitivity.js';
import { parseSweepArgs, sweepPlan } from '../src/sweep.js';
import { parseTraceArgs, traceMachineConfig } from '../src/trace.js';
import { fixedReport } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'exitless-profiles-'));
function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('--profile NAME|FILE', () => {
  it('takes a shipped profile by name, the default when absent', () => {
    expect(loadProfile('xeon-skylake-sp')).toBe(XEON_SKYLAKE_SP);
    expect(Object.keys(PROFILES)).toEqual(['xeon-x5570', 'xeon-skylake-sp']);
    const run = parseCommand(['run', '--mode', 'baseline', '--profile', 'xeon-skylake-sp']);
    expect(run.kind === 'run' && run.options.profile).toBe(XEON_SKYLAKE_SP);
    const plain = parseCommand(['run', '--mode', 'baseline']);
    expect(plain.kind === 'run' && 'profile' in plain.options).toBe(false);
  });

  it('an unknown name is a usage error that lists the names', () => {
    expect(() => parseCommand(['run', '--profile', 'pentium'])).toThrow(UsageError);
    expect(() => parseCommand(['run', '--profile', 'pentium'])).toThrow(
      /--profile: unknown calibration profile 'pentium': use one of xeon-x5570, xeon-skylake-sp/,
    );
  });

  it('a file is checked with validateProfile: a bad entry is named, a bad file is a usage error', () => {
    const entries = {
      ...XEON_SKYLAKE_SP.entries,
      'cpu.vmExitCycles': { value: -5, unit: 'cycles', source: 's' },
    };
    const bad = file('bad.json', { ...XEON_SKYLAKE_SP, name: 'mine', entries });
    expect(() => loadProfile(bad)).toThrow(ProfileError);
    expect(() => parseCommand(['run', '--profile', bad])).toThrow(
      /--profile .*bad\.json: .*'cpu\.vmExitCycles' must be/,
    );
    expect(() => loadProfile(file('notjson.json', '{ nope'))).toThrow(/is not JSON/);
    expect(() => loadProfile(join(dir, 'missing.json'))).toThrow(/cannot read the profile file/);
    const good = file('good.json', { ...XEON_SKYLAKE_SP, name: 'mine' });
    expect(loadProfile(good).name).toBe('mine');
  });

  it('every command that runs machines takes it, and its jobs carry it as plain data', () => {
    const run = parseCommand(['run', '--profile', 'xeon-skylake-sp', '--runs', '2']);
    if (run.kind !== 'run') throw new Error('run');
    expect(runMachineConfigs(run.options)[0]?.profile).toBe(XEON_SKYLAKE_SP);
    expect(runCommandJobs(run.options)[0]?.profile).toBe('xeon-skylake-sp');
    expect(sweepPlan(parseSweepArgs(['--profile', 'xeon-skylake-sp', '--values', '8']))[0]?.job.profile).toBe(
      'xeon-skylake-sp',
    );
    expect(traceMachineConfig(parseTraceArgs(['--profile', 'xeon-skylake-sp'])).profile).toBe(
      XEON_SKYLAKE_SP,
    );
    const s = parseSensitivityArgs(['--profile', 'xeon-skylake-sp', '--entries', 'cpu.vmExitCycles']);
    expect(s.entries).toEqual([{ key: 'cpu.vmExitCycles', unit: 'cycles', value: 400, low: 250, high: 600 }]);
    const profile = parseCommand(['profile', '--profile', 'xeon-skylake-sp']);
    expect(profile.kind === 'profile' && profile.profile).toBe(XEON_SKYLAKE_SP);
    // A file's profile travels as the validated object; overrides apply on top of it.
    const mine = loadProfile(file('mine.json', { ...XEON_SKYLAKE_SP, name: 'mine' }));
    expect(profileRef(mine)).toBe(mine);
    expect(profileRef(XEON_X5570)).toBeUndefined();
    expect(structuredClone(mine)).toEqual(mine);
    const config = machineConfig({
      workload: 'netperf-udp-rr',
      mode: 'baseline',
      seed: 1,
      durationMs: 1,
      warmupMs: 1,
      profile: 'xeon-skylake-sp',
      profileOverrides: { 'host.vmcall': 321 },
    });
    expect(config.profile?.name).toBe('xeon-skylake-sp');
    expect(config.profile?.entries['host.vmcall']?.value).toBe(321);
    expect(config.profile?.entries['cpu.hz']?.value).toBe(2e9);
    expect(resolveProfile(undefined)).toBe(XEON_X5570);
  });

  it('a short run on the Skylake-SP profile works end to end and reports the profile', () => {
    const { report } = runJob({
      workload: 'netperf-udp-rr',
      mode: 'eli',
      seed: 1,
      durationMs: 2,
      warmupMs: 1,
      profile: 'xeon-skylake-sp',
    });
    expect(report.profile).toBe('xeon-skylake-sp');
    expect(report.throughput.value).toBeGreaterThan(0);
  });
});

describe('reproduce --profiles', () => {
  it('runs every workload × mode on each profile, profile-major', () => {
    const options = parseReproduceArgs([
      '--profiles',
      'xeon-x5570,xeon-skylake-sp',
      '--workloads',
      'netperf-udp-rr',
      '--modes',
      'bare-metal,baseline',
    ]);
    expect(options.profiles).toEqual([XEON_X5570, XEON_SKYLAKE_SP]);
    expect(reproduceJobs(options).map((j) => `${j.profile ?? 'default'} ${j.mode}`)).toEqual([
      'default bare-metal',
      'default baseline',
      'xeon-skylake-sp bare-metal',
      'xeon-skylake-sp baseline',
    ]);
    expect('profiles' in parseReproduceArgs([])).toBe(false);
  });

  it('rejects --profile with --profiles, a repeated name of two different profiles, and --uncertainty over several', () => {
    expect(() => parseReproduceArgs(['--profile', 'xeon-x5570', '--profiles', 'xeon-skylake-sp'])).toThrow(
      /cannot be combined/,
    );
    const clash = file('clash.json', { ...XEON_SKYLAKE_SP });
    expect(() => loadProfiles(`xeon-skylake-sp,${clash}`)).toThrow(
      /two different profiles are named 'xeon-skylake-sp'/,
    );
    expect(loadProfiles('xeon-skylake-sp,xeon-skylake-sp')).toEqual([XEON_SKYLAKE_SP]);
    expect(() =>
      parseReproduceArgs(['--profiles', 'xeon-x5570,xeon-skylake-sp', '--uncertainty', '4']),
    ).toThrow(/--uncertainty takes one profile/);
    expect(() => parseReproduceArgs(['--profiles', 'xeon-x5570,nope'])).toThrow(
      /--profiles: unknown calibration profile 'nope'/,
    );
  });

  it('the ratios compare runs of the same profile only', () => {
    const skx = (mode: string, t: number) => ({ ...fixedReport(mode, t), profile: 'xeon-skylake-sp' });
    const rows = withRelative([
      fixedReport('bare-metal', 8000),
      fixedReport('baseline', 4000),
      fixedReport('eli', 7000),
      skx('bare-metal', 10000),
      skx('baseline', 8000),
      skx('eli', 9000),
    ]);
    expect(rows.map((r) => r.relative.toBareMetal)).toEqual([1, 0.5, 0.875, 1, 0.8, 0.9]);
    expect(rows.map((r) => r.relative.toBaseline)).toEqual([2, 1, 1.75, 1.25, 1, 1.125]);
    // Without a run of its own profile, no ratio.
    expect(withRelative([fixedReport('bare-metal', 10), skx('eli', 5)])[1]?.relative.toBareMetal).toBeNull();
  });

  it('the table groups by profile in a first column', () => {
    const rows = withRelative([
      fixedReport('bare-metal', 8000),
      { ...fixedReport('bare-metal', 9000), profile: 'xeon-skylake-sp' },
    ]);
    const lines = formatTable(withProfileColumn(reproduceColumns()), rows).split('\n');
    expect(lines[0]).toMatch(/^profile\s+workload/);
    expect(lines[2]).toMatch(/^xeon-x5570\s/);
    expect(lines[3]).toMatch(/^xeon-skylake-sp\s/);
  });
});
