import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes each file (name → content) into `dir`, creating it; returns the paths in the given order. */
export async function writeOutputs(
  dir: string,
  files: ReadonlyArray<readonly [string, string]>,
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
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
