/**
 * The timeline `exitless trace` writes beside its Chrome trace: an SVG of a short window of
 * the run, one lane per CPU, that a person can read without a trace viewer. It is drawn from
 * the same Tracer records the trace file is written from (a TimelineSink beside the
 * ChromeTraceSink, through a TeeSink), so the machine runs once.
 *
 * What each CPU's trace track holds (packages/cpu): a `guest` span from each VM entry to the
 * next VM exit (SDM vol. 3 ch. 26–27); at each exit an instant named by its exit reason with
 * `{ reason }`; an instant `deliver` with `{ vector, guest }` for every interrupt delivered
 * through an IDT (SDM vol. 3 §6.12), `guest` true in VMX non-root operation; and
 * `posted-interrupt-processing` (SDM vol. 3 §29.6). The `pcie` track holds `msi-arrives`
 * (an MSI reaching the interrupt bus; its vector is bits 7:0 of the data, SDM vol. 3
 * §11.11.2) and the `interrupt-bus` track holds `ipi` with `{ vector, dest }`.
 */

import type { TraceArgs, TraceSink } from '@exitless/sim';
import { EXIT_REASON, exitReasonName } from '@exitless/x86';
import { UsageError } from './args.js';

// ---------------------------------------------------------------- the window

/** A window of a run, in µs from the start of its measured part (after the warm-up). */
export interface TimelineWindow {
  readonly startUs: number;
  readonly lengthUs: number;
}

/**
 * The first 200 µs of the measured part: at the default mode's rates (some tens of exits
 * per millisecond per CPU) a handful of exits, each far enough from the next to be seen.
 */
export const DEFAULT_TIMELINE_WINDOW: TimelineWindow = { startUs: 0, lengthUs: 200 };

/** A window as `--timeline-window` takes it: `START_US:LENGTH_US`. */
export function formatTimelineWindow(w: TimelineWindow): string {
  return `${w.startUs}:${w.lengthUs}`;
}

/**
 * `--timeline-window START_US:LENGTH_US` (absent: {@link DEFAULT_TIMELINE_WINDOW}, cut to the
 * run): a window that starts at or after the start of the measured part and ends by its end
 * (`--duration` ms later). Mistakes are UsageErrors that name the option and say what it takes.
 */
export function parseTimelineWindow(value: string | undefined, durationMs: number): TimelineWindow {
  const runUs = durationMs * 1000;
  if (value === undefined) {
    return { startUs: 0, lengthUs: Math.min(DEFAULT_TIMELINE_WINDOW.lengthUs, runUs) };
  }
  const shape = `--timeline-window takes START_US:LENGTH_US (µs from the start of the measured part, e.g. 0:200)`;
  const parts = value.split(':');
  if (parts.length !== 2) throw new UsageError(`${shape}, got '${value}'`);
  const number = (text: string) => (text.trim() === '' ? Number.NaN : Number(text));
  const startUs = number(parts[0]!);
  const lengthUs = number(parts[1]!);
  if (!Number.isFinite(startUs) || startUs < 0) {
    throw new UsageError(`${shape}: START_US must be a number ≥ 0, got '${parts[0]}'`);
  }
  if (!Number.isFinite(lengthUs) || lengthUs <= 0) {
    throw new UsageError(`${shape}: LENGTH_US must be a number > 0, got '${parts[1]}'`);
  }
  // A window that ends at the run's end may add up to a hair past it in binary (0.1 + 0.2).
  if (startUs + lengthUs > runUs + 1e-9 * Math.max(1, runUs)) {
    throw new UsageError(
      `--timeline-window ${value} ends at ${startUs + lengthUs} µs, after the measured part's ${runUs} µs (--duration ${durationMs}): give a window within 0:${runUs}, or a longer --duration`,
    );
  }
  return { startUs, lengthUs };
}

