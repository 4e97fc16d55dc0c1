import { Resolver } from 'node:dns/promises';
import { systemClock, type Clock } from './clock.js';

/**
 * The DNS seam: one resolver for every lookup the server makes (mail authentication, MX lookups,
 * domain verification), pointed at LOFTBOX_DNS_SERVERS when set, so tests answer from a loopback zone.
 * `fresh` asks the servers even when a cached answer is still live (domain verification: the owner
 * has just published a record and must not wait out our cache); the fresh answer refreshes the cache.
 */
export type DnsResolve = (name: string, rrtype: string, options?: { fresh?: boolean }) => Promise<unknown[]>;

export interface DnsCacheOptions {
  /** Entries kept (least recently used evicted first); 0 turns the cache off. */
  maxEntries: number;
  clock?: Clock;
}

/** An answer with how long it may be reused. */
interface Answer {
  values: unknown[];
  ttlSeconds: number;
}

/** Node reports record TTLs for A and AAAA only; other types are kept this long. */
const UNTIMED_TTL_SECONDS = 60;
/** Upper bound on any TTL, so a zone's week-long TTL cannot pin a stale route in a long-running server. */
const MAX_TTL_SECONDS = 300;
/**
 * NXDOMAIN and NODATA (RFC 2308 §5): Node does not expose the SOA minimum that would time them, so a
 * short fixed time — long enough to absorb a burst of mail from one sender, short enough that a record
 * published a moment later is seen soon.
 */
const NEGATIVE_TTL_SECONDS = 30;
/** The two "this does not exist" answers; anything else (SERVFAIL, timeout, refused) is not cached. */
const NEGATIVE_CODES = new Set(['ENOTFOUND', 'ENODATA']);

export function createResolver(
  servers: string | null,
  timeoutMs = 5000,
  cache: DnsCacheOptions = { maxEntries: 0 },
): DnsResolve {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers) resolver.setServers(servers.split(','));
  const ask = (name: string, rrtype: string) => lookupWithTtl(resolver, name, rrtype);
  if (cache.maxEntries <= 0) return async (name, rrtype) => (await ask(name, rrtype)).values;
  return cachedResolve(ask, cache.maxEntries, cache.clock ?? systemClock);
}

async function lookupWithTtl(resolver: Resolver, name: string, rrtype: string): Promise<Answer> {
  if (rrtype === 'A' || rrtype === 'AAAA') {
    const records =
      rrtype === 'A'
        ? await resolver.resolve4(name, { ttl: true })
        : await resolver.resolve6(name, { ttl: true });
    return {
      values: records.map((r) => r.address),
      ttlSeconds: Math.min(...records.map((r) => r.ttl), MAX_TTL_SECONDS),
    };
  }
  const values = (await resolver.resolve(name, rrtype)) as unknown[];
  return { values, ttlSeconds: UNTIMED_TTL_SECONDS };
}

interface Entry {
  expiresAt: number;
  values?: unknown[];
  /** The code of a negative answer, rethrown as the resolver would throw it. */
  negative?: string;
}

/**
 * A bounded LRU of answers keyed by type and name, timed by the injected clock. Concurrent asks for
 * the same key share one query, so a burst of mail from one domain costs one lookup.
 */
function cachedResolve(
  ask: (name: string, rrtype: string) => Promise<Answer>,
  maxEntries: number,
  clock: Clock,
): DnsResolve {
  const entries = new Map<string, Entry>();
  const inFlight = new Map<string, Promise<Entry>>();

  const store = (key: string, entry: Entry) => {
    entries.delete(key);
    if (entry.expiresAt <= clock.now().getTime()) return;
    entries.set(key, entry);
    if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
  };

  const query = (key: string, name: string, rrtype: string): Promise<Entry> => {
    const pending = inFlight.get(key);
    if (pending) return pending;
    const started = clock.now().getTime();
    const settled = ask(name, rrtype).then(
      (answer) => ({ values: answer.values, expiresAt: started + answer.ttlSeconds * 1000 }),
      (err: unknown) => {
        const code = (err as { code?: string }).code ?? '';
        if (!NEGATIVE_CODES.has(code)) throw err;
        return { negative: code, expiresAt: started + NEGATIVE_TTL_SECONDS * 1000 };
      },
    );
    const tracked = settled.then(
      (entry) => {
        inFlight.delete(key);
        store(key, entry);
        return entry;
      },
      (err: unknown) => {
        inFlight.delete(key);
        throw err;
      },
    );
    inFlight.set(key, tracked);
    return tracked;
  };

  return async (name, rrtype, options) => {
    const key = `${rrtype} ${name.toLowerCase().replace(/\.$/, '')}`;
    let entry = options?.fresh ? undefined : entries.get(key);
    if (entry && entry.expiresAt > clock.now().getTime()) {
      // Touch: move to the most recently used end.
      entries.delete(key);
      entries.set(key, entry);
    } else {
      entry = await query(key, name, rrtype);
    }
    if (entry.negative) throw negativeError(entry.negative, name, rrtype);
    // Callers own what they get back (they sort and slice it): never hand out the cached arrays.
    return copyAnswer(entry.values ?? []);
  };
}

/**
 * A copy of a cached answer. node:dns answers are at most two levels deep (TXT: arrays of strings; MX,
 * SRV, SOA, CAA: flat records; the rest strings), so this is a deep copy without structuredClone's
 * serialisation, which showed in the inbound profile.
 */
function copyAnswer(values: unknown[]): unknown[] {
  return values.map((value) =>
    Array.isArray(value)
      ? [...(value as unknown[])]
      : typeof value === 'object' && value !== null
        ? { ...value }
        : value,
  );
}

/**
 * The same shape node:dns throws, so callers (mailauth, delivery) read `code` as before. Without a stack
 * trace: a cached NXDOMAIN or NODATA is thrown on every message from a domain without DMARC, and capturing
 * the stack was most of its cost; nothing reads it.
 */
function negativeError(code: string, name: string, rrtype: string): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return Object.assign(new Error(`query${rrtype} ${code} ${name}`), {
      code,
      syscall: `query${rrtype}`,
      hostname: name,
    });
  } finally {
    Error.stackTraceLimit = limit;
  }
}
