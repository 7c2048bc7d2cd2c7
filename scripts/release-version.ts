// `pnpm release:version`: turns the pending changesets into versions and changelogs.
//
// The first release keeps the versions the packages have (0.1.0): the changesets written
// before it describe how the code got there, not changes a user of an earlier release would
// see, so they are folded into each package's CHANGELOG.md under that version and removed,
// and `changeset publish` then publishes the versions as committed (the changesets docs'
// "publishing for the first time"). Every later release is plain `changeset version`.
// `--dry-run` prints what would be written and changes nothing.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  changesetsFor,
  firstReleaseChangelog,
  isFirstRelease,
  readChangesets,
  statusSince,
  unknownReleases,
} from './lib/changesets.js';
import { ROOT_DIR, switchesOf, workspacePackages } from './lib/workspace.js';

const dryRun = switchesOf('release:version', ['--dry-run']).has('--dry-run');

const packages = workspacePackages();
const publishable = packages.filter((p) => p.publishable);

if (!isFirstRelease(ROOT_DIR, packages)) {
  console.log(
    'release:version: a package has a CHANGELOG.md, so this is not the first release: changeset version',
  );
  const cmd = dryRun
    ? ['exec', 'changeset', 'status', '--verbose', ...statusSince(ROOT_DIR).args]
    : ['exec', 'changeset', 'version'];
  const run = spawnSync('pnpm', cmd, { cwd: ROOT_DIR, stdio: 'inherit' });
  process.exit(run.status ?? 1);
}

const changesets = readChangesets(ROOT_DIR);
const strays = unknownReleases(changesets, packages);
if (strays.length > 0) {
  for (const s of strays) console.error(`release:version: ${s}, which is not a publishable package`);
  process.exit(1);
}

console.log(
  `release:version: first release (no package has a CHANGELOG.md yet): versions stay as committed; ${changesets.length} pending changesets are folded into each package's CHANGELOG.md${dryRun ? ' (dry run: nothing written)' : ''}`,
);
for (const pkg of publishable) {
  const text = firstReleaseChangelog(pkg, changesets);
  const entries = changesetsFor(pkg, changesets).length;
  console.log(
    `  ${pkg.name}@${pkg.version}  ${pkg.dir}/CHANGELOG.md  (${entries} ${entries === 1 ? 'entry' : 'entries'})`,
  );
  if (!dryRun) writeFileSync(join(ROOT_DIR, pkg.dir, 'CHANGELOG.md'), text);
}
for (const c of changesets) {
  if (!dryRun) rmSync(join(ROOT_DIR, '.changeset', `${c.id}.md`));
}
console.log(
  dryRun
    ? `  would remove ${changesets.length} changesets from .changeset/`
    : `  removed ${changesets.length} changesets from .changeset/; review the CHANGELOG.md files, commit, then \`pnpm release:publish\``,
);
