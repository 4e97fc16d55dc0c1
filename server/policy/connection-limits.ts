import type { Clock } from '../lib/clock.js';
import { clientKey } from './client-key.js';
import { RateLimiter } from './rate-limit.js';

export interface ConnectionLimitsConfig {
  /** Connections one client IP may hold open at once. */
  perIp: number;
  /** New connections one client IP may open per minute. */
  ratePerMinute: number;
}

export type Admission =
  { ok: true; release(): void } | { ok: false; reason: 'too_many_connections' | 'connecting_too_fast' };

const MINUTE_MS = 60_000;

/**
 * Per-client caps for one listener (MX, submission, IMAP): a single source can neither hold every
 * slot of the global `maxClients` cap nor churn through them, so other senders keep getting in.
 */
export class ConnectionLimits {
  private readonly open = new Map<string, number>();
  private readonly rate: RateLimiter;

  constructor(
    clock: Clock,
    private readonly config: ConnectionLimitsConfig,
  ) {
    this.rate = new RateLimiter(clock, config.ratePerMinute, MINUTE_MS);
  }

  /** Counts a new connection from `ip` (an IPv6 client by its /64); call `release` once it closes. */
  admit(ip: string): Admission {
    const key = clientKey(ip);
    const current = this.open.get(key) ?? 0;
    if (current >= this.config.perIp) return { ok: false, reason: 'too_many_connections' };
    if (!this.rate.hit(key).allowed) return { ok: false, reason: 'connecting_too_fast' };
    this.open.set(key, current + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.open.get(key) ?? 1) - 1;
        if (left <= 0) this.open.delete(key);
        else this.open.set(key, left);
      },
    };
  }
}
