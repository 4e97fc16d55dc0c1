import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import type { Agent, ApiKeyInfo, AuthContext, KeyProbe, Mailbox, Organization } from '../api-types.js';
import { ApiError, type ApiClient } from '../client.js';
import { action, examples, withCommonOptions, type CliDeps, type Ctx, type RunState } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { deriveIdentity, deriveOrgName, withSuffix, type AgentIdentity } from '../identity.js';
import { safeLine, type Page } from '../output.js';
import { isAdminKey } from './shared.js';

interface RegisterOptions {
  ownerEmail?: string;
  code?: string;
  selfSignup?: boolean;
  orgName?: string;
  agentName?: string;
  externalId?: string;
  localPart?: string;
  adminKey?: boolean;
}

interface Credentials {
  apiKey: string;
  apiKeyId: string;
  organization: Organization;
  /** Where the key came from: a signup just now, the config file, or the flag/env of this call. */
  origin: 'signup' | 'config' | 'flag' | 'env';
}

/** The key the agent keeps: never the owner's admin key, but a send/receive child bound to its mailbox. */
interface AgentKey {
  apiKey: string;
  apiKeyId: string;
  scopes: string[];
  mailboxIds: string[] | null;
  /** True when register minted it in place of an admin key, which was then not saved. */
  replacedAdminKey: boolean;
}

/** What the agent key may do (CONTRACT §2): send and read mail, nothing that manages the account. */
const AGENT_KEY_SCOPES = ['send', 'receive'];

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const CODE = /^\d{6}$/;
/** Tries at a free slug or local part before giving up: each retry adds a random suffix. */
const NAME_ATTEMPTS = 5;
/** Wrong codes typed at the prompt before the command stops (the server allows 5 per code). */
const PROMPT_ATTEMPTS = 3;

const randomSuffix = () => randomBytes(3).toString('hex').slice(0, 4);

export function registerCommand(program: Command, deps: CliDeps, state: RunState): void {
  const cmd = program
    .command('register')
    .description(
      'Register this agent in one step: owner signup and code, agent, mailbox, and a send/receive key for that mailbox saved to the config file (never the owner key)',
    )
    .option('--owner-email <email>', 'the owner address; it receives the 6-digit code')
    .option('--code <code>', 'the 6-digit code from the email ("-" reads it from stdin); no new code is sent')
    .option('--self-signup', 'instant restricted account (agent self-signup) that the owner claims later')
    .option('--org-name <name>', 'organization name (default: derived from the owner email)')
    .option('--agent-name <name>', 'agent name (default: derived from the running agent and directory)')
    .option('--external-id <id>', 'stable agent id used to find this agent again (default: derived)')
    .option('--local-part <local-part>', 'mailbox local part (default: derived from the agent slug)')
    .option(
      '--admin-key',
      "save the owner's admin key instead of a send/receive key for the mailbox; only when the human asks this agent to administer the account (custom domains, keys)",
    );
  withCommonOptions(cmd);
  examples(cmd, [
    'loftbox register --owner-email owner@example.com',
    'loftbox register --owner-email owner@example.com --json          # sends the code, exits 3',
    'loftbox register --owner-email owner@example.com --code 123456 --json',
    'loftbox register --owner-email owner@example.com --self-signup',
  ]);
  action(deps, state, cmd, (ctx) => register(ctx, cmd.opts<RegisterOptions>()));
}

async function register(ctx: Ctx, opts: RegisterOptions): Promise<void> {
  const email = await ownerEmail(ctx, opts.ownerEmail);
  if (opts.code !== undefined && opts.code !== '-' && !CODE.test(opts.code.trim())) {
    throw usageError('--code must be the 6-digit code from the email.');
  }
  const derived = deriveIdentity(ctx.deps.env, ctx.deps.hostname, ctx.deps.cwd);
  const identity: AgentIdentity = {
    ...derived,
    externalId: opts.externalId ?? derived.externalId,
    agentName: opts.agentName ?? derived.agentName,
    localPart: opts.localPart ?? derived.localPart,
  };

  const existing = await workingStoredKey(ctx, email);
  if (existing) {
    await finish(ctx, existing, identity, {
      alreadyRegistered: true,
      reuseMailbox: true,
      email,
      keepAdmin: opts.adminKey === true,
    });
    return;
  }
  if (opts.selfSignup) {
    await selfSignup(ctx, email, identity);
    return;
  }
  const credentials = await ownerSignup(ctx, email, opts);
  try {
    await finish(ctx, credentials, identity, {
      alreadyRegistered: false,
      reuseMailbox: false,
      email,
      keepAdmin: opts.adminKey === true,
    });
  } catch (err) {
    // The code is spent and this is the organization's only key: losing it would lock the owner out.
    // It is kept instead; whoami warns about it and running register again swaps it for an agent key.
    saveOwnerKey(ctx, email, credentials);
    throw err;
  }
}

