import type { Db } from '../open.js';

export interface IdempotencyRow {
  org_id: string;
  key: string;
  request_hash: string;
  message_id: string;
  created_at: string;
}

export class IdempotencyRepo {
  constructor(private readonly db: Db) {}

  get(orgId: string, key: string, since: string): IdempotencyRow | undefined {
    return this.db
      .prepare('SELECT * FROM idempotency_keys WHERE org_id = ? AND key = ? AND created_at >= ?')
      .get(orgId, key, since) as IdempotencyRow | undefined;
  }

  /** An expired key may be reused: the new request replaces it. */
  put(row: IdempotencyRow): void {
    this.db
      .prepare(
        `INSERT INTO idempotency_keys (org_id, key, request_hash, message_id, created_at)
         VALUES (@org_id, @key, @request_hash, @message_id, @created_at)
         ON CONFLICT (org_id, key) DO UPDATE SET request_hash = excluded.request_hash,
           message_id = excluded.message_id, created_at = excluded.created_at`,
      )
      .run(row);
  }

  deleteBefore(cutoff: string): number {
    return this.db.prepare('DELETE FROM idempotency_keys WHERE created_at < ?').run(cutoff).changes;
  }
}
