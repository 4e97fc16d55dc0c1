import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookDispatcher } from '../../server/events/webhook-dispatcher.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { startWebhookReceiver } from '../harness/webhook-receiver.js';

let server: TestServer;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
/** Stands in for the server's dispatcher, which is stopped: only the test decides when a pass runs. */
let dispatcher: WebhookDispatcher;

beforeAll(async () => {
  receiver = await startWebhookReceiver(() => ({ status: 200 }));
  server = await startTestServer({ webhookAllow: '127.0.0.1', signupLimitPerIp: 1000 });
  await server.running.webhooks.stop();
  dispatcher = new WebhookDispatcher(server.deps, server.deps.dialer);
});
afterAll(async () => {
  await dispatcher.stop();
  await server.close();
  await receiver.close();
});

type Box = Awaited<ReturnType<TestServer['mailbox']>>;

async function hookFor(box: Box, path: string): Promise<string> {
  const res = await server.api('POST', `/v1/agents/${box.agentId}/webhooks`, {
    key: box.key,
    body: { url: `${receiver.url}${path}`, event_types: ['*'] },
  });
  expect(res.status, res.text).toBe(201);
  return (res.body as { id: string }).id;
}

async function mailIn(to: string, subject: string): Promise<void> {
  await nodemailer
    .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
    .sendMail({ from: 'sender@outside.test', to, subject, text: 'hello' });
  await server.running.inbound.idle();
}

const jobsOf = (webhookId: string) =>
  server.deps.db
    .prepare(
      `SELECT e.type, json_extract(e.data, '$.message.subject') AS subject FROM webhook_jobs j
         JOIN events e ON e.seq = j.event_seq WHERE j.webhook_id = ? ORDER BY j.event_seq`,
    )
    .all(webhookId) as { type: string; subject: string | null }[];

const delivered = (path: string) =>
  receiver.received
    .filter((h) => h.path === path)
    .map((h) => {
      const event = JSON.parse(h.body) as Json;
      return `${event.type as string} ${(event.data.message?.subject as string | undefined) ?? ''}`.trim();
    });

describe('webhook fan-out at append time', () => {
  it("commits an event's webhook jobs with the event itself, before any dispatcher pass", async () => {
    const box = await server.mailbox('fanout-append');
    const webhookId = await hookFor(box, '/append');

    await mailIn(box.address, 'Stored with its jobs');
    // No pass has run: the jobs were written by the transaction that stored the message.
    expect(jobsOf(webhookId)).toEqual([
      { type: 'thread.created', subject: null },
      { type: 'message.inbound', subject: 'Stored with its jobs' },
    ]);
    await dispatcher.tick();
    expect(delivered('/append')).toEqual(['thread.created', 'message.inbound Stored with its jobs']);
  });

  it('stores the message when inserting its jobs fails, and the pass delivers everything once, in log order', async () => {
    const box = await server.mailbox('fanout-fault');
    const webhookId = await hookFor(box, '/fault');
    const db = server.deps.db;
    db.exec(
      `CREATE TEMP TRIGGER fail_jobs BEFORE INSERT ON main.webhook_jobs
         BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END`,
    );
    try {
      await mailIn(box.address, 'First, jobs refused');
    } finally {
      db.exec('DROP TRIGGER temp.fail_jobs');
    }
    const stored = await server.api('GET', `/v1/messages?mailbox_id=${box.mailboxId}`, { key: box.key });
    expect((stored.body as Json).data.map((m: Json) => m.subject)).toEqual(['First, jobs refused']);
    expect(jobsOf(webhookId)).toEqual([]);

    // A later event must not overtake the one still waiting for the pass.
    await mailIn(box.address, 'Second');
    await dispatcher.tick();
    expect(delivered('/fault')).toEqual([
      'thread.created',
      'message.inbound First, jobs refused',
      'thread.created',
      'message.inbound Second',
    ]);
    await dispatcher.tick();
    expect(delivered('/fault')).toHaveLength(4);
  });
});
