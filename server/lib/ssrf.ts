import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, buildConnector, type Dispatcher } from 'undici';

/**
 * SSRF guard for webhooks: tenants choose the URL, so without it a webhook could reach the metadata
 * service, the admin port on loopback or anything else on the private network. URLs are checked when a
 * webhook is created (checkWebhookUrl) and every connection is checked again when it is dialed
 * (createGuardedDispatcher), because a name that resolved to a public address at create time can
 * resolve anywhere later.
 */

export interface AddressPolicy {
  /** Addresses or CIDRs from LOFTBOX_WEBHOOK_ALLOW, e.g. ['127.0.0.1', '10.0.0.0/8', '::1']. */
  allow: string[];
}

export class ForbiddenTargetError extends Error {
  override readonly name = 'ForbiddenTargetError';
  readonly reason: string;
  /** The scheme, host or address that was refused. */
  readonly target: string;

  constructor(reason: string, target: string, message = `webhook target ${target} is forbidden (${reason})`) {
    super(message);
    this.reason = reason;
    this.target = target;
  }
}

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [Address, number];

/**
 * RFC 6890 special-purpose ranges that ipaddr.js folds into 'reserved' but that deserve their own
 * reason. Checked before ipaddr.js's own table.
 */
const NAMED_RANGES = {
  // RFC 5737 TEST-NET-1/2/3, RFC 3849 and RFC 9637 for IPv6.
  documentation: ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32', '3fff::/20'].map(
    (cidr) => ipaddr.parseCIDR(cidr),
  ),
  // RFC 2544 (IPv6's 2001:2::/48 from RFC 5180 ipaddr.js already names 'benchmarking').
  benchmarking: [ipaddr.parseCIDR('198.18.0.0/15')],
};

/**
 * IANA allocates global unicast only from 2000::/3 (RFC 4291 §2.4, IANA IPv6 Address Space). Whatever
 * ipaddr.js calls 'unicast' outside it is unallocated or special, e.g. the deprecated IPv4-compatible
 * ::a.b.c.d (RFC 4291 §2.5.5.1), which some stacks still route to the embedded IPv4 address.
 */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/** ipaddr.js range names whose reason is not simply their snake_case spelling. */
const RENAMED: Record<string, string> = {
  // RFC 6052 well-known NAT64 prefix 64:ff9b::/96 and RFC 8215 local-use 64:ff9b:1::/48.
  rfc6052: 'nat64',
  // RFC 6145 IPv4-translated ::ffff:0:0:0/96.
  rfc6145: 'ipv4_translated',
};

function reasonFor(range: string): string {
  return RENAMED[range] ?? range.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/**
 * Why an address is not a public destination, or null when it is. Anything ipaddr.js does not call
 * 'unicast' is refused: its table follows the RFC 6890 special-purpose registry (loopback, RFC 1918
 * private, link-local incl. the 169.254.169.254 metadata service, RFC 6598 CGNAT, multicast, 240/4,
 * broadcast, 192.0.0/24, fc00::/7, 100::/64 discard, RFC 3056 6to4 2002::/16, RFC 4380 Teredo
 * 2001::/32...). Translation prefixes (NAT64, 6to4, Teredo) are refused whole because they lead to an
 * embedded IPv4 address through a gateway we do not control.
 */
function classify(ip: Address): string | null {
  if (ip instanceof ipaddr.IPv6 && ip.isIPv4MappedAddress()) {
    // ::ffff:a.b.c.d is dialed as plain IPv4 on a dual-stack socket (RFC 4291 §2.5.5.2).
    const inner = classify(ip.toIPv4Address());
    return inner === null ? null : `ipv4_mapped:${inner}`;
  }
  const range = ipaddr.subnetMatch(ip, NAMED_RANGES, ip.range());
  if (range !== 'unicast') return reasonFor(range);
  if (ip instanceof ipaddr.IPv6 && !ip.match(GLOBAL_UNICAST_V6)) return 'reserved';
  return null;
}

const ALLOW_ENTRY = /^(?<host>[^/]+)(?:\/(?<bits>\d{1,3}))?$/;

/** Strict on purpose: a typo in the allow-list must fail loudly, not open or close something by accident. */
function parseAllowEntry(entry: string): Cidr {
  const groups = ALLOW_ENTRY.exec(entry.trim())?.groups;
  const host = groups?.host ?? '';
  if (isIP(host) !== 0) {
    const ip = ipaddr.parse(host);
    const width = ip.kind() === 'ipv4' ? 32 : 128;
    const bits = groups?.bits === undefined ? width : Number(groups.bits);
    if (bits <= width) return [ip, bits];
  }
  throw new TypeError(`webhook allow-list entry ${JSON.stringify(entry)} is not an IP address or CIDR`);
}

function compileAllowList(policy: AddressPolicy): Cidr[] {
  return policy.allow.map(parseAllowEntry);
}

/** An allowed IPv4 address (or CIDR) also allows its IPv4-mapped IPv6 spelling. */
function isAllowed(ip: Address, allow: Cidr[]): boolean {
  const forms = ip instanceof ipaddr.IPv6 && ip.isIPv4MappedAddress() ? [ip, ip.toIPv4Address()] : [ip];
  return allow.some(([network, bits]) =>
    forms.some((form) => form.kind() === network.kind() && form.match(network, bits)),
  );
}

function verdict(address: string, allow: Cidr[]): string | null {
  // net.isIP keeps out the inet_aton spellings (127.1, 0x7f.1) ipaddr.js would also accept: only
  // canonical literals reach net.connect, so what is checked is exactly what is dialed.
  if (isIP(address) === 0 || !ipaddr.isValid(address)) return 'invalid';
  const ip = ipaddr.parse(address);
  return isAllowed(ip, allow) ? null : classify(ip);
}

/** null when `address` (a literal IPv4 or IPv6 address) may be dialed; otherwise the reason it may not. */
export function isForbiddenAddress(address: string, policy: AddressPolicy): string | null {
  return verdict(address, compileAllowList(policy));
}

/** RFC 6761 §6.3: localhost and every name under it are loopback, whatever DNS says. */
function isLocalhostName(hostname: string): boolean {
  const name = hostname.replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/**
 * Validates a webhook URL when it is created: http(s) only, no credentials, no localhost names and no
 * forbidden literal address. WHATWG URL parsing has already turned 2130706433, 0x7f.0.0.1, 017700000001
 * and 127.1 into 127.0.0.1, lower-cased the host and refused an empty one (http and https are special
 * schemes), so only canonical forms are checked here. Names are checked again at connect time.
 * Throws TypeError for a malformed URL and ForbiddenTargetError for a refused one.
 */
export function checkWebhookUrl(url: string, policy: AddressPolicy): URL {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ForbiddenTargetError('scheme', parsed.protocol);
  }
  // Credentials in the URL would be sent as Basic auth to whoever the host turns out to be.
  if (parsed.username !== '' || parsed.password !== '')
    throw new ForbiddenTargetError('credentials', parsed.host);
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(hostname) !== 0) {
    const reason = isForbiddenAddress(hostname, policy);
    if (reason !== null) throw new ForbiddenTargetError(reason, hostname);
  } else if (isLocalhostName(hostname)) {
    throw new ForbiddenTargetError('localhost', hostname);
  }
  return parsed;
}

