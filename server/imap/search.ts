import { bodyStartOf, parseHeaders } from './mime.js';
import { ImapParseError, astring, type Token } from './parser.js';
import { inSequenceSet, parseSequenceSet, type SeqRange } from './sequence.js';
import type { MessageMeta, SearchFields } from './store.js';

type TextField = 'from' | 'to' | 'cc' | 'bcc' | 'subject' | 'body' | 'text';

/** SEARCH criteria (RFC 3501 §6.4.4) as a tree. */
export type SearchKey =
  | { op: 'and'; keys: SearchKey[] }
  | { op: 'or'; left: SearchKey; right: SearchKey }
  | { op: 'not'; key: SearchKey }
  /** Flags a read-only mailbox can never have (\Answered, \Flagged, \Deleted, \Draft, \Recent, keywords). */
  | { op: 'const'; value: boolean }
  | { op: 'seen'; value: boolean }
  | { op: 'seq' | 'uid'; set: SeqRange[] }
  | { op: 'date'; field: 'internal' | 'sent'; cmp: 'before' | 'on' | 'since'; day: number }
  | { op: 'size'; cmp: 'larger' | 'smaller'; value: number }
  | { op: 'text'; field: TextField; value: string }
  | { op: 'header'; name: string; value: string };

/** Charsets SEARCH strings may be given in; both read as UTF-8. */
export const SEARCH_CHARSETS = ['UTF-8', 'US-ASCII'];

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAY_MS = 86_400_000;
/** NOT and OR nest by recursion: bounded so a line of 20 000 NOTs cannot exhaust the stack. */
const MAX_KEY_DEPTH = 64;

const CONSTANT: Record<string, boolean> = {
  ANSWERED: false,
  DELETED: false,
  DRAFT: false,
  FLAGGED: false,
  RECENT: false,
  NEW: false,
  UNANSWERED: true,
  UNDELETED: true,
  UNDRAFT: true,
  UNFLAGGED: true,
  OLD: true,
};

const TEXT_KEYS: Record<string, TextField> = {
  FROM: 'from',
  TO: 'to',
  CC: 'cc',
  BCC: 'bcc',
  SUBJECT: 'subject',
  BODY: 'body',
  TEXT: 'text',
};

const DATE_KEYS: Record<string, { field: 'internal' | 'sent'; cmp: 'before' | 'on' | 'since' }> = {
  BEFORE: { field: 'internal', cmp: 'before' },
  ON: { field: 'internal', cmp: 'on' },
  SINCE: { field: 'internal', cmp: 'since' },
  SENTBEFORE: { field: 'sent', cmp: 'before' },
  SENTON: { field: 'sent', cmp: 'on' },
  SENTSINCE: { field: 'sent', cmp: 'since' },
};

/** `d-Mon-yyyy` (RFC 3501 §9 date) as a UTC day number, or null. */
function dayOf(day: string, month: string, year: string): number | null {
  const m = MONTHS.indexOf(month.toLowerCase());
  const d = Number(day);
  if (m < 0 || d < 1 || d > 31) return null;
  return Date.UTC(Number(year), m, d) / DAY_MS;
}

class KeyParser {
  private pos = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly tag: string,
  ) {}

  private fail(message: string): never {
    throw new ImapParseError(message, this.tag);
  }

  done(): boolean {
    return this.pos >= this.tokens.length;
  }

  private string(): string {
    const value = astring(this.tokens[this.pos]);
    if (value === null) this.fail('Expected a string');
    this.pos += 1;
    return value;
  }

  private number(): number {
    const value = this.string();
    if (!/^\d{1,19}$/.test(value)) this.fail('Expected a number');
    return Number(value);
  }

  private date(): number {
    const match = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(this.string());
    const day = match ? dayOf(match[1] as string, match[2] as string, match[3] as string) : null;
    if (day === null) this.fail('Invalid date');
    return day;
  }

  key(depth: number): SearchKey {
    if (depth > MAX_KEY_DEPTH) this.fail('Search too deeply nested');
    const token = this.tokens[this.pos];
    if (!token) this.fail('Missing search key');
    this.pos += 1;
    if (token.type === 'list') {
      const inner = new KeyParser(token.items, this.tag);
      const keys: SearchKey[] = [];
      while (!inner.done()) keys.push(inner.key(depth + 1));
      if (keys.length === 0) this.fail('Empty search list');
      return { op: 'and', keys };
    }
    if (token.type !== 'atom') this.fail('Invalid search key');
    const name = token.value.toUpperCase();
    if (name === 'ALL') return { op: 'and', keys: [] };
    if (name === 'SEEN' || name === 'UNSEEN') return { op: 'seen', value: name === 'SEEN' };
    if (name in CONSTANT) return { op: 'const', value: CONSTANT[name] as boolean };
    if (name === 'KEYWORD' || name === 'UNKEYWORD') {
      this.string();
      return { op: 'const', value: name === 'UNKEYWORD' };
    }
    const textField = TEXT_KEYS[name];
    if (textField) return { op: 'text', field: textField, value: this.string() };
    const date = DATE_KEYS[name];
    if (date) return { op: 'date', ...date, day: this.date() };
    switch (name) {
      case 'HEADER': {
        const field = this.string().toLowerCase();
        return { op: 'header', name: field, value: this.string() };
      }
      case 'LARGER':
      case 'SMALLER':
        return { op: 'size', cmp: name === 'LARGER' ? 'larger' : 'smaller', value: this.number() };
      case 'NOT':
        return { op: 'not', key: this.key(depth + 1) };
      case 'OR':
        return { op: 'or', left: this.key(depth + 1), right: this.key(depth + 1) };
      case 'UID':
        return { op: 'uid', set: parseSequenceSet(this.string(), this.tag) };
    }
    if (/^[\d*]/.test(name)) return { op: 'seq', set: parseSequenceSet(name, this.tag) };
    this.fail('Unknown search key');
  }
}

