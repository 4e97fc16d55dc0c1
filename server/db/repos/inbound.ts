import type { Db } from '../open.js';

export interface InboundRecipient {
  address: string;
  /** null for our VERP return-path addresses: the message is a report about an outbound delivery. */
  mailbox_id: string | null;
}

export interface InboundRow {
  id: string;
  raw_hash: string;
  mail_from: string;
  recipients: string;
  remote_ip: string;
  helo: string | null;
  secure: number;
  size: number;
  state: 'accepted' | 'processed' | 'failed';
  attempts: number;
  last_error: string | null;
  received_at: string;
  processed_at: string | null;
  /** The MX session that accepted it, or the request of the send for local delivery. */
  request_id?: string | null;
}

/** The MX's acceptance queue. Not org-scoped: one SMTP transaction may deliver to several orgs. */
export class InboundRepo {
  constructor(private readonly db: Db) {}

  insert(row: InboundRow): void {
    this.db
      .prepare(
        `INSERT INTO inbound (id, raw_hash, mail_from, recipients, remote_ip, helo, secure, size, state, attempts, last_error, received_at, processed_at, request_id)
         VALUES (@id, @raw_hash, @mail_from, @recipients, @remote_ip, @helo, @secure, @size, @state, @attempts, @last_error, @received_at, @processed_at, @request_id)`,
      )
      .run({ ...row, request_id: row.request_id ?? null });
  }

  get(id: string): InboundRow | undefined {
    return this.db.prepare('SELECT * FROM inbound WHERE id = ?').get(id) as InboundRow | undefined;
  }

  pending(limit: number): InboundRow[] {
    return this.db
      .prepare("SELECT * FROM inbound WHERE state = 'accepted' ORDER BY id LIMIT ?")
      .all(limit) as InboundRow[];
  }

  markProcessed(id: string, at: string): void {
    this.db.prepare("UPDATE inbound SET state = 'processed', processed_at = ? WHERE id = ?").run(at, id);
  }

  recordFailure(id: string, error: string, giveUp: boolean): void {
    this.db
      .prepare('UPDATE inbound SET attempts = attempts + 1, last_error = ?, state = ? WHERE id = ?')
      .run(error.slice(0, 500), giveUp ? 'failed' : 'accepted', id);
  }

  /** Messages parked for the operator: corrupt, or failed on every attempt. */
  countParked(): number {
    return (
      this.db.prepare("SELECT count(*) AS n FROM inbound WHERE state = 'failed'").get() as { n: number }
    ).n;
  }

  /**
   * Processed rows whose every message is gone (retention) are no longer needed. Each is looked up in
   * the messages' inbound index: `NOT IN (SELECT inbound_id FROM messages)` built a list of every
   * message's inbound id first, in memory since `temp_store = MEMORY`.
   */
  deleteOrphansBefore(cutoff: string): number {
    return this.db
      .prepare(
        `DELETE FROM inbound WHERE state <> 'accepted' AND received_at < ?
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.inbound_id = inbound.id)`,
      )
      .run(cutoff).changes;
  }
}
