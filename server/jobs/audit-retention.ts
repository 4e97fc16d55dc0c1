import type { Deps } from '../deps.js';
import { addMs, toIso } from '../lib/clock.js';
import type { Job } from './scheduler.js';

const BATCH = 500;

/** The audit log keeps entries for LOFTBOX_AUDIT_RETENTION; deletes go in batches so no write waits long. */
export function auditRetentionPurge(deps: Deps): Job {
  return {
    name: 'audit_retention_purge',
    run() {
      const before = toIso(addMs(deps.clock.now(), -deps.config.auditRetention));
      let deleted = 0;
      for (;;) {
        const batch = deps.repos.audit.deleteOlderThan(before, BATCH);
        deleted += batch;
        if (batch < BATCH) break;
      }
      if (deleted > 0) deps.log.info({ event: 'audit.purged', entries: deleted }, 'audit log retention');
      return { deleted };
    },
  };
}
