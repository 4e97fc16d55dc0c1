import type { Deps } from '../deps.js';
import { addMs, DAY_MS, toIso } from '../lib/clock.js';
import type { Job } from './scheduler.js';

/**
 * CONTRACT §4: incoming messages are kept `retention_days` per mailbox. Expired messages go with their
 * attachments, search entries, emptied threads, and the raw and attachment bytes nothing else uses.
 */
export function retentionPurge(deps: Deps): Job {
  return {
    name: 'retention_purge',
    run() {
      const now = toIso(deps.clock.now());
      let deleted = 0;
      for (;;) {
        const batch = deps.repos.messages.expiredIncoming(now, 500);
        if (batch.length === 0) break;
        deps.db.transaction(() => {
          for (const message of batch) deps.repos.messages.deleteWithSearch(message.id, message.rowid);
          deps.repos.threads.refreshCounts([...new Set(batch.map((m) => m.thread_id))]);
        })();
        deleted += batch.length;
      }
      if (deleted === 0) return { deleted };
      const sweep = deps.db.transaction(() => ({
        threads: deps.repos.threads.deleteEmpty(),
        inbound: deps.repos.inbound.deleteOrphansBefore(toIso(addMs(deps.clock.now(), -DAY_MS))),
        blobs: deps.repos.blobs.deleteUnreferenced(),
      }))();
      deps.log.info({ event: 'retention.purged', messages: deleted, ...sweep }, 'retention purge');
      return { deleted, ...sweep };
    },
  };
}
