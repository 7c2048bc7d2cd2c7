import { type CalibrationProfile, profileSetsOf, rangedEntries, XEON_X5570 } from '@exitless/machine';
import {
  parseList,
  parseNumber,
  parseOptions,
  parseRunLength,
  parseRuns,
  parseSeed,
  selectNames,
  stringOption,
  UsageError,
} from './args.js';
import { reproduceChartFiles } from './charts.js';
import { BAND_GAIN_VIEW, RUN_GAIN_VIEW, SUMMARY_GAIN_VIEW } from './eli-gain.js';
import { BAND_EXITS_VIEW, exitReasons, RUN_EXITS_VIEW } from './exit-reasons.js';
import { formatCsv, formatTable, type ReproduceEntry, reproduceColumns } from './format.js';
import type { RunJob } from './jobs.js';
import {
  checkSetKeys,
  MACHINE_AXES_USAGE,
  MACHINE_OPTION,
  type MachineSpec,
  machineBase,
  machineFieldsFor,
  machineSpec,
} from './machine-options.js';
import { availableModes, availableWorkloads, modesFor, refusedModes } from './modes.js';
import { toJson, writeOutputs } from './output.js';
import { defaultJobs, type JobOutcome, runJobs } from './pool.js';
import {
  loadProfiles,
  PROFILE_USAGE,
  type ProfileSet,
  profileField,
  profileOption,
  profileRef,
  resolveProfile,
  SET_OPTION,
  SET_USAGE,
  setsOption,
  withSets,
} from './profiles.js';
import { QUEUE_OPTIONS, QUEUE_USAGE, type QueueOptions, queueField } from './queue-options.js';
import { BARE_METAL, BASELINE, ELI, MIN_ELI_GAIN, withRelative } from './relative.js';
import {
  eliGainText,
  manyProfiles,
  profiled,
  reproduceMarkdown,
  stoppedRunNotes,
  uncertaintyMarkdown,
} from './reproduce-report.js';
import { intervalNote, runSeeds, type SummaryEntry, summarize, summaryColumns } from './summary.js';
import {
  bandNote,
  MAX_SAMPLES,
  summarizeSamples,
  type UncertaintyEntry,
  type UncertaintyOptions,
  uncertaintyColumns,
  uncertaintyJobs,
  uncertaintySamples,
} from './uncertainty.js';

export { reproduceMarkdown, uncertaintyMarkdown } from './reproduce-report.js';

/** What `exitless reproduce` runs and where it writes. */
export interface ReproduceOptions {
  /** Workloads, in table order (default: every one the machine has). */
  readonly workloads: readonly string[];
  /** Modes, in table order (default: every one the machine has). */
  readonly modes: readonly string[];
  /** Measured simulated time per run, ms. */
  readonly durationMs: number;
  /** Simulated warm-up per run, ms. */
  readonly warmupMs: number;
  /** The seed of the first run of each workload × mode. */
  readonly seed: number;
  /**
   * Runs of each workload × mode, with seeds seed, seed + 1, …, seed + runs − 1 (absent: 1).
   * More than one: the table, CSV and charts show each figure's mean and 95% confidence interval.
   */
  readonly runs?: number;
  /**
   * Profile samples (absent: none): every workload × mode also runs with each of N profiles drawn
   * across the ranged entries (a Latin hypercube from the seed), and every figure shows the base
   * profile's value with its 5th–95th percentile band over the samples. Not with runs > 1.
   */
  readonly uncertainty?: UncertaintyOptions;
  /** Output directory (created). */
  readonly outDir: string;
  /** Worker threads; 1 runs in this thread. */
  readonly jobs: number;
  /**
   * The calibration profiles, in table order (absent: the default profile alone). Every workload ×
   * mode runs on each; the ratios compare runs of the same profile.
   */
  readonly profiles?: readonly CalibrationProfile[];
  /** The machine's other fields, from --machine and --set (absent: the default machine's). */
  readonly machine?: MachineSpec;
  /** Run on the workers of a Redis queue (--queue) instead of this machine's threads (absent: local). */
  readonly queue?: QueueOptions;
}

/**
 * Defaults of `exitless reproduce`: 200 ms measured after 40 ms of warm-up per run keeps
 * the whole table well under a minute on 2 cores (the README has the measured time), while
 * a run still sees over ten thousand assigned interrupts in every virtualized mode.
 */
