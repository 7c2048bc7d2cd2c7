import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFigures, FIGURES, figureBlocks, readmes, renderFigure, withFigures } from '../src/figures.js';

const root = join(import.meta.dirname, '..', '..', '..');

describe('the READMEs’ figures from runs', () => {
  it('every figure block is what its JSON in docs/figures gives (pnpm docs:figures --check)', () => {
    expect(checkFigures(root, readmes(root))).toEqual([]);
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
