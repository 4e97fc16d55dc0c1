import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCommit } from '../../server/db/group-commit.js';
import { openDatabase, type Db } from '../../server/db/open.js';
import { currentRequestId, withRequestId } from '../../server/lib/request-context.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';

describe('group commit', () => {
  let dir: string;
  let db: Db;
  let other: Database.Database;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'loftbox-group-commit-'));
    db = openDatabase(join(dir, 'loftbox.db'));
    db.exec('CREATE TABLE t (n INTEGER NOT NULL, request TEXT)');
    other = new Database(join(dir, 'loftbox.db'), { readonly: true });
  });
  afterAll(() => {
    other.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const count = (conn: { prepare: Db['prepare'] }) =>
    (conn.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n;

  it('runs units of one turn in one transaction: each sees the earlier ones, others see all at once', async () => {
    db.exec('DELETE FROM t');
    const commits = new GroupCommit(db);
    const seen: { own: number; elsewhere: number }[] = [];
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        commits.run(() => {
          seen.push({ own: count(db), elsewhere: count(other) });
          db.prepare('INSERT INTO t (n) VALUES (?)').run(i);
          return i * 2;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 10 }, (_, i) => i * 2));
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => ({ own: i, elsewhere: 0 })));
    expect(count(other)).toBe(10);
  });

  it('undoes only the writes of a unit that throws, and rejects only its promise', async () => {
    db.exec('DELETE FROM t');
    const commits = new GroupCommit(db);
    const outcomes = await Promise.allSettled(
      [1, 2, 3, 4].map((n) =>
        commits.run(() => {
          db.prepare('INSERT INTO t (n) VALUES (?)').run(n);
          if (n % 2 === 0) throw new Error(`refused ${n}`);
          return n;
        }),
      ),
    );
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual([
      1,
      'refused 2',
      3,
      'refused 4',
    ]);
    expect((other.prepare('SELECT n FROM t ORDER BY n').all() as { n: number }[]).map((r) => r.n)).toEqual([
      1, 3,
    ]);
  });

  it('runs each unit in the request context it was submitted from', async () => {
    db.exec('DELETE FROM t');
    const commits = new GroupCommit(db);
    await Promise.all(
      ['req_one_000001', 'req_two_000002', 'req_three_0003'].map((id) =>
        withRequestId(id, () =>
          commits.run(() => db.prepare('INSERT INTO t (n, request) VALUES (0, ?)').run(currentRequestId())),
        ),
      ),
    );
    expect(
      (other.prepare('SELECT request FROM t ORDER BY rowid').all() as { request: string }[]).map(
        (r) => r.request,
      ),
    ).toEqual(['req_one_000001', 'req_two_000002', 'req_three_0003']);
  });
});

describe('concurrent POST /v1/messages', () => {
  let server: TestServer;
  let box: Awaited<ReturnType<TestServer['mailbox']>>;
  const LIMIT = 7;

  beforeAll(async () => {
    server = await startTestServer({ dailySendLimit: LIMIT, mailboxSendRate: 1000 });
    box = await server.mailbox('group');
  });
  afterAll(async () => {
    await server.close();
  });

  it('keeps the daily limit exact, answers each request on its own, and every 201 is stored with its request id', async () => {
    const requests = Array.from({ length: 20 }, (_, i) =>
      server.api('POST', '/v1/messages', {
        key: box.key,
        headers: { 'x-request-id': `req_group_${String(i).padStart(4, '0')}` },
        body: {
          mailbox_id: box.mailboxId,
          to: [`peer${i}@example.com`],
          subject: `Hello ${i}`,
          body_text: 'Hi',
        },
      }),
    );
    const responses = await Promise.all(requests);
    const created = responses.filter((r) => r.status === 201);
    const refused = responses.filter((r) => r.status !== 201);
    expect(created).toHaveLength(LIMIT);
    expect(refused.map((r) => [r.status, r.body.error.code])).toEqual(
      Array.from({ length: 20 - LIMIT }, () => [429, 'daily_limit_reached']),
    );

    // Read through a connection of its own: what a 201 promised is on disk, and nothing else is.
    const reader = new Database(join(server.dataDir, 'loftbox.db'), { readonly: true });
    try {
      const rows = reader
        .prepare(
          `SELECT id, subject, request_id FROM messages WHERE mailbox_id = ? AND direction = 'outgoing'`,
        )
        .all(box.mailboxId) as { id: string; subject: string; request_id: string }[];
      expect(rows).toHaveLength(LIMIT);
      for (const response of created) {
        const row = rows.find((r) => r.id === (response.body as Json).id);
        expect(row).toBeDefined();
        expect(row?.request_id).toBe(response.headers.get('x-request-id'));
        expect(row?.subject).toBe(`Hello ${Number(row?.request_id.slice(-4))}`);
      }
      const deliveries = reader
        .prepare(
          'SELECT COUNT(*) AS n FROM deliveries WHERE message_id IN (SELECT id FROM messages WHERE mailbox_id = ?)',
        )
        .get(box.mailboxId) as { n: number };
      expect(deliveries.n).toBe(LIMIT);
    } finally {
      reader.close();
    }
  });
});