/** Like node:dns/promises Resolver.resolve: A and AAAA answer string[]. */
export type Resolve = (name: string, rrtype: string) => Promise<unknown[]>;

export interface GuardedDialerOptions {
  resolve: Resolve;
  policy: AddressPolicy;
  connectTimeoutMs?: number;
  /** Trusted CAs for HTTPS targets, replacing Node's bundled roots (MTA-STS adds LOFTBOX_OUTBOUND_CA_FILE). */
  ca?: string[];
  /** Test seam: observes every connection attempt (the address actually dialed) before it happens. */
  onConnect?: (info: { hostname: string; address: string; port: number }) => void;
}

/** c-ares ENOTFOUND (no such name) and ENODATA (no records of this type) are empty answers, not failures. */
const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND']);

async function lookup(resolve: Resolve, hostname: string, rrtype: 'A' | 'AAAA'): Promise<unknown[]> {
  try {
    return await resolve(hostname, rrtype);
  } catch (err) {
    if (err instanceof Error && NO_RECORDS.has((err as NodeJS.ErrnoException).code ?? '')) return [];
    throw err;
  }
}

/**
 * Resolves `hostname` once and returns the address to dial. Every answer is checked, not just the one
 * dialed: a name that mixes public and internal addresses is refused (fail closed), so an attacker
 * cannot rely on address selection to reach the internal one.
 */
async function pinAddress(resolve: Resolve, allow: Cidr[], hostname: string): Promise<string> {
  const answers =
    isIP(hostname) !== 0
      ? [hostname]
      : (await Promise.all([lookup(resolve, hostname, 'A'), lookup(resolve, hostname, 'AAAA')]))
          .flat()
          .map(String);
  for (const address of answers) {
    const reason = verdict(address, allow);
    if (reason !== null) {
      throw new ForbiddenTargetError(reason, address, `host ${hostname} resolves to ${address} (${reason})`);
    }
  }
  const [address] = answers;
  if (address === undefined) {
    throw Object.assign(new Error(`host ${hostname} has no A or AAAA records`), {
      code: 'ENOTFOUND',
      hostname,
    });
  }
  return address;
}

/**
 * An undici Agent whose connector resolves the host once, checks every answer and then connects to the
 * checked address literal, so the OS never gets a second chance to resolve it (no DNS rebinding between
 * check and connect). TLS keeps the original hostname for SNI and certificate verification, and undici
 * still sends it in the Host header. Kept-alive sockets are reused only for their origin and stay bound
 * to the address checked when they were opened. Agents do not follow redirects (undici 7 only does so
 * through the redirect interceptor), so a 3xx cannot bounce a request to an internal URL.
 */
export function createGuardedDispatcher(options: GuardedDialerOptions): Dispatcher {
  const allow = compileAllowList(options.policy);
  const connect = buildConnector({
    timeout: options.connectTimeoutMs,
    ...(options.ca ? { ca: options.ca } : {}),
  });
  const guarded: buildConnector.connector = (target, callback) => {
    const { hostname, protocol } = target;
    pinAddress(options.resolve, allow, hostname)
      .then((address) => {
        const port = Number(target.port) || (protocol === 'https:' ? 443 : 80);
        options.onConnect?.({ hostname, address, port });
        // RFC 6066 §3 forbids IP literals in SNI, so only names are passed on as the servername.
        connect(
          { ...target, hostname: address, servername: isIP(hostname) === 0 ? hostname : undefined },
          callback,
        );
      })
      .catch((err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), null));
  };
  return new Agent({ connect: guarded });
}
