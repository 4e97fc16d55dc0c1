/**
 * The pure half of `loftbox domain apply-dns` (CONTRACT §9): record checks, zone choice, provider value
 * formats and the merge decision for one record. Nothing here touches the network, so dry-run and the
 * unit tables use exactly the logic the real run uses.
 */
import { isIP } from 'node:net';

export interface DesiredRecord {
  purpose: string;
  type: 'TXT' | 'MX' | 'CNAME' | 'A' | 'AAAA';
  host: string;
  value: string;
  priority?: number;
}

export type RecordResult = 'dry-run' | 'applied' | 'skipped' | 'conflict' | 'error';

export type RecordOutcome = { record: DesiredRecord; result: RecordResult; detail: string };

export interface ApplyOptions {
  provider: 'route53' | 'cloudflare';
  records: DesiredRecord[];
  dryRun: boolean;
  overwrite: boolean;
  zoneId?: string;
  /** Credentials come only from here: the AWS chain (keys, profile) and CLOUDFLARE_API_TOKEN. */
  env: NodeJS.ProcessEnv;
  /** Test seam: the Route 53 SDK `endpoint` and the Cloudflare SDK `baseURL`. */
  endpoints?: { route53?: string; cloudflare?: string };
}

/** Route 53 gets this TTL for a new record set; an existing set keeps its own. */
export const DEFAULT_TTL = 300;

/** RFC 1035 §3.3: a TXT character-string is a length byte and at most 255 bytes of data. */
export const MAX_STRING_BYTES = 255;

/** Lower-case, without the trailing root dot: the form every comparison here uses. */
export function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/** A fully qualified name with the trailing dot Route 53 and zone files expect. */
export function absoluteName(name: string): string {
  return `${normalizeName(name)}.`;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Host names as the server emits them: A-labels, with `_` allowed for _dmarc/_domainkey/_loftbox. */
function isHostName(name: string): boolean {
  const normalized = normalizeName(name);
  const labels = normalized.split('.');
  return normalized.length <= 253 && labels.length >= 2 && labels.every((label) => LABEL.test(label));
}

// eslint-disable-next-line no-control-regex -- the point is to find control characters
const CONTROL = /[\u0000-\u001f\u007f]/;

export interface MxTarget {
  priority: number;
  exchange: string;
}

/**
 * The server sends `{value: host, priority}`; a bare `"10 host"` value (no priority field) is read too so a
 * record copied from `domain dns` output still works.
 */
export function mxTarget(record: DesiredRecord): MxTarget | undefined {
  if (record.priority != null) return { priority: record.priority, exchange: normalizeName(record.value) };
  const match = /^(\d+)\s+(\S+)$/.exec(record.value.trim());
  return match ? { priority: Number(match[1]), exchange: normalizeName(match[2]!) } : undefined;
}

/**
 * Why a record cannot be applied, or undefined. The values come from the server, but they end up in the
 * caller's zone and on the terminal, so anything that is not a plain DNS name or printable text is refused
 * before any provider call.
 */
export function checkRecord(record: DesiredRecord): string | undefined {
  if (!['TXT', 'MX', 'CNAME', 'A', 'AAAA'].includes(record.type)) {
    return `unsupported record type ${String(record.type)}`;
  }
  if (!isHostName(record.host)) return 'the host is not a valid DNS name';
  if (record.value.length === 0 || CONTROL.test(record.value)) {
    return 'the value is empty or contains control characters';
  }
  if (record.type === 'MX') {
    const mx = mxTarget(record);
    if (!mx) return 'the MX record has no priority';
    if (!Number.isInteger(mx.priority) || mx.priority < 0 || mx.priority > 65535) {
      return 'the MX priority is not an integer from 0 to 65535';
    }
    if (!isHostName(mx.exchange)) return 'the MX target is not a valid DNS name';
  }
  if (record.type === 'CNAME' && !isHostName(record.value)) return 'the CNAME target is not a valid DNS name';
  if (record.type === 'A' && isIP(record.value) !== 4) return 'the A value is not an IPv4 address';
  if (record.type === 'AAAA' && isIP(record.value) !== 6) return 'the AAAA value is not an IPv6 address';
  return undefined;
}

export function isWithinZone(host: string, zoneName: string): boolean {
  const h = normalizeName(host);
  const z = normalizeName(zoneName);
  return h === z || h.endsWith(`.${z}`);
}

export interface ZoneInfo {
  id: string;
  name: string;
  private: boolean;
}

/**
 * The public zones that could hold `host`, keeping only the most specific name. More than one result means
 * the account has duplicate zones of that name and only the registrar knows which is live: the caller must
 * then refuse and ask for --zone-id. Private zones never answer public resolvers, so they are never chosen.
 */
export function mostSpecificZones<Z extends ZoneInfo>(host: string, zones: Z[]): Z[] {
  const matching = zones.filter((z) => !z.private && isWithinZone(host, z.name));
  const longest = Math.max(0, ...matching.map((z) => normalizeName(z.name).length));
  return matching.filter((z) => normalizeName(z.name).length === longest);
}

/**
 * Names to look a Cloudflare zone up by, most specific first: the host itself (a delegated sub-zone) up to
 * its two-label parent. A single label is never a zone an account can hold.
 */
export function zoneNameCandidates(host: string): string[] {
  const labels = normalizeName(host).split('.');
  const names: string[] = [];
  for (let i = 0; i <= labels.length - 2; i++) names.push(labels.slice(i).join('.'));
  return names;
}

/**
 * Split into character-strings of at most 255 bytes of UTF-8, never inside a character, so each piece is
 * valid text on its own. Verifiers of DKIM/SPF/DMARC concatenate the strings (RFC 6376 §3.6.2.2).
 */
export function splitCharacterStrings(value: string): string[] {
  const chunks: string[] = [];
  let chunk = '';
  let bytes = 0;
  for (const ch of value) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > MAX_STRING_BYTES) {
      chunks.push(chunk);
      chunk = '';
      bytes = 0;
    }
    chunk += ch;
    bytes += size;
  }
  chunks.push(chunk);
  return chunks;
}

