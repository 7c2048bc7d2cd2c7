import {
  type CalibrationProfile,
  profileSetsOf,
  type RunReport,
  rangedEntries,
  XEON_X5570,
} from '@exitless/machine';
import {
  parseList,
  parseNumber,
  parseOptions,
  parseRunLength,
  parseSeed,
  selectNames,
  stringOption,
  UsageError,
} from './args.js';
import { renderSvg, tornadoChart } from './charts.js';
import { formatCsv, type ReproduceEntry } from './format.js';
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
import { availableModes, availableWorkloads, refusedModes } from './modes.js';
import { toJson, writeOutputs } from './output.js';
import { defaultJobs, type JobOutcome, runJobs } from './pool.js';
import {
  PROFILE_USAGE,
  type ProfileSet,
  profileField,
  profileOption,
  SET_OPTION,
  SET_USAGE,
  setsOption,
  withSets,
} from './profiles.js';
import { QUEUE_OPTIONS, QUEUE_USAGE, type QueueOptions, queueField } from './queue-options.js';
import { BARE_METAL, BASELINE, withRelative } from './relative.js';
import {
  SWING_CSV_COLUMNS,
  sensitivityMarkdown,
  sensitivityText,
  swingRows,
  TEXT_TOP,
  tornadoPanels,
} from './sensitivity-report.js';
import { type Figures, figuresOf } from './uncertainty.js';

export {
  formatEffect,
  formatFigure,
  sensitivityMarkdown,
  sensitivityText,
  TEXT_TOP,
  TORNADO_TOP,
  tornadoPanels,
} from './sensitivity-report.js';

/** A ranged entry of the profile, as sensitivity moves it: its value and the ends of its range. */
export interface SensitivityEntry {
  readonly key: string;
  readonly unit: string;
  readonly value: number;
  readonly low: number;
  readonly high: number;
}

/** What `exitless sensitivity` runs and where it writes. */
export interface SensitivityOptions {
  readonly workloads: readonly string[];
  /** Modes; bare metal and baseline are always among them when the machine has them (the ratios need them). */
  readonly modes: readonly string[];
  /** The entries moved, one at a time, to each end of their range (in the profile's order). */
  readonly entries: readonly SensitivityEntry[];
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly seed: number;
  readonly outDir: string;
  readonly jobs: number;
  /** The calibration profile whose entries are moved (absent: the default). */
  readonly profile?: CalibrationProfile;
  /** The machine's other fields, from --machine and --set (absent: the default machine's). */
  readonly machine?: MachineSpec;
  /** Run on the workers of a Redis queue (--queue) instead of this machine's threads (absent: local). */
  readonly queue?: QueueOptions;
}

/**
 * Defaults of `exitless sensitivity`: the sweep's run length (100 ms after 20 ms), since a
 * sensitivity run makes up to 2 × entries × workloads × modes runs.
 */
export const SENSITIVITY_DEFAULTS: {
  readonly modes: readonly string[];
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly seed: number;
  readonly outDir: string;
} = {
  modes: [BARE_METAL, BASELINE, 'eli'],
  durationMs: 100,
  warmupMs: 20,
  seed: 1,
  outDir: 'out/sensitivity',
};

export const SENSITIVITY_USAGE = `exitless sensitivity [--workloads a,b] [--modes a,b] [--entries k1,k2|PREFIX*] [--duration MS]
                       [--warmup MS] [--seed N] [--out DIR] [--jobs N] [--profile NAME|FILE]
                       [--machine FILE] [--set KEY=VALUE …]
                       [--queue redis://HOST:PORT[/DB] [--resume] [--queue-timeout S]]
      One-at-a-time sensitivity to the calibration profile: for each entry with a range (low,
      high in the profile), runs every workload × mode with that entry at its low and at its
      high end, every other entry at its value, and ranks the entries by how far apart each figure
      lies over the base and the two ends (max − min): % of bare metal per mode, speed-up over
      ${BASELINE}, exits/s.
      A configuration whose base run never read an entry is not re-run for it (its result
      cannot change). Writes sensitivity.json, sensitivity.csv, sensitivity.md and one
      tornado-<workload>.svg per workload to DIR (default ${SENSITIVITY_DEFAULTS.outDir}); prints the top ${TEXT_TOP}
      entries per figure. --entries takes keys and prefixes ending in * (host.*).
      Defaults: every workload, modes ${SENSITIVITY_DEFAULTS.modes.join(',')} (${BARE_METAL} and ${BASELINE} are always added),
      every ranged entry, --duration ${SENSITIVITY_DEFAULTS.durationMs}, --warmup ${SENSITIVITY_DEFAULTS.warmupMs}, --seed ${SENSITIVITY_DEFAULTS.seed}, --jobs = cores.
      --profile ${PROFILE_USAGE}: its entries and ranges are the ones moved.
      ${SET_USAGE} The entries set stay at their value and are not moved.
      ${MACHINE_AXES_USAGE}
      ${QUEUE_USAGE}`;

