import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/args.js';
import { parseTraceArgs, traceCommand } from '../src/trace.js';

describe('exitless trace', () => {
  it('writes a Chrome trace with guest spans and exit instants named by reason', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'exitless-trace-')), 'trace.json');
    // 1.2 ms: the load generator starts by 1 ms (500 µs plus its drawn phase of up to 500 µs).
    const r = traceCommand(['--mode', 'baseline', '--duration', '1', '--warmup', '0.2', '--out', out]);
    expect(r.events).toBeGreaterThan(10);
    expect(r.dropped).toBe(0);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as {
      traceEvents: Array<{ ph: string; name?: string }>;
    };
    const names = new Set(doc.traceEvents.filter((e) => e.ph === 'i').map((e) => e.name));
    expect(names.has('external-interrupt')).toBe(true);
    expect(names.has('wrmsr')).toBe(true);
    expect(doc.traceEvents.filter((e) => e.ph === 'B' && e.name === 'guest').length).toBeGreaterThan(5);
    // The same seed gives the same file.
    const again = join(mkdtempSync(join(tmpdir(), 'exitless-trace-')), 'trace.json');
    traceCommand(['--mode', 'baseline', '--duration', '1', '--warmup', '0.2', '--out', again]);
    expect(readFileSync(again, 'utf8')).toBe(readFileSync(out, 'utf8'));
  });

  it('rejects unknown modes', () => {
    expect(() => traceCommand(['--mode', 'nope'])).toThrow(UsageError);
  });
});