export const REPRODUCE_DEFAULTS: {
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly seed: number;
  readonly outDir: string;
} = { durationMs: 200, warmupMs: 40, seed: 1, outDir: 'out/reproduce' };

export const REPRODUCE_USAGE = `exitless reproduce [--workloads a,b] [--modes a,b] [--duration MS] [--warmup MS]
                     [--seed N] [--runs N | --uncertainty N] [--out DIR] [--jobs N]
                     [--profile NAME|FILE | --profiles a,b] [--machine FILE] [--set KEY=VALUE …]
                     [--queue redis://HOST:PORT[/DB] [--resume] [--queue-timeout S]]
      Runs every workload on every mode on the default machine, in parallel on a worker pool,
      and prints the paper-style table: throughput, % of bare metal, speed-up over baseline,
      exits/s, exits per assigned interrupt, interrupts/s, time in guest, latency; then how much
      of ELI's gain over ${BASELINE} each other design keeps, per profile × workload (shown where
      ${ELI} gains at least ${MIN_ELI_GAIN * 100}%). Writes results.json, results.csv, results.md (which also has
      exits/s by exit reason), throughput-relative.svg, exits-per-second.svg and latency-cdf.svg
      to DIR (default ${REPRODUCE_DEFAULTS.outDir}). Defaults: --duration ${REPRODUCE_DEFAULTS.durationMs}, --warmup ${REPRODUCE_DEFAULTS.warmupMs},
      --seed ${REPRODUCE_DEFAULTS.seed}, --runs 1, --jobs = cores. --runs N runs each N times, with seeds
      --seed, --seed+1, …, and shows every figure as mean ± its 95% confidence interval (error
      bars in the charts). The ratios need a ${BARE_METAL} and a ${BASELINE} run of the same workload;
      without them those columns are empty. --uncertainty N (2–${MAX_SAMPLES}) also runs every workload × mode
      with N profiles sampled across the calibration ranges (Latin hypercube from --seed; every
      run with --seed) and shows each figure as its value [5th, 95th percentile over the samples];
      results.json then holds every sample's overrides and figures. Not with --runs.
      --profile ${PROFILE_USAGE}. --profiles a,b (each NAME|FILE) runs every workload × mode on each
      profile: the table groups the rows by profile (a profile column is added), the ratios compare
      runs of the same profile, the CSV gains a profile column and the charts a panel per profile.
      --uncertainty takes one profile. ${SET_USAGE} With --profiles it applies to each profile;
      --uncertainty leaves the entries set at their value and samples the others.
      ${MACHINE_AXES_USAGE}
      ${QUEUE_USAGE}`;

