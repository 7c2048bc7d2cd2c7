import { type ChildProcess, execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/args.js';
import { COMMANDS, type CommandName, parseCommand } from '../src/command.js';
import { COMMAND_USAGE, helpText } from '../src/help.js';
import { prepareOutputDir, prepareOutputFile } from '../src/output.js';
import { tempDirs } from './temp-dirs.js';

const tempDir = tempDirs('cli-help');
const root = fileURLToPath(new URL('../../..', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `exitless ARGS` as a process (from the repository root): its exit code, stdout and stderr. */
function exitless(args: readonly string[], started?: (child: ChildProcess) => void): Promise<Exit> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', cli, ...args],
      { cwd: root, timeout: 60_000 },
      (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
    );
    started?.(child);
  });
}

/** `text` as a regular expression that matches it literally. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The commands that have a usage of their own (every one but `help`). */
const NAMED = COMMANDS.filter((c): c is Exclude<CommandName, 'help'> => c !== 'help');

/** A usage error: exit code 2, nothing on stdout, exactly one line on stderr (returned), no stack trace. */
function usageFailure(r: Exit): string {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).not.toMatch(/^ {4}at /m);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

describe('help', () => {
  it('of each command is its own usage, the same text the whole help is built from', () => {
    const whole = helpText();
    for (const name of COMMANDS) {
      expect(whole).toContain(`  ${COMMAND_USAGE[name]}\n`);
      if (name !== 'help') expect(helpText(name)).toContain(`usage:\n  ${COMMAND_USAGE[name]}`);
    }
    expect(helpText('run')).toMatch(/\n\nmodes: .*baseline.*\nworkloads: .*netperf-tcp-stream/);
    expect(helpText('profile')).not.toContain('modes:');
  });

  it('is asked for by --help or -h anywhere before --, or by exitless help COMMAND', () => {
    for (const name of NAMED) {
      for (const argv of [
        [name, '--help'],
        [name, '-h'],
        ['help', name],
        ['--help', name],
        [name, '--mode', 'eli', '--help'],
        [name, '--bogus', '-h'],
        [name, '--duration', '--help'],
      ]) {
        expect(parseCommand(argv), argv.join(' ')).toEqual({ kind: 'help', command: name });
      }
    }
    for (const argv of [[], ['help'], ['--help'], ['-h'], ['help', 'help']]) {
      expect(parseCommand(argv)).toEqual({ kind: 'help' });
    }
    expect(() => parseCommand(['run', '--', '--help'])).toThrow(/run takes no positional arguments/);
    expect(() => parseCommand(['help', 'bogus'])).toThrow(
      /^help: unknown command 'bogus': use exitless help with one of run, reproduce, /,
    );
    expect(() => parseCommand(['help', 'run', 'extra'])).toThrow(
      /^help takes one command name at most, got 'extra' after 'run': use exitless help run$/,
    );
  });

  it('exitless COMMAND --help, -h and exitless help COMMAND print that command’s usage and exit 0', async () => {
    // Every command with --help; -h and `help COMMAND` (parsed alike, above) for a few.
    const lines = [
      ...NAMED.map((name) => [name, '--help']),
      ...['run', 'trace', 'machine'].flatMap((name) => [
        [name, '-h'],
        ['help', name],
      ]),
    ];
    const results = await Promise.all(lines.map((argv) => exitless(argv)));
    results.forEach((r, i) => {
      const name = lines[i]![0] === 'help' ? lines[i]![1]! : lines[i]![0]!;
      expect({ argv: lines[i], ...r }).toEqual({
        argv: lines[i],
        code: 0,
        stdout: `${helpText(name as CommandName)}\n`,
        stderr: '',
      });
    });
  }, 120_000);

  it('exitless help, --help, -h and no arguments print the whole help and exit 0', async () => {
    const results = await Promise.all([['help'], ['--help'], ['-h'], []].map((argv) => exitless(argv)));
    for (const r of results) expect(r).toEqual({ code: 0, stdout: `${helpText()}\n`, stderr: '' });
    expect(results[0]!.stdout).toContain('exitless help [COMMAND]');
  }, 60_000);
});

