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

  list(orgId: string, afterSeq: number, filter: EventFilter, limit: number): EventRow[] {
    return this.db
      .prepare(
        `SELECT * FROM events WHERE org_id = @orgId AND seq > @afterSeq
           AND (@type IS NULL OR type = @type)
           AND (@agentId IS NULL OR agent_id = @agentId)
           AND (@mailboxId IS NULL OR mailbox_id = @mailboxId)
         ORDER BY seq LIMIT @limit`,
      )
      .all({
        orgId,
        afterSeq,
        type: filter.type ?? null,
        agentId: filter.agentId ?? null,
        mailboxId: filter.mailboxId ?? null,
        limit,
      }) as EventRow[];
  }
}