/** The SEARCH arguments: `[CHARSET name] key…` (RFC 3501 §6.4.4). */
export function parseSearch(args: Token[], tag: string): { charset: string | null; key: SearchKey } {
  let rest = args;
  let charset: string | null = null;
  const first = args[0];
  if (first?.type === 'atom' && first.value.toUpperCase() === 'CHARSET') {
    charset = astring(args[1]);
    if (charset === null) throw new ImapParseError('Missing charset', tag);
    rest = args.slice(2);
  }
  const parser = new KeyParser(rest, tag);
  const keys: SearchKey[] = [];
  while (!parser.done()) keys.push(parser.key(0));
  if (keys.length === 0) throw new ImapParseError('Missing search key', tag);
  return { charset, key: keys.length === 1 ? (keys[0] as SearchKey) : { op: 'and', keys } };
}

/** Whether evaluating the key needs the decoded fields. */
export function needsFields(key: SearchKey): boolean {
  switch (key.op) {
    case 'and':
      return key.keys.some(needsFields);
    case 'or':
      return needsFields(key.left) || needsFields(key.right);
    case 'not':
      return needsFields(key.key);
    default:
      return key.op === 'text';
  }
}

/** One message as SEARCH sees it; the expensive parts are loaded only when a key asks. */
export interface SearchCandidate {
  seq: number;
  meta: MessageMeta;
  fields: SearchFields | null;
  raw: () => Buffer | null;
  /** `*` in sequence and UID sets. */
  lastSeq: number;
  lastUid: number;
}

const contains = (haystack: string, needle: string) => haystack.toLowerCase().includes(needle.toLowerCase());

/** Header fields of the stored message, unfolded, as UTF-8 text (what SEARCH compares against). */
function headerText(raw: Buffer | null): { key: string; value: string }[] {
  if (!raw) return [];
  return parseHeaders(raw, 0, bodyStartOf(raw, 0, raw.length)).map((h) => ({
    key: h.key,
    value: Buffer.from(h.value, 'latin1').toString('utf8'),
  }));
}

/** The day a Date: header names, as written (RFC 3501: disregarding time and timezone). */
function sentDay(headers: { key: string; value: string }[]): number | null {
  const value = headers.find((h) => h.key === 'date')?.value;
  const match = value ? /(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{4})/.exec(value) : null;
  return match ? dayOf(match[1] as string, match[2] as string, match[3] as string) : null;
}

function compareDay(day: number | null, cmp: 'before' | 'on' | 'since', wanted: number): boolean {
  if (day === null) return false;
  return cmp === 'before' ? day < wanted : cmp === 'on' ? day === wanted : day >= wanted;
}

export function matches(key: SearchKey, c: SearchCandidate): boolean {
  switch (key.op) {
    case 'and':
      return key.keys.every((k) => matches(k, c));
    case 'or':
      return matches(key.left, c) || matches(key.right, c);
    case 'not':
      return !matches(key.key, c);
    case 'const':
      return key.value;
    case 'seen':
      return c.meta.seen === key.value;
    case 'seq':
      return inSequenceSet(key.set, c.seq, c.lastSeq);
    case 'uid':
      return inSequenceSet(key.set, c.meta.uid, c.lastUid);
    case 'size':
      return key.cmp === 'larger' ? c.meta.size > key.value : c.meta.size < key.value;
    case 'date':
      return key.field === 'internal'
        ? compareDay(Math.floor(c.meta.internalDate.getTime() / DAY_MS), key.cmp, key.day)
        : compareDay(sentDay(headerText(c.raw())), key.cmp, key.day);
    case 'header':
      return headerText(c.raw()).some((h) => h.key === key.name && contains(h.value, key.value));
    case 'text': {
      const f = c.fields;
      if (!f) return false;
      if (key.field !== 'text') return contains(f[key.field], key.value);
      // TEXT: anywhere in the header or the body (RFC 3501 §6.4.4).
      return (
        [f.subject, f.from, f.to, f.cc, f.body].some((v) => contains(v, key.value)) ||
        headerText(c.raw()).some((h) => contains(h.value, key.value))
      );
    }
  }
}
