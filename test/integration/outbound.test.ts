import { dkimVerify } from 'mailauth';
import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver } from '../../server/lib/resolver.js';
import { signingKey } from '../../server/domains/dkim-keys.js';
import { startFakeMx, type FakeMx } from '../harness/fake-mx.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { code, RawSmtp } from '../harness/smtp.js';

let server: TestServer;
let mx: FakeMx;
let box: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  mx = await startFakeMx({ host: '127.0.0.2' });
  server = await startTestServer({
    delivery: 'direct',
    outboundPort: mx.port,
    retrySchedule: [1000, 2000, 3000],
    deliveryLifetime: 6000,
    outboundTimeout: 2000,
    mailboxSendRate: 1000,
    signupLimitPerIp: 1000,
  });
  server.dns.set('dest.test', { MX: [{ exchange: 'mx1.dest.test', priority: 10 }] });
  server.dns.set('mx1.dest.test', { A: ['127.0.0.2'] });
  box = await server.mailbox('sender');
  await server.api('PATCH', `/v1/mailboxes/${box.mailboxId}`, {
    key: box.key,
    body: { display_name: 'Sender Agent' },
  });
});
afterAll(async () => {
  await server.close();
  await mx.close();
});

async function send(
  body: Record<string, unknown>,
  options: { key?: string; headers?: Record<string, string> } = {},
) {
  return server.api('POST', '/v1/messages', {
    key: options.key ?? box.key,
    body: { mailbox_id: box.mailboxId, subject: 'Hello', body_text: 'Hi there', ...body },
    ...(options.headers ? { headers: options.headers } : {}),
  });
}

/** Runs the delivery queue until nothing more is due at the current (manual) clock. */
async function drain(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    if ((await server.running.queue.tick()) === 0) break;
  }
  await server.running.inbound.idle();
}

const message = async (id: string, key = box.key): Promise<Json> =>
  (await server.api('GET', `/v1/messages/${id}`, { key })).body;

const eventTypes = async (messageId: string, key = box.key): Promise<string[]> =>
  ((await server.api('GET', '/v1/events?limit=100', { key })).body.data as Json[])
    .filter((e) => e.message_id === messageId)
    .map((e) => e.type);

