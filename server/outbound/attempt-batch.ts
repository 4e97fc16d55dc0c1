import type { Db } from '../db/open.js';
import { storageFault } from '../db/storage-faults.js';
import { withRequestId } from '../lib/request-context.js';

/** Most results committed together; bounds how long one commit holds the event loop. */
const MAX_BATCH = 64;

interface Waiting {
  /** The result's writes; runs inside the shared transaction. */
  write: () => void;
  /** The request its events name (CONTRACT §6): each result keeps its own inside the shared commit. */
  requestId: string | null;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for delivery results (DESIGN §8, as the MX's acceptance): results that finish within
 * `windowMs` of each other (0: in the same turn of the event loop) share one transaction and one fsync.
 * A result's promise resolves only once its transaction has committed, so whatever depends on it (the
 * next lease of that delivery, webhooks and the stream, which read the committed log) comes after.
 *
 * A result that cannot be written must not cost the others theirs: when the shared commit fails, each is
 * retried in a transaction of its own, unless the whole database refuses writes (locked, or failing),
 * when every one of them would fail the same way.
 */
export class AttemptBatch {
  private waiting: Waiting[] = [];
  private scheduled = false;

  constructor(
    private readonly db: Db,
    private readonly windowMs: number,
  ) {}

  /** Resolves once `write` has committed; rejects with the database's error when it could not. */
  record(write: () => void, requestId: string | null): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ write, requestId, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      if (this.windowMs > 0) setTimeout(() => this.flush(), this.windowMs);
      else setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.waiting.splice(0, MAX_BATCH);
    this.scheduled = this.waiting.length > 0;
    if (this.scheduled) setImmediate(() => this.flush());
    try {
      this.commit(batch);
    } catch (err) {
      const fault = storageFault(err);
      if (batch.length === 1 || fault === 'busy' || fault === 'unavailable') {
        for (const entry of batch) entry.reject(err);
        return;
      }
      for (const entry of batch) {
        try {
          this.commit([entry]);
          entry.resolve();
        } catch (single) {
          entry.reject(single);
        }
      }
      return;
    }
    for (const entry of batch) entry.resolve();
  }

  private commit(batch: Waiting[]): void {
    this.db.transaction(() => {
      for (const entry of batch) withRequestId(entry.requestId, entry.write);
    })();
  }
}
