import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '@exitless/x86';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BUILTIN_MODES,
  explicitMachineConfig,
  formatMachineFile,
  isMachineFileKey,
  loadMachineFile,
  MACHINE_FILE_FIELDS,
  MACHINE_FILE_KEYS,
  MACHINE_LIMITS,
  Machine,
  type MachineConfig,
  MachineConfigError,
  type MachineFile,
  MachineFileError,
  machineConfigFromFile,
  machineFileOf,
  machineFileProfile,
  PROFILE_SCHEMA,
  parseMachineFile,
  profileWithSets,
  readMachineFile,
  runMachine,
  setMachineFileField,
  validateMachineConfig,
  WORKLOAD_OPTIONS_SCHEMA,
  WORKLOADS,
  XEON_SKYLAKE_SP,
  XEON_X5570,
} from '../src/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitless-machine-file-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The error parsing `text` throws (a MachineFileError, or the test fails). */
function errorOf(text: string, options: { format?: 'yaml' | 'json'; path?: string } = {}): MachineFileError {
  try {
    parseMachineFile(text, options);
  } catch (error) {
    expect(error).toBeInstanceOf(MachineFileError);
    expect(error).toBeInstanceOf(MachineConfigError);
    expect(error).toBeInstanceOf(UserError);
    return error as MachineFileError;
  }
  throw new Error(`parsed: ${text}`);
}

/** `mode: eli` and one more line. */
const withField = (line: string) => `mode: eli\n${line}\n`;

