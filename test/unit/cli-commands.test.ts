import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WATCH_LEASE_S, WATCH_MIN_MS, WATCH_WAIT_S } from '../../cli/commands/inbox.js';
import { memoryConfigStore } from '../../cli/config.js';
import { EXIT } from '../../cli/exit-codes.js';
import { deriveIdentity, deriveOrgName, detectAgentKind } from '../../cli/identity.js';
import { apiError, run, type FakeRequest, type FakeResponse, type Routes } from './cli-harness.js';

const org = { id: 'org_1', name: 'acme agents', slug: 'acme-agents', signup_status: 'verified' };
const agent = {
  id: 'agent_1',
  name: 'Agent (acme-bot)',
  slug: 'acme-bot-agent',
  external_id: 'host:devbox:acme-bot',
  status: 'active',
};
const mailbox = {
  id: 'mb_uuid',
  public_id: 'mb_1',
  agent_id: 'agent_1',
  address: 'acme-bot-agent@loftbox.localhost',
  status: 'active',
  active: true,
};

function signupRoutes(overrides: Routes = {}): Routes {
  return {
    'POST /v1/auth/signup': { status: 201, body: { email_verification_required: true, organization: org } },
    'POST /v1/auth/signup/verify': (req) =>
      (req.body as { verification_token: string }).verification_token === '123456'
        ? { body: { api_key: 'lb_live_new', api_key_id: 'key_1', organization: org } }
        : apiError(400, 'invalid_token', 'The verification code is wrong or has expired.'),
    'GET /v1/agents': { body: { data: [], next_cursor: null } },
    'POST /v1/agents': { status: 201, body: agent },
    'GET /v1/agents/agent_1/mailboxes': { body: { data: [], next_cursor: null } },
    'POST /v1/agents/agent_1/mailboxes': { status: 201, body: mailbox },
    'GET /v1/auth/context': (req) => ({
      body:
        req.headers.authorization === 'Bearer lb_live_new'
          ? {
              ...agentContext,
              api_key_id: 'key_1',
              granted_scopes: ['send', 'receive', 'admin'],
              effective_scopes: ['keys:manage'],
            }
          : agentContext,
    }),
    'POST /v1/auth/keys': {
      status: 201,
      body: {
        id: 'key_agent',
        key_prefix: 'lb_live_ag',
        scopes: ['send', 'receive'],
        constraints: {
          mailbox_ids: ['mb_uuid'],
          reply_only: false,
          allowed_recipients: null,
          send_budget: null,
        },
        api_key: 'lb_live_agent',
      },
    },
    ...overrides,
  };
}

const DEFAULT_URL = 'http://127.0.0.1:8080';
const defaultServer = { baseUrl: DEFAULT_URL, source: 'default', from: 'default' };
const agentContext = {
  organization: org,
  api_key_id: 'key_agent',
  granted_scopes: ['send', 'receive'],
  effective_scopes: ['message:read', 'message:send'],
};

const routesOf = (calls: FakeRequest[]) => calls.map((c) => `${c.method} ${c.path}`);

describe('deriving the agent identity', () => {
  it.each([
    [{ CLAUDECODE: '1' }, 'claude-code'],
    [{ CLAUDE_CODE_ENTRYPOINT: 'cli' }, 'claude-code'],
    [{ CODEX_SANDBOX: 'seatbelt' }, 'codex'],
    [{ HERMES_HOME: '/h' }, 'hermes'],
    [{ CODEX_X: '' }, 'host'],
    [{}, 'host'],
  ])('%j → %s', (env, kind) => {
    expect(detectAgentKind(env)).toBe(kind);
  });

  it('builds a stable external id, slug and local part from the host and workspace', () => {
    expect(deriveIdentity({ CLAUDECODE: '1' }, 'DevBox.local', '/home/me/My Repo')).toEqual({
      kind: 'claude-code',
      externalId: 'claude-code:devbox:My Repo',
      agentName: 'Claude Code (My Repo)',
      slug: 'my-repo-claude',
      localPart: 'my-repo-claude',
    });
    expect(deriveIdentity({}, 'ci-runner-7', '/').externalId).toBe('host:ci-runner-7:workspace');
  });

  it.each([
    ['owner@acme.com', 'acme agents'],
    ['alice@gmail.com', 'alice agents'],
    ['ops+bots@mail.example.org', 'mail agents'],
  ])('organization name for %s', (email, name) => {
    expect(deriveOrgName(email)).toBe(name);
  });
});

