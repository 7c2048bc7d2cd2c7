import { defineConfig } from 'tsup';

// The published CLI: dist/cli.js (the bin; tsup keeps its shebang and makes it executable)
// and dist/worker.js (the tinypool worker that pool.ts starts from dist/), sharing chunks.
// Dependencies (@exitless/* and the chart, pool and progress libraries) stay imports.
export default defineConfig({
  entry: ['src/cli.ts', 'src/worker.ts'],
  format: ['esm'],
  dts: false,
  sourcemap: false,
  clean: true,
  target: 'node20',
  platform: 'node',
  // Node 20.19+ has every node: builtin; keep the imports as written.
  removeNodeProtocol: false,
});
