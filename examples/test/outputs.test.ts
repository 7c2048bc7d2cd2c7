import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ExampleOptions } from '../common.js';

/**
 * What a README says an example prints: a code block right after `<!-- output: <file> -->` is
 * the lines that file's `main` prints with its default options (50 ms measured after 10 ms of
 * warm-up), exactly — so a README cannot show output its example no longer gives.
 */
const root = join(import.meta.dirname, '..', '..');
const readmes = [
  'README.md',
  'examples/README.md',
  ...['packages', 'apps'].flatMap((dir) =>
    readdirSync(join(root, dir), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => `${dir}/${d.name}/README.md`)
      .filter((f) => {
        try {
          readFileSync(join(root, f));
          return true;
        } catch {
          return false;
        }
      }),
  ),
];

interface Output {
  readonly readme: string;
  readonly line: number;
  readonly example: string;
  readonly text: string;
}

const outputs: Output[] = readmes.flatMap((readme) => {
  const text = readFileSync(join(root, readme), 'utf8');
  return [...text.matchAll(/<!-- output: ([\w./-]+) -->\n```\w*\n([\s\S]*?)```/g)].map((m) => ({
    readme,
    line: text.slice(0, m.index).split('\n').length,
    example: m[1]!,
    text: m[2]!,
  }));
});

/** A line the README quotes inline: the first code span after `<!-- output-line: <file> -->` is one of the lines that file's `main` prints. */
const quotedLines: Output[] = readmes.flatMap((readme) => {
  const text = readFileSync(join(root, readme), 'utf8');
  return [...text.matchAll(/<!-- output-line: ([\w./-]+) -->\n[^`]*`([^`]+)`/g)].map((m) => ({
    readme,
    line: text.slice(0, m.index).split('\n').length,
    example: m[1]!,
    text: m[2]!,
  }));
});

/** The lines an example's `main` prints with its default options. */
async function printed(example: string): Promise<string[]> {
  const module = (await import(pathToFileURL(join(root, example)).href)) as {
    main: (options: ExampleOptions) => unknown;
  };
  const lines: string[] = [];
  await module.main({ log: (line) => lines.push(line) });
  return lines;
}

describe('what the READMEs say the examples print', () => {
  it('finds the output blocks and the quoted lines', () => {
    expect(outputs.length).toBeGreaterThanOrEqual(8);
    expect(quotedLines.length).toBeGreaterThanOrEqual(5);
  });

  it.each(outputs.map((o) => [`${o.readme}:${o.line}`, o] as const))(
    '%s is what its example prints',
    async (_where, o) => {
      expect(`${(await printed(o.example)).join('\n')}\n`).toBe(o.text);
    },
    60_000,
  );

  it.each(quotedLines.map((o) => [`${o.readme}:${o.line}`, o] as const))(
    '%s quotes a line its example prints',
    async (_where, o) => {
      expect(await printed(o.example)).toContain(o.text);
    },
    60_000,
  );
});
