import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureLogs } from '../harness/logs.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';

let server: TestServer;
let logs: ReturnType<typeof captureLogs>;

beforeAll(async () => {
  logs = captureLogs();
  server = await startTestServer({ signupLimitPerIp: 1000 }, { log: logs.log });
});
afterAll(async () => {
  await server.close();
});

type Box = Awaited<ReturnType<TestServer['mailbox']>>;

/** One pooled SMTP connection to the MX, so many messages do not each pay the greeting delay. */
function mxClient(port = server.smtpPort) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: true,
    pool: true,
    maxConnections: 2,
    maxMessages: Infinity,
  });
}

async function deliver(box: Box, subjects: string[]): Promise<void> {
  const mx = mxClient();
  try {
    await Promise.all(
      subjects.map((subject) =>
        mx.sendMail({ from: 'sender@remote.test', to: box.address, subject, text: subject }),
      ),
    );
  } finally {
    mx.close();
  }
  await server.running.inbound.idle();
}

const ids = (page: Json): string[] => (page.data as Json[]).map((m) => m.id as string);

const inbox = (box: Box, query: string) =>
  server.api('GET', `/v1/mailboxes/${box.mailboxId}/inbox?${query}`, { key: box.key });

const ack = (box: Box, messageIds: string[]) =>
  server.api('POST', `/v1/mailboxes/${box.mailboxId}/inbox/ack`, {
    key: box.key,
    body: { message_ids: messageIds },
  });

describe('inbox leases', () => {
  it('never hands one message to two concurrent pollers (1,000 messages arriving while both poll)', async () => {
    const box = await server.mailbox('leased-workers');
    const total = 1000;
    const seen = new Map<string, string>();
    const shared: string[] = [];
    let stop = false;

    const poller = async (name: string): Promise<void> => {
      while (!stop && seen.size < total) {
        const page = await inbox(box, 'lease=300&limit=25&wait=2');
        expect(page.status).toBe(200);
        const got = ids(page.body);
        for (const id of got) {
          if (seen.has(id)) shared.push(id);
          seen.set(id, name);
        }
        if (got.length > 0) expect((await ack(box, got)).body.acked).toBe(got.length);
      }
    };

    const arriving = deliver(
      box,
      Array.from({ length: total }, (_, i) => `Job ${i}`),
    );
    const polling = Promise.all([poller('a'), poller('b')]);
    await arriving;
    await vi.waitFor(() => expect(seen.size).toBe(total), { timeout: 120_000, interval: 50 });
    stop = true;
    await polling;

    expect(shared).toEqual([]);
    const byPoller = [...seen.values()];
    // Both really polled concurrently (each got some of the work).
    expect(byPoller.filter((p) => p === 'a').length).toBeGreaterThan(0);
    expect(byPoller.filter((p) => p === 'b').length).toBeGreaterThan(0);
    expect((await inbox(box, '')).body.data).toEqual([]);
  }, 400_000);

  it('gives a crashed poller’s messages to another poll once the lease ends; a late ack still succeeds', async () => {
    const box = await server.mailbox('crashy');
    await deliver(box, ['one', 'two', 'three']);

    const crashed = await inbox(box, 'lease=30');
    expect(crashed.body.data).toHaveLength(3);
    expect((await inbox(box, 'lease=30')).body.data).toEqual([]);
    // Leased messages are in flight: a plain poll does not show them either.
    expect((await inbox(box, '')).body.data).toEqual([]);

    server.clock.advance(29_000);
    expect((await inbox(box, 'lease=30')).body.data).toEqual([]);
    server.clock.advance(2_000);
    const retaken = await inbox(box, 'lease=30&limit=2');
    expect(ids(retaken.body)).toEqual(ids(crashed.body).slice(0, 2));
    expect(retaken.body.next_cursor).not.toBeNull();
    const rest = await inbox(box, `lease=30&limit=2&cursor=${retaken.body.next_cursor}`);
    expect(ids(rest.body)).toEqual(ids(crashed.body).slice(2));

    // The first worker comes back after its lease ended: its ack still counts.
    expect((await ack(box, ids(crashed.body))).body.acked).toBe(3);
    server.clock.advance(31_000);
    expect((await inbox(box, 'lease=30')).body.data).toEqual([]);
  });

  it('refuses out-of-range leases and waits', async () => {
    const box = await server.mailbox('bounds');
    for (const query of ['lease=0', 'lease=43201', 'lease=abc', 'wait=61', 'wait=-1']) {
      const res = await inbox(box, query);
      expect([400, 422], query).toContain(res.status);
      expect(res.body.error.request_id).toBe(res.headers.get('x-request-id'));
    }
  });
});

