import { authenticate } from 'mailauth';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver } from '../../server/lib/resolver.js';
import { startFakeMx, type FakeMx } from '../harness/fake-mx.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { code, RawSmtp } from '../harness/smtp.js';

let server: TestServer;
let mx: FakeMx;
let owner: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  mx = await startFakeMx({ host: '127.0.0.2' });
  server = await startTestServer({
    delivery: 'direct',
    outboundPort: mx.port,
    domainRecheckMin: 60_000,
    domainRecheckMax: 3_600_000,
    domainPendingWindow: 72 * 3_600_000,
    domainVerifiedRecheck: 6 * 3_600_000,
    signupLimitPerIp: 1000,
  });
  server.dns.set('dest.test', { MX: [{ exchange: 'mx.dest.test', priority: 10 }] });
  server.dns.set('mx.dest.test', { A: ['127.0.0.2'] });
  server.dns.set(server.deps.returnPathHost, { TXT: ['v=spf1 ip4:127.0.0.1 -all'] });
  owner = await server.mailbox('domain-owner');
});
afterAll(async () => {
  await server.close();
  await mx.close();
});

const add = (domain: string, key = owner.key) => server.api('POST', '/v1/domains', { key, body: { domain } });

/** Publishes the records the API asks for in the test zone, as a DNS provider would. */
async function publish(domainId: string, key = owner.key, skip: string[] = []) {
  const dns = (await server.api('GET', `/v1/domains/${domainId}/dns`, { key })).body as Json;
  for (const record of dns.records as Json[]) {
    if (skip.includes(record.purpose)) continue;
    if (record.type === 'TXT') {
      // Long values are split into 255-byte strings, as providers store them.
      const chunks = (record.value as string).match(/.{1,255}/g) ?? [];
      server.dns.set(record.host, { TXT: [chunks] });
    } else if (record.type === 'MX') {
      server.dns.set(record.host, { MX: [{ exchange: record.value, priority: record.priority }] });
    } else if (record.type === 'A') {
      server.dns.set(record.host, { A: [record.value] });
    } else {
      server.dns.set(record.host, { CNAME: record.value });
    }
  }
  return dns;
}

