import type { Deps } from '../deps.js';
import { toIso } from '../lib/clock.js';
import type { Job } from './scheduler.js';

/**
 * SMTP, IMAP and WebSocket sessions check their key once, at login: a key that expires while they are
 * open must end them the way a revocation does, or an expired key keeps reading mail for as long as
 * the client stays connected. Each run ends the sessions of keys that expired since the last run.
 */
export function keyExpirySessions(deps: Deps): Job {
  // Sessions only exist from this start on, and their keys were unexpired at login.
  let since = toIso(deps.clock.now());
  return {
    name: 'key_expiry_sessions',
    run() {
      const now = toIso(deps.clock.now());
      const expired = deps.repos.apiKeys.expiredBetween(since, now);
      since = now;
      deps.revocations.announce(expired);
      return { ended: expired.length };
    },
  };
}
