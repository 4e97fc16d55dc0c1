import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageFault } from '../../server/db/storage-faults.js';
import { AcceptQueue } from '../../server/inbound/accept.js';
import type { Accepted } from '../../server/seams.js';
import { captureLogs } from '../harness/logs.js';
import { startTestServer, type ApiResponse, type TestServer } from '../harness/server.js';
import { until } from '../harness/wait.js';
import { code, RawSmtp } from '../harness/smtp.js';
import { holdWriteLock } from './lock-holder.js';

/**
 * TESTPLAN D4 (disk full) and D6 (SQLITE_BUSY): while the database cannot write, every door says
 * "try again" — MX and submission 451 4.3.x, never 250; the API 503 with Retry-After and the
 * CONTRACT §1 body — the process stays up, and service resumes by itself once the fault is gone.
 * Disk full is SQLite's own `max_page_count` on the server's connection: the same SQLITE_FULL a full
 * disk gives, without needing root for a tmpfs.
 */
let server: TestServer;
const logs = captureLogs();
let box: Awaited<ReturnType<TestServer['mailbox']>>;
let peer: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  // A short busy timeout keeps a refused write quick; the lock is held far longer than it.
  server = await startTestServer(
    { dbBusyTimeout: 200, signupLimitPerIp: 1000, inboundRetryMs: 20 },
    { log: logs.log },
  );
  box = await server.mailbox('faults');
  peer = await server.mailbox('faults-peer');
});
afterAll(async () => {
  await server.close();
});

/** A body larger than whatever free pages the database still has. */
function bigBody(tag: string): string {
  const db = server.deps.db;
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  const bytes = Math.max(256 * 1024, (free + 64) * pageSize);
  const line = `${tag} ${'x'.repeat(70)}\r\n`;
  return line.repeat(Math.ceil(bytes / line.length));
}

async function mxSend(subject: string, body = 'hello'): Promise<string> {
  const smtp = await RawSmtp.open(server.smtpPort);
  try {
    await smtp.command('EHLO client.test');
    await smtp.command('MAIL FROM:<someone@sender.test>');
    expect(code(await smtp.command(`RCPT TO:<${box.address}>`))).toBe(250);
    expect(code(await smtp.command('DATA'))).toBe(354);
    return await smtp.command(`Subject: ${subject}\r\n\r\n${body}\r\n.`);
  } finally {
    smtp.close();
  }
}

function apiSend(subject: string, body = 'hello'): Promise<ApiResponse> {
  return server.api('POST', '/v1/messages', {
    key: box.key,
    body: { mailbox_id: box.mailboxId, to: [peer.address], subject, body_text: body },
  });
}

async function submit(subject: string, body = 'hello'): Promise<number> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: server.running.ports['submission-tls'] ?? 0,
    secure: true,
    auth: { user: box.address, pass: box.key },
    tls: { rejectUnauthorized: false },
  });
  try {
    const info = await transport.sendMail({ from: box.address, to: peer.address, subject, text: body });
    return Number(info.response.slice(0, 3));
  } catch (err) {
    return (err as { responseCode?: number }).responseCode ?? -1;
  } finally {
    transport.close();
  }
}

function expectStorage503(res: ApiResponse): void {
  expect(res.status).toBe(503);
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThan(0);
  expect(res.body.error).toMatchObject({ status: 503, retry_after: retryAfter });
  expect(res.body.error.code).toMatch(/^storage_/);
  expect(res.body.error.request_id).toBe(res.headers.get('x-request-id'));
}

async function subjectsIn(mailbox: { key: string; mailboxId: string }): Promise<string[]> {
  await server.running.inbound.idle();
  const res = await server.api('GET', `/v1/mailboxes/${mailbox.mailboxId}/inbox?limit=100`, {
    key: mailbox.key,
  });
  return (res.body.data as { subject: string }[]).map((m) => m.subject);
}

function storeFailures(): number {
  return logs.lines.filter((line) => line.event === 'inbound.store_failed').length;
}

async function drain(): Promise<void> {
  for (let i = 0; i < 10; i++) if ((await server.running.queue.tick()) === 0) break;
  await server.running.inbound.idle();
}

