import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The baseline servers and load scripts, compiled once to plain ESM under dist/bench/ so that every
 * process runs as `node <flags> <file>.mjs`, exactly as the built LoftBox server does. (Running them
 * through the tsx loader instead would cost the baselines startup time and memory that LoftBox, built by
 * tsup, does not pay: the loader alone tripled an idle server's RSS.)
 */
const benchDir = fileURLToPath(new URL('..', import.meta.url));
const outDir = fileURLToPath(new URL('../../dist/bench/', import.meta.url));
let built: Promise<void> | undefined;

function buildAll(): Promise<void> {
  const entries = ['systems', 'load'].flatMap((dir) =>
    readdirSync(`${benchDir}${dir}`)
      .filter((file) => file.endsWith('.ts'))
      .map((file) => `${benchDir}${dir}/${file}`),
  );
  return build({
    entryPoints: entries,
    outdir: outDir,
    outbase: benchDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  }).then(() => undefined);
}

/** Path of the compiled script, e.g. script('systems/bare-smtp'). */
export async function script(name: string): Promise<string> {
  built ??= buildAll();
  await built;
  return `${outDir}${name}.mjs`;
}
