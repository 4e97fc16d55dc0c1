import fc from 'fast-check';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../server/db/open.js';
import { migratedDatabase, type MigratedDatabase } from '../harness/database.js';
import { MessagesRepo, type MessageFilter, type MessageRow } from '../../server/db/repos/messages.js';
import { ThreadsRepo } from '../../server/db/repos/threads.js';
import { insertMailbox, insertOrgWithAgent, messageRow } from '../harness/store-rows.js';

/**
 * The message and thread lists pick their SQL by the filters given and, for a search, by how common the
 * term is. Whatever they pick, the page must be exactly what the one catch-all statement they replaced
 * answers — that statement is the oracle here, run against the same real SQLite file.
 */
const ORACLE_MESSAGES = `SELECT m.* FROM messages m WHERE m.org_id = @orgId
  AND (@mailboxId IS NULL OR m.mailbox_id = @mailboxId)
  AND (@threadId IS NULL OR m.thread_id = @threadId)
  AND (@direction IS NULL OR m.direction = @direction)
  AND (@status IS NULL OR m.status = @status)
  AND (@label IS NULL OR EXISTS (SELECT 1 FROM json_each(m.labels) WHERE value = @label))
  AND (@after IS NULL OR m.created_at > @after)
  AND (@before IS NULL OR m.created_at < @before)
  AND (@q IS NULL OR m.rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH @q))
  AND (@afterId IS NULL OR m.id < @afterId)
  ORDER BY m.id DESC LIMIT @limit`;
const ORACLE_THREADS = `SELECT * FROM threads WHERE org_id = @orgId
  AND (@mailboxId IS NULL OR mailbox_id = @mailboxId)
  AND (@q IS NULL OR id IN (
    SELECT m.thread_id FROM messages m JOIN messages_fts f ON f.rowid = m.rowid
    WHERE m.org_id = @orgId AND messages_fts MATCH @q))
  AND (@afterId IS NULL OR id < @afterId)
  ORDER BY id DESC LIMIT @limit`;

const ORGS = ['org-a', 'org-b'];
const MAILBOXES = ['mb-a1', 'mb-a2', 'mb-b1'];
/**
 * `common` is in ~70 % of messages (the "read the newest" plan), `rare` in a handful (the "read the
 * matches" plan); `skewed` is common server-wide but rare outside mailbox mb-a1, so a search of another
 * mailbox walks many windows.
 */
const TERMS = ['common', 'half', 'tenth', 'rare', 'skewed', 'absent'];
const MESSAGES = 2600;

let store: MigratedDatabase;
let db: Db;
let messages: MessagesRepo;
let threads: ThreadsRepo;
const ids: string[] = [];
const threadIds: string[] = [];

beforeAll(() => {
  store = migratedDatabase('loftbox-lists-');
  ({ db } = store);
  messages = new MessagesRepo(db);
  threads = new ThreadsRepo(db);
  const now = '2030-01-01T00:00:00Z';
  for (const org of ORGS) insertOrgWithAgent(db, org, now);
  for (const box of MAILBOXES) insertMailbox(db, box.startsWith('mb-a') ? 'org-a' : 'org-b', box, now);
  // Ids follow creation time; rows are inserted in a shuffled order, so rowid order is not id order (as
  // when concurrent pipelines mint ids before their inserts commit).
  const random = fc.sample(fc.integer({ min: 0, max: 999 }), { numRuns: MESSAGES * 8, seed: 42 });
  let r = 0;
  const next = () => (random[r++ % random.length] ?? 0) / 1000;
  const base = Date.parse(now);
  const rows = Array.from({ length: MESSAGES }, (_, i) => ({ i, at: base + i * 1000 }));
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [rows[i], rows[j]] = [rows[j]!, rows[i]!];
  }
  const threadOf = new Map<string, string>();
  db.transaction(() => {
    for (const { i, at } of rows) {
      const box = MAILBOXES[i % 7 === 0 ? 2 : i % 3 === 0 ? 1 : 0]!;
      const org = box.startsWith('mb-a') ? 'org-a' : 'org-b';
      const threadKey = `${box}:${Math.floor(i / 5)}`;
      let thread = threadOf.get(threadKey);
      if (!thread) {
        thread = uuidv7({ msecs: at, random: new Uint8Array(16).fill(i % 251) });
        threadOf.set(threadKey, thread);
        threadIds.push(thread);
        threads.insert({
          id: thread,
          org_id: org,
          mailbox_id: box,
          subject: 's',
          subject_key: 's',
          participants: '[]',
          message_count: 0,
          last_message_at: new Date(at).toISOString(),
          created_at: new Date(at).toISOString(),
        });
      }
      const words = [
        next() < 0.7 ? 'common' : 'filler',
        next() < 0.5 ? 'half' : 'other',
        next() < 0.1 ? 'tenth' : 'more',
        i % 997 === 5 ? 'rare' : 'plain',
        box === 'mb-a1' || i % 40 === 3 ? 'skewed' : 'even',
      ];
      const id = uuidv7({ msecs: at, random: new Uint8Array(16).fill((i * 7) % 251) });
      ids.push(id);
      const created = new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
      messages.insert(
        messageRow({
          id,
          public_id: `msg_${i}`,
          org_id: org,
          mailbox_id: box,
          agent_id: `agent-${org}`,
          thread_id: thread,
          direction: i % 4 === 0 ? 'outgoing' : 'incoming',
          status: i % 4 === 0 ? 'delivered' : 'received',
          subject: `message ${i}`,
          body_text: words.join(' '),
          labels: i % 6 === 0 ? '["billing"]' : '[]',
          received_at: created,
          created_at: created,
        }),
        { addresses: '', body: words.join(' ') },
      );
    }
  })();
});
afterAll(() => store.remove());