describe('storage faults (D4, D6)', () => {
  it('disk full: 451 on the MX and submission, 503 on the API, degraded health, then recovery', async () => {
    const db = server.deps.db;
    const unlimited = db.pragma('max_page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    try {
      expect(await mxSend('full-mx', bigBody('mx'))).toMatch(/^451 4\.3\.\d /);
      expectStorage503(await apiSend('full-api', bigBody('api')));
      expect(await submit('full-submission', bigBody('sub'))).toBe(451);
      const health = await server.api('GET', '/health');
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ status: 'degraded', checks: { db: 'error' } });
    } finally {
      db.pragma(`max_page_count = ${unlimited}`);
    }
    expect(await mxSend('after-full-mx', bigBody('mx'))).toMatch(/^250 /);
    expect((await apiSend('after-full-api', bigBody('api'))).status).toBe(201);
    expect(await submit('after-full-submission', bigBody('sub'))).toBe(250);
    await drain();
    expect(await subjectsIn(box)).toEqual(['after-full-mx']);
    expect((await subjectsIn(peer)).sort()).toEqual(['after-full-api', 'after-full-submission']);
    expect((await server.api('GET', '/health')).body.status).toBe('ok');
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('SQLITE_BUSY: another process holds the write lock; 451/503 until it lets go, then service resumes', async () => {
    const lock = await holdWriteLock(join(server.dataDir, 'loftbox.db'));
    try {
      expect(await mxSend('busy-mx')).toMatch(/^451 4\.3\.\d /);
      expectStorage503(await apiSend('busy-api'));
      expect(await submit('busy-submission')).toBe(451);
      // The background workers meet the same lock on their own schedule; none of them may crash us.
      await server.running.queue.tick().catch(() => 0);
      const health = await server.api('GET', '/health');
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ status: 'degraded', checks: { db: 'error' } });
    } finally {
      await lock.release();
    }
    expect(await mxSend('after-busy-mx')).toMatch(/^250 /);
    expect((await apiSend('after-busy-api')).status).toBe(201);
    expect(await submit('after-busy-submission')).toBe(250);
    await drain();
    expect(await subjectsIn(box)).toContain('after-busy-mx');
    expect(await subjectsIn(box)).not.toContain('busy-mx');
    const peerSubjects = await subjectsIn(peer);
    expect(peerSubjects).toEqual(expect.arrayContaining(['after-busy-api', 'after-busy-submission']));
    expect(peerSubjects).not.toContain('busy-api');
    expect(peerSubjects).not.toContain('busy-submission');
    expect((await server.api('GET', '/health')).body.status).toBe('ok');
  });

  /** A fault that lasts until the returned function lifts it. */
  const faults = {
    'the write lock is held elsewhere': async () => {
      const lock = await holdWriteLock(join(server.dataDir, 'loftbox.db'));
      return () => lock.release();
    },
    'the disk is full': () => {
      const db = server.deps.db;
      const unlimited = db.pragma('max_page_count', { simple: true }) as number;
      db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
      return () => {
        db.pragma(`max_page_count = ${unlimited}`);
      };
    },
  };

  for (const [name, startFault] of Object.entries(faults)) {
    it(`a message accepted before ${name} is stored once it lifts, its attempts untouched`, async () => {
      // Accepted (250 given) but not yet processed when the fault arrives: processing must neither
      // crash nor count the refusal against the message.
      const id = server.deps.ids.uuid();
      const subject = `accepted-before-${name.split(' ').pop()}`;
      await new AcceptQueue(server.deps).accept({
        id,
        raw: Buffer.from(`Subject: ${subject}\r\nFrom: a@sender.test\r\n\r\n${bigBody('pending')}`),
        mailFrom: 'a@sender.test',
        recipients: [{ address: box.address, mailbox_id: box.mailboxId }],
        remoteIp: '127.0.0.1',
        helo: 'client.test',
        secure: false,
      });
      const failedBefore = storeFailures();
      const lift = await startFault();
      try {
        server.running.inbound.enqueue(id);
        // The processor meets the fault, logs it and backs off; the message stays accepted.
        await until(() => storeFailures() > failedBefore, 'inbound.store_failed');
        expect(server.deps.repos.inbound.get(id)).toMatchObject({ state: 'accepted', attempts: 0 });
      } finally {
        await lift();
      }
      // Once the fault lifts it is stored by the processor's own retry (or, had it set the message
      // aside, by the resume job, which this stands in for).
      server.running.inbound.resumePending();
      expect(await subjectsIn(box)).toContain(subject);
      expect(server.deps.repos.inbound.get(id)).toMatchObject({ state: 'processed', attempts: 0 });
    });
  }

  it('group commit: a message too big for the space left is refused alone, its batch is stored', async () => {
    const db = server.deps.db;
    const unlimited = db.pragma('max_page_count', { simple: true }) as number;
    const message = (subject: string, body: string): Accepted => ({
      id: server.deps.ids.uuid(),
      raw: Buffer.from(`Subject: ${subject}\r\nFrom: a@sender.test\r\n\r\n${body}`),
      mailFrom: 'a@sender.test',
      recipients: [{ address: peer.address, mailbox_id: peer.mailboxId }],
      remoteIp: '127.0.0.1',
      helo: 'client.test',
      secure: false,
    });
    const batch = [message('fits-1', 'hi'), message('too-big', bigBody('big')), message('fits-2', 'hi')];
    // Room for a few small rows, not for the big one.
    db.pragma(`max_page_count = ${(db.pragma('page_count', { simple: true }) as number) + 16}`);
    let results: PromiseSettledResult<void>[];
    try {
      const queue = new AcceptQueue(server.deps);
      // Accepted in the same turn of the event loop, so they share one commit.
      results = await Promise.allSettled(batch.map((m) => queue.accept(m)));
    } finally {
      db.pragma(`max_page_count = ${unlimited}`);
    }
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(storageFault((results[1] as PromiseRejectedResult).reason)).toBe('full');
    expect(batch.map((m) => server.deps.repos.inbound.get(m.id)?.state ?? null)).toEqual([
      'accepted',
      null,
      'accepted',
    ]);
  });
});
