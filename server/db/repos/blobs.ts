import { createHash } from 'node:crypto';
import type { Db } from '../open.js';

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

  get(hash: string): Buffer | undefined {
    const row = this.db.prepare('SELECT data FROM blobs WHERE hash = ?').get(hash) as
      { data: Buffer } | undefined;
    return row?.data;
  }

  /** Removes blobs nothing refers to any more (after retention purges). */
  deleteUnreferenced(): number {
    return this.db
      .prepare(
        `DELETE FROM blobs WHERE hash NOT IN (SELECT raw_hash FROM messages WHERE raw_hash IS NOT NULL)
           AND hash NOT IN (SELECT blob_hash FROM attachments)
           AND hash NOT IN (SELECT raw_hash FROM inbound)`,
      )
      .run().changes;
  }
}