describe('register', () => {
  it('first call without a terminal sends the code and exits 3 with action_required', async () => {
    const result = await run(['register', '--owner-email', 'Owner@Acme.com', '--json'], {
      routes: signupRoutes(),
    });
    expect(result.code).toBe(EXIT.actionRequired);
    expect(routesOf(result.calls)).toEqual(['POST /v1/auth/signup']);
    expect(result.calls[0]?.body).toEqual({ email: 'owner@acme.com', organization_name: 'acme agents' });
    expect(result.calls[0]?.headers.authorization).toBeUndefined();
    expect(JSON.parse(result.stdout)).toEqual({
      status: 'action_required',
      reason: 'verification_code_required',
      message:
        'A 6-digit verification code was emailed to owner@acme.com. Ask the owner for it and run register again with --code.',
      next: [
        {
          command: `loftbox register --owner-email owner@acme.com --code <code> --base-url ${DEFAULT_URL} --json`,
        },
      ],
      userActionRequired: true,
      server: defaultServer,
    });
    expect(result.store.read()).toEqual({});
  });

  it('second call verifies the given code without sending a new one, creates agent and mailbox, and saves', async () => {
    const result = await run(['register', '--owner-email', 'owner@acme.com', '--code', '123456', '--json'], {
      routes: signupRoutes(),
    });
    expect(result.code).toBe(EXIT.ok);
    expect(routesOf(result.calls)).toEqual([
      'POST /v1/auth/signup/verify',
      'GET /v1/agents',
      'POST /v1/agents',
      'GET /v1/agents/agent_1/mailboxes',
      'POST /v1/agents/agent_1/mailboxes',
      'GET /v1/auth/context',
      'POST /v1/auth/keys',
    ]);
    // The owner key mints the agent's key: send and receive only, bound to the new mailbox.
    expect(result.calls[6]?.headers.authorization).toBe('Bearer lb_live_new');
    expect(result.calls[6]?.body).toEqual({
      name: 'agent acme-bot-agent',
      scopes: ['send', 'receive'],
      constraints: { mailbox_ids: ['mb_uuid'] },
    });
    expect(result.calls[1]?.query.get('external_id')).toBe('host:devbox:acme-bot');
    expect(result.calls[2]?.body).toMatchObject({
      name: 'Agent (acme-bot)',
      slug: 'acme-bot-agent',
      external_id: 'host:devbox:acme-bot',
    });
    expect(result.calls[2]?.headers.authorization).toBe('Bearer lb_live_new');
    expect(JSON.parse(result.stdout)).toMatchObject({
      alreadyRegistered: false,
      apiKeyId: 'key_agent',
      apiKeyScopes: ['send', 'receive'],
      apiKeyMailboxIds: ['mb_uuid'],
      ownerAdmin: { consoleUrl: `${DEFAULT_URL}/console` },
      agent: { id: 'agent_1', created: true },
      mailbox: { id: 'mb_uuid', address: 'acme-bot-agent@loftbox.localhost', created: true },
    });
    expect(result.stdout).not.toContain('lb_live_new');
    expect(result.stdout).not.toContain('lb_live_agent');
    expect(result.store.read()).toMatchObject({
      baseUrl: 'http://127.0.0.1:8080',
      apiKey: 'lb_live_agent',
      apiKeyId: 'key_agent',
      ownerEmail: 'owner@acme.com',
      agentId: 'agent_1',
      mailboxId: 'mb_uuid',
    });
  });

  it('keeps the owner key when setting up the agent fails after the code was spent, so a rerun can finish', async () => {
    const result = await run(['register', '--owner-email', 'owner@acme.com', '--code', '123456', '--json'], {
      routes: signupRoutes({
        'POST /v1/auth/keys': apiError(503, 'storage_busy', 'The database is busy; try again.'),
      }),
    });
    expect(result.code).not.toBe(EXIT.ok);
    expect(result.stdout).not.toContain('lb_live_new');
    expect(result.store.read()).toMatchObject({ apiKey: 'lb_live_new', apiKeyId: 'key_1', orgId: org.id });

    const rerun = await run(['register', '--owner-email', 'owner@acme.com', '--json'], {
      routes: signupRoutes({ 'GET /v1': { body: { ok: true, organization: org, api_key_id: 'key_1' } } }),
      store: result.store,
    });
    expect(routesOf(rerun.calls)).not.toContain('POST /v1/auth/signup');
    expect(rerun.code).toBe(EXIT.ok);
    expect(rerun.store.read()).toMatchObject({ apiKey: 'lb_live_agent', apiKeyId: 'key_agent' });
  });

  it('keeps the owner key only when asked with --admin-key, and warns that it did', async () => {
    const result = await run(
      ['register', '--owner-email', 'owner@acme.com', '--code', '123456', '--admin-key', '--json'],
      { routes: signupRoutes() },
    );
    expect(result.code).toBe(EXIT.ok);
    expect(routesOf(result.calls)).not.toContain('POST /v1/auth/keys');
    expect(JSON.parse(result.stdout)).toMatchObject({
      apiKeyId: 'key_1',
      apiKeyScopes: ['send', 'receive', 'admin'],
    });
    expect(JSON.parse(result.stdout)).not.toHaveProperty('ownerAdmin');
    expect(result.store.read()).toMatchObject({ apiKey: 'lb_live_new', apiKeyId: 'key_1' });
    expect(result.stderr).toContain('warning: the config keeps an admin key (--admin-key)');
  });

  it('prompts for the code on a terminal', async () => {
    const asked: string[] = [];
    const result = await run(['register', '--owner-email', 'owner@acme.com'], {
      tty: true,
      routes: signupRoutes(),
      prompts: {
        input: async (message) => {
          asked.push(message);
          return '123456';
        },
      },
    });
    expect(result.code).toBe(EXIT.ok);
    expect(asked).toEqual(['Enter the 6-digit code sent to owner@acme.com:']);
    expect(result.stderr).toContain('A 6-digit verification code was sent to owner@acme.com.');
    expect(result.stdout).toContain('Registered: Agent (acme-bot)');
    expect(result.stdout).toContain(
      'Agent key key_agent (send receive, acme-bot-agent@loftbox.localhost only)',
    );
    // How the owner gets admin rights is for the person, on stderr: the console, not this agent's config.
    expect(result.stderr).toContain('http://127.0.0.1:8080/console');
    expect(result.stderr).toContain('was not saved');
  });

  it('asks again after a wrong code typed at the prompt', async () => {
    const answers = ['000000', '123456'];
    const result = await run(['register', '--owner-email', 'owner@acme.com'], {
      tty: true,
      routes: signupRoutes(),
      prompts: { input: async () => answers.shift() as string },
    });
    expect(result.code).toBe(EXIT.ok);
    expect(result.stderr).toContain('That code is wrong or has expired.');
  });

  it('never prompts with --no-input, LOFTBOX_NO_INPUT or CI, even on a terminal', async () => {
    for (const [args, env] of [
      [['--no-input'], {}],
      [[], { LOFTBOX_NO_INPUT: '1' }],
      [[], { CI: 'true' }],
    ] as const) {
      const result = await run(['register', '--owner-email', 'owner@acme.com', ...args], {
        tty: true,
        env,
        routes: signupRoutes(),
      });
      expect(result.code).toBe(EXIT.actionRequired);
    }
  });

  it('reads the code piped on stdin', async () => {
    const result = await run(['register', '--owner-email', 'owner@acme.com'], {
      stdin: '123456\n',
      routes: signupRoutes(),
    });
    expect(result.code).toBe(EXIT.ok);
    expect(routesOf(result.calls)).toContain('POST /v1/auth/signup/verify');
  });

  it('reads --code - from stdin without sending a new code', async () => {
    const result = await run(['register', '--owner-email', 'owner@acme.com', '--code', '-', '--json'], {
      stdin: '123456\n',
      routes: signupRoutes(),
    });
    expect(result.code).toBe(EXIT.ok);
    expect(routesOf(result.calls)).not.toContain('POST /v1/auth/signup');
  });

  it('asks for the owner email with exit 3 when it is missing and nobody can be asked', async () => {
    const result = await run(['register', '--json'], { routes: signupRoutes() });
    expect(result.code).toBe(EXIT.actionRequired);
    expect(JSON.parse(result.stdout)).toMatchObject({
      reason: 'missing_arguments',
      next: [{ command: `loftbox register --owner-email <email> --base-url ${DEFAULT_URL} --json` }],
    });
    expect(result.calls).toEqual([]);
  });

  it('reports a wrong code with the commands to retry or get a new one', async () => {
    const result = await run(['register', '--owner-email', 'owner@acme.com', '--code', '000000', '--json'], {
      routes: signupRoutes(),
    });
    expect(result.code).toBe(EXIT.failure);
    expect(JSON.parse(result.stdout)).toMatchObject({
      reason: 'invalid_code',
      next: [
        {
          command: `loftbox register --owner-email owner@acme.com --code <code> --base-url ${DEFAULT_URL} --json`,
        },
        { command: `loftbox register --owner-email owner@acme.com --base-url ${DEFAULT_URL} --json` },
      ],
    });
  });

  it('points to login when the email already owns a verified organization', async () => {
    const result = await run(['register', '--owner-email', 'owner@acme.com', '--json'], {
      routes: signupRoutes({
        'POST /v1/auth/signup': apiError(
          409,
          'email_already_registered',
          'That email already owns a verified organization.',
        ),
      }),
    });
    expect(result.code).toBe(EXIT.failure);
    expect(JSON.parse(result.stdout)).toMatchObject({
      reason: 'already_registered',
      next: [{ command: `loftbox login --with-key --base-url ${DEFAULT_URL} --json` }],
    });
  });

  it('is idempotent: a working stored key reports the existing agent and mailbox', async () => {
    const result = await run(['register', '--owner-email', 'owner@acme.com', '--json'], {
      config: {
        apiKey: 'lb_live_old',
        apiKeyId: 'key_1',
        ownerEmail: 'owner@acme.com',
        mailboxId: 'mb_uuid',
      },
      routes: {
        'GET /v1': { body: { ok: true, organization: org, api_key_id: 'key_1' } },
        'GET /v1/mailboxes/mb_uuid': { body: mailbox },
        'GET /v1/agents/agent_1': { body: agent },
        'GET /v1/auth/context': { body: agentContext },
      },
    });
    expect(result.code).toBe(EXIT.ok);
    expect(routesOf(result.calls)).toEqual([
      'GET /v1',
      'GET /v1/mailboxes/mb_uuid',
      'GET /v1/agents/agent_1',
      'GET /v1/auth/context',
    ]);
    expect(JSON.parse(result.stdout)).toMatchObject({
      alreadyRegistered: true,
      agent: { created: false },
      mailbox: { created: false },
    });
  });

  it('finds the agent by external id instead of creating a duplicate', async () => {
    const result = await run(['register', '--owner-email', 'owner@acme.com', '--code', '123456'], {
      routes: signupRoutes({
        'GET /v1/agents': { body: { data: [agent], next_cursor: null } },
        'GET /v1/agents/agent_1/mailboxes': { body: { data: [mailbox], next_cursor: null } },
      }),
    });
    expect(result.code).toBe(EXIT.ok);
    expect(routesOf(result.calls)).not.toContain('POST /v1/agents');
    expect(routesOf(result.calls)).not.toContain('POST /v1/agents/agent_1/mailboxes');
  });

  it('tries another local part when the address is taken', async () => {
    let tries = 0;
    const result = await run(['register', '--owner-email', 'owner@acme.com', '--code', '123456', '--json'], {
      routes: signupRoutes({
        'POST /v1/agents/agent_1/mailboxes': (req) => {
          tries += 1;
          return tries === 1
            ? apiError(409, 'address_taken', 'taken')
            : {
                status: 201,
                body: { ...mailbox, address: `${(req.body as { local_part: string }).local_part}@x` },
              };
        },
      }),
    });
    expect(result.code).toBe(EXIT.ok);
    expect((JSON.parse(result.stdout) as { mailbox: { address: string } }).mailbox.address).toMatch(
      /^acme-bot-agent-[0-9a-f]{4}@x$/,
    );
  });

  it('--self-signup takes the instant restricted path and saves its key', async () => {
    const result = await run(['register', '--owner-email', 'owner@acme.com', '--self-signup', '--json'], {
      routes: {
        'POST /v1/auth/agent-signup': {
          status: 201,
          body: {
            org_id: 'org_1',
            agent_id: 'agent_1',
            mailbox_id: 'mb_uuid',
            mailbox_address: 'bot-x@loftbox.localhost',
            api_key: 'lb_live_self',
            api_key_id: 'key_2',
            signup_status: 'unverified',
            claim: { url: 'http://h/claim?org_id=org_1', expires_at: '2030-01-01T00:00:00Z' },
          },
        },
        'GET /v1': {
          body: { ok: true, organization: { ...org, signup_status: 'unverified' }, api_key_id: 'key_2' },
        },
        'GET /v1/agents/agent_1': { body: agent },
        'GET /v1/mailboxes/mb_uuid': { body: mailbox },
      },
    });
    expect(result.code).toBe(EXIT.ok);
    expect(result.calls[0]?.body).toMatchObject({
      owner_email: 'owner@acme.com',
      agent_name: 'Agent (acme-bot)',
    });
    expect(JSON.parse(result.stdout)).toMatchObject({ claim: { url: 'http://h/claim?org_id=org_1' } });
    expect(result.store.read()).toMatchObject({ apiKey: 'lb_live_self', mailboxId: 'mb_uuid' });
  });
});

