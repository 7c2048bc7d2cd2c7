/**
 * Figures in the READMEs that come from runs: each is written from the JSON a command wrote
 * (`docs/figures/<name>.json`), by the same formatter the command uses, so a README cannot
 * show a figure its run did not give. A figure's block in a README sits between
 * `<!-- figure: NAME -->` and `<!-- /figure -->`; `pnpm docs:figures` rewrites every block from
 * its JSON, `pnpm docs:figures --check` (a test in CI) fails on any block that differs, and
 * `pnpm docs:figures --run NAME` runs the figure's command again and keeps its JSON.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { RunReport } from '@exitless/machine';
import { RUN_GAIN_VIEW, SUMMARY_GAIN_VIEW } from './eli-gain.js';
import {
  factor,
  formatMarkdownTable,
  formatTable,
  percent,
  type ReproduceEntry,
  type SweepEntry,
} from './format.js';
import { parseReproduceArgs } from './reproduce.js';
import { eliGainText, gainTable } from './reproduce-report.js';
import { formatRunReport } from './run-report.js';
import type { FigureSwings } from './sensitivity.js';
import { intervalNote, type SummaryEntry, summaryColumns } from './summary.js';

/** A figure: the command whose `results.json` it is drawn from, and how it is drawn. */
export interface Figure {
  /** Its name: the README marker's, and its JSON's (`docs/figures/<name>.json`). */
  readonly name: string;
  /** The `exitless` command line that writes the JSON into its `--out` directory. */
  readonly command: readonly string[];
  /** The JSON file the command writes there (default `results.json`), or `stdout`: the command prints its JSON (`run --json`) and takes no `--out`. */
  readonly output?: string;
  /**
   * Where the JSON is kept, relative to the root, when it is not `docs/figures/<name>.json`:
   * for a figure whose command is not an `exitless` command (`pnpm bench`), which a person
   * runs (`--run` says so), and whose JSON is committed where that command's README says.
   */
  readonly source?: string;
  /** The figure whose JSON this one is drawn from too (another view of the same run), if any. */
  readonly from?: string;
  /** What of `results.json` is kept in `docs/figures/<name>.json` (all of it, or a part the figure reads). */
  readonly keep: (results: unknown) => unknown;
  /** The figure's text, from the kept JSON. */
  readonly render: (kept: unknown) => string;
}

/** A summary over seeds with each run's report cut to its seed: what the tables read (the number of runs and their seeds). */
function withoutRuns(results: unknown): unknown {
  return (results as readonly SummaryEntry[]).map((e) => ({
    ...e,
    runs: e.runs.map((r) => ({ seed: r.seed })),
  }));
}

/** Of each run's report, what the share-of-ELI's-gain table reads. */
function gainFields(results: unknown): unknown {
  return (results as readonly ReproduceEntry[]).map((e) => ({
    workload: e.workload,
    mode: e.mode,
    profile: e.profile,
    seed: e.seed,
    relative: e.relative,
  }));
}

/**
 * Of each sweep run, what the sweep tables and the app README's prose about them read: its
 * throughput, interrupt and exit rates, and the guest's ACKs per second (the report's count
 * over its measured time).
 */
function sweepFields(results: unknown): unknown {
  return (results as readonly SweepEntry[]).map((e) => ({
    workload: e.workload,
    mode: e.mode,
    parameter: e.parameter,
    throughput: e.throughput,
    interruptsPerSecond: e.interruptsPerSecond,
    exitsPerSecond: e.exitsPerSecond,
    guestAcksPerSecond: e.network.guestAcks / (e.durationMs / 1000),
    relative: e.relative,
  }));
}

/** The intervals the root README's sweep table shows, of the sweep's 18. */
const SWEEP_ROWS = [2, 4, 8, 12, 16, 24, 40, 60];