const someOf = <T>(values: readonly T[]) => fc.option(fc.constantFrom(...values), { nil: undefined });
const at = (i: number) =>
  new Date(Date.parse('2030-01-01T00:00:00Z') + i * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('message list and search', () => {
  it('answers exactly what the catch-all statement answers, for any filters, term and cursor', () => {
    fc.assert(
      fc.property(
        fc.record({
          org: fc.constantFrom(...ORGS),
          mailboxId: someOf(MAILBOXES),
          threadId: fc.option(fc.integer({ min: 0, max: 2000 }), { nil: undefined }),
          direction: someOf(['incoming', 'outgoing'] as const),
          status: someOf(['received', 'delivered']),
          label: someOf(['billing']),
          q: someOf(TERMS.map((t) => `"${t}"`)),
          after: fc.option(fc.integer({ min: 0, max: MESSAGES }), { nil: undefined }),
          before: fc.option(fc.integer({ min: 0, max: MESSAGES }), { nil: undefined }),
          cursor: fc.option(fc.integer({ min: 0, max: MESSAGES - 1 }), { nil: undefined }),
          limit: fc.integer({ min: 1, max: 60 }),
        }),
        (c) => {
          const filter: MessageFilter = {
            mailboxId: c.mailboxId,
            threadId: c.threadId === undefined ? undefined : threadIds[c.threadId % threadIds.length],
            direction: c.direction,
            status: c.status,
            label: c.label,
            q: c.q,
            after: c.after === undefined ? undefined : at(c.after),
            before: c.before === undefined ? undefined : at(c.before),
          };
          const afterId = c.cursor === undefined ? null : ids[c.cursor]!;
          const expected = db.prepare(ORACLE_MESSAGES).all({
            orgId: c.org,
            mailboxId: null,
            threadId: null,
            direction: null,
            status: null,
            label: null,
            after: null,
            before: null,
            q: null,
            ...Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined)),
            afterId,
            limit: c.limit,
          }) as MessageRow[];
          const got = messages.list(c.org, filter, afterId, c.limit);
          expect(got.map((m) => m.id)).toEqual(expected.map((m) => m.id));
          expect(got).toEqual(expected);
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });

  it('pages through every match of a common and of a rare term, newest first, none twice', () => {
    for (const [q, mailboxId] of [
      ['"common"', undefined],
      ['"rare"', undefined],
      ['"skewed"', 'mb-a2'],
    ] as const) {
      const seen: string[] = [];
      let cursor: string | null = null;
      for (;;) {
        const page = messages.list('org-a', { q, mailboxId }, cursor, 7);
        seen.push(...page.map((m) => m.id));
        if (page.length < 7) break;
        cursor = page[page.length - 1]!.id;
      }
      const all = (
        db
          .prepare(
            `SELECT m.id FROM messages m WHERE m.org_id = 'org-a' AND (? IS NULL OR m.mailbox_id = ?)
               AND m.rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?) ORDER BY m.id DESC`,
          )
          .all(mailboxId ?? null, mailboxId ?? null, q) as { id: string }[]
      ).map((r) => r.id);
      expect(seen).toEqual(all);
      expect(all.length).toBeGreaterThan(0);
    }
  });
});

describe('thread list', () => {
  it('answers exactly what the catch-all statement answers', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ORGS),
        someOf(MAILBOXES),
        someOf(TERMS.map((t) => `"${t}"`)),
        fc.option(fc.integer({ min: 0, max: 2000 }), { nil: undefined }),
        fc.integer({ min: 1, max: 40 }),
        (org, mailboxId, q, cursor, limit) => {
          const afterId = cursor === undefined ? null : threadIds[cursor % threadIds.length]!;
          const expected = db
            .prepare(ORACLE_THREADS)
            .all({ orgId: org, mailboxId: mailboxId ?? null, q: q ?? null, afterId, limit });
          expect(threads.list(org, { mailboxId, q }, afterId, limit)).toEqual(expected);
        },
      ),
      { numRuns: 200, seed: 11 },
    );
  });

  it("reads a mailbox's and an org's threads from an index in id order, sorting nothing", () => {
    const plan = (sql: string, params: Record<string, unknown>) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[])
        .map((r) => r.detail)
        .join('\n');
    const captured: { sql: string; params: Record<string, unknown> }[] = [];
    const spy = new ThreadsRepo({
      prepare: (sql: string) => {
        const statement = db.prepare(sql);
        return {
          all: (params: Record<string, unknown>) => {
            captured.push({ sql, params });
            return statement.all(params);
          },
        };
      },
    } as unknown as Db);
    spy.list('org-a', { mailboxId: 'mb-a1' }, null, 20);
    spy.list('org-a', {}, null, 20);
    spy.list('org-a', { mailboxId: 'mb-a1' }, threadIds[100]!, 20);
    expect(captured).toHaveLength(3);
    for (const { sql, params } of captured) {
      const detail = plan(sql, params);
      expect(detail).toMatch(/USING INDEX threads_(mailbox|org)/);
      expect(detail).not.toContain('TEMP B-TREE');
    }
  });
});
