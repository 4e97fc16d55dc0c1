import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../server/db/open.js';
import { migratedDatabase, type MigratedDatabase } from '../harness/database.js';
import { plansOf } from '../harness/query-plans.js';
import { EventsRepo } from '../../server/db/repos/events.js';
import { InboundRepo } from '../../server/db/repos/inbound.js';
import { MessagesRepo } from '../../server/db/repos/messages.js';
import { ThreadsRepo } from '../../server/db/repos/threads.js';

/**
 * Statements run for every inbound message, or for every purge, must seek an index for what they look
 * up: a plan that walks a mailbox or a table makes each message cost more as the store grows. Checked
 * with EXPLAIN QUERY PLAN on the statements the repos really prepare, against a migrated SQLite file.
 */
let store: MigratedDatabase;
let db: Db;

beforeAll(() => {
  store = migratedDatabase('loftbox-plans-');
  ({ db } = store);
});

afterAll(() => store.remove());

describe('per-message statements seek an index', () => {
  it("finds a mailbox's messages by Message-ID through the Message-ID index, not by walking the mailbox", () => {
    const plans = plansOf(db, MessagesRepo, (messages) => {
      messages.byMessageIds('org-1', 'mb-1', ['<a@example.com>', '<b@example.com>']);
    });
    expect(plans).toHaveLength(1);
    expect(plans[0]?.plan).toMatch(
      /USING INDEX messages_message_id \(mailbox_id=\? AND message_id_header=\?\)/,
    );
  });

  it('sweeps inbound rows left without messages by looking each up, not by listing every message', () => {
    const plans = plansOf(db, InboundRepo, (inbound) => inbound.deleteOrphansBefore('2030-01-01'));
    expect(plans).toHaveLength(1);
    expect(plans[0]?.plan).toMatch(
      /SEARCH m USING COVERING INDEX messages_inbound_mailbox \(inbound_id=\?\)/,
    );
    expect(plans[0]?.plan).not.toMatch(/LIST SUBQUERY|SCAN m\b|SCAN messages/);
  });

  it('deletes emptied threads among the purged ones, not by walking every thread', () => {
    const plans = plansOf(db, ThreadsRepo, (threads) => threads.deleteEmpty(['t-1', 't-2']));
    expect(plans).toHaveLength(1);
    expect(plans[0]?.plan).toMatch(
      /SEARCH threads USING (COVERING )?INDEX sqlite_autoindex_threads_1 \(id=\?\)/,
    );
    expect(plans[0]?.plan).toMatch(/SEARCH m USING COVERING INDEX messages_thread \(thread_id=\?\)/);
    expect(plans[0]?.plan).not.toMatch(/SCAN threads/);
  });

  it("deletes events' webhook jobs through an index on the event sequence", () => {
    const plans = plansOf(db, EventsRepo, (events) => {
      events.deleteOlderThan('2030-01-01T00:00:00.000Z', 100);
      events.deleteAbout(['m-1'], ['t-1']);
    });
    const jobDeletes = plans.filter((p) => p.sql.startsWith('DELETE FROM webhook_jobs'));
    expect(jobDeletes.length).toBeGreaterThan(0);
    for (const { plan } of jobDeletes) {
      expect(plan).toMatch(/USING (COVERING )?INDEX webhook_jobs_event \(event_seq=\?\)/);
      expect(plan).not.toMatch(/^SCAN webhook_jobs/m);
    }
  });
});
