/**
 * Policy discovery for outbound MTA-STS (RFC 8461 §3, §5.1): the recipient domain's `_mta-sts` TXT
 * id, the policy fetched over HTTPS with a verified certificate, and a cache in SQLite honouring
 * max_age and refetching only when the id changes.
 */
import { request, type Dispatcher } from 'undici';
import type { MtaStsPolicyRow } from '../db/repos/mta-sts-policies.js';
import type { Deps } from '../deps.js';
import { MTA_STS_LABEL } from '../domains/mta-sts.js';
import { addMs, toIso } from '../lib/clock.js';
import { parseStsPolicy, parseStsRecord, type MtaStsMode, type MtaStsPolicy } from './mta-sts-policy.js';

/** RFC 8461 §3.3 leaves the size limit to senders; 64 KB is what common implementations use. */
const POLICY_MAX_BYTES = 64 * 1024;

export interface PolicyLookup {
  /** The policy to apply; null when the domain has none (or none could be learnt and none is cached). */
  policy: MtaStsPolicy | null;
  /** Why a fresh policy could not be had, when discovery failed along the way. */
  problem: string | null;
}

export interface MtaStsDiscovery {
  /**
   * Not cut short by one delivery's signal: deliveries to a domain share the lookup, and one attempt
   * ending must not turn another's policy into "none". The fetch has its own timeouts.
   */
  lookup(domain: string): Promise<PolicyLookup>;
}

function fromRow(row: MtaStsPolicyRow): MtaStsPolicy {
  return { mode: row.mode as MtaStsMode, mx: JSON.parse(row.mx) as string[], maxAge: row.max_age };
}

/** Reads at most `limit` bytes of a body; more is an error, and the rest is never downloaded. */
async function readCapped(body: AsyncIterable<Buffer>, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function createMtaStsDiscovery(
  deps: Deps,
  options: { dispatcher: Dispatcher; port: number },
): MtaStsDiscovery {
  /** Deliveries to one domain that run at once share one discovery. */
  const running = new Map<string, Promise<PolicyLookup>>();

  /** The `_mta-sts` TXT id; null when the domain publishes none (or the lookup failed). */
  async function policyId(domain: string): Promise<string | null> {
    try {
      return parseStsRecord((await deps.resolve(`_mta-sts.${domain}`, 'TXT')) as string[][]);
    } catch {
      return null;
    }
  }

  /** RFC 8461 §3.3: HTTPS with a valid certificate, 200 only (no redirects), text/plain, no cache. */
  async function fetchPolicy(domain: string): Promise<MtaStsPolicy | { error: string }> {
    const port = options.port === 443 ? '' : `:${options.port}`;
    const url = `https://${MTA_STS_LABEL}.${domain}${port}/.well-known/mta-sts.txt`;
    const timeout = deps.config.outboundTimeout;
    try {
      const response = await request(url, {
        dispatcher: options.dispatcher,
        headers: { 'cache-control': 'no-cache', accept: 'text/plain' },
        headersTimeout: timeout,
        bodyTimeout: timeout,
        // The two timeouts above are idle timers: a host dripping a byte at a time would keep every
        // attempt to the domain waiting. The whole fetch gets one deadline.
        signal: AbortSignal.timeout(timeout),
      });
      const type = String(response.headers['content-type'] ?? '');
      if (response.statusCode !== 200 || !/^text\/plain\s*(;|$)/i.test(type)) {
        await response.body.dump();
        return {
          error:
            response.statusCode === 200
              ? `content type ${JSON.stringify(type)} is not text/plain`
              : response.statusCode >= 300 && response.statusCode < 400
                ? `HTTP ${response.statusCode} (redirects are not followed)`
                : `HTTP ${response.statusCode}`,
        };
      }
      const body = await readCapped(response.body, POLICY_MAX_BYTES);
      if (body === null) {
        response.body.destroy();
        return { error: `policy larger than ${POLICY_MAX_BYTES} bytes` };
      }
      return parseStsPolicy(body.toString('utf8'));
    } catch (err) {
      const e = err as Error & { code?: string };
      return { error: `${e.code ? `${e.code}: ` : ''}${e.message}` };
    }
  }

  async function discover(domain: string): Promise<PolicyLookup> {
    const now = deps.clock.now();
    const row = deps.repos.mtaStsPolicies.get(domain);
    const cached = row && new Date(row.expires_at) > now ? row : undefined;
    const id = await policyId(domain);
    // RFC 8461 §5.1 and §8.3: without a TXT record an unexpired cached policy still applies (that is
    // how a policy is withdrawn safely); with the same id the cached policy is current.
    if (id === null || (cached && cached.policy_id === id)) {
      return { policy: cached ? fromRow(cached) : null, problem: null };
    }
    const fetched = await fetchPolicy(domain);
    if ('error' in fetched) {
      deps.log.warn(
        { event: 'outbound.mta_sts_fetch_failed', domain, reason: fetched.error, cached: Boolean(cached) },
        'MTA-STS policy could not be fetched',
      );
      // §5.1: a policy that cannot be refreshed keeps applying until it expires.
      return {
        policy: cached ? fromRow(cached) : null,
        problem: `MTA-STS policy fetch failed: ${fetched.error}`,
      };
    }
    deps.repos.mtaStsPolicies.upsert({
      domain,
      policy_id: id,
      mode: fetched.mode,
      mx: JSON.stringify(fetched.mx),
      max_age: fetched.maxAge,
      fetched_at: toIso(now),
      expires_at: toIso(addMs(now, fetched.maxAge * 1000)),
    });
    deps.log.info(
      {
        event: 'outbound.mta_sts_fetched',
        domain,
        policy_id: id,
        mode: fetched.mode,
        max_age: fetched.maxAge,
      },
      'MTA-STS policy fetched',
    );
    return { policy: fetched, problem: null };
  }

  return {
    lookup(domain) {
      const existing = running.get(domain);
      if (existing) return existing;
      const pending = discover(domain).finally(() => running.delete(domain));
      running.set(domain, pending);
      return pending;
    },
  };
}