describe('direct delivery to a remote MX', () => {
  it('delivers exactly the intended envelope and bytes, DKIM-signed so that mailauth verifies it', async () => {
    mx.received.length = 0;
    const res = await send({
      to: ['Alice@Dest.test'],
      cc: ['carol@dest.test'],
      bcc: ['hidden@dest.test'],
      subject: 'Quarterly report',
      body_markdown: '# Numbers\n\n**All good.**',
      headers: { 'X-Ticket': 'T-42' },
      metadata: { ticket_id: 'ticket_123' },
      attachments: [
        {
          filename: 'report.csv',
          content_type: 'text/csv',
          content: Buffer.from('a,b\n1,2').toString('base64'),
        },
      ],
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      direction: 'outgoing',
      status: 'queued',
      from: box.address,
      to: ['alice@dest.test'],
      cc: ['carol@dest.test'],
      bcc: ['hidden@dest.test'],
      metadata: { ticket_id: 'ticket_123' },
    });
    expect(res.body.message_id_header).toMatch(/^<[0-9a-f-]{36}@loftbox\.localhost>$/);
    expect(res.body.body_html).toContain('<strong>All good.</strong>');
    await drain();

    const sent = mx.received.filter((m) => m.raw.toString().includes('Quarterly report'));
    expect(sent.map((m) => m.rcptTo[0]).sort()).toEqual([
      'alice@dest.test',
      'carol@dest.test',
      'hidden@dest.test',
    ]);
    for (const mail of sent) {
      expect(mail.rcptTo).toHaveLength(1);
      expect(mail.mailFrom).toMatch(/^bounces\+[a-z2-7]{20}@bounces\.loftbox\.localhost$/);
      const text = mail.raw.toString('latin1');
      expect(text).not.toMatch(/^Bcc:/im);
      expect(text).toMatch(/^X-Ticket: T-42$/m);
      expect(text).toContain(`Message-ID: ${res.body.message_id_header}`);
      expect(text).toMatch(/^From: Sender Agent <sender@loftbox\.localhost>$/m);
      // Every line ends in CRLF, none is longer than 998 octets (RFC 5322 §2.1.1).
      expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
      expect(text.split('\r\n').every((line) => line.length <= 998)).toBe(true);
    }
    expect(new Set(sent.map((m) => m.mailFrom)).size).toBe(3);

    const key = signingKey(server.deps, 'loftbox.localhost');
    server.dns.set(`${key.selector}._domainkey.loftbox.localhost`, {
      TXT: [[key.dnsRecord.slice(0, 200), key.dnsRecord.slice(200)]],
    });
    const verified = await dkimVerify(sent[0]?.raw ?? Buffer.alloc(0), {
      resolver: createResolver(server.dns.server) as never,
    });
    expect(verified.results[0]?.status.result).toBe('pass');
    expect(verified.results[0]?.signingDomain).toBe('loftbox.localhost');
    // The loop-guard headers are signed: a relay that strips or rewrites them breaks the signature.
    const tampered = Buffer.from(
      (sent[0]?.raw ?? Buffer.alloc(0))
        .toString('latin1')
        .replace(/^X-LoftBox-Hops: \d+/im, 'X-LoftBox-Hops: 0'),
      'latin1',
    );
    expect(tampered.toString('latin1')).toMatch(/^Auto-Submitted: auto-generated$/m);
    const retried = await dkimVerify(tampered, { resolver: createResolver(server.dns.server) as never });
    expect(retried.results[0]?.status.result).toBe('fail');

    const after = await message(res.body.id);
    expect(after.status).toBe('delivered');
    expect(after.delivered_at).not.toBeNull();
    expect(after.delivery.recipients.map((r: Json) => r.status)).toEqual([
      'delivered',
      'delivered',
      'delivered',
    ]);
    const types = await eventTypes(res.body.id);
    expect(types[0]).toBe('message.queued');
    expect(types.filter((t) => t === 'message.delivered')).toHaveLength(3);
    const raw = await server.api('GET', `/v1/messages/${res.body.id}/raw`, { key: box.key });
    expect(raw.text).toMatch(/^DKIM-Signature: /);
  });

  it('refuses header injection in every field with 422 and sends nothing', async () => {
    const before = mx.received.length;
    const attempts: Record<string, unknown>[] = [
      { to: ['a@dest.test'], subject: 'hi\r\nBcc: victim@evil.test' },
      { to: ['a@dest.test\r\nRCPT TO:<victim@evil.test>'] },
      { to: ['a@dest.test'], headers: { 'X-A\r\nBcc': 'x' } },
      { to: ['a@dest.test'], headers: { 'X-A': 'x\r\nBcc: victim@evil.test' } },
      { to: ['a@dest.test'], headers: { Bcc: 'victim@evil.test' } },
      { to: ['a@dest.test'], reply_to: ['x@y.test\nBcc: v@evil.test'] },
      { to: ['a@dest.test'], attachments: [{ filename: 'a\r\nX-Evil: 1.txt', content: 'eA==' }] },
      { to: ['a@dest.test'], in_reply_to: '<a@b>\r\nBcc: v@evil.test' },
      { to: ['a@dest.test'], subject: 'nul\u0000byte' },
      { to: ['a@dest.test'], attachments: [{ filename: 'a.txt', content: 'not base64!' }] },
      { to: ['a@dest.test'], body_text: undefined },
    ];
    for (const attempt of attempts) {
      const res = await send(
        attempt.body_text === undefined && 'body_text' in attempt ? { ...attempt, body_text: null } : attempt,
      );
      expect(res.status, JSON.stringify(attempt)).toBe(422);
      expect(res.body.error.code).toBe('validation_error');
    }
    await drain();
    expect(mx.received.length).toBe(before);
  });

  it('retries a greylisted recipient no earlier than the server asked, then delivers', async () => {
    mx.received.length = 0;
    let greylisted = 0;
    mx.playbook = {
      rcptTo: () =>
        greylisted++ === 0 ? { code: 450, message: '4.2.0 Greylisted, please try again in 5 seconds' } : null,
    };
    try {
      const res = await send({ to: ['grey@dest.test'], subject: 'Greylist me' });
      await drain();
      let state = await message(res.body.id);
      expect(state.status).toBe('sending');
      const recipient = state.delivery.recipients[0];
      expect(recipient).toMatchObject({ status: 'deferred', attempts: 1, last_status: '4.2.0' });
      const wait = new Date(recipient.next_attempt_at).getTime() - server.clock.now().getTime();
      expect(wait).toBeGreaterThanOrEqual(5000);
      expect(await eventTypes(res.body.id)).toContain('message.deferred');

      server.clock.advance(4000);
      await drain();
      expect((await message(res.body.id)).delivery.recipients[0].attempts).toBe(1);
      server.clock.advance(1000);
      await drain();
      state = await message(res.body.id);
      expect(state.status).toBe('delivered');
      expect(state.delivery.recipients[0].attempts).toBe(2);
      expect(mx.received).toHaveLength(1);
    } finally {
      mx.playbook = {};
    }
  });

  it('gives up on a recipient that keeps answering 4xx once the lifetime is over', async () => {
    mx.playbook = { rcptTo: () => ({ code: 451, message: '4.3.0 Try later' }) };
    try {
      server.clock.set(new Date(Math.ceil(server.clock.now().getTime() / 1000) * 1000));
      const res = await send({ to: ['always-busy@dest.test'], subject: 'Busy' });
      await drain();
      const offsets: number[] = [];
      const start = server.clock.now().getTime();
      for (let i = 0; i < 6; i++) {
        const state = await message(res.body.id);
        const next = state.delivery.recipients[0].next_attempt_at as string | null;
        if (!next) break;
        offsets.push(new Date(next).getTime() - start);
        server.clock.set(new Date(next));
        await drain();
      }
      // 1 s, then +2 s, then +3 s: the shrunk schedule, ending once 6 s have passed.
      expect(offsets).toEqual([1000, 3000, 6000]);
      const state = await message(res.body.id);
      expect(state.status).toBe('failed');
      expect(state.delivery.recipients[0]).toMatchObject({
        status: 'failed',
        last_status: '4.4.7',
        attempts: 4,
      });
      expect(await eventTypes(res.body.id)).toContain('message.failed');
    } finally {
      mx.playbook = {};
    }
  });

  for (const [stage, playbook] of [
    ['MAIL FROM', { mailFrom: () => ({ code: 550, message: '5.7.1 Sender rejected' }) }],
    ['RCPT TO', { rcptTo: () => ({ code: 550, message: '5.1.1 User unknown' }) }],
    ['end of DATA', { data: () => ({ code: 554, message: '5.6.0 Message rejected' }) }],
  ] as const) {
    it(`fails the recipient at once on a 5xx at ${stage}`, async () => {
      mx.playbook = playbook;
      try {
        const res = await send({ to: [`reject-${stage.replace(/\W/g, '')}@dest.test`] });
        await drain();
        const state = await message(res.body.id);
        expect(state.status).toBe('failed');
        expect(state.delivery.recipients[0].status).toBe('failed');
        expect(state.delivery.recipients[0].last_status).toMatch(/^5\./);
      } finally {
        mx.playbook = {};
      }
    });
  }

  it('suppresses a recipient refused as unknown, and the next send to it is 409', async () => {
    mx.playbook = { rcptTo: () => ({ code: 550, message: '5.1.1 The email account does not exist' }) };
    try {
      await send({ to: ['gone@dest.test'] });
      await drain();
    } finally {
      mx.playbook = {};
    }
    const again = await send({ to: ['gone@dest.test'] });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('recipient_suppressed');
    const list = await server.api('GET', '/v1/suppressions', { key: box.key });
    expect(list.body.data.map((s: Json) => [s.address, s.reason])).toContainEqual([
      'gone@dest.test',
      'hard_bounce',
    ]);
  });
});