/** Parses `reproduce`'s arguments; mistakes are UsageErrors that say what to change. */
export function parseReproduceArgs(
  args: readonly string[],
  profile: CalibrationProfile = XEON_X5570,
): ReproduceOptions {
  const values = parseOptions('reproduce', args, {
    workloads: { type: 'string', value: 'a,b' },
    modes: { type: 'string', value: 'a,b' },
    duration: { type: 'string', value: 'MS' },
    warmup: { type: 'string', value: 'MS' },
    seed: { type: 'string', value: 'N' },
    runs: { type: 'string', value: 'N' },
    uncertainty: { type: 'string', value: 'N' },
    out: { type: 'string', value: 'DIR' },
    jobs: { type: 'string', value: 'N' },
    profile: { type: 'string', value: 'NAME|FILE' },
    profiles: { type: 'string', value: 'a,b' },
    machine: MACHINE_OPTION,
    set: SET_OPTION,
    ...QUEUE_OPTIONS,
  });
  const base = machineBase(values, { seed: 'seed', profile: 'profile' });
  if (base.setKeys.includes('profile') && stringOption(values, 'profiles') !== undefined) {
    throw new UsageError(
      '--set profile=… and --profiles both give the profile: give it once, with one of them',
    );
  }
  const sets = setsOption(values);
  // The machine's profile (--machine, --set profile=…) when neither --profile nor --profiles is given.
  const chosen =
    parseProfileChoice(stringOption(values, 'profile'), stringOption(values, 'profiles')) ??
    (base.profile !== undefined && base.profile !== XEON_X5570 ? [base.profile] : undefined);
  // --set applies to each profile (the default one when none is chosen).
  const profiles = sets.length > 0 ? (chosen ?? [profile]).map((p) => withSets(p, sets)) : chosen;
  checkSetKeys(base, profiles ?? [profile]);
  const list = (name: string) => {
    const v = stringOption(values, name);
    return v !== undefined ? parseList(v, name) : undefined;
  };
  // The machine's workload and mode are the axes' defaults; --workloads and --modes replace them.
  const machineWorkload = base.fields.workload !== undefined ? [base.fields.workload] : undefined;
  const workloads = selectNames(
    'workload',
    list('workloads') ?? machineWorkload,
    availableWorkloads(),
    'workloads',
  );
  const requestedModes = list('modes') ?? (base.fields.mode !== undefined ? [base.fields.mode] : undefined);
  const all = selectNames('mode', requestedModes, availableModes(), 'modes');
  // A mode asked for by name that a chosen profile refuses is a mistake to say; without
  // --modes, each profile runs the modes it has (reproduceJobs leaves the others out).
  const runProfiles = profiles ?? [profile];
  if (requestedModes !== undefined) {
    const why = refusedModes(runProfiles, all);
    if (why !== null) throw new UsageError(why);
  }
  const modes = runProfiles.length === 1 ? modesFor(runProfiles[0]!, all) : all;
  const machine = machineSpec(base);
  const out = stringOption(values, 'out');
  if (out !== undefined && out.trim() === '') throw new UsageError('--out must name a directory');
  const seed = parseSeed(stringOption(values, 'seed'), base.fields.seed ?? REPRODUCE_DEFAULTS.seed);
  const runs = parseRuns(stringOption(values, 'runs'), seed);
  if (profiles !== undefined && profiles.length > 1 && stringOption(values, 'uncertainty') !== undefined) {
    throw new UsageError(
      `--uncertainty takes one profile, got --profiles with ${profiles.length}: run one reproduction per profile with --profile`,
    );
  }
  const uncertainty = parseUncertainty(
    stringOption(values, 'uncertainty'),
    runs,
    profiles?.[0] ?? profile,
    sets,
  );
  return {
    workloads,
    modes,
    ...parseRunLength(values, REPRODUCE_DEFAULTS),
    seed,
    runs,
    ...(uncertainty !== undefined ? { uncertainty } : {}),
    outDir: out ?? REPRODUCE_DEFAULTS.outDir,
    jobs: parseNumber(stringOption(values, 'jobs'), 'jobs', defaultJobs(), 1, { integer: true, max: 256 }),
    ...(profiles !== undefined ? { profiles } : {}),
    ...(machine !== undefined ? { machine } : {}),
    ...queueField(values),
  };
}

/**
 * `--profile X` or `--profiles a,b` (not both): the profiles to run, or undefined for the
 * default profile alone (so that a default reproduction's options stay as they were).
 */
function parseProfileChoice(
  one: string | undefined,
  many: string | undefined,
): readonly CalibrationProfile[] | undefined {
  if (one !== undefined && many !== undefined) {
    throw new UsageError(
      '--profile and --profiles cannot be combined: give one profile with --profile, or several with --profiles',
    );
  }
  if (many !== undefined) return loadProfiles(many);
  if (one !== undefined) return [profileOption(one)];
  return undefined;
}

/** The profiles of a reproduction (the default profile alone when none was chosen). */
export function reproduceProfiles(options: ReproduceOptions): readonly (CalibrationProfile | undefined)[] {
  return options.profiles !== undefined && options.profiles.length > 0 ? options.profiles : [undefined];
}

/**
 * `--uncertainty N`: N from 2 to MAX_SAMPLES, sampling every ranged entry of the profile but
 * those `--set` fixes (the user chose their values). Not with --runs N > 1: a band over samples
 * is taken with one seed, so that it is the profile's spread alone; --runs measures the seed's.
 */
function parseUncertainty(
  value: string | undefined,
  runs: number,
  profile: CalibrationProfile,
  sets: readonly ProfileSet[],
): UncertaintyOptions | undefined {
  if (value === undefined) return undefined;
  const samples = parseNumber(value, 'uncertainty', 0, 2, { integer: true, max: MAX_SAMPLES });
  if (runs > 1) {
    throw new UsageError(
      `--uncertainty and --runs ${runs} cannot be combined: --uncertainty runs every sample with --seed, so that its band is the calibration profile's spread alone; measure the seed's spread with --runs in a separate reproduction`,
    );
  }
  // The entries --set fixes, and those a machine file's profile.set fixes.
  const fixed = new Set([...sets.map((s) => s.key), ...Object.keys(profileSetsOf(profile)?.sets ?? {})]);
  const entries = rangedEntries(profile)
    .filter((r) => !fixed.has(r.key))
    .map((r) => ({
      key: r.key,
      unit: r.entry.unit,
      value: r.entry.value,
      low: r.low,
      high: r.high,
    }));
  if (entries.length === 0) {
    throw new UsageError(
      `--uncertainty needs entries with a range (low < high) in the calibration profile '${profile.name}', and it has none${fixed.size > 0 ? ' that --set leaves free' : ''}`,
    );
  }
  return { samples, entries };
}

