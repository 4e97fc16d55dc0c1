import { currentRequestId } from '../../lib/request-context.js';
import type { Db } from '../open.js';

export interface MessageRow {
  id: string;
  public_id: string;
  org_id: string;
  mailbox_id: string;
  agent_id: string;
  thread_id: string;
  inbound_id: string | null;
  direction: 'incoming' | 'outgoing';
  status: string;
  from_addr: string | null;
  to_addrs: string;
  cc_addrs: string;
  bcc_addrs: string;
  reply_to: string;
  envelope_from: string | null;
  subject: string;
  body_text: string | null;
  body_html: string | null;
  body_markdown: string | null;
  extracted_text: string | null;
  message_id_header: string | null;
  in_reply_to: string | null;
  references_ids: string;
  labels: string;
  metadata: string;
  auth: string | null;
  injection_score: number | null;
  injection_categories: string;
  injection_signals: string;
  raw_hash: string | null;
  /** Bytes served before the blob: our Authentication-Results on incoming mail (migration 0023). */
  raw_prefix: Buffer | null;
  size_bytes: number;
  acked_at: string | null;
  archived_at: string | null;
  trashed_at: string | null;
  scheduled_at: string | null;
  sent_at: string | null;
  delivered_at: string | null;
  received_at: string | null;
  created_at: string;
  approval_policy_id: string | null;
  approval_reason: string | null;
  decided_by: string | null;
  decided_at: string | null;
  decision_reason: string | null;
  /** 1 when the incoming message looks machine-sent (CONTRACT §12); the reasons are a JSON list. */
  automated: number;
  automation_reasons: string;
  /** X-LoftBox-Hops: read from incoming mail, written on outgoing; null when absent. */
  hops: number | null;
  /** Why the loop guard held the message (a policy hold has its policy instead). */
  approval_detail: string | null;
  /** Assigned by insert: the message's UID in its IMAP folder (INBOX or Sent). */
  imap_uid?: number | null;
  /** The API request or SMTP session that created it; insert defaults it to the current request. */
  request_id?: string | null;
  /** Until then the inbox hands it to no other poll (an inbox lease, CONTRACT §12). */
  leased_until?: string | null;
}

export interface MessageFilter {
  mailboxId?: string | undefined;
  threadId?: string | undefined;
  direction?: 'incoming' | 'outgoing' | undefined;
  status?: string | undefined;
  label?: string | undefined;
  q?: string | undefined;
  after?: string | undefined;
  before?: string | undefined;
}

/** Below this many matches server-wide a search reads the matches; from it on, the newest messages. */
const SPARSE_MATCHES = 1000;
/** Rows of the first window of a common-term search; each next window doubles, up to the last size. */
const FIRST_WINDOW = 256;
const LAST_WINDOW = 65_536;

/** The SQL conditions (over `m`) for the filters that are set, and their parameters. */
function listConditions(
  orgId: string,
  filter: MessageFilter,
  afterId: string | null,
): { where: string; params: Record<string, unknown> } {
  const conditions = ['m.org_id = @orgId'];
  const params: Record<string, unknown> = { orgId };
  const add = (condition: string, name: string, value: unknown) => {
    if (value === undefined || value === null) return;
    conditions.push(condition);
    params[name] = value;
  };
  add('m.mailbox_id = @mailboxId', 'mailboxId', filter.mailboxId);
  add('m.thread_id = @threadId', 'threadId', filter.threadId);
  add('m.direction = @direction', 'direction', filter.direction);
  add('m.status = @status', 'status', filter.status);
  add('EXISTS (SELECT 1 FROM json_each(m.labels) WHERE value = @label)', 'label', filter.label);
  add('m.created_at > @after', 'after', filter.after);
  add('m.created_at < @before', 'before', filter.before);
  add('m.id < @afterId', 'afterId', afterId);
  return { where: conditions.join(' AND '), params };
}

const COLUMNS = [
  'id',
  'public_id',
  'org_id',
  'mailbox_id',
  'agent_id',
  'thread_id',
  'inbound_id',
  'direction',
  'status',
  'from_addr',
  'to_addrs',
  'cc_addrs',
  'bcc_addrs',
  'reply_to',
  'envelope_from',
  'subject',
  'body_text',
  'body_html',
  'body_markdown',
  'extracted_text',
  'message_id_header',
  'in_reply_to',
  'references_ids',
  'labels',
  'metadata',
  'auth',
  'injection_score',
  'injection_categories',
  'injection_signals',
  'raw_hash',
  'raw_prefix',
  'size_bytes',
  'acked_at',
  'archived_at',
  'trashed_at',
  'scheduled_at',
  'sent_at',
  'delivered_at',
  'received_at',
  'created_at',
  'approval_policy_id',
  'approval_reason',
  'decided_by',
  'decided_at',
  'decision_reason',
  'automated',
  'automation_reasons',
  'hops',
  'approval_detail',
  'imap_uid',
  'request_id',
] as const;

