import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { InboundRecipient } from '../../server/db/repos/inbound.js';
import { toIso } from '../../server/lib/clock.js';
import { captureLogs } from '../harness/logs.js';
import { startTestServer, type TestServer } from '../harness/server.js';
import { until } from '../harness/wait.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start() {
  const logs = captureLogs();
  const server = await startTestServer({ inboundRetryMs: 20 }, { log: logs.log });
  servers.push(server);
  return { server, logs, box: await server.mailbox('faults') };
}

const rawMessage = (subject: string) =>
  Buffer.from(`From: a@sender.test\r\nTo: x@example.test\r\nSubject: ${subject}\r\n\r\nHello.\r\n`);

/** An inbound row and blob as the MX commits them before its 250, with `recipients` as stored. */
function accepted(server: TestServer, raw: Buffer, recipients: InboundRecipient[] | string): string {
  const { repos, ids, clock } = server.deps;
  const id = ids.uuid();
  repos.inbound.insert({
    id,
    raw_hash: repos.blobs.put(raw),
    mail_from: 'a@sender.test',
    recipients: typeof recipients === 'string' ? recipients : JSON.stringify(recipients),
    remote_ip: '127.0.0.1',
    helo: 'sender.test',
    secure: 0,
    size: raw.length,
    state: 'accepted',
    attempts: 0,
    last_error: null,
    received_at: toIso(clock.now()),
    processed_at: null,
  });
  return id;
}

const subjects = (server: TestServer, mailboxId: string) =>
  (
    server.deps.db
      .prepare('SELECT subject FROM messages WHERE mailbox_id = ? ORDER BY rowid')
      .all(mailboxId) as {
      subject: string;
    }[]
  ).map((m) => m.subject);

describe('inbound pipeline faults', () => {
  it('logs a failed store, backs off and stores once the database is writable again', async () => {
    const { server, logs, box } = await start();
    const id = accepted(server, rawMessage('locked out'), [
      { address: box.address, mailbox_id: box.mailboxId },
    ]);
    // Another process holds the write lock longer than we wait for it: every commit fails SQLITE_BUSY.
    server.deps.db.pragma('busy_timeout = 50');
    const locker = new Database(server.deps.db.name);
    try {
      locker.exec('BEGIN IMMEDIATE');
      server.running.inbound.enqueue(id);
      await until(
        () => logs.lines.filter((l) => l.event === 'inbound.store_failed').length >= 2,
        'two failed stores',
      );
      locker.exec('COMMIT');
    } finally {
      locker.close();
    }
    await server.running.inbound.idle();
    expect(subjects(server, box.mailboxId)).toEqual(['locked out']);
    expect(server.deps.repos.inbound.get(id)?.state).toBe('processed');
  });

  it('sets aside a message whose every transaction fails, and stores the ones queued with it', async () => {
    const { server, logs, box } = await start();
    const to = [{ address: box.address, mailbox_id: box.mailboxId }];
    const first = accepted(server, rawMessage('before'), to);
    const poisoned = accepted(server, rawMessage('poisoned'), to);
    const last = accepted(server, rawMessage('after'), to);
    // Every write to this one row fails, so neither storing it nor recording its failure can commit.
    server.deps.db.exec(
      `CREATE TRIGGER poison BEFORE UPDATE ON inbound WHEN OLD.id = '${poisoned}' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END`,
    );
    server.running.inbound.resumePending();
    await server.running.inbound.idle();

    expect(subjects(server, box.mailboxId)).toEqual(['before', 'after']);
    expect(server.deps.repos.inbound.get(first)?.state).toBe('processed');
    expect(server.deps.repos.inbound.get(last)?.state).toBe('processed');
    expect(server.deps.repos.inbound.get(poisoned)?.state).toBe('accepted');
    expect(logs.lines.filter((l) => l.event === 'inbound.store_abandoned')).toMatchObject([
      { inbound_id: poisoned, attempts: 5 },
    ]);
    // It is not lost: the resume job offers it again.
    server.deps.db.exec('DROP TRIGGER poison');
    expect(server.running.inbound.resumePending()).toBe(1);
    await server.running.inbound.idle();
    expect(subjects(server, box.mailboxId)).toEqual(['before', 'after', 'poisoned']);
  });

  it('parks corrupt entries for the operator at once while the rest of the queue flows (D10)', async () => {
    const { server, logs, box } = await start();
    const to = [{ address: box.address, mailbox_id: box.mailboxId }];
    const empty = accepted(server, Buffer.alloc(0), to);
    const truncatedRaw = rawMessage('truncated');
    const truncated = accepted(server, truncatedRaw, to);
    server.deps.db
      .prepare(
        'UPDATE blobs SET data = substr(data, 1, 20) WHERE hash = (SELECT raw_hash FROM inbound WHERE id = ?)',
      )
      .run(truncated);
    const unreadable = accepted(server, rawMessage('unreadable row'), '[{"address":');
    const good = accepted(server, rawMessage('still flowing'), to);

    server.running.inbound.resumePending();
    await server.running.inbound.idle();

    expect(subjects(server, box.mailboxId)).toEqual(['still flowing']);
    expect(server.deps.repos.inbound.get(good)?.state).toBe('processed');
    const parked = logs.lines.filter((l) => l.event === 'inbound.parked');
    expect(parked.map((l) => [l.inbound_id, l.reason])).toEqual(
      expect.arrayContaining([
        [empty, 'raw_missing'],
        [truncated, 'raw_corrupt'],
        [unreadable, 'row_unreadable'],
      ]),
    );
    for (const id of [empty, truncated, unreadable]) {
      expect(server.deps.repos.inbound.get(id)).toMatchObject({
        state: 'failed',
        last_error: expect.any(String),
      });
    }
    const health = await server.api('GET', '/health');
    expect(health.body.inbound).toEqual({ parked: 3 });
  });

  it('parks a message that fails on every attempt after the last one', async () => {
    const { server, logs, box } = await start();
    const id = accepted(server, rawMessage('always fails'), '[null]');
    for (let attempt = 1; attempt <= 5; attempt++) {
      expect(server.running.inbound.resumePending()).toBe(1);
      await server.running.inbound.idle();
    }
    expect(server.deps.repos.inbound.get(id)).toMatchObject({ state: 'failed', attempts: 5 });
    expect(logs.lines.filter((l) => l.event === 'inbound.parked')).toMatchObject([
      { inbound_id: id, reason: 'failed' },
    ]);
    expect(server.running.inbound.resumePending()).toBe(0);
    expect(subjects(server, box.mailboxId)).toEqual([]);
  });
});
