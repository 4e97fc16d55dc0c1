import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runServerCli } from '../../server/cli.js';
import { operatorKeyFromDataDir } from '../../server/operator-key.js';
import { startFakeMx, type FakeMx } from '../harness/fake-mx.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { code, RawSmtp } from '../harness/smtp.js';

const OPERATOR = 'ops@operator.test';
let server: TestServer;
let mx: FakeMx;
let tenant: Awaited<ReturnType<TestServer['mailbox']>>;
let customId: string;
let operator: ReturnType<typeof operatorKeyFromDataDir>;

beforeAll(async () => {
  mx = await startFakeMx({ host: '127.0.0.2' });
  server = await startTestServer({
    delivery: 'direct',
    outboundPort: mx.port,
    operatorEmail: OPERATOR,
    complaintThreshold: 2,
    complaintWindow: 86_400_000,
    mailboxSendRate: 1000,
    signupLimitPerIp: 1000,
  });
  server.dns.set('dest.test', { MX: [{ exchange: 'mx1.dest.test', priority: 10 }] });
  server.dns.set('mx1.dest.test', { A: ['127.0.0.2'] });
  tenant = await server.mailbox('tenant');

  // A verified custom domain whose org accepts mail only from friend.test.
  const added = await server.api('POST', '/v1/domains', { key: tenant.key, body: { domain: 'hosted.test' } });
  customId = added.body.id;
  const dns = (await server.api('GET', `/v1/domains/${customId}/dns`, { key: tenant.key })).body as Json;
  for (const record of dns.records as Json[]) {
    if (record.type === 'TXT') server.dns.set(record.host, { TXT: [record.value.match(/.{1,255}/g)] });
    else if (record.type === 'MX')
      server.dns.set(record.host, { MX: [{ exchange: record.value, priority: record.priority }] });
    else server.dns.set(record.host, { CNAME: record.value });
  }
  await server.api('POST', `/v1/domains/${customId}/verify`, { key: tenant.key });
  await server.api('POST', `/v1/agents/${tenant.agentId}/mailboxes`, {
    key: tenant.key,
    body: { local_part: 'info', domain_id: customId },
  });
  await server.api('POST', '/v1/inbound-rules', {
    key: tenant.key,
    body: { rule_type: 'allow', pattern_type: 'domain', pattern: 'friend.test' },
  });
  operator = operatorKeyFromDataDir(server.deps.config);
});
afterAll(async () => {
  await server.close();
  await mx.close();
});

/** One real SMTP transaction to the MX; answers the RCPT reply and, when accepted, the DATA reply. */
async function deliver(from: string, to: string, message: string): Promise<{ rcpt: string; data?: string }> {
  const smtp = await RawSmtp.open(server.smtpPort);
  try {
    await smtp.command('EHLO sender.example');
    await smtp.command(`MAIL FROM:<${from}>`);
    const rcpt = await smtp.command(`RCPT TO:<${to}>`);
    if (code(rcpt) !== 250) return { rcpt };
    await smtp.command('DATA');
    return { rcpt, data: await smtp.command(`${message.replace(/\n/g, '\r\n')}\r\n.`) };
  } finally {
    smtp.close();
  }
}

const plain = (subject: string, from = 'stranger@sender.example') =>
  `From: ${from}\nTo: postmaster\nSubject: ${subject}\nMessage-ID: <${subject.replace(/\W/g, '')}@sender.example>\n\nHello postmaster.`;

const operatorInbox = async (): Promise<Json[]> =>
  (
    await server.api('GET', `/v1/mailboxes/${operator.mailbox_id}/inbox?limit=100`, {
      key: operator.api_key,
    })
  ).body.data as Json[];

