/**
 * A MIME structure walker over the stored bytes: where each part's header and body are, and what the
 * headers say. Nothing is decoded or copied; IMAP serves the original bytes (RFC 3501 §6.4.5), so every
 * node only records offsets. Malformed input never throws: it degrades to simpler structures.
 */

const LF = 0x0a;
const CR = 0x0d;

export interface HeaderField {
  /** Lower-cased field name. */
  key: string;
  /** The field as stored, folding and final line break included (binary string). */
  raw: string;
  /** Unfolded value, trimmed (binary string). */
  value: string;
}

export interface MimeNode {
  /** Offsets into the raw message: header from `start`, body from `bodyStart` to `end`. */
  start: number;
  bodyStart: number;
  end: number;
  headers: HeaderField[];
  /** Lower-cased media type and subtype. */
  type: string;
  subtype: string;
  params: [string, string][];
  /** The parts of a multipart. */
  children: MimeNode[] | null;
  /** The encapsulated message of a message/rfc822 part. */
  message: MimeNode | null;
}

/** Where the body starts: after the first empty line, or `end` when there is none. Bare LF tolerated. */
export function bodyStartOf(raw: Buffer, start: number, end: number): number {
  const block = raw.subarray(start, end);
  if (block[0] === LF) return start + 1;
  if (block[0] === CR && block[1] === LF) return start + 2;
  for (let i = 0; ;) {
    const lf = block.indexOf(LF, i);
    if (lf < 0) return end;
    if (block[lf + 1] === LF) return start + lf + 2;
    if (block[lf + 1] === CR && block[lf + 2] === LF) return start + lf + 3;
    i = lf + 1;
  }
}

/** Header fields of a header block; lines that are neither a field nor a continuation are skipped. */
export function parseHeaders(raw: Buffer, start: number, end: number): HeaderField[] {
  const fields: HeaderField[] = [];
  const text = raw.subarray(start, end).toString('latin1');
  let current: { key: string; raw: string } | null = null;
  const flush = () => {
    if (current)
      fields.push({
        ...current,
        value: current.raw.replace(/\r?\n/g, '').slice(current.key.length).replace(/^\s*:/, '').trim(),
      });
    current = null;
  };
  for (const lineText of text.match(/[^\n]*\n|[^\n]+$/g) ?? []) {
    if ((lineText[0] === ' ' || lineText[0] === '\t') && current) {
      current.raw += lineText;
      continue;
    }
    flush();
    const colon = lineText.indexOf(':');
    const name = colon > 0 ? lineText.slice(0, colon).trimEnd() : '';
    if (name && /^[\x21-\x39\x3b-\x7e]+$/.test(name)) current = { key: name.toLowerCase(), raw: lineText };
  }
  flush();
  return fields;
}

/** The value of the first field named `key`, or null. */
export function headerValue(headers: readonly HeaderField[], key: string): string | null {
  return headers.find((h) => h.key === key)?.value ?? null;
}

const MAX_PARAMS = 64;

/**
 * `value; name=value; name="quoted value"` (Content-Type, Content-Disposition; RFC 2045 §5.1), comments
 * removed. RFC 2231 continuations are passed through under their own names, as IMAP servers do.
 */
export function parseParams(header: string): { value: string; params: [string, string][] } {
  const pieces: string[] = [];
  let piece = '';
  let quoted = false;
  let comment = 0;
  for (let i = 0; i < header.length; i++) {
    const c = header[i] as string;
    if (quoted) {
      piece += c;
      if (c === '\\' && i + 1 < header.length) piece += header[++i];
      else if (c === '"') quoted = false;
    } else if (comment > 0) {
      if (c === '\\') i += 1;
      else if (c === '(') comment += 1;
      else if (c === ')') comment -= 1;
    } else if (c === '"') {
      quoted = true;
      piece += c;
    } else if (c === '(') {
      comment = 1;
    } else if (c === ';') {
      pieces.push(piece);
      piece = '';
    } else {
      piece += c;
    }
  }
  pieces.push(piece);
  const [first = '', ...rest] = pieces;
  const params: [string, string][] = [];
  for (const p of rest.slice(0, MAX_PARAMS)) {
    const eq = p.indexOf('=');
    if (eq <= 0) continue;
    const name = p.slice(0, eq).trim().toLowerCase();
    let value = p.slice(eq + 1).trim();
    if (value.startsWith('"')) value = value.replace(/^"|"$/g, '').replace(/\\(.)/g, '$1');
    if (name) params.push([name, value]);
  }
  return { value: first.trim(), params };
}