describe('exitless trace: the SVG timeline beside the trace', () => {
  /** One trace into a fresh directory: the result, the trace's records and the timeline's text. */
  function trace(args: readonly string[]) {
    const out = join(mkdtempSync(join(tmpdir(), 'exitless-timeline-')), 'trace.json');
    const result = traceCommand([...args, '--out', out]);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as {
      traceEvents: Array<{
        ph: string;
        tid: number;
        ts?: number;
        name?: string;
        args?: Record<string, unknown>;
      }>;
    };
    return { out, result, doc, svg: readFileSync(join(dirname(out), 'trace.svg'), 'utf8') };
  }

  /** The marks of one class in the timeline (`exit`, `guest`, `delivery injected`…). */
  const marks = (svg: string, cls: string) => svg.split(`class="${cls}"`).length - 1;

  // 1 ms after a 1 ms warm-up: the default window is simulated time 1000–1200 µs, when the
  // netperf load is flowing (it starts by 1 ms).
  const run = ['--duration', '1', '--warmup', '1'];

  it('is written beside the trace (trace.json → trace.svg): a lane per CPU, exits by reason, the same bytes twice', () => {
    const { out, result, doc, svg } = trace(['--mode', 'baseline', ...run]);
    expect(result.timeline).toBe(join(dirname(out), 'trace.svg'));
    expect(result.timelineWindow).toEqual({ startUs: 0, lengthUs: 200 });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('data-track="cpu0"');
    expect(svg).toContain('data-track="interrupt-bus"');
    expect(svg).toContain(
      'window 0–200 µs of the measured part (--timeline-window 0:200; simulated time 1000–1200 µs',
    );
    expect(svg).toContain('µs from the start of the window');
    // Every exit instant of the trace in the window is one exit mark, named by its reason.
    const exits = doc.traceEvents.filter(
      (e) => e.ph === 'i' && typeof e.args?.reason === 'number' && e.ts! >= 1000 && e.ts! < 1200,
    );
    expect(exits.length).toBeGreaterThan(2);
    expect(marks(svg, 'exit')).toBe(exits.length);
    for (const name of new Set(exits.map((e) => e.name))) {
      expect(svg).toContain(`data-reason="${name}"`);
      expect(svg).toMatch(new RegExp(`>${name} \\(\\d+\\)</text>`));
    }
    expect(svg).toContain('data-reason="external-interrupt"');
    expect(marks(svg, 'guest')).toBeGreaterThan(0);
    // Baseline: every interrupt reaches the host's IDT first and the guest by injection at VM entry.
    expect(marks(svg, 'delivery host-idt')).toBeGreaterThan(0);
    expect(marks(svg, 'delivery injected')).toBeGreaterThan(0);
    expect(marks(svg, 'delivery guest-idt')).toBe(0);
    expect(marks(svg, 'message msi')).toBeGreaterThan(0);
    // The same seed and options give the same bytes.
    expect(trace(['--mode', 'baseline', ...run]).svg).toBe(svg);
  });

  it('shows ELI delivering to the guest’s IDT without an exit', () => {
    const { svg } = trace(['--mode', 'eli', ...run]);
    expect(marks(svg, 'delivery guest-idt')).toBeGreaterThan(0);
    // The lane names the guest on the CPU and its mode.
    expect(svg).toMatch(/>guest 0<\/text><text [^>]*>eli<\/text>/);
  });

  it('has no guest time and no exit marks on bare metal, only deliveries to the host’s IDT', () => {
    const { svg } = trace(['--mode', 'bare-metal', ...run]);
    expect(svg).toContain('data-track="cpu0"');
    expect(marks(svg, 'exit')).toBe(0);
    expect(marks(svg, 'guest')).toBe(0);
    expect(marks(svg, 'delivery host-idt')).toBeGreaterThan(0);
    expect(marks(svg, 'delivery injected') + marks(svg, 'delivery guest-idt')).toBe(0);
    expect(svg).toContain('none in this window');
  });

  it('draws the window --timeline-window START_US:LENGTH_US names, and one lane per guest’s CPU', () => {
    const { doc, result, svg } = trace([
      '--mode',
      'baseline',
      '--set',
      'guests=2',
      ...run,
      '--timeline-window',
      '300:100',
    ]);
    expect(result.timelineWindow).toEqual({ startUs: 300, lengthUs: 100 });
    expect(svg).toContain(
      'window 300–400 µs of the measured part (--timeline-window 300:100; simulated time 1300–1400 µs',
    );
    expect(svg).toContain('data-track="cpu1"');
    const exits = doc.traceEvents.filter(
      (e) => e.ph === 'i' && typeof e.args?.reason === 'number' && e.ts! >= 1300 && e.ts! < 1400,
    );
    expect(marks(svg, 'exit')).toBe(exits.length);
  });

  it('rejects a window that is not START_US:LENGTH_US within --duration, naming the option', () => {
    for (const bad of [
      '200',
      'a:b',
      ':200',
      '0:',
      '-1:10',
      '0:0',
      '0:-5',
      '1:2:3',
      '0:Infinity',
      '900:200',
      '0:1001',
    ]) {
      expect(() => parseTraceArgs(['--duration', '1', '--timeline-window', bad]), bad).toThrow(UsageError);
      expect(() => parseTraceArgs(['--duration', '1', '--timeline-window', bad]), bad).toThrow(
        /^--timeline-window /,
      );
    }
    expect(() => parseTraceArgs(['--duration', '1', '--timeline-window', '900:200'])).toThrow(
      "--timeline-window 900:200 ends at 1100 µs, after the measured part's 1000 µs (--duration 1): give a window within 0:1000, or a longer --duration",
    );
    expect(parseTraceArgs(['--duration', '1', '--timeline-window', '800:200']).timelineWindow).toEqual({
      startUs: 800,
      lengthUs: 200,
    });
    expect(parseTraceArgs(['--duration', '0.3', '--timeline-window', '0.1:0.2']).timelineWindow).toEqual({
      startUs: 0.1,
      lengthUs: 0.2,
    });
    // The default window is cut to a shorter run.
    expect(parseTraceArgs(['--duration', '0.05']).timelineWindow).toEqual({ startUs: 0, lengthUs: 50 });
  });
});
