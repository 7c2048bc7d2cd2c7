import { closeSync, existsSync, mkdirSync, openSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './args.js';

/** An error's system code (`ENOENT`, `EACCES`…), or '' for an error without one. */
function codeOf(error: unknown): string {
  const code = error instanceof Error ? Reflect.get(error, 'code') : undefined;
  return typeof code === 'string' ? code : '';
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A path on the way to an output directory that exists and is not a directory: a Node-style
 * system error (ENOTDIR, from mkdir), so that a caller that reports system errors reports it.
 */
export class NotADirectoryError extends Error {
  readonly code = 'ENOTDIR';
  readonly syscall = 'mkdir';
  /** The path that is not a directory: the directory wanted, or one of its parents. */
  readonly path: string;
  constructor(path: string) {
    super(`ENOTDIR: not a directory, mkdir '${path}'`);
    this.name = 'NotADirectoryError';
    this.path = path;
  }
}

/**
 * Creates `dir` and its missing parents (mkdir -p), one level at a time. Not
 * `mkdir(dir, { recursive: true })`: under /proc that one never returns (mkdir there says
 * ENOENT though the parent exists, and Node's recursive mkdir retries forever). Throws the
 * system error of the first mkdir that fails, or a NotADirectoryError for a path on the way
 * that is a file.
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  let path = resolve(dir);
  for (;;) {
    let directory: boolean;
    try {
      directory = statSync(path).isDirectory();
    } catch (error) {
      // ENOTDIR: a parent is a file, which the walk up finds and names.
      if (codeOf(error) !== 'ENOENT' && codeOf(error) !== 'ENOTDIR') throw error;
      const parent = dirname(path);
      if (parent === path) throw error;
      missing.push(path);
      path = parent;
      continue;
    }
    if (!directory) throw new NotADirectoryError(path);
    break;
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p);
    } catch (error) {
      // Another process made it in between: as good as this one.
      if (codeOf(error) !== 'EEXIST' || !isDirectory(p)) throw error;
    }
  }
}

/**
 * The UsageError for an output path the system refuses, naming the option, what it accepts and
 * what was given: `kind` is what `given` names, a directory or a file.
 */
function outputError(option: string, given: string, kind: 'directory' | 'file', error: unknown): UsageError {
  if (error instanceof NotADirectoryError) {
    const what =
      kind === 'directory' && error.path === resolve(given)
        ? 'which is a file'
        : `but '${error.path}' is a file, not a directory`;
    return new UsageError(`${option} must name a ${kind}, got '${given}', ${what}`);
  }
  const message = error instanceof Error ? error.message : String(error);
  const accepts =
    kind === 'directory'
      ? 'a directory this command can create and write files in'
      : 'a file this command can create or write';
  return new UsageError(`${option} must name ${accepts}, got '${given}' (${message})`);
}

/**
 * Makes sure the command can write its files into `dir` before it runs anything: creates the
 * directory (and its parents) and writes and removes a probe file there. Whatever the system
 * refuses — a file where the directory should be, a directory not writable, a place that cannot
 * hold files such as /proc — is a UsageError naming `option`, so that a mistyped --out fails in
 * a second rather than after every run.
 */
export function prepareOutputDir(dir: string, option = '--out'): void {
  try {
    makeDirectory(dir);
    const probe = join(dir, `.exitless-probe-${process.pid}`);
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (error) {
    if (codeOf(error) === '') throw error;
    throw outputError(option, dir, 'directory', error);
  }
}

/**
 * Makes sure the command can write `file` before it runs anything: creates its directory and
 * opens the file for appending (which changes nothing in a file that exists; one it creates is
 * removed again). What the system refuses is a UsageError naming `option`, as prepareOutputDir.
 */
export function prepareOutputFile(file: string, option = '--out'): void {
  if (isDirectory(file)) {
    throw new UsageError(
      `${option} must name a file, got '${file}', which is a directory: name a file in it`,
    );
  }
  try {
    makeDirectory(dirname(file));
    const existed = existsSync(file);
    closeSync(openSync(file, 'a'));
    if (!existed) unlinkSync(file);
  } catch (error) {
    if (codeOf(error) === '') throw error;
    throw outputError(option, file, 'file', error);
  }
}

/** Writes each file (name → content) into `dir`, creating it; returns the paths in the given order. */
export async function writeOutputs(
  dir: string,
  files: ReadonlyArray<readonly [string, string]>,
): Promise<string[]> {
  makeDirectory(dir);
  const paths: string[] = [];
  for (const [name, content] of files) {
    const path = join(dir, name);
    await writeFile(path, content);
    paths.push(path);
  }
  return paths;
}

/** results.json's text: 2-space JSON with a final newline (no wall-clock figures, so byte-identical per seed). */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