/** The timeline beside a trace file: `out/trace.json` gives `out/trace.svg` (any other name gains `.svg`). */
export function timelinePath(traceFile: string): string {
  return `${traceFile.replace(/\.json$/i, '')}.svg`;
}

// ---------------------------------------------------------------- collecting

/** How an interrupt reached a CPU's IDT. */
export type DeliveryKind = 'host-idt' | 'injected' | 'guest-idt' | 'posted';

/** A span of guest time on a CPU, clipped to the window (ps). */
export interface GuestBar {
  readonly track: string;
  readonly from: number;
  readonly to: number;
}

/** A VM exit (ps) and its basic exit reason (bits 15:0 of the exit-reason field). */
export interface ExitMark {
  readonly track: string;
  readonly time: number;
  readonly reason: number;
}

/** An interrupt delivery on a CPU (ps); `vector` is −1 for posted-interrupt processing. */
export interface DeliveryMark {
  readonly track: string;
  readonly time: number;
  readonly kind: DeliveryKind;
  readonly vector: number;
}

/** An interrupt message on the interrupt bus: an MSI from a device, or an IPI. */
export interface MessageMark {
  readonly kind: 'msi' | 'ipi';
  readonly time: number;
  readonly vector: number;
}

/** Sends every record to each of `sinks`, in order (the Tracer holds one sink). */
export class TeeSink implements TraceSink {
  constructor(private readonly sinks: readonly TraceSink[]) {}

  begin(track: string, name: string, time: number, args?: TraceArgs): void {
    for (const s of this.sinks) s.begin(track, name, time, args);
  }

  end(track: string, time: number): void {
    for (const s of this.sinks) s.end(track, time);
  }

  instant(track: string, name: string, time: number, args?: TraceArgs): void {
    for (const s of this.sinks) s.instant(track, name, time, args);
  }

  counter(track: string, name: string, time: number, value: number): void {
    for (const s of this.sinks) s.counter(track, name, time, value);
  }
}

/**
 * Keeps what the timeline draws of the window [`from`, `to`) ps, and nothing else: guest
 * spans (clipped to the window; one still open at the end runs to the window's end), exits,
 * deliveries and interrupt messages. A guest delivery that is a CPU's first record after a
 * VM entry at the same instant is an injection by that entry (SDM vol. 3 §26.6); any other
 * guest delivery went through the guest's IDT without an exit (ELI's shadow IDT, or virtual-
 * interrupt delivery, SDM vol. 3 §29.2).
 */
export class TimelineSink implements TraceSink {
  readonly bars: GuestBar[] = [];
  readonly exits: ExitMark[] = [];
  readonly deliveries: DeliveryMark[] = [];
  readonly messages: MessageMark[] = [];
  /** The open guest span's start on each CPU track. */
  private readonly open = new Map<string, number>();
  /** CPU tracks whose last record was a VM entry, with its time. */
  private readonly entered = new Map<string, number>();

  constructor(
    readonly from: number,
    readonly to: number,
  ) {}

  private inWindow(time: number): boolean {
    return time >= this.from && time < this.to;
  }

  begin(track: string, name: string, time: number): void {
    if (name !== 'guest') return;
    this.open.set(track, time);
    this.entered.set(track, time);
  }

  end(track: string, time: number): void {
    this.entered.delete(track);
    const start = this.open.get(track);
    if (start === undefined) return;
    this.open.delete(track);
    this.bar(track, start, time);
  }

  private bar(track: string, start: number, end: number): void {
    const from = Math.max(start, this.from);
    const to = Math.min(end, this.to);
    if (to > from) this.bars.push({ track, from, to });
  }

