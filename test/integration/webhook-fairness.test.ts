import Database from 'better-sqlite3';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEvent } from '../../server/events/log.js';
import { googleReport } from '../fixtures/dmarc.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { startWebhookReceiver, type ReceivedHook } from '../harness/webhook-receiver.js';

let server: TestServer;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let releaseHang: () => void = () => {};
const hang = new Promise<void>((resolve) => (releaseHang = resolve));

beforeAll(async () => {
  // /hang does not answer until the test lets it; the rest answer 200 at once.
  receiver = await startWebhookReceiver((hook) =>
    hook.path === '/hang' ? { status: 200, wait: hang } : { status: 200 },
  );
  server = await startTestServer({
    webhookAllow: '127.0.0.1',
    // Far longer than any wait below: an endpoint that hangs is still hanging when the test ends.
    webhookTimeout: 600_000,
    signupLimitPerIp: 1000,
  });
});
afterAll(async () => {
  await server.close();
  await receiver.close();
});

type Box = Awaited<ReturnType<TestServer['mailbox']>>;

async function createHook(who: Box, path: string, eventTypes: string[]) {
  const res = await server.api('POST', `/v1/agents/${who.agentId}/webhooks`, {
    key: who.key,
    body: { url: `${receiver.url}${path}`, event_types: eventTypes },
  });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; secret: string };
}

async function mailIn(
  to: string,
  subject: string,
  attachments: { filename?: string | null; contentType: string; content: Buffer }[] = [],
) {
  await nodemailer
    .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
    .sendMail({
      from: 'sender@outside.test',
      to,
      subject,
      text: 'hello',
      attachments: attachments.map((a) => ({
        filename: a.filename ?? undefined,
        contentType: a.contentType,
        content: a.content,
      })),
    });
  await server.running.inbound.idle();
}

/** Runs the dispatcher until nothing is due at the current (manual) clock. */
async function dispatch(): Promise<void> {
  for (let i = 0; i < 20; i++) if ((await server.running.webhooks.tick()) === 0) break;
}

const typeOf = (hook: ReceivedHook) => (JSON.parse(hook.body) as Json).type as string;

