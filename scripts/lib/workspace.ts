import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The monorepo's root: this file is scripts/lib/workspace.ts. */
export const ROOT_DIR: string = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Repository {
  readonly type?: string;
  readonly url?: string;
  readonly directory?: string;
}

export interface Manifest {
  readonly name?: string;
  readonly version?: string;
  readonly private?: boolean;
  readonly repository?: Repository | string;
  readonly [key: string]: unknown;
}

/** One package of the pnpm workspace. */
export interface WorkspacePackage {
  /** Its folder relative to the root, with forward slashes (`packages/lapic`). */
  readonly dir: string;
  readonly manifest: Manifest;
  readonly name: string;
  readonly version: string;
  /** Published to the registry: every workspace package that is not `private`. */
  readonly publishable: boolean;
}

export function readManifest(path: string): Manifest {
  return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
}

export function readRootManifest(root: string = ROOT_DIR): Manifest {
  return readManifest(join(root, 'package.json'));
}

/**
 * The folders pnpm-workspace.yaml lists under `packages:`. Only the two forms this
 * workspace uses are understood (`dir` and `dir/*`); anything else is an error rather
 * than a silently shorter list.
 */
export function workspaceGlobs(root: string = ROOT_DIR): string[] {
  const lines = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8').split('\n');
  const globs: string[] = [];
  let inPackages = false;
  for (const line of lines) {
    if (/^packages:\s*$/.test(line)) {
      inPackages = true;
      continue;
    }
    if (!inPackages) continue;
    const item = /^\s+-\s+['"]?([^'"#\s]+)['"]?\s*(#.*)?$/.exec(line);
    if (item) {
      globs.push(item[1]!);
      continue;
    }
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    break;
  }
  for (const glob of globs) {
    if (!/^[\w.-]+(\/[\w.-]+)*(\/\*)?$/.test(glob)) {
      throw new Error(`pnpm-workspace.yaml: the scripts understand 'dir' and 'dir/*' entries, not '${glob}'`);
    }
  }
  return globs;
}

/** Every package of the workspace (the root excluded), sorted by folder. */
export function workspacePackages(root: string = ROOT_DIR): WorkspacePackage[] {
  const dirs: string[] = [];
  for (const glob of workspaceGlobs(root)) {
    if (glob.endsWith('/*')) {
      const parent = glob.slice(0, -2);
      if (!existsSync(join(root, parent))) continue;
      for (const name of readdirSync(join(root, parent))) dirs.push(`${parent}/${name}`);
    } else {
      dirs.push(glob);
    }
  }
  return dirs
    .filter((dir) => existsSync(join(root, dir, 'package.json')))
    .sort()
    .map((dir) => {
      const manifest = readManifest(join(root, dir, 'package.json'));
      return {
        dir,
        manifest,
        name: manifest.name ?? dir,
        version: manifest.version ?? '0.0.0',
        publishable: manifest.private !== true,
      };
    });
}

export function publishablePackages(root: string = ROOT_DIR): WorkspacePackage[] {
  return workspacePackages(root).filter((p) => p.publishable);
}

/**
 * Replaces one top-level field of a package.json in place, keeping the file's other
 * text (key order, formatting) as it is: the field must already exist.
 */
export function replaceTopLevelField(path: string, field: string, value: unknown): boolean {
  const text = readFileSync(path, 'utf8');
  const parsed = JSON.parse(text) as Record<string, unknown>;
  if (!(field in parsed)) throw new Error(`${path} has no "${field}" field to replace`);
  if (JSON.stringify(parsed[field]) === JSON.stringify(value)) return false;
  const next = { ...parsed, [field]: value };
  const indent = /^(\s+)"/m.exec(text)?.[1] ?? '  ';
  writeFileSync(path, `${JSON.stringify(next, null, indent)}\n`);
  return true;
}

/**
 * The switches a script was given (`process.argv` after the script, `--` dropped), each one of
 * `known`; any other argument ends the script with code 2 and a line naming it and the known ones.
 */
export function switchesOf(script: string, known: readonly string[]): ReadonlySet<string> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const unknown = args.filter((a) => !known.includes(a));
  if (unknown.length > 0) {
    console.error(`${script}: unknown option ${unknown.join(' ')} (known: ${known.join(', ')})`);
    process.exit(2);
  }
  return new Set(args);
}
