import type { Db } from '../open.js';

export interface ThreadRow {
  id: string;
  org_id: string;
  mailbox_id: string;
  subject: string;
  subject_key: string;
  participants: string;
  message_count: number;
  last_message_at: string;
  created_at: string;
}

export class ThreadsRepo {
  constructor(private readonly db: Db) {}

  insert(row: ThreadRow): void {
    this.db
      .prepare(
        `INSERT INTO threads (id, org_id, mailbox_id, subject, subject_key, participants, message_count, last_message_at, created_at)
         VALUES (@id, @org_id, @mailbox_id, @subject, @subject_key, @participants, @message_count, @last_message_at, @created_at)`,
      )
      .run(row);
  }

  get(orgId: string, id: string): ThreadRow | undefined {
    return this.db.prepare('SELECT * FROM threads WHERE org_id = ? AND id = ?').get(orgId, id) as
      ThreadRow | undefined;
  }

  /** Recent threads of a mailbox with the same normalised subject, newest first (the fallback match). */
  bySubject(orgId: string, mailboxId: string, subjectKey: string, since: string): ThreadRow[] {
    return this.db
      .prepare(
        `SELECT * FROM threads WHERE org_id = ? AND mailbox_id = ? AND subject_key = ? AND last_message_at >= ?
         ORDER BY last_message_at DESC LIMIT 5`,
      )
      .all(orgId, mailboxId, subjectKey, since) as ThreadRow[];
  }

  recordMessage(orgId: string, id: string, participants: string[], at: string): void {
    this.db
      .prepare(
        `UPDATE threads SET message_count = message_count + 1, participants = ?,
           last_message_at = MAX(last_message_at, ?) WHERE org_id = ? AND id = ?`,
      )
      .run(JSON.stringify(participants), at, orgId, id);
  }

  list(
    orgId: string,
    filter: { mailboxId?: string | undefined; q?: string | undefined },
    afterId: string | null,
    limit: number,
  ): ThreadRow[] {
    // Only the filters given become conditions, so a mailbox's threads are read from
    // threads_mailbox (org_id, mailbox_id, id) and an org's from threads_org (org_id, id), in id order.
    const conditions = ['org_id = @orgId'];
    const params: Record<string, unknown> = { orgId, limit };
    if (filter.mailboxId !== undefined) {
      conditions.push('mailbox_id = @mailboxId');
      params.mailboxId = filter.mailboxId;
    }
    if (filter.q !== undefined) {
      conditions.push(`id IN (
             SELECT m.thread_id FROM messages m JOIN messages_fts f ON f.rowid = m.rowid
             WHERE m.org_id = @orgId AND messages_fts MATCH @q)`);
      params.q = filter.q;
    }
    if (afterId !== null) {
      conditions.push('id < @afterId');
      params.afterId = afterId;
    }
    return this.db
      .prepare(`SELECT * FROM threads WHERE ${conditions.join(' AND ')} ORDER BY id DESC LIMIT @limit`)
      .all(params) as ThreadRow[];
  }

  /**
   * Of these threads (those a retention purge took messages from), the ones left without any. Only
   * a purge empties a thread, so only its threads are looked at, not every thread in the store.
   */
  deleteEmpty(threadIds: string[]): number {
    return this.db
      .prepare(
        `DELETE FROM threads WHERE id IN (SELECT value FROM json_each(?))
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = threads.id)`,
      )
      .run(JSON.stringify(threadIds)).changes;
  }

  refreshCounts(threadIds: string[]): void {
    const stmt = this.db.prepare(
      `UPDATE threads SET message_count = (SELECT COUNT(*) FROM messages WHERE thread_id = threads.id) WHERE id = ?`,
    );
    for (const id of threadIds) stmt.run(id);
  }
}
