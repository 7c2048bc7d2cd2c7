import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Machine,
  type MachineConfig,
  MachineConfigError,
  ProfileError,
  RUN_OPTIONS_LIMITS,
  RunOptionsError,
  runMachine,
  validateMachineConfig,
  WorkloadOptionsError,
  XEON_X5570,
} from '@exitless/machine';
import { MemoryConfigError, UserError } from '@exitless/x86';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/args.js';
import { type Command, parseCommand, runMachineConfigs, userFailure } from '../src/command.js';
import { machineConfig } from '../src/jobs.js';
import { availableWorkloads, modesFor } from '../src/modes.js';
import { reproduceJobs } from '../src/reproduce.js';
import { sweepPlan } from '../src/sweep.js';
import { runTrace, traceMachineConfig } from '../src/trace.js';

/**
 * Random command lines, parsed in process: each is either a Command whose every value the
 * machine accepts, or a UsageError whose message names an argument of the line and says
 * what it accepts. Never another error, never a value quietly replaced by a default.
 */

/** Fixed seed and bounded runs: the same command lines in CI every time. */
const FC = { seed: 20_120_303, numRuns: 400 } as const;

const tmp = mkdtempSync(join(tmpdir(), 'exitless-cli-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Machine files for --machine: one guest that every command can run, the two-guest example, and a broken one. */
const oneGuestFile = join(tmp, 'one-guest.yaml');
writeFileSync(
  oneGuestFile,
  'mode: baseline\nworkload: apache\nworkloadOptions:\n  apache:\n    concurrency: 8\nguestMemoryMiB: 512\nphases: aligned\n',
);
const twoGuestsFile = fileURLToPath(new URL('../../../examples/machines/two-guests.yaml', import.meta.url));
const brokenFile = join(tmp, 'broken.yaml');
writeFileSync(brokenFile, 'mode: eli\nguests: 9\n');

// The modes the default profile runs (a mode it refuses, `posted`, is tested with its profile elsewhere).
const modes = modesFor(XEON_X5570);
const workloads = availableWorkloads();

/** Values a typo, a unit mix-up or an overflow produces. */
const badValue = fc.constantFrom(
  '-1',
  'abc',
  '1e400',
  '-1e400',
  '0',
  '0.5',
  '1e15',
  '',
  ' ',
  'NaN',
  'Infinity',
  '0x10',
  '1e-9',
  '9007199254740993',
  '5000',
  'nope',
  'a,,b',
  ',',
  'eli,nope',
  'line\nbreak',
);

/** Values each option accepts. */
const GOOD: Readonly<Record<string, fc.Arbitrary<string>>> = {
  mode: fc.constantFrom(...modes),
  modes: fc.constantFrom('bare-metal,baseline', 'eli', modes.join(',')),
  workload: fc.constantFrom(...workloads),
  workloads: fc.constantFrom('memcached', 'apache,netperf-udp-rr', workloads.join(',')),
  duration: fc.constantFrom('0.5', '2', '100'),
  warmup: fc.constantFrom('0', '1', '20'),
  seed: fc.constantFrom('0', '7', '9007199254740991'),
  runs: fc.constantFrom('1', '2', '5'),
  'interrupt-interval': fc.constantFrom('0', '8', '1022'),
  guests: fc.constantFrom('1', '2', '8'),
  jobs: fc.constantFrom('1', '2'),
  out: fc.constant(join(tmp, 'out')),
  param: fc.constant('interrupt-interval'),
  values: fc.constantFrom('4,200', '0,1022', '8'),
  'max-events': fc.constantFrom('1', '1000'),
  machine: fc.constantFrom(oneGuestFile, twoGuestsFile),
  // Repeatable: two with different keys are fine, the same key twice is not (see optionName).
  // Profile entries and machine fields alike.
  set: fc.constantFrom(
    'host.contextSwitch=5000',
    'host.contextSwitch=3000',
    'cpu.apicVirtualization=1',
    'guest.hz=250',
    'guests=2',
    'guestMemoryMiB=512',
    'guestModes=eli,baseline',
    'phases=aligned',
    'workloadOptions.memcached.concurrency=8',
  ),
};
const STRING_OPTIONS = Object.keys(GOOD);

/**
 * Values no option but `--out` (which takes any path) accepts: not a number, not a name the
 * machine has, an empty list item. An option given one of them must be rejected.
 */
const NEVER_VALID: readonly string[] = [
  '-1',
  'abc',
  '1e400',
  '-1e400',
  '',
  ' ',
  'NaN',
  'Infinity',
  'nope',
  'a,,b',
  ',',
];

/** Tokens of a command line, and what they make certain: `--name`s given, or that the line is wrong. */
interface Tokens {
  readonly tokens: readonly string[];
  /** Option names given (a repeat must be rejected). */
  readonly names: readonly string[];
  /** Wrong whatever the rest of the line: an unknown option, a positional, a value no option takes. */
  readonly bad: boolean;
  /** A string option with no value after it: the next token becomes its value, so nothing is certain. */
  readonly lone: boolean;
}

// Neither NEVER_VALID value names a machine file there is, so they are bad for --machine too.
const valueIsBad = (name: string, value: string) => name !== 'out' && NEVER_VALID.includes(value);

/**
 * The name an option with its value counts as, for the rule that a repeat must be rejected:
 * `--set` may be given several times, once per profile entry, so it counts as `set KEY`.
 */
const optionName = (name: string, value: string) => (name === 'set' ? `set ${value.split('=')[0]}` : name);

/** One option with its value (good or bad, `--x v` or `--x=v`), a switch, an option with no value, or junk. */
const optionTokens: fc.Arbitrary<Tokens> = fc.oneof(
  {
    arbitrary: fc.constantFrom(...STRING_OPTIONS).chain((name) =>
      fc
        .tuple(
          fc.oneof({ arbitrary: GOOD[name]!, weight: 3 }, { arbitrary: badValue, weight: 1 }),
          fc.boolean(),
        )
        .map(([v, inline]) => ({
          tokens: inline ? [`--${name}=${v}`] : [`--${name}`, v],
          names: [optionName(name, v)],
          bad: valueIsBad(name, v),
          lone: false,
        })),
    ),
    weight: 9,
  },
  {
    arbitrary: fc.constantFrom(...STRING_OPTIONS).map((name) => ({
      tokens: [`--${name}`],
      names: [name],
      bad: false,
      lone: true,
    })),
    weight: 1,
  },
  { arbitrary: fc.constant({ tokens: ['--json'], names: ['json'], bad: false, lone: false }), weight: 2 },
  // The end of the options: harmless at the end, and what follows it is positional.
  { arbitrary: fc.constant({ tokens: ['--'], names: [], bad: false, lone: true }), weight: 1 },
  {
    arbitrary: fc
      .constantFrom<string[]>(
        ['--foo'],
        ['-x'],
        ['--Mode', 'eli'],
        ['---mode', 'eli'],
        ['--json=false'],
        ['--no-json'],
        ['extra'],
        [''],
        ['-'],
      )
      .map((tokens) => ({ tokens, names: [], bad: true, lone: false })),
    weight: 1,
  },
);

const COMMANDS_WITH_OPTIONS: readonly string[] = ['run', 'reproduce', 'sweep', 'trace', 'profile'];

const commandName = fc.oneof(
  { arbitrary: fc.constantFrom(...COMMANDS_WITH_OPTIONS), weight: 12 },
  { arbitrary: fc.constantFrom('help', '--help', '-h'), weight: 1 },
  { arbitrary: fc.constantFrom('bogus', '', 'RUN', '--mode', 'run\n'), weight: 1 },
);

/** A random command line, and whether it must be rejected whatever else it holds. */
interface Line {
  readonly argv: readonly string[];
  readonly mustReject: boolean;
}

const lineArb: fc.Arbitrary<Line> = fc.oneof(
  { arbitrary: fc.constant<Line>({ argv: [], mustReject: false }), weight: 1 },
  {
    arbitrary: fc.tuple(commandName, fc.array(optionTokens, { maxLength: 4 })).map(([command, options]) => {
      const names = options.flatMap((o) => o.names);
      const certain = !options.some((o) => o.lone);
      const mustReject =
        (certain && (options.some((o) => o.bad) || new Set(names).size < names.length)) ||
        (!COMMANDS_WITH_OPTIONS.includes(command) &&
          (options.length > 0 || !['help', '--help', '-h'].includes(command)));
      return { argv: [command, ...options.flatMap((o) => o.tokens)], mustReject };
    }),
    weight: 30,
  },
);

const argvArb: fc.Arbitrary<readonly string[]> = lineArb.map((l) => l.argv);

/** The machine configurations a command would build. */
function configsOf(command: Command): MachineConfig[] {
  switch (command.kind) {
    case 'run':
      return runMachineConfigs(command.options);
    case 'reproduce':
      return reproduceJobs(command.options).map(machineConfig);
    case 'sweep':
      return sweepPlan(command.options).map((p) => machineConfig(p.job));
    case 'trace':
      return [traceMachineConfig(command.options)];
    default:
      return [];
  }
}

/** The names a message about `argv` may blame: its options (`--x`, or `--x` of `--x=v`) and its quoted tokens. */
function blameable(argv: readonly string[]): string[] {
  return argv.flatMap((t) => {
    const names = [`'${t}'`];
    if (t.startsWith('-')) names.push(t.split('=')[0]!);
    return names;
  });
}

/** Why the outcome of parsing a line breaks the property, or null when it holds. */
function violation({ argv, mustReject }: Line): string | null {
  let command: Command;
  try {
    command = parseCommand(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) {
      return `threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}, not a UsageError`;
    }
    const names = blameable(argv);
    if (!names.some((n) => error.message.includes(n))) {
      return `'${error.message}' names none of the arguments (${names.join(' ')})`;
    }
    if (!/\b(must|use|give|takes)\b/.test(error.message))
      return `'${error.message}' does not say what is accepted`;
    return null;
  }
  if ('options' in command && 'durationMs' in command.options) {
    const { durationMs, warmupMs } = command.options;
    if (!(durationMs >= RUN_OPTIONS_LIMITS.durationMs.min && warmupMs >= 0))
      return 'accepted a bad run length';
    if (durationMs + warmupMs > RUN_OPTIONS_LIMITS.durationMs.max)
      return 'accepted a run the clock cannot hold';
  }
  for (const config of configsOf(command)) {
    try {
      validateMachineConfig(config);
    } catch (error) {
      return `parsed, but the machine rejects ${JSON.stringify(config)}: ${String(error)}`;
    }
  }
  // A machine file's fields reach every machine the command builds (no option here replaces these).
  if (argv.some((t) => t.endsWith(oneGuestFile))) {
    for (const config of configsOf(command)) {
      if (
        config.guestMemoryMiB !== 512 ||
        config.phases !== 'aligned' ||
        config.workloadOptions?.apache?.concurrency !== 8
      ) {
        return `--machine ${oneGuestFile} did not reach ${JSON.stringify({ ...config, profile: config.profile?.name })}`;
      }
    }
  }
  return mustReject
    ? `parsed ${JSON.stringify(argv)} to a ${command.kind} command, though it must be rejected`
    : null;
}

describe('random command lines', () => {
  it('parse to a command the machine accepts, or to a UsageError naming the argument and what it accepts', () => {
    fc.assert(
      fc.property(lineArb, (line) => {
        const why = violation(line);
        if (why !== null) throw new Error(why);
      }),
      FC,
    );
  });

  it('include both kinds: the generator is not all rejections or all commands', () => {
    const kinds = fc.sample(argvArb, { seed: FC.seed, numRuns: 200 }).map((argv) => {
      try {
        return parseCommand(argv).kind;
      } catch {
        return 'rejected';
      }
    });
    for (const kind of ['rejected', 'run', 'reproduce', 'sweep', 'trace', 'profile'])
      expect(kinds).toContain(kind);
  });

  it('with --machine or --set machine fields hold too, and many of them parse', () => {
    // More lines than the property above: most random lines are rejected, and these need to parse.
    const lines = fc
      .sample(lineArb, { seed: FC.seed + 1, numRuns: 3000 })
      .filter((l) => l.argv.some((t) => t.includes('.yaml') || /(^|=)(guests|guestModes|phases)=/.test(t)));
    for (const line of lines) {
      const why = violation(line);
      if (why !== null) throw new Error(`${JSON.stringify(line.argv)}: ${why}`);
    }
    const accepted = lines.filter((l) => {
      try {
        parseCommand(l.argv);
        return true;
      } catch {
        return false;
      }
    });
    const count = (f: (t: string) => boolean) => accepted.filter((l) => l.argv.some(f)).length;
    expect(count((t) => t.includes(oneGuestFile))).toBeGreaterThan(0);
    expect(count((t) => t.includes(twoGuestsFile))).toBeGreaterThan(0);
    expect(count((t) => /(^|=)guests=2$/.test(t))).toBeGreaterThan(0);
  });

  it('that parse run briefly, in process, with what they asked for', () => {
    const valid = fc
      .sample(argvArb, { seed: FC.seed, numRuns: 300 })
      .flatMap((argv) => {
        try {
          return [parseCommand(argv)];
        } catch {
          return [];
        }
      })
      .filter((c) => c.kind === 'run' || c.kind === 'reproduce' || c.kind === 'sweep' || c.kind === 'trace');
    const picked = ['run', 'reproduce', 'sweep', 'trace'].flatMap((kind) =>
      valid.filter((c) => c.kind === kind).slice(0, 2),
    );
    expect(picked.length).toBeGreaterThanOrEqual(6);
    const tiny = { durationMs: 0.2, warmupMs: 0.1 };
    for (const command of picked) {
      if (command.kind === 'trace') {
        const out = join(tmp, `trace-${picked.indexOf(command)}.json`);
        expect(runTrace({ ...command.options, ...tiny, out }).events).toBeGreaterThan(0);
        continue;
      }
      // The first machine of the command (a reproduction or sweep holds many of the same kind).
      const report = runMachine(new Machine(configsOf(command)[0]!), tiny);
      expect(Number.isFinite(report.throughput.value)).toBe(true);
    }
  }, 30_000);

  it.each([
    [['run', '--mode', 'baseline', '--mode', 'eli'], /--mode is given more than once: give it once/],
    [['run', '--duration', '-1'], /--duration must be a number ≥ 0.001, got '-1'/],
    [['run', '--duration', '--json'], /--duration needs a value: use --duration MS \(--duration=VALUE/],
    [['run', '--duration=-1'], /--duration must be a number ≥ 0.001, got '-1'/],
    [['run', '--seed', '1e400'], /--seed must be an integer from 0 to 9007199254740991, got '1e400'/],
    [['run', '--seed', '0.5'], /--seed must be an integer/],
    [['run', '--guests', '2'], /--guests 2 needs --mode/],
    [['run', '--guests', '9', '--mode', 'eli'], /--guests must be an integer from 1 to 8, got '9'/],
    [['run', '--interrupt-interval', '5000'], /--interrupt-interval must be a number from 0 to 1022/],
    [['run', '--duration', '9e6', '--warmup', '9e6'], /--duration \+ --warmup must be at most 9007199 ms/],
    [['run', '--json=false'], /--json is a switch and takes no value: use --json alone/],
    [['trace', '--seed', '1e300'], /--seed must be an integer from 0 to 9007199254740991/],
    [['profile', 'extra'], /profile takes no positional arguments, got 'extra'/],
    [['run', '--set', 'host.hz'], /--set takes KEY=VALUE, .* got 'host\.hz'/],
    [['run', '--set', 'host.hz=1', '--set', 'host.hz=2'], /--set host\.hz is given more than once/],
    [
      ['run', '--set', 'host.hz=0.5'],
      /--set host\.hz=0\.5: .*'host\.hz' must be an integer from 1 to 10000 Hz/,
    ],
    [
      ['trace', '--set', 'no.such=1'],
      /--set no\.such=1: calibration profile 'xeon-x5570' has no entry 'no\.such': use /,
    ],
    [
      ['bogus'],
      /unknown command 'bogus': use one of run, reproduce, sweep, sensitivity, trace, worker, profile, machine, help/,
    ],
    [
      ['run', '--machine', join(tmp, 'none.yaml')],
      /^--machine must name a readable machine file \(YAML or JSON\)/,
    ],
    [
      ['run', '--machine', brokenFile],
      /^--machine .*broken\.yaml \(line 2, column 1\): guests must be an integer from 1 to 8 .*, got 9$/,
    ],
    [['run', '--set', 'guests=2'], /^--set guests=2 needs --mode: .*use --mode with one of baseline/],
    [
      ['run', '--mode', 'eli', '--guests', '2', '--set', 'guests=2'],
      /^--set guests=2 and --guests both give guests: give it once/,
    ],
    [
      ['run', '--set', 'guestModes=eli,nope'],
      /^--set guestModes=eli,nope: guestModes\[1\] must be one of baseline, .*, got 'nope'$/,
    ],
    [
      ['trace', '--set', 'workloadOptions.apache.nope=1'],
      /^--set workloadOptions\.apache\.nope=1: workloadOptions\.apache\.nope is not a workload option: use workloadOptions\.udpRr\.requestSize, /,
    ],
    [
      ['run', '--machine', twoGuestsFile, '--mode', 'bare-metal'],
      /^the machine rejects --mode bare-metal .*\(with --machine .*two-guests\.yaml\): bare-metal runs one OS on one core: use guests: 1/,
    ],
    [
      ['sweep', '--machine', twoGuestsFile],
      /^the machine rejects the sweep's bare-metal runs \(with --machine .*\) \(the sweep always runs bare-metal/,
    ],
    [
      ['profile', '--set', 'guests=2'],
      /^--set guests=2 sets a machine field, and 'exitless profile' shows a profile: use /,
    ],
    [['machine'], /^exitless machine needs --print .* or --check FILE: use /],
    [['machine', '--print', '--format', 'xml'], /^--format must be yaml or json, got 'xml'$/],
    [['machine', '--check', brokenFile, '--print'], /^--check FILE takes no --print: use /],
  ])('%j is a UsageError: %s', (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
    expect(() => parseCommand(argv)).toThrow(message);
  });
});

describe('errors a user can cause, whichever package throws them', () => {
  it.each([
    new MachineConfigError('guests must be an integer from 1 to 8, got 9'),
    new ProfileError("calibration profile 'p': 'cpu.hz' must be a number"),
    new WorkloadOptionsError('workloadOptions.apache.concurrency must be an integer'),
    new RunOptionsError('durationMs must be a number'),
    new MemoryConfigError('size must be a positive multiple of 4096'),
    new UsageError('--duration must be a number ≥ 0.001'),
  ])('%s is reported on one line with exit code 2, recognised by type', (error) => {
    expect(error).toBeInstanceOf(UserError);
    const failure = userFailure(error);
    expect(failure?.exitCode).toBe(2);
    expect(failure?.message).toMatch(
      new RegExp(`^exitless: ${error.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
  });

  it('a bug (a TypeError) is not a user error: it keeps its stack trace', () => {
    expect(userFailure(new TypeError('x is not a function'))).toBeNull();
    expect(userFailure(new Error('MachineConfigError lookalike'))).toBeNull();
  });
});

describe('the exitless command, end to end with bad arguments', () => {
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const spawn = (args: readonly string[]) =>
    new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', cli, ...args],
        { cwd: root, timeout: 60_000 },
        (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
      );
    });

  it.each([
    [['run', '--duration', 'abc'], 2, /^exitless: --duration must be a number ≥ 0.001, got 'abc'/],
    [
      ['run', '--mode', 'baseline', '--mode', 'eli', '--duration', '0.01'],
      2,
      /^exitless: --mode is given more than once/,
    ],
    [
      ['sweep', '--values', '5000'],
      2,
      /^exitless: --values: interrupt-interval 5000 is rejected by the machine: .*1022/,
    ],
    [['bogus'], 2, /^exitless: unknown command 'bogus'/],
    [
      ['run', '--set', 'host.contextSwich=5'],
      2,
      /^exitless: --set host\.contextSwich=5: calibration profile 'xeon-x5570' has no entry 'host\.contextSwich': use one of its entries such as host\.contextSwitch/,
    ],
    [['reproduce', '--runs', '0'], 2, /^exitless: --runs must be an integer from 1 to 1000, got '0'/],
    [
      ['machine', '--check', brokenFile],
      2,
      /^exitless: machine file .*broken\.yaml, line 2, column 1: guests must be an integer from 1 to 8 \(each on its own core with its own VF\), got 9$/,
    ],
    [
      ['run', '--machine', brokenFile, '--duration', '0.01'],
      2,
      /^exitless: --machine .*broken\.yaml \(line 2, column 1\): guests must be an integer from 1 to 8/,
    ],
    [
      ['trace', '--out', '/dev/null/trace.json', '--duration', '0.01', '--warmup', '0'],
      2,
      /^exitless: --out must name a file, got '\/dev\/null\/trace\.json', but '\/dev\/null' is a file, not a directory \(see 'exitless trace --help'\)$/,
    ],
  ])(
    '%j exits with %i and one line on stderr, no stack trace',
    async (args, code, message) => {
      const r = await spawn(args);
      expect(r.code).toBe(code);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      expect(r.stderr).not.toMatch(/^ {4}at /m);
      expect(r.stdout).toBe('');
    },
    60_000,
  );
});
