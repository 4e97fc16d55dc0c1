import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { code, RawSmtp } from '../harness/smtp.js';

const DAY = 86_400_000;
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    domainRecheckMin: 60_000,
    domainRecheckMax: 3_600_000,
    domainPendingWindow: 72 * 3_600_000,
    domainVerifiedRecheck: 6 * 3_600_000,
    domainClaimTtl: 7 * DAY,
    signupLimitPerIp: 1000,
  });
});
afterAll(async () => {
  await server.close();
});

type Org = Awaited<ReturnType<TestServer['mailbox']>>;

const add = (org: Org, domain: string) =>
  server.api('POST', '/v1/domains', { key: org.key, body: { domain } });
const verify = async (org: Org, id: string) =>
  (await server.api('POST', `/v1/domains/${id}/verify`, { key: org.key })).body as Json;
const domainOf = async (org: Org, id: string) =>
  (await server.api('GET', `/v1/domains/${id}`, { key: org.key })).body as Json;

/**
 * Publishes a domain's records as its DNS provider would. `tokens` are every ownership TXT value at
 * `_loftbox.<domain>` (two orgs may both have published a claim).
 */
async function publish(org: Org, id: string, tokens?: string[]): Promise<string> {
  const dns = (await server.api('GET', `/v1/domains/${id}/dns`, { key: org.key })).body as Json;
  let ownership = '';
  for (const record of dns.records as Json[]) {
    if (record.purpose === 'ownership') {
      ownership = record.value as string;
      server.dns.set(record.host, { TXT: tokens ?? [record.value] });
    } else if (record.type === 'TXT') {
      server.dns.set(record.host, { TXT: [(record.value as string).match(/.{1,255}/g) ?? []] });
    } else if (record.type === 'MX') {
      server.dns.set(record.host, { MX: [{ exchange: record.value, priority: record.priority }] });
    } else {
      server.dns.set(record.host, { CNAME: record.value });
    }
  }
  return ownership;
}

const createMailbox = (org: Org, localPart: string, domainId: string) =>
  server.api('POST', `/v1/agents/${org.agentId}/mailboxes`, {
    key: org.key,
    body: { local_part: localPart, domain_id: domainId },
  });

async function rcpt(to: string): Promise<string> {
  const smtp = await RawSmtp.open(server.smtpPort);
  try {
    await smtp.command('EHLO sender.example');
    await smtp.command('MAIL FROM:<someone@sender.example>');
    return await smtp.command(`RCPT TO:<${to}>`);
  } finally {
    smtp.close();
  }
}

const inboxSubjects = async (org: Org, mailboxId: string) =>
  ((await server.api('GET', `/v1/mailboxes/${mailboxId}/inbox`, { key: org.key })).body.data as Json[]).map(
    (m) => m.subject as string,
  );

async function drainQueue(): Promise<void> {
  for (let i = 0; i < 10; i++) if ((await server.running.queue.tick()) === 0) break;
  await server.running.inbound.idle();
}

describe('custom-domain addresses follow the domain (issue 11 A)', () => {
  it('after org A deletes a domain and org B verifies it, mail for its addresses reaches B, never A', async () => {
    const a = await server.mailbox('former-owner');
    const b = await server.mailbox('new-owner');
    const first = await add(a, 'moved.test');
    await publish(a, first.body.id);
    expect((await verify(a, first.body.id)).status).toBe('verified');
    const aInfo = await createMailbox(a, 'info', first.body.id);
    expect(aInfo.status).toBe(201);

    expect((await server.api('DELETE', `/v1/domains/${first.body.id}`, { key: a.key })).status).toBe(200);
    const second = await add(b, 'moved.test');
    expect(second.status).toBe(201);
    await publish(b, second.body.id);
    expect((await verify(b, second.body.id)).status).toBe('verified');

    // The MX no longer knows A's mailbox: B has no info@ yet.
    expect(code(await rcpt('info@moved.test'))).toBe(550);

    // B's local send there is refused at send time too (recipient_not_found), and nothing lands in A's mailbox.
    const refused = await server.api('POST', '/v1/messages', {
      key: b.key,
      body: { mailbox_id: b.mailboxId, to: ['info+early@moved.test'], subject: 'Before', body_text: 'x' },
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('recipient_not_found');
    await drainQueue();

    // B can create the address now that it owns the domain.
    const bInfo = await createMailbox(b, 'info', second.body.id);
    expect(bInfo.status).toBe(201);

    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: server.smtpPort,
      secure: false,
      ignoreTLS: true,
    });
    await transport.sendMail({
      from: 'someone@sender.example',
      to: 'info@moved.test',
      subject: 'Over SMTP',
      text: 'hi',
    });
    const local = await server.api('POST', '/v1/messages', {
      key: b.key,
      body: { mailbox_id: b.mailboxId, to: ['info@moved.test'], subject: 'Local send', body_text: 'x' },
    });
    expect(local.status).toBe(201);
    await drainQueue();

    expect(await inboxSubjects(b, bInfo.body.id)).toEqual(['Over SMTP', 'Local send']);
    expect(await inboxSubjects(a, aInfo.body.id)).toEqual([]);
    // A cannot take the domain back while B holds it verified.
    const back = await add(a, 'moved.test');
    expect(back.status).toBe(409);
    expect(back.body.error.code).toBe('domain_taken');
  });

  it('gives an org its mailboxes back when it re-adds and verifies its own deleted domain', async () => {
    const a = await server.mailbox('returning-owner');
    const added = await add(a, 'returns.test');
    await publish(a, added.body.id);
    await verify(a, added.body.id);
    const box = await createMailbox(a, 'desk', added.body.id);
    await server.api('DELETE', `/v1/domains/${added.body.id}`, { key: a.key });
    expect(code(await rcpt('desk@returns.test'))).toBe(550);

    const again = await add(a, 'returns.test');
    expect(again.body.id).toBe(added.body.id);
    await publish(a, added.body.id);
    expect((await verify(a, added.body.id)).status).toBe('verified');
    expect(code(await rcpt('desk@returns.test'))).toBe(250);
    expect((await server.api('GET', `/v1/mailboxes/${box.body.id}`, { key: a.key })).body.address).toBe(
      'desk@returns.test',
    );
  });
});

