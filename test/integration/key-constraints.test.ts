import { format } from 'node:util';
import { ImapFlow } from 'imapflow';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type ApiResponse, type Json, type TestServer } from '../harness/server.js';

/** Capability keys (CONTRACT §12): every constraint on every path a key acts through. */

let server: TestServer;
let box: Awaited<ReturnType<TestServer['mailbox']>>;
/** A second mailbox of the same org and agent. */
let other: { id: string; address: string };

beforeAll(async () => {
  server = await startTestServer({ signupLimitPerIp: 1000, mailboxSendRate: 1000 });
  box = await server.mailbox('capkeys');
  const created = await server.api('POST', `/v1/agents/${box.agentId}/mailboxes`, {
    key: box.key,
    body: { local_part: 'capkeys-other' },
  });
  expect(created.status, created.text).toBe(201);
  other = { id: created.body.id, address: created.body.address };
});
afterAll(async () => {
  await server.close();
});

const port = (name: string) => server.running.ports[name] ?? 0;
const HOUR_S = 3600;

async function child(parentKey: string, constraints: Json, scopes = ['send', 'receive']) {
  const res = await server.api('POST', '/v1/auth/keys', { key: parentKey, body: { scopes, constraints } });
  expect(res.status, res.text).toBe(201);
  return res.body as Json & { api_key: string; id: string };
}

function send(key: string, body: Json): Promise<ApiResponse> {
  return server.api('POST', '/v1/messages', {
    key,
    body: { mailbox_id: box.mailboxId, subject: 'Hello', body_text: 'Hi', ...body },
  });
}

function expectViolation(res: ApiResponse, constraint: string): void {
  expect(res.status, res.text).toBe(403);
  expect(res.body.error.code).toBe('constraint_violated');
  expect(res.body.error.details).toEqual([
    { path: `constraints.${constraint}`, message: expect.any(String) },
  ]);
}

/** One submission over implicit TLS; resolves with the server's final reply to the message. */
async function submit(
  pass: string,
  message: { from?: string; to: string; headers?: string },
): Promise<{ ok: boolean; reply: string }> {
  const lines: string[] = [];
  const log = (_meta: unknown, ...args: unknown[]) => lines.push(format(...args));
  const connection = new SMTPConnection({
    host: '127.0.0.1',
    port: port('submission-tls'),
    secure: true,
    tls: { rejectUnauthorized: false },
    logger: { trace: log, debug: log, info: log, warn: log, error: log, fatal: log },
  } as ConstructorParameters<typeof SMTPConnection>[0]);
  connection.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    connection.once('error', reject);
    connection.connect(() => resolve());
  });
  const from = message.from ?? box.address;
  try {
    await new Promise<void>((resolve, reject) =>
      connection.login({ user: from, pass }, (err) => (err ? reject(err) : resolve())),
    );
    const raw = `From: ${from}\r\nTo: ${message.to}\r\nSubject: via smtp\r\n${message.headers ?? ''}\r\nHello\r\n`;
    return await new Promise((resolve) =>
      connection.send({ from, to: [message.to] }, raw, (err, info) =>
        resolve(
          err
            ? { ok: false, reply: (err as Error & { response?: string }).response ?? err.message }
            : { ok: true, reply: info.response },
        ),
      ),
    );
  } finally {
    connection.close();
  }
}

async function loginFails(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return String((err as Error & { response?: string }).response ?? (err as Error).message);
  }
  throw new Error('login succeeded');
}

