import type { Deps } from '../deps.js';
import { addMs, DAY_MS, toIso } from '../lib/clock.js';
import type { Job } from './scheduler.js';

const BATCH = 500;
/** Blobs looked at per step of the sweep: about a millisecond of the event loop each. */
const SWEEP_STEP = 1000;

/**
 * CONTRACT §4: incoming messages are kept `retention_days` per mailbox. Expired messages go with their
 * attachments, search entries, emptied threads, the raw and attachment bytes nothing else uses, and the
 * events about them (a `message.inbound` carries the whole message, so it must not outlive it).
 */
export function retentionPurge(deps: Deps): Job {
  return {
    name: 'retention_purge',
    async run() {
      const now = toIso(deps.clock.now());
      let deleted = 0;
      let events = 0;
      let emptied = 0;
      for (;;) {
        const batch = deps.repos.messages.expiredIncoming(now, BATCH);
        if (batch.length === 0) break;
        deps.db.transaction(() => {
          for (const message of batch) deps.repos.messages.deleteWithSearch(message.id, message.rowid);
          const threads = [...new Set(batch.map((m) => m.thread_id))];
          emptied += deps.repos.threads.deleteEmpty(threads);
          deps.repos.threads.refreshCounts(threads);
          events += deps.repos.events.deleteAbout(
            batch.map((m) => m.id),
            threads,
          );
        })();
        deleted += batch.length;
      }
      if (deleted === 0) return { deleted };
      const sweep = {
        threads: emptied,
        inbound: deps.repos.inbound.deleteOrphansBefore(toIso(addMs(deps.clock.now(), -DAY_MS))),
        blobs: await sweepBlobs(deps),
      };
      deps.log.info({ event: 'retention.purged', messages: deleted, events, ...sweep }, 'retention purge');
      return { deleted, events, ...sweep };
    },
  };
}

/**
 * Deletes the blobs nothing refers to any more, a step at a time: the sweep looks at every blob (a second
 * of work at 1,000,000), and between steps the event loop serves mail. Each step's delete checks the
 * references it relies on, so what arrives meanwhile is never swept.
 */
async function sweepBlobs(deps: Deps): Promise<number> {
  let deleted = 0;
  for (let after = ''; ;) {
    const step = deps.repos.blobs.sweepAfter(after, SWEEP_STEP);
    deleted += step.deleted;
    if (step.last === null) return deleted;
    after = step.last;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * The event log keeps events for LOFTBOX_EVENT_RETENTION, and webhook delivery attempts as long. The
 * highest sequence deleted becomes the retention floor: a consumer whose cursor is below it has missed
 * events and must resync.
 */
export function eventRetentionPurge(deps: Deps): Job {
  return {
    name: 'event_retention_purge',
    run() {
      const before = toIso(addMs(deps.clock.now(), -deps.config.eventRetention));
      let deleted = 0;
      for (;;) {
        const batch = deps.db.transaction(() => {
          const result = deps.repos.events.deleteOlderThan(before, BATCH);
          if (result.deleted > 0) deps.repos.events.setMark('retention_floor', result.throughSeq);
          return result;
        })();
        deleted += batch.deleted;
        if (batch.deleted < BATCH) break;
      }
      const attempts = deps.repos.webhooks.deleteAttemptsBefore(before);
      if (deleted + attempts > 0)
        deps.log.info(
          { event: 'events.purged', events: deleted, webhook_attempts: attempts },
          'event log retention',
        );
      return { deleted, attempts };
    },
  };
}

/**
 * The daily send limit reads one counter row per org and UTC day (migration 0020); the triggers add a row
 * for every day an org sends, and nothing else needs the old ones. The day before is kept so a limit check
 * that started just before midnight still finds its row.
 */
export function sendCountPurge(deps: Deps): Job {
  return {
    name: 'send_count_purge',
    run() {
      const keepFrom = toIso(addMs(deps.clock.now(), -DAY_MS)).slice(0, 10);
      return { deleted: deps.repos.messages.pruneSentCounts(keepFrom) };
    },
  };
}
