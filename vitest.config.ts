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
          test: { name, root: join(root, name), include: ['test/**/*.test.ts', 'src/**/*.test.ts'] },
        }))
    : [],
);

export default defineConfig({
  resolve: { conditions: ['source', 'import', 'module', 'node', 'default'] },
  ssr: { resolve: { conditions: ['source', 'import', 'module', 'node', 'default'] } },
  test: {
    projects,
    passWithNoTests: false,
  },
});