/** The ranged entries of a profile, as sensitivity moves them. */
export function sensitivityEntries(profile: CalibrationProfile): SensitivityEntry[] {
  return rangedEntries(profile).map((r) => ({
    key: r.key,
    unit: r.entry.unit,
    value: r.entry.value,
    low: r.low,
    high: r.high,
  }));
}

/**
 * The entries `--entries` names (exact keys, or prefixes ending in `*`), in the profile's
 * order; every ranged entry without it. A key without a range, or a prefix that matches no
 * ranged entry, is a UsageError; so is a key `--set` fixes (`sets`), which `ranged` leaves out.
 */
export function selectEntries(
  requested: readonly string[] | undefined,
  ranged: readonly SensitivityEntry[],
  profileName: string,
  sets: readonly ProfileSet[] = [],
): SensitivityEntry[] {
  if (requested === undefined) return [...ranged];
  const chosen = new Set<string>();
  for (const item of requested) {
    const set = sets.find((s) => s.key === item);
    if (set !== undefined) {
      throw new UsageError(
        `--entries: '${item}' is fixed by --set ${item}=${set.value}, so it is not moved: give it in --entries or in --set, not both`,
      );
    }
    const prefix = item.endsWith('*') ? item.slice(0, -1) : null;
    const matches = ranged.filter((e) => (prefix !== null ? e.key.startsWith(prefix) : e.key === item));
    if (matches.length === 0) {
      const sample = ranged
        .slice(0, 6)
        .map((e) => e.key)
        .join(', ');
      throw new UsageError(
        `--entries: ${prefix !== null ? `'${item}' matches no entry` : `'${item}' is not an entry`} with a range (low < high) in the calibration profile '${profileName}'; use keys or prefixes (host.*) of its ${ranged.length} ranged entries (${sample}${ranged.length > 6 ? ', …' : ''}; 'exitless profile --json' lists them)`,
      );
    }
    for (const m of matches) chosen.add(m.key);
  }
  return ranged.filter((e) => chosen.has(e.key));
}

/**
 * Parses `sensitivity`'s arguments against a profile's ranges: --profile's when given, else
 * `fallback` (the default profile's); mistakes are UsageErrors.
 */
