import { InvalidArgumentError, type Command } from 'commander';
import { ApiClient, type FetchLike } from './client.js';
import { resolveSettings, type ConfigStore, type Settings } from './config.js';
import { readEnv, type Env } from './env.js';
import { CliError, shellQuote } from './errors.js';
import { nextCommand, serverTarget, type NextTarget } from './next.js';
import type { ServerTarget } from './setting.js';
import { Output, type Writer } from './output.js';

/** Interactive questions; every one has a flag equivalent (CLI.md "Non-interactive"). */
export interface Prompts {
  input(message: string, validate?: (value: string) => true | string): Promise<string>;
  password(message: string): Promise<string>;
  /** Defaults to No: destructive prompts must not go ahead on a stray Enter. */
  confirm(message: string): Promise<boolean>;
}

export interface WebSocketLike {
  on(event: 'open', listener: () => void): unknown;
  on(event: 'message', listener: (data: unknown) => void): unknown;
  on(event: 'close', listener: (code: number) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'unexpected-response', listener: (req: unknown, res: { statusCode?: number }) => void): unknown;
  close(code?: number): void;
}

export type OpenWebSocket = (url: string, headers: Record<string, string>) => WebSocketLike;

/** What stdin is: a terminal, a pipe or file with data for us, or something to leave alone. */
export type StdinKind = 'tty' | 'pipe' | 'file' | 'other';

/** A parsed invocation, handed to `intercept` instead of running it (gh's runF seam). */
export interface ParsedCall {
  path: string[];
  args: unknown[];
  options: Record<string, unknown>;
}

/** Everything the CLI touches outside itself, so tests run the real command tree in-process. */
export interface CliDeps {
  stdout: Writer;
  stderr: Writer;
  stdin: NodeJS.ReadableStream;
  stdinKind: StdinKind;
  isTTY: { stdout: boolean; stderr: boolean };
  env: Env;
  config: ConfigStore;
  fetch: FetchLike;
  openWebSocket: OpenWebSocket;
  prompts: Prompts;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** Aborted on Ctrl-C: requests stop and long-running commands wind down. */
  signal: AbortSignal;
  hostname: string;
  cwd: string;
  runServer(argv: string[]): Promise<void>;
  intercept?: (call: ParsedCall) => void;
}

/** Shared between the command actions and the error handler, which must know the output mode. */
export interface RunState {
  json: boolean;
  /** The running command's output, so an error after a result never adds a second document. */
  out?: Output;
  /** The running invocation, so its error names the server and its `next` commands repeat the target. */
  ctx?: Ctx;
}

export interface CommonOptions {
  json?: boolean;
  baseUrl?: string;
  apiKey?: string;
  mailboxId?: string;
  input?: boolean;
  debug?: boolean;
  yes?: boolean;
}

/** One invocation: its options, output and the settings and client derived from them. */
export class Ctx {
  readonly out: Output;
  private resolved: Settings | undefined;

  constructor(
    readonly deps: CliDeps,
    readonly opts: CommonOptions,
  ) {
    this.out = new Output(
      {
        stdout: deps.stdout,
        stderr: deps.stderr,
        stdoutIsTTY: deps.isTTY.stdout,
        stderrIsTTY: deps.isTTY.stderr,
      },
      opts.json === true,
    );
  }

  get json(): boolean {
    return this.out.json;
  }

  settings(): Settings {
    this.resolved ??= resolveSettings(
      { baseUrl: this.opts.baseUrl, apiKey: this.opts.apiKey, mailboxId: this.opts.mailboxId },
      this.deps.env,
      this.deps.config.read(),
    );
    return this.resolved;
  }

  /** The server in use and where it came from; undefined until the settings are resolved. */
  serverTarget(): ServerTarget | undefined {
    return this.resolved
      ? serverTarget(this.resolved.baseUrl, this.deps.env, () => this.deps.config.path)
      : undefined;
  }

  /** What every `next` command of this invocation repeats: the base URL in use and --json. */
  nextTarget(): NextTarget {
    let baseUrl: string | undefined;
    try {
      baseUrl = this.settings().baseUrl.value;
    } catch {
      baseUrl = undefined;
    }
    return { json: this.json, baseUrl };
  }

  /** A `next` command for this invocation (see nextCommand). */
  next(command: string | string[]): string {
    return nextCommand(command, this.nextTarget());
  }

  /** --no-input, LOFTBOX_NO_INPUT or CI: never ask and never read answers from stdin. */
  get noInput(): boolean {
    return (
      this.opts.input === false ||
      readEnv(this.deps.env, 'LOFTBOX_NO_INPUT') !== undefined ||
      Boolean(this.deps.env.CI)
    );
  }