describe('the schema, field by field: accepted values, and rejected ones named by their path', () => {
  const limits = MACHINE_LIMITS;
  it.each([
    ['mode: did', { mode: 'did' }],
    ['workload: memcached', { workload: 'memcached' }],
    ['guests: 8', { guests: 8 }],
    ['guests: 2\nguestModes: [eli, baseline]', { guests: 2, guestModes: ['eli', 'baseline'] }],
    ['seed: 9007199254740991', { seed: 9007199254740991 }],
    ['phases: aligned', { phases: 'aligned' }],
    ['guestMemoryMiB: 64', { guestMemoryMiB: 64 }],
    ['guestApicMode: x2apic', { guestApicMode: 'x2apic' }],
    ['interruptIntervalUs: 0', { interruptIntervalUs: 0 }],
    ['interruptIntervalUs: 7.5', { interruptIntervalUs: 7.5 }],
    [
      'workloadOptions: { apache: { concurrency: 32 } }',
      { workloadOptions: { apache: { concurrency: 32 } } },
    ],
    [
      'workloadOptions: { memcached: { setRatio: 0.5 } }',
      { workloadOptions: { memcached: { setRatio: 0.5 } } },
    ],
    ['profile: xeon-skylake-sp', { profile: XEON_SKYLAKE_SP }],
  ])('%s is accepted', (line, expected) => {
    const config = parseMachineFile(line.startsWith('mode:') ? `${line}\n` : withField(line));
    expect(config).toMatchObject(expected);
  });

  it.each([
    ['mode: nope', 1, 'mode', /^mode must be one of bare-metal, baseline, .*, got 'nope'$/],
    [
      'workload: ab',
      2,
      'workload',
      new RegExp(`^workload must be one of ${WORKLOADS.join(', ')}, got 'ab'$`),
    ],
    [
      'guests: 9',
      2,
      'guests',
      /^guests must be an integer from 1 to 8 \(each on its own core with its own VF\), got 9$/,
    ],
    ['guests: 1.5', 2, 'guests', /^guests must be an integer from 1 to 8 .*, got 1\.5$/],
    ["guests: '2'", 2, 'guests', /^guests must be an integer .*, got '2'$/],
    ['guests:', 2, 'guests', /^guests must be an integer .*, got null$/],
    ['guestModes: eli', 2, 'guestModes', /^guestModes must be a list of modes, one per guest .*, got 'eli'$/],
    [
      'guests: 2\nguestModes: [eli, bare-metal]',
      3,
      'guestModes[1]',
      /^guestModes\[1\] must be one of baseline, eli-delivery, .*, got 'bare-metal'$/,
    ],
    ['seed: -1', 2, 'seed', /^seed must be an integer from 0 to 9007199254740991, got -1$/],
    ['phases: random', 2, 'phases', /^phases must be one of seeded, aligned, got 'random'$/],
    [
      'guestMemoryMiB: 65',
      2,
      'guestMemoryMiB',
      /^guestMemoryMiB must be an even integer from 64 to 3840 MiB/,
    ],
    ['guestApicMode: apic', 2, 'guestApicMode', /^guestApicMode must be one of xapic, x2apic, got 'apic'$/],
    [
      'interruptIntervalUs: 1023',
      2,
      'interruptIntervalUs',
      /^interruptIntervalUs must be a number from 0 to 1022 us/,
    ],
    [
      'workloadOptions: { apache: { concurrency: 0 } }',
      2,
      'workloadOptions.apache.concurrency',
      /^workloadOptions\.apache\.concurrency must be an integer from 1 to 14116 .*, got 0$/,
    ],
    [
      'workloadOptions: { memcached: { setRatio: 2 } }',
      2,
      'workloadOptions.memcached.setRatio',
      /^workloadOptions\.memcached\.setRatio must be a number from 0 to 1 \(the fraction of sets\), got 2$/,
    ],
    [
      'workloadOptions: apache',
      2,
      'workloadOptions',
      /^workloadOptions must be a mapping of udpRr, apache, memcached, got 'apache'$/,
    ],
    [
      'profile: 5',
      2,
      'profile',
      /^profile must be a shipped profile's name \(xeon-x5570, xeon-skylake-sp\) or the path/,
    ],
    [
      'profile: { name: xeon-x5570, set: { host.hz: x } }',
      2,
      "profile.set['host.hz']",
      /^profile\.set\['host\.hz'\] must be a finite number .*, got 'x'$/,
    ],
  ])('%s is rejected at line %i: %s', (line, lineNo, field, message) => {
    const e = errorOf(line.startsWith('mode:') ? `${line}\n` : withField(line), { path: 'm.yaml' });
    expect(e.detail).toMatch(message);
    expect(e.location).toMatchObject({ file: 'm.yaml', line: lineNo, field });
    expect(e.message).toBe(`machine file m.yaml, line ${lineNo}, column ${e.location.column}: ${e.detail}`);
  });

  it('derives its ranges and names from the machine’s own lists, so the two never disagree', () => {
    for (const [field, range] of Object.entries(limits)) {
      const e = errorOf(withField(`${field}: ${range.max + 1}`));
      expect(e.detail).toMatch(new RegExp(`^${field} must be .* to ${range.max}\\b`));
      expect(() =>
        parseMachineFile(withField(`${field}: ${field === 'guests' ? 1 : range.max}`)),
      ).not.toThrow();
    }
    for (const [section, fields] of Object.entries(WORKLOAD_OPTIONS_SCHEMA)) {
      for (const [name, range] of Object.entries(fields)) {
        const e = errorOf(withField(`workloadOptions: { ${section}: { ${name}: ${range.max * 2 + 1} } }`));
        expect(e.location.field).toBe(`workloadOptions.${section}.${name}`);
      }
    }
    for (const mode of BUILTIN_MODES) expect(readMachineFile(`mode: ${mode}\n`).mode).toBe(mode);
  });

  it('requires mode, and takes a mapping', () => {
    expect(errorOf('guests: 1\n').detail).toMatch(/^mode is required: use one of bare-metal, baseline/);
    expect(errorOf('').detail).toMatch(
      /^a machine file must be a mapping of mode, workload, .* got nothing$/,
    );
    expect(errorOf('- mode: eli\n').detail).toMatch(/must be a mapping .* got an array$/);
    expect(errorOf('eli\n').detail).toMatch(/must be a mapping .* got 'eli'$/);
  });
});