export function parseSensitivityArgs(
  args: readonly string[],
  fallback: CalibrationProfile = XEON_X5570,
): SensitivityOptions {
  const values = parseOptions('sensitivity', args, {
    workloads: { type: 'string', value: 'a,b' },
    modes: { type: 'string', value: 'a,b' },
    entries: { type: 'string', value: 'k1,k2|PREFIX*' },
    duration: { type: 'string', value: 'MS' },
    warmup: { type: 'string', value: 'MS' },
    seed: { type: 'string', value: 'N' },
    out: { type: 'string', value: 'DIR' },
    jobs: { type: 'string', value: 'N' },
    profile: { type: 'string', value: 'NAME|FILE' },
    machine: MACHINE_OPTION,
    set: SET_OPTION,
    ...QUEUE_OPTIONS,
  });
  const base = machineBase(values, { seed: 'seed', profile: 'profile' });
  const profileFlag = stringOption(values, 'profile');
  const sets = setsOption(values);
  // --profile, else the machine's profile (--machine, --set profile=…), else `fallback`.
  const given = profileFlag !== undefined ? profileOption(profileFlag) : (base.profile ?? fallback);
  const profile = withSets(given, sets);
  checkSetKeys(base, [profile]);
  const list = (name: string) => {
    const v = stringOption(values, name);
    return v !== undefined ? parseList(v, name) : undefined;
  };
  // The machine's workload and mode are the axes' defaults; --workloads and --modes replace them.
  const workloads = selectNames(
    'workload',
    list('workloads') ?? (base.fields.workload !== undefined ? [base.fields.workload] : undefined),
    availableWorkloads(),
    'workloads',
  );
  const all = availableModes();
  const requested = list('modes') ?? (base.fields.mode !== undefined ? [base.fields.mode] : undefined);
  const modes = selectNames(
    'mode',
    requested ?? SENSITIVITY_DEFAULTS.modes.filter((m) => all.includes(m)),
    all,
    'modes',
  );
  const why = refusedModes([profile], modes);
  if (why !== null) throw new UsageError(why);
  // The references first (the ratios need them), then the other modes in the order asked.
  const references = [BARE_METAL, BASELINE].filter((m) => all.includes(m));
  // An entry --set fixes is the user's choice, not an uncertainty: it stays at its value.
  // So is an entry a machine file's profile.set fixes.
  const fixed = new Set([...sets.map((s) => s.key), ...Object.keys(profileSetsOf(profile)?.sets ?? {})]);
  const ranged = sensitivityEntries(profile).filter((e) => !fixed.has(e.key));
  if (ranged.length === 0) {
    throw new UsageError(
      `sensitivity needs entries with a range (low < high) in the calibration profile '${profile.name}', and it has none${sets.length > 0 ? ' that --set leaves free' : ''}`,
    );
  }
  const machine = machineSpec(base);
  const out = stringOption(values, 'out');
  if (out !== undefined && out.trim() === '') throw new UsageError('--out must name a directory');
  return {
    workloads,
    modes: [...references, ...modes.filter((m) => !references.includes(m))],
    entries: selectEntries(list('entries'), ranged, profile.name, sets),
    ...parseRunLength(values, SENSITIVITY_DEFAULTS),
    seed: parseSeed(stringOption(values, 'seed'), base.fields.seed ?? SENSITIVITY_DEFAULTS.seed),
    outDir: out ?? SENSITIVITY_DEFAULTS.outDir,
    jobs: parseNumber(stringOption(values, 'jobs'), 'jobs', defaultJobs(), 1, { integer: true, max: 256 }),
    ...((profileFlag !== undefined || base.profile !== undefined || sets.length > 0) && profile !== XEON_X5570
      ? { profile }
      : {}),
    ...(machine !== undefined ? { machine } : {}),
    ...queueField(values),
  };
}

// ─── Figures ────────────────────────────────────────────────────────────────────────

/** How a figure is shown: a fraction as %, a speed-up as ×, a rate per second. */
export type FigureKind = 'percent' | 'factor' | 'rate';

/** A figure sensitivity ranks the entries by, taken from one workload's runs (one per mode). */
export interface SensitivityFigure {
  /** `eli.toBareMetal`, `eli.toBaseline`, `baseline.exitsPerSecond`. */
  readonly id: string;
  /** `eli % of bare metal`. */
  readonly title: string;
  readonly kind: FigureKind;
  /** The modes whose runs it depends on. */
  readonly modes: readonly string[];
  readonly value: (runs: ReadonlyMap<string, ReproduceEntry>) => number | null;
}

/**
 * The figures of a sensitivity run over these modes: each virtualized mode's throughput as %
 * of bare metal, each mode other than baseline's speed-up over baseline (×), and each
 * virtualized mode's exits per second. With the defaults: baseline and eli % of bare metal,
 * eli over baseline, baseline and eli exits/s.
 */
export function sensitivityFigures(modes: readonly string[]): SensitivityFigure[] {
  const virtualized = modes.filter((m) => m !== BARE_METAL);
  const figures: SensitivityFigure[] = [];
  if (modes.includes(BARE_METAL)) {
    for (const mode of virtualized) {
      figures.push({
        id: `${mode}.toBareMetal`,
        title: `${mode} % of bare metal`,
        kind: 'percent',
        modes: [mode, BARE_METAL],
        value: (runs) => runs.get(mode)?.relative.toBareMetal ?? null,
      });
    }
  }
  if (modes.includes(BASELINE)) {
    for (const mode of virtualized.filter((m) => m !== BASELINE)) {
      figures.push({
        id: `${mode}.toBaseline`,
        title: `${mode} over ${BASELINE}`,
        kind: 'factor',
        modes: [mode, BASELINE],
        value: (runs) => runs.get(mode)?.relative.toBaseline ?? null,
      });
    }
  }
  for (const mode of virtualized) {
    figures.push({
      id: `${mode}.exitsPerSecond`,
      title: `${mode} exits/s`,
      kind: 'rate',
      modes: [mode],
      value: (runs) => runs.get(mode)?.exitsPerSecond.total ?? null,
    });
  }
  return figures;
}

// ─── The runs ───────────────────────────────────────────────────────────────────────

/** An end of an entry's range. */
export type End = 'low' | 'high';
const ENDS: readonly End[] = ['low', 'high'];

