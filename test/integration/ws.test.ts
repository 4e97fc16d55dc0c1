import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { appendEvent } from '../../server/events/log.js';
import { captureLogs } from '../harness/logs.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { until } from '../harness/wait.js';

let server: TestServer;
let box: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  server = await startTestServer({ signupLimitPerIp: 1000 });
  box = await server.mailbox('streamed');
});
afterAll(async () => {
  await server.close();
});

const wsUrl = (query = '', base = server.url) => `${base.replace('http', 'ws')}/v1/ws${query}`;

async function mailIn(to: string, subject: string) {
  await nodemailer
    .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
    .sendMail({ from: 'sender@outside.test', to, subject, text: 'hello' });
  await server.running.inbound.idle();
}

/** A connected stream client collecting frames; resolves once `ready` arrived. */
async function connect(key: string, query = '', options: WebSocket.ClientOptions = {}, base = server.url) {
  const frames: Json[] = [];
  const ws = new WebSocket(wsUrl(query, base), { headers: { authorization: `Bearer ${key}` }, ...options });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Json;
      frames.push(frame);
      if (frame.type === 'ready') resolve();
    });
    ws.on('error', reject);
  });
  const waitFor = async (count: number, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    while (frames.filter((f) => f.type === 'event').length < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return frames.filter((f) => f.type === 'event');
  };
  return { ws, frames, waitFor, closed };
}

function upgradeStatus(headers: Record<string, string>, query = ''): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(query), { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => reject(new Error('upgrade should have been refused')));
    ws.on('error', () => undefined);
  });
}

