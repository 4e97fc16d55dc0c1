/**
 * MTA-STS (RFC 8461) as a sending MTA reads it: the `_mta-sts` TXT record, the policy text and the
 * MX patterns. Pure functions: discovery, fetching and caching live in mta-sts-discovery.ts.
 */

export type MtaStsMode = 'none' | 'testing' | 'enforce';

export interface MtaStsPolicy {
  mode: MtaStsMode;
  /** `mx` patterns: a host name, or `*.` and a domain (matching exactly one more label). */
  mx: string[];
  /** Seconds the policy may be cached (RFC 8461 §3.2: at most 31557600, about a year). */
  maxAge: number;
}

/** RFC 8461 §3.2: the largest max_age a policy may state. */
export const MAX_POLICY_AGE = 31_557_600;

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const DOMAIN = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})+$`, 'i');

/**
 * The policy id of a domain's `_mta-sts` TXT answer (RFC 8461 §3.1), or null when the domain
 * announces no usable policy. Records not starting with `v=STSv1;` are not ours; anything other than
 * exactly one remaining, well-formed record means no policy. Strings of one record are joined as is.
 */
export function parseStsRecord(answers: (string | string[])[]): string | null {
  const records = answers.map((r) => (Array.isArray(r) ? r.join('') : r)).filter((r) => /^v=STSv1;/.test(r));
  if (records.length !== 1) return null;
  const fields = (records[0] ?? '').split(';').map((f) => f.trim());
  if (fields.at(-1) === '') fields.pop();
  let id: string | null = null;
  for (const field of fields.slice(1)) {
    const match = /^([A-Za-z0-9_.-]+)=(.*)$/.exec(field);
    if (!match) return null;
    if (match[1] === 'id' && id === null) {
      if (!/^[A-Za-z0-9]{1,32}$/.test(match[2] ?? '')) return null;
      id = match[2] ?? null;
    }
  }
  return id;
}

/**
 * Parses a policy body (RFC 8461 §3.2): `key: value` lines ending in LF or CRLF. `version: STSv1`,
 * `mode` and `max_age` are required, `mx` (repeatable) unless the mode is `none`; unknown keys are
 * ignored, a repeated key other than `mx` keeps its first value. Anything malformed rejects the
 * whole policy: an invalid policy is no policy.
 */
export function parseStsPolicy(text: string): MtaStsPolicy | { error: string } {
  const fields = new Map<string, string>();
  const mx: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === '') continue;
    const match = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,31}):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!match) return { error: `malformed line ${JSON.stringify(line.slice(0, 80))}` };
    const key = match[1] ?? '';
    const value = match[2] ?? '';
    if (key === 'mx') mx.push(value.toLowerCase());
    else if (!fields.has(key)) fields.set(key, value);
  }
  if (fields.get('version') !== 'STSv1') return { error: 'version is not STSv1' };
  const mode = fields.get('mode');
  if (mode !== 'none' && mode !== 'testing' && mode !== 'enforce') {
    return { error: `mode ${JSON.stringify(mode ?? '')} is not none, testing or enforce` };
  }
  const maxAge = fields.get('max_age') ?? '';
  if (!/^\d{1,10}$/.test(maxAge) || Number(maxAge) > MAX_POLICY_AGE) {
    return { error: `max_age ${JSON.stringify(maxAge)} is not 0–${MAX_POLICY_AGE} seconds` };
  }
  for (const pattern of mx) {
    if (!DOMAIN.test(pattern.replace(/^\*\./, ''))) {
      return { error: `mx ${JSON.stringify(pattern)} is not a host name or *.domain` };
    }
  }
  if (mode !== 'none' && mx.length === 0) return { error: 'no mx pattern' };
  return { mode, mx, maxAge: Number(maxAge) };
}

/**
 * RFC 8461 §4.1: an MX host matches a pattern literally, or a `*.` pattern by replacing exactly its
 * leftmost label (`*.example.com` covers `mx.example.com`, not `example.com` nor `a.b.example.com`).
 */
export function mxMatches(patterns: string[], host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return patterns.some((pattern) => {
    if (!pattern.startsWith('*.')) return pattern === name;
    const dot = name.indexOf('.');
    return dot > 0 && name.slice(dot + 1) === pattern.slice(2);
  });
}
