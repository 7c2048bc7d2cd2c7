/** The reports of `exitless sensitivity`: the summary on stdout, the Markdown, the CSV and the tornado panels. */
import type { TornadoPanel } from './charts.js';
import { type Column, grouped } from './format.js';
import type {
  FigureKind,
  FigureSwings,
  SensitivityOptions,
  SensitivityResult,
  Swing,
} from './sensitivity.js';

/** Entries per figure in the tornado charts and the Markdown tables. */
export const TORNADO_TOP = 15;
/** Entries per figure in the summary on stdout. */
export const TEXT_TOP = 5;

/** A figure's value as text: `94.2%`, `1.273×`, `60,447/s`. */
export function formatFigure(kind: FigureKind, x: number | null): string {
  if (x === null) return '—';
  if (kind === 'percent') return `${(x * 100).toFixed(2)}%`;
  if (kind === 'factor') return `${x.toFixed(3)}×`;
  return `${grouped(x)}/s`;
}

/** A change of a figure as text, signed: `+1.20 pp`, `-0.013×`, `+1,234/s`. */
export function formatEffect(kind: FigureKind, x: number | null): string {
  if (x === null) return '—';
  const sign = x > 0 ? '+' : x < 0 ? '-' : '±';
  const a = Math.abs(x);
  if (kind === 'percent') return `${sign}${(a * 100).toFixed(2)} pp`;
  if (kind === 'factor') return `${sign}${a.toFixed(3)}×`;
  return `${sign}${grouped(a)}/s`;
}

/** An entry's range as text: `1000–2000 cycles`. */
function rangeText(s: Pick<Swing, 'low' | 'high' | 'unit'>): string {
  return `${s.low}–${s.high} ${s.unit}`;
}

