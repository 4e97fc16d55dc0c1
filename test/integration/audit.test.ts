import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_ACTIONS } from '../../server/audit/record.js';
import { auditRetentionPurge } from '../../server/jobs/audit-retention.js';
import { startTestServer, type ApiResponse, type Json, type TestServer } from '../harness/server.js';
import { ConsoleClient, consoleCode } from '../harness/console-client.js';

/** The audit log: CONTRACT §12 (GET /v1/audit) and issue 14 part D. */
let server: TestServer;
let a: Awaited<ReturnType<TestServer['mailbox']>> & { publicMailboxId: string };
let b: Awaited<ReturnType<TestServer['mailbox']>>;
const ownerA = `audit-owner-${Date.now()}@example.com`;

beforeAll(async () => {
  server = await startTestServer({
    webhookAllow: '127.0.0.0/8',
    signupLimitPerIp: 1000,
    signupLimitPerEmail: 1000,
  });
  const org = await server.signupOrg(ownerA, 'Audited');
  const agent = await server.api('POST', '/v1/agents', { key: org.key, body: { name: 'Auditor' } });
  const box = await server.api('POST', `/v1/agents/${agent.body.id}/mailboxes`, {
    key: org.key,
    body: { local_part: 'audited' },
  });
  a = {
    ...org,
    agentId: agent.body.id,
    mailboxId: box.body.id,
    publicMailboxId: box.body.public_id,
    address: box.body.address,
  };
  b = await server.mailbox('audit-other');
});
afterAll(async () => {
  await server.close();
});

/** Every audit row of an org, all pages. */
async function auditLog(key: string, query = ''): Promise<Json[]> {
  const rows: Json[] = [];
  let cursor: string | null = null;
  do {
    const sep = query ? '&' : '';
    const path = `/v1/audit?limit=100${sep}${query}${cursor ? `&cursor=${cursor}` : ''}`;
    const res = await server.api('GET', path, { key });
    expect(res.status, res.text).toBe(200);
    rows.push(...(res.body.data as Json[]));
    cursor = res.body.next_cursor as string | null;
  } while (cursor);
  return rows;
}

const expected: { action: string; requestId: string; targetId: string | null }[] = [];

/** Calls the API as org A's admin key; expects success and notes the audit row it must leave. */
async function act(
  action: string,
  method: string,
  path: string,
  body?: unknown,
  targetId?: (res: ApiResponse) => string | null,
): Promise<ApiResponse> {
  const res = await server.api(method, path, { key: a.key, body });
  expect(res.status, `${method} ${path}: ${res.text}`).toBeLessThan(300);
  const requestId = res.headers.get('x-request-id') ?? '';
  expect(requestId).not.toBe('');
  expected.push({ action, requestId, targetId: targetId ? targetId(res) : (res.body?.id ?? null) });
  return res;
}

const send = (to: string, subject: string) =>
  act('message.send', 'POST', '/v1/messages', {
    mailbox_id: a.mailboxId,
    to: [to],
    subject,
    body_text: 'hello',
  });