describe('postmaster@ and abuse@ reach the operator (issue 11 C)', () => {
  it('accepts postmaster@ and abuse@ of every hosted domain, past inbound rules, and nothing elsewhere', async () => {
    const domains = ['loftbox.localhost', 'hosted.test', server.deps.returnPathHost];
    for (const domain of domains) {
      for (const local of ['postmaster', 'abuse', 'PostMaster']) {
        const res = await deliver(
          'stranger@sender.example',
          `${local}@${domain}`,
          plain(`${local} ${domain}`),
        );
        expect(code(res.rcpt), `${local}@${domain}`).toBe(250);
        expect(code(res.data ?? ''), `${local}@${domain}`).toBe(250);
      }
    }
    const bare = await deliver('stranger@sender.example', 'Postmaster', plain('bare postmaster'));
    expect(code(bare.data ?? bare.rcpt)).toBe(250);
    // The tenant's allow rule still refuses strangers for its own mailboxes.
    expect(code((await deliver('stranger@sender.example', 'info@hosted.test', plain('x'))).rcpt)).toBe(550);
    // Never a relay: postmaster@ of a domain we do not host is refused.
    for (const to of ['postmaster@elsewhere.test', 'abuse@dest.test']) {
      const reply = (await deliver('stranger@sender.example', to, plain('relay'))).rcpt;
      expect(code(reply), to).toBeGreaterThanOrEqual(550);
    }
    // A tenant cannot create a mailbox that would capture it.
    const capture = await server.api('POST', `/v1/agents/${tenant.agentId}/mailboxes`, {
      key: tenant.key,
      body: { local_part: 'postmaster', domain_id: customId },
    });
    expect(capture.status).toBe(409);
    expect(capture.body.error.code).toBe('address_reserved');

    await server.running.inbound.idle();
    const subjects = (await operatorInbox()).map((m) => m.subject as string);
    expect(subjects).toContain('bare postmaster');
    for (const domain of domains) {
      expect(subjects).toContain(`postmaster ${domain}`);
      expect(subjects).toContain(`abuse ${domain}`);
    }
    // Tenant keys see none of it; the operator key sees no tenant mailbox.
    const tenantView = await server.api('GET', `/v1/mailboxes/${operator.mailbox_id}/inbox`, {
      key: tenant.key,
    });
    expect(tenantView.status).toBe(404);
    const operatorView = await server.api('GET', `/v1/mailboxes/${tenant.mailboxId}/inbox`, {
      key: operator.api_key,
    });
    expect(operatorView.status).toBe(404);
  });

  it('mints the operator key from the data directory with `loftbox server operator-key`', async () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      await runServerCli(['--data-dir', server.dataDir, 'operator-key']);
    } finally {
      spy.mockRestore();
    }
    const minted = JSON.parse(written.join('')) as Json;
    expect(minted).toMatchObject({
      mailbox_id: operator.mailbox_id,
      mailbox_address: 'postmaster@loftbox.localhost',
    });
    const inbox = await server.api('GET', `/v1/mailboxes/${minted.mailbox_id}/inbox`, {
      key: minted.api_key,
    });
    expect(inbox.status).toBe(200);
    const context = await server.api('GET', '/v1/auth/context', { key: minted.api_key });
    expect(context.body.granted_scopes).toEqual(['receive']);
  });

  it("forwards to LOFTBOX_OPERATOR_EMAIL with the original attached, but never bounces or the operator's own mail", async () => {
    await deliver('reporter@sender.example', 'abuse@hosted.test', plain('Spam from your user'));
    await deliver(OPERATOR, 'postmaster@loftbox.localhost', plain('From the operator', OPERATOR));
    await deliver('', 'postmaster@loftbox.localhost', plain('A bounce', 'MAILER-DAEMON@sender.example'));
    await server.running.inbound.idle();
    await server.running.scheduler.tick();

    const forwards = server.systemMail(OPERATOR).filter((m) => m.kind === 'postmaster_forward');
    const subjects = forwards.map((m) => m.subject);
    expect(subjects).toContain('[postmaster] Spam from your user');
    expect(subjects).not.toContain('[postmaster] From the operator');
    expect(subjects).not.toContain('[postmaster] A bounce');
    const forward = forwards.find((m) => m.subject === '[postmaster] Spam from your user');
    const raw = forward?.raw.toString('latin1') ?? '';
    expect(raw).toMatch(/Content-Type: message\/rfc822/i);
    expect(raw).toContain('Message-ID: <Spamfromyouruser@sender.example>');

    // Handled once: another run forwards nothing more.
    const before = server.systemMail(OPERATOR).length;
    await server.running.scheduler.tick();
    expect(server.systemMail(OPERATOR).length).toBe(before);
  });
});

