import type { Command } from 'commander';
import type { Agent, AuthContext, KeyProbe, Mailbox } from '../api-types.js';
import { ApiError, type ApiClient } from '../client.js';
import type { Setting } from '../setting.js';
import { action, examples, withCommonOptions, type CliDeps, type Ctx, type RunState } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { safeLine, type Page } from '../output.js';
import { isAdminKey } from './shared.js';

export function authCommands(program: Command, deps: CliDeps, state: RunState): void {
  const login = program
    .command('login')
    .description('Store an existing API key (read from stdin, never from argv) in the config file')
    .option('--with-key', 'read the API key from stdin')
    .option('--mailbox-id <id>', 'mailbox to use by default (default: the only mailbox, if there is one)');
  withCommonOptions(login);
  examples(login, [
    'loftbox login --with-key < key.txt',
    'printf %s "$KEY" | loftbox login --with-key --mailbox-id mb_123',
  ]);
  action(deps, state, login, (ctx) => runLogin(ctx, login.opts<{ withKey?: boolean; mailboxId?: string }>()));

  const whoami = program
    .command('whoami')
    .description('Show the resolved server, organization, key id and mailbox, and where each came from');
  withCommonOptions(whoami);
  examples(whoami, ['loftbox whoami', 'loftbox whoami --json']);
  action(deps, state, whoami, runWhoami);
}

async function readKey(ctx: Ctx, withKey: boolean): Promise<string> {
  if (ctx.canPrompt) return (await ctx.deps.prompts.password('API key:')).trim();
  if (withKey && ctx.deps.stdinKind !== 'tty') return (await ctx.readStdin()).trim();
  throw new CliError(
    'missing_arguments',
    'login reads the API key from stdin: pass --with-key and pipe the key in.',
    {
      next: ['loftbox login --with-key < key.txt'],
      userActionRequired: true,
    },
  );
}

async function runLogin(ctx: Ctx, opts: { withKey?: boolean; mailboxId?: string }): Promise<void> {
  const key = await readKey(ctx, opts.withKey === true);
  if (!key) throw usageError('No API key on stdin.', ['loftbox login --with-key < key.txt']);
  const client = ctx.client(key);
  const probe = await client.get<KeyProbe>('/v1');
  const stored = ctx.deps.config.read();
  const sameOrg = stored.orgId === probe.organization.id;
  const mailbox = opts.mailboxId
    ? await client.get<Mailbox>(`/v1/mailboxes/${encodeURIComponent(opts.mailboxId)}`)
    : await onlyMailbox(client);
  ctx.deps.config.update({
    baseUrl: ctx.settings().baseUrl.value,
    apiKey: key,
    apiKeyId: probe.api_key_id,
    orgId: probe.organization.id,
    ...(mailbox
      ? { agentId: mailbox.agent_id, mailboxId: mailbox.id, mailboxAddress: mailbox.address }
      : sameOrg
        ? {}
        : { agentId: null, mailboxId: null, mailboxAddress: null, ownerEmail: null }),
  });
  const saved = ctx.deps.config.read();
  if (ctx.settings().apiKey.source === 'env') {
    ctx.out.warn('LOFTBOX_API_KEY is set and takes precedence over the stored key.');
  }
  ctx.out.data({
    baseUrl: ctx.settings().baseUrl.value,
    organization: probe.organization,
    apiKeyId: probe.api_key_id,
    mailboxId: saved.mailboxId ?? null,
    mailboxAddress: saved.mailboxAddress ?? null,
    configPath: ctx.deps.config.path,
  });
  ctx.out.text(
    [
      `Logged in to ${ctx.settings().baseUrl.value} as ${safeLine(probe.organization.name)} (key ${probe.api_key_id}).`,
      saved.mailboxId
        ? `Mailbox: ${safeLine(saved.mailboxAddress ?? saved.mailboxId)}`
        : 'No default mailbox: pass --mailbox-id to send and inbox, or log in again with --mailbox-id.',
      `Saved to ${ctx.deps.config.path}.`,
    ].join('\n'),
  );
}

/** An organization with exactly one agent holding exactly one mailbox needs no --mailbox-id. */
async function onlyMailbox(client: ApiClient): Promise<Mailbox | undefined> {
  try {
    const agents = await client.get<Page<Agent>>('/v1/agents', { limit: 2 });
    const agent = agents.data.length === 1 ? agents.data[0] : undefined;
    if (!agent) return undefined;
    const mailboxes = await client.get<Page<Mailbox>>(`/v1/agents/${agent.id}/mailboxes`, { limit: 2 });
    return mailboxes.data.length === 1 ? mailboxes.data[0] : undefined;
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) return undefined;
    throw err;
  }
}

async function runWhoami(ctx: Ctx): Promise<void> {
  const settings = ctx.settings();
  const client = ctx.authed();
  const context = await client.get<AuthContext>('/v1/auth/context');
  let address: string | null = null;
  if (settings.mailboxId.value) {
    try {
      address = (await client.get<Mailbox>(`/v1/mailboxes/${encodeURIComponent(settings.mailboxId.value)}`))
        .address;
    } catch (err) {
      if (!(err instanceof ApiError && (err.status === 404 || err.status === 403))) throw err;
      ctx.out.warn(
        `mailbox ${settings.mailboxId.value} (${settings.mailboxId.source}) is not visible to this key.`,
      );
    }
  }
  const server = ctx.serverTarget();
  const warnings = adminKeyWarnings(ctx, context);
  for (const warning of warnings) ctx.out.warn(warning);
  ctx.out.data({
    baseUrl: settings.baseUrl.value,
    server,
    organization: context.organization,
    apiKeyId: context.api_key_id,
    scopes: context.granted_scopes,
    adminKey: isAdminKey(context),
    warnings,
    mailboxId: settings.mailboxId.value ?? null,
    mailboxAddress: address,
    sources: {
      baseUrl: settings.baseUrl.source,
      apiKey: settings.apiKey.source,
      mailboxId: settings.mailboxId.source,
    },
    configPath: ctx.deps.config.path,
  });
  const from = (s: Setting) => `(${s.source})`;
  ctx.out.text(
    [
      `Server:        ${settings.baseUrl.value} (from ${server?.from ?? settings.baseUrl.source})`,
      `Organization:  ${safeLine(context.organization.name)} (${context.organization.id}, ${context.organization.signup_status})`,
      `API key:       ${context.api_key_id} ${from(settings.apiKey)}; scopes ${context.granted_scopes.join(' ')}`,
      `Mailbox:       ${settings.mailboxId.value ? `${safeLine(address ?? settings.mailboxId.value)} ${from(settings.mailboxId)}` : 'none'}`,
      `Config file:   ${ctx.deps.config.path}`,
    ].join('\n'),
  );
}

/** An agent should hold a send/receive key bound to its mailbox (issue 17.2); say so when it does not. */
function adminKeyWarnings(ctx: Ctx, context: AuthContext): string[] {
  if (!isAdminKey(context)) return [];
  const settings = ctx.settings();
  const where =
    settings.apiKey.source === 'config'
      ? `saved in ${ctx.deps.config.path}`
      : `from ${settings.apiKey.source}`;
  const owner = ctx.deps.config.read().ownerEmail;
  return [
    `the API key ${where} is an admin key (${context.granted_scopes.join(' ')}): an agent that reads mail should not hold it. ` +
      `Run ${ctx.next(['loftbox', 'register', '--owner-email', owner ?? '<email>'])} to swap it for a send/receive key bound to this mailbox.`,
  ];
}
