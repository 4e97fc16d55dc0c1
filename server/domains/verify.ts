import type { Deps } from '../deps.js';
import type { DnsRecord, Purpose, RecordStatus } from './records.js';

type Lookup = { kind: 'answer'; values: unknown[] } | { kind: 'absent' } | { kind: 'error' };

const ABSENT = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'NODATA']);

/**
 * NXDOMAIN and NODATA mean "not there"; anything else (SERVFAIL, timeout) means "could not tell". Always
 * asked afresh: the owner has usually just published the record.
 */
async function lookup(deps: Deps, name: string, type: string): Promise<Lookup> {
  try {
    return { kind: 'answer', values: await deps.resolve(name, type, { fresh: true }) };
  } catch (err) {
    return ABSENT.has((err as { code?: string }).code ?? '') ? { kind: 'absent' } : { kind: 'error' };
  }
}

const host = (value: string) => value.toLowerCase().replace(/\.$/, '');
/** A TXT record may be split into several strings (RFC 7208 §3.3): they are one value, joined without spaces. */
const txtValues = (values: unknown[]) => values.map((v) => (Array.isArray(v) ? v.join('') : String(v)));
const squash = (value: string) => value.replace(/\s+/g, '');

function dkimKey(record: string): string | null {
  const tag = record
    .split(';')
    .map((part) => part.trim())
    .find((part) => part.toLowerCase().startsWith('p='));
  return tag ? squash(tag.slice(2)) : null;
}

/** Follows a CNAME chain (a few hops) and answers whether it reaches `target`. */
async function cnameReaches(
  deps: Deps,
  name: string,
  target: string,
): Promise<Lookup & { reaches?: boolean }> {
  let current = name;
  for (let hop = 0; hop < 5; hop++) {
    const answer = await lookup(deps, current, 'CNAME');
    if (answer.kind !== 'answer' || answer.values.length === 0) {
      return hop === 0
        ? answer.kind === 'answer'
          ? { kind: 'absent' }
          : answer
        : { kind: 'answer', values: [], reaches: false };
    }
    current = host(String(answer.values[0]));
    if (current === host(target)) return { kind: 'answer', values: [current], reaches: true };
  }
  return { kind: 'answer', values: [], reaches: false };
}

/**
 * Checks one record against DNS. `null` means DNS could not answer (timeout, SERVFAIL): the caller
 * keeps the previous verdict rather than flapping a domain on a resolver hiccup.
 */
export async function checkRecord(deps: Deps, record: DnsRecord): Promise<RecordStatus | null> {
  if (record.type === 'CNAME') {
    const result = await cnameReaches(deps, record.host, record.value);
    if (result.kind === 'error') return null;
    if (result.kind === 'absent') return 'missing';
    return result.reaches ? 'valid' : 'invalid';
  }
  const answer = await lookup(deps, record.host, record.type);
  if (answer.kind === 'error') return null;
  if (answer.kind === 'absent' || answer.values.length === 0) return 'missing';
  if (record.type === 'MX') {
    const exchanges = (answer.values as { exchange: string }[]).map((mx) => host(mx.exchange));
    return exchanges.includes(host(record.value)) ? 'valid' : 'invalid';
  }
  const values = txtValues(answer.values);
  switch (record.purpose as Purpose) {
    case 'dkim': {
      const wanted = dkimKey(record.value);
      return values.some((v) => dkimKey(v) === wanted) ? 'valid' : 'invalid';
    }
    case 'dmarc':
      // Any DMARC policy the owner chose counts: the rua we suggest is a recommendation.
      return values.some((v) => /^v=DMARC1\s*(;|$)/i.test(v.trim())) ? 'valid' : 'invalid';
    case 'tls_rpt':
      // Like DMARC: the owner may already send TLS reports elsewhere (RFC 8460 §3).
      return values.some((v) => /^v=TLSRPTv1\s*(;|$)/i.test(v.trim())) ? 'valid' : 'invalid';
    default:
      return values.some((v) => v.trim() === record.value) ? 'valid' : 'invalid';
  }
}
