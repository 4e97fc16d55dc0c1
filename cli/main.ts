import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT } from './exit-codes.js';
import { runBundledServer } from './server-launch.js';

/**
 * The `loftbox` entry point. `loftbox server …` goes straight to the server bundle: evaluating the CLI
 * proper (its commands, schemas and clients) would cost a long-running server about 20 MB of heap it never
 * uses (bench/PROFILE.md, memory). Every other command loads the CLI (cli/program.ts); the bundle
 * keeps it in this one file, evaluated only on that import.
 */
export interface Entries {
  program: () => Promise<{ main(argv: string[]): Promise<void> }>;
  server: (argv: string[]) => Promise<void>;
}

const bundled: Entries = { program: () => import('./program.js'), server: runBundledServer };

export async function run(argv: string[], entries: Entries = bundled): Promise<void> {
  if (argv[0] !== 'server') {
    const { main } = await entries.program();
    await main(argv);
    return;
  }
  try {
    await entries.server(argv.slice(1));
  } catch (err) {
    console.error(`loftbox server: ${(err as Error).message}`);
    process.exitCode = EXIT.failure;
  }
}

/** True when this file is the program node was started with, not a module imported by tests. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await run(process.argv.slice(2));
