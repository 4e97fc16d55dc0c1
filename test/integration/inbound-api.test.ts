import { generateKeyPairSync } from 'node:crypto';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../server/lib/clock.js';
import { startTestServer, type TestServer } from '../harness/server.js';
import { code, RawSmtp } from '../harness/smtp.js';

let server: TestServer;
let box: Awaited<ReturnType<TestServer['mailbox']>>;
let other: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  server = await startTestServer({ signupLimitPerIp: 1000 });
  box = await server.mailbox('agent');
  other = await server.mailbox('other-org');
});
afterAll(async () => {
  await server.close();
});

type Mail = Parameters<ReturnType<typeof nodemailer.createTransport>['sendMail']>[0];
async function deliver(mail: Mail) {
  await nodemailer
    .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
    .sendMail(mail);
  await server.running.inbound.idle();
}

async function rcpt(from: string, to: string): Promise<string> {
  const smtp = await RawSmtp.open(server.smtpPort);
  try {
    await smtp.command('EHLO client.test');
    await smtp.command(`MAIL FROM:<${from}>`);
    return await smtp.command(`RCPT TO:<${to}>`);
  } finally {
    smtp.close();
  }
}

describe('messages API', () => {
  it('searches with q, filters, labels, archives and trashes', async () => {
    await deliver({
      from: 'q@sender.test',
      to: box.address,
      subject: 'Pineapple order',
      text: 'Twelve crates please',
    });
    await deliver({ from: 'q@sender.test', to: box.address, subject: 'Unrelated', text: 'Nothing here' });
    const hit = await server.api('GET', '/v1/messages?q=crates', { key: box.key });
    expect(hit.body.data.map((m: { subject: string }) => m.subject)).toEqual(['Pineapple order']);
    const hostile = await server.api('GET', `/v1/messages?q=${encodeURIComponent('"unbalanced AND (NEAR')}`, {
      key: box.key,
    });
    expect(hostile.status).toBe(200);
    const id = hit.body.data[0].id as string;

    const labelled = await server.api('POST', `/v1/messages/${id}/labels`, {
      key: box.key,
      body: { labels: ['orders', 'urgent', 'orders'] },
    });
    expect(labelled.body.labels).toEqual(['orders', 'urgent']);
    const byLabel = await server.api('GET', '/v1/messages?label=urgent', { key: box.key });
    expect(byLabel.body.data.map((m: { id: string }) => m.id)).toEqual([id]);
    const removed = await server.api('DELETE', `/v1/messages/${id}/labels/urgent`, { key: box.key });
    expect(removed.body.labels).toEqual(['orders']);
    const tooMany = await server.api('POST', `/v1/messages/${id}/labels`, {
      key: box.key,
      body: { labels: Array.from({ length: 20 }, (_, i) => `l${i}`) },
    });
    expect(tooMany.status).toBe(422);

    const archived = await server.api('POST', `/v1/messages/${id}/archive`, { key: box.key });
    expect(archived.body.archived_at).not.toBeNull();
    const inbox = await server.api('GET', `/v1/mailboxes/${box.mailboxId}/inbox`, { key: box.key });
    expect(inbox.body.data.map((m: { id: string }) => m.id)).not.toContain(id);
    const unarchived = await server.api('POST', `/v1/messages/${id}/unarchive`, { key: box.key });
    expect(unarchived.body.archived_at).toBeNull();
    const trashed = await server.api('POST', `/v1/messages/${id}/trash`, { key: box.key });
    expect(trashed.body.trashed_at).not.toBeNull();

    const incoming = await server.api('GET', `/v1/messages?direction=incoming&mailbox_id=${box.mailboxId}`, {
      key: box.key,
    });
    expect(incoming.body.data.length).toBeGreaterThanOrEqual(2);
  });

  it("never shows another org's messages, threads or attachments (404, not 403)", async () => {
    await deliver({ from: 'canary@sender.test', to: other.address, subject: 'CANARY-B', text: 'secret' });
    const theirs = (await server.api('GET', '/v1/messages', { key: other.key })).body.data[0];
    for (const path of [
      `/v1/messages/${theirs.id}`,
      `/v1/messages/${theirs.public_id}`,
      `/v1/messages/${theirs.id}/raw`,
      `/v1/messages/${theirs.id}/attachments`,
      `/v1/threads/${theirs.thread_id}`,
      `/v1/threads/${theirs.thread_id}/messages`,
      `/v1/mailboxes/${other.mailboxId}/inbox`,
      `/v1/messages?mailbox_id=${other.mailboxId}`,
    ]) {
      const res = await server.api('GET', path, { key: box.key });
      expect(res.status, path).toBe(404);
    }
    const search = await server.api('GET', '/v1/messages?q=CANARY', { key: box.key });
    expect(search.body.data).toEqual([]);
    const events = await server.api('GET', '/v1/events?limit=100', { key: box.key });
    expect(JSON.stringify(events.body)).not.toContain('CANARY-B');
    const ack = await server.api('POST', `/v1/mailboxes/${box.mailboxId}/inbox/ack`, {
      key: box.key,
      body: { message_ids: [theirs.id] },
    });
    expect(ack.body.acked).toBe(0);
  });
});

