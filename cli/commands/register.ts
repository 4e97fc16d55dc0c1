import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import type { Agent, KeyProbe, Mailbox, Organization } from '../api-types.js';
import { ApiError, type ApiClient } from '../client.js';
import { action, examples, withCommonOptions, type CliDeps, type Ctx, type RunState } from '../context.js';
import { CliError, shellQuote, usageError } from '../errors.js';
import { deriveIdentity, deriveOrgName, withSuffix, type AgentIdentity } from '../identity.js';
import { safeLine, type Page } from '../output.js';

interface RegisterOptions {
  ownerEmail?: string;
  code?: string;
  selfSignup?: boolean;
  orgName?: string;
  agentName?: string;
  externalId?: string;
  localPart?: string;
}

interface Credentials {
  apiKey: string;
  apiKeyId: string;
  organization: Organization;
}

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
      'Register this agent in one step: owner signup and code, agent, mailbox, and the key saved to the config file',
    )
    .option('--owner-email <email>', 'the owner address; it receives the 6-digit code')
    .option('--code <code>', 'the 6-digit code from the email ("-" reads it from stdin); no new code is sent')
    .option('--self-signup', 'instant restricted account (agent self-signup) that the owner claims later')
    .option('--org-name <name>', 'organization name (default: derived from the owner email)')
    .option('--agent-name <name>', 'agent name (default: derived from the running agent and directory)')
    .option('--external-id <id>', 'stable agent id used to find this agent again (default: derived)')
    .option('--local-part <local-part>', 'mailbox local part (default: derived from the agent slug)');
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
    await finish(ctx, existing, identity, { alreadyRegistered: true, reuseMailbox: true });
    return;
  }
  if (opts.selfSignup) {
    await selfSignup(ctx, email, identity);
    return;
  }
  const credentials = await ownerSignup(ctx, email, opts);
  saveCredentials(ctx, email, credentials);
  await finish(ctx, credentials, identity, { alreadyRegistered: false, reuseMailbox: false });
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

/** A `next` command that repeats the flags an agent would otherwise lose between the two calls. */
function retryCommand(ctx: Ctx, words: string[]): string {
  const base = ctx.settings().baseUrl;
  const extra = [
    ...(base.source === 'flag' ? ['--base-url', base.value] : []),
    ...(ctx.json ? ['--json'] : []),
  ];
  return ['loftbox', ...words, ...extra].map((w) => (w.startsWith('<') ? w : shellQuote(w))).join(' ');
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
    return { apiKey: apiKey.value, apiKeyId: probe.api_key_id, organization: probe.organization };
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
      return { apiKey: verified.api_key, apiKeyId: verified.api_key_id, organization: verified.organization };
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

/** Saved before anything else can fail: the plaintext key is shown only once. */
function saveCredentials(ctx: Ctx, email: string, credentials: Credentials): void {
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
    apiKeyId: signup.api_key_id,
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
  how: { alreadyRegistered: boolean; reuseMailbox: boolean },
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
  ctx.deps.config.update({
    agentId: result.agent.id,
    mailboxId: result.mailbox.id,
    mailboxAddress: result.mailbox.address,
  });
  report(ctx, {
    alreadyRegistered: how.alreadyRegistered,
    organization: credentials.organization,
    apiKeyId: credentials.apiKeyId,
    ...result,
  });
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
    apiKeyId: string;
    agent: Agent;
    agentCreated: boolean;
    mailbox: Mailbox;
    mailboxCreated: boolean;
    claim?: { url: string; expires_at: string };
  },
): void {
  const configPath = ctx.deps.config.path;
  ctx.out.data({
    alreadyRegistered: r.alreadyRegistered,
    baseUrl: ctx.settings().baseUrl.value,
    organization: r.organization,
    apiKeyId: r.apiKeyId,
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
    ...(r.claim ? { claim: r.claim } : {}),
  });
  const lines = [
    `${r.alreadyRegistered ? 'Already registered' : 'Registered'}: ${safeLine(r.agent.name)} (${safeLine(r.agent.external_id ?? r.agent.slug)})`,
    `Mailbox:       ${safeLine(r.mailbox.address)} (${r.mailbox.public_id})`,
    `Organization:  ${safeLine(r.organization.name)} (${r.organization.signup_status})`,
    `API key ${r.apiKeyId} saved to ${configPath}; it is never printed.`,
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
    '  loftbox send --to <address> --subject <subject> --text <text>',
    '  loftbox inbox',
  );
  ctx.out.text(lines.join('\n'));
}
