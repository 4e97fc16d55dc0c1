import type { Deps } from '../deps.js';
import { DAY_MS, addMs, toIso } from '../lib/clock.js';
import type { Job } from './scheduler.js';

/** Idempotency keys answer replays for 24 hours (CONTRACT §1); older ones are dropped. */
export function idempotencyPurge(deps: Deps): Job {
  return {
    name: 'idempotency_purge',
    run: () => ({ deleted: deps.repos.idempotency.deleteBefore(toIso(addMs(deps.clock.now(), -DAY_MS))) }),
  };
}
