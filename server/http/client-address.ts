import type { Context } from 'koa';
import type { Deps } from '../deps.js';

/**
 * Forwarded headers are lists each proxy appends to, so only the last `hops` entries come from
 * proxies we run; anything further left is whatever the client wrote. This picks the entry the
 * outermost trusted proxy added — the same rule Koa's maxIpsCount applies to ctx.ip.
 */
function trustedEntry(header: string, hops: number): string | undefined {
  const entries = header
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  return entries.slice(-hops)[0];
}

// A host name or IP literal with an optional port: nothing that could break out of a URL or a quote.
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?)(:\d{1,5})?$/i;

/**
 * The origin the client addressed: its Host header, or X-Forwarded-Host and -Proto when they come
 * from a trusted proxy (LOFTBOX_TRUST_PROXY_HOPS). The HTTP listener itself speaks plain HTTP.
 * Null when the header is not a plain host.
 */
export function requestOrigin(ctx: Context, hops: number): string | null {
  let host = ctx.get('host');
  let proto = 'http';
  if (hops > 0) {
    host = trustedEntry(ctx.get('x-forwarded-host'), hops) ?? host;
    proto = trustedEntry(ctx.get('x-forwarded-proto'), hops)?.toLowerCase() ?? proto;
  }
  if (!HOST.test(host) || (proto !== 'http' && proto !== 'https')) return null;
  return `${proto}://${host.toLowerCase()}`;
}

/** Where clients reach this server: LOFTBOX_PUBLIC_URL when set, else the origin this request used. */
export function publicOrigin(ctx: Context, deps: Deps): string {
  if (deps.config.publicUrl) return deps.publicUrl();
  return requestOrigin(ctx, deps.config.trustProxyHops) ?? deps.publicUrl();
}