describe('unknown keys are errors, at the top level and nested', () => {
  it.each([
    [
      'mode: eli\ngeusts: 2\n',
      'geusts',
      2,
      /^geusts is not a field of a machine file: use mode, workload, workloadOptions, guests, guestModes, guestWorkloads, seed, phases, profile, guestMemoryMiB, guestApicMode, interruptIntervalUs, nics, guestNics, addresses$/,
    ],
    [
      'mode: eli\nworkloadOptions:\n  apache:\n    concurency: 8\n',
      'workloadOptions.apache.concurency',
      4,
      /^workloadOptions\.apache\.concurency is not a field of workloadOptions\.apache: use concurrency, fileSize$/,
    ],
    [
      'mode: eli\nworkloadOptions:\n  nginx: {}\n',
      'workloadOptions.nginx',
      3,
      /^workloadOptions\.nginx is not a field of workloadOptions: use udpRr, apache, memcached$/,
    ],
    [
      'mode: eli\nprofile:\n  name: xeon-x5570\n  sett: {}\n',
      'profile.sett',
      4,
      /^profile\.sett is not a field of profile: use name, set$/,
    ],
    // A function field of MachineConfig is code, not data: a file cannot have one.
    ['mode: eli\ntracer: {}\n', 'tracer', 2, /^tracer is not a field of a machine file: use /],
  ])('%j: %s', (text, field, line, message) => {
    const e = errorOf(text);
    expect(e.location).toMatchObject({ field, line, column: line === 2 ? 1 : expect.any(Number) });
    expect(e.detail).toMatch(message);
  });

  it('a typo is reported before a missing field', () => {
    expect(errorOf('mdoe: eli\n').detail).toMatch(/^mdoe is not a field of a machine file/);
  });
});

describe('syntax errors', () => {
  it('YAML: the line and column of the error', () => {
    const e = errorOf('mode: eli\nguests: [1, 2\nseed: 3\n', { path: 'bad.yaml' });
    expect(e.location).toMatchObject({ file: 'bad.yaml', line: 3, column: 1 });
    expect(e.message).toMatch(
      /^machine file bad\.yaml, line 3, column 1: not YAML: Flow sequence .* end with a \]$/,
    );
    expect(e.message).not.toContain('\n');
    const tab = errorOf('mode: eli\n  guests: 2\n');
    expect(tab.location).toMatchObject({ line: 1 });
    expect(tab.detail).toMatch(/^not YAML: /);
  });

  it('YAML: a key given twice', () => {
    const e = errorOf('mode: eli\nguests: 1\nguests: 2\n');
    expect(e.location).toMatchObject({ line: 3, column: 1 });
    expect(e.detail).toBe('not YAML: Map keys must be unique');
  });

  it('JSON (by format or by the path’s .json): strict JSON, the line and column of the error, and of a field', () => {
    const e = errorOf('{\n  "mode": "eli",\n}\n', { path: 'm.json' });
    expect(e.location).toMatchObject({ file: 'm.json', line: 3, column: 1 });
    expect(e.detail).toMatch(/^not JSON: /);
    expect(errorOf("{ mode: 'eli' }", { format: 'json' }).detail).toMatch(/^not JSON: /);
    const field = errorOf('{\n  "mode": "eli",\n  "guests": 0\n}\n', { path: 'm.json' });
    expect(field.location).toMatchObject({ line: 3, column: 3, field: 'guests' });
    // YAML reads JSON too.
    expect(parseMachineFile('{"mode": "eli", "guests": 2}')).toEqual({ mode: 'eli', guests: 2 });
  });
});

describe('fields checked against each other: validateMachineConfig’s rules, as MachineFileErrors', () => {
  it.each([
    [
      'mode: eli\nguests: 2\nguestModes: [eli]\n',
      /^guestModes must be an array of 2 mode name\(s\), one per guest/,
    ],
    ['mode: bare-metal\nguests: 2\n', /^bare-metal runs one OS on one core: use guests: 1/],
    [
      'mode: eli\nguestApicMode: xapic\n',
      /^mode 'eli' \(exitless EOI\) needs the guest's LAPIC in x2APIC mode/,
    ],
    ['mode: eli\nguests: 2\nguestMemoryMiB: 3000\n', /^guests × guestMemoryMiB must be at most 4096 MiB/],
    ['mode: posted\n', /^mode 'posted' needs APIC virtualization/],
    [
      'mode: eli\nworkloadOptions: { memcached: { keys: 100000, keySize: 5 } }\n',
      /^workloadOptions\.memcached\.keySize must be at least 8 bytes to number 100000 keys/,
    ],
  ])('%j', (text, message) => {
    const e = errorOf(text, { path: 'x.yaml' });
    expect(e.detail).toMatch(message);
    expect(e.message).toBe(`machine file x.yaml: ${e.detail}`);
  });
});

