import type { Db } from '../open.js';
import type { MessageRow } from './messages.js';

export interface ComplaintRow {
  id: string;
  org_id: string;
  mailbox_id: string;
  message_id: string;
  recipient: string;
  source: 'return_path' | 'postmaster';
  feedback_type: string;
  created_at: string;
}

/** The postmaster desk's ledger and the complaints it and the return path attribute. */
export class PostmasterRepo {
  constructor(private readonly db: Db) {}

  /** Incoming messages of the postmaster mailbox the desk has not handled yet, oldest first. */
  unhandled(mailboxId: string, limit: number): string[] {
    return (
      this.db
        .prepare(
          `SELECT m.id FROM messages m WHERE m.mailbox_id = ? AND m.direction = 'incoming'
             AND NOT EXISTS (SELECT 1 FROM postmaster_desk d WHERE d.message_id = m.id) ORDER BY m.id LIMIT ?`,
        )
        .all(mailboxId, limit) as { id: string }[]
    ).map((r) => r.id);
  }

  markHandled(messageId: string, outcome: string, forwardMessageId: string | null, at: string): void {
    this.db
      .prepare(
        `INSERT INTO postmaster_desk (message_id, outcome, forward_message_id, handled_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (message_id) DO NOTHING`,
      )
      .run(messageId, outcome, forwardMessageId, at);
  }

  /** Records a complaint once per message and recipient; answers whether it was new. */
  insertComplaint(row: ComplaintRow): boolean {
    return (
      this.db
        .prepare(
          `INSERT INTO complaints (id, org_id, mailbox_id, message_id, recipient, source, feedback_type, created_at)
           VALUES (@id, @org_id, @mailbox_id, @message_id, @recipient, @source, @feedback_type, @created_at)
           ON CONFLICT (message_id, recipient) DO NOTHING`,
        )
        .run(row).changes > 0
    );
  }

  /** The outgoing message that carried a Message-ID header, whatever its org (complaint attribution). */
  sentMessageByHeader(messageIdHeader: string): MessageRow | undefined {
    return this.db
      .prepare("SELECT * FROM messages WHERE message_id_header = ? AND direction = 'outgoing' LIMIT 1")
      .get(messageIdHeader) as MessageRow | undefined;
  }

  /** Complaints about a mailbox since `windowStart`, and strictly after `after` (its last resume). */
  countComplaints(mailboxId: string, windowStart: string, after: string | null): number {
    return (
      this.db
        .prepare(
          'SELECT COUNT(*) AS n FROM complaints WHERE mailbox_id = ? AND created_at >= ? AND (? IS NULL OR created_at > ?)',
        )
        .get(mailboxId, windowStart, after, after) as { n: number }
    ).n;
  }
}
