import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../../server/db/open.js';
import { BlobsRepo } from '../../server/db/repos/blobs.js';
import { MessagesRepo } from '../../server/db/repos/messages.js';
import { migratedDatabase, type MigratedDatabase } from '../harness/database.js';
import { plansOf } from '../harness/query-plans.js';
import { insertMailbox, insertOrgWithAgent, insertThread, messageRow } from '../harness/store-rows.js';

/**
 * The blob sweep after a retention purge deletes exactly the bytes that no message, attachment or
 * accepted inbound row refers to, and finds them through indexes: before migration 0022 every blob it
 * deleted made the foreign-key check scan all messages, and the sweep read the whole messages table.
 * Real SQLite file with the foreign keys on; the oracle is set arithmetic over what was inserted.
 */
const AT = '2030-01-01T00:00:00.000Z';
let store: MigratedDatabase;
let db: Db;
let blobs: BlobsRepo;
let messages: MessagesRepo;

beforeAll(() => {
  store = migratedDatabase('loftbox-blob-sweep-');
  ({ db } = store);
  blobs = new BlobsRepo(db);
  messages = new MessagesRepo(db);
  insertOrgWithAgent(db, 'org', AT);
  insertMailbox(db, 'org', 'mb', AT);
  insertThread(db, 'org', 'mb', 'thread', AT);
});

afterAll(() => store.remove());

type Referrer = 'none' | 'message' | 'attachment' | 'inbound' | 'message+inbound';
const REFERRERS: Referrer[] = ['none', 'message', 'attachment', 'inbound', 'message+inbound'];

/** Stores `content` and refers to it as `referrer` says; returns its hash. */
function seed(content: string, referrer: Referrer, n: number): string {
  const hash = blobs.put(Buffer.from(content));
  const message = (raw: string | null) => {
    const id = `m-${n}`;
    messages.insert(
      messageRow({
        id,
        org_id: 'org',
        mailbox_id: 'mb',
        agent_id: 'agent-org',
        thread_id: 'thread',
        raw_hash: raw,
      }),
      { addresses: '', body: '' },
    );
    return id;
  };
  if (referrer === 'message' || referrer === 'message+inbound') message(hash);
  if (referrer === 'attachment') {
    db.prepare(
      `INSERT INTO attachments (id, org_id, message_id, position, blob_hash, filename, content_type, size_bytes)
       VALUES (?, 'org', ?, 0, ?, 'a.txt', 'text/plain', 1)`,
    ).run(`a-${n}`, message(null), hash);
  }
  if (referrer === 'inbound' || referrer === 'message+inbound') {
    db.prepare(
      `INSERT INTO inbound (id, raw_hash, mail_from, recipients, remote_ip, size, state, received_at)
       VALUES (?, ?, 'a@example.com', '[]', '127.0.0.1', 1, 'processed', ?)`,
    ).run(`in-${n}`, hash, AT);
  }
  return hash;
}

/** The whole sweep, in steps of `step` blobs, as the retention job runs it; returns how many went. */
function sweep(step: number): number {
  let deleted = 0;
  for (let after = ''; ;) {
    const result = blobs.sweepAfter(after, step);
    deleted += result.deleted;
    if (result.last === null) return deleted;
    expect(result.last > after).toBe(true);
    after = result.last;
  }
}

const hashes = () =>
  new Set((db.prepare('SELECT hash FROM blobs').all() as { hash: string }[]).map((r) => r.hash));

it('deletes exactly the blobs nothing refers to, whoever else shares the bytes', () => {
  let run = 0;
  // Rows stay from run to run (what earlier runs referred to must survive every later sweep).
  const referred = new Set<string>();
  fc.assert(
    fc.property(
      fc.array(fc.record({ content: fc.nat(30), referrer: fc.constantFrom(...REFERRERS) }), {
        maxLength: 40,
      }),
      // Steps smaller and larger than what is stored, so some sweeps cross many step boundaries.
      fc.integer({ min: 1, max: 50 }),
      (items, step) => {
        run += 1;
        items.forEach(({ content, referrer }, i) => {
          // The same content under several referrers is one blob (content-addressed).
          const hash = seed(`run ${run} content ${content}`, referrer, run * 1000 + i);
          if (referrer !== 'none') referred.add(hash);
        });
        const before = hashes();
        const deleted = sweep(step);
        expect(hashes()).toEqual(referred);
        expect(deleted).toBe(before.size - referred.size);
      },
    ),
    { numRuns: 60 },
  );
});

it('finds what to delete, and what refers to it, through indexes only', () => {
  blobs.put(Buffer.from('a blob to step over'));
  const plans = plansOf(db, BlobsRepo, (repo) => repo.sweepAfter('', 1000));
  expect(plans).toHaveLength(2);
  const [step, remove] = plans.map((p) => p.plan);
  // The step's blobs come from the hash index, never from the table holding the bytes.
  expect(step).toMatch(/USING COVERING INDEX sqlite_autoindex_blobs_1 \(hash>\?\)/);
  expect(step).not.toMatch(/SCAN blobs(?! USING COVERING INDEX)/);
  expect(remove).toMatch(
    /SEARCH blobs USING (COVERING )?INDEX sqlite_autoindex_blobs_1 \(hash>\? AND hash<\?\)/,
  );
  const plan = remove ?? '';
  // Neither the sweep nor the foreign-key check behind each deletion walks a referring table.
  expect(plan).not.toMatch(/^\s*SCAN (messages|inbound|attachments|m|i|a)\b/m);
  expect(plan).toMatch(/messages_raw_hash \(raw_hash=\?\)/);
  expect(plan).toMatch(/inbound_raw_hash \(raw_hash=\?\)/);
  expect(plan).toMatch(/attachments_blob \(blob_hash=\?\)/);
});