  /** Prompts need a person at both ends: a terminal on stdin and stdout, and no JSON consumer. */
  get canPrompt(): boolean {
    return this.deps.stdinKind === 'tty' && this.deps.isTTY.stdout && !this.json && !this.noInput;
  }

  client(apiKey: string | undefined = this.settings().apiKey.value): ApiClient {
    return new ApiClient({
      baseUrl: this.settings().baseUrl.value,
      apiKey,
      fetch: this.deps.fetch,
      signal: this.deps.signal,
      trace: this.opts.debug ? (line) => this.deps.stderr.write(`debug: ${line}\n`) : undefined,
    });
  }

  /** A client with a key, or exit 4 with the ways to get one. */
  authed(): ApiClient {
    const settings = this.settings();
    if (!settings.apiKey.value) {
      const elsewhere = settings.configBaseUrl
        ? ` The config file holds a key for ${settings.configBaseUrl}, not ${settings.baseUrl.value}.`
        : '';
      throw new CliError('not_authenticated', `No API key for ${settings.baseUrl.value}.${elsewhere}`, {
        hint: 'Pass --api-key, set LOFTBOX_API_KEY, or store a key with register or login.',
        next: ['loftbox register --owner-email <email>', 'loftbox login --with-key'],
        userActionRequired: true,
      });
    }
    return this.client();
  }

  /** The mailbox to act on, or exit 3 naming the flag that supplies it. */
  mailboxId(command: string): string {
    const id = this.settings().mailboxId.value;
    if (id) return id;
    throw new CliError(
      'missing_arguments',
      'No mailbox: pass --mailbox-id, set LOFTBOX_MAILBOX_ID, or register.',
      {
        next: [`loftbox ${command} --mailbox-id <mailbox-id>`, 'loftbox register --owner-email <email>'],
      },
    );
  }

  /**
   * Destructive commands go ahead with --yes, or after a prompt that defaults to No; without a
   * terminal they stop with exit 3 and the command to repeat with --yes.
   */
  async confirm(question: string, retry: string[]): Promise<void> {
    if (this.opts.yes) return;
    const command = `${retry.map(shellQuote).join(' ')} --yes`;
    if (!this.canPrompt) {
      throw new CliError(
        'confirmation_required',
        `${question} Pass --yes to confirm when not running interactively.`,
        {
          next: [command],
        },
      );
    }
    if (!(await this.deps.prompts.confirm(question)))
      throw new CliError('cancelled', 'Cancelled; nothing was changed.');
  }

  async readStdin(): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.deps.stdin) {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    }
    return Buffer.concat(chunks).toString('utf8');
  }
}

/** Flags every command takes (CONTRACT §9: all accept --json, --base-url, --api-key). */
export function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'print one JSON document on stdout; errors become a JSON envelope')
    .option('--base-url <url>', 'server address (env LOFTBOX_BASE_URL)')
    .option('--api-key <key>', 'API key (env LOFTBOX_API_KEY; visible in ps, so prefer the env or config)')
    .option('--no-input', 'never prompt or read answers from stdin')
    .option('--debug', 'trace HTTP requests on stderr (keys never printed)');
}

export function commandPath(cmd: Command): string[] {
  const path: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) path.unshift(c.name());
  return path;
}

/**
 * Declares a command's action: builds its Ctx and records the output mode for the error handler, or
 * hands the parsed call to `intercept` without running anything.
 */
export function action(
  deps: CliDeps,
  state: RunState,
  cmd: Command,
  run: (ctx: Ctx, ...args: string[]) => Promise<void>,
): Command {
  return cmd.action(async (...raw: unknown[]) => {
    const command = raw[raw.length - 1] as Command;
    const options = command.opts<CommonOptions>();
    state.json = options.json === true;
    const args = raw.slice(0, -2);
    if (deps.intercept) {
      deps.intercept({ path: commandPath(command), args, options: { ...options } });
      return;
    }
    const ctx = new Ctx(deps, options);
    state.out = ctx.out;
    state.ctx = ctx;
    await run(ctx, ...(args as string[]));
  });
}

export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/** Commander argument parser for positive integers (--limit, --count). */
export function positiveInt(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > max) {
      throw new InvalidArgumentError(`Expected a whole number from 1 to ${max}.`);
    }
    return n;
  };
}

/** Commander parser for repeatable options: `--to a --to b` gives ['a', 'b']. */
export const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
];
