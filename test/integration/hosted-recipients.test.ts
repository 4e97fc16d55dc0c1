import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';

/**
 * Issue 17.1: a recipient on a domain this server hosts is known at send time, so a send to one that
 * does not exist is refused then (422 `recipient_not_found`), not reported `queued` and failed later.
 */
let server: TestServer;
let sender: Awaited<ReturnType<TestServer['mailbox']>>;
let partner: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  server = await startTestServer({ signupLimitPerIp: 1000, mailboxSendRate: 1000 });
  sender = await server.mailbox('hosted-sender');
  partner = await server.mailbox('hosted-partner');
});
afterAll(async () => {
  await server?.close();
});

const send = (body: Record<string, unknown>) =>
  server.api('POST', '/v1/messages', {
    key: sender.key,
    body: { mailbox_id: sender.mailboxId, subject: 'Hello', body_text: 'Hi', ...body },
  });

/** Lets earlier sends finish delivering, so their events do not count against a refused one. */
async function drain(): Promise<void> {
  for (let i = 0; i < 50; i++) if ((await server.running.queue.tick()) === 0) break;
  await server.running.inbound.idle();
}

/** What a refused send must leave untouched: messages, deliveries, events and audit rows. */
function footprint() {
  const count = (sql: string) => (server.deps.db.prepare(sql).get(sender.orgId) as { n: number }).n;
  return {
    messages: count('SELECT count(*) AS n FROM messages WHERE org_id = ?'),
    deliveries: count('SELECT count(*) AS n FROM deliveries WHERE org_id = ?'),
    events: count('SELECT count(*) AS n FROM events WHERE org_id = ?'),
    sendAudits: count(`SELECT count(*) AS n FROM audit_log WHERE org_id = ? AND action = 'message.send'`),
  };
}

describe('sending to a hosted domain', () => {
  it('refuses the whole send with 422 recipient_not_found naming each unknown recipient; nothing is queued, evented or audited', async () => {
    await drain();
    const before = footprint();
    const res = await send({
      to: ['partner@loftbox.localhost', 'someone@dest.test'],
      cc: [partner.address],
      bcc: ['Nobody@LoftBox.localhost'],
    });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({
      code: 'recipient_not_found',
      status: 422,
      message: expect.stringContaining('partner@loftbox.localhost'),
      details: [
        { path: 'to[0]', message: 'no mailbox at partner@loftbox.localhost' },
        { path: 'bcc[0]', message: 'no mailbox at nobody@loftbox.localhost' },
      ],
    });
    expect(res.body.error.request_id).toEqual(expect.any(String));
    expect(footprint()).toEqual(before);
  });

  it('accepts existing mailboxes, subaddresses, postmaster@ and abuse@ (the MX accepts them) and remote domains', async () => {
    const [local, tag] = partner.address.split('@') as [string, string];
    const res = await send({
      to: [partner.address, `${local}+invoices@${tag}`, 'postmaster@loftbox.localhost'],
      cc: ['abuse@loftbox.localhost', 'anyone@dest.test'],
    });
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('queued');
  });

  it('treats the address of a retired mailbox as unknown', async () => {
    const retired = await server.api('POST', `/v1/agents/${sender.agentId}/mailboxes`, {
      key: sender.key,
      body: { local_part: 'hosted-retired' },
    });
    expect(retired.status).toBe(201);
    expect((await server.api('DELETE', `/v1/mailboxes/${retired.body.id}`, { key: sender.key })).status).toBe(
      200,
    );
    const res = await send({ to: [retired.body.address] });
    expect(res.status).toBe(422);
    expect(res.body.error.details).toEqual([
      { path: 'to[0]', message: `no mailbox at ${retired.body.address}` },
    ]);
  });

  it('applies to verified custom domains too, where a catch-all mailbox makes every address known', async () => {
    const tenant = await server.mailbox('custom-tenant');
    const added = await server.api('POST', '/v1/domains', {
      key: tenant.key,
      body: { domain: 'hosted-custom.test' },
    });
    const dns = (await server.api('GET', `/v1/domains/${added.body.id}/dns`, { key: tenant.key }))
      .body as Json;
    for (const record of dns.records as Json[]) {
      if (record.type === 'TXT') server.dns.set(record.host, { TXT: [record.value.match(/.{1,255}/g)] });
      else if (record.type === 'MX')
        server.dns.set(record.host, { MX: [{ exchange: record.value, priority: record.priority }] });
      else server.dns.set(record.host, { CNAME: record.value });
    }
    const verified = await server.api('POST', `/v1/domains/${added.body.id}/verify`, { key: tenant.key });
    expect(verified.body.status).toBe('verified');
    const info = await server.api('POST', `/v1/agents/${tenant.agentId}/mailboxes`, {
      key: tenant.key,
      body: { local_part: 'info', domain_id: added.body.id },
    });
    expect(info.status).toBe(201);
    // An added but unverified domain is not hosted here: its mail goes out like any other.
    await server.api('POST', '/v1/domains', { key: tenant.key, body: { domain: 'pending-custom.test' } });

    expect((await send({ to: ['info@hosted-custom.test', 'x@pending-custom.test'] })).status).toBe(201);
    const unknown = await send({ to: ['sales@hosted-custom.test'] });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.code).toBe('recipient_not_found');

    const patched = await server.api('PATCH', `/v1/mailboxes/${info.body.id}`, {
      key: tenant.key,
      body: { is_catch_all: true },
    });
    expect(patched.status).toBe(200);
    expect((await send({ to: ['sales@hosted-custom.test'] })).status).toBe(201);
  });

  it('answers SMTP submission of the same mail with 550 5.1.1 and stores nothing', async () => {
    await drain();
    const before = footprint();
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: server.running.ports['submission-tls'] ?? 0,
      secure: true,
      auth: { user: sender.address, pass: sender.key },
      tls: { rejectUnauthorized: false },
    });
    const err: Json = await transport
      .sendMail({ from: sender.address, to: 'ghost@loftbox.localhost', subject: 'Hi', text: 'Hi' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err?.responseCode).toBe(550);
    expect(String(err?.response)).toMatch(/^550 5\.1\.1 No mailbox exists at ghost@loftbox\.localhost/);
    expect(footprint()).toEqual(before);
  });
});