describe('MX selection', () => {
  it('tries MX hosts in preference order and falls back when the first refuses connections', async () => {
    const backup = await startFakeMx({ host: '127.0.0.3', port: mx.port });
    try {
      server.dns.set('fallback.test', {
        MX: [
          { exchange: 'backup.fallback.test', priority: 20 },
          { exchange: 'primary.fallback.test', priority: 10 },
        ],
      });
      // Nothing listens on 127.0.0.4: the primary refuses the connection.
      server.dns.set('primary.fallback.test', { A: ['127.0.0.4'] });
      server.dns.set('backup.fallback.test', { A: ['127.0.0.3'] });
      const res = await send({ to: ['someone@fallback.test'] });
      await drain();
      expect((await message(res.body.id)).status).toBe('delivered');
      expect(backup.received.map((m) => m.rcptTo[0])).toEqual(['someone@fallback.test']);
    } finally {
      await backup.close();
    }
  });

  it('fails at once for a null MX and for a domain that does not exist', async () => {
    server.dns.set('nullmx.test', { MX: [{ exchange: '', priority: 0 }] });
    const nullMx = await send({ to: ['a@nullmx.test'] });
    const missing = await send({ to: ['a@no-such-domain.test'] });
    await drain();
    const a = await message(nullMx.body.id);
    expect(a.status).toBe('failed');
    expect(a.delivery.recipients[0].last_status).toBe('5.1.10');
    expect((await message(missing.body.id)).status).toBe('failed');
  });

  it('uses the domain itself when it has no MX records (implicit MX)', async () => {
    server.dns.set('implicit.test', { A: ['127.0.0.2'] });
    mx.received.length = 0;
    const res = await send({ to: ['direct@implicit.test'] });
    await drain();
    expect((await message(res.body.id)).status).toBe('delivered');
    expect(mx.received.map((m) => m.rcptTo[0])).toEqual(['direct@implicit.test']);
  });
});

