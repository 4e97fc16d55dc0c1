import { createHash } from 'node:crypto';
import type { Db } from '../open.js';

/** A message's raw bytes as clients read them: its prefix (migration 0023), if any, then its blob. */
export function prefixed(prefix: Buffer | null, data: Buffer): Buffer {
  return prefix ? Buffer.concat([prefix, data]) : data;
}

/** Content-addressed storage: the same bytes are kept once, whoever sent them. */
export class BlobsRepo {
  constructor(private readonly db: Db) {}

  put(data: Buffer): string {
    const hash = createHash('sha256').update(data).digest('hex');
    this.db
      .prepare('INSERT OR IGNORE INTO blobs (hash, size, data) VALUES (?, ?, ?)')
      .run(hash, data.length, data);
    return hash;
  }

  /** A message's raw bytes as clients read them; undefined when it has none stored. */
  rawOf(message: { raw_hash: string | null; raw_prefix: Buffer | null }): Buffer | undefined {
    const data = message.raw_hash ? this.get(message.raw_hash) : undefined;
    return data && prefixed(message.raw_prefix, data);
  }

  get(hash: string): Buffer | undefined {
    const row = this.db.prepare('SELECT data FROM blobs WHERE hash = ?').get(hash) as
      { data: Buffer } | undefined;
    return row?.data;
  }

  /**
   * One step of the sweep after retention purges: of the next `limit` blobs after `after` in hash
   * order, deletes those nothing refers to any more. The hashes come from the hash index, not the table
   * with the bytes, and each is looked up in the indexes on its referrers (migration 0022). `last` is
   * where the next step starts; null once every blob has been looked at.
   */
  sweepAfter(after: string, limit: number): { deleted: number; last: string | null } {
    const { last } = this.db
      .prepare('SELECT max(hash) AS last FROM (SELECT hash FROM blobs WHERE hash > ? ORDER BY hash LIMIT ?)')
      .get(after, limit) as { last: string | null };
    if (last === null) return { deleted: 0, last: null };
    const { changes } = this.db
      .prepare(
        `DELETE FROM blobs WHERE hash > ? AND hash <= ?
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.raw_hash = blobs.hash)
           AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.blob_hash = blobs.hash)
           AND NOT EXISTS (SELECT 1 FROM inbound i WHERE i.raw_hash = blobs.hash)`,
      )
      .run(after, last);
    return { deleted: changes, last };
  }
}