describe('login', () => {
  it('reads the key from stdin, checks it and stores it', async () => {
    const result = await run(['login', '--with-key', '--json'], {
      stdin: 'lb_live_piped\n',
      routes: {
        'GET /v1': { body: { ok: true, organization: org, api_key_id: 'key_9' } },
        'GET /v1/agents': { body: { data: [agent], next_cursor: null } },
        'GET /v1/agents/agent_1/mailboxes': { body: { data: [mailbox], next_cursor: null } },
      },
    });
    expect(result.code).toBe(EXIT.ok);
    expect(result.calls[0]?.headers.authorization).toBe('Bearer lb_live_piped');
    expect(result.store.read()).toMatchObject({
      apiKey: 'lb_live_piped',
      apiKeyId: 'key_9',
      mailboxId: 'mb_uuid',
    });
    expect(result.stdout).not.toContain('lb_live_piped');
  });

  it('exits 3 without --with-key when it cannot prompt', async () => {
    const result = await run(['login', '--json']);
    expect(result.code).toBe(EXIT.actionRequired);
    expect(JSON.parse(result.stdout)).toMatchObject({ reason: 'missing_arguments' });
  });

  it('exits 4 for a key the server refuses', async () => {
    const result = await run(['login', '--with-key'], {
      stdin: 'lb_live_bad',
      routes: { 'GET /v1': apiError(401, 'unauthorized', 'Invalid API key.') },
    });
    expect(result.code).toBe(EXIT.auth);
    expect(result.store.read()).toEqual({});
  });
});