describe('asynchronous bounces', () => {
  it('bounces and suppresses the recipient named by a DSN sent to its VERP address, and ignores forged tokens', async () => {
    mx.received.length = 0;
    const res = await send({ to: ['later-bounce@dest.test'], subject: 'Will bounce' });
    await drain();
    const verp = mx.received[0]?.mailFrom ?? '';
    expect(verp).toMatch(/^bounces\+/);
    const dsn = [
      'From: MAILER-DAEMON@dest.test',
      `To: ${verp}`,
      'Subject: Undelivered Mail Returned to Sender',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'Your message could not be delivered.',
      '--b1',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx1.dest.test',
      '',
      'Final-Recipient: rfc822; later-bounce@dest.test',
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 mailbox unavailable',
      '',
      '--b1--',
      '',
    ].join('\r\n');
    const deliver = async (to: string) => {
      const smtp = await RawSmtp.open(server.smtpPort);
      try {
        await smtp.command('EHLO mx1.dest.test');
        await smtp.command('MAIL FROM:<>');
        const rcpt = await smtp.command(`RCPT TO:<${to}>`);
        if (code(rcpt) !== 250) return rcpt;
        await smtp.command('DATA');
        return await smtp.command(`${dsn}.`);
      } finally {
        smtp.close();
      }
    };
    expect(code(await deliver('bounces+aaaaaaaaaaaaaaaaaaaa@bounces.loftbox.localhost'))).toBe(550);
    expect(code(await deliver(verp))).toBe(250);
    await server.running.inbound.idle();

    const state = await message(res.body.id);
    expect(state.status).toBe('bounced');
    expect(state.delivery.recipients[0]).toMatchObject({ status: 'bounced', last_status: '5.1.1' });
    expect(await eventTypes(res.body.id)).toContain('message.bounced');
    const again = await send({ to: ['later-bounce@dest.test'] });
    expect(again.status).toBe(409);
  });
});

