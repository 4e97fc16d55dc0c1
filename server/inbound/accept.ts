import type { Deps } from '../deps.js';
import { toIso } from '../lib/clock.js';
import type { Accepted, Acceptance } from '../seams.js';

/**
 * The durable acceptance point: raw bytes and the queue row are committed (WAL fsynced,
 * synchronous=FULL) before a message's promise resolves, and only then does the MX answer 250. A crash
 * before the commit leaves nothing. Messages that finish DATA in the same turn share one commit.
 */
export class AcceptQueue implements Acceptance {
  constructor(private readonly deps: Deps) {}

  accept(message: Accepted): Promise<void> {
    return this.deps.commits.run(() => this.store(message));
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