describe('destructive commands', () => {
  const env = { LOFTBOX_API_KEY: 'lb_live_k' };
  const routes: Routes = {
    'DELETE /v1/auth/keys/k1': { body: { id: 'k1', revoked: true, revoked_count: 1 } },
    'DELETE /v1/webhooks/w1': { body: { id: 'w1', deleted: true } },
    'DELETE /v1/domains/d1': {
      body: { id: 'd1', public_id: 'dom_1', domain: 'x.example', status: 'deleted' },
    },
  };

  it.each([[['keys', 'revoke', 'k1']], [['webhooks', 'remove', 'w1']], [['domain', 'remove', 'd1']]])(
    '%j needs --yes without a terminal (exit 3) and deletes nothing',
    async (argv) => {
      const result = await run([...argv, '--json'], { env, routes });
      expect(result.code).toBe(EXIT.actionRequired);
      expect(JSON.parse(result.stdout)).toMatchObject({
        reason: 'confirmation_required',
        next: [{ command: `loftbox ${argv.join(' ')} --yes --base-url ${DEFAULT_URL} --json` }],
      });
      expect(result.calls).toEqual([]);
      const confirmed = await run([...argv, '--yes', '--json'], { env, routes });
      expect(confirmed.code).toBe(EXIT.ok);
      expect(confirmed.calls.map((c) => c.method)).toEqual(['DELETE']);
    },
  );

  it('asks on a terminal, defaulting to no', async () => {
    const declined = await run(['keys', 'revoke', 'k1'], {
      env,
      routes,
      tty: true,
      prompts: { confirm: async () => false },
    });
    expect(declined.code).toBe(EXIT.failure);
    expect(declined.calls).toEqual([]);
    const accepted = await run(['keys', 'revoke', 'k1'], {
      env,
      routes,
      tty: true,
      prompts: { confirm: async () => true },
    });
    expect(accepted.code).toBe(EXIT.ok);
    expect(accepted.stdout).toBe('Revoked 1 key.\n');
  });
});

