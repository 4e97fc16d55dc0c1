import type { Deps } from '../deps.js';
import { addMs, DAY_MS, toIso } from '../lib/clock.js';
import type { Job } from './scheduler.js';

/**
 * CONTRACT §4: organizations never verified (owner signup) or claimed (agent signup) are deleted
 * with all their data once they are older than the configured number of days.
 */
export function unclaimedOrgPurge(deps: Deps): Job {
  return {
    name: 'unclaimed_org_purge',
    run() {
      const cutoff = toIso(addMs(deps.clock.now(), -deps.config.unclaimedOrgDays * DAY_MS));
      let deleted = 0;
      for (;;) {
        const batch = deps.repos.organizations.unverifiedCreatedBefore(cutoff, 100);
        if (batch.length === 0) break;
        for (const org of batch) {
          deps.repos.organizations.delete(org.id);
          deps.log.info(
            { event: 'org.purged_unclaimed', org_id: org.id, created_at: org.created_at },
            'unclaimed org deleted',
          );
          deleted += 1;
        }
      }
      return { deleted };
    },
  };
}