/** The stdout summary: per workload and figure, the base value and the top entries. */
export function sensitivityText(figures: readonly FigureSwings[], top: number = TEXT_TOP): string {
  const lines: string[] = [];
  let workload: string | null = null;
  for (const f of figures) {
    if (f.workload !== workload) {
      workload = f.workload;
      lines.push(`${workload}:`);
    }
    lines.push(`  ${f.title}: ${formatFigure(f.kind, f.base)} with the profile's values`);
    const shown = f.ranking.filter((s) => s.span !== null && s.span !== 0).slice(0, top);
    if (shown.length === 0) lines.push('    no entry moves it');
    for (const [i, s] of shown.entries()) {
      lines.push(
        `    ${i + 1}. ${s.entry} (${rangeText(s)}): ${formatFigure(f.kind, s.atLow)} at low, ${formatFigure(f.kind, s.atHigh)} at high (${formatEffect(f.kind, s.effect)})`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The tornado chart's panels of one workload: its figures, each with its top entries that move it. */
export function tornadoPanels(
  figures: readonly FigureSwings[],
  workload: string,
  top: number = TORNADO_TOP,
): TornadoPanel[] {
  return figures
    .filter((f) => f.workload === workload && f.base !== null)
    .map((f) => {
      const scale = (x: number) => (f.kind === 'percent' ? Math.round(x * 1e7) / 1e5 : x);
      const moving = f.ranking.filter(
        (s) => s.span !== null && s.span !== 0 && s.atLow !== null && s.atHigh !== null,
      );
      const shown = moving.slice(0, top);
      const still = f.ranking.filter((s) => s.span === 0).length;
      const unknown = f.ranking.filter((s) => s.span === null).length;
      const note = [
        `${formatFigure(f.kind, f.base)} with the profile's values; ${shown.length} of ${f.ranking.length} entries shown, ranked by |at high − at low|`,
        ...(still > 0 ? [`${still} do not move it`] : []),
        ...(unknown > 0 ? [`${unknown} unknown (failed runs)`] : []),
      ].join('; ');
      return {
        title: f.title,
        axis: f.kind === 'percent' ? `${f.title} (%)` : f.kind === 'factor' ? `${f.title} (×)` : f.title,
        base: scale(f.base!),
        format: f.kind === 'percent' ? '.1f' : f.kind === 'factor' ? '.3f' : '~s',
        bars: shown.map((s) => ({
          entry: `${s.entry} (${rangeText(s)})`,
          atLow: scale(s.atLow!),
          atHigh: scale(s.atHigh!),
        })),
        note,
      };
    });
}

/** The CSV: one row per workload × figure × entry, in rank order. */
export function swingRows(figures: readonly FigureSwings[]) {
  return figures.flatMap((f) => f.ranking.map((s, i) => ({ f, s, rank: i + 1 })));
}
export type SwingRow = ReturnType<typeof swingRows>[number];

/** The CSV's columns. */
export const SWING_CSV_COLUMNS: readonly Column<SwingRow>[] = [
  { header: 'workload', csv: 'workload', align: 'left', raw: (r) => r.f.workload },
  { header: 'figure', csv: 'figure', align: 'left', raw: (r) => r.f.figure },
  { header: 'rank', csv: 'rank', align: 'right', raw: (r) => r.rank },
  { header: 'entry', csv: 'entry', align: 'left', raw: (r) => r.s.entry },
  { header: 'unit', csv: 'unit', align: 'left', raw: (r) => r.s.unit },
  { header: 'value', csv: 'value', align: 'right', raw: (r) => r.s.value },
  { header: 'low', csv: 'low', align: 'right', raw: (r) => r.s.low },
  { header: 'high', csv: 'high', align: 'right', raw: (r) => r.s.high },
  { header: 'base', csv: 'base', align: 'right', raw: (r) => r.s.base },
  { header: 'at low', csv: 'at_low', align: 'right', raw: (r) => r.s.atLow },
  { header: 'at high', csv: 'at_high', align: 'right', raw: (r) => r.s.atHigh },
  { header: 'effect', csv: 'effect', align: 'right', raw: (r) => r.s.effect },
  { header: 'span', csv: 'span', align: 'right', raw: (r) => r.s.span },
  { header: 'rerun', csv: 'rerun', align: 'left', raw: (r) => String(r.s.rerun) },
];

/** The Markdown report: what ran, then per workload each figure's top entries and the tornado chart. */
export function sensitivityMarkdown(
  options: SensitivityOptions,
  figures: readonly FigureSwings[],
  profile: string,
  runs: SensitivityResult['runs'],
  top: number = TORNADO_TOP,
): string {
  const lines = [
    '# exitless sensitivity',
    '',
    `One entry of the calibration profile \`${profile}\` at a time at the low and at the high end of its range, ` +
      `every other entry at its value: ${options.entries.length} entries × ${options.workloads.length} workloads × ${options.modes.length} modes ` +
      `(${options.modes.join(', ')}), seed ${options.seed}, ${options.durationMs} ms measured after ${options.warmupMs} ms of warm-up per run. ` +
      `${runs.base} base runs and ${runs.rerun} re-runs; ${runs.reused} variations reused their base run, which never read the entry. ` +
      `“effect” is the figure with the entry at its high end minus the figure at its low end; entries are ranked by their span: how far apart the figure lies over the base and the two ends (max − min), which also counts an entry that moves it the same way at both ends.`,
    '',
  ];
  let workload: string | null = null;
  for (const f of figures) {
    if (f.workload !== workload) {
      workload = f.workload;
      lines.push(
        `## ${workload}`,
        '',
        `![Tornado chart](tornado-${workload.replace(/[^A-Za-z0-9_-]/g, '-')}.svg)`,
        '',
      );
    }
    const shown = f.ranking.filter((s) => s.span !== null && s.span !== 0).slice(0, top);
    lines.push(`### ${f.title}: ${formatFigure(f.kind, f.base)}`, '');
    if (shown.length === 0) {
      lines.push('No entry moves it.', '');
      continue;
    }
    lines.push(
      '| rank | entry | range | at low | at high | effect |',
      '| ---: | :--- | :--- | ---: | ---: | ---: |',
    );
    for (const [i, s] of shown.entries()) {
      lines.push(
        `| ${i + 1} | \`${s.entry}\` | ${rangeText(s)} | ${formatFigure(f.kind, s.atLow)} | ${formatFigure(f.kind, s.atHigh)} | ${formatEffect(f.kind, s.effect)} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}