describe('send', () => {
  const env = { LOFTBOX_API_KEY: 'lb_live_k', LOFTBOX_MAILBOX_ID: 'mb_uuid' };
  const sent = (req: FakeRequest) => ({
    status: 201,
    body: {
      public_id: 'msg_new',
      status: 'queued',
      subject: (req.body as { subject: string }).subject,
      to: (req.body as { to: string[] }).to,
    },
  });
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'loftbox-cli-send-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('sends the flags as the API body, with the idempotency key as a header', async () => {
    const file = join(dir, 'report.pdf');
    writeFileSync(file, 'PDF');
    const result = await run(
      [
        'send',
        '--to',
        'a@x.io',
        '--bcc',
        'b@x.io',
        '--subject',
        'Report',
        '--html',
        '<p>hi</p>',
        '--metadata-json',
        '{"ticket":"T-1"}',
        '--attach',
        file,
        '--idempotency-key',
        'k-1',
        '--json',
      ],
      { env, routes: { 'POST /v1/messages': sent } },
    );
    expect(result.code).toBe(EXIT.ok);
    const call = result.calls[0] as FakeRequest;
    expect(call.headers['idempotency-key']).toBe('k-1');
    expect(call.body).toEqual({
      mailbox_id: 'mb_uuid',
      to: ['a@x.io'],
      bcc: ['b@x.io'],
      subject: 'Report',
      body_html: '<p>hi</p>',
      metadata: { ticket: 'T-1' },
      attachments: [
        {
          filename: 'report.pdf',
          content_type: 'application/pdf',
          content: Buffer.from('PDF').toString('base64'),
        },
      ],
    });
  });

  it('takes the body from stdin', async () => {
    const result = await run(['send', '--to', 'a@x.io', '--subject', 'S'], {
      env,
      stdin: 'piped body\n',
      routes: { 'POST /v1/messages': sent },
    });
    expect(result.code).toBe(EXIT.ok);
    expect(result.calls[0]?.body).toMatchObject({ body_text: 'piped body\n' });
  });

  it('--reply-to-message threads the reply and fills recipient, subject and mailbox', async () => {
    const original = {
      id: 'm1',
      public_id: 'msg_1',
      mailbox_id: 'mb_other',
      subject: 'Question',
      from: 'customer@x.io',
      reply_to: [],
      message_id_header: '<orig@x.io>',
      references: ['<root@x.io>'],
    };
    const result = await run(['send', '--reply-to-message', 'msg_1', '--text', 'Answer'], {
      env: { LOFTBOX_API_KEY: 'lb_live_k' },
      routes: { 'GET /v1/messages/msg_1': { body: original }, 'POST /v1/messages': sent },
    });
    expect(result.code).toBe(EXIT.ok);
    expect(result.calls[1]?.body).toEqual({
      mailbox_id: 'mb_other',
      to: ['customer@x.io'],
      subject: 'Re: Question',
      body_text: 'Answer',
      in_reply_to: '<orig@x.io>',
      references: ['<root@x.io>', '<orig@x.io>'],
    });
  });

  it('prints the sent message without escape sequences from the subject', async () => {
    const result = await run(['send', '--to', 'a@x.io', '--subject', 'Hi\x1b]0;pwned\x07', '--text', 'T'], {
      env,
      routes: { 'POST /v1/messages': sent },
    });
    expect(result.stdout).toBe('msg_new queued: "Hi" to a@x.io\n');
  });
});

