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
  data: string;
  created_at: string;
}

export interface EventFilter {
  type?: string | undefined;
  /** Any of these types (the WebSocket's ?event_types=a,b). */
  types?: string[] | undefined;
  agentId?: string | undefined;
  mailboxId?: string | undefined;
}

/** The append-only event log; `seq` is the order every consumer reads in. */
export class EventsRepo {
  constructor(private readonly db: Db) {}

  append(row: Omit<EventRow, 'seq'>): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO events (id, org_id, type, agent_id, mailbox_id, mailbox, thread_id, message_id, data, created_at)
           VALUES (@id, @org_id, @type, @agent_id, @mailbox_id, @mailbox, @thread_id, @message_id, @data, @created_at)`,
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

  maxSeq(): number {
    return (this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM events').get() as { seq: number }).seq;
  }

  list(orgId: string, afterSeq: number, filter: EventFilter, limit: number): EventRow[] {
    return this.db
      .prepare(
        `SELECT * FROM events WHERE org_id = @orgId AND seq > @afterSeq
           AND (@type IS NULL OR type = @type)
           AND (@types IS NULL OR type IN (SELECT value FROM json_each(@types)))
           AND (@agentId IS NULL OR agent_id = @agentId)
           AND (@mailboxId IS NULL OR mailbox_id = @mailboxId)
         ORDER BY seq LIMIT @limit`,
      )
      .all({
        orgId,
        afterSeq,
        type: filter.type ?? null,
        types: filter.types ? JSON.stringify(filter.types) : null,
        agentId: filter.agentId ?? null,
        mailboxId: filter.mailboxId ?? null,
        limit,
      }) as EventRow[];
  }
}
