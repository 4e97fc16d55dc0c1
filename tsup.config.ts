import { defineConfig } from 'tsup';
import pkg from './package.json' with { type: 'json' };

// Two bundles: the CLI must run on an agent machine with only Node (no SQLite build), so it is
// bundled with its dependencies; the server keeps its native and large dependencies external.
export default defineConfig([
  {
    entry: { 'cli/loftbox': 'cli/main.ts' },
    format: ['esm'],
    outExtension: () => ({ js: '.mjs' }),
    platform: 'node',
    target: 'node20',
    noExternal: [/.*/],
    define: { __LOFTBOX_VERSION__: JSON.stringify(pkg.version) },
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    clean: false,
    outDir: 'dist',
    splitting: false,
    sourcemap: true,
  },
  {
    entry: { 'server/main': 'server/index.ts', 'server/workers': 'server/workers/tasks.ts' },
    format: ['esm'],
    outExtension: () => ({ js: '.mjs' }),
    platform: 'node',
    target: 'node20',
    loader: { '.sql': 'text' },
    clean: false,
    outDir: 'dist',
    splitting: false,
    sourcemap: true,
  },
]);