function saveOwnerKey(ctx: Ctx, email: string, credentials: Credentials): void {
  ctx.deps.config.update({
    baseUrl: ctx.settings().baseUrl.value,
    apiKey: credentials.apiKey,
    apiKeyId: credentials.apiKeyId,
    orgId: credentials.organization.id,
    ownerEmail: email,
    agentId: null,
    mailboxId: null,
    mailboxAddress: null,
  });
}

async function ownerEmail(ctx: Ctx, flag: string | undefined): Promise<string> {
  let email = flag?.trim();
  if (!email && ctx.canPrompt) {
    email = (
      await ctx.deps.prompts.input('Owner email (receives the 6-digit code):', (v) =>
        EMAIL.test(v.trim()) ? true : 'Enter an email address.',
      )
    ).trim();
  }
  if (!email) {
    throw new CliError('missing_arguments', 'register needs the owner email: pass --owner-email.', {
      next: [retryCommand(ctx, ['register', '--owner-email', '<email>'])],
      userActionRequired: true,
    });
  }
  if (!EMAIL.test(email)) throw usageError(`--owner-email is not an email address: ${safeLine(email)}`);
  return email.toLowerCase();
}

/** A `next` command that repeats the server and output mode an agent would otherwise lose between calls. */
function retryCommand(ctx: Ctx, words: string[]): string {
  return ctx.next(['loftbox', ...words]);
}

/**
 * Re-running register with a key that still works reports the existing registration instead of
 * signing up again. A key stored for another owner email is left for the new signup to replace.
 */
async function workingStoredKey(ctx: Ctx, email: string): Promise<Credentials | undefined> {
  const { apiKey } = ctx.settings();
  if (!apiKey.value) return undefined;
  const stored = ctx.deps.config.read();
  if (apiKey.source === 'config' && stored.ownerEmail && stored.ownerEmail !== email) return undefined;
  try {
    const probe = await ctx.client(apiKey.value).get<KeyProbe>('/v1');
    return {
      apiKey: apiKey.value,
      apiKeyId: probe.api_key_id,
      organization: probe.organization,
      origin: apiKey.source === 'unset' || apiKey.source === 'default' ? 'config' : apiKey.source,
    };
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      ctx.out.warn(`the ${apiKey.source} API key no longer works; registering again.`);
      return undefined;
    }
    throw err;
  }
}

async function ownerSignup(ctx: Ctx, email: string, opts: RegisterOptions): Promise<Credentials> {
  const client = ctx.client(undefined);
  let code = opts.code === '-' ? firstLine(await ctx.readStdin()) : opts.code?.trim();
  if (!code) {
    const spinner = ctx.out.spinner(`Sending a verification code to ${email}`);
    try {
      await client.post(
        '/v1/auth/signup',
        { email, organization_name: opts.orgName ?? deriveOrgName(email) },
        { auth: false },
      );
    } catch (err) {
      if (err instanceof ApiError && err.code === 'email_already_registered') {
        throw new CliError('already_registered', `${email} already owns a verified organization.`, {
          hint: 'Its API key was shown once at verification; store it with login.',
          next: ['loftbox login --with-key'],
          userActionRequired: true,
        });
      }
      throw err;
    } finally {
      spinner.stop();
    }
    ctx.out.info(`A 6-digit verification code was sent to ${email}.`);
    code = await obtainCode(ctx, email);
  }
  for (let attempt = 1; ; attempt++) {
    try {
      const verified = await client.post<{ api_key: string; api_key_id: string; organization: Organization }>(
        '/v1/auth/signup/verify',
        { email, verification_token: code },
        { auth: false },
      );
      return {
        apiKey: verified.api_key,
        apiKeyId: verified.api_key_id,
        organization: verified.organization,
        origin: 'signup',
      };
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'invalid_token')) throw err;
      if (ctx.canPrompt && attempt < PROMPT_ATTEMPTS) {
        ctx.out.info('That code is wrong or has expired.');
        code = await obtainCode(ctx, email);
        continue;
      }
      throw new CliError('invalid_code', 'The verification code is wrong or has expired.', {
        hint: 'Codes last 15 minutes. Running register without --code emails a fresh one.',
        next: [
          retryCommand(ctx, ['register', '--owner-email', email, '--code', '<code>']),
          retryCommand(ctx, ['register', '--owner-email', email]),
        ],
        userActionRequired: true,
      });
    }
  }
}

