import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../server/db/open.js';
import { migratedDatabase, type MigratedDatabase } from '../harness/database.js';
import { MessagesRepo } from '../../server/db/repos/messages.js';
import { sendCountPurge } from '../../server/jobs/retention.js';
import { startTestServer } from '../harness/server.js';
import { insertMailbox, insertOrgWithAgent, insertThread, messageRow } from '../harness/store-rows.js';

/**
 * The daily send limit reads a per-org, per-day counter that triggers keep (migration 0020). Whatever
 * happens to messages — sent, blocked, rejected on approval, released, purged, an org deleted — the
 * counter must equal what counting the messages answers. Real SQLite file, real triggers; the oracle is
 * the COUNT the limit used before.
 */
const ORGS = ['org-a', 'org-b'];
const DAYS = ['2030-01-01', '2030-01-02'];
const STATUSES = [
  'queued',
  'sent',
  'delivered',
  'failed',
  'pending_approval',
  'scheduled',
  'blocked',
  'rejected',
];

let store: MigratedDatabase;
let db: Db;
let messages: MessagesRepo;

beforeAll(() => {
  store = migratedDatabase('loftbox-outgoing-daily-');
  ({ db } = store);
  messages = new MessagesRepo(db);
});

afterAll(() => store.remove());

function seedOrg(org: string): void {
  const now = '2030-01-01T00:00:00.000Z';
  insertOrgWithAgent(db, org, now);
  insertMailbox(db, org, `mb-${org}`, now);
  insertThread(db, org, `mb-${org}`, `thread-${org}`, now);
}

const oracle = (org: string, day: string) =>
  (
    db
      .prepare(
        `SELECT COUNT(*) AS n FROM messages WHERE org_id = ? AND direction = 'outgoing'
           AND status NOT IN ('blocked', 'rejected') AND substr(created_at, 1, 10) = ?`,
      )
      .get(org, day) as { n: number }
  ).n;

type Op =
  | { kind: 'insert'; org: number; day: number; outgoing: boolean; status: number }
  | { kind: 'status'; pick: number; status: number }
  | { kind: 'delete'; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('insert' as const),
    org: fc.nat(ORGS.length - 1),
    day: fc.nat(DAYS.length - 1),
    outgoing: fc.boolean(),
    status: fc.nat(STATUSES.length - 1),
  }),
  fc.record({ kind: fc.constant('status' as const), pick: fc.nat(), status: fc.nat(STATUSES.length - 1) }),
  fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
);

describe('outgoing messages per org and day', () => {
  it('always equals counting the messages, through inserts, status changes and deletes', () => {
    let n = 0;
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        db.exec('DELETE FROM organizations');
        for (const org of ORGS) seedOrg(org);
        const ids: string[] = [];
        for (const o of ops) {
          if (o.kind === 'insert') {
            const org = ORGS[o.org]!;
            const id = `m-${n++}`;
            ids.push(id);
            messages.insert(
              messageRow({
                id,
                org_id: org,
                mailbox_id: `mb-${org}`,
                agent_id: `agent-${org}`,
                thread_id: `thread-${org}`,
                direction: o.outgoing ? 'outgoing' : 'incoming',
                status: o.outgoing ? STATUSES[o.status]! : 'received',
                created_at: `${DAYS[o.day]!}T12:00:00.000Z`,
              }),
              { addresses: '', body: '' },
            );
          } else if (ids.length > 0) {
            const id = ids[o.pick % ids.length]!;
            if (o.kind === 'status') {
              db.prepare("UPDATE messages SET status = ? WHERE id = ? AND direction = 'outgoing'").run(
                STATUSES[o.status]!,
                id,
              );
            } else {
              const { rowid } = db.prepare('SELECT rowid FROM messages WHERE id = ?').get(id) as {
                rowid: number;
              };
              messages.deleteWithSearch(id, rowid);
              ids.splice(ids.indexOf(id), 1);
            }
          }
        }
        for (const org of ORGS) {
          for (const day of DAYS) expect(messages.sentOn(org, day)).toBe(oracle(org, day));
        }
        // Deleting an org takes its messages and its counts with it.
        db.prepare('DELETE FROM organizations WHERE id = ?').run('org-a');
        for (const day of DAYS) expect(messages.sentOn('org-a', day)).toBe(0);
        for (const day of DAYS) expect(messages.sentOn('org-b', day)).toBe(oracle('org-b', day));
      }),
      { numRuns: 150, seed: 13 },
    );
  });

  it('reads the count for the day from its primary key, whatever the volume', () => {
    const plan = (
      db
        .prepare('EXPLAIN QUERY PLAN SELECT sent FROM outgoing_daily WHERE org_id = ? AND day = ?')
        .all('org-b', DAYS[0]) as { detail: string }[]
    ).map((r) => r.detail);
    expect(plan.join('\n')).toMatch(/SEARCH outgoing_daily USING PRIMARY KEY \(org_id=\? AND day=\?\)/);
  });

  it('keeps only the current and the previous day: the housekeeping job drops older counts', async () => {
    const server = await startTestServer();
    try {
      const box = await server.mailbox('daily');
      const send = async (subject: string) => {
        const res = await server.api('POST', '/v1/messages', {
          key: box.key,
          body: { mailbox_id: box.mailboxId, to: ['someone@dest.test'], subject, body_text: 'Hi' },
        });
        expect(res.status, res.text).toBe(201);
      };
      const day = () => server.clock.now().toISOString().slice(0, 10);
      const days: string[] = [];
      for (let i = 0; i < 3; i++) {
        days.push(day());
        await send(`day ${i}`);
        server.clock.advance(24 * 60 * 60 * 1000);
      }
      const repo = server.deps.repos.messages;
      expect(days.map((d) => repo.sentOn(box.orgId, d))).toEqual([1, 1, 1]);
      // Now is the day after the last send: that day and the one before it stay.
      // (The system org's sign-up mail of day 0 is counted too.)
      expect(sendCountPurge(server.deps).run()).toEqual({ deleted: 3 });
      const left = server.deps.db.prepare('SELECT MIN(day) AS first FROM outgoing_daily').get() as {
        first: string;
      };
      expect(left.first).toBe(days[2]);
      expect(days.map((d) => repo.sentOn(box.orgId, d))).toEqual([0, 0, 1]);
      await send('today');
      expect(repo.sentOn(box.orgId, day())).toBe(1);
    } finally {
      await server.close();
    }
  });
});
