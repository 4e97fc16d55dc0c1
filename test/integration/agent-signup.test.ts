import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../server/lib/clock.js';
import { startTestServer, type TestServer } from '../harness/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ signupLimitPerEmail: 100, signupLimitPerIp: 1000 });
});
afterAll(async () => {
  await server.close();
});

let n = 0;
const ownerEmail = () => `agent-owner-${++n}-${Date.now()}@example.com`;

async function selfSignup(owner: string, body: Record<string, unknown> = {}) {
  const res = await server.api('POST', '/v1/auth/agent-signup', { body: { owner_email: owner, ...body } });
  expect(res.status).toBe(201);
  return res.body as {
    org_id: string;
    agent_id: string;
    mailbox_id: string;
    mailbox_address: string;
    api_key: string;
    signup_status: string;
    claim: { url: string; expires_at: string };
  };
}

describe('agent self-signup', () => {
  it('creates a restricted org, an agent, a bot mailbox and a send+receive key in one call', async () => {
    const owner = ownerEmail();
    const res = await selfSignup(owner, { agent_name: 'Research Bot', referrer: null });
    expect(res.signup_status).toBe('unverified');
    expect(res.mailbox_address).toMatch(new RegExp(`^bot-[a-z2-7]{10}@${server.deps.config.mailDomain}$`));
    expect(res.api_key).toMatch(/^lb_live_/);
    expect(res.claim.url).toBe(`${server.url}/claim?org_id=${res.org_id}`);
    const expires = new Date(res.claim.expires_at).getTime() - server.clock.now().getTime();
    expect(Math.abs(expires - 30 * DAY_MS)).toBeLessThan(2000);

    const context = await server.api('GET', '/v1/auth/context', { key: res.api_key });
    expect(context.body.organization.signup_status).toBe('unverified');
    expect(context.body.granted_scopes).toEqual(['send', 'receive']);
    expect(context.body.effective_scopes).not.toContain('keys:manage');

    const mailbox = await server.api('GET', `/v1/mailboxes/${res.mailbox_id}`, { key: res.api_key });
    expect(mailbox.status).toBe(200);
    expect(mailbox.body.address).toBe(res.mailbox_address);
    expect(mailbox.body.agent_id).toBe(res.agent_id);
    const agent = await server.api('GET', `/v1/agents/${res.agent_id}`, { key: res.api_key });
    expect(agent.body.name).toBe('Research Bot');

    const claimMail = server.systemMail(owner)[0];
    expect(claimMail?.kind).toBe('claim_code');
    const decoded = (claimMail?.raw.toString('utf8') ?? '').replace(/=\r\n/g, '').replace(/=3D/g, '=');
    expect(decoded).toContain(`/claim?org_id=${res.org_id}`);
    expect(decoded).not.toContain(res.api_key);
  });

  it('cannot manage agents or keys with the restricted key', async () => {
    const res = await selfSignup(ownerEmail());
    const create = await server.api('POST', '/v1/agents', {
      key: res.api_key,
      body: { name: 'x', slug: 'x' },
    });
    expect(create.status).toBe(403);
    const keys = await server.api('GET', '/v1/auth/keys', { key: res.api_key });
    expect(keys.status).toBe(403);
  });

  it('gives each signup its own org and mailbox, even for the same owner', async () => {
    const owner = ownerEmail();
    const a = await selfSignup(owner);
    const b = await selfSignup(owner);
    expect(a.org_id).not.toBe(b.org_id);
    expect(a.mailbox_address).not.toBe(b.mailbox_address);
    const cross = await server.api('GET', `/v1/mailboxes/${b.mailbox_id}`, { key: a.api_key });
    expect(cross.status).toBe(404);
  });

  it('rejects a missing or malformed owner email with 422', async () => {
    const res = await server.api('POST', '/v1/auth/agent-signup', { body: { owner_email: 'nope' } });
    expect(res.status).toBe(422);
    expect(res.body.error.details[0].path).toBe('owner_email');
  });
});