describe('creating constrained keys', () => {
  it('shows the constraints on create and on key reads', async () => {
    const key = await child(box.key, {
      mailbox_ids: [box.mailboxId],
      reply_only: true,
      allowed_recipients: ['@Example.com', 'boss@corp.test'],
      send_budget: { per_day: 20 },
    });
    const expected = {
      mailbox_ids: [box.mailboxId],
      reply_only: true,
      allowed_recipients: ['@example.com', 'boss@corp.test'],
      send_budget: { per_hour: null, per_day: 20 },
      expires_at: null,
    };
    expect(key.constraints).toEqual(expected);
    const listed = await server.api('GET', '/v1/auth/keys?limit=100', { key: box.key });
    expect(listed.body.data.find((k: Json) => k.id === key.id).constraints).toEqual(expected);
  });

  it('intersects a child with its parent and refuses anything broader with 403 constraint_violated', async () => {
    const parent = await child(box.key, {
      mailbox_ids: [box.mailboxId],
      reply_only: true,
      allowed_recipients: ['@example.com'],
      send_budget: { per_hour: 5 },
    });
    expectViolation(
      await server.api('POST', '/v1/auth/keys', {
        key: parent.api_key,
        body: { scopes: ['send'], constraints: { mailbox_ids: [other.id] } },
      }),
      'mailbox_ids',
    );
    expectViolation(
      await server.api('POST', '/v1/auth/keys', {
        key: parent.api_key,
        body: { scopes: ['send'], constraints: { reply_only: false } },
      }),
      'reply_only',
    );
    expectViolation(
      await server.api('POST', '/v1/auth/keys', {
        key: parent.api_key,
        body: { scopes: ['send'], constraints: { allowed_recipients: ['@example.org', 'a@example.com'] } },
      }),
      'allowed_recipients',
    );
    expectViolation(
      await server.api('POST', '/v1/auth/keys', {
        key: parent.api_key,
        body: { scopes: ['send'], constraints: { send_budget: { per_hour: 6 } } },
      }),
      'send_budget',
    );
    // Asking for nothing inherits everything; asking for less narrows.
    const inherited = await child(parent.api_key, {}, ['send']);
    expect(inherited.constraints).toMatchObject({
      mailbox_ids: [box.mailboxId],
      reply_only: true,
      allowed_recipients: ['@example.com'],
      send_budget: { per_hour: 5, per_day: null },
    });
    const narrower = await child(parent.api_key, { allowed_recipients: ['a@example.com'] }, ['send']);
    expect(narrower.constraints.allowed_recipients).toEqual(['a@example.com']);
  });

  it("refuses an expiry past the parent's; an expired key is 401", async () => {
    const at = new Date(server.clock.now().getTime() + HOUR_S * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    const short = await child(box.key, { expires_at: at });
    expect(short.expires_at).toBe(at);
    expect(short.constraints.expires_at).toBe(at);
    const later = new Date(server.clock.now().getTime() + 2 * HOUR_S * 1000).toISOString();
    expectViolation(
      await server.api('POST', '/v1/auth/keys', {
        key: short.api_key,
        body: { scopes: ['send'], constraints: { expires_at: later } },
      }),
      'expires_at',
    );
    expect((await server.api('GET', '/v1', { key: short.api_key })).status).toBe(200);
    server.clock.advance(HOUR_S * 1000);
    const expired = await server.api('GET', '/v1', { key: short.api_key });
    expect(expired.status).toBe(401);
  });

  it('answers 404 for a mailbox of another org', async () => {
    const stranger = await server.mailbox('capkeys-stranger');
    const res = await server.api('POST', '/v1/auth/keys', {
      key: box.key,
      body: { scopes: ['send'], constraints: { mailbox_ids: [stranger.mailboxId] } },
    });
    expect(res.status).toBe(404);
  });
});

describe('reply-only keys', () => {
  it('refuse a fresh thread over REST and SMTP submission, and allow a reply in a thread of the mailbox', async () => {
    const opener = await send(box.key, { to: ['peer@example.com'] });
    expect(opener.status, opener.text).toBe(201);
    const key = await child(box.key, { reply_only: true });

    expectViolation(await send(key.api_key, { to: ['peer@example.com'] }), 'reply_only');
    const reply = await send(key.api_key, { to: ['peer@example.com'], in_reply_to: opener.body.id });
    expect(reply.status, reply.text).toBe(201);
    expect(reply.body.thread_id).toBe(opener.body.thread_id);

    const fresh = await submit(key.api_key, { to: 'peer@example.com' });
    expect(fresh.ok).toBe(false);
    expect(fresh.reply).toMatch(/^550 5\.7\.1 .*reply-only/);
    const answered = await submit(key.api_key, {
      to: 'peer@example.com',
      headers: `In-Reply-To: ${opener.body.message_id_header}\r\n`,
    });
    expect(answered.ok, answered.reply).toBe(true);
  });

  it('refuses a reply to a message of another mailbox', async () => {
    const elsewhere = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: { mailbox_id: other.id, to: ['peer@example.com'], subject: 'x', body_text: 'y' },
    });
    expect(elsewhere.status).toBe(201);
    const key = await child(box.key, { reply_only: true });
    expectViolation(
      await send(key.api_key, { to: ['peer@example.com'], in_reply_to: elsewhere.body.id }),
      'reply_only',
    );
  });
});

