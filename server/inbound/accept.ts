import type { InboundRecipient } from '../db/repos/inbound.js';
import { storageFault } from '../db/storage-faults.js';
import type { Deps } from '../deps.js';
import { toIso } from '../lib/clock.js';

export interface Accepted {
  /** Minted by the MX before storing, so the Received header can name it. */
  id: string;
  raw: Buffer;
  mailFrom: string;
  recipients: InboundRecipient[];
  remoteIp: string;
  helo: string | null;
  secure: boolean;
  /** The MX session id, or the request of the send for local delivery (events name it, CONTRACT §6). */
  requestId?: string | null;
}

/** Most messages committed together; bounds the latency one slow batch adds to the next. */
const MAX_BATCH = 64;

/**
 * The durable acceptance point: raw bytes and the queue row are committed (WAL fsynced,
 * synchronous=FULL) before a message's promise resolves, and only then does the MX answer 250. A crash
 * before the commit leaves nothing.
 *
 * Group commit (DESIGN §8): messages that finish DATA while a commit is being prepared share the next
 * transaction, so concurrent senders pay one fsync per batch instead of one each.
 */
export class AcceptQueue {
  private waiting: { message: Accepted; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private scheduled = false;

  constructor(private readonly deps: Deps) {}

  accept(message: Accepted): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ message, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batch = this.waiting.splice(0, MAX_BATCH);
    this.scheduled = this.waiting.length > 0;
    if (this.scheduled) setImmediate(() => this.flush());
    try {
      this.commit(batch.map((entry) => entry.message));
    } catch (err) {
      // SQLite rolls the whole transaction back on SQLITE_FULL, so one message too big for the space
      // left would refuse every message sharing its commit: those are retried one by one. A lock held
      // elsewhere or a failing disk would refuse each of them too (after the busy timeout), so not those.
      const fault = storageFault(err);
      if (batch.length === 1 || fault === 'busy' || fault === 'unavailable') {
        for (const entry of batch) entry.reject(err);
        return;
      }
      for (const entry of batch) {
        try {
          this.commit([entry.message]);
          entry.resolve();
        } catch (single) {
          entry.reject(single);
        }
      }
      return;
    }
    for (const entry of batch) entry.resolve();
  }

  private commit(messages: Accepted[]): void {
    this.deps.db.transaction(() => {
      for (const message of messages) this.store(message);
    })();
  }

  private store(message: Accepted): void {
    const { deps } = this;
    deps.repos.inbound.insert({
      id: message.id,
      raw_hash: deps.repos.blobs.put(message.raw),
      mail_from: message.mailFrom,
      recipients: JSON.stringify(message.recipients),
      remote_ip: message.remoteIp,
      helo: message.helo,
      secure: message.secure ? 1 : 0,
      size: message.raw.length,
      state: 'accepted',
      attempts: 0,
      last_error: null,
      received_at: toIso(deps.clock.now()),
      processed_at: null,
      request_id: message.requestId ?? null,
    });
  }
}
