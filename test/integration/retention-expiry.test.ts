import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../../server/db/open.js';
import { MessagesRepo } from '../../server/db/repos/messages.js';
import { migratedDatabase, type MigratedDatabase } from '../harness/database.js';
import { plansOf } from '../harness/query-plans.js';
import { insertMailbox, insertOrgWithAgent, insertThread, messageRow } from '../harness/store-rows.js';

/**
 * The retention purge runs every minute and asks which incoming messages have outlived their mailbox's
 * retention. It must find exactly those, and read no further back into the received-at index than the
 * shortest retention allows: unbounded, every run read every incoming message once few had expired.
 * Real SQLite file; the oracle is the retention rule computed here.
 */
const NOW = new Date('2030-03-01T12:00:00.000Z');
const DAY_MS = 86_400_000;
const RETENTION = { short: 1, week: 7, month: 30 } as const;
const BOXES = Object.keys(RETENTION) as (keyof typeof RETENTION)[];
let store: MigratedDatabase;
let db: Db;
let messages: MessagesRepo;

beforeAll(() => {
  store = migratedDatabase('loftbox-retention-expiry-');
  ({ db } = store);
  messages = new MessagesRepo(db);
  insertOrgWithAgent(db, 'org', NOW.toISOString());
  for (const box of BOXES) {
    insertMailbox(db, 'org', box, NOW.toISOString());
    db.prepare('UPDATE mailboxes SET retention_days = ? WHERE id = ?').run(RETENTION[box], box);
    insertThread(db, 'org', box, `thread-${box}`, NOW.toISOString());
  }
});

afterAll(() => store.remove());

it('finds exactly the incoming messages past their own mailbox retention', () => {
  let run = 0;
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          box: fc.constantFrom(...BOXES),
          // Up to 40 days old, to the second, so some sit right at a retention boundary.
          ageSeconds: fc.integer({ min: 0, max: 40 * 86_400 }),
          outgoing: fc.boolean(),
        }),
        { maxLength: 30 },
      ),
      (items) => {
        run += 1;
        db.exec('DELETE FROM messages_fts; DELETE FROM messages;');
        const expected = new Set<string>();
        items.forEach(({ box, ageSeconds, outgoing }, i) => {
          const id = `m-${run}-${i}`;
          const received = new Date(NOW.getTime() - ageSeconds * 1000);
          messages.insert(
            messageRow({
              id,
              org_id: 'org',
              mailbox_id: box,
              agent_id: 'agent-org',
              thread_id: `thread-${box}`,
              direction: outgoing ? 'outgoing' : 'incoming',
              received_at: received.toISOString(),
            }),
            { addresses: '', body: '' },
          );
          if (!outgoing && received.getTime() + RETENTION[box] * DAY_MS < NOW.getTime()) expected.add(id);
        });
        const found = messages.expiredIncoming(NOW.toISOString(), 1000).map((m) => m.id);
        expect(new Set(found)).toEqual(expected);
        expect(found).toHaveLength(expected.size);
      },
    ),
    { numRuns: 80 },
  );
});

it('reads the received-at index only up to the shortest retention', () => {
  const plans = plansOf(db, MessagesRepo, (repo) => repo.expiredIncoming(NOW.toISOString(), 500));
  expect(plans).toHaveLength(1);
  expect(plans[0]?.plan).toMatch(
    /SEARCH m USING INDEX messages_received \(direction=\? AND received_at<\?\)/,
  );
});