describe('WebSocket event stream', () => {
  it('refuses a missing, bad or under-scoped key before the upgrade', async () => {
    expect(await upgradeStatus({})).toBe(401);
    expect(await upgradeStatus({ authorization: 'Bearer lb_live_nope' })).toBe(401);
    const sendOnly = await server.api('POST', '/v1/auth/keys', { key: box.key, body: { scopes: ['send'] } });
    expect(await upgradeStatus({ authorization: `Bearer ${sendOnly.body.api_key}` })).toBe(403);
    expect(await upgradeStatus({ authorization: `Bearer ${box.key}` }, '?after=abc')).toBe(400);
    const plain = await server.api('GET', '/v1/ws', { key: box.key });
    expect(plain.status).toBe(426);
  });

  it('streams events in log order and resumes from a cursor without gaps or duplicates', async () => {
    const first = await connect(box.key, `?mailbox_id=${box.mailboxId}`);
    await mailIn(box.address, 'one');
    await mailIn(box.address, 'two');
    const seen = await first.waitFor(4);
    expect(seen.map((f) => f.event.type)).toEqual([
      'thread.created',
      'message.inbound',
      'thread.created',
      'message.inbound',
    ]);
    const cursors = seen.map((f) => Number(f.cursor));
    expect([...cursors].sort((a, b) => a - b)).toEqual(cursors);
    const last = seen[seen.length - 1]?.cursor as string;
    first.ws.close();
    await first.closed;

    await mailIn(box.address, 'three');
    await mailIn(box.address, 'four');
    const resumed = await connect(box.key, `?mailbox_id=${box.mailboxId}&after=${last}`);
    const missed = await resumed.waitFor(4);
    expect(resumed.frames[0]).toEqual({ type: 'ready', cursor: last });
    expect(missed.map((f) => f.event.data.message?.subject ?? f.event.data.thread?.subject)).toEqual([
      'three',
      'three',
      'four',
      'four',
    ]);
    const ids = [...seen, ...missed].map((f) => f.event.id);
    expect(new Set(ids).size).toBe(ids.length);
    const log = await server.api('GET', `/v1/events?after=${last}&mailbox_id=${box.mailboxId}`, {
      key: box.key,
    });
    expect(log.body.data.map((e: Json) => e.id)).toEqual(missed.map((f) => f.event.id));
    resumed.ws.close();
  });

  it('filters by event type', async () => {
    const client = await connect(box.key, '?event_types=message.inbound');
    await mailIn(box.address, 'filtered');
    const events = await client.waitFor(1);
    expect(events.map((f) => f.event.type)).toEqual(['message.inbound']);
    client.ws.close();
  });

  it("never sends one org's events to another org's socket", async () => {
    const other = await server.mailbox('stream-other');
    const spy = await connect(other.key);
    await mailIn(box.address, 'CANARY-STREAM');
    await mailIn(other.address, 'own mail');
    await spy.waitFor(2);
    expect(JSON.stringify(spy.frames)).not.toContain('CANARY-STREAM');
    expect(spy.frames.filter((f) => f.type === 'event').every((f) => f.event.org_id === other.orgId)).toBe(
      true,
    );
    spy.ws.close();
  });

  it('paces a slow reader without cutting it off, and tells one that stopped reading it lagged', async () => {
    const { log, lines } = captureLogs();
    const paced = await startTestServer({ wsLagTimeout: 10_000 }, { log });
    try {
      const owner = await paced.mailbox('paced');
      const query = '?event_types=dmarc.report.received';
      const stalled = await connect(owner.key, query, {}, paced.url);
      const slow = await connect(owner.key, query, {}, paced.url);
      const socketOf = (ws: WebSocket) =>
        (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      // The stalled client never reads again until told to; the slow one stops for a while every
      // 100 frames (2 MB, past the server's high-water mark), far less than the lag timeout.
      socketOf(stalled.ws).pause();
      let counted = 0;
      slow.ws.on('message', () => {
        if (++counted % 100 !== 0) return;
        socketOf(slow.ws).pause();
        setTimeout(() => socketOf(slow.ws).resume(), 200);
      });
      // 8 MB in all: twice the buffer the old stream cut consumers off at, with room to pace.
      const TOTAL = 400;
      const padding = 'x'.repeat(20_000);
      for (let i = 0; i < TOTAL; i++) {
        appendEvent(paced.deps, { type: 'dmarc.report.received', orgId: owner.orgId, data: { i, padding } });
        if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
      }
      const received = await slow.waitFor(TOTAL, 60_000);
      expect(received.map((f) => f.event.data.i)).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
      expect(slow.ws.readyState).toBe(WebSocket.OPEN);

      await until(() => lines.some((line) => line.event === 'ws.lagged'), 'the stalled consumer to lag');
      socketOf(stalled.ws).resume();
      expect(await stalled.closed).toBe(1008);
      const events = stalled.frames.filter((f) => f.type === 'event');
      expect(events.length).toBeLessThan(TOTAL);
      expect(events.map((f) => f.event.data.i)).toEqual(Array.from({ length: events.length }, (_, i) => i));
      expect(stalled.frames.at(-1)).toMatchObject({ type: 'error', code: 'lagged' });
      // The frames it did get carry the cursor to resume from with no gap.
      const resumed = await connect(owner.key, `${query}&after=${events.at(-1)?.cursor}`, {}, paced.url);
      const rest = await resumed.waitFor(TOTAL - events.length, 60_000);
      expect(rest.map((f) => f.event.data.i)).toEqual(
        Array.from({ length: TOTAL - events.length }, (_, i) => events.length + i),
      );
      resumed.ws.close();
      slow.ws.close();
    } finally {
      await paced.close();
    }
  }, 120_000);

  it('closes a peer that stops answering pings, and keeps one that answers', async () => {
    const pinging = await startTestServer({ wsPingInterval: 50 });
    try {
      const owner = await pinging.mailbox('pinged');
      const url = `${pinging.url.replace('http', 'ws')}/v1/ws`;
      const open = (options: WebSocket.ClientOptions) =>
        new Promise<{ ws: WebSocket; closed: Promise<number> }>((resolve) => {
          const ws = new WebSocket(url, { headers: { authorization: `Bearer ${owner.key}` }, ...options });
          const closed = new Promise<number>((done) => ws.on('close', (code) => done(code)));
          ws.on('open', () => resolve({ ws, closed }));
        });
      const silent = await open({ autoPong: false });
      const alive = await open({});
      expect(await silent.closed).toBe(1006);
      expect(alive.ws.readyState).toBe(WebSocket.OPEN);
      alive.ws.close();
    } finally {
      await pinging.close();
    }
  });

  it('publishes an AsyncAPI 3 description', async () => {
    const doc = await server.api('GET', '/v1/ws/asyncapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.asyncapi).toBe('3.0.0');
    expect(doc.body.channels.events.address).toBe('/v1/ws');
    expect(Object.keys(doc.body.components.messages)).toEqual(['ready', 'event', 'error']);
  });
});