/**
 * The runs of a reproduction: workload-major, then mode (the table's order), then seed; with
 * --uncertainty, then the base profile's run followed by the N samples' (uncertaintyJobs).
 */
export function reproduceJobs(options: ReproduceOptions): RunJob[] {
  if (options.uncertainty !== undefined) {
    const field = profileField(options.profiles?.[0]);
    return uncertaintyJobs(options, uncertaintySamples(options.uncertainty, options.seed)).map((job) => ({
      ...job,
      ...field,
      ...machineFieldsFor(options.machine, job.mode, job.workload),
    }));
  }
  const seeds = runSeeds(options.seed, options.runs ?? 1);
  // Profile-major: the table groups its rows by profile.
  return reproduceProfiles(options).flatMap((profile) =>
    options.workloads.flatMap((workload) =>
      modesFor(resolveProfile(profileRef(profile)), options.modes).flatMap((mode) =>
        seeds.map((seed) => ({
          workload,
          mode,
          seed,
          durationMs: options.durationMs,
          warmupMs: options.warmupMs,
          ...profileField(profile),
          ...machineFieldsFor(options.machine, mode, workload),
        })),
      ),
    ),
  );
}

/**
 * The runs whose machine configurations parseCommand checks before anything runs: every run,
 * except that with --uncertainty each sample's profile is checked once (in the first workload ×
 * mode's run) and each workload × mode once (in its base profile run) — a profile's validity
 * does not depend on the workload or mode, and N × workloads × modes checks would take seconds.
 */
export function reproduceCheckJobs(options: ReproduceOptions): RunJob[] {
  const jobs = reproduceJobs(options);
  if (options.uncertainty === undefined) return jobs;
  const block = options.uncertainty.samples + 1;
  return jobs.filter((_, i) => i < block || i % block === 0);
}

/** What a reproduction produced. */
export interface ReproduceResult {
  /** Every run, in job order (with --runs N, N per workload × mode). */
  readonly entries: readonly ReproduceEntry[];
  /** Each workload × mode over its seeds: mean and 95% confidence interval of every figure (no interval with one run). */
  readonly summaries: readonly SummaryEntry[];
  /** With --uncertainty: each workload × mode over the profile samples (`entries` then holds the base profile's runs). */
  readonly uncertainty?: readonly UncertaintyEntry[];
  readonly failures: readonly Extract<JobOutcome, { ok: false }>[];
  /** The paths written, in order. */
  readonly files: readonly string[];
  /** What stdout shows: the table and its notes. */
  readonly text: string;
}

