import { fstatSync } from 'node:fs';
import { hostname } from 'node:os';
import { isatty } from 'node:tty';
import { Command, CommanderError } from 'commander';
import WebSocket from 'ws';
import { ApiError, defaultFetch } from './client.js';
import { authCommands } from './commands/auth.js';
import { approvalsCommands } from './commands/approvals.js';
import { auditCommand } from './commands/audit.js';
import { applyDnsCommand } from './commands/domain/apply-dns.js';
import { domainCommands } from './commands/domain/index.js';
import { eventsCommands } from './commands/events.js';
import { helpCommands } from './commands/help.js';
import { inboxCommands } from './commands/inbox.js';
import { keysCommands } from './commands/keys.js';
import { mcpCommand } from './commands/mcp.js';
import { messagesCommands } from './commands/messages.js';
import { registerCommand } from './commands/register.js';
import { sendCommand } from './commands/send.js';
import { skillsCommands } from './commands/skills.js';
import { threadsCommands } from './commands/threads.js';
import { webhooksCommands } from './commands/webhooks.js';
import { fileConfigStore } from './config.js';
import type { CliDeps, Prompts, RunState, StdinKind } from './context.js';
import { CliError, fromApiError } from './errors.js';
import { EXIT } from './exit-codes.js';
import { nextCommand } from './next.js';
import { Output, safeLine } from './output.js';
import { runBundledServer } from './server-launch.js';

declare const __LOFTBOX_VERSION__: string | undefined;
const VERSION = typeof __LOFTBOX_VERSION__ === 'string' ? __LOFTBOX_VERSION__ : '0.0.0-dev';

export function buildProgram(deps: CliDeps, state: RunState = { json: false }): Command {
  const program = new Command('loftbox')
    .description('Email for AI agents: mailboxes, sending, inbox and the bundled server')
    .version(VERSION)
    .exitOverride()
    .enablePositionalOptions()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (s) => deps.stdout.write(s),
      writeErr: (s) => deps.stderr.write(s),
    });
  program
    .command('server')
    .description('Run the bundled LoftBox mail server (see `loftbox server --help`)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .argument('[args...]')
    .action(async (args: string[]) => {
      try {
        await deps.runServer(args);
      } catch (err) {
        // As before the CLI grew: the server's own message, no CLI hint.
        throw new CliError('internal_error', (err as Error).message);
      }
    });
  registerCommand(program, deps, state);
  authCommands(program, deps, state);
  sendCommand(program, deps, state);
  inboxCommands(program, deps, state);
  messagesCommands(program, deps, state);
  threadsCommands(program, deps, state);
  approvalsCommands(program, deps, state);
  keysCommands(program, deps, state);
  webhooksCommands(program, deps, state);
  eventsCommands(program, deps, state);
  skillsCommands(program, deps, state);
  auditCommand(program, deps, state);
  mcpCommand(program, deps, state);
  applyDnsCommand(domainCommands(program, deps, state), deps, state);
  helpCommands(program, deps, state);
  program.addHelpText(
    'after',
    '\nStart with: loftbox register --owner-email <email>\nHelp topics: loftbox help exit-codes | environment | json\n',
  );
  return program;
}

/** `--json` anywhere before `--` asks for JSON errors, even when parsing fails before any action runs. */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json') && argv[0] !== 'server';
}

/** Any failure as a CliError: its reason, message and exit code. */
function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof ApiError) return fromApiError(err);
  const name = (err as Error | undefined)?.name;
  if (name === 'ExitPromptError' || name === 'AbortPromptError')
    return new CliError('interrupted', 'Interrupted.');
  return new CliError('internal_error', `Unexpected error: ${(err as Error)?.message ?? String(err)}`, {
    hint: 'Run again with --debug to see the stack trace.',
  });
}

/** Human errors: what failed, the rule, then the fix, the most actionable line last (CLI.md). */
function humanError(cli: CliError): string[] {
  const lines = [`loftbox: ${safeLine(cli.message)}`];
  if (cli.options.hint) lines.push(cli.options.hint);
  const server = cli.options.server;
  if (server) lines.push(`Server: ${server.baseUrl} (from ${server.from})`);
  for (const next of cli.options.next ?? []) lines.push(`Try: ${next}`);
  return lines;
}