describe('the profile: a shipped name, or a JSON file relative to the machine file, with entries set', () => {
  const dir = join(tmp, 'profiles');
  const lab = { ...XEON_X5570, name: 'lab', description: 'a lab machine' };
  writeFileSync(join(tmp, 'lab.json'), JSON.stringify(lab));
  writeFileSync(join(tmp, 'broken.json'), '{ "name": "broken", ');
  writeFileSync(
    join(tmp, 'bad-entry.json'),
    JSON.stringify({ ...lab, entries: { ...lab.entries, 'cpu.hz': { ...lab.entries['cpu.hz'], value: 1 } } }),
  );
  void dir;

  it('a shipped profile is the shipped object itself', () => {
    expect(parseMachineFile('mode: eli\nprofile: xeon-x5570\n').profile).toBe(XEON_X5570);
    expect(parseMachineFile('mode: eli\nprofile: { name: xeon-skylake-sp }\n').profile).toBe(XEON_SKYLAKE_SP);
  });

  it('a file is read relative to the machine file, and checked like any profile', () => {
    const path = join(tmp, 'm.yaml');
    writeFileSync(path, 'mode: eli\nprofile: ./lab.json\n');
    expect(loadMachineFile(path).profile).toEqual(lab);
    const missing = errorOf('mode: eli\nprofile: ./none.json\n', { path });
    expect(missing.detail).toMatch(
      /^profile must be a shipped profile's name .*, got '\.\/none\.json', which is neither \(no file .*none\.json\)$/,
    );
    expect(missing.location).toMatchObject({ line: 2, field: 'profile' });
    expect(errorOf('mode: eli\nprofile: ./broken.json\n', { path }).detail).toMatch(
      /^profile: the profile file .*broken\.json must be JSON: /,
    );
    expect(errorOf('mode: eli\nprofile: ./bad-entry.json\n', { path }).detail).toMatch(
      /^profile: the profile file .*bad-entry\.json: calibration profile 'lab': 'cpu\.hz' must be a number from 100000000/,
    );
  });

  it('set: each entry the profile has, each value in its schema range; the profile named NAME[KEY=VALUE]', () => {
    const p = parseMachineFile(
      'mode: posted\nprofile:\n  name: xeon-x5570\n  set:\n    cpu.apicVirtualization: 1\n    host.contextSwitch: 3000\n',
    ).profile!;
    expect(p.name).toBe('xeon-x5570[cpu.apicVirtualization=1,host.contextSwitch=3000]');
    expect(p.entries['host.contextSwitch']).toMatchObject({ value: 3000, overridden: 2000 });
    expect(p).toEqual(
      profileWithSets(XEON_X5570, { 'cpu.apicVirtualization': 1, 'host.contextSwitch': 3000 }),
    );
    const unknown = errorOf('mode: eli\nprofile:\n  name: xeon-x5570\n  set:\n    cpu.hzz: 1\n');
    expect(unknown.detail).toMatch(
      /^profile\.set\['cpu\.hzz'\] is not an entry of calibration profile 'xeon-x5570': use one of its \d+ entries/,
    );
    expect(unknown.location).toMatchObject({ line: 5, column: 5 });
    expect(errorOf('mode: eli\nprofile: { name: xeon-x5570, set: { guest.rxRing: 100 } }\n').detail).toMatch(
      /^profile\.set\['guest\.rxRing'\]: calibration profile 'xeon-x5570': 'guest\.rxRing' must be an integer multiple of 8/,
    );
  });

  it('machineFileProfile resolves a reference on its own', () => {
    expect(machineFileProfile('xeon-skylake-sp')).toBe(XEON_SKYLAKE_SP);
    expect(machineFileProfile('./lab.json', { path: join(tmp, 'x.yaml') })).toEqual(lab);
    expect(() => machineFileProfile({ name: '' })).toThrow(
      /^machine file: profile\.name must be a shipped profile's name/,
    );
  });
});

