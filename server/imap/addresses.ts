/**
 * RFC 5322 address lists as the ENVELOPE needs them (RFC 3501 §7.4.2): display name, source route,
 * local part and domain per address, with group start/end markers. Values stay undecoded binary
 * strings (encoded-words included), as the RFC asks. Lenient: malformed lists still yield addresses.
 */

export interface EnvelopeAddress {
  name: string | null;
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

type Piece = { kind: 'word'; text: string } | { kind: 'special'; text: string } | { kind: 'space' };

/** Words (quoted strings unquoted), specials and spaces; comments count as spaces. */
function lex(value: string): Piece[] {
  const pieces: Piece[] = [];
  let i = 0;
  while (i < value.length) {
    const c = value[i] as string;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      while (i < value.length && /[ \t\r\n]/.test(value[i] as string)) i += 1;
      pieces.push({ kind: 'space' });
    } else if (c === '"') {
      let text = '';
      for (i += 1; i < value.length && value[i] !== '"'; i++) {
        if (value[i] === '\\' && i + 1 < value.length) i += 1;
        text += value[i];
      }
      i += 1;
      pieces.push({ kind: 'word', text });
    } else if (c === '(') {
      let depth = 0;
      for (; i < value.length; i++) {
        if (value[i] === '\\') i += 1;
        else if (value[i] === '(') depth += 1;
        else if (value[i] === ')' && --depth === 0) break;
      }
      i += 1;
      pieces.push({ kind: 'space' });
    } else if ('<>,:;@'.includes(c)) {
      pieces.push({ kind: 'special', text: c });
      i += 1;
    } else {
      const start = i;
      while (i < value.length && !/[ \t\r\n"(<>,:;@]/.test(value[i] as string)) i += 1;
      pieces.push({ kind: 'word', text: value.slice(start, i) });
    }
  }
  return pieces;
}

/** Splits `local@domain` (or `@a,@b:local@domain` from an angle address) into envelope fields. */
function toAddress(name: string | null, spec: string): EnvelopeAddress {
  let adl: string | null = null;
  let rest = spec;
  const colon = spec.lastIndexOf(':');
  if (spec.startsWith('@') && colon > 0) {
    adl = spec.slice(0, colon);
    rest = spec.slice(colon + 1);
  }
  const at = rest.lastIndexOf('@');
  // host NIL would mean a group marker, so an address without a domain gets an empty one.
  return at < 0
    ? { name, adl, mailbox: rest, host: '' }
    : { name, adl, mailbox: rest.slice(0, at), host: rest.slice(at + 1) };
}

const MAX_ADDRESSES = 1000;

export function parseAddressList(value: string): EnvelopeAddress[] {
  const out: EnvelopeAddress[] = [];
  let phrase: Piece[] = [];
  let angle: string | null = null;
  let inAngle = false;
  let inGroup = false;

  const flush = () => {
    const words = phrase
      .map((p) => (p.kind === 'space' ? ' ' : p.text))
      .join('')
      .trim();
    if (angle !== null) {
      const name = phrase.filter((p) => p.kind === 'word').length > 0 ? words.replace(/\s+/g, ' ') : null;
      if (angle || name) out.push(toAddress(name, angle));
    } else if (words) {
      // A bare addr-spec: whitespace between its tokens is insignificant.
      out.push(toAddress(null, words.replace(/\s+/g, '')));
    }
    phrase = [];
    angle = null;
  };

  for (const piece of lex(value)) {
    if (out.length >= MAX_ADDRESSES) break;
    if (inAngle) {
      if (piece.kind === 'special' && piece.text === '>') inAngle = false;
      else if (piece.kind !== 'space') angle += piece.text;
      continue;
    }
    if (piece.kind !== 'special') {
      phrase.push(piece);
      continue;
    }
    switch (piece.text) {
      case '<':
        inAngle = true;
        angle = '';
        break;
      case ',':
        flush();
        break;
      case ':':
        if (!inGroup && angle === null) {
          // Group start: (NIL NIL groupname NIL) (RFC 3501 §7.4.2).
          const groupName = phrase
            .map((p) => (p.kind === 'space' ? ' ' : p.text))
            .join('')
            .trim();
          out.push({ name: null, adl: null, mailbox: groupName, host: null });
          phrase = [];
          inGroup = true;
        } else {
          phrase.push({ kind: 'word', text: ':' });
        }
        break;
      case ';':
        flush();
        if (inGroup) out.push({ name: null, adl: null, mailbox: null, host: null });
        inGroup = false;
        break;
      default:
        phrase.push({ kind: 'word', text: piece.text });
    }
  }
  flush();
  if (inGroup) out.push({ name: null, adl: null, mailbox: null, host: null });
  return out;
}
