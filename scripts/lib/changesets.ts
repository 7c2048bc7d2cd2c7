import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { WorkspacePackage } from './workspace.js';

/** One pending changeset, as @changesets/read returns it. */
export interface Changeset {
  /** The file's name without `.md`. */
  readonly id: string;
  readonly summary: string;
  readonly releases: ReadonlyArray<{ readonly name: string; readonly type: string }>;
}

/**
 * The pending changesets: every `.changeset/*.md` but README.md, parsed by changesets' own
 * parser (@changesets/parse, which `changeset version` reads them with), oldest first by
 * the commit that added each file; files not committed yet come last, by name.
 */
export function readChangesets(root: string): Changeset[] {
  const fromCli = createRequire(createRequire(import.meta.url).resolve('@changesets/cli/package.json'));
  const fromRead = createRequire(fromCli.resolve('@changesets/read/package.json'));
  const mod = fromRead('@changesets/parse') as { default: Parse } | Parse;
  const parse = typeof mod === 'function' ? mod : mod.default;
  const dir = join(root, '.changeset');
  const ids = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.md') && f !== 'README.md')
        .map((f) => f.slice(0, -'.md'.length))
    : [];
  const changesets = ids.map((id) => ({ id, ...parse(readFileSync(join(dir, `${id}.md`), 'utf8')) }));
  const added = new Map(ids.map((id) => [id, addedAt(root, `.changeset/${id}.md`)]));
  return changesets.sort(
    (a, b) => added.get(a.id)! - added.get(b.id)! || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

type Parse = (text: string) => Omit<Changeset, 'id'>;

function addedAt(root: string, file: string): number {
  const git = spawnSync('git', ['log', '--diff-filter=A', '--format=%ct', '--', file], {
    cwd: root,
    encoding: 'utf8',
  });
  const times = git.status === 0 ? git.stdout.trim().split('\n').filter(Boolean).map(Number) : [];
  return times.length > 0 ? Math.min(...times) : Number.MAX_SAFE_INTEGER;
}

/**
 * The first release is the one before which no package has a CHANGELOG.md: `changeset
 * version` writes one into every package it versions, and so does the first-release fold.
 */
export function isFirstRelease(root: string, packages: readonly WorkspacePackage[]): boolean {
  return packages.filter((p) => p.publishable).every((p) => !existsSync(join(root, p.dir, 'CHANGELOG.md')));
}

/** One changeset's summary as a changelog entry, in the shape @changesets/cli/changelog writes. */
export function changelogEntry(summary: string): string {
  const [first = '', ...rest] = summary.trim().split('\n');
  return [`- ${first}`, ...rest.map((line) => (line.trim() === '' ? '' : `  ${line}`))].join('\n');
}

/**
 * A package's CHANGELOG.md for the first release: its version as committed, and every
 * pending changeset that names it, oldest first. Later `changeset version` runs add their
 * sections above this one, under the same `# name` heading.
 */
export function firstReleaseChangelog(pkg: WorkspacePackage, changesets: readonly Changeset[]): string {
  const mine = changesetsFor(pkg, changesets);
  const lines = [`# ${pkg.name}`, '', `## ${pkg.version}`, '', 'First release.'];
  if (mine.length > 0) {
    lines.push('', 'What it contains, from the changesets written while it was developed:', '');
    lines.push(mine.map((c) => changelogEntry(c.summary)).join('\n\n'));
  }
  return `${lines.join('\n')}\n`;
}

/** The changesets that release `pkg` (a `none` bump releases nothing). */
export function changesetsFor(pkg: WorkspacePackage, changesets: readonly Changeset[]): Changeset[] {
  return changesets.filter((c) => c.releases.some((r) => r.name === pkg.name && r.type !== 'none'));
}

/** Changesets naming a package that is not a publishable package of the workspace. */
export function unknownReleases(
  changesets: readonly Changeset[],
  packages: readonly WorkspacePackage[],
): string[] {
  const names = new Set(packages.filter((p) => p.publishable).map((p) => p.name));
  return changesets.flatMap((c) =>
    c.releases.filter((r) => !names.has(r.name)).map((r) => `.changeset/${c.id}.md names ${r.name}`),
  );
}

/**
 * The `--since` arguments for `changeset status`, which diffs against the config's
 * baseBranch and crashes when no such ref exists (a CI clone of one branch): then it
 * compares against origin's copy, or against HEAD itself, which still reads and checks
 * every pending changeset.
 */
export function statusSince(root: string): { args: string[]; note: string | null } {
  const config = JSON.parse(readFileSync(join(root, '.changeset', 'config.json'), 'utf8')) as {
    baseBranch?: string;
  };
  const base = config.baseBranch ?? 'main';
  const exists = (ref: string) =>
    spawnSync('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd: root }).status === 0;
  if (exists(base)) return { args: [], note: null };
  if (exists(`origin/${base}`)) return { args: ['--since', `origin/${base}`], note: null };
  return {
    args: ['--since', 'HEAD'],
    note: `(no '${base}' branch here: comparing with HEAD, so only the pending changesets are checked)`,
  };
}
