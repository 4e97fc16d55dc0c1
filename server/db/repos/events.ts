import type { Db } from '../open.js';

export interface EventRow {
  seq: number;
  id: string;
  org_id: string;
  type: string;
  agent_id: string | null;
  mailbox_id: string | null;
  mailbox: string | null;
  thread_id: string | null;
  message_id: string | null;
  /** The API request or SMTP session that caused it (CONTRACT §6). */
  request_id: string | null;
  data: string;
  created_at: string;
}

export interface EventFilter {
  type?: string | undefined;
  /** Any of these types (the WebSocket's ?event_types=a,b). */
  types?: string[] | undefined;
  agentId?: string | undefined;
  mailboxId?: string | undefined;
  /** Only these mailboxes' events (a mailbox-bound key, CONTRACT §12). */
  mailboxIds?: string[] | undefined;
}

export type EventMark = 'webhook_fanout' | 'retention_floor';

/** The append-only event log; `seq` is the order every consumer reads in. */
export class EventsRepo {
  constructor(private readonly db: Db) {}

  append(row: Omit<EventRow, 'seq'>): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO events (id, org_id, type, agent_id, mailbox_id, mailbox, thread_id, message_id, request_id, data, created_at)
           VALUES (@id, @org_id, @type, @agent_id, @mailbox_id, @mailbox, @thread_id, @message_id, @request_id, @data, @created_at)`,
        )
        .run(row).lastInsertRowid,
    );
  }

  get(orgId: string, id: string): EventRow | undefined {
    return this.db.prepare('SELECT * FROM events WHERE org_id = ? AND id = ?').get(orgId, id) as
      EventRow | undefined;
  }

  bySeq(seq: number): EventRow | undefined {
    return this.db.prepare('SELECT * FROM events WHERE seq = ?').get(seq) as EventRow | undefined;
  }

  /** The highest sequence ever issued (AUTOINCREMENT keeps it even when retention emptied the log). */
  maxSeq(): number {
    return (
      this.db
        .prepare("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) AS seq")
        .get() as { seq: number }
    ).seq;
  }

  list(orgId: string, afterSeq: number, filter: EventFilter, limit: number): EventRow[] {
    return this.db
      .prepare(
        `SELECT * FROM events WHERE org_id = @orgId AND seq > @afterSeq
           AND (@type IS NULL OR type = @type)
           AND (@types IS NULL OR type IN (SELECT value FROM json_each(@types)))
           AND (@agentId IS NULL OR agent_id = @agentId)
           AND (@mailboxId IS NULL OR mailbox_id = @mailboxId)
           AND (@mailboxIds IS NULL OR mailbox_id IN (SELECT value FROM json_each(@mailboxIds)))
         ORDER BY seq LIMIT @limit`,
      )
      .all({
        orgId,
        afterSeq,
        type: filter.type ?? null,
        types: filter.types ? JSON.stringify(filter.types) : null,
        agentId: filter.agentId ?? null,
        mailboxId: filter.mailboxId ?? null,
        mailboxIds: filter.mailboxIds ? JSON.stringify(filter.mailboxIds) : null,
        limit,
      }) as EventRow[];
  }

  /** Events of every org after `afterSeq` up to `throughSeq`, in log order (the webhook fan-out reads these). */
  range(afterSeq: number, throughSeq: number, limit: number): EventRow[] {
    return this.db
      .prepare('SELECT * FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?')
      .all(afterSeq, throughSeq, limit) as EventRow[];
  }

  mark(name: EventMark): number {
    const row = this.db.prepare('SELECT seq FROM event_marks WHERE name = ?').get(name) as
      { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  setMark(name: EventMark, seq: number): void {
    this.db
      .prepare(
        `INSERT INTO event_marks (name, seq) VALUES (?, ?)
         ON CONFLICT (name) DO UPDATE SET seq = MAX(seq, excluded.seq)`,
      )
      .run(name, seq);
  }

  /**
   * Deletes up to `limit` events created before `before`, oldest first, with their webhook jobs; returns
   * how many and the highest sequence deleted (0 when none).
   */
  deleteOlderThan(before: string, limit: number): { deleted: number; throughSeq: number } {
    const rows = this.db
      .prepare('SELECT seq FROM events WHERE created_at < ? ORDER BY seq LIMIT ?')
      .all(before, limit) as { seq: number }[];
    const seqs = JSON.stringify(rows.map((r) => r.seq));
    this.db.prepare('DELETE FROM webhook_jobs WHERE event_seq IN (SELECT value FROM json_each(?))').run(seqs);
    this.db.prepare('DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))').run(seqs);
    return { deleted: rows.length, throughSeq: rows.reduce((max, r) => Math.max(max, r.seq), 0) };
  }

  /**
   * Deletes the events about these messages, and the `thread.created` events of these threads once no
   * message is left in them, with their webhook jobs: an event lives no longer than what it describes.
   */
  deleteAbout(messageIds: string[], threadIds: string[]): number {
    const doomed = this.db
      .prepare(
        `SELECT seq FROM events WHERE message_id IN (SELECT value FROM json_each(@messages))
         UNION
         SELECT seq FROM events WHERE thread_id IN (SELECT value FROM json_each(@threads))
           AND type = 'thread.created'
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = events.thread_id)`,
      )
      .all({ messages: JSON.stringify(messageIds), threads: JSON.stringify(threadIds) }) as { seq: number }[];
    if (doomed.length === 0) return 0;
    const seqs = JSON.stringify(doomed.map((r) => r.seq));
    this.db.prepare('DELETE FROM webhook_jobs WHERE event_seq IN (SELECT value FROM json_each(?))').run(seqs);
    return this.db.prepare('DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))').run(seqs)
      .changes;
  }
}