export class MessagesRepo {
  constructor(private readonly db: Db) {}

  /** Inserts the message and its full-text entry; returns false when the (inbound, mailbox) pair exists. */
  insert(row: MessageRow, searchText: { addresses: string; body: string }): boolean {
    const uid = this.nextImapUid(
      row.mailbox_id,
      row.direction === 'incoming' ? 'INBOX' : 'Sent',
      row.created_at,
    );
    const result = this.db
      .prepare(
        `INSERT OR IGNORE INTO messages (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`,
      )
      .run({ ...row, imap_uid: uid, request_id: row.request_id ?? currentRequestId() });
    if (result.changes === 0) return false;
    this.db
      .prepare('INSERT INTO messages_fts (rowid, subject, addresses, body) VALUES (?, ?, ?, ?)')
      .run(result.lastInsertRowid, row.subject, searchText.addresses, searchText.body);
    return true;
  }

  /**
   * Takes the folder's next IMAP UID. UIDVALIDITY is fixed when the folder is first used (seconds since
   * the epoch, as most servers do) and never changes, because UIDs are never reassigned.
   */
  private nextImapUid(mailboxId: string, folder: 'INBOX' | 'Sent', createdAt: string): number {
    const row = this.db
      .prepare(
        `INSERT INTO imap_folders (mailbox_id, folder, uid_validity, uid_next) VALUES (?, ?, ?, 2)
         ON CONFLICT (mailbox_id, folder) DO UPDATE SET uid_next = uid_next + 1
         RETURNING uid_next - 1 AS uid`,
      )
      .get(mailboxId, folder, Math.floor(new Date(createdAt).getTime() / 1000)) as { uid: number };
    return row.uid;
  }

  /** By UUID or `msg_…` public id. */
  get(orgId: string, idOrPublicId: string): MessageRow | undefined {
    return this.db
      .prepare('SELECT * FROM messages WHERE org_id = ? AND (id = ? OR public_id = ?)')
      .get(orgId, idOrPublicId, idOrPublicId) as MessageRow | undefined;
  }

  byInbound(inboundId: string, mailboxId: string): MessageRow | undefined {
    return this.db
      .prepare('SELECT * FROM messages WHERE inbound_id = ? AND mailbox_id = ?')
      .get(inboundId, mailboxId) as MessageRow | undefined;
  }

  /**
   * Messages of a mailbox carrying any of these Message-IDs, newest first (threading, and every inbound
   * message's own-mail check). Named index: left to itself SQLite walks the whole mailbox in id order
   * to spare sorting the few matches, which made each inbound message cost more as the mailbox grew.
   */
  byMessageIds(orgId: string, mailboxId: string, messageIds: string[]): MessageRow[] {
    if (messageIds.length === 0) return [];
    return this.db
      .prepare(
        `SELECT * FROM messages INDEXED BY messages_message_id
           WHERE mailbox_id = ? AND message_id_header IN (SELECT value FROM json_each(?)) AND org_id = ?
           ORDER BY id DESC LIMIT 10`,
      )
      .all(mailboxId, JSON.stringify(messageIds), orgId) as MessageRow[];
  }

  /**
   * A page of messages, newest first. Only the filters given become SQL conditions, so SQLite can pick
   * the index that serves them (`(org_id, mailbox_id, id)` for a mailbox, `(thread_id, id)` for a
   * thread) and walk it in id order, stopping at the page's end.
   */
  list(orgId: string, filter: MessageFilter, afterId: string | null, limit: number): MessageRow[] {
    const { where, params } = listConditions(orgId, filter, afterId);
    if (filter.q === undefined) {
      return this.db
        .prepare(`SELECT m.* FROM messages m WHERE ${where} ORDER BY m.id DESC LIMIT @limit`)
        .all({ ...params, limit }) as MessageRow[];
    }
    return this.fewMatches(filter.q)
      ? this.searchByMatches(where, { ...params, q: filter.q }, limit)
      : this.searchByRecency(where, params, filter.q, limit);
  }

  /**
   * Whether a search term matches fewer than SPARSE_MATCHES messages server-wide, counted by reading at
   * most that many entries of the full-text index. It picks the cheaper of the two search plans below.
   */
  private fewMatches(q: string): boolean {
    const row = this.db
      .prepare('SELECT COUNT(*) AS n FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? LIMIT ?)')
      .get(q, SPARSE_MATCHES) as { n: number };
    return row.n < SPARSE_MATCHES;
  }

