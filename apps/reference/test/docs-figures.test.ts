import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkValues, evaluateValue, renderValue, valueMarkers, withValues } from '../src/figure-values.js';
import { checkFigures, FIGURES, figureBlocks, readmes, renderFigure, withFigures } from '../src/figures.js';

const root = join(import.meta.dirname, '..', '..', '..');

describe('the READMEs’ figures from runs', () => {
  it('every figure block is what its JSON in docs/figures gives (pnpm docs:figures --check)', () => {
    expect(checkFigures(root, readmes(root))).toEqual([]);
  });

  it('every value in the prose is what its JSON gives, and the READMEs have them', () => {
    expect(checkValues(root, readmes(root))).toEqual([]);
    const count = (file: string) => valueMarkers(file, readFileSync(join(root, file), 'utf8')).length;
    expect(count('README.md')).toBeGreaterThan(50);
    expect(count('apps/reference/README.md')).toBeGreaterThan(10);
  });

  it('every figure is shown somewhere, and its JSON says what ran', () => {
    const shown = readmes(root).flatMap((f) =>
      figureBlocks(f, readFileSync(join(root, f), 'utf8')).map((b) => b.name),
    );
    for (const figure of FIGURES) {
      expect(shown).toContain(figure.name);
      expect(renderFigure(root, figure.name).length).toBeGreaterThan(0);
    }
  });

  it('a block edited by hand, or naming no figure, is reported with its file and line; docs:figures writes it back', () => {
    const name = FIGURES[0]!.name;
    const good = renderFigure(root, name);
    const text = `# t\n\n<!-- figure: ${name} (written by pnpm docs:figures) -->\n${good.replace('100.0', '100.1')}\n<!-- /figure -->\n`;
    const blocks = figureBlocks('x.md', text);
    expect(blocks).toEqual([{ file: 'x.md', name, line: 3, text: good.replace('100.0', '100.1') }]);
    expect(blocks[0]!.text).not.toBe(good);
    const fixed = withFigures(text, (n) => renderFigure(root, n));
    expect(figureBlocks('x.md', fixed)[0]!.text).toBe(good);
    expect(() => renderFigure(root, 'no-such-figure')).toThrow(
      /no figure named 'no-such-figure': use one of /,
    );
  });
});

describe('values in the prose', () => {
  const runs = [
    {
      workload: 'a',
      mode: 'eli',
      s: { mean: 0.9645, byReason: { hlt: 79210 } },
      ends: { low: 0.61, high: 0.96 },
    },
    {
      workload: 'b',
      mode: 'eli',
      s: { mean: 0.991, byReason: { hlt: 6512 } },
      ends: { low: 0.38, high: 0.69 },
    },
    { workload: 'a', mode: 'baseline', s: { mean: 0.622, byReason: {} }, ends: { low: 0.5, high: 0.7 } },
  ];

  it('keeps the elements whose field has one of the values, goes down the path, and prints one number or their range', () => {
    expect(evaluateValue(runs, ['mode=eli', 'workload=a', 's.mean'], 'pct1')).toBe('96.5%');
    expect(evaluateValue(runs, ['mode=eli', 's.mean'], 'pct1')).toBe('96.5–99.1%');
    expect(evaluateValue(runs, ['workload=a,b', 'mode=eli', 's.byReason.hlt'], 'k0')).toBe('7–79 K');
    expect(evaluateValue(runs, ['mode=eli', 'ends.low,high'], 'pct0')).toBe('38–96%');
    // One number when every selected value prints the same.
    expect(evaluateValue([{ x: 3471.72 }, { x: 3471.74 }], ['x'], 'mbps1')).toBe('3,471.7 Mb/s');
    expect(evaluateValue({ list: runs }, ['list', 'mode'], 'count')).toBe('3');
    expect(evaluateValue({ t: 6.379 }, ['t'], 's1')).toBe('6.4 s');
  });

  it('says what is wrong with a query', () => {
    expect(() => evaluateValue(runs, ['mode=posted', 's.mean'], 'pct1')).toThrow(
      /no element has mode=posted/,
    );
    expect(() => evaluateValue(runs, ['mode=eli', 's.nothing'], 'pct1')).toThrow(
      /element 1 of 2 is undefined, not a number/,
    );
    expect(() => evaluateValue(runs, ['s.mean'], 'percent')).toThrow(
      /unknown format 'percent': use one of pct0/,
    );
    expect(() => renderValue(root, 'no-such-figure x n0')).toThrow(
      /value 'no-such-figure x n0': no figure named/,
    );
    expect(() => renderValue(root, 'pct1')).toThrow(/give a figure's name, the steps and a format/);
  });

  it('a value edited by hand is reported with its file and line; docs:figures writes it back', () => {
    const query = 'reproduce-x5570-runs5 mode=eli workload=apache summary.toBareMetal.mean pct1';
    const good = renderValue(root, query);
    const text = `# t\n\nELI gives <!-- value: ${query} -->100.0%<!-- /value --> on Apache.\n`;
    expect(valueMarkers('x.md', text)).toEqual([{ file: 'x.md', query, line: 3, text: '100.0%' }]);
    expect(good).not.toBe('100.0%');
    const fixed = withValues(text, (q) => renderValue(root, q));
    expect(valueMarkers('x.md', fixed)[0]!.text).toBe(good);
    expect(fixed).toBe(text.replace('100.0%', good));
  });
});
