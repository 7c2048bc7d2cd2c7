import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Every TypeScript example in the repository's READMEs is code that typechecks and runs: each
 * ```ts block is preceded by an `<!-- excerpt: <path> -->` marker (a path from the repository's
 * root) and appears verbatim in that file, so the README cannot drift from the code. A block
 * that cannot be a program (a type signature listing) says so with `<!-- signature -->`.
 */
const root = join(import.meta.dirname, '..', '..');

function readmesUnder(folder: string): string[] {
  const dir = join(root, folder);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((name) => join(folder, name, 'README.md'))
    .filter((path) => existsSync(join(root, path)));
}

const readmes = ['README.md', 'examples/README.md', ...readmesUnder('packages'), ...readmesUnder('apps')];

interface Block {
  readonly readme: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The marker line before the fence ('' when there is none). */
  readonly marker: string;
  readonly code: string;
}

/** The ```ts (or ```typescript) blocks of a README, with the line just before each. */
function tsBlocks(readme: string): Block[] {
  const lines = readFileSync(join(root, readme), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)(`{3,}|~{3,})\s*(\S*)/.exec(lines[i]!);
    if (fence === null) continue;
    const [, indent, ticks, lang] = fence;
    let end = i + 1;
    while (end < lines.length && !lines[end]!.startsWith(`${indent}${ticks}`)) end++;
    if (['ts', 'typescript', 'tsx'].includes(lang!.toLowerCase())) {
      let m = i - 1;
      while (m >= 0 && lines[m]!.trim() === '') m--;
      blocks.push({
        readme,
        line: i + 1,
        marker: m >= 0 ? lines[m]!.trim() : '',
        code: `${lines.slice(i + 1, end).join('\n')}\n`,
      });
    }
    i = end;
  }
  return blocks;
}

const blocks = readmes.flatMap(tsBlocks);
const EXCERPT = /^<!-- excerpt: ([\w./-]+) -->$/;
const SIGNATURE = '<!-- signature -->';

describe('README code blocks', () => {
  it('finds the READMEs and their blocks', () => {
    expect(readmes).toContain('packages/machine/README.md');
    expect(readmes).toContain('apps/reference/README.md');
    expect(blocks.length).toBeGreaterThan(20);
  });

  it.each(blocks.map((b) => [`${b.readme}:${b.line}`, b] as const))(
    '%s is an excerpt of a file that exists (or a marked signature)',
    (_where, b) => {
      if (b.marker === SIGNATURE) return;
      const m = EXCERPT.exec(b.marker);
      expect(m, `a ts block needs <!-- excerpt: <path> --> (or ${SIGNATURE}) before it`).not.toBeNull();
      const file = join(root, m![1]!);
      expect(existsSync(file), `${m![1]} exists`).toBe(true);
      expect(b.code.trim()).not.toBe('');
      expect(readFileSync(file, 'utf8')).toContain(b.code);
    },
  );

  it('the machine README quotes every example of the board API', () => {
    const files = new Set(
      blocks.filter((b) => b.readme === 'packages/machine/README.md').map((b) => EXCERPT.exec(b.marker)?.[1]),
    );
    for (const file of [
      'smallest-board.ts',
      'two-guests-two-designs.ts',
      'own-lapic.ts',
      'own-nic.ts',
      'own-workload.ts',
      'test/own-nic.test.ts',
      'test/own-lapic.test.ts',
    ]) {
      expect(files).toContain(`examples/${file}`);
    }
  });
});
