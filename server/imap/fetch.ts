import { parseAddressList } from './addresses.js';
import { countLines, headerValue, parseHeaders, parseMime, parseParams, bodyStartOf } from './mime.js';
import type { HeaderField, MimeNode } from './mime.js';
import { ImapParseError, astring, type PartialRange, type Token } from './parser.js';
import { list, nstr, str } from './wire.js';

/** What a BODY[…] section names (RFC 3501 §6.4.5). `part` is the numeric path, empty for the message. */
export interface SectionSpec {
  part: number[];
  kind: 'full' | 'header' | 'text' | 'mime' | 'fields' | 'fields-not';
  /** Lower-cased field names of HEADER.FIELDS[.NOT]. */
  fields: string[];
}

export type FetchItem =
  | { kind: 'uid' | 'flags' | 'internaldate' | 'size' | 'envelope' | 'body' | 'bodystructure' }
  | {
      kind: 'section';
      /** The name the response carries, `BODY[1.MIME]` or `RFC822.HEADER`, before any `<origin>`. */
      label: string;
      spec: SectionSpec;
      partial: PartialRange | null;
    };

const SIMPLE: Record<string, FetchItem> = {
  UID: { kind: 'uid' },
  FLAGS: { kind: 'flags' },
  INTERNALDATE: { kind: 'internaldate' },
  'RFC822.SIZE': { kind: 'size' },
  ENVELOPE: { kind: 'envelope' },
  BODY: { kind: 'body' },
  BODYSTRUCTURE: { kind: 'bodystructure' },
  // RFC822 and RFC822.TEXT would set \Seen in a writable mailbox; ours is read-only (RFC 3501 §6.4.5).
  RFC822: { kind: 'section', label: 'RFC822', spec: { part: [], kind: 'full', fields: [] }, partial: null },
  'RFC822.HEADER': {
    kind: 'section',
    label: 'RFC822.HEADER',
    spec: { part: [], kind: 'header', fields: [] },
    partial: null,
  },
  'RFC822.TEXT': {
    kind: 'section',
    label: 'RFC822.TEXT',
    spec: { part: [], kind: 'text', fields: [] },
    partial: null,
  },
};