/** An RFC 5965 report whose third part is the original's header (RFC 6522 §3). */
function arf(to: string, original: { messageId: string; mailFrom?: string; rcpt: string }): string {
  return [
    'From: fbl@dest.test',
    `To: ${to}`,
    'Subject: Abuse report',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report; boundary="f1"',
    '',
    '--f1',
    'Content-Type: text/plain',
    '',
    'This is an abuse report.',
    '--f1',
    'Content-Type: message/feedback-report',
    '',
    'Feedback-Type: abuse',
    'User-Agent: FBL/1.0',
    'Version: 1',
    ...(original.mailFrom ? [`Original-Mail-From: <${original.mailFrom}>`] : []),
    `Original-Rcpt-To: ${original.rcpt}`,
    '',
    '--f1',
    'Content-Type: text/rfc822-headers',
    '',
    `From: ${tenant.address}`,
    `To: ${original.rcpt}`,
    `Message-ID: ${original.messageId}`,
    'Subject: Hello',
    '',
    '--f1--',
    '',
  ].join('\n');
}

describe('complaints suspend a mailbox (issue 11 D)', () => {
  const send = (to: string) =>
    server.api('POST', '/v1/messages', {
      key: tenant.key,
      body: { mailbox_id: tenant.mailboxId, to: [to], subject: 'Hello', body_text: 'Hi' },
    });
  const drain = async () => {
    for (let i = 0; i < 20; i++) if ((await server.running.queue.tick()) === 0) break;
    await server.running.inbound.idle();
  };
  const events = async (type: string) =>
    (
      (await server.api('GET', `/v1/events?event_type=${type}`, { key: tenant.key })).body.data as Json[]
    ).filter((e) => e.mailbox_id === tenant.mailboxId);

  it('attributes ARF reports at the return path and at abuse@, suspends past the threshold, and resumes', async () => {
    mx.received.length = 0;
    const first = await send('one@dest.test');
    const second = await send('two@dest.test');
    await drain();
    const verpOne = mx.received.find((m) => m.rcptTo.includes('one@dest.test'))?.mailFrom ?? '';
    expect(verpOne).toMatch(/^bounces\+/);

    // One complaint to the VERP return path: counted, not yet suspended.
    const viaVerp = await deliver(
      '',
      verpOne,
      arf(verpOne, { messageId: first.body.message_id_header, rcpt: 'one@dest.test' }),
    );
    expect(code(viaVerp.data ?? '')).toBe(250);
    // The same complaint again, now to abuse@: one complaint per message and recipient counts once.
    await deliver(
      'fbl@dest.test',
      'abuse@hosted.test',
      arf('abuse@hosted.test', { messageId: first.body.message_id_header, rcpt: 'one@dest.test' }),
    );
    await server.running.inbound.idle();
    await server.running.scheduler.tick();
    expect(await events('mailbox.suspended')).toEqual([]);

    // The second, to abuse@, names only our Message-ID in the attached header: threshold reached.
    const viaAbuse = await deliver(
      'fbl@dest.test',
      'abuse@loftbox.localhost',
      arf('abuse@loftbox.localhost', { messageId: second.body.message_id_header, rcpt: 'two@dest.test' }),
    );
    expect(code(viaAbuse.data ?? '')).toBe(250);
    await server.running.inbound.idle();
    await server.running.scheduler.tick();
    const suspended = await events('mailbox.suspended');
    expect(suspended).toHaveLength(1);
    expect(suspended[0].data).toMatchObject({ reason: 'complaints', complaints: 2, threshold: 2 });

    const refused = await send('three@dest.test');
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('mailbox_suspended');
    const view = await server.api('GET', `/v1/mailboxes/${tenant.mailboxId}`, { key: tenant.key });
    expect(view.body.suspended_at).not.toBeNull();
    // SMTP submission goes through the same send step: a permanent 5.7.1 refusal.
    const submission = nodemailer.createTransport({
      host: '127.0.0.1',
      port: server.running.ports['submission-tls'] ?? 0,
      secure: true,
      auth: { user: tenant.address, pass: tenant.key },
      tls: { rejectUnauthorized: false },
    });
    const submitted = await submission
      .sendMail({ from: tenant.address, to: 'three@dest.test', subject: 'Via SMTP', text: 'Hi' })
      .then(
        () => null,
        (err: { responseCode?: number; response?: string }) => err,
      );
    expect(submitted?.responseCode).toBe(550);
    expect(submitted?.response).toMatch(/5\.7\.1 .*suspended/);

    // Resuming needs mailbox:manage; it emits mailbox.resumed and sending works again.
    const child = await server.api('POST', '/v1/auth/keys', { key: tenant.key, body: { scopes: ['send'] } });
    const denied = await server.api('POST', `/v1/mailboxes/${tenant.mailboxId}/resume`, {
      key: child.body.api_key,
    });
    expect(denied.status).toBe(403);
    const resumed = await server.api('POST', `/v1/mailboxes/${tenant.mailboxId}/resume`, { key: tenant.key });
    expect(resumed.status).toBe(200);
    expect(resumed.body.suspended_at).toBeNull();
    expect(await events('mailbox.resumed')).toHaveLength(1);
    // The audit log has the suspension by the server and the resume by the key (issue 14 D).
    const audit = await server.api('GET', `/v1/audit?target_id=${tenant.mailboxId}`, { key: tenant.key });
    const mailboxActions = (audit.body.data as Json[]).filter((e) =>
      ['mailbox.suspend', 'mailbox.resume'].includes(e.action),
    );
    expect(mailboxActions).toMatchObject([
      { action: 'mailbox.resume', actor: { type: 'key', id: tenant.keyId } },
      {
        action: 'mailbox.suspend',
        actor: { type: 'system' },
        details: { reason: 'complaints', complaints: 2 },
      },
    ]);
    server.clock.advance(1000);
    const third = await send('three@dest.test');
    expect(third.status).toBe(201);
    await drain();
    // Complaints from before the resume no longer count: one new complaint stays under the threshold.
    await deliver(
      'fbl@dest.test',
      'abuse@hosted.test',
      arf('abuse@hosted.test', { messageId: third.body.message_id_header, rcpt: 'three@dest.test' }),
    );
    await server.running.inbound.idle();
    await server.running.scheduler.tick();
    expect((await send('four@dest.test')).status).toBe(201);
    expect(await events('mailbox.suspended')).toHaveLength(1);
  });

  it('counts a complaint to abuse@ only for a recipient the message really went to', async () => {
    const victim = await server.mailbox('victim');
    const sent = await server.api('POST', '/v1/messages', {
      key: victim.key,
      body: { mailbox_id: victim.mailboxId, to: ['real@dest.test'], subject: 'Hello', body_text: 'Hi' },
    });
    await drain();
    for (const rcpt of ['invented1@dest.test', 'invented2@dest.test', 'invented3@dest.test']) {
      await deliver(
        'attacker@sender.example',
        'abuse@loftbox.localhost',
        arf('abuse@loftbox.localhost', { messageId: sent.body.message_id_header, rcpt }),
      );
    }
    await server.running.inbound.idle();
    await server.running.scheduler.tick();
    const again = await server.api('POST', '/v1/messages', {
      key: victim.key,
      body: { mailbox_id: victim.mailboxId, to: ['real@dest.test'], subject: 'Again', body_text: 'Hi' },
    });
    expect(again.status).toBe(201);
  });

  it("answers 404 for another org's mailbox on resume", async () => {
    const other = await server.mailbox('other-tenant');
    const res = await server.api('POST', `/v1/mailboxes/${tenant.mailboxId}/resume`, { key: other.key });
    expect(res.status).toBe(404);
  });
});