describe('inbox --watch', () => {
  const env = { LOFTBOX_API_KEY: 'lb_live_k', LOFTBOX_MAILBOX_ID: 'mb_uuid' };
  const message = (id: string) => ({
    id,
    public_id: `msg_${id}`,
    subject: `S ${id}`,
    from: 'a@x.io',
    received_at: null,
  });

  it('long-polls with a lease instead of sleeping between polls, prints what each poll hands out and stops with 130', async () => {
    const pages = [[], [message('1')], [message('2'), message('3')], []];
    const queries: URLSearchParams[] = [];
    const waits: number[] = [];
    const controller = new AbortController();
    const result = await run(['inbox', '--watch', '--json'], {
      env,
      signal: controller.signal,
      routes: {
        'GET /v1/mailboxes/mb_uuid/inbox': (req) => {
          queries.push(req.query);
          const data = pages.shift() ?? [];
          if (pages.length === 0) controller.abort();
          return { body: { data, next_cursor: null } };
        },
      },
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    expect(result.code).toBe(EXIT.interrupted);
    expect(
      result.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string }).id),
    ).toEqual(['1', '2', '3']);
    expect(waits).toEqual([]);
    expect(queries.map((q) => [q.get('wait'), q.get('lease')])).toEqual(
      Array.from({ length: 4 }, () => [String(WATCH_WAIT_S), String(WATCH_LEASE_S)]),
    );
  });

  it('takes the lease from --lease, also without --watch, and refuses one out of range', async () => {
    const queries: URLSearchParams[] = [];
    const routes: Routes = {
      'GET /v1/mailboxes/mb_uuid/inbox': (req) => {
        queries.push(req.query);
        return { body: { data: [], next_cursor: null } };
      },
    };
    expect((await run(['inbox', '--lease', '60', '--json'], { env, routes })).code).toBe(0);
    expect([queries[0]?.get('lease'), queries[0]?.get('wait')]).toEqual(['60', null]);
    expect((await run(['inbox', '--lease', '0'], { env, routes })).code).toBe(EXIT.usage);
    expect(queries).toHaveLength(1);
  });

  it('backs off after failed polls, honours Retry-After, and resets after a good one', async () => {
    const controller = new AbortController();
    const responses: (() => FakeResponse)[] = [
      () => apiError(503, 'storage_busy', 'Busy.'),
      () => apiError(503, 'storage_busy', 'Busy.'),
      () => ({ body: { data: [], next_cursor: null } }),
      () => ({ ...apiError(429, 'too_many_waiters', 'Too many.'), headers: { 'retry-after': '7' } }),
    ];
    const waits: number[] = [];
    const result = await run(['inbox', '--watch'], {
      env,
      signal: controller.signal,
      routes: {
        'GET /v1/mailboxes/mb_uuid/inbox': () => {
          const next = responses.shift();
          if (responses.length === 0) controller.abort();
          return (next ?? (() => ({ body: { data: [], next_cursor: null } })))();
        },
      },
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    expect(result.code).toBe(EXIT.interrupted);
    expect(waits).toEqual([WATCH_MIN_MS, WATCH_MIN_MS * 2, 7_000]);
  });

  it('keeps polling through server errors but stops on an auth error', async () => {
    const responses = [apiError(503, 'storage_busy', 'Busy.'), apiError(401, 'unauthorized', 'Revoked.')];
    const result = await run(['inbox', '--watch'], {
      env,
      routes: { 'GET /v1/mailboxes/mb_uuid/inbox': () => responses.shift() as ReturnType<typeof apiError> },
    });
    expect(result.code).toBe(EXIT.auth);
    expect(result.stderr).toContain('warning: Busy. Polling again.');
  });
});

describe('messages get --save-attachments', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'loftbox-cli-attach-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('saves through the signed URL inside the directory and refuses names with path separators', async () => {
    const attachments = [
      { id: 'a1', filename: 'ok.txt', content_type: 'text/plain', size_bytes: 2 },
      { id: 'a2', filename: '../../escape.txt', content_type: 'text/plain', size_bytes: 2 },
      { id: 'a3', filename: 'title\x1b]0;x\x07.txt', content_type: 'text/plain', size_bytes: 2 },
    ];
    const target = join(dir, 'out');
    const result = await run(['messages', 'get', 'msg_1', '--save-attachments', target, '--json'], {
      env: { LOFTBOX_API_KEY: 'lb_live_k' },
      routes: {
        'GET /v1/messages/msg_1': {
          body: { id: 'm1', public_id: 'msg_1', attachments, to: [], cc: [], labels: [], subject: 's' },
        },
        'GET /v1/attachments/a1/url': {
          body: { url: 'http://files.example/v1/attachments/a1/download?token=t1' },
        },
        'GET /v1/attachments/a3/url': {
          body: { url: 'http://files.example/v1/attachments/a3/download?token=t3' },
        },
        'GET /v1/attachments/a1/download': { raw: 'one' },
        'GET /v1/attachments/a3/download': { raw: 'three' },
      },
    });
    expect(result.code).toBe(EXIT.failure);
    const doc = JSON.parse(result.stdout) as {
      savedAttachments: { id: string; status: string; path: string | null }[];
    };
    expect(doc.savedAttachments.map((s) => [s.id, s.status])).toEqual([
      ['a1', 'saved'],
      ['a2', 'refused'],
      ['a3', 'saved'],
    ]);
    expect(readdirSync(target).sort()).toEqual(['ok.txt', 'title.txt']);
    expect(readdirSync(dir)).toEqual(['out']);
    expect(existsSync(join(dir, '..', 'escape.txt'))).toBe(false);
    const downloads = result.calls.filter((c) => c.path.endsWith('/download'));
    expect(downloads.map((c) => c.headers.authorization)).toEqual([undefined, undefined]);
  });
});

