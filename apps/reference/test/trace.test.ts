import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/args.js';
import { traceCommand } from '../src/trace.js';

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
