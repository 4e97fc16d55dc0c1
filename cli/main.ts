import { Command, CommanderError } from 'commander';
import { EXIT } from './exit-codes.js';

declare const __LOFTBOX_VERSION__: string | undefined;
const VERSION = typeof __LOFTBOX_VERSION__ === 'string' ? __LOFTBOX_VERSION__ : '0.0.0-dev';

/**
 * `loftbox server …` runs the bundled server, which lives in its own bundle next to this one: the
 * CLI never loads SQLite or other server code unless asked to run the server.
 */
async function runBundledServer(argv: string[]): Promise<void> {
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

export function buildProgram(): Command {
  const program = new Command('loftbox')
    .description('Email for AI agents: mailboxes, sending, inbox and the bundled server')
    .version(VERSION)
    .exitOverride()
    .enablePositionalOptions()
    .showHelpAfterError();
  program
    .command('server')
    .description('Run the bundled LoftBox mail server (see `loftbox server --help`)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .argument('[args...]')
    .action(async (args: string[]) => {
      await runBundledServer(args);
    });
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  if (argv.length === 0) {
    program.outputHelp();
    return;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    console.error(`loftbox: ${(err as Error).message}`);
    process.exitCode = EXIT.failure;
  }
}

await main(process.argv.slice(2));