describe('send checks', () => {
  it('replays an Idempotency-Key with the original message and refuses a different body with 409', async () => {
    const headers = { 'Idempotency-Key': `key-${Date.now()}` };
    const first = await send({ to: ['idem@dest.test'], subject: 'Once' }, { headers });
    const replay = await send({ to: ['idem@dest.test'], subject: 'Once' }, { headers });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.id).toBe(first.body.id);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const different = await send({ to: ['idem@dest.test'], subject: 'Twice' }, { headers });
    expect(different.status).toBe(409);
    expect(different.body.error.code).toBe('idempotency_conflict');
  });

  it('refuses the send past the daily limit with 429 and Retry-After until UTC midnight', async () => {
    const limited = await startTestServer({ dailySendLimit: 3 });
    try {
      const sender = await limited.mailbox('limited');
      const post = () =>
        limited.api('POST', '/v1/messages', {
          key: sender.key,
          body: { mailbox_id: sender.mailboxId, to: ['x@dest.test'], subject: 's', body_text: 't' },
        });
      for (let i = 0; i < 3; i++) expect((await post()).status).toBe(201);
      const over = await post();
      expect(over.status).toBe(429);
      expect(over.body.error.code).toBe('daily_limit_reached');
      const now = limited.clock.now();
      const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
      expect(Number(over.headers.get('retry-after'))).toBe(Math.ceil((midnight - now.getTime()) / 1000));
      limited.clock.set(new Date(midnight + 1000));
      expect((await post()).status).toBe(201);
    } finally {
      await limited.close();
    }
  });

  it('schedules send_at and delivers at that time', async () => {
    await drain();
    mx.received.length = 0;
    const at = new Date(server.clock.now().getTime() + 3_600_000);
    const res = await send({ to: ['later@dest.test'], send_at: at.toISOString() });
    expect(res.body.status).toBe('scheduled');
    expect(res.body.scheduled_at).toBe(at.toISOString().replace(/\.\d{3}Z$/, 'Z'));
    await drain();
    expect(mx.received).toHaveLength(0);
    server.clock.set(at);
    await drain();
    expect((await message(res.body.id)).status).toBe('delivered');
    expect(mx.received).toHaveLength(1);
    const past = await send({ to: ['later@dest.test'], send_at: '2001-01-01T00:00:00Z' });
    expect(past.status).toBe(422);
  });

  it('holds, approves and rejects by approval policy, and blocks by a block policy', async () => {
    const hold = await server.api('POST', '/v1/approval-policies', {
      key: box.key,
      body: {
        name: 'Review partners',
        action: 'require_approval',
        scope_type: 'org',
        recipient_domain: 'partner.test',
        reason: 'Partner mail needs review',
      },
    });
    expect(hold.status).toBe(201);
    const block = await server.api('POST', '/v1/approval-policies', {
      key: box.key,
      body: {
        name: 'Never competitors',
        action: 'block',
        scope_type: 'mailbox',
        scope_id: box.mailboxId,
        recipient_pattern: '*@rival.test',
      },
    });
    expect(block.status).toBe(201);
    server.dns.set('partner.test', { MX: [{ exchange: 'mx1.dest.test', priority: 10 }] });

    const held = await send({ to: ['ceo@partner.test'] });
    expect(held.body.status).toBe('pending_approval');
    expect(held.body.approval).toMatchObject({
      policy_id: hold.body.id,
      reason: 'Partner mail needs review',
    });
    const queue = await server.api('GET', '/v1/messages?status=pending_approval&direction=outgoing', {
      key: box.key,
    });
    expect(queue.body.data.map((m: Json) => m.id)).toContain(held.body.id);
    await drain();
    expect((await message(held.body.id)).status).toBe('pending_approval');

    const noScope = await server.api('POST', '/v1/auth/keys', { key: box.key, body: { scopes: ['send'] } });
    const denied = await server.api('POST', `/v1/messages/${held.body.id}/approve`, {
      key: noScope.body.api_key,
      body: {},
    });
    expect(denied.status).toBe(403);
    const approved = await server.api('POST', `/v1/messages/${held.body.id}/approve`, {
      key: box.key,
      body: { reason: 'Looks fine' },
    });
    expect(approved.status).toBe(200);
    expect(approved.body.approval).toMatchObject({ decided_by: box.keyId, decision_reason: 'Looks fine' });
    await drain();
    expect((await message(held.body.id)).status).toBe('delivered');
    expect(await eventTypes(held.body.id)).toEqual(
      expect.arrayContaining([
        'message.pending_approval',
        'message.approved',
        'message.queued',
        'message.delivered',
      ]),
    );
    const twice = await server.api('POST', `/v1/messages/${held.body.id}/approve`, {
      key: box.key,
      body: {},
    });
    expect(twice.status).toBe(409);

    const other = await send({ to: ['cfo@partner.test'] });
    const rejected = await server.api('POST', `/v1/messages/${other.body.id}/reject`, {
      key: box.key,
      body: { reason: 'Not now' },
    });
    expect(rejected.body.status).toBe('rejected');
    await drain();
    expect((await message(other.body.id)).delivery.recipients[0].status).toBe('cancelled');

    const blocked = await send({ to: ['spy@rival.test'] });
    expect(blocked.status).toBe(201);
    expect(blocked.body.status).toBe('blocked');
    expect(await eventTypes(blocked.body.id)).toContain('message.blocked');
    await server.api('DELETE', `/v1/approval-policies/${hold.body.id}`, { key: box.key });
    await server.api('DELETE', `/v1/approval-policies/${block.body.id}`, { key: box.key });
  });

  it('lets an unclaimed account mail only its owner', async () => {
    const signup = await server.api('POST', '/v1/auth/agent-signup', {
      body: { owner_email: 'boss@dest.test' },
    });
    const post = (to: string) =>
      server.api('POST', '/v1/messages', {
        key: signup.body.api_key,
        body: { mailbox_id: signup.body.mailbox_id, to: [to], subject: 'hi', body_text: 'x' },
      });
    const stranger = await post('stranger@dest.test');
    expect(stranger.status).toBe(403);
    expect(stranger.body.error.code).toBe('restricted_recipient');
    expect((await post('boss@dest.test')).status).toBe(201);
  });

  it("cannot send from another org's mailbox", async () => {
    const other = await server.mailbox('not-yours');
    const res = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: { mailbox_id: other.mailboxId, to: ['a@dest.test'], subject: 's', body_text: 't' },
    });
    expect(res.status).toBe(404);
  });
});

