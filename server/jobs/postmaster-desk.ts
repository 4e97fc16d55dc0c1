import type { Deps } from '../deps.js';
import { runPostmasterDesk } from '../mail/postmaster.js';
import type { Job } from './scheduler.js';

/** Handles new postmaster@/abuse@ mail: complaints attributed, forwarded to the operator (CONTRACT §13). */
export function postmasterDesk(deps: Deps): Job {
  return { name: 'postmaster_desk', run: async () => ({ handled: await runPostmasterDesk(deps) }) };
}
