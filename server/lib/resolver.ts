import { Resolver } from 'node:dns/promises';

/**
 * The DNS seam: one resolver for every lookup the server makes (mail authentication, MX lookups,
 * domain verification), pointed at LOFTBOX_DNS_SERVERS when set, so tests answer from a loopback zone.
 */
export type DnsResolve = (name: string, rrtype: string) => Promise<unknown[]>;

export function createResolver(servers: string | null, timeoutMs = 5000): DnsResolve {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers) resolver.setServers(servers.split(','));
  return (name, rrtype) => resolver.resolve(name, rrtype) as Promise<unknown[]>;
}
