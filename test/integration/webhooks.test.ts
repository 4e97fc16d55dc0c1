import { createHmac } from 'node:crypto';
import nodemailer from 'nodemailer';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { startWebhookReceiver } from '../harness/webhook-receiver.js';

let server: TestServer;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let box: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  server = await startTestServer({
    webhookAllow: '127.0.0.1',
    webhookRetrySchedule: [1000, 2000, 3000],
    webhookTimeout: 2000,
    webhookDisableAfter: 4,
    signupLimitPerIp: 1000,
  });
  box = await server.mailbox('hooked');
});
afterAll(async () => {
  await server.close();
  await receiver.close();
});

async function createHook(body: Record<string, unknown>, who = box) {
  const res = await server.api('POST', `/v1/agents/${who.agentId}/webhooks`, { key: who.key, body });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; secret: string };
}

async function mailIn(to: string, subject: string) {
  await nodemailer
    .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
    .sendMail({ from: 'sender@outside.test', to, subject, text: 'hello' });
  await server.running.inbound.idle();
}

/** Runs the dispatcher until nothing is due at the current (manual) clock. */
async function dispatch(): Promise<void> {
  for (let i = 0; i < 20; i++) if ((await server.running.webhooks.tick()) === 0) break;
}

const headersOf = (hook: { headers: Record<string, unknown> }) =>
  Object.fromEntries(Object.entries(hook.headers).map(([k, v]) => [k, String(v)]));