describe('custom domain onboarding', () => {
  it('goes from add to verified, then receives and sends DKIM-signed mail that passes DMARC', async () => {
    const added = await add('  Acme.TEST. ');
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ domain: 'acme.test', status: 'pending' });
    expect(added.body.public_id).toMatch(/^dom_/);

    const status = await server.api('GET', `/v1/domains/${added.body.id}/status`, { key: owner.key });
    expect(status.body).toMatchObject({
      domain: 'acme.test',
      status: 'pending',
      inbound: { ownership: false, mx: false, verified: false },
      outbound: { ownership: false, dkim: false, return_path: false, dmarc: false, verified: false },
    });
    expect(status.body.next_actions.map((a: Json) => a.purpose)).toEqual([
      'ownership',
      'inbound',
      'dkim',
      'return_path',
      'dmarc',
      'mta_sts_host',
      'mta_sts',
      'tls_rpt',
    ]);
    const records = status.body.next_actions as Json[];
    expect(records.find((r) => r.purpose === 'inbound')).toMatchObject({
      type: 'MX',
      host: 'acme.test',
      value: server.deps.mxHost,
      priority: 10,
    });
    expect(records.find((r) => r.purpose === 'return_path')).toMatchObject({
      type: 'CNAME',
      host: 'bounces.acme.test',
      value: server.deps.returnPathHost,
    });
    expect(records.find((r) => r.purpose === 'dkim')?.value).toMatch(
      /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}$/,
    );

    // Nothing published yet: still pending, and a mailbox on it is refused.
    const early = await server.api('POST', `/v1/domains/${added.body.id}/verify`, { key: owner.key });
    expect(early.body.status).toBe('pending');
    const tooEarly = await server.api('POST', `/v1/agents/${owner.agentId}/mailboxes`, {
      key: owner.key,
      body: { local_part: 'sales', domain_id: added.body.id },
    });
    expect(tooEarly.status).toBe(409);
    expect(tooEarly.body.error.code).toBe('domain_not_verified');

    await publish(added.body.id);
    const verified = await server.api('POST', `/v1/domains/${added.body.public_id}/verify`, {
      key: owner.key,
    });
    expect(verified.body).toMatchObject({
      status: 'verified',
      inbound: { verified: true },
      outbound: { verified: true, dmarc: true },
    });
    expect(verified.body.next_actions).toEqual([]);
    const events = await server.api('GET', '/v1/events?event_type=domain.verified', { key: owner.key });
    expect(events.body.data).toHaveLength(1);

    const mailbox = await server.api('POST', `/v1/agents/${owner.agentId}/mailboxes`, {
      key: owner.key,
      body: { local_part: 'sales', domain_id: added.body.id, display_name: 'Acme Sales' },
    });
    expect(mailbox.status).toBe(201);
    expect(mailbox.body).toMatchObject({
      address: 'sales@acme.test',
      domain: 'acme.test',
      domain_id: added.body.id,
    });
    const catchAll = await server.api('POST', `/v1/agents/${owner.agentId}/mailboxes`, {
      key: owner.key,
      body: { local_part: 'everything', domain_id: added.body.id, is_catch_all: true },
    });
    expect(catchAll.status).toBe(201);
    const secondCatchAll = await server.api('PATCH', `/v1/mailboxes/${mailbox.body.id}`, {
      key: owner.key,
      body: { is_catch_all: true },
    });
    expect(secondCatchAll.status).toBe(409);

    // Inbound: the exact mailbox, and anything else at the domain to the catch-all.
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: server.smtpPort,
      secure: false,
      ignoreTLS: true,
    });
    await transport.sendMail({
      from: 'buyer@dest.test',
      to: 'sales@acme.test',
      subject: 'Quote please',
      text: 'hi',
    });
    await transport.sendMail({
      from: 'buyer@dest.test',
      to: 'support@acme.test',
      subject: 'Help',
      text: 'hi',
    });
    await server.running.inbound.idle();
    const salesInbox = await server.api('GET', `/v1/mailboxes/${mailbox.body.id}/inbox`, { key: owner.key });
    expect(salesInbox.body.data.map((m: Json) => m.subject)).toEqual(['Quote please']);
    const catchInbox = await server.api('GET', `/v1/mailboxes/${catchAll.body.id}/inbox`, { key: owner.key });
    expect(catchInbox.body.data.map((m: Json) => m.subject)).toEqual(['Help']);

    // Outbound: signed with acme.test's key, VERP under bounces.acme.test, DMARC passes at the receiver.
    mx.received.length = 0;
    const sent = await server.api('POST', '/v1/messages', {
      key: owner.key,
      body: {
        mailbox_id: mailbox.body.id,
        to: ['buyer@dest.test'],
        subject: 'Your quote',
        body_text: 'Attached soon.',
      },
    });
    expect(sent.status).toBe(201);
    expect(sent.body.message_id_header).toMatch(/@acme\.test>$/);
    for (let i = 0; i < 5; i++) if ((await server.running.queue.tick()) === 0) break;
    const delivered = mx.received[0];
    expect(delivered?.mailFrom).toMatch(/^bounces\+[a-z2-7]{20}@bounces\.acme\.test$/);
    const auth = await authenticate(delivered?.raw ?? Buffer.alloc(0), {
      ip: '127.0.0.1',
      helo: server.deps.mxHost,
      sender: delivered?.mailFrom ?? '',
      mta: 'mx.dest.test',
      resolver: createResolver(server.dns.server) as never,
    });
    expect(auth.dkim.results[0]).toMatchObject({ signingDomain: 'acme.test', status: { result: 'pass' } });
    expect(auth.dmarc && auth.dmarc.status.result).toBe('pass');

    // A bounce to the custom return path reaches the delivery.
    expect(code(await rcpt(delivered?.mailFrom ?? ''))).toBe(250);
  });

  it('honours the add semantics: 200 existing, 201 reactivated with a fresh token, 409 for another org once verified', async () => {
    const first = await add('idem.test');
    expect(first.status).toBe(201);
    const again = await add('IDEM.test');
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const tokenOf = async (id: string) =>
      ((await server.api('GET', `/v1/domains/${id}/dns`, { key: owner.key })).body.records as Json[])[0]
        ?.value;
    const oldToken = await tokenOf(first.body.id);

    const other = await server.mailbox('domain-rival');
    await publish(first.body.id);
    expect(
      (await server.api('POST', `/v1/domains/${first.body.id}/verify`, { key: owner.key })).body.status,
    ).toBe('verified');
    const taken = await add('idem.test', other.key);
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('domain_taken');
    expect((await server.api('GET', `/v1/domains/${first.body.id}`, { key: other.key })).status).toBe(404);
    expect((await server.api('POST', `/v1/domains/${first.body.id}/verify`, { key: other.key })).status).toBe(
      404,
    );

    const deleted = await server.api('DELETE', `/v1/domains/${first.body.id}`, { key: owner.key });
    expect(deleted.body.status).toBe('deleted');
    const listed = await server.api('GET', '/v1/domains?limit=100', { key: owner.key });
    expect(listed.body.data.find((d: Json) => d.id === first.body.id)?.status).toBe('deleted');
    const reactivated = await add('idem.test');
    expect(reactivated.status).toBe(201);
    expect(reactivated.body.id).toBe(first.body.id);
    expect(reactivated.body.status).toBe('pending');
    expect(await tokenOf(first.body.id)).not.toBe(oldToken);

    await server.api('DELETE', `/v1/domains/${first.body.id}`, { key: owner.key });
    const otherNow = await add('idem.test', other.key);
    expect(otherNow.status).toBe(201);
    expect(otherNow.body.id).not.toBe(first.body.id);
  });

  it('refuses malformed names, IP literals, public suffixes and the server domains, and takes IDNs as A-labels', async () => {
    for (const bad of [
      '',
      'not a domain',
      '127.0.0.1',
      '[::1]',
      'co.uk',
      'com',
      'github.io',
      'loftbox.localhost',
      'x.loftbox.localhost',
      '-a.test',
    ]) {
      const res = await add(bad);
      expect(res.status, bad).toBe(422);
    }
    const idn = await add('Bücher.Example');
    expect(idn.status).toBe(201);
    expect(idn.body.domain).toBe('xn--bcher-kva.example');
  });

  it('verifies in the background with back-off, and flags a verified domain whose records disappear', async () => {
    const added = await add('background.test');
    const id = added.body.id as string;
    const nextCheck = async () =>
      (await server.api('GET', `/v1/domains/${id}`, { key: owner.key })).body.next_check_at as string;
    const firstDue = new Date(await nextCheck()).getTime() - server.clock.now().getTime();
    expect(firstDue).toBeGreaterThan(0);
    expect(firstDue).toBeLessThanOrEqual(61_000);

    server.clock.advance(61_000);
    await server.running.scheduler.tick();
    const secondDue = new Date(await nextCheck()).getTime() - server.clock.now().getTime();
    expect(secondDue).toBeGreaterThan(61_000);

    await publish(id);
    server.clock.advance(secondDue + 1000);
    await server.running.scheduler.tick();
    expect((await server.api('GET', `/v1/domains/${id}`, { key: owner.key })).body.status).toBe('verified');

    const box = await server.api('POST', `/v1/agents/${owner.agentId}/mailboxes`, {
      key: owner.key,
      body: { local_part: 'ops', domain_id: id },
    });
    server.dns.remove('_loftbox.background.test');
    for (let i = 0; i < 2; i++) {
      server.clock.advance(6 * 3_600_000 + 1000);
      await server.running.scheduler.tick();
    }
    const flagged = await server.api('GET', `/v1/domains/${id}/status`, { key: owner.key });
    expect(flagged.body.status).toBe('failed');
    expect(flagged.body.next_actions.map((a: Json) => a.purpose)).toEqual(['ownership']);
    const failedEvents = await server.api('GET', '/v1/events?event_type=domain.failed', { key: owner.key });
    expect(failedEvents.body.data.map((e: Json) => e.data.domain.id)).toContain(id);
    const held = await server.api('POST', '/v1/messages', {
      key: owner.key,
      body: { mailbox_id: box.body.id, to: ['x@dest.test'], subject: 's', body_text: 't' },
    });
    expect(held.status).toBe(409);
    expect(held.body.error.code).toBe('domain_not_verified');
  });

  it('keeps the last verdict when DNS times out instead of failing the domain', async () => {
    const added = await add('flaky-dns.test');
    await publish(added.body.id);
    const ok = await server.api('POST', `/v1/domains/${added.body.id}/verify`, { key: owner.key });
    expect(ok.body.status).toBe('verified');
    // A resolver that cannot answer (SERVFAIL/timeout) is not evidence that records are gone.
    const realResolve = server.deps.resolve;
    server.deps.resolve = () => Promise.reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' }));
    try {
      for (let i = 0; i < 3; i++) {
        const res = await server.api('POST', `/v1/domains/${added.body.id}/verify`, { key: owner.key });
        expect(res.body.status).toBe('verified');
      }
    } finally {
      server.deps.resolve = realResolve;
    }
  });
});

async function rcpt(to: string): Promise<string> {
  const smtp = await RawSmtp.open(server.smtpPort);
  try {
    await smtp.command('EHLO mx.dest.test');
    await smtp.command('MAIL FROM:<>');
    return await smtp.command(`RCPT TO:<${to}>`);
  } finally {
    smtp.close();
  }
}