/** The root README's sweep table: per interval, bare metal's interrupt rate, three modes' share of bare metal, and eli over baseline. */
function sweepTable(kept: unknown): string {
  const entries = kept as readonly SweepEntry[];
  const at = (mode: string, value: number) =>
    entries.find((e) => e.mode === mode && e.parameter.value === value);
  const pct = (x: number | null | undefined) => (x == null ? '—' : `${(x * 100).toFixed(1)}%`);
  const rows = SWEEP_ROWS.map((value) => {
    const bare = at('bare-metal', value);
    const baseline = at('baseline', value);
    const eli = at('eli', value);
    const ratio = eli === undefined ? '—' : factor(eli.relative.toBaseline);
    return `| ${value} | ${bare === undefined ? '—' : `${Math.round(bare.interruptsPerSecond.physical / 1000)} K`} | ${pct(baseline?.relative.toBareMetal)} | ${pct(eli?.relative.toBareMetal)} | ${pct(at('eli-guest-hlt', value)?.relative.toBareMetal)} | ${ratio} |`;
  });
  return [
    '| interval (µs) | bare-metal interrupts/s | baseline, % of bare metal | `eli`, % of bare metal | `eli-guest-hlt`, % of bare metal | `eli` over baseline |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

const RUN_COMMAND = [
  'run',
  '--mode',
  'baseline',
  '--workload',
  'netperf-udp-rr',
  '--duration',
  '20',
  '--warmup',
  '5',
  '--json',
];

/** One result of bench/results/kernel.json. */
interface KernelBench {
  readonly name: string;
  readonly pending: number;
  readonly eventsPerSecond: number;
  readonly target: number;
  /** Absent from runs made before the bench measured it. */
  readonly allocatedBytesPerEvent?: number;
}

/** The root README's kernel benchmark: each size's events/s on the kernel, heap-js and a bare heap, and what they say. */
function kernelTable(kept: unknown): string {
  const { results, paired } = kept as {
    readonly results: readonly KernelBench[];
    readonly paired?: readonly PairedBench[];
  };
  const mega = (x: number) => `${(x / 1e6).toFixed(1)} M`;
  const sizes = [...new Set(results.map((r) => r.pending))];
  const of = (pending: number, name: string) =>
    results.find((r) => r.pending === pending && r.name.startsWith(name));
  const rows = sizes.map((pending) => {
    const kernel = of(pending, 'exitless');
    const heap = of(pending, 'heap-js');
    const bare = of(pending, 'bare');
    return `| ${pending.toLocaleString('en-US')} | ${kernel === undefined ? '—' : `${mega(kernel.eventsPerSecond)} events/s`} | ${heap === undefined ? '—' : mega(heap.eventsPerSecond)} | ${bare === undefined ? '—' : mega(bare.eventsPerSecond)} | ${kernel !== undefined && kernel.target > 0 ? `≥ ${mega(kernel.target)}` : '—'} |`;
  });
  const against = sizes.map((pending) => {
    const kernel = of(pending, 'exitless');
    const heap = of(pending, 'heap-js');
    const bare = of(pending, 'bare');
    if (kernel === undefined || heap === undefined || bare === undefined) return `${pending}: —`;
    return `${(kernel.eventsPerSecond / heap.eventsPerSecond).toFixed(2)}× heap-js's speed and ${Math.round((100 * kernel.eventsPerSecond) / bare.eventsPerSecond)}% of the bare heap's at ${pending.toLocaleString('en-US')} pending`;
  });
  // Bytes allocated per event (runs from before the bench measured it have none).
  const allocated = sizes.flatMap((pending) => {
    const kernel = of(pending, 'exitless');
    const heap = of(pending, 'heap-js');
    if (kernel?.allocatedBytesPerEvent === undefined || heap?.allocatedBytesPerEvent === undefined) return [];
    return [
      `${kernel.allocatedBytesPerEvent.toFixed(0)} bytes per event at ${pending.toLocaleString('en-US')} pending (on heap-js ${heap.allocatedBytesPerEvent.toFixed(0)})`,
    ];
  });
  return [
    '| pending | exitless kernel | heap-js | bare heap (ceiling) | target |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `In this run the kernel reaches ${against.join(', and ')}.`,
    ...(allocated.length > 0
      ? ['', `The hold model on the kernel allocates ${allocated.join(', and ')}.`]
      : []),
    ...(paired !== undefined && paired.length > 0
      ? [
          '',
          `Timed instead in alternating chunks of ${paired[0]!.chunkEvents.toLocaleString('en-US')} events in one process (${paired[0]!.pairs} pairs over two fresh processes, one building each model first), so that both see the same load from the rest of the machine and neither inherits what earlier benchmarks left V8 compiling, the kernel's speed over heap-js's is ${paired
            .map(
              (p) =>
                `${p.median.toFixed(2)}× at ${p.pending.toLocaleString('en-US')} pending (quartiles ${p.q1.toFixed(2)}–${p.q3.toFixed(2)})`,
            )
            .join(', and ')}.`,
        ]
      : []),
  ].join('\n');
}

/** One entry of bench/results/kernel.json's paired comparison. */
interface PairedBench {
  readonly pending: number;
  readonly pairs: number;
  readonly chunkEvents: number;
  readonly median: number;
  readonly q1: number;
  readonly q3: number;
}

/** One result of bench/results/machine.json. */
interface MachineBench {
  readonly mode: string;
  readonly simulatedPerWall: number;
  readonly eventsPerSimulatedSecond: number;
  /** Absent from runs made before the bench measured it. */
  readonly allocatedBytesPerEvent?: number;
}

/**
 * The root README's machine speed: per mode, simulated seconds per wall-clock second, events
 * per simulated second and the bytes allocated per event.
 */
/** `pnpm bench -- --against DIR`'s comparison (bench/results/against.json): this checkout's speed over another's. */
function againstTable(kept: unknown): string {
  const k = kept as {
    readonly thisCommit: string | null;
    readonly otherCommit: string | null;
    readonly other: string;
    readonly against: readonly {
      readonly mode: string;
      readonly pairs: number;
      readonly durationMs: number;
      readonly median: number;
      readonly q1: number;
      readonly q3: number;
      readonly bestThis: number;
      readonly bestOther: number;
      readonly sameReports: boolean;
    }[];
  };
  const first = k.against[0];
  return [
    `${k.thisCommit ?? 'This checkout'} against ${k.otherCommit ?? k.other}, netperf TCP_STREAM on the default machine: ${first?.pairs ?? 0} pairs of ${first?.durationMs ?? 0} ms runs per mode, alternating in one process.`,
    '',
    '| mode | speed over the other (median of the pairs) | quartiles | best here (simulated s per wall s) | best there | the same report |',
    '| :--- | ---: | ---: | ---: | ---: | :--- |',
    ...k.against.map(
      (r) =>
        `| ${r.mode} | ${r.median.toFixed(2)}× | ${r.q1.toFixed(2)}–${r.q3.toFixed(2)} | ${r.bestThis.toFixed(2)} | ${r.bestOther.toFixed(2)} | ${r.sameReports ? 'yes' : 'no'} |`,
    ),
  ].join('\n');
}

function machineSpeedTable(kept: unknown): string {
  const { results, warmup, profile } = kept as {
    readonly results: readonly MachineBench[];
    readonly warmup?: MachineWarmup;
    readonly profile?: MachineFrameProfile;
  };
  return [
    '| mode | simulated s per wall s | events per simulated s | bytes allocated per event |',
    '| :--- | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${r.mode} | ${r.simulatedPerWall.toFixed(2)} | ${(r.eventsPerSimulatedSecond / 1e6).toFixed(2)} M | ${r.allocatedBytesPerEvent === undefined ? '—' : r.allocatedBytesPerEvent.toFixed(0)} |`,
    ),
    ...warmupSentence(results, warmup),
    ...frameProfileTable(profile),
  ].join('\n');
}

/** bench/results/machine.json's profiled run: where a frame's wall time goes, by file. */
interface MachineFrameProfile {
  readonly mode: string;
  readonly nsPerFrame: number;
  readonly files: readonly { readonly file: string; readonly share: number }[];
}

/** The profiled run's files, with their share of the self time and of a frame's wall time (nothing when the run did not profile). */
function frameProfileTable(profile: MachineFrameProfile | undefined): string[] {
  if (profile === undefined || profile.files.length === 0) return [];
  return [
    '',
    `Where a frame's wall time goes (${profile.mode}, one warm run profiled every 50 µs by \`pnpm bench\`; the profiler's own overhead, some 10–20%, is in the figures): ${profile.nsPerFrame.toFixed(0)} ns per frame the guest receives, the files with the most self time:`,
    '',
    '| file | share of the samples | ns per frame |',
    '| :--- | ---: | ---: |',
    ...profile.files.map(
      (f) =>
        `| \`${f.file}\` | ${(f.share * 100).toFixed(1)}% | ${(f.share * profile.nsPerFrame).toFixed(0)} |`,
    ),
  ];
}

/** bench/results/machine.json's first run of a fresh process, slice by slice. */
interface MachineWarmup {
  readonly mode: string;
  readonly sliceMs: number;
  readonly simulatedPerWall: readonly number[];
}

/** The first run of a fresh process against the table's steady state (nothing when the run did not measure it). */
function warmupSentence(results: readonly MachineBench[], warmup: MachineWarmup | undefined): string[] {
  if (warmup === undefined || warmup.simulatedPerWall.length === 0) return [];
  const steady = results.find((r) => r.mode === warmup.mode);
  if (steady === undefined) return [];
  const speeds = warmup.simulatedPerWall;
  const totalMs = warmup.sliceMs * speeds.length;
  const wall = speeds.reduce((sum, v) => sum + warmup.sliceMs / 1000 / v, 0);
  return [
    '',
    `The first run of a fresh process (${warmup.mode}) goes at ${speeds.map((v) => v.toFixed(2)).join(', ')} simulated s per wall s in its successive ${warmup.sliceMs} ms of simulated time: its first ${totalMs} ms take ${wall.toFixed(2)} s of wall time, against ${(totalMs / 1000 / steady.simulatedPerWall).toFixed(2)} s at the speed in the table.`,
  ];
}

/** A figure's band over sampled profiles: its value with the profile's values, and its 5th and 95th percentiles. */
interface Band {
  readonly base: number | null;
  readonly p05: number | null;
  readonly p95: number | null;
}

/** One workload × mode of `reproduce --uncertainty`'s results.json, as kept. */
interface BandedRun {
  readonly workload: string;
  readonly mode: string;
  readonly bands: { readonly toBareMetal: Band | null; readonly toBaseline: Band | null };
}

/** Of `reproduce --uncertainty`'s results.json, what the claims table reads. */
function bandFields(results: unknown): unknown {
  const r = results as {
    readonly uncertainty: unknown;
    readonly results: readonly BandedRun[];
  };
  return {
    uncertainty: r.uncertainty,
    results: r.results.map((e) => ({
      workload: e.workload,
      mode: e.mode,
      bands: { toBareMetal: e.bands.toBareMetal, toBaseline: e.bands.toBaseline },
    })),
  };
}

/**
 * The ELI paper's claims (Gordon et al., ASPLOS 2012, the abstract): ELI at 97–100% of bare
 * metal and 1.3–1.6× over baseline; so baseline at 0.97/1.6 ≈ 61% to 1.00/1.3 ≈ 77% of bare
 * metal (calibration-sources.md, "The ELI paper").
 */
const PAPER = {
  eliToBareMetal: [0.97, 1.0],
  eliOverBaseline: [1.3, 1.6],
  baselineToBareMetal: [0.61, 0.77],
} as const;

const WORKLOAD_NAMES: Readonly<Record<string, string>> = {
  'netperf-tcp-stream': 'TCP_STREAM',
  'netperf-udp-rr': 'UDP_RR',
  apache: 'Apache',
  memcached: 'Memcached',
};

/** The root README's claims table: each claim's value [5th, 95th percentile], covered when the band reaches into the paper's range. */
function claimsTable(kept: unknown): string {
  const { results } = kept as { readonly results: readonly BandedRun[] };
  const workloads = [...new Set(results.map((r) => r.workload))];
  const cell = (
    band: Band | null | undefined,
    range: readonly [number, number],
    scale: number,
    digits: number,
  ) => {
    if (band == null || band.base === null || band.p05 === null || band.p95 === null) return '—';
    const f = (x: number) => (x * scale).toFixed(digits);
    const covered = band.p95 >= range[0] && band.p05 <= range[1];
    return `${f(band.base)} [${f(band.p05)}, ${f(band.p95)}] ${covered ? 'covered' : '**missed**'}`;
  };
  const of = (workload: string, mode: string) =>
    results.find((r) => r.workload === workload && r.mode === mode)?.bands;
  return [
    '| workload | ELI (`eli`), % of bare metal | `eli` over baseline | `eli-guest-hlt`, % of bare metal | `eli-guest-hlt` over baseline | baseline, % of bare metal |',
    '| :--- | ---: | ---: | ---: | ---: | ---: |',
    ...workloads.map(
      (w) =>
        `| ${WORKLOAD_NAMES[w] ?? w} | ${cell(of(w, 'eli')?.toBareMetal, PAPER.eliToBareMetal, 100, 1)} | ${cell(of(w, 'eli')?.toBaseline, PAPER.eliOverBaseline, 1, 2)} | ${cell(of(w, 'eli-guest-hlt')?.toBareMetal, PAPER.eliToBareMetal, 100, 1)} | ${cell(of(w, 'eli-guest-hlt')?.toBaseline, PAPER.eliOverBaseline, 1, 2)} | ${cell(of(w, 'baseline')?.toBareMetal, PAPER.baselineToBareMetal, 100, 1)} |`,
    ),
  ].join('\n');
}

/** The reference app's sweep table: per interval, bare metal's and baseline's interrupt rates, and three modes' share of bare metal. */
function sweepAllTable(kept: unknown): string {
  const entries = kept as readonly SweepEntry[];
  const values = [...new Set(entries.map((e) => e.parameter.value))];
  const at = (mode: string, value: number) =>
    entries.find((e) => e.mode === mode && e.parameter.value === value);
  const rate = (e: SweepEntry | undefined) =>
    e === undefined ? '—' : Math.round(e.interruptsPerSecond.physical).toLocaleString('en-US');
  const pct = (e: SweepEntry | undefined) => (e === undefined ? '—' : percent(e.relative.toBareMetal));
  return [
    '| EITR interval (µs) | bare-metal irq/s | baseline irq/s | baseline | eli-delivery | eli |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ...values.map(
      (v) =>
        `| ${v} | ${rate(at('bare-metal', v))} | ${rate(at('baseline', v))} | ${pct(at('baseline', v))} | ${pct(at('eli-delivery', v))} | ${pct(at('eli', v))} |`,
    ),
  ].join('\n');
}