describe('inbox long-poll', () => {
  it('answers as soon as a message arrives over SMTP', async () => {
    const box = await server.mailbox('long-poll');
    const waiting = inbox(box, 'wait=60&lease=60');
    await vi.waitFor(() => expect(server.deps.bus.waiters).toBe(1), { timeout: 10_000, interval: 10 });
    await deliver(box, ['wake up']);
    const page = await waiting;
    expect(page.status).toBe(200);
    expect((page.body.data as Json[]).map((m) => m.subject)).toEqual(['wake up']);
    expect(server.deps.bus.waiters).toBe(0);
  }, 30_000);

  it('answers an empty page when the wait ends, and mail of another org does not end it', async () => {
    const box = await server.mailbox('quiet');
    const neighbour = await server.mailbox('noisy');
    const waiting = inbox(box, 'wait=1');
    await vi.waitFor(() => expect(server.deps.bus.waiters).toBe(1), { timeout: 10_000, interval: 10 });
    await deliver(neighbour, ['not for you']);
    const page = await waiting;
    expect(page.status).toBe(200);
    expect(page.body).toEqual({ data: [], next_cursor: null });
    expect(server.deps.bus.waiters).toBe(0);
  }, 30_000);

  it('hands a waiting poll a message whose lease ran out while it waited', async () => {
    const box = await server.mailbox('lease-ends');
    await deliver(box, ['left behind']);
    const taken = await inbox(box, 'lease=2');
    expect(taken.body.data).toHaveLength(1);
    const waiting = inbox(box, 'wait=60&lease=60');
    await vi.waitFor(() => expect(server.deps.bus.waiters).toBe(1), { timeout: 10_000, interval: 10 });
    // No event is appended: only the wait's own timer for the end of the lease can wake it.
    server.clock.advance(3_000);
    const page = await waiting;
    expect(ids(page.body)).toEqual(ids(taken.body));
  }, 30_000);

  it('bounds concurrent waiters and ends every wait on shutdown', async () => {
    const small = await startTestServer({ inboxMaxWaiters: 1 });
    let closed = false;
    try {
      const box = await small.mailbox('bounded');
      const path = `/v1/mailboxes/${box.mailboxId}/inbox?wait=60`;
      const first = small.api('GET', path, { key: box.key });
      await vi.waitFor(() => expect(small.deps.bus.waiters).toBe(1), { timeout: 10_000, interval: 10 });
      const second = await small.api('GET', path, { key: box.key });
      expect(second.status).toBe(429);
      expect(second.body.error.code).toBe('too_many_waiters');
      expect(second.headers.get('retry-after')).not.toBeNull();
      // Without a wait the inbox still answers.
      expect((await small.api('GET', path.replace('wait=60', 'wait=0'), { key: box.key })).status).toBe(200);

      const closing = small.close();
      closed = true;
      const page = await first;
      expect(page.status).toBe(200);
      expect(page.body.data).toEqual([]);
      // So the keep-alive connection does not hold the shutdown up until its grace period.
      expect(page.headers.get('connection')).toBe('close');
      await closing;
    } finally {
      if (!closed) await small.close();
    }
  }, 30_000);
});

