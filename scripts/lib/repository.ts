import type { Manifest, Repository, WorkspacePackage } from './workspace.js';

/**
 * The project has no public host yet. Until it has, every package.json names this URL:
 * `.invalid` is reserved (RFC 2606 §2) and can never resolve, so a published package
 * could only ever point nowhere.
 */
export const PLACEHOLDER_REPOSITORY_URL = 'git+https://example.invalid/exitless.git';

/** Where the one configured value lives, as the messages say it. */
export const WHERE_TO_SET =
  'set it once in the root package.json\'s "repository" field ({ "type": "git", "url": "git+https://HOST/OWNER/exitless.git" }), then run `pnpm repository:sync`';

/** True when `url` is the placeholder or any other address on the reserved `.invalid` domain. */
export function isPlaceholderUrl(url: string): boolean {
  if (url === PLACEHOLDER_REPOSITORY_URL) return true;
  const host = /^(?:git\+)?[a-z+]+:\/\/(?:[^@/]+@)?([^/:]+)/i.exec(url)?.[1];
  return host !== undefined && (host === 'invalid' || host.toLowerCase().endsWith('.invalid'));
}

/** The root's repository URL, or an error message saying where to set it. */
export function rootRepositoryUrl(root: Manifest): { url: string } | { error: string } {
  const repo = root.repository;
  const url = typeof repo === 'string' ? repo : repo?.url;
  if (url === undefined || url === '') {
    return { error: `the root package.json has no repository URL: ${WHERE_TO_SET}` };
  }
  return { url };
}

/** What a package's `repository` field must be: the root's URL and the package's own folder. */
export function expectedRepository(rootUrl: string, dir: string): Required<Repository> {
  return { type: 'git', url: rootUrl, directory: dir };
}

/** Every difference between the packages' `repository` fields and what the root says. */
export function repositoryProblems(root: Manifest, packages: readonly WorkspacePackage[]): string[] {
  const rootUrl = rootRepositoryUrl(root);
  if ('error' in rootUrl) return [rootUrl.error];
  const problems: string[] = [];
  for (const pkg of packages) {
    if (!pkg.publishable) continue;
    const want = expectedRepository(rootUrl.url, pkg.dir);
    const have = pkg.manifest.repository;
    if (have === undefined || typeof have === 'string') {
      problems.push(`${pkg.dir}/package.json: "repository" must be ${JSON.stringify(want)}`);
      continue;
    }
    for (const key of ['type', 'url', 'directory'] as const) {
      if (have[key] !== want[key]) {
        problems.push(
          `${pkg.dir}/package.json: repository.${key} is ${JSON.stringify(have[key])}, expected ${JSON.stringify(want[key])}`,
        );
      }
    }
  }
  return problems;
}

/** The message a publish gets while the URL is still the placeholder, or null when it is real. */
export function placeholderRefusal(root: Manifest): string | null {
  const rootUrl = rootRepositoryUrl(root);
  if ('error' in rootUrl) return rootUrl.error;
  if (!isPlaceholderUrl(rootUrl.url)) return null;
  return `the repository URL is still the placeholder ${rootUrl.url}: ${WHERE_TO_SET}`;
}