  /** A rare term: look up each match (fewer than SPARSE_MATCHES) and sort those. */
  private searchByMatches(where: string, params: Record<string, unknown>, limit: number): MessageRow[] {
    // CROSS JOIN keeps the full-text index as the outer loop (SQLite does not reorder a CROSS JOIN).
    return this.db
      .prepare(
        `SELECT m.* FROM messages_fts f CROSS JOIN messages m ON m.rowid = f.rowid
         WHERE messages_fts MATCH @q AND ${where} ORDER BY m.id DESC LIMIT @limit`,
      )
      .all({ ...params, limit }) as MessageRow[];
  }

  /**
   * A common term: walk the filtered messages newest first in growing windows, and the term's matches
   * from the highest rowid down (FTS5 reads a doclist backwards from its end cheaply, but seeks to a
   * lower rowid bound by reading it from the start), until the page is full. Every match at or above a
   * window's lowest rowid has been read before the window is checked, so none is missed whatever order
   * rowids were handed out in; the work is about limit ÷ (share of messages matching) rows.
   */
  private searchByRecency(
    where: string,
    params: Record<string, unknown>,
    q: string,
    limit: number,
  ): MessageRow[] {
    // A window is summed up in SQL (its lowest rowid and id), then its matching ids are read with the
    // matches passed in: the rows are stepped through in SQLite, not turned into JavaScript objects.
    // Two statements each rather than `@before_id IS NULL OR …`, which SQLite cannot use to seek the index.
    const span = (bounded: boolean) =>
      this.db.prepare(
        `SELECT MIN(rowid) AS low, MAX(rowid) AS high, MIN(id) AS last, COUNT(*) AS n FROM (
           SELECT m.rowid AS rowid, m.id AS id FROM messages m WHERE ${where}
             ${bounded ? 'AND m.id < @before_id' : ''} ORDER BY m.id DESC LIMIT @size)`,
      );
    const hitsIn = (bounded: boolean) =>
      this.db.prepare(
        `SELECT m.id FROM messages m WHERE ${where} ${bounded ? 'AND m.id < @before_id' : ''}
           AND m.id >= @last AND m.rowid IN (SELECT value FROM json_each(@matched))
         ORDER BY m.id DESC LIMIT @limit`,
      );
    const firstSpan = span(false);
    const nextSpan = span(true);
    const firstHits = hitsIn(false);
    const nextHits = hitsIn(true);
    const matches = this.db.prepare(
      `SELECT rowid FROM messages_fts WHERE messages_fts MATCH @q AND rowid < @below ORDER BY rowid DESC LIMIT @size`,
    );
    const matched: number[] = [];
    let lowestRead: number | null = null;
    let allRead = false;
    const readMatchesDownTo = (rowid: number) => {
      for (let size = FIRST_WINDOW; !allRead && (lowestRead === null || lowestRead >= rowid);) {
        const below = lowestRead ?? Number.MAX_SAFE_INTEGER;
        const rows = matches.all({ q, below, size }) as { rowid: number }[];
        for (const row of rows) matched.push(row.rowid);
        lowestRead = rows[rows.length - 1]?.rowid ?? lowestRead;
        allRead = rows.length < size;
        size = Math.min(size * 2, LAST_WINDOW);
      }
    };

    const found: string[] = [];
    let beforeId: string | null = null;
    for (let size = FIRST_WINDOW; found.length < limit; size = Math.min(size * 2, LAST_WINDOW)) {
      const bounds = { ...params, size, ...(beforeId === null ? {} : { before_id: beforeId }) };
      const window = (beforeId === null ? firstSpan : nextSpan).get(bounds) as {
        low: number | null;
        high: number | null;
        last: string | null;
        n: number;
      };
      const { low, high } = window;
      if (low === null || high === null || window.last === null) break;
      readMatchesDownTo(low);
      const hits = (beforeId === null ? firstHits : nextHits).all({
        ...params,
        ...(beforeId === null ? {} : { before_id: beforeId }),
        last: window.last,
        matched: JSON.stringify(matched.filter((rowid) => rowid >= low && rowid <= high)),
        limit: limit - found.length,
      }) as { id: string }[];
      found.push(...hits.map((h) => h.id));
      if (window.n < size) break;
      beforeId = window.last;
    }
    if (found.length === 0) return [];
    return this.db
      .prepare('SELECT * FROM messages WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id DESC')
      .all(JSON.stringify(found)) as MessageRow[];
  }