/** The code from a person at the prompt, or piped on stdin; otherwise the agent's exit 3. */
async function obtainCode(ctx: Ctx, email: string): Promise<string> {
  if (ctx.canPrompt) {
    const code = await ctx.deps.prompts.input(`Enter the 6-digit code sent to ${email}:`, (v) =>
      CODE.test(v.trim()) ? true : 'The code is 6 digits.',
    );
    return code.trim();
  }
  // Never in JSON mode: agents take the two-call flow, and a stdin they inherit may never close.
  const piped = ctx.deps.stdinKind === 'pipe' || ctx.deps.stdinKind === 'file';
  if (piped && !ctx.noInput && !ctx.json) {
    const code = firstLine(await ctx.readStdin());
    if (code) return code;
  }
  throw new CliError(
    'verification_code_required',
    `A 6-digit verification code was emailed to ${email}. Ask the owner for it and run register again with --code.`,
    {
      next: [retryCommand(ctx, ['register', '--owner-email', email, '--code', '<code>'])],
      userActionRequired: true,
    },
  );
}

function firstLine(text: string): string | undefined {
  return text.split('\n')[0]?.trim() || undefined;
}

interface AgentSignup {
  org_id: string;
  agent_id: string;
  mailbox_id: string;
  mailbox_address: string;
  api_key: string;
  api_key_id: string;
  claim: { url: string; expires_at: string };
}

async function selfSignup(ctx: Ctx, email: string, identity: AgentIdentity): Promise<void> {
  const signup = await ctx
    .client(undefined)
    .post<AgentSignup>(
      '/v1/auth/agent-signup',
      { owner_email: email, agent_name: identity.agentName, referrer: 'loftbox-cli' },
      { auth: false },
    );
  ctx.deps.config.update({
    baseUrl: ctx.settings().baseUrl.value,
    apiKey: signup.api_key,
    apiKeyId: signup.api_key_id,
    orgId: signup.org_id,
    ownerEmail: email,
    agentId: signup.agent_id,
    mailboxId: signup.mailbox_id,
    mailboxAddress: signup.mailbox_address,
  });
  const client = ctx.client(signup.api_key);
  const [probe, agent, mailbox] = await Promise.all([
    client.get<KeyProbe>('/v1'),
    client.get<Agent>(`/v1/agents/${signup.agent_id}`),
    client.get<Mailbox>(`/v1/mailboxes/${signup.mailbox_id}`),
  ]);
  report(ctx, {
    alreadyRegistered: false,
    organization: probe.organization,
    key: {
      apiKey: signup.api_key,
      apiKeyId: signup.api_key_id,
      scopes: AGENT_KEY_SCOPES,
      mailboxIds: null,
      replacedAdminKey: false,
    },
    agent,
    agentCreated: true,
    mailbox,
    mailboxCreated: true,
    claim: signup.claim,
  });
}

async function finish(
  ctx: Ctx,
  credentials: Credentials,
  identity: AgentIdentity,
  how: { alreadyRegistered: boolean; reuseMailbox: boolean; email: string; keepAdmin: boolean },
): Promise<void> {
  const client = ctx.client(credentials.apiKey);
  const known = how.reuseMailbox ? await knownMailbox(ctx, client) : undefined;
  let result: { agent: Agent; agentCreated: boolean; mailbox: Mailbox; mailboxCreated: boolean };
  if (known) {
    result = { ...known, agentCreated: false, mailboxCreated: false };
  } else {
    const { agent, created: agentCreated } = await findOrCreateAgent(client, identity);
    const { mailbox, created: mailboxCreated } = await findOrCreateMailbox(client, agent, identity);
    result = { agent, agentCreated, mailbox, mailboxCreated };
  }
  const key = await agentKey(ctx, client, credentials, result, how.keepAdmin);
  // A fresh signup's owner key is written only with --admin-key; otherwise the agent key is saved.
  const keeps = credentials.origin === 'signup' || credentials.origin === 'config' || key.replacedAdminKey;
  ctx.deps.config.update({
    ...(keeps
      ? {
          baseUrl: ctx.settings().baseUrl.value,
          apiKey: key.apiKey,
          apiKeyId: key.apiKeyId,
          orgId: credentials.organization.id,
          ownerEmail: how.email,
        }
      : {}),
    agentId: result.agent.id,
    mailboxId: result.mailbox.id,
    mailboxAddress: result.mailbox.address,
  });
  if (key.replacedAdminKey && credentials.origin !== 'config' && credentials.origin !== 'signup') {
    ctx.out.warn(
      `the ${credentials.origin} API key is an admin key; the agent key saved to ${ctx.deps.config.path} is used only without it.`,
    );
  }
  report(ctx, {
    alreadyRegistered: how.alreadyRegistered,
    organization: credentials.organization,
    key,
    ...result,
  });
}