describe('pending claims do not squat a domain (issue 11 B)', () => {
  it('lets a second org claim a pending domain with its own token; the first to verify wins', async () => {
    const squatter = await server.mailbox('squatter');
    const owner = await server.mailbox('real-owner');
    const squat = await add(squatter, 'contested.test');
    expect(squat.status).toBe(201);

    const claim = await add(owner, 'contested.test');
    expect(claim.status).toBe(201);
    expect(claim.body.id).not.toBe(squat.body.id);
    expect(claim.body.status).toBe('pending');

    // The squatter's token is not published: only the real owner's is.
    await publish(owner, claim.body.id);
    expect((await verify(squatter, squat.body.id)).status).toBe('pending');
    expect((await verify(owner, claim.body.id)).status).toBe('verified');

    // The loser's pending row ended; it cannot add the name again while it is verified elsewhere.
    expect((await domainOf(squatter, squat.body.id)).status).toBe('deleted');
    const retry = await add(squatter, 'contested.test');
    expect(retry.status).toBe(409);
    expect(retry.body.error.code).toBe('domain_taken');
  });

  it('ends the slower claim when both orgs published their tokens', async () => {
    const one = await server.mailbox('claimant-one');
    const two = await server.mailbox('claimant-two');
    const first = await add(one, 'both.test');
    const second = await add(two, 'both.test');
    const token1 = await publish(one, first.body.id);
    const token2 = await publish(two, second.body.id);
    await publish(one, first.body.id, [token1, token2]);

    expect((await verify(two, second.body.id)).status).toBe('verified');
    expect((await domainOf(one, first.body.id)).status).toBe('deleted');
    expect((await verify(one, first.body.id)).status).toBe('deleted');
    expect((await domainOf(two, second.body.id)).status).toBe('verified');
  });

  it('lets an org that proves ownership take a domain whose holder was flagged after losing it', async () => {
    const lapsed = await server.mailbox('lapsed-owner');
    const buyer = await server.mailbox('domain-buyer');
    const first = await add(lapsed, 'lapsed.test');
    await publish(lapsed, first.body.id);
    await verify(lapsed, first.body.id);
    const box = await createMailbox(lapsed, 'sales', first.body.id);
    // The registration lapsed: the holder's ownership record is gone and checks flag the domain.
    server.dns.remove('_loftbox.lapsed.test');
    await verify(lapsed, first.body.id);
    expect((await verify(lapsed, first.body.id)).status).toBe('failed');

    const claim = await add(buyer, 'lapsed.test');
    expect(claim.status).toBe(201);
    await publish(buyer, claim.body.id);
    expect((await verify(buyer, claim.body.id)).status).toBe('verified');
    expect((await domainOf(lapsed, first.body.id)).status).toBe('deleted');
    expect(
      (await server.api('GET', `/v1/mailboxes/${box.body.id}`, { key: lapsed.key })).body.retired_at,
    ).not.toBeNull();
    expect(code(await rcpt('sales@lapsed.test'))).toBe(550);
    expect((await createMailbox(buyer, 'sales', claim.body.id)).status).toBe(201);
    expect(code(await rcpt('sales@lapsed.test'))).toBe(250);
  });

  it('expires a pending claim after LOFTBOX_DOMAIN_CLAIM_TTL', async () => {
    const org = await server.mailbox('slow-claimant');
    const claim = await add(org, 'slow.test');
    server.clock.advance(7 * DAY - 60_000);
    await server.running.scheduler.tick();
    expect((await domainOf(org, claim.body.id)).status).toBe('pending');

    server.clock.advance(2 * 60_000);
    await server.running.scheduler.tick();
    expect((await domainOf(org, claim.body.id)).status).toBe('deleted');

    // Adding it again starts a fresh claim with a fresh token.
    const again = await add(org, 'slow.test');
    expect(again.status).toBe(201);
    expect(again.body.status).toBe('pending');
  });
});
