import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsServer, type DnsZoneServer } from '../harness/dns.js';
import { startFakeMx, type FakeMx } from '../harness/fake-mx.js';
import { apiJson, onboard, spawnServer, type SpawnedServer } from '../harness/spawn.js';
import { doc, makeCli } from './cli-harness.js';

/**
 * Issue 17, points 1–3, through the built CLI against a spawned server: a send that cannot arrive is
 * refused or reported as such, the agent never keeps an admin key, and every `next` command repeats
 * the server and output mode of the call that printed it.
 */
let dir: string;
let dns: DnsZoneServer;
let mx: FakeMx;
let server: SpawnedServer;
let cli: ReturnType<typeof makeCli>;
let agentHome: string;

const owner = 'owner@agent-experience.example';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loftbox-agent-ux-'));
  dns = await startDnsServer({
    'dest.test': { MX: [{ exchange: 'mx.dest.test', priority: 10 }] },
    'mx.dest.test': { A: ['127.0.0.1'] },
  });
  mx = await startFakeMx({
    playbook: {
      rcptTo: (address) =>
        address.startsWith('later@')
          ? { code: 451, message: '4.2.0 Mailbox busy, try again later' }
          : address.startsWith('refuse@')
            ? { code: 550, message: '5.1.1 No such user here' }
            : null,
    },
  });
  server = await spawnServer({
    LOFTBOX_DATA_DIR: join(dir, 'data'),
    LOFTBOX_DEV: '1',
    LOFTBOX_DNS_SERVERS: dns.server,
    LOFTBOX_DELIVERY: 'direct',
    LOFTBOX_OUTBOUND_PORT: String(mx.port),
    LOFTBOX_OUTBOUND_ALLOW: '127.0.0.0/8',
    LOFTBOX_QUEUE_POLL: '100ms',
    // A deferred recipient's next attempt lies far past any wait: `send --wait` must say "deferred".
    LOFTBOX_RETRY_SCHEDULE: '1h',
  });
  agentHome = join(dir, 'agent');
  cli = makeCli({ HOME: agentHome, LOFTBOX_CONFIG_DIR: agentHome, LOFTBOX_BASE_URL: server.url });
}, 60_000);