describe('webhooks', () => {
  it('registers the endpoint for the agent owning the configured mailbox', async () => {
    const result = await run(
      ['webhooks', 'add', '--url', 'https://h.example/x', '--event-type', 'message.inbound', '--json'],
      {
        env: { LOFTBOX_API_KEY: 'lb_live_k', LOFTBOX_MAILBOX_ID: 'mb_uuid' },
        routes: {
          'GET /v1/mailboxes/mb_uuid': { body: mailbox },
          'POST /v1/agents/agent_1/webhooks': {
            status: 201,
            body: { id: 'w1', url: 'https://h.example/x', secret: 'whsec_x' },
          },
        },
      },
    );
    expect(result.code).toBe(EXIT.ok);
    expect(result.calls[1]?.body).toEqual({ url: 'https://h.example/x', event_types: ['message.inbound'] });
    expect(JSON.parse(result.stdout)).toMatchObject({ secret: 'whsec_x' });
  });
});

describe('lists', () => {
  it('print the API rows with nextCursor in JSON and a table for people', async () => {
    const store = memoryConfigStore({ apiKey: 'lb_live_k' });
    const routes: Routes = {
      'GET /v1/auth/keys': {
        body: {
          data: [
            {
              id: 'k1',
              name: 'ci',
              key_prefix: 'lb_live_ab',
              scopes: ['send'],
              last_used_at: null,
              revoked_at: null,
            },
          ],
          next_cursor: 'c2',
        },
      },
    };
    const json = await run(['keys', 'list', '--limit', '1', '--json'], { store, routes });
    expect(JSON.parse(json.stdout)).toEqual({
      data: [
        {
          id: 'k1',
          name: 'ci',
          key_prefix: 'lb_live_ab',
          scopes: ['send'],
          last_used_at: null,
          revoked_at: null,
        },
      ],
      nextCursor: 'c2',
    });
    expect(json.calls[0]?.query.get('limit')).toBe('1');
    const human = await run(['keys', 'list'], { store, routes });
    expect(human.stdout.split('\n')[0]).toMatch(
      /^ID\s+PREFIX\s+NAME\s+SCOPES\s+LAST USED\s+STATE\s+CONSTRAINTS$/,
    );
    expect(human.stderr).toContain('More results: repeat with --cursor c2');
  });
});