describe('claim', () => {
  it('lifts restricted mode with the mailed code', async () => {
    const owner = ownerEmail();
    const res = await selfSignup(owner);
    const start = await server.api('POST', '/v1/auth/claim/start', { body: { org_id: res.org_id } });
    expect(start.status).toBe(202);
    const code = server.lastCode(owner);
    const verify = await server.api('POST', '/v1/auth/claim/verify', { body: { org_id: res.org_id, code } });
    expect(verify.status).toBe(200);
    expect(verify.body).toEqual({ org_id: res.org_id, signup_status: 'verified' });
    const context = await server.api('GET', '/v1/auth/context', { key: res.api_key });
    expect(context.body.organization.signup_status).toBe('verified');
  });

  it('starts by email and answers 202 for unknown orgs and emails alike', async () => {
    const owner = ownerEmail();
    const res = await selfSignup(owner);
    const before = server.systemMail(owner).length;
    const byEmail = await server.api('POST', '/v1/auth/claim/start', {
      body: { email: owner.toUpperCase() },
    });
    expect(byEmail.status).toBe(202);
    expect(server.systemMail(owner).length).toBe(before + 1);
    const unknownOrg = await server.api('POST', '/v1/auth/claim/start', {
      body: { org_id: '01a1fd3f-0000-7000-8000-000000000000' },
    });
    const unknownEmail = await server.api('POST', '/v1/auth/claim/start', { body: { email: ownerEmail() } });
    expect([unknownOrg.status, unknownEmail.status]).toEqual([202, 202]);
    expect(unknownOrg.body).toEqual(byEmail.body);
    const missing = await server.api('POST', '/v1/auth/claim/start', { body: {} });
    expect(missing.status).toBe(422);
    const code = server.lastCode(owner);
    const ok = await server.api('POST', '/v1/auth/claim/verify', { body: { org_id: res.org_id, code } });
    expect(ok.status).toBe(200);
  });

  it('refuses a wrong code, and locks after five wrong tries', async () => {
    const owner = ownerEmail();
    const res = await selfSignup(owner);
    const code = server.lastCode(owner);
    const wrong = code === '999999' ? '888888' : '999999';
    for (let i = 0; i < 5; i++) {
      const bad = await server.api('POST', '/v1/auth/claim/verify', {
        body: { org_id: res.org_id, code: wrong },
      });
      expect(bad.status).toBe(400);
    }
    const locked = await server.api('POST', '/v1/auth/claim/verify', { body: { org_id: res.org_id, code } });
    expect(locked.status).toBe(429);
  });

  it('does not claim an owner-signup org through the claim route', async () => {
    const owner = ownerEmail();
    const signup = await server.api('POST', '/v1/auth/signup', {
      body: { email: owner, organization_name: 'Owner' },
    });
    const res = await server.api('POST', '/v1/auth/claim/verify', {
      body: { org_id: signup.body.organization.id, code: server.lastCode(owner) },
    });
    expect(res.status).toBe(400);
  });

  it('serves the claim page the mailed link points to', async () => {
    const res = await server.api('GET', '/claim?org_id=%22%3E%3Cscript%3E');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.text).toContain('/v1/auth/claim/verify');
    expect(res.text).not.toContain('"><script>');
  });
});

describe('unclaimed organization purge', () => {
  it('deletes unclaimed orgs and all their data after 30 days, and keeps claimed ones', async () => {
    const purgeServer = await startTestServer();
    try {
      const owner = `purge-${Date.now()}@example.com`;
      const doomed = (
        await purgeServer.api('POST', '/v1/auth/agent-signup', { body: { owner_email: owner } })
      ).body;
      const kept = (await purgeServer.api('POST', '/v1/auth/agent-signup', { body: { owner_email: owner } }))
        .body;
      await purgeServer.api('POST', '/v1/auth/claim/start', { body: { org_id: kept.org_id } });
      const claim = await purgeServer.api('POST', '/v1/auth/claim/verify', {
        body: { org_id: kept.org_id, code: purgeServer.lastCode(owner) },
      });
      expect(claim.status).toBe(200);

      purgeServer.clock.advance(29 * DAY_MS);
      await purgeServer.running.scheduler.tick();
      expect((await purgeServer.api('GET', '/v1', { key: doomed.api_key })).status).toBe(200);

      purgeServer.clock.advance(1 * DAY_MS + 60_000);
      await purgeServer.running.scheduler.tick();
      expect((await purgeServer.api('GET', '/v1', { key: doomed.api_key })).status).toBe(401);
      expect((await purgeServer.api('GET', '/v1', { key: kept.api_key })).status).toBe(200);

      const db = purgeServer.deps.db;
      for (const table of [
        'organizations',
        'agents',
        'mailboxes',
        'api_keys',
        'verification_codes',
        'captured_mail',
      ]) {
        const column = table === 'organizations' ? 'id' : 'org_id';
        const row = db
          .prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE ${column} = ?`)
          .get(doomed.org_id) as {
          n: number;
        };
        expect(row.n, table).toBe(0);
      }
      // The address of a purged org does not block anything and is simply gone.
      expect(purgeServer.deps.repos.mailboxes.holdersOfAddress(doomed.mailbox_address)).toEqual([]);
    } finally {
      await purgeServer.close();
    }
  });

  it('runs on the configured interval without being called', async () => {
    const purgeServer = await startTestServer({ jobIntervalMs: 20 });
    try {
      const doomed = (
        await purgeServer.api('POST', '/v1/auth/agent-signup', {
          body: { owner_email: 'interval@example.com' },
        })
      ).body;
      purgeServer.clock.advance(31 * DAY_MS);
      const deadline = Date.now() + 10_000;
      let status = 200;
      while (status === 200 && Date.now() < deadline) {
        await new Promise((resolve) => setImmediate(resolve));
        status = (await purgeServer.api('GET', '/v1', { key: doomed.api_key })).status;
      }
      expect(status).toBe(401);
    } finally {
      await purgeServer.close();
    }
  });
});