/** Body ranges of a multipart's parts (RFC 2046 §5.1.1): the CRLF before a delimiter belongs to it. */
function splitMultipart(raw: Buffer, start: number, end: number, boundary: string): [number, number][] {
  const body = raw.subarray(start, end);
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const parts: [number, number][] = [];
  let partStart = -1;
  for (let pos = 0; ;) {
    const at = body.indexOf(delimiter, pos);
    if (at < 0) break;
    const after = at + delimiter.length;
    const closing = body[after] === 0x2d && body[after + 1] === 0x2d;
    const next = body[closing ? after + 2 : after];
    // A delimiter starts a line and is followed by a line end or transport padding; `--abc` inside
    // `--abcdef` is not one.
    if (
      (at > 0 && body[at - 1] !== LF) ||
      (next !== undefined && next !== CR && next !== LF && next !== 0x20 && next !== 0x09)
    ) {
      pos = at + 1;
      continue;
    }
    if (partStart >= 0) {
      const contentEnd = at === 0 ? 0 : body[at - 2] === CR ? at - 2 : at - 1;
      parts.push([start + partStart, start + Math.max(partStart, contentEnd)]);
    }
    if (closing) return parts;
    const lineEnd = body.indexOf(LF, after);
    if (lineEnd < 0) return parts;
    partStart = lineEnd + 1;
    pos = partStart;
  }
  // An unterminated multipart ends with the message.
  if (partStart >= 0) parts.push([start + partStart, end]);
  return parts;
}

const TEXT_PLAIN: Pick<MimeNode, 'type' | 'subtype' | 'params'> = {
  type: 'text',
  subtype: 'plain',
  params: [['charset', 'us-ascii']],
};

export interface MimeLimits {
  /** Deepest multipart / message nesting walked; deeper parts are opaque leaves. */
  maxDepth: number;
  /** Most parts described; parts beyond are left out of the structure. */
  maxParts: number;
}

/** The structure of a whole message. */
export function parseMime(raw: Buffer, limits: MimeLimits = { maxDepth: 32, maxParts: 10_000 }): MimeNode {
  let budget = limits.maxParts;
  const walk = (start: number, end: number, depth: number, inDigest: boolean): MimeNode => {
    budget -= 1;
    const bodyStart = bodyStartOf(raw, start, end);
    const headers = parseHeaders(raw, start, bodyStart);
    const contentType = headerValue(headers, 'content-type');
    let kind: Pick<MimeNode, 'type' | 'subtype' | 'params'>;
    if (contentType === null) {
      // RFC 2045 §5.2 defaults; inside multipart/digest the default is message/rfc822 (RFC 2046 §5.1.5).
      kind = inDigest ? { type: 'message', subtype: 'rfc822', params: [] } : TEXT_PLAIN;
    } else {
      const parsed = parseParams(contentType);
      const match = /^([^/\s]+)\s*\/\s*([^/\s]+)$/.exec(parsed.value);
      kind = match
        ? {
            type: (match[1] as string).toLowerCase(),
            subtype: (match[2] as string).toLowerCase(),
            params: parsed.params,
          }
        : TEXT_PLAIN;
    }
    const node: MimeNode = { start, bodyStart, end, headers, ...kind, children: null, message: null };
    const nested = node.type === 'multipart' || (node.type === 'message' && node.subtype === 'rfc822');
    if (nested && depth >= limits.maxDepth) {
      return { ...node, type: 'application', subtype: 'octet-stream', params: [] };
    }
    if (node.type === 'multipart') {
      const boundary = node.params.find(([name]) => name === 'boundary')?.[1];
      const ranges = boundary ? splitMultipart(raw, bodyStart, end, boundary) : [];
      // A multipart without parts has no BODYSTRUCTURE form (RFC 3501 §9 body-type-mpart needs one).
      if (ranges.length === 0) return { ...node, ...TEXT_PLAIN };
      node.children = [];
      for (const [s, e] of ranges) {
        if (budget <= 0) break;
        node.children.push(walk(s, e, depth + 1, node.subtype === 'digest'));
      }
    } else if (node.type === 'message' && node.subtype === 'rfc822') {
      node.message = walk(bodyStart, end, depth + 1, false);
    }
    return node;
  };
  return walk(0, raw.length, 0, false);
}

/** Lines of a body: its LFs, plus one for a last line without a line break. */
export function countLines(raw: Buffer, start: number, end: number): number {
  if (end <= start) return 0;
  const body = raw.subarray(start, end);
  let lines = 0;
  for (let i = body.indexOf(LF); i >= 0; i = body.indexOf(LF, i + 1)) lines += 1;
  return body[body.length - 1] === LF ? lines : lines + 1;
}
