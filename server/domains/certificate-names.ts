import { isIP } from 'node:net';
import type { Deps } from '../deps.js';
import { MTA_STS_LABEL, publicHostTarget } from './mta-sts.js';

/** Resolver codes that are an answer (no such name, no record of the type), not a failure to get one. */
const NO_ANSWER = new Set(['ENOTFOUND', 'ENODATA']);

/** The name's A and AAAA addresses, or null when DNS did not answer (a timeout, SERVFAIL). */
async function addresses(deps: Deps, name: string): Promise<string[] | null> {
  const found: string[] = [];
  for (const type of ['A', 'AAAA']) {
    try {
      found.push(...((await deps.resolve(name, type)) as string[]));
    } catch (err) {
      if (!NO_ANSWER.has((err as NodeJS.ErrnoException).code ?? '')) return null;
    }
  }
  return found;
}

/**
 * The names our certificate must cover: the public host, the host mail clients use, the MX host, and
 * `mta-sts.<domain>` for the managed domain and every domain we receive for (CONTRACT §13).
 *
 * An `mta-sts` record never gates a domain's verification, so many domains will not have one: an
 * authorization for it would fail and take the whole order down with it, for every tenant. Such a name is
 * included only once every address it resolves to is one of our public host's (the target we ask domains
 * to point it at): a CA may validate over any of them.
 *
 * A lookup DNS does not answer decides nothing: a name already in `current` (the certificate in service)
 * stays, one that is not stays out. Otherwise every resolver hiccup would drop names and add them back an
 * hour later, each time spending a certificate of the CA's weekly limit.
 */
export async function certificateNames(deps: Deps, current: readonly string[] = []): Promise<string[]> {
  const names = new Set<string>([deps.mxHost]);
  const publicHost = deps.config.publicUrl ? new URL(deps.config.publicUrl).hostname : null;
  for (const host of [publicHost, deps.config.mailClientHost]) {
    if (host && isIP(host.replace(/^\[(.*)\]$/, '$1')) === 0) names.add(host.toLowerCase());
  }
  if (publicHost) {
    const target = publicHostTarget(deps);
    const targets = target.type === 'CNAME' ? await addresses(deps, target.value) : [target.value];
    const ours = targets === null ? null : new Set(targets);
    const kept = new Set(current);
    const domains = [deps.config.mailDomain, ...deps.repos.domains.liveNames()];
    for (const domain of domains) {
      const name = `${MTA_STS_LABEL}.${domain}`;
      const found = ours === null ? null : await addresses(deps, name);
      const ourName =
        ours === null || found === null
          ? kept.has(name)
          : found.length > 0 && found.every((address) => ours.has(address));
      if (ourName) names.add(name);
    }
  }
  return [...names].sort();
}
