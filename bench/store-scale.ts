/**
 * Store scale: the p99 of the mailbox reads an agent makes — inbox poll, message list, thread list and
 * full-text search — with its mailbox holding 1,000 messages and again holding 1,000,000, over real HTTP
 * against the built server in its own process. The target (issue 13): each p99 at 1,000,000 within 2× of
 * its p99 at 1,000.
 *
 * The mailbox is filled with bulk SQL into the server's own schema while the server is stopped (the API
 * would take hours to store a million messages; what is measured is reading them). Both sizes have the
 * same shape, so each request returns the same amount at both: a thread per four messages, one message in
 * five outgoing, every incoming message acknowledged but the newest 50, a word in two thirds of the
 * messages, one in 1 % and a reference number in exactly one.
 *
 *   npm run build && npx tsx bench/store-scale.ts [large=1000000] [small=1000] [samples=300]
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { v7 as uuidv7 } from 'uuid';
import { table, type Row } from './lib/report.js';
import { startLoftbox, type System } from './lib/system.js';

const OWNER = 'owner@peer.test';
const UNACKED = 50;
const FILL_BATCH = 20_000;
const WARMUP = 20;
/** Words of the bodies (40 drawn per message, so each is in about two thirds); `topicNN` marks 1 % each. */
const WORDS = (
  'order invoice shipment delivery account payment refund schedule meeting report update review ' +
  'contract draft approval budget quarter summary customer support ticket request status question ' +
  'answer follow change issue problem release version feature design plan team project deadline'
).split(' ');

export interface StoreScaleOptions {
  large: number;
  small: number;
  samples: number;
}

interface Account {
  key: string;
  orgId: string;
  mailboxId: string;
  address: string;
  agentId: string;
}

/** The reads measured, each as the request an agent makes. */
function requests(account: Account, size: number): { name: string; path: string }[] {
  const box = encodeURIComponent(account.mailboxId);
  return [
    { name: 'inbox poll', path: `/v1/mailboxes/${box}/inbox` },
    { name: 'message list', path: `/v1/messages?mailbox_id=${box}` },
    { name: 'thread list', path: `/v1/threads?mailbox_id=${box}` },
    { name: 'full-text search, one match', path: `/v1/messages?mailbox_id=${box}&q=${reference(size >> 1)}` },
    { name: 'full-text search, 1 % match', path: `/v1/messages?mailbox_id=${box}&q=topic42` },
    { name: 'full-text search, two thirds match', path: `/v1/messages?mailbox_id=${box}&q=order` },
  ];
}

const reference = (i: number) => `ref${i.toString(36)}x`;

