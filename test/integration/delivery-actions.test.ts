import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeMx, type FakeMx } from '../harness/fake-mx.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';

/**
 * Retry now and cancel on an outgoing message (the console's delivery timeline uses them): with an
 * hour between attempts, a deferred recipient is tried again only because it was asked to.
 */
let server: TestServer;
let mx: FakeMx;
let box: Awaited<ReturnType<TestServer['mailbox']>>;
let greylisting = true;

beforeAll(async () => {
  mx = await startFakeMx({
    host: '127.0.0.2',
    playbook: {
      rcptTo: () => (greylisting ? { code: 451, message: '4.7.1 Greylisted, come back later' } : null),
    },
  });
  server = await startTestServer({
    delivery: 'direct',
    outboundPort: mx.port,
    retrySchedule: [3_600_000],
    deliveryLifetime: 86_400_000,
    mailboxSendRate: 1000,
  });
  server.dns.set('dest.test', { MX: [{ exchange: 'mx1.dest.test', priority: 10 }] });
  server.dns.set('mx1.dest.test', { A: ['127.0.0.2'] });
  box = await server.mailbox('retrier');
});
afterAll(async () => {
  await server.close();
  await mx.close();
});

async function drain(): Promise<void> {
  for (let i = 0; i < 20; i++) if ((await server.running.queue.tick()) === 0) break;
}

async function deferredMessage(subject: string): Promise<string> {
  const res = await server.api('POST', '/v1/messages', {
    key: box.key,
    body: { mailbox_id: box.mailboxId, to: ['alice@dest.test'], subject, body_text: 'Hi' },
  });
  expect(res.status).toBe(201);
  await drain();
  const id = res.body.id as string;
  const message = (await server.api('GET', `/v1/messages/${id}`, { key: box.key })).body;
  expect((message.delivery as Json).attempts).toBe(1);
  return id;
}

describe('retry now and cancel', () => {
  it('tries a deferred recipient at once when asked, long before its next attempt', async () => {
    greylisting = true;
    const id = await deferredMessage('retry me');
    await drain();
    const before = mx.attempts;
    expect(before).toBeGreaterThan(0);
    // Still an hour away: nothing is due.
    expect(await server.running.queue.tick()).toBe(0);

    greylisting = false;
    const retried = await server.api('POST', `/v1/messages/${id}/retry`, { key: box.key });
    expect(retried.status).toBe(200);
    await drain();
    expect(mx.received.some((m) => m.raw.toString().includes('Subject: retry me'))).toBe(true);
    const message = (await server.api('GET', `/v1/messages/${id}`, { key: box.key })).body;
    expect(message.status).toBe('delivered');

    const again = await server.api('POST', `/v1/messages/${id}/retry`, { key: box.key });
    expect(again.status).toBe(409);
    expect((again.body.error as Json).code).toBe('nothing_to_retry');
  });

  it('cancels a waiting recipient: the message fails with a message.failed event saying so, and is never delivered', async () => {
    greylisting = true;
    const id = await deferredMessage('cancel me');
    const cancelled = await server.api('POST', `/v1/messages/${id}/cancel`, { key: box.key });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('failed');
    const recipients = (cancelled.body.delivery as { recipients: Json[] }).recipients;
    expect(recipients).toMatchObject([{ address: 'alice@dest.test', status: 'cancelled' }]);

    greylisting = false;
    server.clock.advance(2 * 3_600_000);
    await drain();
    expect(mx.received.some((m) => m.raw.toString().includes('Subject: cancel me'))).toBe(false);

    const events = (await server.api('GET', '/v1/events?limit=100', { key: box.key })).body.data as Json[];
    const failed = events.filter((e) => e.message_id === id && e.type === 'message.failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.data).toMatchObject({ reason: 'cancelled' });

    const twice = await server.api('POST', `/v1/messages/${id}/cancel`, { key: box.key });
    expect(twice.status).toBe(409);
    expect((twice.body.error as Json).code).toBe('nothing_to_cancel');
  });

  it('refuses without message:send, and answers 404 for another org and for incoming mail', async () => {
    greylisting = true;
    const id = await deferredMessage('guarded');
    const reader = await server.api('POST', '/v1/auth/keys', {
      key: box.key,
      body: { name: 'reader', scopes: ['message:read'] },
    });
    expect(reader.status).toBe(201);
    const stranger = await server.mailbox('stranger');
    for (const action of ['retry', 'cancel']) {
      const denied = await server.api('POST', `/v1/messages/${id}/${action}`, {
        key: reader.body.api_key as string,
      });
      expect(denied.status).toBe(403);
      const foreign = await server.api('POST', `/v1/messages/${id}/${action}`, { key: stranger.key });
      expect(foreign.status).toBe(404);
    }
    // Mail the stranger sends to this mailbox is delivered locally: incoming, so not ours to cancel.
    const sent = await server.api('POST', '/v1/messages', {
      key: stranger.key,
      body: { mailbox_id: stranger.mailboxId, to: [box.address], subject: 'incoming', body_text: 'Hi' },
    });
    expect(sent.status).toBe(201);
    await drain();
    await server.running.inbound.idle();
    const inbox = (await server.api('GET', `/v1/mailboxes/${box.mailboxId}/inbox`, { key: box.key })).body
      .data as Json[];
    const incoming = inbox.find((m) => m.subject === 'incoming');
    expect(incoming).toBeDefined();
    const res = await server.api('POST', `/v1/messages/${String(incoming?.id)}/cancel`, { key: box.key });
    expect(res.status).toBe(404);
  });
});
