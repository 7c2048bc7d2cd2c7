/**
 * `pnpm docs:figures [--check] [--run NAME|all …]`: writes every README figure block and every
 * value in the prose from its JSON in docs/figures (see figures.ts and figure-values.ts); with
 * --check, changes nothing and exits 1 listing the blocks and values that differ; with --run, first runs the named figures' commands again (each into a
 * scratch directory) and keeps their JSON.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkValues, renderValue, withValues } from './figure-values.js';
import { checkFigures, FIGURES, readmes, renderFigure, withFigures } from './figures.js';

const root = join(import.meta.dirname, '..', '..', '..');
const cli = join(root, 'apps', 'reference', 'src', 'cli.ts');

function main(argv: string[]): number {
  let values: { check?: boolean; run?: string[] };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { check: { type: 'boolean' }, run: { type: 'string', multiple: true } },
      strict: true,
    }));
  } catch (error) {
    console.error(
      `docs:figures: ${error instanceof Error ? error.message : String(error)}: use [--check] [--run NAME|all …]`,
    );
    return 2;
  }
  const files = readmes(root);
  if (values.check === true) {
    if (values.run !== undefined) {
      console.error('docs:figures: --check runs nothing: give --check or --run, not both');
      return 2;
    }
    const problems = [...checkFigures(root, files), ...checkValues(root, files)];
    for (const p of problems) console.error(p);
    if (problems.length === 0)
      console.error(
        `docs:figures: every figure and every value in the prose matches its JSON (${FIGURES.length} figures)`,
      );
    return problems.length === 0 ? 0 : 1;
  }
  const names = (values.run ?? []).flatMap((n) =>
    n === 'all'
      ? FIGURES.filter((f) => f.source === undefined && f.from === undefined).map((f) => f.name)
      : [n],
  );
  for (const name of names) {
    const figure = FIGURES.find((f) => f.name === name);
    if (figure === undefined) {
      console.error(
        `docs:figures: no figure named '${name}': use one of ${FIGURES.map((f) => f.name).join(', ')}, or all`,
      );
      return 2;
    }
    if (figure.from !== undefined) {
      console.error(`docs:figures: ${name} is drawn from ${figure.from}'s JSON: run --run ${figure.from}`);
      return 2;
    }
    if (figure.source !== undefined) {
      console.error(
        `docs:figures: ${name} comes from '${figure.command.join(' ')}', which keeps its JSON in ${figure.source}: run that (see its README), then pnpm docs:figures`,
      );
      return 2;
    }
    const out = mkdtempSync(join(tmpdir(), `exitless-figure-${name}-`));
    try {
      const toStdout = figure.output === 'stdout';
      const args = [
        '--conditions=source',
        '--import',
        'tsx',
        cli,
        ...figure.command,
        ...(toStdout ? [] : ['--out', out]),
      ];
      console.error(`docs:figures: ${name}: exitless ${figure.command.join(' ')}`);
      const run = spawnSync(process.execPath, args, {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
        encoding: 'utf8',
        maxBuffer: 1 << 28,
      });
      if (run.status !== 0) {
        console.error(`docs:figures: ${name}: the command failed (exit ${run.status ?? run.signal})`);
        return 1;
      }
      const results: unknown = JSON.parse(
        toStdout ? run.stdout : readFileSync(join(out, figure.output ?? 'results.json'), 'utf8'),
      );
      writeFileSync(
        join(root, 'docs', 'figures', `${name}.json`),
        `${JSON.stringify(figure.keep(results), null, 1)}\n`,
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }
  let changed = 0;
  for (const file of files) {
    const path = join(root, file);
    const text = readFileSync(path, 'utf8');
    let next: string;
    try {
      next = withValues(
        withFigures(text, (name) => renderFigure(root, name)),
        (query) => renderValue(root, query),
      );
    } catch (error) {
      console.error(`docs:figures: ${file}: ${error instanceof Error ? error.message : String(error)}`);
      return 1;
    }
    if (next !== text) {
      writeFileSync(path, next);
      changed++;
      console.error(`docs:figures: wrote ${file}`);
    }
  }
  if (changed === 0) console.error('docs:figures: every figure and value already matches its JSON');
  return 0;
}

process.exitCode = main(process.argv.slice(2));