describe('allow-listed keys', () => {
  it('send to listed addresses and domains only, over REST and SMTP submission', async () => {
    const key = await child(box.key, { allowed_recipients: ['@example.com', 'boss@corp.test'] });
    expect((await send(key.api_key, { to: ['anyone@example.com', 'boss@corp.test'] })).status).toBe(201);
    expectViolation(
      await send(key.api_key, { to: ['anyone@example.com'], bcc: ['x@sub.example.com'] }),
      'allowed_recipients',
    );
    expectViolation(await send(key.api_key, { to: ['other@corp.test'] }), 'allowed_recipients');

    const refused = await submit(key.api_key, { to: 'other@corp.test' });
    expect(refused.ok).toBe(false);
    expect(refused.reply).toMatch(/^550 5\.7\.1 /);
    expect((await submit(key.api_key, { to: 'someone@example.com' })).ok).toBe(true);
  });
});

describe('send budgets', () => {
  it('answer 429 with Retry-After over REST and a 4.7.x temporary reply over SMTP once used up', async () => {
    const key = await child(box.key, { send_budget: { per_hour: 2, per_day: 3 } });
    expect((await send(key.api_key, { to: ['a@example.com'] })).status).toBe(201);
    server.clock.advance(60_000);
    expect((await send(key.api_key, { to: ['a@example.com'] })).status).toBe(201);
    const over = await send(key.api_key, { to: ['a@example.com'] });
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe('send_budget_exhausted');
    // The first send leaves the hour window 59 minutes from now.
    expect(over.headers.get('retry-after')).toBe(String(HOUR_S - 60));
    const smtp = await submit(key.api_key, { to: 'a@example.com' });
    expect(smtp.ok).toBe(false);
    expect(smtp.reply).toMatch(/^451 4\.7\.\d /);

    // Both hourly sends have left the window; the day still holds them.
    server.clock.advance((HOUR_S + 60) * 1000);
    expect((await send(key.api_key, { to: ['a@example.com'] })).status).toBe(201);
    const daily = await send(key.api_key, { to: ['a@example.com'] });
    expect(daily.status).toBe(429);
    expect(daily.body.error.details[0].path).toBe('constraints.send_budget.per_day');
  });

  it('count atomically with the insert when sends race, and count a child against its parent', async () => {
    const parent = await child(box.key, { send_budget: { per_day: 3 } });
    const kid = await child(parent.api_key, {});
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        send(i % 2 ? kid.api_key : parent.api_key, { to: [`r${i}@example.com`] }),
      ),
    );
    expect(responses.filter((r) => r.status === 201)).toHaveLength(3);
    expect(responses.filter((r) => r.status === 429)).toHaveLength(5);
  });
});