describe('round trip: parseMachineFile(formatMachineFile(c)) deep-equals c', () => {
  const virtualized = BUILTIN_MODES.filter((m) => m !== 'bare-metal' && m !== 'posted');
  const workloadOptions = fc.record(
    {
      udpRr: fc.record({ requestSize: fc.integer({ min: 0, max: 1472 }) }, { requiredKeys: [] }),
      apache: fc.record(
        { concurrency: fc.integer({ min: 1, max: 100 }), fileSize: fc.integer({ min: 0, max: 1 << 20 }) },
        { requiredKeys: [] },
      ),
      memcached: fc.record({ setRatio: fc.double({ min: 0, max: 1, noNaN: true }) }, { requiredKeys: [] }),
    },
    { requiredKeys: [] },
  );
  const profile = fc.constantFrom<NonNullable<MachineFile['profile']>>(
    'xeon-x5570',
    'xeon-skylake-sp',
    { name: 'xeon-skylake-sp', set: { 'host.contextSwitch': 3000 } },
    { name: 'xeon-x5570', set: { 'cpu.apicVirtualization': 1, 'guest.hz': 250 } },
  );
  /** Machine files, valid by themselves and across fields. */
  const files: fc.Arbitrary<MachineFile> = fc
    .integer({ min: 1, max: 3 })
    .chain((guests) =>
      fc.record(
        {
          mode: fc.constantFrom(...virtualized),
          workload: fc.constantFrom(...WORKLOADS),
          workloadOptions,
          guests: fc.constant(guests),
          guestModes: fc.array(fc.constantFrom(...virtualized), { minLength: guests, maxLength: guests }),
          seed: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          phases: fc.constantFrom('seeded' as const, 'aligned' as const),
          profile,
          guestMemoryMiB: fc.integer({ min: 32, max: 600 }).map((n) => n * 2),
          guestApicMode: fc.constant('x2apic' as const),
          interruptIntervalUs: fc.oneof(
            fc.integer({ min: 0, max: 1022 }),
            fc.double({ min: 0, max: 1022, noNaN: true }),
          ),
        },
        { requiredKeys: ['mode'] },
      ),
    )
    // guestModes has one mode per guest: with it, guests is given.
    .map((f) => (f.guestModes !== undefined ? { ...f, guests: f.guestModes.length } : f));

  it('for every valid file, in YAML and in JSON; and machineFileOf gives the file back', () => {
    fc.assert(
      fc.property(files, (file) => {
        const config = machineConfigFromFile(file);
        expect(machineFileOf(config)).toEqual(file);
        for (const format of ['yaml', 'json'] as const) {
          const text = formatMachineFile(config, format);
          expect(parseMachineFile(text, { format })).toEqual(config);
          expect(readMachineFile(text, { format })).toEqual(file);
        }
      }),
      { seed: 20_120_303, numRuns: 150 },
    );
  });

  it('for configurations built in code: shipped profiles, profiles with entries set, every default explicit', () => {
    const configs: MachineConfig[] = [
      { mode: 'baseline' },
      { mode: 'bare-metal', workload: 'apache', workloadOptions: { apache: { concurrency: 4 } } },
      { mode: 'posted', profile: XEON_SKYLAKE_SP, guests: 2, guestModes: ['posted', 'did'] },
      { mode: 'eli', profile: profileWithSets(XEON_X5570, { 'guest.hz': 1000, 'cpu.hz': 2.5e9 }) },
      explicitMachineConfig({ mode: 'eli-delivery', guestApicMode: 'xapic' }),
    ];
    for (const config of configs) {
      for (const format of ['yaml', 'json'] as const) {
        expect(parseMachineFile(formatMachineFile(config, format, { comments: true }), { format })).toEqual(
          config,
        );
      }
    }
  });

  it('a profile read from a file keeps its path, relative to where the file is written', () => {
    const sub = join(tmp, 'sub');
    const config = parseMachineFile('mode: eli\nprofile: { name: ./lab.json, set: { guest.hz: 250 } }\n', {
      path: join(tmp, 'a.yaml'),
    });
    expect(machineFileOf(config, { dir: sub }).profile).toEqual({
      name: '../lab.json',
      set: { 'guest.hz': 250 },
    });
    expect(machineFileOf(config, { dir: tmp }).profile).toEqual({
      name: './lab.json',
      set: { 'guest.hz': 250 },
    });
    expect(machineFileOf(config).profile).toEqual({ name: join(tmp, 'lab.json'), set: { 'guest.hz': 250 } });
    const text = formatMachineFile(config, 'yaml', { dir: sub });
    expect(parseMachineFile(text, { path: join(sub, 'b.yaml') })).toEqual(config);
  });

  it('what a file cannot hold is a MachineFileError naming the field', () => {
    expect(() => machineFileOf({ mode: 'eli', guestOverride: () => ({ entryAddress: 0 }) })).toThrow(
      /guestOverride holds code, which a machine file cannot/,
    );
    const inCode = { ...XEON_X5570, name: 'made-in-code' };
    expect(() => formatMachineFile({ mode: 'eli', profile: inCode }, 'yaml')).toThrow(
      /profile 'made-in-code' cannot be written to a machine file/,
    );
    expect(() => machineFileOf({ mode: 'nope' })).toThrow(MachineConfigError);
  });
});

