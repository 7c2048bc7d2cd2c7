/**
 * `pnpm fuzz [--runs N] [--seed S] [--modes baseline,eli-delivery,eli] [--checks …]`: runs
 * the hostile-guest fuzzer for as many programs as asked, from a random seed unless given,
 * and exits non-zero if any mode breaks an invariant (printing the seed, the path and the
 * shrunk program to replay it).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CHECKS, INVARIANT_NAMES, INVARIANTS, type InvariantName } from './invariants.js';
import { checkMode, FUZZ_MODES, failureReport } from './property.js';
import { DEFAULT_DURATION_MS } from './runner.js';

const USAGE = `usage: pnpm fuzz [options]
  --runs N          programs per mode (default 100)
  --seed S          fast-check seed (default: random, printed)
  --path P          replay a failure's path (with its --seed)
  --modes a,b       modes to run (default ${FUZZ_MODES.join(',')}; bare-metal works too, with the guest's checks only)
  --checks a,b|all  invariants that fail a run (default: ${DEFAULT_CHECKS.length} of ${INVARIANT_NAMES.length}, see --list)
  --skip a,b        invariants to leave out of --checks
  --duration MS     simulated milliseconds per program (default ${DEFAULT_DURATION_MS})
  --no-shrink       report the first failing program as generated
  --max-shrinks N   shrink steps at most (default 400)
  --keep-going      run every mode even after one fails
  --list            print the invariants and exit`;

function main(): number {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      seed: { type: 'string' },
      path: { type: 'string' },
      modes: { type: 'string' },
      checks: { type: 'string' },
      skip: { type: 'string' },
      duration: { type: 'string' },
      'no-shrink': { type: 'boolean' },
      'max-shrinks': { type: 'string' },
      'keep-going': { type: 'boolean' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  if (values.list === true) {
    for (const n of INVARIANT_NAMES) {
      console.log(`${DEFAULT_CHECKS.includes(n) ? '*' : ' '} ${n.padEnd(20)} ${INVARIANTS[n]}`);
    }
    console.log('(* checked by default)');
    return 0;
  }
  const int = (s: string | undefined, fallback: number, what: string): number => {
    if (s === undefined) return fallback;
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < 0)
      throw new Error(`--${what} must be a non-negative integer, got '${s}'`);
    return n;
  };
  const runs = int(values.runs, 100, 'runs');
  const seed = int(values.seed, Math.floor(Math.random() * 0x7fffffff), 'seed');
  const durationMs = int(values.duration, DEFAULT_DURATION_MS, 'duration');
  const maxShrinks = int(values['max-shrinks'], 400, 'max-shrinks');
  const modes = values.modes?.split(',').filter((s) => s !== '') ?? [...FUZZ_MODES];
  const names = (s: string): InvariantName[] => {
    const list = s.split(',').filter((x) => x !== '');
    for (const n of list) {
      if (!(INVARIANT_NAMES as readonly string[]).includes(n)) {
        throw new Error(`unknown invariant '${n}': use one of ${INVARIANT_NAMES.join(', ')}`);
      }
    }
    return list as InvariantName[];
  };
  let checks: InvariantName[] =
    values.checks === undefined
      ? [...DEFAULT_CHECKS]
      : values.checks === 'all'
        ? [...INVARIANT_NAMES]
        : names(values.checks);
  if (values.skip !== undefined) {
    const skip = new Set(names(values.skip));
    checks = checks.filter((c) => !skip.has(c));
  }

  console.log(
    `fuzz: seed ${seed}, ${runs} programs per mode, modes ${modes.join(', ')}, ${durationMs} ms each`,
  );
  console.log(`checks: ${checks.join(', ')}`);
  let failed = false;
  for (const mode of modes) {
    const r = checkMode({
      mode,
      seed,
      numRuns: runs,
      checks,
      durationMs,
      endOnFailure: values['no-shrink'] === true,
      maxShrinks,
      ...(values.path !== undefined ? { path: values.path } : {}),
    });
    console.log(
      `${mode}: ${r.details.failed ? 'FAILED' : 'ok'} — ${r.runs} programs in ${(r.wallMs / 1000).toFixed(1)} s wall, ${(
        r.cpuMs / 1000
      ).toFixed(1)} s CPU (${(r.runs / (r.cpuMs / 1000)).toFixed(1)} programs per CPU-second, ${(
        r.simulatedMs / r.cpuMs
      ).toFixed(2)} simulated s per CPU-second)`,
    );
    if (r.details.failed) {
      failed = true;
      console.log(failureReport(r));
      console.log();
      if (values['keep-going'] !== true) break;
    }
  }
  return failed ? 1 : 0;
}

try {
  process.exitCode = main();
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  console.error(USAGE);
  process.exitCode = 2;
}