afterAll(async () => {
  server?.child.kill('SIGTERM');
  await server?.exited;
  await mx?.close();
  await dns?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A `send --wait` run may take its whole wait under load: the CLI deadline and the test's are above it. */
const WAIT_RUN = { timeoutMs: 90_000 };
const WAIT_TEST_MS = 120_000;

const codeFor = async (email: string) =>
  (
    await server.waitFor(new RegExp(`verification code for ${email.replace(/[.+]/g, '\\$&')}: (\\d{6})`))
  )[1] ?? '';

const configOf = (home: string) =>
  JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as {
    apiKey: string;
    apiKeyId: string;
    mailboxId: string;
  };

describe('register leaves the agent a send/receive key bound to its mailbox (17.2)', () => {
  it('registers in two calls whose next command names the server in use and --json', async () => {
    const first = await cli(['register', '--owner-email', owner, '--json']);
    expect(first.code).toBe(3);
    expect(doc(first).next).toEqual([
      { command: `loftbox register --owner-email ${owner} --code <code> --base-url ${server.url} --json` },
    ]);
    expect(doc(first).server).toEqual({
      baseUrl: server.url,
      source: 'env',
      from: 'env LOFTBOX_BASE_URL',
    });

    const second = await cli(['register', '--owner-email', owner, '--code', await codeFor(owner), '--json']);
    expect(second.code).toBe(0);
    const registered = doc(second);
    expect(registered).toMatchObject({
      alreadyRegistered: false,
      apiKeyScopes: ['send', 'receive'],
      apiKeyMailboxIds: [registered.mailbox.id],
      ownerAdmin: {
        consoleUrl: `${server.url}/console`,
        message: expect.stringContaining('admin scope'),
      },
    });
    // The owner key was used and discarded: no key is printed, and the saved one is the child.
    expect(`${second.stdout}${second.stderr}`).not.toMatch(/lb_(live|test)_/);
    const config = configOf(agentHome);
    expect(config.apiKeyId).toBe(registered.apiKeyId);
    const context = await apiJson(`${server.url}/v1/auth/context`, { key: config.apiKey });
    expect([...context.granted_scopes].sort()).toEqual(['receive', 'send']);
    expect(context.effective_scopes).not.toContain('keys:manage');
  });

  it('cannot be talked into minting an admin key or managing the account', async () => {
    const { apiKey } = configOf(agentHome);
    const escalate = await cli(['keys', 'create', '--scope', 'admin', '--json']);
    expect(escalate.code).toBe(4);
    expect(doc(escalate).api).toMatchObject({ status: 403, code: 'scope_escalation' });
    const agents = await fetch(`${server.url}/v1/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Rogue agent' }),
    });
    expect(agents.status).toBe(403);
  });

  it('whoami shows the scopes, the server and where it came from, with no admin warning', async () => {
    const who = await cli(['whoami', '--json']);
    expect(who.code).toBe(0);
    expect(doc(who)).toMatchObject({
      scopes: ['send', 'receive'],
      adminKey: false,
      warnings: [],
      server: { baseUrl: server.url, source: 'env', from: 'env LOFTBOX_BASE_URL' },
    });
    expect(who.stderr).toBe('');
  });

  it('keeps an old config holding the owner key working, warns in whoami, and register swaps it', async () => {
    const email = 'legacy-owner@agent-experience.example';
    const legacy = await onboard(server, { email, localPart: 'legacy-agent' });
    const home = join(dir, 'legacy');
    const legacyCli = makeCli({ HOME: home, LOFTBOX_CONFIG_DIR: home });
    mkdirSync(home, { recursive: true });
    writeFileSync(
      join(home, 'config.json'),
      JSON.stringify({
        baseUrl: server.url,
        apiKey: legacy.key,
        ownerEmail: email,
        agentId: legacy.agentId,
        mailboxId: legacy.mailboxId,
        mailboxAddress: legacy.address,
      }),
      { mode: 0o600 },
    );

    const who = await legacyCli(['whoami']);
    expect(who.code).toBe(0);
    expect(who.stdout).toContain(`Server:        ${server.url} (from config ${join(home, 'config.json')})`);
    expect(who.stdout).toMatch(/scopes .*admin/);
    expect(who.stderr).toContain('is an admin key');
    expect(who.stderr).toContain(`loftbox register --owner-email ${email} --base-url ${server.url}`);

    const stillWorks = await legacyCli([
      'send',
      '--to',
      'anyone@dest.test',
      '--subject',
      'Old config',
      '--text',
      'Hi',
      '--json',
    ]);
    expect(stillWorks.code).toBe(0);

    const swap = await legacyCli(['register', '--owner-email', email, '--json']);
    expect(swap.code).toBe(0);
    expect(doc(swap)).toMatchObject({
      alreadyRegistered: true,
      apiKeyScopes: ['send', 'receive'],
      apiKeyMailboxIds: [legacy.mailboxId],
      mailbox: { id: legacy.mailboxId, created: false },
    });
    expect(configOf(home).apiKey).not.toBe(legacy.key);
    const after = await legacyCli(['whoami', '--json']);
    expect(doc(after)).toMatchObject({ adminKey: false, warnings: [] });
  });
});

describe('a send that cannot arrive does not look like success (17.1)', () => {
  it('refuses a recipient on the hosted domain that has no mailbox, naming it, and queues nothing', async () => {
    const refused = await cli([
      'send',
      '--to',
      'partner@loftbox.localhost',
      '--to',
      'anyone@dest.test',
      '--subject',
      'Proposal',
      '--text',
      'Hello',
      '--json',
    ]);
    expect(refused.code).toBe(1);
    expect(doc(refused)).toMatchObject({
      status: 'error',
      reason: 'recipient_not_found',
      message: expect.stringContaining('partner@loftbox.localhost'),
      api: { status: 422, code: 'recipient_not_found' },
      server: { baseUrl: server.url, from: 'env LOFTBOX_BASE_URL' },
    });
    const sent = await cli(['messages', 'list', '--direction', 'outgoing', '--json']);
    expect(doc(sent).data).toEqual([]);
  });

  it(
    '--wait exits 0 once every recipient is delivered: a local mailbox and a remote MX',
    async () => {
      const peer = await onboard(server, { email: 'peer-owner@agent-experience.example', localPart: 'peer' });
      const run = await cli(
        [
          'send',
          '--to',
          peer.address,
          '--to',
          'ok@dest.test',
          '--subject',
          'Both arrive',
          '--text',
          'Hi',
          '--wait',
          '--json',
        ],
        WAIT_RUN,
      );
      expect(run.code).toBe(0);
      const sent = doc(run);
      expect(sent.wait).toMatchObject({ outcome: 'delivered', message_id: sent.public_id });
      expect(sent.wait.recipients).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ address: peer.address, outcome: 'delivered', status: 'delivered' }),
          expect.objectContaining({ address: 'ok@dest.test', outcome: 'delivered', status: 'delivered' }),
        ]),
      );
    },
    WAIT_TEST_MS,
  );

  it(
    '--wait exits 5 when a recipient fails, naming it and the remote reply',
    async () => {
      const run = await cli(
        ['send', '--to', 'refuse@dest.test', '--subject', 'Will fail', '--text', 'Hi', '--wait=45', '--json'],
        WAIT_RUN,
      );
      expect(run.code).toBe(5);
      const envelope = doc(run);
      expect(envelope).toMatchObject({
        reason: 'delivery_failed',
        message: expect.stringContaining('refuse@dest.test'),
        delivery: {
          outcome: 'failed',
          recipients: [{ address: 'refuse@dest.test', outcome: 'failed', status: 'failed' }],
        },
      });
      expect(envelope.delivery.recipients[0].last_response).toMatch(/550 5\.1\.1/);
      expect(envelope.next).toEqual([
        {
          command: `loftbox messages get ${envelope.delivery.message_id} --base-url ${server.url} --json`,
        },
      ]);
    },
    WAIT_TEST_MS,
  );

  it(
    '--wait exits 6 while a recipient is deferred, and says so in human output',
    async () => {
      const run = await cli(
        ['send', '--to', 'later@dest.test', '--subject', 'Greylisted', '--text', 'Hi', '--wait', '45'],
        WAIT_RUN,
      );
      expect(run.code).toBe(6);
      expect(run.stdout).toMatch(/^msg_\S+ queued: "Greylisted" to later@dest\.test$/m);
      expect(run.stderr).toMatch(/not delivered yet after 45 s: later@dest\.test: deferred \(451 4\.2\.0/);
      expect(run.stderr).toContain('keeps retrying');
      expect(run.stderr).toContain(`Server: ${server.url} (from env LOFTBOX_BASE_URL)`);
      expect(run.stderr).toMatch(
        new RegExp(`Try: loftbox messages get msg_\\S+ --base-url ${server.url}$`, 'm'),
      );
    },
    WAIT_TEST_MS,
  );
});

describe('next commands and errors name the server in use (17.3)', () => {
  it('adds --base-url and --json to every next command of an error, and names a flag as the source', async () => {
    const run = await cli(['whoami', '--api-key', 'lb_live_not-a-key', '--base-url', server.url, '--json'], {
      env: { LOFTBOX_BASE_URL: undefined },
    });
    expect(run.code).toBe(4);
    expect(doc(run)).toMatchObject({
      reason: 'unauthorized',
      next: [
        { command: `loftbox login --with-key --base-url ${server.url} --json` },
        { command: `loftbox whoami --base-url ${server.url} --json` },
      ],
      server: { baseUrl: server.url, source: 'flag', from: 'flag --base-url' },
    });
  });

  it('keeps redirections after the added flags and leaves human next commands without --json', async () => {
    const run = await cli(['login'], { env: { LOFTBOX_NO_INPUT: '1' } });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`Try: loftbox login --with-key --base-url ${server.url} < key.txt`);
  });
});