describe('mailbox-bound keys', () => {
  let bound: string;
  let foreignMessage: string;
  let foreignThread: string;

  beforeAll(async () => {
    bound = (await child(box.key, { mailbox_ids: [box.mailboxId] })).api_key;
    const sent = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: { mailbox_id: other.id, to: ['peer@example.com'], subject: 'private', body_text: 'secret' },
    });
    expect(sent.status).toBe(201);
    foreignMessage = sent.body.id;
    foreignThread = sent.body.thread_id;
  });

  it('cannot send from, read, list or ack another mailbox over REST', async () => {
    const res = await server.api('POST', '/v1/messages', {
      key: bound,
      body: { mailbox_id: other.id, to: ['peer@example.com'], subject: 'x', body_text: 'y' },
    });
    expectViolation(res, 'mailbox_ids');
    for (const path of [
      `/v1/messages/${foreignMessage}`,
      `/v1/messages/${foreignMessage}/raw`,
      `/v1/messages/${foreignMessage}/attachments`,
      `/v1/messages/${foreignMessage}/deliveries`,
      `/v1/threads/${foreignThread}`,
      `/v1/threads/${foreignThread}/messages`,
      `/v1/mailboxes/${other.id}`,
      `/v1/mailboxes/${other.id}/inbox`,
      `/v1/messages?mailbox_id=${other.id}`,
      `/v1/threads?mailbox_id=${other.id}`,
      `/v1/events?mailbox_id=${other.id}`,
    ]) {
      const read = await server.api('GET', path, { key: bound });
      expect(read.status, path).toBe(404);
      expect(read.text).not.toContain('secret');
    }
    const ack = await server.api('POST', `/v1/mailboxes/${other.id}/inbox/ack`, {
      key: bound,
      body: { message_ids: [foreignMessage] },
    });
    expect(ack.status).toBe(404);
    for (const action of ['retry', 'cancel']) {
      const acted = await server.api('POST', `/v1/messages/${foreignMessage}/${action}`, { key: bound });
      expect(acted.status, action).toBe(404);
    }
    // Unfiltered lists show only the key's mailbox.
    const messages = await server.api('GET', '/v1/messages?limit=100', { key: bound });
    expect(messages.status).toBe(200);
    expect(messages.body.data.every((m: Json) => m.mailbox_id === box.mailboxId)).toBe(true);
    const events = await server.api('GET', '/v1/events?limit=100', { key: bound });
    expect(events.body.data.length).toBeGreaterThan(0);
    expect(events.body.data.every((e: Json) => e.mailbox_id === box.mailboxId)).toBe(true);
    const mailboxes = await server.api('GET', `/v1/agents/${box.agentId}/mailboxes?limit=100`, {
      key: bound,
    });
    expect(mailboxes.body.data.map((m: Json) => m.id)).toEqual([box.mailboxId]);
    // The unconstrained key still sees it.
    expect((await server.api('GET', `/v1/messages/${foreignMessage}`, { key: box.key })).status).toBe(200);
  });

  it('cannot log into SMTP submission or IMAP as another mailbox', async () => {
    const smtp = await loginFails(submit(bound, { from: other.address, to: 'peer@example.com' }));
    expect(smtp).toMatch(/^535 /);
    expect((await submit(bound, { to: 'peer@example.com' })).ok).toBe(true);

    const imap = (user: string) =>
      new ImapFlow({
        host: '127.0.0.1',
        port: port('imaps'),
        secure: true,
        auth: { user, pass: bound },
        tls: { rejectUnauthorized: false },
        logger: false,
      });
    const refused = imap(other.address);
    refused.on('error', () => undefined);
    await expect(refused.connect()).rejects.toThrow();
    const allowed = imap(box.address);
    allowed.on('error', () => undefined);
    await allowed.connect();
    await allowed.logout();
  });

  it("streams only its mailboxes' events over the WebSocket", async () => {
    const status = await new Promise<number>((resolve) => {
      const attempt = new WebSocket(`${server.url.replace('http', 'ws')}/v1/ws?mailbox_id=${other.id}`, {
        headers: { authorization: `Bearer ${bound}` },
      });
      attempt.on('error', () => undefined);
      attempt.on('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      attempt.on('open', () => {
        attempt.close();
        resolve(101);
      });
    });
    expect(status).toBe(404);

    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/ws?after=0`, {
      headers: { authorization: `Bearer ${bound}` },
    });
    const seen: Json[] = [];
    const caughtUp = new Promise<void>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as Json;
        if (frame.type !== 'event') return;
        seen.push(frame.event);
        if (frame.event.data?.message?.subject === 'marker') resolve();
      });
    });
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    await server.api('POST', '/v1/messages', {
      key: box.key,
      body: { mailbox_id: other.id, to: ['peer@example.com'], subject: 'not for you', body_text: 'y' },
    });
    expect((await send(box.key, { to: ['peer@example.com'], subject: 'marker' })).status).toBe(201);
    await caughtUp;
    ws.close();
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.every((e) => e.mailbox_id === box.mailboxId)).toBe(true);
  });
});
