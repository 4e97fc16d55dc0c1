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
 * §5): they are renamed so nothing downstream mistakes them for our verdict.
 */
export function neutraliseForgedAuthResults(raw: Buffer, ourHost: string): Buffer {
  const header = headerBlock(raw);
  const escaped = ourHost.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const forged = new RegExp(`^Authentication-Results:[ \\t]*${escaped}[ \\t]*;`, 'gim');
  if (!forged.test(header)) return raw;
  const fixed = header.replace(forged, (match) => `X-Untrusted-${match}`);
  return Buffer.concat([Buffer.from(fixed, 'latin1'), raw.subarray(Buffer.byteLength(header, 'latin1'))]);
}

/** RFC 5321 §4.4 trace header, prepended by the receiving MX. */
export function receivedHeader(options: {
  helo: string | null;
  remoteIp: string;
  host: string;
  id: string;
  secure: boolean;
  recipient: string | null;
  date: Date;
}): string {
  const from = `${(options.helo ?? 'unknown').replace(/[^\x21-\x7e]/g, '')} ([${options.remoteIp}])`;
  const protocol = options.secure ? 'ESMTPS' : 'ESMTP';
  const forPart = options.recipient ? `\r\n\tfor <${options.recipient}>` : '';
  return `Received: from ${from}\r\n\tby ${options.host} (LoftBox) with ${protocol} id ${options.id}${forPart};\r\n\t${options.date.toUTCString().replace('GMT', '+0000')}\r\n`;
}
