import { rmSync } from 'node:fs';
import { defineConfig, type Options } from 'tsup';
import pkg from './package.json' with { type: 'json' };

// The CLI must run on an agent machine with only Node (no SQLite build), so it is bundled with its
// dependencies; the server keeps its native and large dependencies external. The CLI is built twice
// from the same entry: the package's (the `bin`, `npm start`), split so that `loftbox server` parses a
// small entry and never the CLI proper's 5 MB chunk (about 25 MB less resident memory in every
// server), and one self-contained file that the server hands to installers (/cli/loftbox.mjs).
const cli = {
  entry: {},
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
  sourcemap: true,
} satisfies Options;

// Chunk names carry a content hash, so an earlier build's chunks would stay beside the new ones. (tsup's
// `clean` with patterns empties the whole of dist/ first.)
rmSync('dist/cli/chunks', { recursive: true, force: true });

export default defineConfig([
  {
    ...cli,
    entry: { 'cli/loftbox': 'cli/main.ts' },
    splitting: true,
    esbuildOptions(options) {
      options.chunkNames = 'cli/chunks/[name]-[hash]';
    },
  },
  { ...cli, entry: { 'cli/standalone/loftbox': 'cli/main.ts' }, splitting: false },
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
