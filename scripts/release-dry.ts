// `pnpm release:dry`: everything a release does except publishing. Checks the repository
// fields, builds every publishable package, runs `changeset status`, shows the versions the
// release would publish, packs each package as `pnpm publish` would (workspace: ranges
// replaced) into out/release-dry/, and prints what each tarball holds. `--files` lists every
// file of every tarball. Exits non-zero if any step fails, so CI can run it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  changesetsFor,
  isFirstRelease,
  readChangesets,
  statusSince,
  unknownReleases,
} from './lib/changesets.js';
import { placeholderRefusal, repositoryProblems } from './lib/repository.js';
import { ROOT_DIR, readRootManifest, switchesOf, workspacePackages } from './lib/workspace.js';

const listFiles = switchesOf('release:dry', ['--files']).has('--files');

const outDir = join(ROOT_DIR, 'out', 'release-dry');
const failures: string[] = [];
const warnings: string[] = [];

function heading(text: string): void {
  console.log(`\n== ${text}`);
}

function run(cmd: string, cmdArgs: string[], capture = false): { ok: boolean; stdout: string } {
  console.log(`$ ${cmd} ${cmdArgs.join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, {
    cwd: ROOT_DIR,
    encoding: 'utf8',
    stdio: capture ? ['ignore', 'pipe', 'inherit'] : 'inherit',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { ok: r.status === 0, stdout: capture ? r.stdout : '' };
}

const packages = workspacePackages();
const publishable = packages.filter((p) => p.publishable);
const filters = publishable.flatMap((p) => ['--filter', p.name]);

heading('repository');
const root = readRootManifest();
const problems = repositoryProblems(root, packages);
for (const p of problems) failures.push(`repository: ${p}`);
const refusal = placeholderRefusal(root);
console.log(
  problems.length > 0
    ? problems.join('\n')
    : refusal === null
      ? `every publishable package names ${(root.repository as { url: string }).url}`
      : `consistent, but release:publish would refuse: ${refusal}`,
);

heading(`build (${publishable.length} packages)`);
if (!run('pnpm', ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only', ...filters]).ok) {
  failures.push('build failed');
}

heading('changeset status');
// Its one complaint a dry run does not fail on: a package changed since the base branch
// without a changeset (the release would still work, with a changelog that misses it).
// Unreadable changesets or unknown package names fail below, where they are read.
const since = statusSince(ROOT_DIR);
if (since.note !== null) console.log(since.note);
if (!run('pnpm', ['exec', 'changeset', 'status', ...since.args]).ok) {
  warnings.push(
    '`changeset status` failed (above): add a changeset for the change it names, or `pnpm changeset --empty`',
  );
}

heading('versions');
const changesets = readChangesets(ROOT_DIR);
for (const s of unknownReleases(changesets, packages))
  failures.push(`${s}, which is not a publishable package`);
const first = isFirstRelease(ROOT_DIR, packages);
if (first) {
  console.log(
    `First release (no package has a CHANGELOG.md): \`pnpm release:version\` keeps the versions below and folds the ${changesets.length} pending changesets into each package's CHANGELOG.md (the minor/major bumps \`changeset status\` lists above do not apply to it).`,
  );
  for (const pkg of publishable) {
    const entries = changesetsFor(pkg, changesets).length;
    console.log(
      `  ${pkg.name.padEnd(22)} ${pkg.version}  (${entries} changelog ${entries === 1 ? 'entry' : 'entries'})`,
    );
  }
} else if (changesets.length > 0) {
  console.log(
    '`pnpm release:version` (changeset version) would apply these; the tarballs below carry the versions as they are now:',
  );
  run('pnpm', ['exec', 'changeset', 'status', '--verbose', ...since.args]);
} else {
  console.log('No pending changesets: the versions below are what `pnpm release:publish` would publish.');
}

heading('pack');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
// After a failed build, dist/ may be half written: packing it would show files that are not
// what a release would publish.
const built = !failures.includes('build failed');
if (!built) console.log('skipped: the build failed');
const packed = built
  ? run('pnpm', ['-r', ...filters, 'pack', '--json', '--pack-destination', outDir], true)
  : { ok: true, stdout: '[]' };
interface Packed {
  readonly name: string;
  readonly version: string;
  readonly filename: string;
  readonly files: ReadonlyArray<{ readonly path: string }>;
}
let tarballs: Packed[] = [];
if (!packed.ok) {
  failures.push('pnpm pack failed');
} else {
  const parsed = JSON.parse(packed.stdout) as Packed | Packed[];
  tarballs = (Array.isArray(parsed) ? parsed : [parsed]).sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** The package.json inside a tarball: what the registry would get (workspace: ranges replaced). */
function packedManifest(tarball: string): Record<string, Record<string, string>> | null {
  const r = spawnSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' });
  return r.status === 0 ? (JSON.parse(r.stdout) as Record<string, Record<string, string>>) : null;
}

function summarizeFiles(files: ReadonlyArray<{ readonly path: string }>): string {
  const groups = new Map<string, number>();
  for (const f of files) {
    const slash = f.path.indexOf('/');
    const key = slash < 0 ? f.path : `${f.path.slice(0, slash)}/`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return [...groups].map(([k, n]) => (k.endsWith('/') ? `${k} (${n})` : k)).join(', ');
}

heading('would publish');
for (const t of tarballs) {
  const kib = (statSync(t.filename).size / 1024).toFixed(1);
  console.log(
    `${t.name}@${t.version}  ${t.files.length} files, ${kib} KiB  ${relative(ROOT_DIR, t.filename)}`,
  );
  console.log(`  files: ${summarizeFiles(t.files)}`);
  if (listFiles) for (const f of t.files) console.log(`    ${f.path}`);
  const manifest = packedManifest(t.filename);
  if (manifest === null) {
    console.log('  (tar could not read package/package.json; dependencies not shown)');
    continue;
  }
  const deps = Object.entries(manifest.dependencies ?? {});
  const internal = deps.filter(([name]) => name.startsWith('@exitless/'));
  if (internal.length > 0) console.log(`  depends on: ${internal.map(([n, v]) => `${n}@${v}`).join(', ')}`);
  for (const [field, ranges] of Object.entries(manifest)) {
    if (!/[dD]ependencies$/.test(field) || typeof ranges !== 'object') continue;
    for (const [name, range] of Object.entries(ranges)) {
      if (String(range).startsWith('workspace:') || String(range).startsWith('catalog:')) {
        failures.push(`${t.name}: ${field}.${name} is still ${range} in the tarball`);
      }
    }
  }
}
const missing = built ? publishable.filter((p) => !tarballs.some((t) => t.name === p.name)) : [];
for (const p of missing) failures.push(`${p.name} was not packed`);
writeFileSync(
  join(outDir, 'manifest.json'),
  `${JSON.stringify(
    {
      firstRelease: first,
      pendingChangesets: changesets.map((c) => c.id),
      repositoryPlaceholder: refusal !== null,
      packages: tarballs.map((t) => ({
        name: t.name,
        version: t.version,
        tarball: relative(ROOT_DIR, t.filename),
        files: t.files.map((f) => f.path),
      })),
    },
    null,
    2,
  )}\n`,
);
console.log(
  `\n${tarballs.length} packages packed into ${relative(ROOT_DIR, outDir)}/ (manifest.json lists every file)`,
);

for (const w of warnings) console.warn(`warning: ${w}`);
if (failures.length > 0) {
  heading('release:dry failed');
  for (const f of failures) console.error(`- ${f}`);
  process.exit(1);
}
console.log('release:dry: nothing was published.');