describe('keys create with constraints', () => {
  it('sends mailboxes, reply-only, allowed recipients, budgets and expiry, and shows them', async () => {
    const constraints = {
      mailbox_ids: ['mb_1'],
      reply_only: true,
      allowed_recipients: ['@example.com'],
      send_budget: { per_hour: 5, per_day: 20 },
      expires_at: '2030-01-01T09:00:00Z',
    };
    const result = await run(
      [
        'keys',
        'create',
        '--scope',
        'send',
        '--mailbox',
        'mb_1',
        '--reply-only',
        '--allow',
        '@example.com',
        '--budget',
        '20/day',
        '--budget',
        '5/hour',
        '--expires-at',
        '2030-01-01T09:00:00Z',
      ],
      {
        store: memoryConfigStore({ apiKey: 'lb_live_k' }),
        routes: {
          'POST /v1/auth/keys': {
            status: 201,
            body: {
              id: 'k9',
              key_prefix: 'lb_live_xy',
              scopes: ['send'],
              api_key: 'lb_live_new',
              constraints,
            },
          },
        },
      },
    );
    expect(result.code).toBe(EXIT.ok);
    expect(result.calls[0]?.body).toEqual({ scopes: ['send'], constraints });
    expect(result.stdout.trim()).toBe('lb_live_new');
    expect(result.stderr).toContain('mailboxes:1 reply-only allow:@example.com budget:5/hour budget:20/day');
  });

  it('refuses a budget that is not <count>/hour or <count>/day before calling the server', async () => {
    const result = await run(['keys', 'create', '--scope', 'send', '--budget', '20/week'], {
      store: memoryConfigStore({ apiKey: 'lb_live_k' }),
      routes: {},
    });
    expect(result.code).not.toBe(EXIT.ok);
    expect(result.calls).toHaveLength(0);
    expect(result.stderr).toContain('Expected <count>/hour or <count>/day');
  });
});
