import type { TlsHop } from './tls.js';

/**
 * Byte-level handling of a message as received, before anything parses it. Works on latin1 strings so
 * every byte survives unchanged.
 */

/**
 * Bare CR and bare LF become CRLF (RFC 5322 §2.3 allows no other line ending). We normalise rather
 * than reject, as Postfix does: the message stays whole, and nothing downstream (parsers, DKIM, IMAP
 * clients) ever sees a line ending another system could read differently.
 */
export function normaliseLineEndings(raw: Buffer): Buffer {
  const text = raw.toString('latin1');
  if (!/\r(?!\n)|(?<!\r)\n/.test(text)) return raw;
  return Buffer.from(text.replace(/\r\n|\r|\n/g, '\r\n'), 'latin1');
}

/** The header block (up to the first empty line), as latin1 text. */
export function headerBlock(raw: Buffer): string {
  const text = raw.subarray(0, Math.min(raw.length, 1024 * 1024)).toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  return end === -1 ? text : text.slice(0, end + 2);
}

/** Trace headers, counted for loop detection (RFC 5321 §6.3). */
export function countReceived(header: string): number {
  return (header.match(/^Received:/gim) ?? []).length;
}

/**
 * Authentication-Results that claim to come from us were written by the sender, not by us (RFC 8601
 * §5): they are renamed so nothing downstream mistakes them for our verdict. The claim is read the way
 * a reader of the field would: unfolded, comments removed, the authserv-id compared without case and
 * without its optional version (`host 1;`, RFC 8601 §2.2), quoted or not.
 */
export function neutraliseForgedAuthResults(raw: Buffer, ourHost: string): Buffer {
  const header = headerBlock(raw);
  const ours = ourHost.toLowerCase().replace(/\.$/, '');
  let changed = false;
  const fields = splitFields(header).map((field) => {
    const colon = field.indexOf(':');
    if (colon === -1 || !/^authentication-results[ \t]*$/i.test(field.slice(0, colon))) return field;
    if (authservId(field.slice(colon + 1)) !== ours) return field;
    changed = true;
    return `X-Untrusted-${field}`;
  });
  if (!changed) return raw;
  return Buffer.concat([
    Buffer.from(fields.join(''), 'latin1'),
    raw.subarray(Buffer.byteLength(header, 'latin1')),
  ]);
}

/** Each header field as name (lower-cased) and unfolded value (RFC 5322 §2.2.3). */
export function headerFields(header: string): { name: string; value: string }[] {
  return splitFields(header).flatMap((field) => {
    const colon = field.indexOf(':');
    if (colon <= 0) return [];
    return [
      {
        name: field.slice(0, colon).trim().toLowerCase(),
        value: field
          .slice(colon + 1)
          .replace(/\r\n(?=[ \t])/g, '')
          .trim(),
      },
    ];
  });
}

/** Header fields with their folded continuation lines (RFC 5322 §2.2.3), each ending in CRLF. */
function splitFields(header: string): string[] {
  const fields: string[] = [];
  for (const line of header.split(/(?<=\r\n)/)) {
    const last = fields.length - 1;
    if (last >= 0 && /^[ \t]/.test(line)) fields[last] += line;
    else fields.push(line);
  }
  return fields;
}

/** The authserv-id of an Authentication-Results value, lower-cased, without a trailing dot. */
export function authservId(value: string): string {
  const text = stripComments(value.replace(/\r\n(?=[ \t])/g, '')).trim();
  const quoted = /^"((?:[^"\\]|\\.)*)"/.exec(text);
  const id = quoted ? (quoted[1] ?? '').replace(/\\(.)/g, '$1') : (/^[^\s;]*/.exec(text)?.[0] ?? '');
  return id.toLowerCase().replace(/\.$/, '');
}

/** Removes RFC 5322 §3.2.2 comments, which nest and may escape parentheses with a backslash. */
function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\') {
      if (depth === 0) out += value.slice(i, i + 2);
      i++;
    } else if (quoted) {
      out += c;
      if (c === '"') quoted = false;
    } else if (c === '(') {
      depth++;
    } else if (c === ')' && depth > 0) {
      depth--;
      if (depth === 0) out += ' ';
    } else if (depth === 0) {
      if (c === '"') quoted = true;
      out += c;
    }
  }
  return out;
}

/**
 * Our own Authentication-Results (and Received-SPF) as the bytes that go before the accepted message,
 * prepended as RFC 8601 §5 asks; null when there is nothing to add.
 */
export function authResultsPrefix(header: string): Buffer | null {
  if (!header) return null;
  return Buffer.from(`${header.replace(/\r?\n/g, '\r\n')}\r\n`, 'latin1');
}

/**
 * RFC 5321 §4.4 trace header, prepended by the receiving MX. A hop over TLS is `with ESMTPS` (RFC 3848
 * §1) followed by a comment naming the protocol and cipher, the way Postfix and Exim record it.
 */
export function receivedHeader(options: {
  helo: string | null;
  remoteIp: string;
  host: string;
  id: string;
  secure: boolean;
  tls?: TlsHop | null;
  recipient: string | null;
  date: Date;
}): string {
  const from = `${(options.helo ?? 'unknown').replace(/[^\x21-\x7e]/g, '')} ([${options.remoteIp}])`;
  const tls = options.tls ? ` (${commentSafe(options.tls.version)} ${commentSafe(options.tls.cipher)})` : '';
  const protocol = options.secure ? `ESMTPS${tls}` : 'ESMTP';
  const forPart = options.recipient ? `\r\n\tfor <${options.recipient}>` : '';
  return `Received: from ${from}\r\n\tby ${options.host} (LoftBox) with ${protocol} id ${options.id}${forPart};\r\n\t${options.date.toUTCString().replace('GMT', '+0000')}\r\n`;
}

/** Keeps a value inside an RFC 5322 comment: printable ASCII without parentheses or backslashes. */
function commentSafe(value: string): string {
  return value.replace(/[^\x21-\x7e]|[()\\]/g, '');
}

/**
 * The TLS of the hop that brought a message to our MX, read back from the Received header we prepended
 * (the first one: whatever the sender wrote comes after it). Only for rows the MX stored as secure, so a
 * sender's own `with ESMTPS (...)` line is never taken for ours.
 */
export function tlsOfOwnReceived(raw: Buffer): TlsHop | null {
  const ours = splitFields(headerBlock(raw)).find((field) => /^received[ \t]*:/i.test(field));
  const match = ours ? / with ESMTPS \((\S+) (\S+)\) id /.exec(ours.replace(/\r\n(?=[ \t])/g, '')) : null;
  return match ? { version: match[1] ?? '', cipher: match[2] ?? '' } : null;
}