/** The reference app's `reproduce --runs N` example: what it prints, for the modes given, from the run's summaries. */
function runsStdout(modes: readonly string[], seed: number, runs: number) {
  return (kept: unknown): string => {
    const rows = (kept as readonly SummaryEntry[]).filter((e) => modes.includes(e.mode));
    return `\`\`\`\n${formatTable(summaryColumns(), rows)}${intervalNote(seed, runs)}\n\`\`\``;
  };
}

/** The figures the root README's sensitivity table shows, by workload: the claims the paper makes of each. */
const SENSITIVITY_ROWS: readonly (readonly [workload: string, figure: string])[] = [
  ['netperf-tcp-stream', 'baseline.toBareMetal'],
  ['netperf-tcp-stream', 'eli.toBareMetal'],
  ['netperf-udp-rr', 'baseline.toBareMetal'],
  ['netperf-udp-rr', 'eli.toBareMetal'],
  ['apache', 'eli.toBaseline'],
  ['memcached', 'eli.toBaseline'],
];

/** Entries per figure in the root README's sensitivity table. */
const SENSITIVITY_TOP = 4;

/** Of `sensitivity`'s JSON: what ran, and the figures the table shows with their top entries. */
function sensitivityFields(results: unknown): unknown {
  const r = results as Record<string, unknown> & { readonly figures: readonly FigureSwings[] };
  return {
    profile: r.profile,
    seed: r.seed,
    durationMs: r.durationMs,
    warmupMs: r.warmupMs,
    figures: r.figures
      .filter((f) => SENSITIVITY_ROWS.some(([w, id]) => w === f.workload && id === f.figure))
      .map((f) => ({ ...f, ranking: f.ranking.slice(0, 10) })),
  };
}