/** `reproduce --uncertainty N`: the base profile's runs and the samples', banded per figure. */
async function reproduceUncertainty(
  options: ReproduceOptions & { readonly uncertainty: UncertaintyOptions },
  hooks: { readonly onDone?: (outcome: JobOutcome, done: number, total: number) => void },
): Promise<ReproduceResult> {
  const u = options.uncertainty;
  const samples = uncertaintySamples(u, options.seed);
  const outcomes = await runJobs(reproduceJobs(options), {
    jobs: options.jobs,
    ...(options.queue !== undefined ? { queue: options.queue } : {}),
    ...(hooks.onDone !== undefined ? { onDone: hooks.onDone } : {}),
  });
  // Jobs come in blocks of N + 1 per workload × mode: the base profile's run (sample 0), then samples 1 … N.
  const reports = outcomes.flatMap((o, i) =>
    o.ok ? [{ ...o.result.report, sample: i % (samples.length + 1) }] : [],
  );
  const failures = outcomes.filter((o): o is Extract<JobOutcome, { ok: false }> => !o.ok);
  const banded = summarizeSamples(reports, options.seed);
  const entries = banded.flatMap((e) => (e.base !== null ? [e.base] : []));
  const files = await writeOutputs(options.outDir, [
    [
      'results.json',
      toJson({
        uncertainty: {
          samples: u.samples,
          seed: options.seed,
          method:
            "Latin hypercube: per entry, N strata of equal probability of a triangular distribution from low through the profile's value to high (in log space when high/low >= 10), one draw per stratum, strata in random order; integer and multipleOf entries rounded to the nearest valid value in [low, high]",
          band: '5th and 95th percentile over the samples, linear interpolation between order statistics (Hyndman–Fan 7)',
          entries: u.entries,
        },
        samples: samples.map((overrides, k) => ({ sample: k + 1, overrides })),
        results: banded,
      }),
    ],
    ['results.csv', formatCsv(uncertaintyColumns(exitReasons(banded, BAND_EXITS_VIEW)), banded)],
    ['results.md', uncertaintyMarkdown(options, banded)],
    ...(await reproduceChartFiles(banded)),
  ]);
  const total = samples.length + 1;
  const notes = [
    ...banded.flatMap((e) => {
      const stopped = [
        ...(e.base?.stopped != null ? [e.base.stopped] : []),
        ...e.runs.flatMap((r) => (r.stopped !== null ? [r.stopped] : [])),
      ];
      return stopped.length > 0
        ? [`${e.workload} on ${e.mode}: VM stopped in ${stopped.length} of ${total} runs — ${stopped[0]}`]
        : [];
    }),
    ...failures.map((f) => `${f.job.workload} on ${f.job.mode} [${f.job.tag ?? ''}]: FAILED — ${f.error}`),
  ];
  const text = `${formatTable(uncertaintyColumns(), banded)}${bandNote(u, options.seed)}\n${notes.map((n) => `${n}\n`).join('')}${eliGainText(options, banded, BAND_GAIN_VIEW)}`;
  return { entries, summaries: [], uncertainty: banded, failures, files, text };
}

/**
 * Runs the reproduction and writes its files. Failed runs are reported (and left out of
 * the files); the rest still count.
 */
export async function reproduce(
  options: ReproduceOptions,
  hooks: { readonly onDone?: (outcome: JobOutcome, done: number, total: number) => void } = {},
): Promise<ReproduceResult> {
  const { uncertainty } = options;
  if (uncertainty !== undefined) return reproduceUncertainty({ ...options, uncertainty }, hooks);
  const outcomes = await runJobs(reproduceJobs(options), {
    jobs: options.jobs,
    ...(options.queue !== undefined ? { queue: options.queue } : {}),
    ...(hooks.onDone !== undefined ? { onDone: hooks.onDone } : {}),
  });
  const reports = outcomes.flatMap((o) => (o.ok ? [o.result.report] : []));
  const failures = outcomes.filter((o): o is Extract<JobOutcome, { ok: false }> => !o.ok);
  const entries = withRelative(reports);
  const summaries = summarize(entries);
  const runs = options.runs ?? 1;
  const many = runs > 1;
  const byProfile = manyProfiles(options);
  const reasons = exitReasons(entries, RUN_EXITS_VIEW);
  const files = await writeOutputs(options.outDir, [
    ['results.json', toJson(many ? summaries : entries)],
    [
      'results.csv',
      many
        ? formatCsv(profiled(summaryColumns(reasons), byProfile), summaries)
        : formatCsv(profiled(reproduceColumns(reasons), byProfile), entries),
    ],
    ['results.md', reproduceMarkdown(options, entries)],
    ...(await reproduceChartFiles(many ? summaries : entries)),
  ]);
  const notes = [
    ...stoppedRunNotes(entries, runs),
    ...failures.map(
      (f) =>
        `${f.job.workload} on ${f.job.mode}${byProfile ? ` [${resolveProfile(f.job.profile).name}]` : ''}${many ? ` (seed ${f.job.seed})` : ''}: FAILED — ${f.error}`,
    ),
  ];
  const table = many
    ? `${formatTable(profiled(summaryColumns(), byProfile), summaries)}${intervalNote(options.seed, runs)}\n`
    : formatTable(profiled(reproduceColumns(), byProfile), entries);
  const gain = many
    ? eliGainText(options, summaries, SUMMARY_GAIN_VIEW)
    : eliGainText(options, entries, RUN_GAIN_VIEW);
  const text = `${table}${notes.map((n) => `${n}\n`).join('')}${gain}`;
  return { entries, summaries, failures, files, text };
}
