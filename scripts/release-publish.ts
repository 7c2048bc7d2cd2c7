// `pnpm release:publish`: publishes what `pnpm release:version` versioned. Refuses while the
// repository URL is the placeholder or while changesets are still pending (versions not yet
// applied); then builds every package and runs `changeset publish`, which publishes each
// package whose version is not on the registry yet and tags it. Extra arguments go to
// `changeset publish` (`--otp CODE`, `--tag next`).
import { spawnSync } from 'node:child_process';
import { readChangesets } from './lib/changesets.js';
import { placeholderRefusal, repositoryProblems } from './lib/repository.js';
import { ROOT_DIR, readRootManifest, workspacePackages } from './lib/workspace.js';

const passThrough = process.argv.slice(2).filter((a) => a !== '--');

function refuse(message: string): never {
  console.error(`release:publish: refusing to publish: ${message}`);
  process.exit(1);
}

const root = readRootManifest();
const problems = repositoryProblems(root, workspacePackages());
if (problems.length > 0) refuse(`${problems.join('; ')} (run \`pnpm repository:sync\`)`);
const placeholder = placeholderRefusal(root);
if (placeholder !== null) refuse(placeholder);

const pending = readChangesets(ROOT_DIR);
if (pending.length > 0) {
  refuse(
    `${pending.length} changesets are pending (${pending.map((c) => c.id).join(', ')}): run \`pnpm release:version\` and commit its result first`,
  );
}

function step(title: string, cmd: string, args: string[]): void {
  console.log(`\nrelease:publish: ${title}: ${cmd} ${args.join(' ')}`);
  const run = spawnSync(cmd, args, { cwd: ROOT_DIR, stdio: 'inherit' });
  if (run.status !== 0) refuse(`${title} failed`);
}

step('build', 'pnpm', ['exec', 'turbo', 'run', 'build']);
step('check the packages', 'pnpm', ['exec', 'turbo', 'run', 'publint']);
step('publish', 'pnpm', ['exec', 'changeset', 'publish', ...passThrough]);
console.log('\nrelease:publish: done; push the tags it made: git push --follow-tags');