/** The root README's sensitivity table: per chosen figure, its value and its top entries, each with the figure at the entry's low and high end. */
function sensitivityTable(kept: unknown): string {
  const { figures } = kept as { readonly figures: readonly FigureSwings[] };
  const show = (kind: string, x: number | null) =>
    x === null ? '—' : kind === 'percent' ? `${(x * 100).toFixed(1)}%` : `${x.toFixed(2)}×`;
  const title = (t: string) => t.replace(/^(eli[\w-]*)/, '`$1`');
  return [
    '| workload | figure (value) | top entries |',
    '| :--- | :--- | :--- |',
    ...SENSITIVITY_ROWS.map(([w, id]) => {
      const f = figures.find((x) => x.workload === w && x.figure === id);
      if (f === undefined) return `| ${WORKLOAD_NAMES[w] ?? w} | ${id} | — |`;
      const top = f.ranking
        .filter((s) => s.span !== null && s.span !== 0)
        .slice(0, SENSITIVITY_TOP)
        .map((s) => `\`${s.entry}\` ${show(f.kind, s.atLow)} → ${show(f.kind, s.atHigh)}`);
      return `| ${WORKLOAD_NAMES[w] ?? w} | ${title(f.title)} (${show(f.kind, f.base)}) | ${top.join('; ')} |`;
    }),
  ].join('\n');
}