describe('request ids on events', () => {
  const eventsOf = async (box: Box, messageId: string): Promise<Json[]> =>
    ((await server.api('GET', '/v1/events?limit=100', { key: box.key })).body.data as Json[]).filter(
      (e) => e.message_id === messageId,
    );

  async function drain(): Promise<void> {
    for (let i = 0; i < 20; i++) {
      if ((await server.running.queue.tick()) === 0) break;
    }
    await server.running.inbound.idle();
  }

  it('names the send on message.queued and the later delivery events, and the MX session on message.inbound', async () => {
    const sender = await server.mailbox('rid-sender');
    const sent = await server.api('POST', '/v1/messages', {
      key: sender.key,
      body: { mailbox_id: sender.mailboxId, to: ['someone@remote.test'], subject: 'Hi', body_text: 'Hello' },
    });
    expect(sent.status).toBe(201);
    const sendId = sent.headers.get('x-request-id');
    expect(sendId).toMatch(/^req_/);
    // Another call in between must not lend its id to the background delivery.
    const unrelated = await server.api('GET', '/v1/messages?limit=1', { key: sender.key });
    await drain();
    const events = await eventsOf(sender, sent.body.id);
    const types = events.map((e) => e.type);
    expect(types).toContain('message.queued');
    expect(types.some((t) => t === 'message.sent' || t === 'message.delivered')).toBe(true);
    for (const event of events) expect([event.type, event.request_id]).toEqual([event.type, sendId]);
    expect(events.map((e) => e.request_id)).not.toContain(unrelated.headers.get('x-request-id'));

    // A client's own X-Request-Id is kept and lands on the events it causes.
    const traced = await server.api('POST', '/v1/messages', {
      key: sender.key,
      headers: { 'x-request-id': 'trace-1234-abcd' },
      body: {
        mailbox_id: sender.mailboxId,
        to: ['other@remote.test'],
        subject: 'Traced',
        body_text: 'Hello',
      },
    });
    expect(traced.headers.get('x-request-id')).toBe('trace-1234-abcd');
    expect((await eventsOf(sender, traced.body.id)).map((e) => e.request_id)).toEqual(
      expect.arrayContaining(['trace-1234-abcd']),
    );

    const receiver = await server.mailbox('rid-receiver');
    const before = logs.lines.length;
    await deliver(receiver, ['From afar']);
    const sessions = logs.lines
      .slice(before)
      .filter((l) => l.event === 'smtp.accepted')
      .map((l) => l.session);
    expect(sessions).toHaveLength(1);
    const [received] = (
      await server.api('GET', `/v1/mailboxes/${receiver.mailboxId}/inbox`, { key: receiver.key })
    ).body.data as Json[];
    const [inbound] = await eventsOf(receiver, received.id);
    expect(inbound.type).toBe('message.inbound');
    expect(inbound.request_id).toBe(sessions[0]);
  });

  it('names the submission session on the events of a message sent over SMTP submission', async () => {
    const box = await server.mailbox('rid-submitter');
    const before = logs.lines.length;
    const info = await nodemailer
      .createTransport({
        host: '127.0.0.1',
        port: server.running.ports.submission ?? 0,
        requireTLS: true,
        auth: { user: box.address, pass: box.key },
        tls: { rejectUnauthorized: false },
      })
      .sendMail({ from: box.address, to: 'far@remote.test', subject: 'Submitted', text: 'Hello' });
    const publicId = /queued as (msg_\S+)/.exec(info.response)?.[1];
    await drain();
    const sessions = logs.lines
      .slice(before)
      .filter((l) => l.event === 'submission.accepted')
      .map((l) => l.session);
    expect(sessions).toHaveLength(1);
    const message = (await server.api('GET', `/v1/messages/${publicId}`, { key: box.key })).body;
    const events = await eventsOf(box, message.id);
    expect(events.map((e) => e.type)).toContain('message.queued');
    for (const event of events) expect([event.type, event.request_id]).toEqual([event.type, sessions[0]]);
  });

  it('names the approve call on message.approved and the send on the rest', async () => {
    const box = await server.mailbox('rid-approval');
    const policy = await server.api('POST', '/v1/approval-policies', {
      key: box.key,
      body: {
        name: 'Review',
        action: 'require_approval',
        scope_type: 'org',
        recipient_domain: 'review.test',
        reason: 'Needs review',
      },
    });
    expect(policy.status).toBe(201);
    const held = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: {
        mailbox_id: box.mailboxId,
        to: ['boss@review.test'],
        subject: 'Please',
        body_text: 'Approve me',
      },
    });
    expect(held.body.status).toBe('pending_approval');
    const approved = await server.api('POST', `/v1/messages/${held.body.id}/approve`, {
      key: box.key,
      body: {},
    });
    expect(approved.status).toBe(200);
    await drain();
    const byType = new Map((await eventsOf(box, held.body.id)).map((e) => [e.type, e.request_id]));
    expect(byType.get('message.pending_approval')).toBe(held.headers.get('x-request-id'));
    expect(byType.get('message.approved')).toBe(approved.headers.get('x-request-id'));
    const delivery = byType.get('message.sent') ?? byType.get('message.delivered');
    expect(delivery).toBe(held.headers.get('x-request-id'));
  });
});