describe('signed webhooks', () => {
  it('delivers message.inbound, verifiable with the standardwebhooks package, and the same event is on the WebSocket and in /v1/events', async () => {
    receiver.received.length = 0;
    const hook = await createHook({ url: `${receiver.url}/inbound`, event_types: ['message.inbound'] });
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/ws?event_types=message.inbound`, {
      headers: { authorization: `Bearer ${box.key}` },
    });
    const frames: Json[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as Json;
        frames.push(frame);
        if (frame.type === 'ready') resolve();
      });
      ws.on('error', reject);
    });

    await mailIn(box.address, 'Webhook me');
    await dispatch();
    const delivered = receiver.received.filter((r) => r.path === '/inbound');
    expect(delivered).toHaveLength(1);
    const first = delivered[0];
    if (!first) throw new Error('no delivery');
    const verified = new Webhook(hook.secret).verify(first.body, headersOf(first)) as Json;
    expect(verified.type).toBe('message.inbound');
    expect(verified.data.message).toMatchObject({ subject: 'Webhook me', injection_risk: { score: 0 } });
    expect(verified.data.message.auth).toBeDefined();
    expect(first.headers['x-loftbox-event']).toBe('message.inbound');
    expect(String(first.headers['x-loftbox-signature'])).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    // The signature covers the exact bytes: a receiver that re-serialises the JSON must fail.
    const reserialised = JSON.stringify(JSON.parse(first.body), null, 2);
    expect(() => new Webhook(hook.secret).verify(reserialised, headersOf(first))).toThrow();

    const deadline = Date.now() + 5000;
    while (!frames.some((f) => f.type === 'event') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    ws.close();
    const wsEvent = frames.find((f) => f.type === 'event');
    expect(wsEvent?.event.id).toBe(verified.id);
    expect(wsEvent?.cursor).toMatch(/^\d+$/);
    const log = await server.api('GET', '/v1/events?event_type=message.inbound&limit=100', { key: box.key });
    expect(log.body.data.map((e: Json) => e.id)).toContain(verified.id);
    await server.api('DELETE', `/v1/webhooks/${hook.id}`, { key: box.key });
  });

  it('retries a failing receiver on the schedule with the same webhook-id, and records every attempt', async () => {
    receiver.received.length = 0;
    let calls = 0;
    receiver.setScript(() => (++calls <= 3 ? { status: 500, body: 'x'.repeat(5000) } : { status: 204 }));
    try {
      const hook = await createHook({ url: `${receiver.url}/flaky`, event_types: ['message.inbound'] });
      server.clock.set(new Date(Math.ceil(server.clock.now().getTime() / 1000) * 1000));
      const start = server.clock.now().getTime();
      await mailIn(box.address, 'Flaky');
      await dispatch();
      expect(calls).toBe(1);
      for (const offset of [1000, 3000, 6000]) {
        server.clock.set(new Date(start + offset - 1));
        await dispatch();
        const before = calls;
        server.clock.set(new Date(start + offset));
        await dispatch();
        expect(calls).toBeGreaterThan(before);
      }
      const hits = receiver.received.filter((r) => r.path === '/flaky');
      const ids = new Set(hits.map((h) => h.headers['webhook-id']));
      expect(hits.length).toBe(4);
      expect(ids.size).toBe(1);
      const attempts = await server.api('GET', `/v1/webhooks/${hook.id}/deliveries?limit=100`, {
        key: box.key,
      });
      const rows = attempts.body.data as Json[];
      expect(rows.filter((r) => r.status_code === 500)).toHaveLength(3);
      expect(rows.filter((r) => r.status_code === 204)).toHaveLength(1);
      expect(rows.every((r) => (r.response_excerpt ?? '').length <= 1024)).toBe(true);
      await server.api('DELETE', `/v1/webhooks/${hook.id}`, { key: box.key });
    } finally {
      receiver.setScript(() => ({ status: 200 }));
    }
  });

  it('signs with both secrets for 24 hours after a rotation, then only the new one', async () => {
    receiver.received.length = 0;
    const hook = await createHook({ url: `${receiver.url}/rotate`, event_types: ['message.inbound'] });
    const rotated = await server.api('POST', `/v1/webhooks/${hook.id}/rotate-secret`, { key: box.key });
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(hook.secret);
    await mailIn(box.address, 'During rotation');
    await dispatch();
    const during = receiver.received.filter((r) => r.path === '/rotate')[0];
    if (!during) throw new Error('no delivery');
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(() => new Webhook(hook.secret).verify(during.body, headersOf(during))).not.toThrow();
    expect(() => new Webhook(rotated.body.secret).verify(during.body, headersOf(during))).not.toThrow();

    server.clock.advance(24 * 3_600_000 + 1000);
    await mailIn(box.address, 'After rotation');
    await dispatch();
    const after = receiver.received.filter((r) => r.path === '/rotate')[1];
    if (!after) throw new Error('no delivery');
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    // The test clock is a day ahead, which a receiver's replay window would refuse; check the HMAC itself.
    const signed = `${String(after.headers['webhook-id'])}.${String(after.headers['webhook-timestamp'])}.${after.body}`;
    const mac = (secret: string) =>
      `v1,${createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
        .update(signed)
        .digest('base64')}`;
    expect(after.headers['webhook-signature']).toBe(mac(rotated.body.secret));
    expect(after.headers['webhook-signature']).not.toBe(mac(hook.secret));
    await server.api('DELETE', `/v1/webhooks/${hook.id}`, { key: box.key });
  });

  it('does not follow redirects, and disables an endpoint on 410 Gone with a webhook.disabled event', async () => {
    receiver.received.length = 0;
    receiver.setScript((hook) =>
      hook.path === '/moved'
        ? { status: 302, headers: { location: `${receiver.url}/target` } }
        : hook.path === '/gone'
          ? { status: 410 }
          : { status: 200 },
    );
    try {
      const moved = await createHook({ url: `${receiver.url}/moved`, event_types: ['message.inbound'] });
      const gone = await createHook({ url: `${receiver.url}/gone`, event_types: ['message.inbound'] });
      await mailIn(box.address, 'Redirect and gone');
      await dispatch();
      expect(receiver.received.filter((r) => r.path === '/target')).toHaveLength(0);
      const movedAttempts = await server.api('GET', `/v1/webhooks/${moved.id}/deliveries`, { key: box.key });
      expect(movedAttempts.body.data[0].status_code).toBe(302);
      const goneState = await server.api('GET', `/v1/webhooks/${gone.id}`, { key: box.key });
      expect(goneState.body).toMatchObject({
        status: 'disabled',
        disabled_reason: 'receiver answered 410 Gone',
      });
      const events = await server.api('GET', '/v1/events?event_type=webhook.disabled', { key: box.key });
      expect(events.body.data.map((e: Json) => e.data.webhook_id)).toContain(gone.id);
      const audit = await server.api('GET', '/v1/audit?action=webhook.disable', { key: box.key });
      expect(audit.body.data).toContainEqual(
        expect.objectContaining({
          actor: { type: 'system', id: null, label: 'loftbox' },
          target: { type: 'webhook', id: gone.id },
          details: { reason: 'gone', consecutive_failures: 1 },
        }),
      );
      await server.api('DELETE', `/v1/webhooks/${moved.id}`, { key: box.key });
      await server.api('DELETE', `/v1/webhooks/${gone.id}`, { key: box.key });
    } finally {
      receiver.setScript(() => ({ status: 200 }));
    }
  });

  it('disables an endpoint after a run of failures, and it can be re-enabled and replayed', async () => {
    receiver.setScript((hook) => (hook.path === '/down' ? { status: 503 } : { status: 200 }));
    try {
      const hook = await createHook({ url: `${receiver.url}/down`, event_types: ['message.inbound'] });
      await mailIn(box.address, 'Down 1');
      await mailIn(box.address, 'Down 2');
      for (let i = 0; i < 4; i++) {
        await dispatch();
        server.clock.advance(3000);
      }
      const state = await server.api('GET', `/v1/webhooks/${hook.id}`, { key: box.key });
      expect(state.body.status).toBe('disabled');

      receiver.setScript(() => ({ status: 200 }));
      const enabled = await server.api('PATCH', `/v1/webhooks/${hook.id}`, {
        key: box.key,
        body: { status: 'active' },
      });
      expect(enabled.body.status).toBe('active');
      const attempts = await server.api('GET', `/v1/webhooks/${hook.id}/deliveries?limit=100`, {
        key: box.key,
      });
      const eventId = attempts.body.data[0].event_id as string;
      receiver.received.length = 0;
      const replay = await server.api('POST', `/v1/webhooks/${hook.id}/deliveries/${eventId}/replay`, {
        key: box.key,
      });
      expect(replay.status).toBe(200);
      expect(replay.body).toMatchObject({ event_id: eventId, status_code: 200, error: null });
      expect(receiver.received.map((r) => r.headers['webhook-id'])).toEqual([eventId]);
      await server.api('DELETE', `/v1/webhooks/${hook.id}`, { key: box.key });
    } finally {
      receiver.setScript(() => ({ status: 200 }));
    }
  });

  it('refuses internal webhook targets at create time', async () => {
    for (const url of [
      'http://10.0.0.1/x',
      'http://169.254.169.254/latest',
      'http://0x0a.0.0.1/',
      'ftp://example.com/',
      'http://localhost/',
    ]) {
      const res = await server.api('POST', `/v1/agents/${box.agentId}/webhooks`, {
        key: box.key,
        body: { url, event_types: ['*'] },
      });
      expect(res.status, url).toBe(422);
      expect(res.body.error.details[0].path).toBe('url');
    }
  });

  it("never delivers one org's events to another org's endpoint", async () => {
    const other = await server.mailbox('other-hooked');
    receiver.received.length = 0;
    await createHook({ url: `${receiver.url}/org-b`, event_types: ['*'] }, other);
    await mailIn(box.address, 'CANARY-ORG-A');
    await dispatch();
    expect(
      receiver.received.filter((r) => r.path === '/org-b').some((r) => r.body.includes('CANARY-ORG-A')),
    ).toBe(false);
    const cross = await server.api('POST', `/v1/agents/${box.agentId}/webhooks`, {
      key: other.key,
      body: { url: `${receiver.url}/steal`, event_types: ['*'] },
    });
    expect(cross.status).toBe(404);
  });

  it('creates a webhook for a mailbox created with webhook_url', async () => {
    const res = await server.api('POST', `/v1/agents/${box.agentId}/mailboxes`, {
      key: box.key,
      body: { local_part: 'with-hook', webhook_url: `${receiver.url}/mailbox-hook` },
    });
    expect(res.status).toBe(201);
    expect(res.body.webhook.secret).toMatch(/^whsec_/);
    receiver.received.length = 0;
    await mailIn(res.body.address, 'To the hooked mailbox');
    await mailIn(box.address, 'Not for that hook');
    await dispatch();
    const hits = receiver.received.filter((r) => r.path === '/mailbox-hook');
    expect(hits.map((h) => (JSON.parse(h.body) as Json).type).sort()).toEqual([
      'message.inbound',
      'thread.created',
    ]);
    expect(hits.every((h) => !h.body.includes('Not for that hook'))).toBe(true);
    const list = await server.api('GET', `/v1/agents/${box.agentId}/webhooks`, { key: box.key });
    expect(JSON.stringify(list.body)).not.toContain('whsec_');
  });
});