/**
 * Quote and escape one character-string. `"` and `\` are always escaped; Route 53 also wants every byte
 * outside printable ASCII as a three-digit octal escape (its TXT format rules), while Cloudflare's JSON API
 * takes UTF-8 as it is.
 */
function quoteString(chunk: string, nonAscii: 'octal' | 'literal'): string {
  let out = '';
  for (const ch of chunk) {
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (nonAscii === 'literal' || ch.charCodeAt(0) < 0x80) out += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) out += `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return `"${out}"`;
}

/** `"part1" "part2"`: Route 53 rejects a TXT value with a string over 255 bytes. */
export function route53TxtValue(value: string): string {
  return splitCharacterStrings(value)
    .map((chunk) => quoteString(chunk, 'octal'))
    .join(' ');
}

/**
 * Cloudflare takes unquoted content and splits long values itself, which is the form widely proven on its
 * API, so plain values go as they are. A value with `"` or `\` would be ambiguous unquoted, so it goes as
 * explicit RFC 1035 quoted strings, the form Cloudflare documents for TXT content.
 */
export function cloudflareTxtContent(value: string): string {
  if (!/["\\]/.test(value)) return value;
  return splitCharacterStrings(value)
    .map((chunk) => quoteString(chunk, 'literal'))
    .join(' ');
}

/**
 * Decode zone-file character-strings (quoted or bare words) into the text a verifier sees: the strings
 * concatenated. `\DDD` is octal on Route 53 and decimal (RFC 1035) on Cloudflare.
 */
export function parseCharacterStrings(text: string, escapeRadix: 8 | 10): string {
  const digits = escapeRadix === 8 ? /^[0-7]{3}$/ : /^[0-9]{3}$/;
  const bytes: number[] = [];
  const pushText = (s: string) => bytes.push(...Buffer.from(s, 'utf8'));
  let i = 0;
  while (i < text.length) {
    if (/\s/.test(text[i]!)) {
      i++;
      continue;
    }
    const quoted = text[i] === '"';
    if (quoted) i++;
    while (i < text.length) {
      const c = text[i]!;
      if (quoted ? c === '"' : /\s/.test(c)) {
        if (quoted) i++;
        break;
      }
      if (c === '\\' && i + 1 < text.length) {
        const escape = text.slice(i + 1, i + 4);
        if (digits.test(escape)) {
          bytes.push(parseInt(escape, escapeRadix));
          i += 4;
        } else {
          const next = String.fromCodePoint(text.codePointAt(i + 1)!);
          pushText(next);
          i += 1 + next.length;
        }
        continue;
      }
      const ch = String.fromCodePoint(text.codePointAt(i)!);
      pushText(ch);
      i += ch.length;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** What two values of one type are compared by: the data a resolver hands out, not its spelling. */
function desiredKey(record: DesiredRecord): string {
  if (record.type === 'TXT') return record.value;
  if (record.type === 'MX') {
    const mx = mxTarget(record)!;
    return `${mx.priority} ${mx.exchange}`;
  }
  return normalizeName(record.value);
}

/** The Route 53 `Value` of a desired record. */
export function route53Value(record: DesiredRecord): string {
  if (record.type === 'TXT') return route53TxtValue(record.value);
  if (record.type === 'MX') {
    const mx = mxTarget(record)!;
    return `${mx.priority} ${absoluteName(mx.exchange)}`;
  }
  if (record.type === 'A' || record.type === 'AAAA') return record.value;
  return absoluteName(record.value);
}

function route53Key(type: DesiredRecord['type'], value: string): string {
  if (type === 'TXT') return parseCharacterStrings(value, 8);
  if (type === 'MX') {
    const [priority = '', exchange = ''] = value.trim().split(/\s+/);
    return `${Number(priority)} ${normalizeName(exchange)}`;
  }
  return normalizeName(value);
}

const POLICY_NAMES: Record<string, string> = {
  spf1: 'SPF',
  dmarc1: 'DMARC',
  dkim1: 'DKIM key',
  stsv1: 'MTA-STS',
  tlsrptv1: 'TLS-RPT',
};

/**
 * The kind of a TXT record a name may hold only one of: two SPF or two DMARC records void both (RFC 7208
 * §4.5, RFC 7489 §6.6.3), two DKIM keys at one selector leave verifiers to pick one (RFC 6376 §3.6.2.2), and
 * two MTA-STS or TLS-RPT records mean no policy at all (RFC 8461 §3.1, RFC 8460 §3).
 * Merging ours beside a different one would break mail authentication, so that is a conflict instead.
 */
function policyKind(text: string): string | undefined {
  const match = /^\s*v\s*=\s*(spf1|dmarc1|dkim1|stsv1|tlsrptv1)\b/i.exec(text);
  return match ? POLICY_NAMES[match[1]!.toLowerCase()] : undefined;
}

/** One existing Route 53 record set at the record's exact name and type. */
export interface Route53RecordSet {
  ttl?: number;
  values: string[];
  /** Weighted, latency, failover… sets: merging into one of several would change routing, so refuse. */
  setIdentifier?: string;
  alias?: boolean;
}

export type Route53Plan =
  | { action: 'upsert'; values: string[]; ttl: number; detail: string }
  | { action: 'skip'; detail: string }
  | { action: 'conflict'; detail: string }
  | { action: 'error'; detail: string };

/**
 * The Route 53 decision for one record: TXT and MX UPSERT the union of the existing values and ours (a record
 * set holds all values at a name/type, so writing only ours would delete the rest); a CNAME is single-valued
 * and a name holds one SPF/DMARC/DKIM policy, so a different one is a conflict unless `overwrite`.
 */
export function planRoute53(
  record: DesiredRecord,
  existing: Route53RecordSet[],
  overwrite: boolean,
): Route53Plan {
  const where = `${record.type} ${absoluteName(record.host)}`;
  if (existing.some((set) => set.alias || set.setIdentifier != null)) {
    return {
      action: 'error',
      detail: `${where} is an alias or routing-policy record set; change it in Route 53 yourself`,
    };
  }
  const current = existing[0];
  const ours = route53Value(record);
  if (!current) {
    return { action: 'upsert', values: [ours], ttl: DEFAULT_TTL, detail: `created ${where} = ${ours}` };
  }
  const ttl = current.ttl ?? DEFAULT_TTL;
  const want = desiredKey(record);
  if (current.values.some((value) => route53Key(record.type, value) === want)) {
    return { action: 'skip', detail: `${where} already has ${ours}` };
  }
  if (record.type === 'CNAME') {
    const theirs = current.values.join(', ');
    if (!overwrite) {
      return {
        action: 'conflict',
        detail: `${where} points to ${theirs}, not ${ours}; pass --overwrite to replace it`,
      };
    }
    return { action: 'upsert', values: [ours], ttl, detail: `replaced ${where} ${theirs} with ${ours}` };
  }
  const kind = record.type === 'TXT' ? policyKind(record.value) : undefined;
  const rivals = kind ? current.values.filter((v) => policyKind(route53Key('TXT', v)) === kind) : [];
  if (rivals.length > 0) {
    const theirs = rivals.join(', ');
    if (!overwrite) {
      return {
        action: 'conflict',
        detail: `${where} already has a different ${kind} record (${theirs}) and two would break it; pass --overwrite to replace it`,
      };
    }
    const values = [...current.values.filter((v) => !rivals.includes(v)), ours];
    return { action: 'upsert', values, ttl, detail: `replaced ${theirs} with ${ours} in ${where}` };
  }
  const kept = current.values.length;
  return {
    action: 'upsert',
    values: [...current.values, ours],
    ttl,
    detail: `added ${ours} to ${where}, keeping ${kept} existing value${kept === 1 ? '' : 's'}`,
  };
}

/** The content (and MX priority) of a desired record in Cloudflare's API shape. */
export function cloudflareContent(record: DesiredRecord): { content: string; priority?: number } {
  if (record.type === 'TXT') return { content: cloudflareTxtContent(record.value) };
  if (record.type === 'MX') {
    // Cloudflare keeps the MX preference in its own field; "10 host" in content is rejected.
    const mx = mxTarget(record)!;
    return { content: mx.exchange, priority: mx.priority };
  }
  return { content: normalizeName(record.value) };
}

function showCloudflare(ours: { content: string; priority?: number }): string {
  return ours.priority != null ? `${ours.content} (priority ${ours.priority})` : ours.content;
}

/** One existing Cloudflare record at the record's exact name and type. */
export interface CloudflareRecord {
  id: string;
  content: string;
  priority?: number;
}

function cloudflareKey(type: DesiredRecord['type'], existing: CloudflareRecord): string {
  if (type === 'TXT') {
    return existing.content.startsWith('"') ? parseCharacterStrings(existing.content, 10) : existing.content;
  }
  if (type === 'MX') return `${existing.priority ?? 0} ${normalizeName(existing.content)}`;
  return normalizeName(existing.content);
}

export type CloudflarePlan =
  | { action: 'create'; content: string; priority?: number; detail: string }
  | { action: 'update'; id: string; content: string; priority?: number; detail: string }
  | { action: 'skip'; detail: string }
  | { action: 'conflict'; detail: string };

/**
 * The Cloudflare decision for one record. Each value there is its own record, so merging means creating
 * ours beside the others and leaving them alone; only a CNAME (alone at its name by rule) or a different
 * SPF/DMARC/DKIM policy is changed in place, and only with `overwrite`.
 */
export function planCloudflare(
  record: DesiredRecord,
  existing: CloudflareRecord[],
  overwrite: boolean,
): CloudflarePlan {
  const where = `${record.type} ${normalizeName(record.host)}`;
  const ours = cloudflareContent(record);
  const shown = showCloudflare(ours);
  const want = desiredKey(record);
  if (existing.some((r) => cloudflareKey(record.type, r) === want)) {
    return { action: 'skip', detail: `${where} already has ${shown}` };
  }
  const kind = record.type === 'TXT' ? policyKind(record.value) : undefined;
  const rival =
    record.type === 'CNAME'
      ? existing[0]
      : existing.find((r) => kind && policyKind(cloudflareKey('TXT', r)) === kind);
  if (rival) {
    if (!overwrite) {
      const why = kind
        ? `already has a different ${kind} record (${rival.content}) and two would break it`
        : `points to ${rival.content}, not ${shown}`;
      return { action: 'conflict', detail: `${where} ${why}; pass --overwrite to replace it` };
    }
    return {
      action: 'update',
      id: rival.id,
      content: ours.content,
      detail: `replaced ${where} ${rival.content} with ${shown}`,
    };
  }
  const kept = existing.length;
  const keeping = kept > 0 ? `, keeping ${kept} existing record${kept === 1 ? '' : 's'}` : '';
  return { action: 'create', ...ours, detail: `created ${where} = ${shown}${keeping}` };
}

/** What a real run would do, said without reading the zone (dry-run needs no credentials). */
export function describeDryRun(
  record: DesiredRecord,
  options: Pick<ApplyOptions, 'provider' | 'overwrite' | 'zoneId'>,
): string {
  const kind =
    record.type === 'CNAME' ? 'CNAME' : record.type === 'TXT' ? policyKind(record.value) : undefined;
  const others = record.type === 'CNAME' ? '' : ', keeping other values';
  const rule = !kind
    ? 'keeping any existing values'
    : options.overwrite
      ? `replacing a different ${kind} record (--overwrite)${others}`
      : `unless a different ${kind} record exists (conflict without --overwrite)${others}`;
  if (options.provider === 'route53') {
    const zone = options.zoneId
      ? `hosted zone ${options.zoneId}`
      : 'the most specific public hosted zone that contains it';
    return `would UPSERT ${record.type} ${absoluteName(record.host)} = ${route53Value(record)} in ${zone}, ${rule}`;
  }
  const ours = cloudflareContent(record);
  const shown = showCloudflare(ours);
  const zone = options.zoneId ? `zone ${options.zoneId}` : 'the most specific zone that contains it';
  return `would ${record.type === 'CNAME' ? 'set' : 'add'} ${record.type} ${normalizeName(record.host)} = ${shown} in ${zone}, ${rule}`;
}

/**
 * An SDK error as one printable line: its class (e.g. `NoSuchHostedZone`) when that says more than
 * "Error", then the chain of causes, since a connection failure says only "Connection error." at the top.
 */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e = err, depth = 0; e != null && depth < 4; depth++) {
    if (!(e instanceof Error)) {
      parts.push(String(e));
      break;
    }
    const message = e.message.replace(/\.$/, '');
    parts.push(e.name && e.name !== 'Error' && depth === 0 ? `${e.name}: ${message}` : message);
    e = e.cause;
  }
  // Provider messages can carry response text; a detail stays one printable line.
  // eslint-disable-next-line no-control-regex -- the point is to remove control characters
  return parts.join(': ').replace(/[\u0000-\u001f\u007f]+/g, ' ');
}