describe('inbox acknowledgement scope', () => {
  async function childKey(scopes: string[]): Promise<string> {
    const res = await server.api('POST', '/v1/auth/keys', { key: box.key, body: { scopes } });
    expect(res.status).toBe(201);
    return res.body.api_key as string;
  }

  it('refuses ack to a key holding only message:read (403) and leaves the message in the inbox', async () => {
    await deliver({ from: 'ack@sender.test', to: box.address, subject: 'ACK-SCOPE', text: 'x' });
    const reader = await childKey(['message:read']);
    const inbox = await server.api('GET', `/v1/mailboxes/${box.mailboxId}/inbox?limit=100`, { key: reader });
    expect(inbox.status).toBe(200);
    const id = (inbox.body.data as { id: string; subject: string }[]).find(
      (m) => m.subject === 'ACK-SCOPE',
    )?.id;
    expect(id).toBeDefined();
    const refused = await server.api('POST', `/v1/mailboxes/${box.mailboxId}/inbox/ack`, {
      key: reader,
      body: { message_ids: [id] },
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('insufficient_scope');
    expect((await server.api('GET', `/v1/messages/${id}`, { key: box.key })).body.acked_at).toBeNull();

    const archiver = await childKey(['message:read', 'message:archive']);
    const acked = await server.api('POST', `/v1/mailboxes/${box.mailboxId}/inbox/ack`, {
      key: archiver,
      body: { message_ids: [id] },
    });
    expect(acked.status).toBe(200);
    expect(acked.body.acked).toBe(1);
  });
});

describe('attachments', () => {
  it('stores attachments by content, sanitises hostile names and serves them through a signed URL', async () => {
    await deliver({
      from: 'files@sender.test',
      to: box.address,
      subject: 'Files',
      text: 'see attached',
      attachments: [
        { filename: '../../etc/passwd', content: 'root:x:0:0' },
        { filename: 'report.pdf', content: Buffer.from('%PDF-1.4 fake'), contentType: 'application/pdf' },
      ],
    });
    const message = (await server.api('GET', '/v1/messages?q=Files', { key: box.key })).body.data[0];
    expect(message.attachments.map((a: { filename: string }) => a.filename)).toEqual([
      'passwd',
      'report.pdf',
    ]);
    const list = await server.api('GET', `/v1/messages/${message.id}/attachments`, { key: box.key });
    const pdf = list.body.data[1];
    expect(pdf).toMatchObject({ content_type: 'application/pdf', size_bytes: 13, inline: false });

    const signed = await server.api('GET', `/v1/attachments/${pdf.id}/url`, { key: box.key });
    expect(signed.status).toBe(200);
    const download = await fetch(signed.body.url);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).toString()).toBe('%PDF-1.4 fake');
    expect(download.headers.get('content-disposition')).toContain('attachment');
    expect(download.headers.get('x-content-type-options')).toBe('nosniff');

    const wrongId = await fetch(signed.body.url.replace(pdf.id, list.body.data[0].id));
    expect(wrongId.status).toBe(403);
    const forged = await fetch(`${signed.body.url.slice(0, -4)}AAAA`);
    expect(forged.status).toBe(403);
    server.clock.advance(16 * 60_000);
    const expired = await fetch(signed.body.url);
    expect(expired.status).toBe(403);
    const crossOrg = await server.api('GET', `/v1/attachments/${pdf.id}/url`, { key: other.key });
    expect(crossOrg.status).toBe(404);
  });
});

