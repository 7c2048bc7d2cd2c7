import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// One vitest project per workspace package: tests resolve sibling packages through the
// `source` export condition, so nothing has to be built before the tests run.
const roots = ['packages', 'apps'];
const projects = roots.flatMap((root) =>
  existsSync(root)
    ? readdirSync(root)
        .filter((name) => existsSync(join(root, name, 'package.json')))
        .sort()
        .map((name) => ({
          extends: true as const,
          test: {
            name,
            root: join(root, name),
            include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
            exclude: ['test/fuzz/**', '**/node_modules/**'],
          },
        }))
    : [],
);
// The examples (examples/, one private package): each example's `main` for a few simulated ms.
projects.push({
  extends: true as const,
  test: {
    name: 'examples',
    root: 'examples',
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
  },
});
// The hostile-guest fuzzer (packages/machine/test/fuzz) is a project of its own, so that
// `vitest run --project machine` leaves it out and `--project machine-fuzz` runs only it; one
// file per mode, so that its modes share the workers.
projects.push({
  extends: true as const,
  test: {
    name: 'machine-fuzz',
    root: join('packages', 'machine'),
    include: ['test/fuzz/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
  },
});
// The benchmarks' own code (bench/): what `pnpm bench` computes from its measurements.
projects.push({
  extends: true as const,
  test: {
    name: 'bench',
    root: 'bench',
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
  },
});
// The release and repository scripts (scripts/): their checks of every package's manifest.
projects.push({
  extends: true as const,
  test: {
    name: 'scripts',
    root: 'scripts',
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
  },
});

export default defineConfig({
  resolve: { conditions: ['source', 'import', 'module', 'node', 'default'] },
  ssr: { resolve: { conditions: ['source', 'import', 'module', 'node', 'default'] } },
  test: {
    projects,
    passWithNoTests: false,
  },
});
