#!/usr/bin/env node
/**
 * Rewrites the bundles as pure ASCII. esbuild already escapes non-ASCII characters in strings, regular
 * expressions and template literals, but keeps comments as written; one "’" in a comment makes V8 hold
 * the whole source as a two-byte string, and V8 keeps a module's source for as long as it runs: 10 MB
 * for the 5 MB CLI, in every CLI process. Runs after tsup.
 *
 * What remains non-ASCII is in comments, where an escape means the same to the reader; anywhere else
 * a \uXXXX escape of each UTF-16 unit denotes the same string (String.raw templates aside, which
 * esbuild has escaped already). Only lines that held such characters get longer, so the source maps
 * still point at the right lines.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Every module of the built CLI (the package's entry and chunks, the installer's file) and server. */
const BUNDLES = ['dist/cli', 'dist/server'].flatMap((dir) =>
  readdirSync(join(root, dir), { recursive: true })
    .filter((name) => String(name).endsWith('.mjs'))
    .map((name) => `${dir}/${name}`),
);

let total = 0;
for (const bundle of BUNDLES) {
  const file = join(root, bundle);
  const text = readFileSync(file, 'utf8');
  let replaced = 0;
  const ascii = text.replace(/[\u0080-\uffff]/g, (unit) => {
    replaced += 1;
    return `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  if (replaced === 0) continue;
  writeFileSync(file, ascii);
  total += replaced;
  process.stdout.write(`ascii-bundles: ${bundle}: ${replaced} non-ASCII characters escaped\n`);
}
process.stdout.write(`ascii-bundles: ${BUNDLES.length} modules, ${total} non-ASCII characters escaped\n`);