  instant(track: string, name: string, time: number, args?: TraceArgs): void {
    const entry = this.entered.get(track);
    this.entered.delete(track);
    if (!this.inWindow(time)) return;
    const number = (key: string) => (typeof args?.[key] === 'number' ? (args[key] as number) : -1);
    if (name === 'deliver') {
      const kind = args?.guest !== true ? 'host-idt' : entry === time ? 'injected' : 'guest-idt';
      this.deliveries.push({ track, time, kind, vector: number('vector') });
    } else if (name === 'posted-interrupt-processing') {
      this.deliveries.push({ track, time, kind: 'posted', vector: -1 });
    } else if (name === 'msi-arrives') {
      const data = number('data');
      this.messages.push({ kind: 'msi', time, vector: data < 0 ? -1 : data & 0xff });
    } else if (name === 'ipi') {
      this.messages.push({ kind: 'ipi', time, vector: number('vector') });
    } else if (typeof args?.reason === 'number') {
      this.exits.push({ track, time, reason: args.reason & 0xffff });
    }
  }

  counter(): void {}

  /** Closes the guest spans still open when the run ended at `end` (ps): they run to then. */
  finish(end: number): void {
    for (const [track, start] of [...this.open.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      this.bar(track, start, end);
    }
    this.open.clear();
  }
}

// ---------------------------------------------------------------- drawing

/** One CPU's lane: its trace track and what runs on it. */
export interface TimelineLane {
  /** The CPU's trace track (`cpu0`). */
  readonly track: string;
  /** The guest on it and the guest's mode (`guest 0`, `baseline`), or `bare metal`. */
  readonly detail: readonly string[];
  /** False on bare metal: no VMX, so no guest time and no exits to draw. */
  readonly virtualized: boolean;
}

/** What the chart says about the run it comes from. */
export interface TimelineMeta {
  readonly mode: string;
  readonly workload: string;
  readonly seed: number;
  readonly profile: string;
  readonly warmupMs: number;
  readonly window: TimelineWindow;
  readonly lanes: readonly TimelineLane[];
}

const WIDTH = 960;
const LEFT = 170;
const RIGHT = 24;
const PLOT = WIDTH - LEFT - RIGHT;
const TOP = 64;
const LANE = 58;
const MESSAGES = 30;
const FONT = 'font-family="sans-serif"';

/** Exit reasons' colours (Vega's tableau10), fixed so a reason looks the same in every timeline. */
const REASON_COLORS: ReadonlyMap<number, string> = new Map([
  [EXIT_REASON.EXTERNAL_INTERRUPT, '#e45756'],
  [EXIT_REASON.WRMSR, '#f58518'],
  [EXIT_REASON.HLT, '#4c78a8'],
  [EXIT_REASON.INTERRUPT_WINDOW, '#b279a2'],
  [EXIT_REASON.EPT_VIOLATION, '#eeca3b'],
  [EXIT_REASON.EXCEPTION_OR_NMI, '#ff9da6'],
  [EXIT_REASON.PREEMPTION_TIMER, '#72b7b2'],
  [EXIT_REASON.APIC_ACCESS, '#54a24b'],
  [EXIT_REASON.VIRTUALIZED_EOI, '#9d755d'],
  [EXIT_REASON.APIC_WRITE, '#bab0ac'],
]);
/** The other reasons' colours, by reason number. */
const OTHER_REASON_COLORS: readonly string[] = ['#17becf', '#bcbd22', '#8c564b', '#e377c2', '#7f7f7f'];

function reasonColor(reason: number): string {
  return REASON_COLORS.get(reason) ?? OTHER_REASON_COLORS[reason % OTHER_REASON_COLORS.length]!;
}

const GUEST_COLOR = '#c6dbef';
const MESSAGE_COLOR = '#555555';

/** Each delivery kind: its colour and what the legend calls it. */
const DELIVERY: Readonly<Record<DeliveryKind, { readonly color: string; readonly label: string }>> = {
  'host-idt': { color: '#222222', label: 'to the host’s IDT (VMX root, or bare metal)' },
  injected: { color: '#7b3294', label: 'injected by VM entry' },
  'guest-idt': { color: '#1a9850', label: 'to the guest’s IDT, no exit' },
  posted: { color: '#2166ac', label: 'posted-interrupt processing' },
};
const DELIVERY_KINDS: readonly DeliveryKind[] = ['host-idt', 'injected', 'guest-idt', 'posted'];

/** A number for SVG coordinates: at most two decimals, no trailing zeros. */
function n(value: number): string {
  return String(Math.round(value * 100) / 100);
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function hex(vector: number): string {
  return `0x${vector.toString(16).padStart(2, '0')}`;
}

/** A delivery's or message's shape centred on (x, y), as SVG. */
function shape(kind: DeliveryKind | 'msi' | 'ipi', x: number, y: number, color: string): string {
  switch (kind) {
    case 'host-idt':
      return `<circle cx="${n(x)}" cy="${n(y)}" r="3.5" fill="${color}"`;
    case 'injected':
      return `<rect x="${n(x - 3.5)}" y="${n(y - 3.5)}" width="7" height="7" fill="${color}"`;
    case 'guest-idt':
      return `<path d="M${n(x)},${n(y - 5)}l5,5l-5,5l-5,-5z" fill="${color}"`;
    case 'posted':
      return `<path d="M${n(x - 4)},${n(y)}h8M${n(x)},${n(y - 4)}v8" stroke="${color}" stroke-width="2" fill="none"`;
    case 'msi':
      return `<path d="M${n(x)},${n(y - 5)}l4.5,9h-9z" fill="${color}"`;
    case 'ipi':
      return `<path d="M${n(x - 3.5)},${n(y - 3.5)}l7,7M${n(x + 3.5)},${n(y - 3.5)}l-7,7" stroke="${color}" stroke-width="2" fill="none"`;
  }
}

/** A VM exit's mark at x in a lane at y: a triangle in the exits row and a line down through the guest row. */
function exitShape(x: number, y: number, color: string): string {
  return `<path d="M${n(x - 4)},${n(y + 4)}h8l-4,8zM${n(x)},${n(y + 12)}V${n(y + 36)}" fill="${color}" stroke="${color}"`;
}

/** Tick spacing for an axis `length` long: 1, 2 or 5 times a power of ten, about ten ticks. */
function tickStep(length: number): number {
  const raw = length / 10;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw * 0.999) ?? 10 * magnitude;
}

/** Text laid out in rows that wrap at the chart's width (widths estimated: ~6 px a character at 11 px). */
class Flow {
  x = 0;
  y: number;
  readonly parts: string[] = [];