describe('inbound rules', () => {
  it('blocks by sender domain and turns allow rules into an allow list, on the envelope sender', async () => {
    const target = await server.mailbox('rules');
    const block = await server.api('POST', '/v1/inbound-rules', {
      key: target.key,
      body: { rule_type: 'block', pattern_type: 'domain', pattern: 'Spam.Test', mailbox_id: null },
    });
    expect(block.status).toBe(201);
    expect(block.body.pattern).toBe('spam.test');
    expect(await rcpt('a@spam.test', target.address)).toMatch(/^550 5\.7\.1/);
    expect(await rcpt('a@mail.spam.test', target.address)).toMatch(/^550 5\.7\.1/);
    expect(code(await rcpt('a@fine.test', target.address))).toBe(250);

    const allow = await server.api('POST', '/v1/inbound-rules', {
      key: target.key,
      body: {
        rule_type: 'allow',
        pattern_type: 'address',
        pattern: 'boss@fine.test',
        mailbox_id: target.mailboxId,
      },
    });
    expect(allow.status).toBe(201);
    expect(code(await rcpt('boss@fine.test', target.address))).toBe(250);
    expect(await rcpt('a@fine.test', target.address)).toMatch(/^550 5\.7\.1/);

    const page1 = await server.api('GET', '/v1/inbound-rules?limit=1', { key: target.key });
    expect(page1.body.data).toHaveLength(1);
    const page2 = await server.api('GET', `/v1/inbound-rules?limit=1&before=${page1.body.next_cursor}`, {
      key: target.key,
    });
    expect(page2.body.data[0].id).not.toBe(page1.body.data[0].id);

    const del = await server.api('DELETE', `/v1/inbound-rules/${allow.body.id}`, { key: target.key });
    expect(del.status).toBe(200);
    expect(code(await rcpt('a@fine.test', target.address))).toBe(250);
    const cross = await server.api('DELETE', `/v1/inbound-rules/${block.body.id}`, { key: box.key });
    expect(cross.status).toBe(404);
    const bad = await server.api('POST', '/v1/inbound-rules', {
      key: target.key,
      body: { rule_type: 'allow', pattern_type: 'address', pattern: 'not an address' },
    });
    expect(bad.status).toBe(422);
  });

  it('lets an unclaimed org receive only from its owner', async () => {
    const signup = await server.api('POST', '/v1/auth/agent-signup', {
      body: { owner_email: 'Owner@Claim.test' },
    });
    const address = signup.body.mailbox_address as string;
    expect(await rcpt('stranger@sender.test', address)).toMatch(/^550 5\.7\.1/);
    expect(code(await rcpt('owner@claim.test', address))).toBe(250);
    await server.api('POST', '/v1/auth/claim/start', { body: { org_id: signup.body.org_id } });
    await server.api('POST', '/v1/auth/claim/verify', {
      body: { org_id: signup.body.org_id, code: server.lastCode('owner@claim.test') },
    });
    expect(code(await rcpt('stranger@sender.test', address))).toBe(250);
  });

  it('refuses mail for a deactivated mailbox', async () => {
    const target = await server.mailbox('paused');
    await server.api('PATCH', `/v1/mailboxes/${target.mailboxId}`, {
      key: target.key,
      body: { active: false },
    });
    expect(await rcpt('a@sender.test', target.address)).toMatch(/^550 5\.2\.1/);
  });
});

