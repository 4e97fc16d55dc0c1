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
   * Removes blobs nothing refers to any more (after retention purges). The hashes are read from the
   * hash index, not the table with the bytes, and each is looked up in the indexes on its referrers
   * (migration 0022): a sweep holds in memory only the hashes it deletes.
   */
  deleteUnreferenced(): number {
    return this.db
      .prepare(
        `DELETE FROM blobs WHERE hash IN (
           SELECT b.hash FROM blobs b
            WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.raw_hash = b.hash)
              AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.blob_hash = b.hash)
              AND NOT EXISTS (SELECT 1 FROM inbound i WHERE i.raw_hash = b.hash))`,
      )
      .run().changes;
  }
}