/** A small deterministic PRNG (mulberry32), so both sizes get the same kind of text. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Messages `from`..`to`-1 of a mailbox of `total`, message i created at `start` + i × 100 ms, in the columns the store writes, in FILL_BATCH transactions. */
function fill(
  dbFile: string,
  account: Account,
  from: number,
  to: number,
  total: number,
  start: number,
): void {
  const db = new Database(dbFile);
  // Setup, not the measured path: a crash here only loses the benchmark's own scratch data.
  db.pragma('synchronous = OFF');
  const at = (i: number) => new Date(start + i * 100).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const thread = db.prepare(
    `INSERT OR IGNORE INTO threads (id, org_id, mailbox_id, subject, subject_key, participants, message_count,
       last_message_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 4, ?, ?)`,
  );
  const message = db.prepare(
    `INSERT INTO messages (id, public_id, org_id, mailbox_id, agent_id, thread_id, direction, status, from_addr,
       to_addrs, subject, body_text, extracted_text, message_id_header, size_bytes, acked_at, sent_at,
       received_at, created_at, imap_uid)
     VALUES (@id, @public_id, @org_id, @mailbox_id, @agent_id, @thread_id, @direction, @status, @from_addr,
       @to_addrs, @subject, @body, @body, @message_id_header, @size, @acked_at, @sent_at, @received_at,
       @created_at, @uid)`,
  );
  const search = db.prepare('INSERT INTO messages_fts (rowid, subject, addresses, body) VALUES (?, ?, ?, ?)');
  const random = prng(from + 1);
  const threadIds = new Map<number, string>();
  const threadId = (t: number) => {
    let id = threadIds.get(t);
    if (!id) {
      id = uuidv7({ msecs: start + t * 400, seq: 0, random: randomBytes(16) });
      threadIds.set(t, id);
    }
    return id;
  };
  // The newest UNACKED incoming messages of the whole mailbox stay in the inbox.
  const firstUnacked = total - Math.ceil((UNACKED * 5) / 4) - 1;
  const insertBatch = db.transaction((lo: number, hi: number) => {
    for (let i = lo; i < hi; i++) {
      const t = i >> 2;
      const outgoing = i % 5 === 4;
      const created = at(i);
      const subject = `Order ${t} update`;
      const words: string[] = [];
      for (let w = 0; w < 40; w++) words.push(WORDS[Math.floor(random() * WORDS.length)] ?? 'order');
      words.push(`topic${i % 100}`, reference(i));
      const body = words.join(' ');
      const peer = `customer${t % 5000}@peer.test`;
      if ((i & 3) === 0) {
        thread.run(
          threadId(t),
          account.orgId,
          account.mailboxId,
          subject,
          `order ${t} update`,
          '[]',
          created,
          created,
        );
      }
      const result = message.run({
        id: uuidv7({ msecs: start + i * 100, seq: 0, random: randomBytes(16) }),
        public_id: `msg_${randomBytes(15).toString('hex').slice(0, 24)}`,
        org_id: account.orgId,
        mailbox_id: account.mailboxId,
        agent_id: account.agentId,
        thread_id: threadId(t),
        direction: outgoing ? 'outgoing' : 'incoming',
        status: outgoing ? 'delivered' : 'received',
        from_addr: JSON.stringify({ address: outgoing ? account.address : peer }),
        to_addrs: JSON.stringify([{ address: outgoing ? peer : account.address }]),
        subject,
        body,
        message_id_header: `<${i}.bench@peer.test>`,
        size: body.length + 400,
        acked_at: !outgoing && i < firstUnacked ? created : null,
        sent_at: outgoing ? created : null,
        received_at: outgoing ? null : created,
        created_at: created,
        uid: i + 1,
      });
      search.run(result.lastInsertRowid, subject, `${peer} ${account.address}`, body);
    }
  });
  for (let lo = from; lo < to; lo += FILL_BATCH) insertBatch(lo, Math.min(to, lo + FILL_BATCH));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** Acknowledges what the smaller fill left unacknowledged but the larger one would have (same shape). */
function reshapeInbox(dbFile: string, account: Account, total: number): void {
  const db = new Database(dbFile);
  const keep = db
    .prepare(
      `SELECT id FROM messages WHERE mailbox_id = ? AND direction = 'incoming' AND acked_at IS NULL
       ORDER BY id DESC LIMIT ?`,
    )
    .all(account.mailboxId, UNACKED) as { id: string }[];
  db.prepare(
    `UPDATE messages SET acked_at = created_at WHERE mailbox_id = ? AND direction = 'incoming'
       AND acked_at IS NULL AND id NOT IN (SELECT value FROM json_each(?))`,
  ).run(account.mailboxId, JSON.stringify(keep.map((r) => r.id)));
  db.prepare('UPDATE imap_folders SET uid_next = ? WHERE mailbox_id = ?').run(total + 1, account.mailboxId);
  db.close();
}

async function onboard(server: System, dbFile: string): Promise<Account> {
  const response = await fetch(`${server.url}/v1/auth/agent-signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ owner_email: OWNER }),
  });
  const signup = (await response.json()) as { api_key: string; mailbox_id: string; mailbox_address: string };
  const db = new Database(dbFile, { readonly: true });
  const row = db.prepare('SELECT org_id, agent_id FROM mailboxes WHERE id = ?').get(signup.mailbox_id) as {
    org_id: string;
    agent_id: string;
  };
  db.close();
  return {
    key: signup.api_key,
    orgId: row.org_id,
    agentId: row.agent_id,
    mailboxId: signup.mailbox_id,
    address: signup.mailbox_address,
  };
}

/** p99 of `samples` sequential requests (after a warm-up), in ms; every answer must be a 200 with data. */
async function p99(server: System, account: Account, path: string, samples: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < WARMUP + samples; i++) {
    const started = performance.now();
    const response = await fetch(`${server.url}${path}`, {
      headers: { authorization: `Bearer ${account.key}` },
    });
    const body = (await response.json()) as { data?: unknown[] };
    const took = performance.now() - started;
    if (response.status !== 200 || !body.data?.length) {
      throw new Error(`${path}: ${response.status} ${JSON.stringify(body).slice(0, 200)}`);
    }
    if (i >= WARMUP) times.push(took);
  }
  times.sort((a, b) => a - b);
  return times[Math.ceil(samples * 0.99) - 1] ?? Number.NaN;
}

async function measure(dataDir: string, account: Account, size: number, samples: number) {
  const server = await startLoftbox({ LOFTBOX_DATA_DIR: dataDir });
  try {
    const figures = new Map<string, number>();
    for (const request of requests(account, size)) {
      figures.set(request.name, await p99(server, account, request.path, samples));
    }
    return figures;
  } finally {
    await server.stop();
  }
}

export async function storeScale(options: StoreScaleOptions): Promise<Row[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'loftbox-bench-store-'));
  const dbFile = join(dataDir, 'loftbox.db');
  try {
    const setup = await startLoftbox({ LOFTBOX_DATA_DIR: dataDir, LOFTBOX_SIGNUP_LIMIT_PER_IP: '1000' });
    let account: Account;
    try {
      account = await onboard(setup, dbFile);
    } finally {
      await setup.stop();
    }
    // Stored mail of this benchmark must not age out while it runs.
    const db = new Database(dbFile);
    db.prepare('UPDATE mailboxes SET retention_days = 36500 WHERE id = ?').run(account.mailboxId);
    db.close();

    // Both fills on one timeline, so the larger one's messages come after the smaller one's in id order.
    const start = Date.now() - options.large * 100 - 60_000;
    fill(dbFile, account, 0, options.small, options.small, start);
    const small = await measure(dataDir, account, options.small, options.samples);
    fill(dbFile, account, options.small, options.large, options.large, start);
    reshapeInbox(dbFile, account, options.large);
    const large = await measure(dataDir, account, options.large, options.samples);

    return [...small.keys()].map((name) => ({
      figure: `${name} p99 at ${options.large.toLocaleString('en')} messages`,
      value: large.get(name) ?? Number.NaN,
      unit: 'ms',
      baseline: { label: `at ${options.small.toLocaleString('en')}`, value: small.get(name) ?? Number.NaN },
      target: { on: 'ratio', below: 2, note: 'within 2× of 1,000' },
    }));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await storeScale({
    large: Number(process.argv[2] ?? 1_000_000),
    small: Number(process.argv[3] ?? 1000),
    samples: Number(process.argv[4] ?? 300),
  });
  console.log(table(rows));
}