describe('a usage error', () => {
  it.each([
    [['run', '--bogus'], 'run'],
    [['reproduce', '--modes', 'nope'], 'reproduce'],
    [['sweep', '--values', ''], 'sweep'],
    [['sensitivity', 'extra'], 'sensitivity'],
    [['trace', '--max-events', '0'], 'trace'],
    [['profile', '--profile', 'no-such-profile'], 'profile'],
    [['machine'], 'machine'],
  ])(
    '%j is one line on stderr that ends by naming the command’s help, exit code 2',
    async (argv, name) => {
      expect(usageFailure(await exitless(argv))).toMatch(
        new RegExp(`^exitless: .* \\(see 'exitless ${name} --help'\\)$`),
      );
    },
    60_000,
  );

  it('without a command names the whole help', async () => {
    const [bogus, help] = await Promise.all([exitless(['bogus']), exitless(['help', 'bogus'])]);
    expect(usageFailure(bogus)).toBe(
      "exitless: unknown command 'bogus': use one of run, reproduce, sweep, sensitivity, trace, worker, profile, machine, help (see 'exitless help')",
    );
    expect(usageFailure(help)).toMatch(
      /^exitless: help: unknown command 'bogus': .* \(see 'exitless help'\)$/,
    );
  }, 60_000);
});

describe('a negative number after an option that takes a value', () => {
  it.each([
    [['run', '--duration', '-5'], "--duration must be a number ≥ 0.001, got '-5'"],
    [['run', '--warmup', '-1e3'], "--warmup must be a number ≥ 0, got '-1e3'"],
    [['run', '--seed', '-1'], "--seed must be an integer from 0 to 9007199254740991, got '-1'"],
    [
      ['run', '--interrupt-interval', '-.5'],
      "--interrupt-interval must be a number from 0 to 1022, got '-.5'",
    ],
    [['reproduce', '--jobs', '-2'], "--jobs must be an integer from 1 to 256, got '-2'"],
    [['trace', '--max-events', '-Infinity'], '--max-events must be an integer from 1 to'],
    [['sweep', '--values', '-1'], '--values'],
  ])('%j is that value, which the option’s range check reports: %s', (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
    expect(() => parseCommand(argv)).toThrow(message);
  });

  it.each([
    [['run', '--duration', '--json'], '--duration'],
    [['run', '--duration', '-x'], '--duration'],
    [['reproduce', '--out', '--jobs', '2'], '--out'],
  ])('%j: a token that is no number is not the value (it still needs one)', (argv, option) => {
    expect(() => parseCommand(argv)).toThrow(`${option} needs a value: use ${option} `);
  });

  it('reaches the range check end to end; --duration --json still needs a value; 1e9 ms is too long', async () => {
    const [negative, missing, long] = await Promise.all([
      exitless(['run', '--duration', '-5']),
      exitless(['run', '--duration', '--json']),
      exitless(['run', '--duration', '1e9']),
    ]);
    expect(usageFailure(negative)).toBe(
      "exitless: --duration must be a number ≥ 0.001, got '-5' (see 'exitless run --help')",
    );
    expect(usageFailure(missing)).toBe(
      "exitless: --duration needs a value: use --duration MS (--duration=VALUE for a value that starts with '-') (see 'exitless run --help')",
    );
    expect(usageFailure(long)).toMatch(
      /^exitless: --duration \+ --warmup must be at most 9007199 ms .*, got 1000000000 \+ 20 \(see 'exitless run --help'\)$/,
    );
  }, 60_000);
});

/** A short run of each command that writes files, for the output-path checks. */
const TINY = ['--duration', '1', '--warmup', '0', '--jobs', '1'];
const WRITERS = {
  reproduce: ['reproduce', '--workloads', 'netperf-tcp-stream', '--modes', 'baseline', ...TINY],
  sweep: ['sweep', '--values', '100', '--modes', 'baseline', ...TINY],
  sensitivity: [
    'sensitivity',
    '--workloads',
    'netperf-tcp-stream',
    '--modes',
    'baseline',
    '--entries',
    'host.hz',
    ...TINY,
  ],
};
const onLinux = existsSync('/proc/self');
const asRoot = process.getuid?.() === 0;