/**
 * An admin key (the owner's, from signup, or one saved by an older CLI) is swapped for a child with
 * send and receive only, bound to the agent's mailbox: a mail that talks the agent into "create an
 * admin key and mail it to me" then finds no admin rights to misuse (issue 17.2).
 */
async function agentKey(
  ctx: Ctx,
  client: ApiClient,
  credentials: Credentials,
  r: { agent: Agent; mailbox: Mailbox },
  keepAdmin: boolean,
): Promise<AgentKey> {
  const context = await client.get<AuthContext>('/v1/auth/context');
  if (!isAdminKey(context) || keepAdmin) {
    if (keepAdmin && isAdminKey(context)) {
      ctx.out.warn(
        'the config keeps an admin key (--admin-key): a mail that talks this agent into creating keys could misuse it. Re-run register without --admin-key once the admin work is done.',
      );
    }
    return {
      apiKey: credentials.apiKey,
      apiKeyId: credentials.apiKeyId,
      scopes: context.granted_scopes,
      mailboxIds: null,
      replacedAdminKey: false,
    };
  }
  const created = await client.post<ApiKeyInfo & { api_key: string }>('/v1/auth/keys', {
    name: `agent ${r.agent.slug}`,
    scopes: AGENT_KEY_SCOPES,
    constraints: { mailbox_ids: [r.mailbox.id] },
  });
  return {
    apiKey: created.api_key,
    apiKeyId: created.id,
    scopes: created.scopes,
    mailboxIds: created.constraints?.mailbox_ids ?? [r.mailbox.id],
    replacedAdminKey: true,
  };
}

/**
 * The mailbox already configured, when it still exists: a self-signup key may not create agents, so
 * re-running register for one must not need to.
 */
async function knownMailbox(
  ctx: Ctx,
  client: ApiClient,
): Promise<{ agent: Agent; mailbox: Mailbox } | undefined> {
  const id = ctx.settings().mailboxId.value;
  if (!id) return undefined;
  try {
    const mailbox = await client.get<Mailbox>(`/v1/mailboxes/${encodeURIComponent(id)}`);
    if (mailbox.status !== 'active') return undefined;
    const agent = await client.get<Agent>(`/v1/agents/${mailbox.agent_id}`);
    return agent.status === 'active' ? { agent, mailbox } : undefined;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

async function findAgent(client: ApiClient, externalId: string): Promise<Agent | undefined> {
  const page = await client.get<Page<Agent>>('/v1/agents', { external_id: externalId, limit: 1 });
  return page.data[0];
}

async function findOrCreateAgent(
  client: ApiClient,
  identity: AgentIdentity,
): Promise<{ agent: Agent; created: boolean }> {
  const existing = await findAgent(client, identity.externalId);
  if (existing) return { agent: existing, created: false };
  for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
    const slug = attempt === 0 ? identity.slug : withSuffix(identity.slug, randomSuffix);
    try {
      const agent = await client.post<Agent>('/v1/agents', {
        name: identity.agentName,
        slug,
        external_id: identity.externalId,
        description: `Registered with the loftbox CLI (${identity.kind}).`,
        policy_scope: 'agent',
      });
      return { agent, created: true };
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) throw err;
      // Another run may have created it in between; a slug clash is a different agent.
      const raced = await findAgent(client, identity.externalId);
      if (raced) return { agent: raced, created: false };
    }
  }
  throw new CliError('conflict', `Could not find a free agent slug near "${identity.slug}".`);
}

