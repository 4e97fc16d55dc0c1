import { isIP } from 'node:net';
import type { Deps } from '../deps.js';
import { MTA_STS_LABEL, publicHostTarget } from './mta-sts.js';

async function addresses(deps: Deps, name: string): Promise<string[]> {
  const found: string[] = [];
  for (const type of ['A', 'AAAA']) {
    try {
      found.push(...((await deps.resolve(name, type)) as string[]));
    } catch {
      // NXDOMAIN, NODATA or a timeout: the name has no address of that family
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
 */
export async function certificateNames(deps: Deps): Promise<string[]> {
  const names = new Set<string>([deps.mxHost]);
  const publicHost = deps.config.publicUrl ? new URL(deps.config.publicUrl).hostname : null;
  for (const host of [publicHost, deps.config.mailClientHost]) {
    if (host && isIP(host.replace(/^\[(.*)\]$/, '$1')) === 0) names.add(host.toLowerCase());
  }
  if (publicHost) {
    const target = publicHostTarget(deps);
    const ours = new Set(target.type === 'CNAME' ? await addresses(deps, target.value) : [target.value]);
    const domains = [deps.config.mailDomain, ...deps.repos.domains.liveNames()];
    for (const domain of domains) {
      const name = `${MTA_STS_LABEL}.${domain}`;
      const found = await addresses(deps, name);
      if (found.length > 0 && found.every((address) => ours.has(address))) names.add(name);
    }
  }
  return [...names].sort();
}
