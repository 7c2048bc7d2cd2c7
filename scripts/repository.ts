// `pnpm repository:check`: every publishable package's `repository` is the root's URL with the
// package's own folder as `directory`. `--for-publish` also fails while the URL is the
// placeholder. `pnpm repository:sync` (`--write`) copies the root's URL into every package.
import { join } from 'node:path';
import {
  expectedRepository,
  placeholderRefusal,
  repositoryProblems,
  rootRepositoryUrl,
} from './lib/repository.js';
import {
  ROOT_DIR,
  readRootManifest,
  replaceTopLevelField,
  switchesOf,
  workspacePackages,
} from './lib/workspace.js';

const args = switchesOf('repository', ['--write', '--for-publish']);

const root = readRootManifest();
if (args.has('--write')) {
  const rootUrl = rootRepositoryUrl(root);
  if ('error' in rootUrl) {
    console.error(`repository: ${rootUrl.error}`);
    process.exit(1);
  }
  for (const pkg of workspacePackages()) {
    if (!pkg.publishable) continue;
    const path = join(ROOT_DIR, pkg.dir, 'package.json');
    const changed = replaceTopLevelField(path, 'repository', expectedRepository(rootUrl.url, pkg.dir));
    console.log(`${changed ? 'updated  ' : 'unchanged'} ${pkg.dir}/package.json`);
  }
}

const problems = repositoryProblems(root, workspacePackages());
for (const p of problems) console.error(`repository: ${p}`);
if (problems.length > 0) {
  console.error(
    "repository: run `pnpm repository:sync` to copy the root package.json's URL into every package",
  );
  process.exit(1);
}
const refusal = placeholderRefusal(root);
if (refusal !== null && args.has('--for-publish')) {
  console.error(`repository: refusing to publish: ${refusal}`);
  process.exit(1);
}
const rootUrl = rootRepositoryUrl(root);
const url = 'url' in rootUrl ? rootUrl.url : '';
console.log(
  refusal === null
    ? `repository: every publishable package names ${url} with its own directory`
    : `repository: every publishable package names ${url} with its own directory; it is still the placeholder, so publishing is refused until it is set`,
);