describe('audit log', () => {
  it('records every API action kind with the request id of its response', async () => {
    const agent = await act('agent.create', 'POST', '/v1/agents', { name: 'Temp' });
    await act('agent.update', 'PATCH', `/v1/agents/${agent.body.id}`, { name: 'Temp 2' });
    const box = await act('mailbox.create', 'POST', `/v1/agents/${agent.body.id}/mailboxes`, {
      local_part: 'audit-temp',
    });
    await act('mailbox.update', 'PATCH', `/v1/mailboxes/${box.body.id}`, { retention_days: 3 });
    await act('mailbox.delete', 'DELETE', `/v1/mailboxes/${box.body.id}`, undefined, () => box.body.id);
    await act('agent.delete', 'DELETE', `/v1/agents/${agent.body.id}`);

    const key = await act('key.create', 'POST', '/v1/auth/keys', { scopes: ['send'], name: 'child' });
    await act('key.revoke', 'DELETE', `/v1/auth/keys/${key.body.id}`);

    const policy = await act('policy.create', 'POST', '/v1/approval-policies', {
      name: 'Review partners',
      action: 'require_approval',
      scope_type: 'org',
      recipient_domain: 'partner.test',
      reason: 'Partner mail needs review',
    });
    const held = await send('someone@partner.test', 'held one');
    const second = await send('other@partner.test', 'held two');
    await send('plain@dest.test', 'straight through');
    await act('message.approve', 'POST', `/v1/messages/${held.body.id}/approve`, { reason: 'looks fine' });
    await act('message.reject', 'POST', `/v1/messages/${second.body.id}/reject`, { reason: 'no' });
    await act('policy.update', 'PATCH', `/v1/approval-policies/${policy.body.id}`, { enabled: false });
    await act(
      'policy.delete',
      'DELETE',
      `/v1/approval-policies/${policy.body.id}`,
      undefined,
      () => policy.body.id,
    );

    const msg = held.body.id as string;
    await act('message.label_add', 'POST', `/v1/messages/${msg}/labels`, { labels: ['x'] });
    await act('message.label_remove', 'DELETE', `/v1/messages/${msg}/labels/x`);
    await act('message.archive', 'POST', `/v1/messages/${msg}/archive`);
    await act('message.unarchive', 'POST', `/v1/messages/${msg}/unarchive`);
    const rejected = second.body.id as string;
    await act(
      'message.trash',
      'POST',
      `/v1/messages/${second.body.public_id}/trash`,
      undefined,
      () => rejected,
    );
    // Public ids in the path are logged as the resource's id.
    await act(
      'inbox.ack',
      'POST',
      `/v1/mailboxes/${a.publicMailboxId}/inbox/ack`,
      { message_ids: [msg] },
      () => a.mailboxId,
    );

    const sup = await act('suppression.create', 'POST', '/v1/suppressions', { address: 'gone@dest.test' });
    await act('suppression.delete', 'DELETE', `/v1/suppressions/${sup.body.id}`);
    const rule = await act('inbound_rule.create', 'POST', '/v1/inbound-rules', {
      rule_type: 'block',
      pattern_type: 'domain',
      pattern: 'spam.test',
    });
    await act(
      'inbound_rule.delete',
      'DELETE',
      `/v1/inbound-rules/${rule.body.id}`,
      undefined,
      () => rule.body.id,
    );

    const domain = await act('domain.create', 'POST', '/v1/domains', { domain: 'audited.test' });
    await act(
      'domain.verify',
      'POST',
      `/v1/domains/${domain.body.public_id}/verify`,
      undefined,
      () => domain.body.id,
    );
    await act('domain.delete', 'DELETE', `/v1/domains/${domain.body.id}`, undefined, () => domain.body.id);

    const hook = await act('webhook.create', 'POST', `/v1/agents/${a.agentId}/webhooks`, {
      url: 'http://127.0.0.1:9/hook',
      event_types: ['message.inbound'],
    });
    await act('webhook.update', 'PATCH', `/v1/webhooks/${hook.body.id}`, { status: 'disabled' });
    await act(
      'webhook.rotate_secret',
      'POST',
      `/v1/webhooks/${hook.body.id}/rotate-secret`,
      undefined,
      () => hook.body.id,
    );
    await act('webhook.delete', 'DELETE', `/v1/webhooks/${hook.body.id}`, undefined, () => hook.body.id);

    const rows = await auditLog(a.key);
    for (const want of expected) {
      const row = rows.find((r) => r.request_id === want.requestId);
      expect(row, `${want.action} ${want.requestId}`).toBeDefined();
      expect(row.action).toBe(want.action);
      expect(row.actor).toEqual({ type: 'key', id: a.keyId, label: expect.any(String) });
      expect(row.target.id, want.action).toBe(want.targetId);
      expect(row.ip).toBe('127.0.0.1');
      expect(Date.parse(row.at)).not.toBeNaN();
    }
    // Secrets handed out once (the child key, the webhook secret) never reach the log.
    const text = JSON.stringify(rows);
    expect(text).not.toContain(key.body.api_key);
    expect(text).not.toContain(hook.body.secret);

    // The send rows carry the status and the policy verdict that decided it.
    const sends = rows.filter((r) => r.action === 'message.send');
    const heldRow = sends.find((r) => r.target.id === held.body.id);
    expect(heldRow.details).toEqual({
      status: 'pending_approval',
      policy: { action: 'require_approval', policy_id: policy.body.id, reason: 'Partner mail needs review' },
    });
    expect(sends.find((r) => r.details.policy.action === 'send')?.details.status).toBe('queued');
    const approve = rows.find((r) => r.action === 'message.approve');
    expect(approve.details).toEqual({ reason: 'looks fine' });
    expect(rows.find((r) => r.action === 'webhook.update').details).toEqual({ fields: ['status'] });
  });

  it('filters by action, actor, target and time, newest first, paged', async () => {
    const sends = await auditLog(a.key, 'action=message.send');
    expect(sends.length).toBe(3);
    expect(sends.every((r) => r.action === 'message.send')).toBe(true);
    const ids = sends.map((r) => r.id as string);
    expect([...ids].sort().reverse()).toEqual(ids);

    const target = sends[0].target.id as string;
    const about = await auditLog(a.key, `target_id=${target}`);
    expect(about.length).toBeGreaterThan(0);
    expect(about.every((r) => r.target.id === target)).toBe(true);

    expect((await auditLog(a.key, `actor=${a.keyId}`)).length).toBeGreaterThanOrEqual(expected.length);
    expect(await auditLog(a.key, 'actor=00000000-0000-7000-8000-000000000000')).toEqual([]);

    const future = new Date(server.clock.now().getTime() + 60_000).toISOString();
    expect(await auditLog(a.key, `after=${encodeURIComponent(future)}`)).toEqual([]);
    expect((await auditLog(a.key, `before=${encodeURIComponent(future)}`)).length).toBeGreaterThan(0);

    const page = await server.api('GET', '/v1/audit?limit=2', { key: a.key });
    expect(page.body.data).toHaveLength(2);
    const next = await server.api('GET', `/v1/audit?limit=2&cursor=${page.body.next_cursor}`, { key: a.key });
    expect(next.body.data[0].id < page.body.data[1].id).toBe(true);

    const bad = await server.api('GET', '/v1/audit?action=nope', { key: a.key });
    expect(bad.status).toBe(422);
  });

  it('keeps each org to its own rows', async () => {
    const other = await server.api('POST', '/v1/agents', { key: b.key, body: { name: 'B agent' } });
    expect(other.status).toBe(201);
    const rowsB = await auditLog(b.key);
    expect(rowsB.some((r) => r.target?.id === other.body.id)).toBe(true);
    const rowsA = await auditLog(a.key);
    const idsA = new Set(rowsA.map((r) => r.id));
    expect(rowsB.some((r) => idsA.has(r.id))).toBe(false);
    expect(rowsA.some((r) => r.target?.id === other.body.id)).toBe(false);
    expect(await auditLog(b.key, `target_id=${expected[0]?.targetId}`)).toEqual([]);
  });

  it('goes with its organization when the org is deleted (unclaimed-org purge)', async () => {
    const count = (orgId: string) =>
      (
        server.deps.db.prepare('SELECT COUNT(*) AS n FROM audit_log WHERE org_id = ?').get(orgId) as {
          n: number;
        }
      ).n;
    const doomed = await server.signupOrg();
    await server.api('POST', '/v1/agents', { key: doomed.key, body: { name: 'Doomed' } });
    expect(count(doomed.orgId)).toBe(1);
    server.deps.repos.organizations.delete(doomed.orgId);
    expect(count(doomed.orgId)).toBe(0);
  });

  it('answers 403 to a key without org:manage', async () => {
    const child = await server.api('POST', '/v1/auth/keys', {
      key: a.key,
      body: { scopes: ['send', 'receive'] },
    });
    const res = await server.api('GET', '/v1/audit', { key: child.body.api_key });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('insufficient_scope');
  });

  it('records SMTP and IMAP logins, failed ones and SMTP sends', async () => {
    const transport = (pass: string) =>
      nodemailer.createTransport({
        host: '127.0.0.1',
        port: server.running.ports.submission ?? 0,
        requireTLS: true,
        auth: { user: a.address, pass },
        tls: { rejectUnauthorized: false },
      });
    await expect(transport('lb_live_wrong').verify()).rejects.toThrow();
    const ok = transport(a.key);
    await ok.sendMail({ from: a.address, to: 'smtp@dest.test', subject: 'via smtp', text: 'hi' });
    ok.close();

    const imap = new ImapFlow({
      host: '127.0.0.1',
      port: server.running.ports.imaps ?? 0,
      secure: true,
      tls: { rejectUnauthorized: false },
      auth: { user: a.address, pass: a.key },
      logger: false,
    });
    await imap.connect();
    await imap.logout();

    const failed = await auditLog(a.key, 'action=auth.login_failed');
    expect(failed[0]).toMatchObject({
      actor: { type: 'key', id: null, label: null },
      target: { type: 'mailbox', id: a.mailboxId },
      ip: '127.0.0.1',
      details: { protocol: 'smtp' },
    });
    const logins = await auditLog(a.key, 'action=auth.login');
    expect(logins[0]).toMatchObject({ actor: { type: 'key', id: a.keyId }, details: { protocol: 'imap' } });
    expect(logins).toContainEqual(
      expect.objectContaining({
        actor: expect.objectContaining({ id: a.keyId }),
        details: { protocol: 'smtp' },
      }),
    );
    const sent = (await auditLog(a.key, 'action=message.send'))[0];
    expect(sent).toMatchObject({ actor: { type: 'key', id: a.keyId }, ip: '127.0.0.1', request_id: null });
    expect(sent.details.status).toBe('queued');
  });

  it('records console sign-ins and console actions as the session', async () => {
    const browser = new ConsoleClient(server);
    await browser.request('POST', '/console/sign-in', { _csrf: await browser.csrf(), email: ownerA });
    const code = consoleCode(server, ownerA);
    const wrong = code === '000000' ? '111111' : '000000';
    await browser.request('POST', '/console/sign-in/verify', {
      _csrf: await browser.csrf(),
      email: ownerA,
      code: wrong,
    });
    const verify = await browser.request('POST', '/console/sign-in/verify', {
      _csrf: await browser.csrf(),
      email: ownerA,
      code,
    });
    expect(verify.status).toBe(303);

    const failed = (await auditLog(a.key, 'action=auth.login_failed')).find(
      (r) => r.details.protocol === 'console',
    );
    expect(failed).toMatchObject({ actor: { type: 'session', id: null, label: ownerA } });
    const signIn = (await auditLog(a.key, 'action=auth.login')).find((r) => r.details.protocol === 'console');
    expect(signIn.actor).toMatchObject({ type: 'session', label: ownerA });
    expect(signIn.request_id).toMatch(/^req_/);

    const held = await server.api('POST', '/v1/approval-policies', {
      key: a.key,
      body: {
        name: 'Hold all',
        action: 'require_approval',
        scope_type: 'org',
        recipient_domain: 'held.test',
      },
    });
    const message = await server.api('POST', '/v1/messages', {
      key: a.key,
      body: { mailbox_id: a.mailboxId, to: ['x@held.test'], subject: 'console', body_text: 'x' },
    });
    expect(message.body.status).toBe('pending_approval');
    const decided = await browser.request('POST', '/console/approvals', {
      _csrf: await browser.csrf('/console/approvals'),
      act: `reject:${message.body.id}`,
      [`reason_${message.body.id}`]: 'not today',
    });
    expect(decided.status).toBe(303);
    const reject = (await auditLog(a.key, `action=message.reject&target_id=${message.body.id}`))[0];
    expect(reject).toMatchObject({
      actor: { type: 'session', id: signIn.actor.id, label: ownerA },
      request_id: decided.headers.get('x-request-id'),
      details: { reason: 'not today' },
    });
    await server.api('DELETE', `/v1/approval-policies/${held.body.id}`, { key: a.key });
  });

  it('is append-only and purged after LOFTBOX_AUDIT_RETENTION', async () => {
    expect(() => server.deps.db.prepare("UPDATE audit_log SET action = 'key.create'").run()).toThrow(
      /append-only/,
    );
    const before = (await auditLog(a.key)).length;
    expect(before).toBeGreaterThan(0);
    server.clock.advance(server.deps.config.auditRetention - 60_000);
    expect(auditRetentionPurge(server.deps).run()).toEqual({ deleted: 0 });
    server.clock.advance(24 * 3_600_000);
    auditRetentionPurge(server.deps).run();
    expect(await auditLog(a.key)).toEqual([]);
  });
});

describe('audit action names', () => {
  it('lists each action once', () => {
    expect(new Set(AUDIT_ACTIONS).size).toBe(AUDIT_ACTIONS.length);
  });
});