async function findOrCreateMailbox(
  client: ApiClient,
  agent: Agent,
  identity: AgentIdentity,
): Promise<{ mailbox: Mailbox; created: boolean }> {
  const page = await client.get<Page<Mailbox>>(`/v1/agents/${agent.id}/mailboxes`, { limit: 100 });
  const existing = page.data.find((m) => m.status === 'active');
  if (existing) return { mailbox: existing, created: false };
  for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
    const localPart = attempt === 0 ? identity.localPart : withSuffix(identity.localPart, randomSuffix);
    try {
      const mailbox = await client.post<Mailbox>(`/v1/agents/${agent.id}/mailboxes`, {
        local_part: localPart,
        display_name: identity.agentName,
      });
      return { mailbox, created: true };
    } catch (err) {
      if (!(err instanceof ApiError && (err.code === 'address_taken' || err.code === 'address_reserved')))
        throw err;
    }
  }
  throw new CliError('conflict', `Could not find a free mailbox address near "${identity.localPart}".`);
}

function report(
  ctx: Ctx,
  r: {
    alreadyRegistered: boolean;
    organization: Organization;
    key: AgentKey;
    agent: Agent;
    agentCreated: boolean;
    mailbox: Mailbox;
    mailboxCreated: boolean;
    claim?: { url: string; expires_at: string };
  },
): void {
  const configPath = ctx.deps.config.path;
  const baseUrl = ctx.settings().baseUrl.value;
  const ownerAdmin = r.key.replacedAdminKey ? ownerAdminHint(ctx, r.organization) : undefined;
  ctx.out.data({
    alreadyRegistered: r.alreadyRegistered,
    baseUrl,
    organization: r.organization,
    apiKeyId: r.key.apiKeyId,
    apiKeyScopes: r.key.scopes,
    apiKeyMailboxIds: r.key.mailboxIds,
    agent: {
      id: r.agent.id,
      name: r.agent.name,
      slug: r.agent.slug,
      external_id: r.agent.external_id,
      created: r.agentCreated,
    },
    mailbox: {
      id: r.mailbox.id,
      public_id: r.mailbox.public_id,
      address: r.mailbox.address,
      created: r.mailboxCreated,
    },
    configPath,
    ...(ownerAdmin ? { ownerAdmin } : {}),
    ...(r.claim ? { claim: r.claim } : {}),
  });
  const bound = r.key.mailboxIds ? `, ${safeLine(r.mailbox.address)} only` : '';
  const lines = [
    `${r.alreadyRegistered ? 'Already registered' : 'Registered'}: ${safeLine(r.agent.name)} (${safeLine(r.agent.external_id ?? r.agent.slug)})`,
    `Mailbox:       ${safeLine(r.mailbox.address)} (${r.mailbox.public_id})`,
    `Organization:  ${safeLine(r.organization.name)} (${r.organization.signup_status})`,
    `Agent key ${r.key.apiKeyId} (${r.key.scopes.join(' ')}${bound}) saved to ${configPath}; it is never printed.`,
  ];
  if (r.claim) {
    lines.push(
      '',
      'This account is restricted: it can mail only the owner until the owner claims it',
      `with the code emailed to them, or at ${r.claim.url}`,
    );
  }
  lines.push(
    '',
    'Next:',
    `  ${ctx.next(['loftbox', 'send', '--to', '<address>', '--subject', '<subject>', '--text', '<text>', '--wait'])}`,
    `  ${ctx.next(['loftbox', 'inbox'])}`,
  );
  ctx.out.text(lines.join('\n'));
  // For the person at the terminal, not the agent's data: how admin rights are obtained on purpose.
  if (ownerAdmin) ctx.out.info(`\n${ownerAdmin.message}`);
}

/**
 * The owner's admin key was not saved; admin rights are a deliberate step of the owner's, in the
 * console (signed in by an emailed code), kept outside the agent's configuration.
 */
function ownerAdminHint(ctx: Ctx, organization: Organization): { consoleUrl: string; message: string } {
  const consoleUrl = `${ctx.settings().baseUrl.value}/console`;
  return {
    consoleUrl,
    message:
      `The owner key of ${safeLine(organization.name)} (send receive admin) was not saved: this agent holds only its send/receive key. ` +
      `For admin rights the owner signs in at ${consoleUrl} with the owner email, creates a key with the admin scope under "API keys", ` +
      "and keeps it out of the agent's reach (for example: LOFTBOX_CONFIG_DIR=~/.loftbox-admin loftbox login --with-key).",
  };
}
