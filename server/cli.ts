import { Command, CommanderError, Option } from 'commander';
import { backupDatabase } from './backup.js';
import { ConfigError, describeSettings, loadConfig, settings, type ConfigKey } from './config.js';
import { redactSetting } from './config-redact.js';
import { openDatabase } from './db/open.js';
import { CapturedMailRepo } from './db/repos/captured-mail.js';
import { prepareDataDir } from './data-dir.js';
import { runServer } from './main.js';
import { operatorKeyFromDataDir } from './operator-key.js';

/** Exit codes shared with the loftbox CLI (CLI.md): 1 failure, 2 usage or configuration. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

function settingFlags(command: Command): Command {
  for (const entry of describeSettings()) {
    const placeholder = entry.key === 'dev' ? '[value]' : '<value>';
    command.addOption(
      new Option(
        `${entry.flag} ${placeholder}`,
        `${entry.doc} (env ${entry.env}; default ${JSON.stringify(entry.default)})`,
      ),
    );
  }
  return command;
}

function flagsFrom(opts: Record<string, unknown>): Partial<Record<ConfigKey, unknown>> {
  const flags: Partial<Record<ConfigKey, unknown>> = {};
  for (const key of Object.keys(settings) as ConfigKey[]) {
    if (opts[key] !== undefined) flags[key] = opts[key] === true ? 'true' : opts[key];
  }
  return flags;
}

export function buildServerCommand(): Command {
  const server = settingFlags(
    new Command('server')
      .description('Run the bundled LoftBox mail server')
      .option('--config <file>', 'JSON config file (env LOFTBOX_CONFIG_FILE)')
      .option('--print-config', 'print the resolved configuration as JSON and exit'),
  ).action(async (opts: Record<string, unknown>) => {
    const flags = flagsFrom(opts);
    const configFile = opts.config as string | undefined;
    if (opts.printConfig) {
      const { config, sources } = loadConfig({ flags, file: configFile });
      const entries = Object.fromEntries(
        (Object.keys(config) as ConfigKey[]).map((key) => [
          key,
          { value: redactSetting(key, config[key]), source: sources[key], env: settings[key].env },
        ]),
      );
      process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
      return;
    }
    await runServer({ flags, configFile });
  });

  server
    .command('backup')
    .description('Copy the live database to <file> with SQLite online backup (safe while running)')
    .argument('<file>', 'where to write the backup; must not exist')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const { config } = loadConfig({ flags: flagsFrom(cmd.optsWithGlobals()) });
      const result = await backupDatabase(config.dataDir, file);
      process.stdout.write(`${JSON.stringify({ status: 'ok', file: result.file, pages: result.pages })}\n`);
    });

  server
    .command('mail')
    .description(
      "List mail the server captured instead of delivering (codes, welcome mail): the operator's view",
    )
    .option('--to <address>', 'only mail to this address')
    .option('-n, --limit <n>', 'how many, newest first', '20')
    .option('--raw', 'print the full RFC 5322 source of each message')
    .action((opts: { to?: string; limit: string; raw?: boolean }, cmd: Command) => {
      const { config } = loadConfig({ flags: flagsFrom(cmd.optsWithGlobals()) });
      const db = openDatabase(prepareDataDir(config.dataDir).dbFile, { readonly: true });
      try {
        const rows = new CapturedMailRepo(db).list({
          to: opts.to?.toLowerCase(),
          limit: Number(opts.limit) || 20,
        });
        const out = rows.map((row) => ({
          id: row.id,
          kind: row.kind,
          to: row.envelope_to,
          subject: row.subject,
          created_at: row.created_at,
          ...(opts.raw ? { raw: row.raw.toString('utf8') } : {}),
        }));
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      } finally {
        db.close();
      }
    });
  server
    .command('operator-key')
    .description(
      'Mint a receive key of the server itself to read the postmaster mailbox (postmaster@ and abuse@ of every hosted domain) through the inbox API',
    )
    .action((_opts: unknown, cmd: Command) => {
      const { config } = loadConfig({ flags: flagsFrom(cmd.optsWithGlobals()) });
      process.stdout.write(`${JSON.stringify(operatorKeyFromDataDir(config), null, 2)}\n`);
    });
  return server;
}

/** Entry used by the loftbox CLI's `server` command (and `npm start`). */
export async function runServerCli(argv: string[]): Promise<void> {
  const program = new Command('loftbox').exitOverride().addCommand(buildServerCommand());
  try {
    await program.parseAsync(['node', 'loftbox', 'server', ...argv]);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`loftbox server: ${err.message}`);
      process.exitCode = EXIT_USAGE;
    } else if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
    } else {
      console.error(`loftbox server: ${(err as Error).message}`);
      process.exitCode = EXIT_FAILURE;
    }
  }
}