const PROFILES_COMMAND = ['reproduce', '--profiles', 'xeon-x5570,xeon-skylake-sp', '--runs', '3'];

/** The modes the root README's two-profile table shows, in its order. */
const PROFILE_TABLE_MODES = ['baseline', 'eli', 'eli-guest-hlt', 'pv-eoi', 'posted', 'did'];

/**
 * A table of summaries over seeds, per profile × workload: each of `modes`' % of bare metal, ×
 * baseline and exits per assigned interrupt (means over the seeds; — where the run has no such
 * mode). The root README's two-profile table, and its tables of one profile with a setting changed.
 */
function profilesTable(modes: readonly string[]): (kept: unknown) => string {
  return (kept) => {
    const entries = kept as readonly SummaryEntry[];
    const rows = [...new Map(entries.map((e) => [`${e.profile}\u0000${e.workload}`, e])).values()];
    const cell = (profile: string, workload: string, mode: string) => {
      const e = entries.find((x) => x.profile === profile && x.workload === workload && x.mode === mode);
      if (e === undefined) return '—';
      const s = e.summary;
      return `${percent(s.toBareMetal?.mean ?? null)} · ${factor(s.toBaseline?.mean ?? null)} · ${s.exitsPerAssignedInterrupt?.mean.toFixed(2) ?? '—'}`;
    };
    return [
      `| profile | workload | ${modes.map((m) => `\`${m}\``).join(' | ')} |`,
      `| :--- | :--- | ${modes.map(() => '---:').join(' | ')} |`,
      ...rows.map(
        (r) =>
          `| ${r.profile} | ${r.workload} | ${modes.map((m) => cell(r.profile, r.workload, m)).join(' | ')} |`,
      ),
    ].join('\n');
  };
}

/** The share of ELI's gain as results.md has it, for the same runs. */
function profilesGainTable(kept: unknown): string {
  const table = gainTable(
    parseReproduceArgs(PROFILES_COMMAND.slice(1)),
    kept as readonly SummaryEntry[],
    SUMMARY_GAIN_VIEW,
  );
  return table === null
    ? '(no gain table: no baseline and eli runs)'
    : formatMarkdownTable(table.columns, table.rows).trimEnd();
}

/** The Nehalem's costs with Skylake's APICv and VT-d posting: a counterfactual the root README shows. */
const APICV_COMMAND = [
  'reproduce',
  '--profile',
  'xeon-x5570',
  '--set',
  'cpu.apicVirtualization=1',
  '--modes',
  'bare-metal,baseline,eli,posted',
  '--runs',
  '3',
];

/** The Skylake-SP profile without KVM's halt polling: what polling changes, in the root README. */
const NO_HALT_POLL_COMMAND = [
  'reproduce',
  '--profile',
  'xeon-skylake-sp',
  '--set',
  'host.haltPollNs=0',
  '--modes',
  'bare-metal,baseline,eli-delivery,eli,pv-eoi,posted',
  '--runs',
  '3',
];

const GAIN_COMMAND = ['reproduce', '--profiles', 'xeon-x5570,xeon-skylake-sp', '--duration', '50'];

/** Every figure the READMEs show from a run. */
export const FIGURES: readonly Figure[] = [
  {
    name: 'reproduce-x5570-runs5',
    command: ['reproduce', '--runs', '5'],
    keep: withoutRuns,
    render: (kept) => formatMarkdownTable(summaryColumns(), kept as readonly SummaryEntry[]).trimEnd(),
  },
  {
    name: 'run-udp-rr-baseline',
    command: RUN_COMMAND,
    output: 'stdout',
    keep: (report) => report,
    // What `exitless run` prints without --json: the same function, on the same report.
    render: (kept) => `\`\`\`text\n${formatRunReport(kept as RunReport)}\n\`\`\``,
  },
  {
    name: 'bench-kernel',
    command: ['pnpm', 'bench'],
    source: 'bench/results/kernel.json',
    keep: (results) => results,
    render: kernelTable,
  },
  {
    name: 'bench-machine',
    command: ['pnpm', 'bench'],
    source: 'bench/results/machine.json',
    keep: (results) => results,
    render: machineSpeedTable,
  },
  {
    name: 'bench-against',
    command: ['pnpm', 'bench', '--', '--against', 'DIR'],
    source: 'bench/results/against.json',
    keep: (results) => results,
    render: againstTable,
  },
  {
    name: 'reproduce-uncertainty-claims',
    command: ['reproduce', '--uncertainty', '50', '--modes', 'bare-metal,baseline,eli,eli-guest-hlt'],
    keep: bandFields,
    render: claimsTable,
  },
  {
    name: 'sensitivity-top-entries',
    command: ['sensitivity', '--modes', 'bare-metal,baseline,eli,eli-guest-hlt'],
    output: 'sensitivity.json',
    keep: sensitivityFields,
    render: sensitivityTable,
  },
  {
    name: 'bench-cli',
    command: ['pnpm', 'bench'],
    source: 'bench/results/cli.json',
    keep: (results) => results,
    render: (kept) => {
      const k = kept as {
        readonly results: readonly { command: string; seconds: number }[];
        readonly reproduce?: { jobs: number; seconds: number };
        readonly memory?: readonly { durationMs: number; maxRssBytes: number }[];
      };
      return [
        '| command | start to exit |',
        '| :--- | ---: |',
        ...k.results.map((r) => `| \`exitless ${r.command}\` (median) | ${r.seconds.toFixed(2)} s |`),
        ...(k.reproduce !== undefined
          ? [
              `| \`exitless reproduce --jobs ${k.reproduce.jobs}\` (every workload × mode) | ${k.reproduce.seconds.toFixed(1)} s |`,
            ]
          : []),
        ...(k.memory !== undefined && k.memory.length > 0
          ? [
              '',
              `Peak memory of one baseline run: ${k.memory.map((m) => `${Math.round(m.maxRssBytes / 2 ** 20)} MiB for ${m.durationMs} ms simulated`).join(', ')}.`,
            ]
          : []),
      ].join('\n');
    },
  },
  {
    name: 'sweep-tcp-stream',
    command: ['sweep'],
    output: 'sweep.json',
    keep: sweepFields,
    render: sweepTable,
  },
  {
    name: 'reproduce-runs5-bare-baseline',
    command: ['reproduce', '--runs', '5'],
    from: 'reproduce-x5570-runs5',
    keep: withoutRuns,
    render: runsStdout(['bare-metal', 'baseline'], 1, 5),
  },
  {
    name: 'sweep-tcp-stream-all',
    command: ['sweep'],
    output: 'sweep.json',
    from: 'sweep-tcp-stream',
    keep: sweepFields,
    render: sweepAllTable,
  },
  {
    name: 'reproduce-profiles-runs3',
    command: PROFILES_COMMAND,
    keep: withoutRuns,
    render: profilesTable(PROFILE_TABLE_MODES),
  },
  {
    name: 'reproduce-profiles-runs3-gain',
    command: PROFILES_COMMAND,
    from: 'reproduce-profiles-runs3',
    keep: withoutRuns,
    render: profilesGainTable,
  },
  {
    name: 'reproduce-x5570-apicv-runs3',
    command: APICV_COMMAND,
    keep: withoutRuns,
    render: profilesTable(['baseline', 'eli', 'posted']),
  },
  {
    name: 'reproduce-skylake-no-halt-poll-runs3',
    command: NO_HALT_POLL_COMMAND,
    keep: withoutRuns,
    render: profilesTable(['baseline', 'eli-delivery', 'eli', 'pv-eoi', 'posted']),
  },
  {
    name: 'reproduce-profiles-gain',
    command: GAIN_COMMAND,
    keep: gainFields,
    // What reproduce prints under its main table: the same function, on the same rows.
    render: (kept) => {
      const text = eliGainText(
        parseReproduceArgs(GAIN_COMMAND.slice(1)),
        kept as readonly ReproduceEntry[],
        RUN_GAIN_VIEW,
      );
      return `\`\`\`\n${text.trim()}\n\`\`\``;
    },
  },
];

