/**
 * The MTA-STS policy (RFC 8461) every hosted domain publishes: the managed domain and each custom
 * domain we receive for. All of them name the same MX, so they share one policy text and one id.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { Deps } from '../deps.js';

/** RFC 8461 §3.2: the policy host is this label under the Policy Domain. */
export const MTA_STS_LABEL = 'mta-sts';

/** RFC 8461 §3.2: `key: value` lines ending in CRLF; max_age in seconds. */
export function mtaStsPolicy(deps: Deps): string {
  const lines = [
    'version: STSv1',
    `mode: ${deps.config.mtaStsMode}`,
    `mx: ${deps.mxHost}`,
    `max_age: ${Math.floor(deps.config.mtaStsMaxAge / 1000)}`,
  ];
  return lines.map((line) => `${line}\r\n`).join('');
}

/**
 * RFC 8461 §3.1: senders refetch the policy only when the TXT id changes, so the id is derived from
 * the policy text itself (1–32 alphanumerics) and changes exactly when the policy does.
 */
export function mtaStsPolicyId(deps: Deps): string {
  return createHash('sha256').update(mtaStsPolicy(deps)).digest('hex').slice(0, 20);
}

/**
 * The policy domain a request's Host names, when that is `mta-sts.<domain>` for a domain we host;
 * null for any other host. A custom domain counts while we receive its mail (verified, or flagged
 * after its records broke), the same rule the MX applies.
 */
export function policyDomainForHost(deps: Deps, host: string): string | null {
  const name = host.toLowerCase().replace(/\.$/, '');
  const prefix = `${MTA_STS_LABEL}.`;
  if (!name.startsWith(prefix)) return null;
  const domain = name.slice(prefix.length);
  if (domain === deps.config.mailDomain) return domain;
  const row = deps.repos.domains.liveByName(domain);
  return row && (row.status === 'verified' || row.status === 'failed') ? domain : null;
}

/** The host `mta-sts.<domain>` points at: our public host, by CNAME, or by A/AAAA when it is an IP. */
export function publicHostTarget(deps: Deps): { type: 'CNAME' | 'A' | 'AAAA'; value: string } {
  const host = new URL(deps.publicUrl()).hostname.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(host);
  if (family === 4) return { type: 'A', value: host };
  if (family === 6) return { type: 'AAAA', value: host };
  return { type: 'CNAME', value: host };
}