function pair(workload: string, mode: string): string {
  return `${workload}\u0000${mode}`;
}

/** The base runs: every workload × mode with the profile's values, recording which entries each reads. */
export function baseJobs(options: SensitivityOptions): RunJob[] {
  return options.workloads.flatMap((workload) =>
    options.modes.map((mode) => ({
      workload,
      mode,
      seed: options.seed,
      durationMs: options.durationMs,
      warmupMs: options.warmupMs,
      ...profileField(options.profile),
      ...machineFieldsFor(options.machine, mode, workload),
      recordProfileReads: true,
      tag: 'base profile',
    })),
  );
}

/** The run of a workload × mode with one entry at one end of its range. */
export function variationJob(
  options: SensitivityOptions,
  workload: string,
  mode: string,
  entry: SensitivityEntry,
  end: End,
): RunJob {
  return {
    workload,
    mode,
    seed: options.seed,
    durationMs: options.durationMs,
    warmupMs: options.warmupMs,
    ...profileField(options.profile),
    ...machineFieldsFor(options.machine, mode, workload),
    profileOverrides: { [entry.key]: entry[end] },
    tag: `${entry.key} ${end} ${entry[end]}`,
  };
}

/** Every run sensitivity could make (the base runs, then every variation), for checking the configurations before anything runs. */
export function allSensitivityJobs(options: SensitivityOptions): RunJob[] {
  return [
    ...baseJobs(options),
    ...options.entries.flatMap((entry) =>
      ENDS.flatMap((end) =>
        options.workloads.flatMap((w) => options.modes.map((m) => variationJob(options, w, m, entry, end))),
      ),
    ),
  ];
}

/** The variation of one entry at one end for one workload × mode. */
function variationKey(key: string, end: End, workload: string, mode: string): string {
  return `${key}\u0000${end}\u0000${workload}\u0000${mode}`;
}

/**
 * The runs to make after the base runs: one per entry × end × workload × mode whose base run
 * read the entry. A configuration that never read an entry runs identically whatever its value,
 * so its base result stands for both ends. A failed base run (no reads known) is not varied.
 */
export function variationPlan(
  options: SensitivityOptions,
  reads: ReadonlyMap<string, ReadonlySet<string> | null>,
): { readonly jobs: RunJob[]; readonly index: ReadonlyMap<string, number> } {
  const jobs: RunJob[] = [];
  const index = new Map<string, number>();
  for (const entry of options.entries) {
    for (const end of ENDS) {
      for (const workload of options.workloads) {
        for (const mode of options.modes) {
          if (reads.get(pair(workload, mode))?.has(entry.key) !== true) continue;
          index.set(variationKey(entry.key, end, workload, mode), jobs.length);
          jobs.push(variationJob(options, workload, mode, entry, end));
        }
      }
    }
  }
  return { jobs, index };
}

// ─── Results ────────────────────────────────────────────────────────────────────────

/** One workload × mode with one entry at one end: re-run, or the base run reused. */
export interface VariationResult {
  readonly entry: string;
  readonly end: End;
  readonly value: number;
  readonly workload: string;
  readonly mode: string;
  /** Whether it ran (false: its base run never read the entry, so the base run's result is its result). */
  readonly rerun: boolean;
  /** Its figures (ratios within the same entry and end); null when the run failed. */
  readonly figures: Figures | null;
}

/** One entry's effect on one figure. */
export interface Swing {
  readonly entry: string;
  readonly unit: string;
  readonly value: number;
  readonly low: number;
  readonly high: number;
  /** The figure with every entry at its value. */
  readonly base: number | null;
  readonly atLow: number | null;
  readonly atHigh: number | null;
  /** atHigh − atLow (rounded to 6 decimals); null when either is missing. */
  readonly effect: number | null;
  /**
   * How far apart the figure lies over the base and the two ends: max − min of base, atLow
   * and atHigh (rounded to 6 decimals); null when an end is missing. What the ranking sorts
   * by: unlike |effect| it also counts an entry that moves the figure the same way at both
   * ends (a figure that peaks or dips inside the range).
   */
  readonly span: number | null;
  /** Whether any run the figure depends on was re-run for the entry. */
  readonly rerun: boolean;
}

