import type { Db } from '../open.js';

export interface SuppressionRow {
  id: string;
  org_id: string;
  address: string;
  reason: 'hard_bounce' | 'complaint' | 'manual';
  source_message_id: string | null;
  created_at: string;
  expires_at: string | null;
}

export class SuppressionsRepo {
  constructor(private readonly db: Db) {}

  /** Adds or refreshes the suppression of an address; returns the stored row. */
  upsert(row: SuppressionRow): SuppressionRow {
    return this.db
      .prepare(
        `INSERT INTO suppressions (id, org_id, address, reason, source_message_id, created_at, expires_at)
         VALUES (@id, @org_id, @address, @reason, @source_message_id, @created_at, @expires_at)
         ON CONFLICT (org_id, address) DO UPDATE SET reason = excluded.reason,
           source_message_id = excluded.source_message_id, expires_at = excluded.expires_at
         RETURNING *`,
      )
      .get(row) as SuppressionRow;
  }

  /** Live suppressions among the given addresses. */
  active(orgId: string, addresses: string[], now: string): SuppressionRow[] {
    return this.db
      .prepare(
        `SELECT * FROM suppressions WHERE org_id = ? AND address IN (SELECT value FROM json_each(?))
           AND (expires_at IS NULL OR expires_at > ?)`,
      )
      .all(orgId, JSON.stringify(addresses), now) as SuppressionRow[];
  }

  get(orgId: string, id: string): SuppressionRow | undefined {
    return this.db.prepare('SELECT * FROM suppressions WHERE org_id = ? AND id = ?').get(orgId, id) as
      SuppressionRow | undefined;
  }

  list(orgId: string, beforeId: string | null, limit: number): SuppressionRow[] {
    return this.db
      .prepare(
        'SELECT * FROM suppressions WHERE org_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?',
      )
      .all(orgId, beforeId, beforeId, limit) as SuppressionRow[];
  }

  delete(orgId: string, id: string): void {
    this.db.prepare('DELETE FROM suppressions WHERE org_id = ? AND id = ?').run(orgId, id);
  }

  deleteAddress(orgId: string, address: string): void {
    this.db.prepare('DELETE FROM suppressions WHERE org_id = ? AND address = ?').run(orgId, address);
  }
}