/** Macros (RFC 3501 §6.4.5); allowed only alone, not inside a list. */
const MACROS: Record<string, string[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

const KINDS: Record<string, SectionSpec['kind']> = {
  '': 'full',
  HEADER: 'header',
  TEXT: 'text',
  MIME: 'mime',
  'HEADER.FIELDS': 'fields',
  'HEADER.FIELDS.NOT': 'fields-not',
};

const MAX_PART_DEPTH = 64;

function parseSection(section: Token[], tag: string): { spec: SectionSpec; text: string } {
  const bad = (message: string): never => {
    throw new ImapParseError(message, tag);
  };
  const [head, fieldList, ...extra] = section;
  if (extra.length > 0 || (head && head.type !== 'atom')) bad('Invalid section');
  const pieces = head?.type === 'atom' ? head.value.split('.') : [];
  const part: number[] = [];
  while (pieces.length > 0 && /^[1-9]\d{0,8}$/.test(pieces[0] as string)) part.push(Number(pieces.shift()));
  if (part.length > MAX_PART_DEPTH) bad('Invalid section');
  const kindText = pieces.join('.').toUpperCase();
  const kind = KINDS[kindText] ?? bad('Invalid section');
  if (kind === 'mime' && part.length === 0) bad('MIME needs a part number');
  const wantsFields = kind === 'fields' || kind === 'fields-not';
  if (wantsFields !== (fieldList !== undefined)) bad('Invalid section');
  const names: string[] = [];
  if (fieldList) {
    if (fieldList.type !== 'list' || fieldList.items.length === 0) bad('Invalid header field list');
    for (const item of fieldList.type === 'list' ? fieldList.items : []) {
      const name = astring(item);
      if (!name || !/^[\x21-\x39\x3b-\x7e]+$/.test(name)) bad('Invalid header field name');
      names.push(name as string);
    }
  }
  const prefix = [...part.map(String), ...(kindText ? [kindText] : [])].join('.');
  const text = wantsFields
    ? `${prefix} (${names.map((n) => (/^[A-Za-z0-9-]+$/.test(n) ? n : str(n))).join(' ')})`
    : prefix;
  return { spec: { part, kind, fields: names.map((n) => n.toLowerCase()) }, text };
}

function parseItem(token: Token, tag: string): FetchItem {
  if (token.type === 'atom') {
    const item = SIMPLE[token.value.toUpperCase()];
    if (item) return item;
  } else if (token.type === 'section' && (token.name === 'BODY' || token.name === 'BODY.PEEK')) {
    // BODY[] and BODY.PEEK[] answer the same in a read-only mailbox: nothing is marked \Seen.
    const { spec, text } = parseSection(token.section, tag);
    return { kind: 'section', label: `BODY[${text}]`, spec, partial: token.partial };
  }
  throw new ImapParseError('Unknown or unsupported FETCH item', tag);
}

/** The FETCH item argument: a macro, one item, or a parenthesised list of items. */
export function parseFetchItems(arg: Token | undefined, tag: string): FetchItem[] {
  if (!arg) throw new ImapParseError('Missing FETCH items', tag);
  if (arg.type === 'atom' && MACROS[arg.value.toUpperCase()]) {
    return (MACROS[arg.value.toUpperCase()] as string[]).map((name) => SIMPLE[name] as FetchItem);
  }
  const tokens = arg.type === 'list' ? arg.items : [arg];
  if (tokens.length === 0) throw new ImapParseError('Empty FETCH item list', tag);
  return tokens.map((token) => parseItem(token, tag));
}

/** Whether rendering needs the stored bytes (everything but UID, FLAGS, INTERNALDATE, RFC822.SIZE). */
export function needsSource(items: readonly FetchItem[]): boolean {
  return items.some((item) => !['uid', 'flags', 'internaldate', 'size'].includes(item.kind));
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** date-time (RFC 3501 §9): "dd-Mon-yyyy hh:mm:ss +0000", in UTC. */
export function imapDateTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `"${pad(date.getUTCDate())}-${MONTHS[date.getUTCMonth()]}-${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000"`;
}

function addresses(headers: readonly HeaderField[], key: string): string | null {
  const value = headerValue(headers, key);
  const parsed = value === null ? [] : parseAddressList(value);
  if (parsed.length === 0) return null;
  // env-from = "(" 1*address ")": addresses follow each other without spaces (RFC 3501 §9).
  return `(${parsed.map((a) => `(${nstr(a.name)} ${nstr(a.adl)} ${nstr(a.mailbox)} ${nstr(a.host)})`).join('')})`;
}

/**
 * ENVELOPE (RFC 3501 §7.4.2): header values as stored, undecoded. Sender and Reply-To fall back to From
 * when absent or empty, as the RFC requires.
 */
export function envelope(headers: readonly HeaderField[]): string {
  const from = addresses(headers, 'from');
  return list([
    nstr(headerValue(headers, 'date')),
    nstr(headerValue(headers, 'subject')),
    from ?? 'NIL',
    addresses(headers, 'sender') ?? from ?? 'NIL',
    addresses(headers, 'reply-to') ?? from ?? 'NIL',
    addresses(headers, 'to') ?? 'NIL',
    addresses(headers, 'cc') ?? 'NIL',
    addresses(headers, 'bcc') ?? 'NIL',
    nstr(headerValue(headers, 'in-reply-to')),
    nstr(headerValue(headers, 'message-id')),
  ]);
}

function paramList(params: readonly [string, string][]): string {
  return list(
    params.map(([name, value]) => `${str(name)} ${str(value)}`),
    true,
  );
}

/** body-extension fields shared by every part: disposition, language, location (RFC 3501 §7.4.2). */
function extensionFields(node: MimeNode): string[] {
  const disposition = headerValue(node.headers, 'content-disposition');
  const parsed = disposition === null ? null : parseParams(disposition);
  const language = headerValue(node.headers, 'content-language');
  const languages =
    language === null
      ? []
      : language
          .split(',')
          .map((l) => l.trim())
          .filter(Boolean);
  return [
    parsed?.value ? list([str(parsed.value), paramList(parsed.params)]) : 'NIL',
    languages.length === 0
      ? 'NIL'
      : languages.length === 1
        ? str(languages[0] as string)
        : list(languages.map(str)),
    nstr(headerValue(node.headers, 'content-location')),
  ];
}

/** BODY (extensible = false) or BODYSTRUCTURE (true) of a node (RFC 3501 §7.4.2). */
export function bodyStructure(raw: Buffer, node: MimeNode, extensible: boolean): string {
  if (node.children) {
    const ext = extensible ? [paramList(node.params), ...extensionFields(node)] : [];
    return `(${node.children.map((child) => bodyStructure(raw, child, extensible)).join('')} ${[str(node.subtype), ...ext].join(' ')})`;
  }
  const fields = [
    str(node.type),
    str(node.subtype),
    paramList(node.params),
    nstr(headerValue(node.headers, 'content-id')),
    nstr(headerValue(node.headers, 'content-description')),
    str((headerValue(node.headers, 'content-transfer-encoding') || '7bit').toUpperCase()),
    String(node.end - node.bodyStart),
  ];
  if (node.message) {
    fields.push(envelope(node.message.headers), bodyStructure(raw, node.message, extensible));
  }
  if (node.message || node.type === 'text') fields.push(String(countLines(raw, node.bodyStart, node.end)));
  if (extensible) fields.push(nstr(headerValue(node.headers, 'content-md5')), ...extensionFields(node));
  return list(fields);
}

/**
 * The node a numeric part path names (RFC 3501 §6.4.5): parts of a multipart by position; part 1 of a
 * single-part message is its body; numbers after a message/rfc822 part address the message inside it.
 */
function resolvePart(root: MimeNode, path: readonly number[]): MimeNode | null {
  let node = root;
  let isMessage = true;
  for (let i = 0; i < path.length; i++) {
    const n = path[i] as number;
    if (node.children) {
      const child = node.children[n - 1];
      if (!child) return null;
      node = child;
      isMessage = false;
    } else if (n !== 1 || !isMessage) {
      return null;
    }
    if (i < path.length - 1 && node.message) {
      node = node.message;
      isMessage = true;
    }
  }
  return node;
}

/** HEADER.FIELDS[.NOT]: the chosen fields as stored, then the empty line ending a header. */
function headerFields(raw: Buffer, start: number, bodyStart: number, spec: SectionSpec): Buffer {
  const wanted = new Set(spec.fields);
  const keep = parseHeaders(raw, start, bodyStart).filter(
    (h) => wanted.has(h.key) === (spec.kind === 'fields'),
  );
  return Buffer.from(
    `${keep.map((h) => (h.raw.endsWith('\n') ? h.raw : `${h.raw}\r\n`)).join('')}\r\n`,
    'latin1',
  );
}

/** The bytes a section names, or null when the part does not exist. */
export function sectionBytes(raw: Buffer, spec: SectionSpec, structure: () => MimeNode): Buffer | null {
  if (spec.part.length === 0) {
    const bodyStart = bodyStartOf(raw, 0, raw.length);
    if (spec.kind === 'full') return raw;
    if (spec.kind === 'header') return raw.subarray(0, bodyStart);
    if (spec.kind === 'text') return raw.subarray(bodyStart);
    return headerFields(raw, 0, bodyStart, spec);
  }
  const node = resolvePart(structure(), spec.part);
  if (!node) return null;
  if (spec.kind === 'full') return raw.subarray(node.bodyStart, node.end);
  if (spec.kind === 'mime') return raw.subarray(node.start, node.bodyStart);
  // HEADER, HEADER.FIELDS and TEXT after a part number need a message/rfc822 part (RFC 3501 §6.4.5).
  const message = node.message;
  if (!message) return null;
  if (spec.kind === 'header') return raw.subarray(message.start, message.bodyStart);
  if (spec.kind === 'text') return raw.subarray(message.bodyStart, message.end);
  return headerFields(raw, message.start, message.bodyStart, spec);
}

export interface FetchMessage {
  seq: number;
  uid: number;
  seen: boolean;
  internalDate: Date;
  size: number;
  /** The stored bytes; null when no item needs them. */
  raw: Buffer | null;
}

/** One `* n FETCH (…)` response as byte chunks; message bytes are passed through, not copied. */
export function renderFetch(message: FetchMessage, items: readonly FetchItem[]): Buffer[] {
  const raw = message.raw ?? Buffer.alloc(0);
  let root: MimeNode | null = null;
  const structure = () => (root ??= parseMime(raw));
  const chunks: Buffer[] = [];
  let text = `* ${message.seq} FETCH (`;
  items.forEach((item, index) => {
    if (index > 0) text += ' ';
    switch (item.kind) {
      case 'uid':
        text += `UID ${message.uid}`;
        break;
      case 'flags':
        text += `FLAGS (${message.seen ? '\\Seen' : ''})`;
        break;
      case 'internaldate':
        text += `INTERNALDATE ${imapDateTime(message.internalDate)}`;
        break;
      case 'size':
        text += `RFC822.SIZE ${message.size}`;
        break;
      case 'envelope':
        text += `ENVELOPE ${envelope(parseHeaders(raw, 0, bodyStartOf(raw, 0, raw.length)))}`;
        break;
      case 'body':
      case 'bodystructure':
        text += `${item.kind.toUpperCase()} ${bodyStructure(raw, structure(), item.kind === 'bodystructure')}`;
        break;
      case 'section': {
        let bytes = sectionBytes(raw, item.spec, structure);
        text += item.partial ? `${item.label}<${item.partial.start}> ` : `${item.label} `;
        if (bytes === null) {
          text += 'NIL';
          break;
        }
        if (item.partial) {
          const start = Math.min(item.partial.start, bytes.length);
          bytes = bytes.subarray(
            start,
            item.partial.count === null ? bytes.length : start + item.partial.count,
          );
        }
        text += `{${bytes.length}}\r\n`;
        chunks.push(Buffer.from(text, 'latin1'), bytes);
        text = '';
        break;
      }
    }
  });
  chunks.push(Buffer.from(`${text})\r\n`, 'latin1'));
  return chunks;
}
