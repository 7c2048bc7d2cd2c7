import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Changeset,
  changelogEntry,
  firstReleaseChangelog,
  isFirstRelease,
  readChangesets,
  unknownReleases,
} from '../lib/changesets.js';
import { ROOT_DIR, type WorkspacePackage, workspacePackages } from '../lib/workspace.js';

function pkg(name: string, dir: string): WorkspacePackage {
  return { dir, manifest: { name, version: '0.1.0' }, name, version: '0.1.0', publishable: true };
}

const lapic = pkg('@exitless/lapic', 'packages/lapic');
const changesets: Changeset[] = [
  {
    id: 'one',
    summary: 'First line.\nSecond line.\n\nA paragraph.',
    releases: [{ name: '@exitless/lapic', type: 'minor' }],
  },
  { id: 'two', summary: 'Other package.', releases: [{ name: '@exitless/nic', type: 'major' }] },
  { id: 'three', summary: 'Also the LAPIC.', releases: [{ name: '@exitless/lapic', type: 'patch' }] },
];

describe('the first release', () => {
  it("folds every changeset naming a package into its CHANGELOG.md under the package's own version", () => {
    expect(firstReleaseChangelog(lapic, changesets)).toBe(
      [
        '# @exitless/lapic',
        '',
        '## 0.1.0',
        '',
        'First release.',
        '',
        'What it contains, from the changesets written while it was developed:',
        '',
        '- First line.',
        '  Second line.',
        '',
        '  A paragraph.',
        '',
        '- Also the LAPIC.',
        '',
      ].join('\n'),
    );
  });

  it('gives a package no changeset names a bare first-release entry', () => {
    expect(firstReleaseChangelog(pkg('@exitless/net', 'packages/net'), changesets)).toBe(
      '# @exitless/net\n\n## 0.1.0\n\nFirst release.\n',
    );
  });

  it('writes entries as @changesets/cli/changelog does (a bullet, continuation lines indented)', () => {
    expect(changelogEntry('a\nb')).toBe('- a\n  b');
  });

  it('is the first release while no publishable package has a CHANGELOG.md', () => {
    const root = mkdtempSync(join(tmpdir(), 'exitless-release-'));
    mkdirSync(join(root, 'packages', 'lapic'), { recursive: true });
    expect(isFirstRelease(root, [lapic])).toBe(true);
    writeFileSync(join(root, 'packages', 'lapic', 'CHANGELOG.md'), '# @exitless/lapic\n');
    expect(isFirstRelease(root, [lapic])).toBe(false);
  });

  it('reads changesets with the parser changesets itself uses', () => {
    const root = mkdtempSync(join(tmpdir(), 'exitless-release-'));
    mkdirSync(join(root, '.changeset'));
    writeFileSync(join(root, '.changeset', 'README.md'), '# not a changeset\n');
    writeFileSync(
      join(root, '.changeset', 'b-change.md'),
      '---\n"@exitless/lapic": minor\n"@exitless/x86": patch\n---\n\nThe summary.\n',
    );
    expect(readChangesets(root)).toEqual([
      {
        id: 'b-change',
        summary: 'The summary.',
        releases: [
          { name: '@exitless/lapic', type: 'minor' },
          { name: '@exitless/x86', type: 'patch' },
        ],
      },
    ]);
  });
});

describe("this tree's pending changesets", () => {
  it('name only publishable packages', () => {
    expect(unknownReleases(readChangesets(ROOT_DIR), workspacePackages())).toEqual([]);
  });
});
