import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT } from './exit-codes.js';

/**
 * The server bundle, dist/server/main.mjs, from this code: it is in the CLI's entry file in dist/cli/, or
 * one folder below it, in a chunk of that build (dist/cli/chunks/) or in the self-contained one
 * (dist/cli/standalone/).
 */
function serverBundle(): URL {
  const folder = basename(dirname(fileURLToPath(import.meta.url)));
  const up = folder === 'chunks' || folder === 'standalone' ? '../../' : '../';
  return new URL(`${up}server/main.mjs`, import.meta.url);
}

/**
 * `loftbox server …` runs the bundled server, which lives in its own bundle next to this one: the
 * CLI never loads SQLite or other server code unless asked to run the server.
 */
export async function runBundledServer(argv: string[]): Promise<void> {
  let mod: { runServerCli(argv: string[]): Promise<void> };
  try {
    mod = (await import(serverBundle().href)) as typeof mod;
  } catch (err) {
    console.error(
      `loftbox server: the bundled server is not installed next to this CLI (${(err as Error).message}).\n` +
        'Install the full package (npm install -g loftbox) to run a server.',
    );
    process.exitCode = EXIT.failure;
    return;
  }
  await mod.runServerCli(argv);
}