/** One figure block of a README. */
export interface FigureBlock {
  /** The README, relative to the repository's root. */
  readonly file: string;
  readonly name: string;
  /** 1-based line of its opening marker. */
  readonly line: number;
  /** The text between the markers, without the newlines that end the markers. */
  readonly text: string;
}

const BLOCK = /<!-- figure: ([\w.-]+)(?: [^\n]*)? -->\n([\s\S]*?)\n?<!-- \/figure -->/g;

/** A marked place in a README: the key its opening marker names, its 1-based line, its content. */
export interface MarkedPlace {
  readonly key: string;
  readonly line: number;
  readonly text: string;
}

/** Every place `pattern` (global; group 1 the key, group 2 the content) marks in a README's text. */
export function markedPlaces(text: string, pattern: RegExp): MarkedPlace[] {
  return [...text.matchAll(pattern)].map((m) => ({
    key: m[1]!,
    line: text.slice(0, m.index).split('\n').length,
    text: m[2]!,
  }));
}

/**
 * What differs between the places `pattern` marks in the READMEs and what `expected` gives for
 * their keys: one line per place, `file:line: ` and either `expected`'s error or what `differs`
 * says; empty when none.
 */
export function checkMarkedPlaces(
  root: string,
  files: readonly string[],
  pattern: RegExp,
  expected: (key: string) => string,
  differs: (place: MarkedPlace, want: string) => string,
): string[] {
  const problems: string[] = [];
  for (const file of files) {
    for (const place of markedPlaces(readFileSync(join(root, file), 'utf8'), pattern)) {
      let want: string;
      try {
        want = expected(place.key);
      } catch (error) {
        problems.push(`${file}:${place.line}: ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      if (place.text !== want) problems.push(`${file}:${place.line}: ${differs(place, want)}`);
    }
  }
  return problems;
}

/** The figure blocks of a README's text. */
export function figureBlocks(file: string, text: string): FigureBlock[] {
  return markedPlaces(text, BLOCK).map((p) => ({ file, name: p.key, line: p.line, text: p.text }));
}

/** `text` with each figure block's content replaced by what `contentOf(name)` gives. */
export function withFigures(text: string, contentOf: (name: string) => string): string {
  return text.replace(BLOCK, (whole, name: string) => {
    const open = whole.slice(0, whole.indexOf('-->') + 3);
    return `${open}\n${contentOf(name)}\n<!-- /figure -->`;
  });
}

/** The READMEs that may hold figures, relative to `root`: its own, the apps', the packages' and the examples'. */
export function readmes(root: string): string[] {
  const under = (dir: string) =>
    readdirSync(join(root, dir), { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(root, dir, d.name, 'README.md')))
      .map((d) => `${dir}/${d.name}/README.md`)
      .sort();
  return ['README.md', ...under('apps'), ...under('packages'), 'examples/README.md'];
}

/** A figure's kept JSON in `root` (docs/figures, or its `source`); throws naming the figure when it has none. */
export function figureJson(root: string, name: string): unknown {
  const figure = FIGURES.find((f) => f.name === name);
  if (figure === undefined) {
    throw new Error(`no figure named '${name}': use one of ${FIGURES.map((f) => f.name).join(', ')}`);
  }
  const path = join(root, figure.source ?? join('docs', 'figures', `${figure.from ?? name}.json`));
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(
      `figure '${name}' has no readable JSON at ${relative(root, path)} (${error instanceof Error ? error.message : String(error)}): run ${figure.source !== undefined ? figure.command.join(' ') : `pnpm docs:figures --run ${name}`}`,
    );
  }
}

/** A figure's text from its kept JSON in `root`/docs/figures; throws naming the figure when it has none. */
export function renderFigure(root: string, name: string): string {
  const kept = figureJson(root, name);
  return FIGURES.find((f) => f.name === name)!.render(kept);
}

/** What differs between the READMEs' figure blocks and their JSON: one line per block, empty when none. */
export function checkFigures(root: string, files: readonly string[]): string[] {
  return checkMarkedPlaces(
    root,
    files,
    BLOCK,
    (name) => renderFigure(root, name),
    (block) =>
      `figure '${block.key}' is not what docs/figures/${block.key}.json gives: run pnpm docs:figures`,
  );
}
