import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The machine README's "Assembling a machine" teaches from these examples: each code block
 * after an `<!-- excerpt: examples/<file> -->` marker must appear verbatim in that file, so
 * the README cannot drift from code that typechecks and runs.
 */
const examples = join(import.meta.dirname, '..');
const readme = readFileSync(join(examples, '..', 'packages', 'machine', 'README.md'), 'utf8');
const excerpts = [...readme.matchAll(/<!-- excerpt: examples\/([\w./-]+) -->\n```ts\n([\s\S]*?)```/g)].map(
  ([, file, code]) => ({ file: file!, code: code! }),
);

describe('packages/machine/README.md', () => {
  it('quotes every example, and each excerpt has code', () => {
    const files = new Set(excerpts.map((e) => e.file));
    for (const file of [
      'smallest-board.ts',
      'two-guests-two-designs.ts',
      'own-lapic.ts',
      'own-nic.ts',
      'own-workload.ts',
      'test/own-nic.test.ts',
      'test/own-lapic.test.ts',
    ]) {
      expect(files).toContain(file);
    }
    for (const e of excerpts) expect(e.code.trim()).not.toBe('');
  });

  it.each(excerpts.map((e, i) => [i + 1, e.file, e.code] as const))(
    'excerpt %i appears verbatim in examples/%s',
    (_i, file, code) => {
      expect(readFileSync(join(examples, file), 'utf8')).toContain(code);
    },
  );
});
