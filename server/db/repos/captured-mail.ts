import type { Db } from '../open.js';

export interface CapturedMailRow {
  id: string;
  org_id: string | null;
  kind: string;
  envelope_from: string;
  envelope_to: string;
  subject: string;
  message_id: string;
  raw: Buffer;
  created_at: string;
}

/** Operator-side store of mail the capture transport "sent"; not reachable through the tenant API. */
export class CapturedMailRepo {
  constructor(private readonly db: Db) {}

  insert(row: CapturedMailRow): void {
    this.db
      .prepare(
        `INSERT INTO captured_mail (id, org_id, kind, envelope_from, envelope_to, subject, message_id, raw, created_at)
         VALUES (@id, @org_id, @kind, @envelope_from, @envelope_to, @subject, @message_id, @raw, @created_at)`,
      )
      .run(row);
  }

  list(filter: { to?: string | undefined; limit: number }): CapturedMailRow[] {
    return this.db
      .prepare('SELECT * FROM captured_mail WHERE (? IS NULL OR envelope_to = ?) ORDER BY id DESC LIMIT ?')
      .all(filter.to ?? null, filter.to ?? null, filter.limit) as CapturedMailRow[];
  }
}
