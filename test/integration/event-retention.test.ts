import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { startWebhookReceiver } from '../harness/webhook-receiver.js';

const DAY = 86_400_000;
let server: TestServer;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  server = await startTestServer({
    eventRetention: 10 * DAY,
    webhookAllow: '127.0.0.1',
    signupLimitPerIp: 1000,
  });
});
afterAll(async () => {
  await server.close();
  await receiver.close();
});

async function mailIn(to: string, subject: string, text = 'hello') {
  await nodemailer
    .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
    .sendMail({ from: 'sender@outside.test', to, subject, text });
  await server.running.inbound.idle();
}

const storedEventsMentioning = (needle: string) =>
  (
    server.deps.db.prepare('SELECT COUNT(*) AS n FROM events WHERE data LIKE ?').get(`%${needle}%`) as {
      n: number;
    }
  ).n;

/** The first frame of a stream opened at `query`, and how the server closed it if it did. */
function firstFrame(key: string, query: string): Promise<{ frame: Json; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/ws${query}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const closed = new Promise<number>((done) => ws.on('close', (code) => done(code)));
    ws.once('message', (data) => {
      resolve({ frame: JSON.parse(String(data)) as Json, closed });
      if (ws.readyState === WebSocket.OPEN) ws.close();
    });
    ws.on('error', reject);
  });
}

describe('event retention', () => {
  it("purges a message's events with the message, while the rest of the log stays", async () => {
    const owner = await server.mailbox('short-lived');
    const patched = await server.api('PATCH', `/v1/mailboxes/${owner.mailboxId}`, {
      key: owner.key,
      body: { retention_days: 1 },
    });
    expect(patched.status, patched.text).toBe(200);
    const keeper = await server.api('POST', `/v1/agents/${owner.agentId}/mailboxes`, {
      key: owner.key,
      body: { local_part: 'keeper' },
    });
    expect(keeper.status, keeper.text).toBe(201);

    await mailIn(owner.address, 'PURGE-CANARY subject', 'PURGE-CANARY body');
    await mailIn(keeper.body.address, 'Kept for a week');
    expect(storedEventsMentioning('PURGE-CANARY')).toBe(2);

    server.clock.advance(2 * DAY);
    await server.running.scheduler.tick();

    expect(storedEventsMentioning('PURGE-CANARY')).toBe(0);
    const log = await server.api('GET', '/v1/events?limit=100', { key: owner.key });
    expect(log.text).not.toContain('PURGE-CANARY');
    expect(
      (log.body.data as Json[]).map((e) => `${e.type} ${e.data.message?.subject ?? e.data.thread?.subject}`),
    ).toEqual(['thread.created Kept for a week', 'message.inbound Kept for a week']);
  });

  it('keeps the log for LOFTBOX_EVENT_RETENTION; an older cursor gets 410 and resync_required', async () => {
    const box = await server.mailbox('resync');
    // The mail outlives the log's 10 days, so only the log's own retention can remove its events.
    await server.api('PATCH', `/v1/mailboxes/${box.mailboxId}`, {
      key: box.key,
      body: { retention_days: 30 },
    });
    const hook = await server.api('POST', `/v1/agents/${box.agentId}/webhooks`, {
      key: box.key,
      body: { url: `${receiver.url}/resync`, event_types: ['message.inbound'] },
    });
    await mailIn(box.address, 'Old news');
    await server.running.webhooks.tick();
    const attempts = () => server.api('GET', `/v1/webhooks/${hook.body.id}/deliveries`, { key: box.key });
    expect((await attempts()).body.data).toHaveLength(1);
    const old = await server.api('GET', '/v1/events?limit=1', { key: box.key });
    const oldCursor = old.body.next_cursor as string;
    expect(oldCursor).toMatch(/^\d+$/);

    server.clock.advance(11 * DAY);
    await mailIn(box.address, 'Fresh news');
    await server.running.scheduler.tick();
    expect(storedEventsMentioning('Old news')).toBe(0);

    const expired = await server.api('GET', `/v1/events?after=${oldCursor}`, { key: box.key });
    expect(expired.status).toBe(410);
    expect(expired.body.error).toMatchObject({ code: 'resync_required', status: 410 });

    const fresh = await server.api('GET', '/v1/events', { key: box.key });
    expect(fresh.status).toBe(200);
    const subjects = (fresh.body.data as Json[]).map(
      (e) => e.data.message?.subject ?? e.data.thread?.subject,
    );
    expect(subjects).toEqual(['Fresh news', 'Fresh news']);
    // The old delivery attempt went with its event; the fresh event's attempt is kept.
    await server.running.webhooks.tick();
    const kept = (await attempts()).body.data as Json[];
    expect(kept.map((a) => a.event_id)).toEqual([fresh.body.data[1].id]);
    const resumed = await server.api('GET', `/v1/events?after=${fresh.body.next_cursor}`, { key: box.key });
    expect(resumed.status).toBe(200);

    const refused = await firstFrame(box.key, `?after=${oldCursor}`);
    expect(refused.frame).toMatchObject({ type: 'error', code: 'resync_required' });
    expect(await refused.closed).toBe(1008);
    const live = await firstFrame(box.key, '');
    expect(live.frame.type).toBe('ready');
  });
});
