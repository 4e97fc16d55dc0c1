import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';

const run = promisify(execFile);

let server: TestServer;
let box: Awaited<ReturnType<TestServer['mailbox']>>;
let peer: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  server = await startTestServer({ loginFailLimit: 5, loginLockout: 60_000, signupLimitPerIp: 1000 });
  box = await server.mailbox('submitter');
  peer = await server.mailbox('submit-peer');
});
afterAll(async () => {
  await server.close();
});

const port = (name: string) => server.running.ports[name] ?? 0;

function transport(options: { implicit: boolean; user?: string; pass?: string }) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port: options.implicit ? port('submission-tls') : port('submission'),
    secure: options.implicit,
    requireTLS: !options.implicit,
    auth: { user: options.user ?? box.address, pass: options.pass ?? box.key },
    tls: { rejectUnauthorized: false },
  });
}

async function drain() {
  for (let i = 0; i < 10; i++) if ((await server.running.queue.tick()) === 0) break;
  await server.running.inbound.idle();
}

describe('SMTP submission', () => {
  it('accepts nodemailer over 465 and 587, delivers through the send pipeline and records the message as outgoing', async () => {
    for (const implicit of [true, false]) {
      const subject = `Submitted over ${implicit ? '465' : '587'}`;
      const info = await transport({ implicit }).sendMail({
        from: box.address,
        to: peer.address,
        bcc: 'hidden@outside.test',
        subject,
        text: 'Hello through submission',
        attachments: [{ filename: 'a.txt', content: 'attached' }],
      });
      expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as msg_/);
      await drain();
      const sent = await server.api(
        'GET',
        `/v1/messages?direction=outgoing&mailbox_id=${box.mailboxId}&q=${encodeURIComponent(subject)}`,
        {
          key: box.key,
        },
      );
      const message = sent.body.data[0] as Json;
      expect(message).toMatchObject({
        subject,
        to: [peer.address],
        bcc: ['hidden@outside.test'],
        metadata: { submitted_via: 'smtp' },
      });
      expect(message.attachments.map((a: Json) => a.filename)).toEqual(['a.txt']);
      const inbox = await server.api('GET', `/v1/mailboxes/${peer.mailboxId}/inbox`, { key: peer.key });
      expect(inbox.body.data.map((m: Json) => m.subject)).toContain(subject);
    }
  });

  it('accepts python smtplib with STARTTLS', async () => {
    const script = [
      'import smtplib, ssl',
      'from email.message import EmailMessage',
      'm = EmailMessage()',
      `m['From'] = '${box.address}'`,
      `m['To'] = '${peer.address}'`,
      "m['Subject'] = 'From smtplib'",
      "m.set_content('python')",
      `s = smtplib.SMTP('127.0.0.1', ${port('submission')})`,
      'ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE',
      's.starttls(context=ctx)',
      `s.login('${box.address}', '${box.key}')`,
      's.send_message(m)',
      's.quit()',
    ].join('\n');
    await run('python3', ['-c', script]);
    await drain();
    const inbox = await server.api('GET', `/v1/mailboxes/${peer.mailboxId}/inbox`, { key: peer.key });
    expect(inbox.body.data.map((m: Json) => m.subject)).toContain('From smtplib');
  });

  it('refuses AUTH before STARTTLS on 587 with 538', async () => {
    const plain = nodemailer.createTransport({
      host: '127.0.0.1',
      port: port('submission'),
      secure: false,
      ignoreTLS: true,
      auth: { user: box.address, pass: box.key },
    });
    await expect(
      plain.sendMail({ from: box.address, to: peer.address, subject: 'x', text: 'y' }),
    ).rejects.toMatchObject({
      responseCode: 538,
    });
  });

  it('refuses another sender, another From, wrong keys, other orgs and keys without send scope', async () => {
    const t = transport({ implicit: true });
    await expect(
      t.sendMail({
        envelope: { from: peer.address, to: [peer.address] },
        from: box.address,
        to: peer.address,
        subject: 'x',
        text: 'y',
      }),
    ).rejects.toMatchObject({ responseCode: 550 });
    await expect(
      t.sendMail({
        envelope: { from: box.address, to: [peer.address] },
        from: peer.address,
        to: peer.address,
        subject: 'x',
        text: 'y',
      }),
    ).rejects.toMatchObject({ responseCode: 550 });
    const readOnly = await server.api('POST', '/v1/auth/keys', {
      key: box.key,
      body: { scopes: ['receive'] },
    });
    for (const pass of ['lb_live_wrong', peer.key, readOnly.body.api_key]) {
      await expect(
        transport({ implicit: true, pass }).sendMail({
          from: box.address,
          to: peer.address,
          subject: 'x',
          text: 'y',
        }),
      ).rejects.toMatchObject({ responseCode: 535 });
    }
  });

  it('applies the daily limit and approval policies exactly as the API does', async () => {
    const hold = await server.api('POST', '/v1/approval-policies', {
      key: box.key,
      body: {
        name: 'Hold outside mail',
        action: 'require_approval',
        scope_type: 'mailbox',
        scope_id: box.mailboxId,
        recipient_domain: 'held.test',
      },
    });
    await transport({ implicit: true }).sendMail({
      from: box.address,
      to: 'ceo@held.test',
      subject: 'Needs approval',
      text: 'x',
    });
    const pending = await server.api('GET', '/v1/messages?status=pending_approval&direction=outgoing', {
      key: box.key,
    });
    expect(pending.body.data.map((m: Json) => m.subject)).toContain('Needs approval');
    await server.api('DELETE', `/v1/approval-policies/${hold.body.id}`, { key: box.key });

    const limited = await startTestServer({ dailySendLimit: 1 });
    try {
      const sender = await limited.mailbox('limited-submitter');
      const t = nodemailer.createTransport({
        host: '127.0.0.1',
        port: limited.running.ports['submission-tls'] ?? 0,
        secure: true,
        auth: { user: sender.address, pass: sender.key },
        tls: { rejectUnauthorized: false },
      });
      await t.sendMail({ from: sender.address, to: 'a@outside.test', subject: '1', text: 'x' });
      await expect(
        t.sendMail({ from: sender.address, to: 'a@outside.test', subject: '2', text: 'x' }),
      ).rejects.toMatchObject({
        responseCode: 451,
      });
    } finally {
      await limited.close();
    }
  });

  it('locks out an address after repeated failures, refusing even the right key until the window passes', async () => {
    const target = await server.mailbox('brute-forced');
    // Failures of the tests above from the same IP are forgotten once their window passes.
    server.clock.advance(61_000);
    const attempt = (pass: string) =>
      nodemailer
        .createTransport({
          host: '127.0.0.1',
          port: port('submission-tls'),
          secure: true,
          auth: { user: target.address, pass },
          tls: { rejectUnauthorized: false },
        })
        .sendMail({ from: target.address, to: peer.address, subject: 'x', text: 'y' });
    for (let i = 0; i < 5; i++)
      await expect(attempt(`lb_live_guess${i}`)).rejects.toMatchObject({ responseCode: 535 });
    await expect(attempt(target.key)).rejects.toMatchObject({ responseCode: 454 });
    server.clock.advance(61_000);
    await expect(attempt(target.key)).resolves.toMatchObject({ response: expect.stringMatching(/^250/) });
  });
});

describe('autoconfig', () => {
  it('serves Thunderbird autoconfig naming the IMAP and submission ports', async () => {
    for (const path of [
      '/.well-known/autoconfig/mail/config-v1.1.xml',
      '/mail/config-v1.1.xml?emailaddress=a%40loftbox.localhost',
    ]) {
      const res = await server.api('GET', path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('xml');
      expect(res.text).toContain('<domain>loftbox.localhost</domain>');
      expect(res.text).toContain(`<port>${server.deps.config.imapsPort}</port>`);
      expect(res.text).toContain(`<port>${server.deps.config.submissionTlsPort}</port>`);
      expect(res.text).toContain('<username>%EMAILADDRESS%</username>');
    }
  });
});