describe('local delivery', () => {
  it('lets two mailboxes on this server converse both ways in one thread', async () => {
    const a = await server.mailbox('alice-local');
    const b = await server.mailbox('bob-local');
    const first = await server.api('POST', '/v1/messages', {
      key: a.key,
      body: { mailbox_id: a.mailboxId, to: [b.address], subject: 'Lunch?', body_text: 'Noon?' },
    });
    await drain();
    expect((await message(first.body.id, a.key)).status).toBe('delivered');
    const inboxB = (await server.api('GET', `/v1/mailboxes/${b.mailboxId}/inbox`, { key: b.key })).body
      .data as Json[];
    expect(inboxB.map((m) => m.subject)).toEqual(['Lunch?']);
    expect(inboxB[0].from).toBe(a.address);

    const reply = await server.api('POST', '/v1/messages', {
      key: b.key,
      body: {
        mailbox_id: b.mailboxId,
        to: [a.address],
        subject: 'Re: Lunch?',
        body_text: 'Yes',
        in_reply_to: inboxB[0].id,
      },
    });
    expect(reply.body.thread_id).toBe(inboxB[0].thread_id);
    expect(reply.body.in_reply_to).toBe(first.body.message_id_header);
    await drain();
    const inboxA = (await server.api('GET', `/v1/mailboxes/${a.mailboxId}/inbox`, { key: a.key })).body
      .data as Json[];
    expect(inboxA.map((m) => m.subject)).toEqual(['Re: Lunch?']);
    expect(inboxA[0].thread_id).toBe(first.body.thread_id);
    const thread = await server.api('GET', `/v1/threads/${first.body.thread_id}/messages`, { key: a.key });
    expect(thread.body.data.map((m: Json) => m.direction)).toEqual(['outgoing', 'incoming']);

    // An unknown local address is refused at send time (hosted-recipients.test.ts); one retired
    // between the send and its delivery still fails there, as the MX would answer.
    const refused = await server.api('POST', '/v1/messages', {
      key: a.key,
      body: { mailbox_id: a.mailboxId, to: ['nobody-here@loftbox.localhost'], subject: 'x', body_text: 'y' },
    });
    expect(refused.body.error.code).toBe('recipient_not_found');
    const c = await server.mailbox('carol-local');
    const unknown = await server.api('POST', '/v1/messages', {
      key: a.key,
      body: {
        mailbox_id: a.mailboxId,
        to: [c.address],
        subject: 'x',
        body_text: 'y',
        send_at: new Date(server.clock.now().getTime() + 60_000).toISOString(),
      },
    });
    expect((await server.api('DELETE', `/v1/mailboxes/${c.mailboxId}`, { key: c.key })).status).toBe(200);
    server.clock.advance(61_000);
    await drain();
    const failed = await message(unknown.body.id, a.key);
    expect(failed.status).toBe('failed');
    expect(failed.delivery.recipients[0].last_status).toBe('5.1.1');
  });
});