describe('explicitMachineConfig and the commented YAML a front end prints', () => {
  it('fills every default validateMachineConfig fills; guestModes and interruptIntervalUs stay absent', () => {
    const c = explicitMachineConfig({ mode: 'baseline' });
    expect(c).toEqual({
      mode: 'baseline',
      workload: 'netperf-tcp-stream',
      workloadOptions: {},
      guests: 1,
      seed: 1,
      phases: 'seeded',
      profile: XEON_X5570,
      guestMemoryMiB: 256,
      guestApicMode: 'x2apic',
    });
    const { perGuestModes: _a, ...resolved } = validateMachineConfig(c);
    const { perGuestModes: _b, ...plain } = validateMachineConfig({ mode: 'baseline' });
    expect(resolved).toEqual(plain);
  });

  it('the comments say what each field accepts, and name the absent ones', () => {
    const text = formatMachineFile(explicitMachineConfig({ mode: 'baseline' }), 'yaml', { comments: true });
    expect(text).toMatch(/^# one of bare-metal, baseline, .*\nmode: baseline$/m);
    expect(text).toMatch(/^# an integer from 1 to 8 \(each on its own core with its own VF\)\nguests: 1$/m);
    expect(text).toMatch(/^# guestModes: one mode per guest/m);
    expect(text).toMatch(/^# interruptIntervalUs: a number from 0 to 1022 us/m);
    expect(formatMachineFile({ mode: 'eli', guests: 2, guestModes: ['eli', 'did'] }, 'yaml')).toBe(
      'mode: eli\nguests: 2\nguestModes: [ eli, did ]\n',
    );
  });
});

describe('one field from text: setMachineFileField, and which keys are fields', () => {
  it('reads numbers as numbers, guestModes as a list, the rest as strings; each checked', () => {
    let f = setMachineFileField({}, 'guests', '2');
    f = setMachineFileField(f, 'guestModes', 'eli, baseline');
    f = setMachineFileField(f, 'workloadOptions.apache.concurrency', '32');
    f = setMachineFileField(f, 'workloadOptions.apache.fileSize', '1e3');
    f = setMachineFileField(f, 'mode', 'eli');
    f = setMachineFileField(f, 'guestNics', '0,0');
    f = setMachineFileField(f, 'addresses.vfBar0', '0xE0000000');
    expect(f).toEqual({
      guests: 2,
      guestModes: ['eli', 'baseline'],
      workloadOptions: { apache: { concurrency: 32, fileSize: 1000 } },
      mode: 'eli',
      guestNics: [0, 0],
      addresses: { vfBar0: 0xe000_0000 },
    });
    const machine = new Machine(machineConfigFromFile(f));
    expect(machine.guestModes).toEqual(['eli', 'baseline']);
    expect(machine.nic.vfBarAddress(1, 0)).toBe(0xe000_0000 + 0x4000);
  });

  it.each([
    ['guests', 'two', /^guests must be an integer from 1 to 8 .*, got 'two'$/],
    ['guests', '1e400', /got '1e400'$/],
    ['guestModes', 'eli,,baseline', /^guestModes\[1\] must be one of .*, got ''$/],
    [
      'workloadOptions.apache.concurrency',
      '0',
      /^workloadOptions\.apache\.concurrency must be an integer from 1/,
    ],
    [
      'workloadOptions.apache.nope',
      '1',
      /^workloadOptions\.apache\.nope is not a workload option: use workloadOptions\.udpRr\.requestSize, /,
    ],
    ['workloadOptions', 'x', /^workloadOptions is a mapping: set its fields one by one/],
    [
      'addresses',
      'x',
      /^addresses is a mapping: set its fields one by one, as addresses\.vfBar0=0xE0000000$/,
    ],
    [
      'addresses.vfBar0',
      '0xE0000800',
      /^addresses\.vfBar0 must be an integer multiple of 4096 from 0 to 4294963200 \(a 4 KiB page below 4 GiB: the VF BARs are 32-bit\), got 3758098432$/,
    ],
    [
      'addresses.bar',
      '1',
      /^addresses\.bar is not an address the board places: use addresses\.iommuRegisters, /,
    ],
    ['nics', '2', /^nics is a list of mappings: write it in a machine file \(--machine FILE\)$/],
    ['guestNics', '0,x', /^guestNics\[1\] must be an integer from 0 to 7 \(an index into nics\), got 'x'$/],
    ['nope', '1', /^nope is not a field of a machine file: use mode, workload, guests, /],
  ])('%s=%s: %s', (key, text, message) => {
    try {
      setMachineFileField({}, key, text);
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(MachineFileError);
      expect((error as MachineFileError).detail).toMatch(message);
    }
  });

  it('no profile entry is a machine field: a --set KEY is one or the other', () => {
    for (const key of Object.keys(PROFILE_SCHEMA)) expect(isMachineFileKey(key)).toBe(false);
    for (const key of Object.keys(XEON_SKYLAKE_SP.entries)) expect(isMachineFileKey(key)).toBe(false);
    for (const key of MACHINE_FILE_KEYS) expect(isMachineFileKey(key)).toBe(true);
    expect(isMachineFileKey('workload')).toBe(true);
    expect(isMachineFileKey('workload.apache.requestCycles')).toBe(false);
  });
});

describe('a machine from a file', () => {
  it('runs: two guests in their own modes, named in the report', () => {
    const config = parseMachineFile(
      'mode: eli\nworkload: memcached\nguests: 2\nguestModes: [eli, baseline]\nseed: 3\n',
    );
    const report = runMachine(new Machine(config), { durationMs: 1, warmupMs: 1 });
    expect(report.guests?.map((g) => g.mode)).toEqual(['eli', 'baseline']);
    expect(report.cpus).toHaveLength(2);
    // A file is data: the same file, the same report.
    expect(
      runMachine(new Machine(parseMachineFile(formatMachineFile(config, 'json'))), {
        durationMs: 1,
        warmupMs: 1,
      }),
    ).toEqual(report);
  });
});

describe('the README documents every field', () => {
  it('in its "Machine files" section', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Machine files'));
    expect(section.length).toBeGreaterThan(0);
    for (const field of MACHINE_FILE_FIELDS) expect(section).toContain(`\`${field}\``);
  });

  it('in its API section’s list of MachineConfig’s fields, code fields included', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const list = readme.slice(
      readme.indexOf('`MachineConfig`: '),
      readme.indexOf('A machine of your own, part by part'),
    );
    for (const field of [...MACHINE_FILE_FIELDS, 'strategies', 'lapicFactory', 'guestOverride', 'tracer']) {
      expect(list).toContain(`\`${field}\``);
    }
  });
});