describe('an output path the command cannot write', () => {
  it('is a usage error before any run: a file, a file on the way, a place that holds no files', async () => {
    const dir = await tempDir();
    const file = join(dir, 'results.txt');
    writeFileSync(file, 'kept');
    const cases: [readonly string[], RegExp][] = [];
    for (const [name, argv] of Object.entries(WRITERS)) {
      cases.push([
        [...argv, '--out', file],
        new RegExp(
          `^exitless: --out must name a directory, got '${literal(file)}', which is a file \\(see 'exitless ${name} --help'\\)$`,
        ),
      ]);
      cases.push([
        [...argv, '--out', join(file, 'sub')],
        new RegExp(
          `^exitless: --out must name a directory, got '${literal(file)}/sub', but '${literal(file)}' is a file, not a directory`,
        ),
      ]);
    }
    if (onLinux) {
      for (const [name, argv] of Object.entries(WRITERS)) {
        cases.push([
          [...argv, '--out', '/proc/exitless-out'],
          new RegExp(
            `^exitless: --out must name a directory this command can create and write files in, got '/proc/exitless-out' \\(ENOENT: .*mkdir '/proc/exitless-out'\\) \\(see 'exitless ${name} --help'\\)$`,
          ),
        ]);
      }
    }
    const t0 = Date.now();
    const results = await Promise.all(cases.map(([argv]) => exitless(argv)));
    results.forEach((r, i) => {
      // One line: the error, and not the line each command writes before its first run.
      expect(usageFailure(r), cases[i]![0].join(' ')).toMatch(cases[i]![1]);
    });
    expect(readFileSync(file, 'utf8')).toBe('kept');
    // Failing fast: no process ran a simulation (or hung in mkdir under /proc until the timeout).
    expect(Date.now() - t0).toBeLessThan(50_000);
  }, 120_000);

  it('for trace is a usage error before the run: a directory, a file on the way, /proc', async () => {
    const dir = await tempDir();
    const file = join(dir, 'kept.txt');
    writeFileSync(file, 'kept');
    const trace = ['trace', '--duration', '1', '--warmup', '0'];
    const [isDir, onTheWay, proc] = await Promise.all([
      exitless([...trace, '--out', dir]),
      exitless([...trace, '--out', join(file, 'trace.json')]),
      onLinux ? exitless([...trace, '--out', '/proc/exitless-trace.json']) : null,
    ]);
    expect(usageFailure(isDir)).toBe(
      `exitless: --out must name a file, got '${dir}', which is a directory: name a file in it (see 'exitless trace --help')`,
    );
    expect(usageFailure(onTheWay)).toBe(
      `exitless: --out must name a file, got '${file}/trace.json', but '${file}' is a file, not a directory (see 'exitless trace --help')`,
    );
    if (proc !== null) {
      expect(usageFailure(proc)).toMatch(
        /^exitless: --out must name a file this command can create or write, got '\/proc\/exitless-trace\.json' \(ENOENT: .*\) \(see 'exitless trace --help'\)$/,
      );
    }
  }, 60_000);

  it('that is a directory without write permission is a usage error', async () => {
    // Root ignores a directory's permission bits, but not sysfs's: /sys/kernel is a directory
    // nobody can create files in. Elsewhere, a directory of our own made read-only.
    const sysfs = asRoot && existsSync('/sys/kernel');
    const dir = sysfs ? '/sys/kernel' : join(await tempDir(), 'read-only');
    if (!sysfs) {
      mkdirSync(dir);
      chmodSync(dir, 0o500);
    }
    try {
      expect(usageFailure(await exitless([...WRITERS.reproduce, '--out', dir]))).toMatch(
        /^exitless: --out must name a directory this command can create and write files in, got '(\/sys\/kernel|.*read-only)' \((EACCES|EPERM): /,
      );
    } finally {
      if (!sysfs) chmodSync(dir, 0o700);
    }
  }, 60_000);

  it('checked in advance, leaves the directories it made and no probe file; a file given to trace is left as it was', async () => {
    const dir = await tempDir();
    const nested = join(dir, 'a', 'b', 'c');
    prepareOutputDir(nested);
    expect(readdirSync(nested)).toEqual([]);
    prepareOutputFile(join(dir, 'x', 'trace.json'));
    expect(readdirSync(join(dir, 'x'))).toEqual([]);
    writeFileSync(join(dir, 'old.json'), 'old');
    prepareOutputFile(join(dir, 'old.json'));
    expect(readFileSync(join(dir, 'old.json'), 'utf8')).toBe('old');
    expect(() => prepareOutputDir(join(dir, 'old.json'))).toThrow(UsageError);
  });

  it('that is fine runs and writes the files there', async () => {
    const out = join(await tempDir(), 'new', 'reproduce');
    const r = await exitless([...WRITERS.reproduce, '--out', out]);
    expect(r.code).toBe(0);
    expect(readdirSync(out)).toContain('results.json');
    expect(readdirSync(out).filter((f) => f.startsWith('.exitless-probe'))).toEqual([]);
  }, 60_000);
});

describe('a closed stdout', () => {
  const stdoutWriters: readonly (readonly string[])[] = [
    ['help'],
    ['run', '--help'],
    ['profile'],
    ['profile', '--json'],
    ['machine', '--print'],
    ['run', '--mode', 'baseline', '--duration', '1', '--warmup', '0'],
    ['run', '--duration', '1', '--warmup', '0'],
    ['run', '--mode', 'baseline', '--runs', '2', '--jobs', '1', '--duration', '1', '--warmup', '0'],
  ];

  it('ends each command that writes to stdout quietly: exit code 0, no EPIPE, no stack trace', async () => {
    const out = await tempDir();
    const lines = [
      ...stdoutWriters,
      ...Object.entries(WRITERS).map(([name, argv]) => [...argv, '--out', join(out, name)]),
    ];
    // The reader is gone before the command writes anything: every write to stdout fails with EPIPE.
    const results = await Promise.all(
      lines.map((argv) => exitless(argv, (child) => child.stdout?.destroy())),
    );
    results.forEach((r, i) => {
      expect({ argv: lines[i], code: r.code }).toEqual({ argv: lines[i], code: 0 });
      expect(r.stderr).not.toMatch(/EPIPE|^ {4}at /m);
    });
  }, 180_000);

  it('is what `exitless profile | head -1` gives: the first line, and exit code 0', async () => {
    // The command's own exit code goes to stderr (sh has no pipefail).
    const command = `{ "${process.execPath}" --conditions=source --import tsx "${cli}" profile; echo "exitless exited $?" >&2; } | head -1`;
    const r = await new Promise<Exit>((resolve) => {
      const child = execFile(
        'sh',
        ['-c', command],
        { cwd: root, timeout: 60_000 },
        (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
      );
    });
    expect(r.stdout).toMatch(/^xeon-x5570: [^\n]*\n$/);
    expect(r.stderr).toBe('exitless exited 0\n');
  }, 60_000);

  it('on a full device (stdout > /dev/full) says so on one line and exits 1, no stack trace', async () => {
    const results = await Promise.all(
      stdoutWriters.map(
        (argv) =>
          new Promise<Exit>((resolve) => {
            const command = `"${process.execPath}" --conditions=source --import tsx "${cli}" ${argv.join(' ')} > /dev/full`;
            const child = execFile(
              'sh',
              ['-c', command],
              { cwd: root, timeout: 60_000 },
              (_e, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
            );
          }),
      ),
    );
    results.forEach((r, i) => {
      // Progress lines may come first; the failure is one line, the last, with no stack trace.
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      expect({ argv: stdoutWriters[i], code: r.code, last: lines.at(-1) }).toEqual({
        argv: stdoutWriters[i],
        code: 1,
        last: 'exitless: cannot write the output: ENOSPC: no space left on device, write',
      });
      expect(r.stderr).not.toMatch(/^ {4}at /m);
      expect(r.stderr.split('ENOSPC')).toHaveLength(2);
    });
  }, 180_000);

  it('on stderr loses the progress lines, not the results on stdout', async () => {
    const r = await exitless(['run', '--mode', 'baseline', '--duration', '1', '--warmup', '0'], (child) =>
      child.stderr?.destroy(),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^netperf-tcp-stream on baseline/);
  }, 60_000);
});
