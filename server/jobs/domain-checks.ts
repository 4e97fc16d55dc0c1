import { recordAudit, SYSTEM_ORIGIN } from '../audit/record.js';
import type { Deps } from '../deps.js';
import { checkDomain, expireClaims } from '../domains/onboarding.js';
import { toIso } from '../lib/clock.js';
import type { Job } from './scheduler.js';

/**
 * Background DNS checks: pending domains with back-off, verified ones periodically (CONTRACT §3);
 * pending claims older than LOFTBOX_DOMAIN_CLAIM_TTL end.
 */
export function domainChecks(deps: Deps): Job {
  return {
    name: 'domain_checks',
    async run() {
      let checked = 0;
      for (const domain of deps.repos.domains.due(toIso(deps.clock.now()), 100)) {
        const updated = await checkDomain(deps, domain);
        if (updated.status !== domain.status) {
          recordAudit(deps, SYSTEM_ORIGIN, {
            orgId: domain.org_id,
            action: 'domain.status_change',
            target: { type: 'domain', id: domain.id },
            details: { from: domain.status, to: updated.status },
          });
        }
        checked += 1;
      }
      return { checked, expired: expireClaims(deps) };
    },
  };
}