  constructor(
    private readonly left: number,
    top: number,
  ) {
    this.x = left;
    this.y = top;
  }

  item(draw: (x: number, y: number) => string, label: string): void {
    const width = 16 + label.length * 6 + 18;
    if (this.x + width > WIDTH - RIGHT && this.x > this.left) {
      this.x = this.left;
      this.y += 18;
    }
    this.parts.push(
      draw(this.x + 6, this.y - 4),
      `<text x="${n(this.x + 16)}" y="${n(this.y)}" font-size="11">${xml(label)}</text>`,
    );
    this.x += width;
  }
}

/**
 * The timeline as an SVG document: title and subtitle (run and window), one lane per CPU
 * (exits above the guest-running bars, deliveries below), a lane of interrupt messages, the
 * time axis in µs from the start of the window, and a legend. Pure: the same records and
 * meta give the same bytes.
 */
export function timelineSvg(sink: TimelineSink, meta: TimelineMeta): string {
  const { startUs, lengthUs } = meta.window;
  const x = (time: number) => LEFT + ((time - sink.from) / (sink.to - sink.from)) * PLOT;
  const us = (time: number) => String(Math.round((time - sink.from) / 1e3) / 1e3);
  const laneTop = (i: number) => TOP + i * LANE;
  const messagesTop = laneTop(meta.lanes.length);
  const plotBottom = messagesTop + MESSAGES;
  const out: string[] = [];

  // Title, and the subtitle that states the window.
  const absolute = meta.warmupMs * 1000 + startUs;
  out.push(
    `<text x="${LEFT}" y="22" font-size="15" font-weight="bold">${xml(`Exits and interrupts per CPU: ${meta.mode}, ${meta.workload}, seed ${meta.seed}`)}</text>`,
    `<text x="${LEFT}" y="40" font-size="11" fill="#444444">${xml(
      `window ${startUs}–${startUs + lengthUs} µs of the measured part (--timeline-window ${formatTimelineWindow(meta.window)}; simulated time ${absolute}–${absolute + lengthUs} µs, after ${meta.warmupMs} ms warm-up); profile ${meta.profile}`,
    )}</text>`,
    `<text x="${LEFT}" y="54" font-size="11" fill="#444444">${xml(
      `${sink.exits.length} VM exits, ${sink.deliveries.length} interrupt deliveries, ${sink.messages.length} interrupt messages in the window`,
    )}</text>`,
  );

  // Grid and axis.
  const step = tickStep(lengthUs);
  const ticks: number[] = [];
  for (let k = 0; k * step <= lengthUs * (1 + 1e-9); k++) ticks.push(Number((k * step).toPrecision(12)));
  for (const t of ticks) {
    const tx = n(LEFT + (t / lengthUs) * PLOT);
    out.push(
      `<line x1="${tx}" y1="${TOP}" x2="${tx}" y2="${plotBottom}" stroke="#eeeeee"/>`,
      `<line x1="${tx}" y1="${plotBottom}" x2="${tx}" y2="${plotBottom + 5}" stroke="#888888"/>`,
      `<text x="${tx}" y="${plotBottom + 17}" font-size="11" text-anchor="middle">${t}</text>`,
    );
  }
  out.push(
    `<line x1="${LEFT}" y1="${plotBottom}" x2="${LEFT + PLOT}" y2="${plotBottom}" stroke="#888888"/>`,
    `<text x="${LEFT + PLOT / 2}" y="${plotBottom + 34}" font-size="12" text-anchor="middle">µs from the start of the window</text>`,
  );

  // One lane per CPU.
  meta.lanes.forEach((lane, i) => {
    const y = laneTop(i);
    const parts: string[] = [
      `<line x1="8" y1="${y}" x2="${LEFT + PLOT}" y2="${y}" stroke="#cccccc"/>`,
      `<text x="8" y="${y + 20}" font-size="12" font-weight="bold">${xml(lane.track)}</text>`,
      ...lane.detail.map(
        (d, j) => `<text x="8" y="${y + 34 + j * 12}" font-size="10" fill="#555555">${xml(d)}</text>`,
      ),
      ...(lane.virtualized
        ? [
            `<text x="${LEFT - 6}" y="${y + 12}" font-size="9" fill="#777777" text-anchor="end">exits</text>`,
            `<text x="${LEFT - 6}" y="${y + 30}" font-size="9" fill="#777777" text-anchor="end">guest runs</text>`,
          ]
        : [
            `<text x="${LEFT - 6}" y="${y + 30}" font-size="9" fill="#777777" text-anchor="end">no VMX: no guest, no exits</text>`,
          ]),
      `<text x="${LEFT - 6}" y="${y + 50}" font-size="9" fill="#777777" text-anchor="end">deliveries</text>`,
    ];
    for (const b of sink.bars) {
      if (b.track !== lane.track) continue;
      parts.push(
        `<rect class="guest" x="${n(x(b.from))}" y="${y + 20}" width="${n(Math.max(x(b.to) - x(b.from), 0.5))}" height="14" fill="${GUEST_COLOR}"><title>guest ran ${us(b.from)}–${us(b.to)} µs</title></rect>`,
      );
    }
    for (const e of sink.exits) {
      if (e.track !== lane.track) continue;
      const name = exitReasonName(e.reason);
      parts.push(
        `${exitShape(x(e.time), y, reasonColor(e.reason))} class="exit" data-reason="${name}"><title>VM exit: ${name} at ${us(e.time)} µs</title></path>`,
      );
    }
    for (const d of sink.deliveries) {
      if (d.track !== lane.track) continue;
      const what =
        d.vector < 0 ? DELIVERY[d.kind].label : `vector ${hex(d.vector)} ${DELIVERY[d.kind].label}`;
      const element = d.kind === 'host-idt' ? 'circle' : d.kind === 'injected' ? 'rect' : 'path';
      parts.push(
        `${shape(d.kind, x(d.time), y + 46, DELIVERY[d.kind].color)} class="delivery ${d.kind}"><title>${xml(`${what} at ${us(d.time)} µs`)}</title></${element}>`,
      );
    }
    out.push(`<g class="lane" data-track="${xml(lane.track)}">${parts.join('')}</g>`);
  });

  // Interrupt messages on the bus.
  const messages: string[] = [
    `<line x1="8" y1="${messagesTop}" x2="${LEFT + PLOT}" y2="${messagesTop}" stroke="#cccccc"/>`,
    `<text x="8" y="${messagesTop + 19}" font-size="12" font-weight="bold">interrupt bus</text>`,
    `<text x="${LEFT - 6}" y="${messagesTop + 19}" font-size="9" fill="#777777" text-anchor="end">MSIs, IPIs</text>`,
  ];
  for (const m of sink.messages) {
    const what = `${m.kind === 'msi' ? 'MSI arrives' : 'IPI'}${m.vector < 0 ? '' : `, vector ${hex(m.vector)}`}`;
    messages.push(
      `${shape(m.kind, x(m.time), messagesTop + 15, MESSAGE_COLOR)} class="message ${m.kind}"><title>${xml(`${what} at ${us(m.time)} µs`)}</title></path>`,
    );
  }
  out.push(`<g class="lane" data-track="interrupt-bus">${messages.join('')}</g>`);

  // Legend.
  const legendTop = plotBottom + 58;
  const flow = new Flow(LEFT, legendTop);
  out.push(`<text x="8" y="${legendTop}" font-size="11" font-weight="bold">marks</text>`);
  flow.item(
    (lx, ly) => `<rect x="${n(lx - 5)}" y="${n(ly - 5)}" width="10" height="10" fill="${GUEST_COLOR}"/>`,
    'guest running',
  );
  for (const kind of DELIVERY_KINDS) {
    flow.item(
      (lx, ly) => `${shape(kind, lx, ly, DELIVERY[kind].color)}/>`,
      `delivery ${DELIVERY[kind].label}`,
    );
  }
  flow.item((lx, ly) => `${shape('msi', lx, ly, MESSAGE_COLOR)}/>`, 'MSI arrives (from a device)');
  flow.item((lx, ly) => `${shape('ipi', lx, ly, MESSAGE_COLOR)}/>`, 'IPI');
  flow.x = LEFT;
  flow.y += 22;
  out.push(`<text x="8" y="${flow.y}" font-size="11" font-weight="bold">VM exits by reason</text>`);
  const counts = new Map<number, number>();
  for (const e of sink.exits) counts.set(e.reason, (counts.get(e.reason) ?? 0) + 1);
  const reasons = [...counts.keys()].sort((a, b) => (exitReasonName(a) < exitReasonName(b) ? -1 : 1));
  if (reasons.length === 0) {
    out.push(`<text x="${LEFT}" y="${flow.y}" font-size="11" fill="#555555">none in this window</text>`);
  }
  for (const reason of reasons) {
    flow.item(
      (lx, ly) => `<path d="M${n(lx - 4)},${n(ly - 4)}h8l-4,8z" fill="${reasonColor(reason)}"/>`,
      `${exitReasonName(reason)} (${counts.get(reason)})`,
    );
  }
  const height = flow.y + 16;

  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT}>
<rect width="${WIDTH}" height="${height}" fill="white"/>
${out.join('\n')}
${flow.parts.join('\n')}
</svg>
`;
}
