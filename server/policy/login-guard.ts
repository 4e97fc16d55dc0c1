import type { Clock } from '../lib/clock.js';
import { clientKey } from './client-key.js';

interface Window {
  start: number;
  failures: number;
}

interface Spread {
  start: number;
  /** Distinct clients that failed on the address; stops growing at the threshold. */
  clients: Set<string>;
}

export interface LoginGuardLimits {
  /** Failures of one client, on one address or across addresses, before that client is locked. */
  limit: number;
  /** Window of failures and length of a lockout. */
  windowMs: number;
  /** Distinct failing clients that make an address "under a spread attack". */
  spreadClients: number;
}

/** Past this many tracked keys, expired windows are swept on the next failure. */
const SWEEP_AT = 100_000;

/**
 * Brute-force guard for SMTP and IMAP logins (TESTPLAN §12). Failures lock the client (an IPv4
 * address or an IPv6 /64) that made them,
 * never the address for everyone: a stranger failing on purpose cannot lock the owner out.
 *
 * - per address + client: `limit` failures lock that client out of that address;
 * - per client: `limit` failures across any addresses lock that client out of all of them;
 * - per address, only under a spread attack (`spreadClients` distinct clients failing in the window):
 *   any client that has failed on the address is locked, so each attacking client gets one guess,
 *   while a client with no failures is still let in with the right key.
 *
 * A lockout refuses even the right password, so the guard is no oracle.
 */
export class LoginGuard {
  private readonly pairs = new Map<string, Window>();
  private readonly clients = new Map<string, Window>();
  private readonly spreads = new Map<string, Spread>();

  constructor(
    private readonly clock: Clock,
    private readonly limits: LoginGuardLimits,
  ) {}

  private live<T extends { start: number }>(map: Map<string, T>, key: string, now: number): T | undefined {
    const entry = map.get(key);
    if (entry && now - entry.start >= this.limits.windowMs) {
      map.delete(key);
      return undefined;
    }
    return entry;
  }

  locked(address: string, ip: string): boolean {
    const now = this.clock.now().getTime();
    const client = clientKey(ip);
    const account = address.toLowerCase();
    const pairFailures = this.live(this.pairs, `${account}\0${client}`, now)?.failures ?? 0;
    if (pairFailures >= this.limits.limit) return true;
    if ((this.live(this.clients, client, now)?.failures ?? 0) >= this.limits.limit) return true;
    const spread = this.live(this.spreads, account, now);
    return pairFailures > 0 && (spread?.clients.size ?? 0) >= this.limits.spreadClients;
  }

  recordFailure(address: string, ip: string): void {
    const now = this.clock.now().getTime();
    const client = clientKey(ip);
    const account = address.toLowerCase();
    for (const [map, key] of [
      [this.pairs, `${account}\0${client}`],
      [this.clients, client],
    ] as const) {
      const window = this.live(map, key, now) ?? { start: now, failures: 0 };
      window.failures += 1;
      map.set(key, window);
    }
    const spread = this.live(this.spreads, account, now) ?? { start: now, clients: new Set<string>() };
    if (spread.clients.size < this.limits.spreadClients) spread.clients.add(client);
    this.spreads.set(account, spread);
    if (this.pairs.size + this.clients.size + this.spreads.size > SWEEP_AT) this.sweep(now);
  }

  private sweep(now: number): void {
    for (const map of [this.pairs, this.clients, this.spreads] as Map<string, { start: number }>[]) {
      for (const key of [...map.keys()]) this.live(map, key, now);
    }
  }
}