describe('mail authentication through the DNS zone', () => {
  it('passes SPF and DKIM for a signed message and fails DKIM when the body was changed', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const record = `v=DKIM1; k=rsa; p=${p}`;
    server.dns.set('sel._domainkey.signer.test', { TXT: [[record.slice(0, 250), record.slice(250)]] });
    server.dns.set('signer.test', { TXT: ['v=spf1 ip4:127.0.0.1 -all'] });
    server.dns.set('_dmarc.signer.test', { TXT: ['v=DMARC1; p=reject'] });

    const signedRaw = await new Promise<Buffer>((resolve, reject) => {
      nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' }).sendMail(
        {
          from: 'ceo@signer.test',
          to: box.address,
          subject: 'Signed',
          text: 'Genuine body',
          dkim: {
            domainName: 'signer.test',
            keySelector: 'sel',
            privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          },
        },
        (err, info) => (err ? reject(err) : resolve(info.message as Buffer)),
      );
    });

    const send = async (raw: Buffer) => {
      const smtp = await RawSmtp.open(server.smtpPort);
      try {
        await smtp.command('EHLO mail.signer.test');
        await smtp.command('MAIL FROM:<ceo@signer.test>');
        await smtp.command(`RCPT TO:<${box.address}>`);
        await smtp.command('DATA');
        smtp.write(raw);
        expect(code(await smtp.command('\r\n.'))).toBe(250);
      } finally {
        smtp.close();
      }
      await server.running.inbound.idle();
      return (await server.api('GET', '/v1/messages?limit=1', { key: box.key })).body.data[0];
    };

    const genuine = await send(signedRaw);
    expect(genuine.auth).toMatchObject({ spf: 'pass', dkim: 'pass', dmarc: 'pass' });
    const tampered = await send(
      Buffer.from(signedRaw.toString('latin1').replace('Genuine body', 'Altered body'), 'latin1'),
    );
    // mailauth reports a body-hash mismatch as neutral (RFC 6376 §3.7 leaves the label to the verifier).
    expect(tampered.auth.dkim).toBe('neutral');
    expect(tampered.auth.dkim_signatures[0]).toMatchObject({ domain: 'signer.test', result: 'neutral' });
    // DMARC still passes: SPF for ceo@signer.test from 127.0.0.1 is aligned (RFC 7489 §4.2).
    expect(tampered.auth.dmarc).toBe('pass');
  });
});

describe('events and retention', () => {
  it('logs thread.created and message.inbound with the full message, in order, resumable by cursor', async () => {
    const fresh = await server.mailbox('events');
    await deliver({ from: 'e@sender.test', to: fresh.address, subject: 'Evented', text: 'hello' });
    const all = await server.api('GET', '/v1/events', { key: fresh.key });
    expect(all.body.data.map((e: { type: string }) => e.type)).toEqual(['thread.created', 'message.inbound']);
    const inbound = all.body.data[1];
    expect(inbound).toMatchObject({
      mailbox_id: fresh.mailboxId,
      mailbox: fresh.address,
      agent_id: fresh.agentId,
    });
    expect(inbound.id).toMatch(/^evt_/);
    expect(inbound.data.message).toMatchObject({ subject: 'Evented', injection_risk: { score: 0 } });
    expect(inbound.data.message.auth).toBeDefined();
    const after = await server.api('GET', `/v1/events?after=${all.body.next_cursor}`, { key: fresh.key });
    expect(after.body.data).toEqual([]);
    const typed = await server.api('GET', '/v1/events?event_type=message.inbound', { key: fresh.key });
    expect(typed.body.data).toHaveLength(1);
  });

  it('purges messages, attachments and unreferenced bytes past the mailbox retention', async () => {
    const target = await server.mailbox('retained');
    await server.api('PATCH', `/v1/mailboxes/${target.mailboxId}`, {
      key: target.key,
      body: { retention_days: 1 },
    });
    await deliver({
      from: 'r@sender.test',
      to: target.address,
      subject: 'Short-lived',
      text: 'bye',
      attachments: [{ filename: 'unique.txt', content: `unique-${Date.now()}` }],
    });
    const before = (await server.api('GET', '/v1/messages', { key: target.key })).body.data;
    expect(before).toHaveLength(1);
    const blobs = () => (server.deps.db.prepare('SELECT COUNT(*) AS n FROM blobs').get() as { n: number }).n;
    const blobsBefore = blobs();
    server.clock.advance(2 * DAY_MS);
    await server.running.scheduler.tick();
    expect((await server.api('GET', '/v1/messages', { key: target.key })).body.data).toEqual([]);
    expect((await server.api('GET', `/v1/threads/${before[0].thread_id}`, { key: target.key })).status).toBe(
      404,
    );
    expect(blobs()).toBeLessThan(blobsBefore);
    // Mail of mailboxes with the default 7 days is still there.
    expect((await server.api('GET', '/v1/messages', { key: box.key })).body.data.length).toBeGreaterThan(0);
  });
});