describe('more delivery paths', () => {
  it('defers a recipient whose MX accepts the connection but never greets', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(mx.port, '127.0.0.5', resolve));
    try {
      server.dns.set('silent.test', { MX: [{ exchange: 'mx.silent.test', priority: 10 }] });
      server.dns.set('mx.silent.test', { A: ['127.0.0.5'] });
      const res = await send({ to: ['quiet@silent.test'] });
      await drain();
      const state = await message(res.body.id);
      expect(state.delivery.recipients[0]).toMatchObject({ status: 'deferred', attempts: 1 });
      expect(state.delivery.recipients[0].last_status).toMatch(/^4\.4\./);
      expect(sockets.length).toBe(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('marks a recipient complained and suppresses it on an ARF report to its VERP address', async () => {
    mx.received.length = 0;
    const res = await send({ to: ['grumpy@dest.test'] });
    await drain();
    const verp = mx.received[0]?.mailFrom ?? '';
    const arf = [
      'From: fbl@dest.test',
      `To: ${verp}`,
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
      'Original-Rcpt-To: grumpy@dest.test',
      '',
      '--f1--',
      '',
    ].join('\r\n');
    const smtp = await RawSmtp.open(server.smtpPort);
    try {
      await smtp.command('EHLO fbl.dest.test');
      await smtp.command('MAIL FROM:<>');
      expect(code(await smtp.command(`RCPT TO:<${verp}>`))).toBe(250);
      await smtp.command('DATA');
      expect(code(await smtp.command(`${arf}.`))).toBe(250);
    } finally {
      smtp.close();
    }
    await server.running.inbound.idle();
    const state = await message(res.body.id);
    expect(state.status).toBe('complained');
    expect(await eventTypes(res.body.id)).toContain('message.complained');
    const list = await server.api('GET', '/v1/suppressions?limit=100', { key: box.key });
    expect(list.body.data.find((s: Json) => s.address === 'grumpy@dest.test')?.reason).toBe('complaint');
  });

  it('manages suppressions by hand, pages them with before, and lifts them', async () => {
    const created: string[] = [];
    for (const address of ['m1@dest.test', 'm2@dest.test', 'm3@dest.test']) {
      const res = await server.api('POST', '/v1/suppressions', { key: box.key, body: { address } });
      expect(res.status).toBe(201);
      expect(res.body.reason).toBe('manual');
      created.push(res.body.id);
    }
    expect((await send({ to: ['m2@dest.test'] })).status).toBe(409);
    const page1 = await server.api('GET', '/v1/suppressions?limit=2', { key: box.key });
    expect(page1.body.data).toHaveLength(2);
    const page2 = await server.api('GET', `/v1/suppressions?limit=2&before=${page1.body.next_cursor}`, {
      key: box.key,
    });
    expect(page2.body.data.map((s: Json) => s.id)).not.toContain(page1.body.data[0].id);
    const m2 = created[1] ?? '';
    expect((await server.api('DELETE', `/v1/suppressions/${m2}`, { key: box.key })).status).toBe(200);
    expect((await send({ to: ['m2@dest.test'] })).status).toBe(201);
    const other = await server.mailbox('suppression-other-org');
    expect((await server.api('DELETE', `/v1/suppressions/${created[0]}`, { key: other.key })).status).toBe(
      404,
    );
  });
});

describe('relay delivery', () => {
  it('hands everything to the smarthost with AUTH and reports it sent', async () => {
    const smarthost = await startFakeMx({ auth: { user: 'relay-user', pass: 's3cret' } });
    const relayed = await startTestServer({
      delivery: 'relay',
      relayUrl: `smtp://relay-user:s3cret@127.0.0.1:${smarthost.port}`,
      outboundTimeout: 2000,
    });
    try {
      const sender = await relayed.mailbox('relay-sender');
      const res = await relayed.api('POST', '/v1/messages', {
        key: sender.key,
        body: {
          mailbox_id: sender.mailboxId,
          to: ['anyone@anywhere.test'],
          subject: 'Via relay',
          body_text: 'x',
        },
      });
      for (let i = 0; i < 5; i++) if ((await relayed.running.queue.tick()) === 0) break;
      const state = (await relayed.api('GET', `/v1/messages/${res.body.id}`, { key: sender.key })).body;
      expect(state.status).toBe('sent');
      // The server's own mail (the signup code and welcome of this test's org) took the same road.
      const ours = smarthost.received.filter((m) => m.rcptTo[0] === 'anyone@anywhere.test');
      expect(ours).toHaveLength(1);
      expect(ours[0]?.mailFrom).toMatch(/^bounces\+/);
      expect(
        smarthost.received.some((m) =>
          m.raw.toString().includes('From: LoftBox <no-reply@loftbox.localhost>'),
        ),
      ).toBe(true);
    } finally {
      await relayed.close();
      await smarthost.close();
    }
  });
});
