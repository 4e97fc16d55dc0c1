import { EXIT } from './exit-codes.js';

/**
 * `loftbox server …` runs the bundled server, which lives in its own bundle next to this one: the
 * CLI never loads SQLite or other server code unless asked to run the server.
 */
export async function runBundledServer(argv: string[]): Promise<void> {
  const serverBundle = new URL('../server/main.mjs', import.meta.url).href;
  let mod: { runServerCli(argv: string[]): Promise<void> };
  try {
    mod = (await import(serverBundle)) as typeof mod;
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