  /**
   * Unacknowledged, live incoming messages, oldest first, leaving out those leased to another poll
   * until their lease ends. With `leaseUntil` the returned messages are leased in the same statement, so
   * two concurrent polls can never both take one (CONTRACT §12).
   */
  inbox(
    orgId: string,
    mailboxId: string,
    afterId: string | null,
    limit: number,
    now: string,
    leaseUntil: string | null = null,
  ): MessageRow[] {
    const available = `SELECT id FROM messages WHERE mailbox_id = @mailboxId AND direction = 'incoming'
           AND acked_at IS NULL AND archived_at IS NULL AND trashed_at IS NULL
           AND (@afterId IS NULL OR id > @afterId)
           AND (leased_until IS NULL OR leased_until <= @now)
         ORDER BY id ASC LIMIT @limit`;
    const params = { orgId, mailboxId, afterId, limit, now, leaseUntil };
    if (leaseUntil === null) {
      return this.db
        .prepare(`SELECT * FROM messages WHERE org_id = @orgId AND id IN (${available}) ORDER BY id ASC`)
        .all(params) as MessageRow[];
    }
    const leased = this.db
      .prepare(
        `UPDATE messages SET leased_until = @leaseUntil WHERE org_id = @orgId AND id IN (${available})
         RETURNING *`,
      )
      .all(params) as MessageRow[];
    // RETURNING gives no order guarantee.
    return leased.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** When the earliest lease another poll holds on this inbox ends (a waiting poll can take it then). */
  nextLeaseEnd(orgId: string, mailboxId: string, now: string): string | null {
    return (
      this.db
        .prepare(
          `SELECT MIN(leased_until) AS at FROM messages WHERE org_id = ? AND mailbox_id = ?
             AND direction = 'incoming' AND acked_at IS NULL AND archived_at IS NULL AND trashed_at IS NULL
             AND leased_until > ?`,
        )
        .get(orgId, mailboxId, now) as { at: string | null }
    ).at;
  }

  /** The request that created the message, for the delivery events that follow it later. */
  requestIdOf(orgId: string, id: string): string | null {
    const row = this.db
      .prepare('SELECT request_id FROM messages WHERE org_id = ? AND id = ?')
      .get(orgId, id) as { request_id: string | null } | undefined;
    return row?.request_id ?? null;
  }

  threadMessages(orgId: string, threadId: string, afterId: string | null, limit: number): MessageRow[] {
    return this.db
      .prepare(
        `SELECT * FROM messages WHERE org_id = ? AND thread_id = ? AND (? IS NULL OR id > ?)
         ORDER BY id ASC LIMIT ?`,
      )
      .all(orgId, threadId, afterId, afterId, limit) as MessageRow[];
  }

  /** Acks the given ids (either form) of this mailbox; ids of other mailboxes or orgs are ignored. */
  ack(orgId: string, mailboxId: string, ids: string[], at: string): number {
    return this.db
      .prepare(
        `UPDATE messages SET acked_at = ? WHERE org_id = ? AND mailbox_id = ? AND direction = 'incoming'
           AND acked_at IS NULL
           AND (id IN (SELECT value FROM json_each(?)) OR public_id IN (SELECT value FROM json_each(?)))`,
      )
      .run(at, orgId, mailboxId, JSON.stringify(ids), JSON.stringify(ids)).changes;
  }

  setLabels(orgId: string, id: string, labels: string[]): void {
    this.db
      .prepare('UPDATE messages SET labels = ? WHERE org_id = ? AND id = ?')
      .run(JSON.stringify(labels), orgId, id);
  }

  setTimestamp(orgId: string, id: string, column: 'archived_at' | 'trashed_at', value: string | null): void {
    this.db.prepare(`UPDATE messages SET ${column} = ? WHERE org_id = ? AND id = ?`).run(value, orgId, id);
  }

  /** Incoming messages whose mailbox retention has run out; at most `limit` per call. */
  expiredIncoming(now: string, limit: number): { id: string; rowid: number; thread_id: string }[] {
    // Nothing received after now minus the shortest retention of any mailbox can have expired: that
    // bound ends the walk of the received-at index. Without it, whenever fewer than `limit` had
    // expired (every minute, once a store is purged down to its steady state) the walk read every
    // incoming message and its row.
    return this.db
      .prepare(
        `SELECT m.id, m.rowid AS rowid, m.thread_id FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
         WHERE m.direction = 'incoming'
           AND m.received_at < strftime('%Y-%m-%dT%H:%M:%fZ', @now,
                 printf('-%d days', (SELECT min(retention_days) FROM mailboxes)))
           AND julianday(m.received_at) + b.retention_days < julianday(@now)
         LIMIT @limit`,
      )
      .all({ now, limit }) as { id: string; rowid: number; thread_id: string }[];
  }

  /**
   * Outgoing messages an org sent on a UTC day (`YYYY-MM-DD`), blocked and rejected ones excluded: the
   * daily limit. Kept by triggers on messages (migration 0020), so reading it costs one row.
   */
  sentOn(orgId: string, day: string): number {
    const row = this.db
      .prepare('SELECT sent FROM outgoing_daily WHERE org_id = ? AND day = ?')
      .get(orgId, day) as { sent: number } | undefined;
    return row?.sent ?? 0;
  }

  /** Drops the per-day send counts of days before `day` (`YYYY-MM-DD`); only the current day's is read. */
  pruneSentCounts(day: string): number {
    return this.db.prepare('DELETE FROM outgoing_daily WHERE day < ?').run(day).changes;
  }

  /**
   * Outgoing messages since `since` from every unclaimed agent-signup org naming `ownerEmail` as owner:
   * the one deliberate cross-org count, because they all mail that one person.
   */
  countFromUnclaimedOrgsSince(ownerEmail: string, since: string): number {
    const row = this.db
      .prepare(
        `SELECT COUNT(*) AS n FROM messages m JOIN organizations o ON o.id = m.org_id
          WHERE o.owner_email = ? AND o.origin = 'agent_signup' AND o.signup_status = 'unverified'
            AND m.direction = 'outgoing' AND m.created_at >= ? AND m.status NOT IN ('blocked', 'rejected')`,
      )
      .get(ownerEmail, since) as { n: number };
    return row.n;
  }

  /** Messages of a thread since `since`, both directions, blocked and rejected ones excluded (loop guard). */
  countInThreadSince(orgId: string, threadId: string, since: string): number {
    const row = this.db
      .prepare(
        `SELECT COUNT(*) AS n FROM messages WHERE org_id = ? AND thread_id = ? AND created_at >= ?
           AND status NOT IN ('blocked', 'rejected')`,
      )
      .get(orgId, threadId, since) as { n: number };
    return row.n;
  }

  /**
   * Replies this mailbox sent in the thread since `since` to `recipient`, each answering an automated
   * message (loop guard: vacation responders answer one per sender).
   */
  countRepliesToAutomatedSince(
    orgId: string,
    threadId: string,
    mailboxId: string,
    recipient: string,
    since: string,
  ): number {
    const row = this.db
      .prepare(
        `SELECT COUNT(*) AS n FROM messages o
          WHERE o.org_id = @orgId AND o.thread_id = @threadId AND o.mailbox_id = @mailboxId
            AND o.direction = 'outgoing' AND o.created_at >= @since AND o.status NOT IN ('blocked', 'rejected')
            AND EXISTS (SELECT 1 FROM json_each(o.to_addrs) t WHERE json_extract(t.value, '$.address') = @recipient
                        UNION ALL
                        SELECT 1 FROM json_each(o.cc_addrs) c WHERE json_extract(c.value, '$.address') = @recipient)
            AND EXISTS (SELECT 1 FROM messages i
                         WHERE i.org_id = o.org_id AND i.thread_id = o.thread_id AND i.direction = 'incoming'
                           AND i.automated = 1 AND i.message_id_header = o.in_reply_to)`,
      )
      .get({ orgId, threadId, mailboxId, recipient, since }) as { n: number };
    return row.n;
  }

  setStatus(
    orgId: string,
    id: string,
    status: string,
    extra: Partial<Pick<MessageRow, 'sent_at' | 'delivered_at'>> = {},
  ): void {
    this.db
      .prepare(
        `UPDATE messages SET status = @status, sent_at = COALESCE(@sent_at, sent_at),
           delivered_at = COALESCE(@delivered_at, delivered_at) WHERE org_id = @orgId AND id = @id`,
      )
      .run({ status, sent_at: extra.sent_at ?? null, delivered_at: extra.delivered_at ?? null, orgId, id });
  }

  recordDecision(
    orgId: string,
    id: string,
    decision: { status: string; decided_by: string; decided_at: string; decision_reason: string | null },
  ): void {
    this.db
      .prepare(
        `UPDATE messages SET status = @status, decided_by = @decided_by, decided_at = @decided_at,
           decision_reason = @decision_reason WHERE org_id = @orgId AND id = @id`,
      )
      .run({ ...decision, orgId, id });
  }

  deleteWithSearch(id: string, rowid: number): void {
    this.db.prepare('DELETE FROM messages_fts WHERE rowid = ?').run(rowid);
    this.db.prepare('DELETE FROM messages WHERE id = ?').run(id);
  }
}
