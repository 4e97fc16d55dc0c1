/**
 * Response encoding. Responses are assembled as "binary strings" (one char per byte, latin1), so header
 * bytes taken from a stored message go back out exactly as received, 8-bit or not.
 */

// quoted = DQUOTE *QUOTED-CHAR DQUOTE, QUOTED-CHAR being 7-bit TEXT-CHAR (RFC 3501 §9): no CR, LF, NUL
// or 8-bit bytes; anything else goes out as a literal. Long values are literals too, to keep lines short.
const MAX_QUOTED = 1024;

function quotable(value: string): boolean {
  if (value.length > MAX_QUOTED) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d || c > 0x7f) return false;
  }
  return true;
}

/** An IMAP string (quoted when possible, else a literal) from a binary string. */
export function str(value: string): string {
  if (quotable(value)) return `"${value.replace(/["\\]/g, '\\$&')}"`;
  return `{${value.length}}\r\n${value}`;
}

/** nstring: NIL for a missing value. */
export function nstr(value: string | null | undefined): string {
  return value == null ? 'NIL' : str(value);
}

/** A parenthesised list, or NIL when empty and `nilWhenEmpty`. */
export function list(items: readonly string[], nilWhenEmpty = false): string {
  return items.length === 0 && nilWhenEmpty ? 'NIL' : `(${items.join(' ')})`;
}

/** One response line (a binary string) with its CRLF, as the bytes to write. */
export function line(value: string): Buffer {
  return Buffer.from(`${value}\r\n`, 'latin1');
}
