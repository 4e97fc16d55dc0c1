/** Slugs for organizations and agents: lower-case letters, digits and single dashes. */
export const SLUG_RE = /^[a-z0-9]+(?:[-_][a-z0-9]+)*$/;
export const SLUG_MAX = 64;

export function slugify(value: string, fallback: string): string {
  const slug = value
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/g, '');
  return slug === '' ? fallback : slug;
}

/**
 * RFC 5321 §4.1.2 dot-atom local part: atext runs joined by single dots. Stored lower-cased; the
 * limit of 64 octets is RFC 5321 §4.5.3.1.1.
 */
const ATEXT = "[a-z0-9!#$%&'*+/=?^_`{|}~-]+";
export const LOCAL_PART_RE = new RegExp(`^${ATEXT}(?:\\.${ATEXT})*$`);
export const LOCAL_PART_MAX = 64;

/**
 * Addresses on the managed domain the server keeps for itself: RFC 5321 §4.5.1 requires postmaster,
 * RFC 2142 names abuse and friends, and no-reply is the system mailer's sender.
 */
export const RESERVED_LOCAL_PARTS = new Set([
  'postmaster',
  'abuse',
  'mailer-daemon',
  'hostmaster',
  'webmaster',
  'security',
  'root',
  'no-reply',
  'noreply',
  'dmarc',
  'tlsrpt',
  'bounces',
]);

/** Emails are compared case-insensitively; we keep them lower-cased. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * RFC 5321 §4.5.1 requires postmaster@ on every domain we accept mail for, and RFC 2142 names abuse@:
 * on every hosted domain, custom ones too, both reach the operator.
 */
export const OPERATOR_LOCAL_PARTS: ReadonlySet<string> = new Set(['postmaster', 'abuse']);