describe('webhook fairness', () => {
  it("keeps delivering org B's events while org A's endpoint never answers", async () => {
    const a = await server.mailbox('fair-a');
    const b = await server.mailbox('fair-b');
    await createHook(a, '/hang', ['message.inbound']);
    await createHook(b, '/b', ['message.inbound']);

    // The background dispatcher picks A's event up on its own and its receiver holds the request.
    await mailIn(a.address, 'A first');
    await receiver.waitFor((h) => h.path === '/hang');
    await mailIn(a.address, 'A second, queued behind the hanging one');

    // B's endpoint is served meanwhile, again and again, long before A's 10-minute timeout.
    await mailIn(b.address, 'B one');
    const first = await receiver.waitFor((h) => h.path === '/b' && h.body.includes('B one'), 20_000);
    expect(typeOf(first)).toBe('message.inbound');
    await mailIn(b.address, 'B two');
    await receiver.waitFor((h) => h.path === '/b' && h.body.includes('B two'), 20_000);
    // A's endpoint has exactly one request in flight: its own slot, in log order.
    expect(receiver.received.filter((h) => h.path === '/hang')).toHaveLength(1);
    releaseHang();
    await dispatch();
    const hung = receiver.received.filter((h) => h.path === '/hang');
    expect(hung.map((h) => (JSON.parse(h.body) as Json).data.message.subject)).toEqual([
      'A first',
      'A second, queued behind the hanging one',
    ]);
  });

  it("fans an event out only to its own org's endpoints, in the transaction that logs it", async () => {
    const own = await server.mailbox('fanout-own');
    const hook = await createHook(own, '/own', ['*']);
    const others: string[] = [];
    for (let i = 0; i < 5; i++) {
      const other = await server.mailbox(`fanout-other-${i}`);
      await createHook(other, `/other-${i}`, ['*']);
      others.push(other.orgId);
    }
    await dispatch();

    // Every row written about endpoints and jobs, and every move of the fan-out mark, recorded by
    // triggers on the server's own connection.
    const db = server.deps.db;
    db.exec(`
      CREATE TEMP TABLE writes (tbl TEXT NOT NULL, org_id TEXT);
      CREATE TEMP TRIGGER webhooks_written AFTER UPDATE ON main.webhooks
        BEGIN INSERT INTO writes VALUES ('webhooks', NEW.org_id); END;
      CREATE TEMP TRIGGER jobs_written AFTER INSERT ON main.webhook_jobs
        BEGIN INSERT INTO writes SELECT 'webhook_jobs', org_id FROM main.webhooks WHERE id = NEW.webhook_id; END;
      CREATE TEMP TRIGGER fanout_mark_moved AFTER UPDATE ON main.event_marks WHEN NEW.name = 'webhook_fanout'
        BEGIN INSERT INTO writes VALUES ('event_marks', NULL); END;
    `);
    try {
      await mailIn(own.address, 'Fan me out');
      await dispatch();
      const writes = db.prepare('SELECT tbl, org_id FROM writes').all() as {
        tbl: string;
        org_id: string | null;
      }[];
      const jobs = writes.filter((w) => w.tbl === 'webhook_jobs');
      // message.inbound and thread.created, for the one endpoint of the event's org.
      expect(jobs).toEqual([
        { tbl: 'webhook_jobs', org_id: own.orgId },
        { tbl: 'webhook_jobs', org_id: own.orgId },
      ]);
      expect(writes.filter((w) => w.org_id !== null && others.includes(w.org_id))).toEqual([]);
      // The mark follows each of the two events as it is logged: no pass had anything left to fan out.
      expect(writes.filter((w) => w.tbl === 'event_marks')).toHaveLength(2);
      const delivered = receiver.received.filter((h) => h.path === '/own').map(typeOf);
      expect(delivered.sort()).toEqual(['message.inbound', 'thread.created']);
      expect(receiver.received.some((h) => h.path.startsWith('/other-'))).toBe(false);
      await server.api('DELETE', `/v1/webhooks/${hook.id}`, { key: own.key });
    } finally {
      db.exec('DROP TRIGGER temp.webhooks_written; DROP TRIGGER temp.jobs_written;');
      db.exec('DROP TRIGGER temp.fanout_mark_moved; DROP TABLE temp.writes;');
    }
  });

  it('moves the fan-out mark with each event of an org without endpoints, adding no job', async () => {
    const lone = await server.mailbox('fanout-lone');
    await dispatch();
    const db = server.deps.db;
    db.exec(`
      CREATE TEMP TABLE marks (seq INTEGER NOT NULL);
      CREATE TEMP TRIGGER lone_mark_moved AFTER UPDATE ON main.event_marks WHEN NEW.name = 'webhook_fanout'
        BEGIN INSERT INTO marks VALUES (NEW.seq); END;
      CREATE TEMP TRIGGER lone_job_added AFTER INSERT ON main.webhook_jobs
        BEGIN INSERT INTO marks VALUES (-1); END;
    `);
    try {
      const before = server.deps.repos.events.mark('webhook_fanout');
      await mailIn(lone.address, 'Nobody listens');
      await dispatch();
      const moves = (db.prepare('SELECT seq FROM marks').all() as { seq: number }[]).map((r) => r.seq);
      // message.inbound and thread.created, each followed by the mark as it is logged.
      expect(moves).toEqual([before + 1, before + 2]);
      expect(server.deps.repos.events.mark('webhook_fanout')).toBe(before + 2);
    } finally {
      db.exec('DROP TRIGGER temp.lone_mark_moved; DROP TRIGGER temp.lone_job_added; DROP TABLE temp.marks;');
    }
  });

  it('survives a database fault: logs it, backs off, and delivers once the database is back', async () => {
    const box = await server.mailbox('db-fault');
    await createHook(box, '/fault', ['*']);
    const locker = new Database(server.deps.db.name);
    server.deps.db.pragma('busy_timeout = 20');
    try {
      // Another connection holds the write lock from the moment the event is logged, so the
      // dispatcher's next write fails with SQLITE_BUSY, a real fault of the real database.
      appendEvent(server.deps, {
        type: 'message.delivered',
        orgId: box.orgId,
        agentId: box.agentId,
        mailboxId: box.mailboxId,
        data: { marker: 'after-the-fault' },
      });
      locker.exec('BEGIN IMMEDIATE');
      expect(await server.running.webhooks.tick()).toBe(0);
      locker.exec('ROLLBACK');

      // Backing off: nothing is attempted until the pause is over, on the injected clock.
      expect(await server.running.webhooks.tick()).toBe(0);
      expect(receiver.received.some((h) => h.path === '/fault')).toBe(false);
      server.clock.advance(60_000);
      await dispatch();
      const hook = await receiver.waitFor((h) => h.path === '/fault');
      expect(hook.body).toContain('after-the-fault');
    } finally {
      server.deps.db.pragma('busy_timeout = 5000');
      locker.close();
    }
  });
});

describe('org-level events', () => {
  it('delivers domain.verified and dmarc.report.received to a subscribed endpoint of the org', async () => {
    const owner = await server.mailbox('domain-hooks');
    await createHook(owner, '/org-level', ['domain.verified', 'dmarc.report.received']);
    const added = await server.api('POST', '/v1/domains', {
      key: owner.key,
      body: { domain: 'example.com' },
    });
    const dns = (await server.api('GET', `/v1/domains/${added.body.id}/dns`, { key: owner.key }))
      .body as Json;
    for (const record of dns.records as Json[]) {
      if (record.type === 'TXT')
        server.dns.set(record.host, { TXT: [(record.value as string).match(/.{1,255}/g) ?? []] });
      if (record.type === 'MX')
        server.dns.set(record.host, { MX: [{ exchange: record.value, priority: 10 }] });
      if (record.type === 'CNAME') server.dns.set(record.host, { CNAME: record.value });
    }
    const verified = await server.api('POST', `/v1/domains/${added.body.id}/verify`, { key: owner.key });
    expect(verified.body.status).toBe('verified');
    await mailIn(`dmarc@${server.deps.config.mailDomain}`, 'Report domain: example.com', [googleReport()]);
    await dispatch();

    const verifiedHook = await receiver.waitFor(
      (h) => h.path === '/org-level' && typeOf(h) === 'domain.verified',
    );
    expect((JSON.parse(verifiedHook.body) as Json).data.domain.id).toBe(added.body.id);
    const reportHook = await receiver.waitFor(
      (h) => h.path === '/org-level' && typeOf(h) === 'dmarc.report.received',
    );
    expect((JSON.parse(reportHook.body) as Json).org_id).toBe(owner.orgId);
  });
});