/** Runs one invocation and returns its exit code; never throws and never exits the process. */
export async function runCli(argv: string[], deps: CliDeps): Promise<number> {
  const state: RunState = { json: wantsJson(argv) };
  const program = buildProgram(deps, state);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.ok;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    const out =
      state.out ??
      new Output(
        {
          stdout: deps.stdout,
          stderr: deps.stderr,
          stdoutIsTTY: deps.isTTY.stdout,
          stderrIsTTY: deps.isTTY.stderr,
        },
        state.json,
      );
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT.ok;
      // Commander has already written its message (and help) to stderr.
      const message =
        err.code === 'commander.help'
          ? 'A command is required; run with --help to list them.'
          : err.message.replace(/^error: /, '');
      if (state.json) out.envelope(new CliError('usage_error', message).envelope());
      return EXIT.usage;
    }
    const cli = toCliError(err).retarget(
      (command) =>
        state.ctx ? state.ctx.next(command) : nextCommand(command, { json: state.json, baseUrl: undefined }),
      // Ctrl-C is the person's doing, not the server's: no server line for it.
      err instanceof CliError && (err.reason === 'interrupted' || err.reason === 'cancelled')
        ? undefined
        : state.ctx?.serverTarget(),
    );
    if (state.json) out.envelope(cli.envelope());
    else out.error(humanError(cli));
    if (cli.reason === 'internal_error' && argv.includes('--debug'))
      deps.stderr.write(`${(err as Error).stack}\n`);
    return cli.exitCode;
  }
}

function stdinKind(): StdinKind {
  try {
    const stat = fstatSync(0);
    if (isatty(0)) return 'tty';
    if (stat.isFIFO() || stat.isSocket()) return 'pipe';
    if (stat.isFile()) return 'file';
  } catch {
    // No usable stdin at all: treat it like /dev/null.
  }
  return 'other';
}

/** @inquirer/prompts, loaded only when a prompt is shown, drawing on stderr so stdout stays data. */
function terminalPrompts(signal: AbortSignal): Prompts {
  const context = { output: process.stderr, signal };
  return {
    async input(message, validate) {
      const { input } = await import('@inquirer/prompts');
      return input({ message, ...(validate ? { validate } : {}) }, context);
    },
    async password(message) {
      const { password } = await import('@inquirer/prompts');
      return password({ message, mask: '*' }, context);
    },
    async confirm(message) {
      const { confirm } = await import('@inquirer/prompts');
      return confirm({ message, default: false }, context);
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The CLI proper, for every command but `loftbox server` (cli/main.ts). */
export async function main(argv: string[]): Promise<void> {
  // `| head` closes stdout early: stop quietly instead of dying with an EPIPE stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      process.exit(
        err.code === 'EPIPE'
          ? typeof process.exitCode === 'number'
            ? process.exitCode
            : EXIT.ok
          : EXIT.failure,
      );
    });
  }
  const controller = new AbortController();
  // The server has its own signal handling; everything else stops on the first Ctrl-C, at once on the second.
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    controller.abort();
  };
  if (argv[0] !== 'server') process.on('SIGINT', onSigint);
  const deps: CliDeps = {
    stdout: process.stdout,
    stderr: process.stderr,
    get stdin() {
      return process.stdin;
    },
    stdinKind: stdinKind(),
    isTTY: { stdout: Boolean(process.stdout.isTTY), stderr: Boolean(process.stderr.isTTY) },
    env: process.env,
    config: fileConfigStore(process.env),
    fetch: defaultFetch,
    openWebSocket: (url, headers) => new WebSocket(url, { headers }),
    prompts: terminalPrompts(controller.signal),
    sleep,
    signal: controller.signal,
    hostname: hostname(),
    cwd: process.cwd(),
    runServer: runBundledServer,
  };
  const code = await runCli(argv, deps);
  process.off('SIGINT', onSigint);
  if (code !== EXIT.ok || process.exitCode === undefined) process.exitCode = code;
}