/** A figure of a workload with every entry's swing, most effect first. */
export interface FigureSwings {
  readonly workload: string;
  readonly figure: string;
  readonly title: string;
  readonly kind: FigureKind;
  readonly base: number | null;
  readonly ranking: readonly Swing[];
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** max − min of the figure at the base and at both ends (the base left out when unknown); null when an end is missing. */
export function spanOf(base: number | null, atLow: number | null, atHigh: number | null): number | null {
  if (atLow === null || atHigh === null) return null;
  const values = base === null ? [atLow, atHigh] : [base, atLow, atHigh];
  return round6(Math.max(...values) - Math.min(...values));
}

/**
 * Entries ranked by span, largest first; ties (and entries that do not move the figure) keep
 * the given order, and entries whose span is unknown (a failed run) come last.
 */
export function rankSwings(swings: readonly Swing[]): Swing[] {
  const size = (s: Swing) => (s.span === null ? -1 : s.span);
  return swings
    .map((s, i) => ({ s, i }))
    .sort((a, b) => size(b.s) - size(a.s) || a.i - b.i)
    .map(({ s }) => s);
}

/** The runs of one workload as ratios can be taken of them: mode → entry with `relative`. */
function byMode(reports: readonly (RunReport | null)[]): Map<string, ReproduceEntry> {
  const entries = withRelative(reports.filter((r): r is RunReport => r !== null));
  return new Map(entries.map((e) => [e.mode, e]));
}

/** What a sensitivity analysis produced. */
export interface SensitivityResult {
  /** The base runs, with their ratios and the entries each read. */
  readonly base: readonly (ReproduceEntry & { readonly profileReads: readonly string[] | null })[];
  readonly variations: readonly VariationResult[];
  readonly figures: readonly FigureSwings[];
  readonly failures: readonly Extract<JobOutcome, { ok: false }>[];
  /** Runs made: the base runs and the variations that were re-run. */
  readonly runs: { readonly base: number; readonly rerun: number; readonly reused: number };
  readonly files: readonly string[];
  readonly text: string;
}

/** A progress reporter for one phase of runs (what the CLI draws on stderr). */
export type PhaseProgress = (
  phase: string,
  total: number,
) => { readonly onDone: (outcome: JobOutcome, done: number, total: number) => void; stop(): void };

/** Collects the results of both phases into variations and ranked swings. */
export function sensitivityResults(
  options: SensitivityOptions,
  baseOutcomes: readonly JobOutcome[],
  plan: { readonly index: ReadonlyMap<string, number> },
  rerunOutcomes: readonly JobOutcome[],
): Pick<SensitivityResult, 'base' | 'variations' | 'figures'> {
  const { workloads, modes } = options;
  const baseReport = new Map<string, RunReport | null>();
  const reads = new Map<string, readonly string[] | null>();
  for (const o of baseOutcomes) {
    baseReport.set(pair(o.job.workload, o.job.mode), o.ok ? o.result.report : null);
    reads.set(pair(o.job.workload, o.job.mode), o.ok ? (o.result.profileReads ?? null) : null);
  }
  const figures = sensitivityFigures(modes);
  const variations: VariationResult[] = [];
  const swings = new Map<string, Swing[]>();
  const base: SensitivityResult['base'][number][] = [];
  const baseFigures = new Map<string, Map<string, ReproduceEntry>>();
  for (const workload of workloads) {
    const runs = byMode(modes.map((m) => baseReport.get(pair(workload, m)) ?? null));
    baseFigures.set(workload, runs);
    for (const mode of modes) {
      const e = runs.get(mode);
      if (e !== undefined) base.push({ ...e, profileReads: reads.get(pair(workload, mode)) ?? null });
    }
  }
  for (const entry of options.entries) {
    const at = new Map<string, Map<string, ReproduceEntry>>();
    const rerunModes = new Map<string, Set<string>>();
    for (const end of ENDS) {
      for (const workload of workloads) {
        const rerun = new Set<string>();
        const reports = modes.map((mode) => {
          const i = plan.index.get(variationKey(entry.key, end, workload, mode));
          if (i === undefined) return baseReport.get(pair(workload, mode)) ?? null;
          rerun.add(mode);
          const o = rerunOutcomes[i];
          return o?.ok === true ? o.result.report : null;
        });
        const runs = byMode(reports);
        at.set(`${end}\u0000${workload}`, runs);
        rerunModes.set(`${end}\u0000${workload}`, rerun);
        for (const mode of modes) {
          const e = runs.get(mode);
          variations.push({
            entry: entry.key,
            end,
            value: entry[end],
            workload,
            mode,
            rerun: rerun.has(mode),
            figures: e !== undefined ? figuresOf(e) : null,
          });
        }
      }
    }
    for (const workload of workloads) {
      for (const figure of figures) {
        const atLow = figure.value(at.get(`low\u0000${workload}`)!);
        const atHigh = figure.value(at.get(`high\u0000${workload}`)!);
        const rerun = ENDS.some((end) =>
          figure.modes.some((m) => rerunModes.get(`${end}\u0000${workload}`)!.has(m)),
        );
        const key = `${workload}\u0000${figure.id}`;
        const list = swings.get(key) ?? [];
        list.push({
          entry: entry.key,
          unit: entry.unit,
          value: entry.value,
          low: entry.low,
          high: entry.high,
          base: figure.value(baseFigures.get(workload)!),
          atLow,
          atHigh,
          effect: atLow !== null && atHigh !== null ? round6(atHigh - atLow) : null,
          span: spanOf(figure.value(baseFigures.get(workload)!), atLow, atHigh),
          rerun,
        });
        swings.set(key, list);
      }
    }
  }
  const ranked = workloads.flatMap((workload) =>
    figures.map((figure) => ({
      workload,
      figure: figure.id,
      title: figure.title,
      kind: figure.kind,
      base: figure.value(baseFigures.get(workload)!),
      ranking: rankSwings(swings.get(`${workload}\u0000${figure.id}`) ?? []),
    })),
  );
  return { base, variations, figures: ranked };
}

/**
 * Runs the sensitivity analysis — the base runs (recording which entries each reads), then the
 * variations of the entries each configuration read — and writes its files.
 */
export async function sensitivity(
  options: SensitivityOptions,
  hooks: { readonly progress?: PhaseProgress } = {},
): Promise<SensitivityResult> {
  const phase = async (name: string, jobs: readonly RunJob[]) => {
    const p = hooks.progress?.(name, jobs.length);
    try {
      return await runJobs(jobs, {
        jobs: options.jobs,
        ...(options.queue !== undefined ? { queue: options.queue } : {}),
        ...(p !== undefined ? { onDone: p.onDone } : {}),
      });
    } finally {
      p?.stop();
    }
  };
  const baseOutcomes = await phase('base runs', baseJobs(options));
  const reads = new Map<string, ReadonlySet<string> | null>(
    baseOutcomes.map((o) => [
      pair(o.job.workload, o.job.mode),
      o.ok && o.result.profileReads !== undefined ? new Set(o.result.profileReads) : null,
    ]),
  );
  const plan = variationPlan(options, reads);
  const possible = options.entries.length * 2 * options.workloads.length * options.modes.length;
  const rerunOutcomes = await phase(
    `variations (${plan.jobs.length} of ${possible} re-run; the others never read their entry)`,
    plan.jobs,
  );
  const { base, variations, figures } = sensitivityResults(options, baseOutcomes, plan, rerunOutcomes);
  const failures = [...baseOutcomes, ...rerunOutcomes].filter(
    (o): o is Extract<JobOutcome, { ok: false }> => !o.ok,
  );
  const runs = { base: baseOutcomes.length, rerun: plan.jobs.length, reused: possible - plan.jobs.length };
  const profile = base[0]?.profile ?? (options.profile ?? XEON_X5570).name;
  const charts = options.workloads.map((w) => tornadoChart(w, tornadoPanels(figures, w)));
  const files = await writeOutputs(options.outDir, [
    [
      'sensitivity.json',
      toJson({
        profile,
        seed: options.seed,
        durationMs: options.durationMs,
        warmupMs: options.warmupMs,
        workloads: options.workloads,
        modes: options.modes,
        runs,
        entries: options.entries.map((e) => ({
          ...e,
          readBy: base
            .filter((b) => b.profileReads?.includes(e.key) === true)
            .map((b) => `${b.workload} × ${b.mode}`),
        })),
        base,
        variations,
        figures,
      }),
    ],
    ['sensitivity.csv', formatCsv(SWING_CSV_COLUMNS, swingRows(figures))],
    ['sensitivity.md', sensitivityMarkdown(options, figures, profile, runs)],
    ...(await Promise.all(charts.map(async (c) => [c.file, await renderSvg(c.spec)] as const))),
  ]);
  const notes = failures.map(
    (f) =>
      `${f.job.workload} on ${f.job.mode}${f.job.tag !== undefined ? ` [${f.job.tag}]` : ''}: FAILED — ${f.error}`,
  );
  const text = `${sensitivityText(figures)}${notes.map((n) => `${n}\n`).join('')}`;
  return { base, variations, figures, failures, runs, files, text };
}
