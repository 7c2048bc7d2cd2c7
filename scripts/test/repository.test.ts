import { describe, expect, it } from 'vitest';
import {
  expectedRepository,
  isPlaceholderUrl,
  PLACEHOLDER_REPOSITORY_URL,
  placeholderRefusal,
  repositoryProblems,
} from '../lib/repository.js';
import { publishablePackages, readRootManifest, type WorkspacePackage } from '../lib/workspace.js';

const root = readRootManifest();
const rootUrl = typeof root.repository === 'object' ? root.repository.url : undefined;

describe('the repository fields of the packages in this tree', () => {
  const packages = publishablePackages();

  it('finds every publishable package (packages/* and apps/* that are not private)', () => {
    expect(packages.length).toBeGreaterThanOrEqual(13);
    for (const p of packages) expect(p.dir).toMatch(/^(packages|apps)\/[\w-]+$/);
    expect(packages.map((p) => p.name)).toContain('@exitless/lapic');
    expect(packages.map((p) => p.name)).toContain('@exitless/cli');
  });

  it('has one URL, set in the root package.json', () => {
    expect(rootUrl).toMatch(/^git\+https:\/\//);
  });

  it.each(packages.map((p) => [p.dir, p] as const))(
    "%s names the root's URL and its own folder",
    (dir, p) => {
      expect(p.manifest.repository).toEqual({ type: 'git', url: rootUrl, directory: dir });
    },
  );

  it('has no problem repositoryProblems can see', () => {
    expect(repositoryProblems(root, packages)).toEqual([]);
  });
});

function pkg(dir: string, repository: unknown, isPrivate = false): WorkspacePackage {
  const manifest = { name: `@x/${dir.split('/')[1]}`, version: '0.1.0', private: isPrivate, repository };
  return {
    dir,
    manifest,
    name: manifest.name,
    version: '0.1.0',
    publishable: !isPrivate,
  } as WorkspacePackage;
}

describe('repositoryProblems', () => {
  const url = 'git+https://git.example.org/o/exitless.git';
  const fixtureRoot = { repository: { type: 'git', url } };

  it('accepts packages that name the root URL and their own folders', () => {
    const ok = [
      pkg('packages/a', expectedRepository(url, 'packages/a')),
      pkg('apps/b', expectedRepository(url, 'apps/b')),
    ];
    expect(repositoryProblems(fixtureRoot, ok)).toEqual([]);
  });

  it("names a package whose directory is another package's folder", () => {
    const wrong = pkg('packages/a', { type: 'git', url, directory: 'packages/b' });
    expect(repositoryProblems(fixtureRoot, [wrong])).toEqual([
      'packages/a/package.json: repository.directory is "packages/b", expected "packages/a"',
    ]);
  });

  it('names a package whose URL differs from the root, or that has no repository', () => {
    const stale = pkg('packages/a', {
      type: 'git',
      url: PLACEHOLDER_REPOSITORY_URL,
      directory: 'packages/a',
    });
    expect(repositoryProblems(fixtureRoot, [stale, pkg('packages/c', undefined)])).toEqual([
      `packages/a/package.json: repository.url is "${PLACEHOLDER_REPOSITORY_URL}", expected "${url}"`,
      `packages/c/package.json: "repository" must be ${JSON.stringify(expectedRepository(url, 'packages/c'))}`,
    ]);
  });

  it('leaves private packages alone', () => {
    expect(repositoryProblems(fixtureRoot, [pkg('bench/x', undefined, true)])).toEqual([]);
  });

  it('says where to set the URL when the root has none', () => {
    const [problem] = repositoryProblems({}, []);
    expect(problem).toContain('root package.json\'s "repository" field');
  });
});

describe('the placeholder', () => {
  it('is recognized, as is any other .invalid host', () => {
    expect(isPlaceholderUrl(PLACEHOLDER_REPOSITORY_URL)).toBe(true);
    expect(isPlaceholderUrl('git+https://git.example.invalid/o/exitless.git')).toBe(true);
    expect(isPlaceholderUrl('git+ssh://git@host.invalid/o/exitless.git')).toBe(true);
    expect(isPlaceholderUrl('git+https://github.com/o/exitless.git')).toBe(false);
    expect(isPlaceholderUrl('git+https://invalid.example.org/o/exitless.git')).toBe(false);
  });

  it('makes publishing refuse, with a message that says where to set the URL', () => {
    const refusal = placeholderRefusal({ repository: { type: 'git', url: PLACEHOLDER_REPOSITORY_URL } });
    expect(refusal).toContain(PLACEHOLDER_REPOSITORY_URL);
    expect(refusal).toContain('root package.json\'s "repository" field');
    expect(refusal).toContain('pnpm repository:sync');
    expect(
      placeholderRefusal({ repository: { type: 'git', url: 'git+https://github.com/o/exitless.git' } }),
    ).toBe(null);
  });
});
