/**
 * IMAP command input: framing (lines and literals, RFC 3501 §2.2 and §4.3, LITERAL+ RFC 7888) under hard
 * caps, then tokenizing one complete command into atoms, strings, lists and fetch sections. Both halves
 * are total on arbitrary bytes: they return or throw ImapParseError, never anything else.
 */

const LF = 0x0a;
const CR = 0x0d;

/** A client error; `fatal` ones (pathological input) end the connection after the reply. */
export class ImapParseError extends Error {
  constructor(
    message: string,
    readonly tag: string | null = null,
    readonly fatal = false,
  ) {
    super(message);
  }
}

export interface FramerLimits {
  /** Longest line (one command, or one segment between literals), CRLF excluded. */
  maxLineBytes: number;
}

/** What the framer found next in the input. */
export type Frame =
  /** A whole command: its lines with the literal bytes spliced in where announced, final CRLF removed. */
  | { kind: 'command'; data: Buffer }
  /**
   * A literal announced at the end of a line. The caller decides, then calls acceptLiteral() (sending
   * `+` first for a synchronizing one) or, for a refused synchronizing literal, skipCommand().
   * `count` is the literal's 1-based position in the command.
   */
  | { kind: 'literal'; tag: string; command: string; size: number; sync: boolean; count: number }
  /** No line break within the line limit: the client is not speaking IMAP. */
  | { kind: 'line-too-long' };

// `{123}` or `{123+}` closing a line. Eleven digits already exceed any cap, so longer counts are refused
// without ever being turned into a number.
const LITERAL_MARKER = /\{(\d{1,11})(\+?)\}$/;

/**
 * Splits a byte stream into commands. Literal bytes are only read once the caller has accepted them, so
 * a refused literal can never be executed as commands (nor can anything sent before the client saw `+`).
 */
export class CommandFramer {
  private buffer: Buffer = Buffer.alloc(0);
  /** Where the search for the next LF resumes (everything before it has none). */
  private scanFrom = 0;
  /** Segments of the command being assembled: lines ending in a literal marker, and literal bytes. */
  private parts: Buffer[] = [];
  private literals = 0;
  private pending: { size: number } | null = null;
  /** Literal bytes still to read; -1 when reading a line. */
  private literalRemaining = -1;

  get buffered(): number {
    return this.buffer.length;
  }

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
  }

  /** Drops everything received so far (STARTTLS: cleartext sent after the command is never executed). */
  discard(): void {
    this.buffer = Buffer.alloc(0);
    this.scanFrom = 0;
    this.resetCommand();
  }

  next(limits: FramerLimits): Frame | null {
    if (this.pending) return null;
    if (this.literalRemaining >= 0) {
      if (this.buffer.length < this.literalRemaining) return null;
      this.parts.push(this.buffer.subarray(0, this.literalRemaining));
      this.buffer = this.buffer.subarray(this.literalRemaining);
      this.literalRemaining = -1;
      this.scanFrom = 0;
    }
    const lf = this.buffer.indexOf(LF, this.scanFrom);
    if (lf < 0) {
      this.scanFrom = this.buffer.length;
      return this.buffer.length > limits.maxLineBytes ? { kind: 'line-too-long' } : null;
    }
    const end = lf > 0 && this.buffer[lf - 1] === CR ? lf - 1 : lf;
    if (end > limits.maxLineBytes) return { kind: 'line-too-long' };
    const line = this.buffer.subarray(0, end);
    const rest = this.buffer.subarray(lf + 1);
    this.scanFrom = 0;
    const marker = LITERAL_MARKER.exec(line.subarray(Math.max(0, line.length - 16)).toString('latin1'));
    if (!marker) {
      this.buffer = rest;
      const data = Buffer.concat([...this.parts, line]);
      this.resetCommand();
      return { kind: 'command', data };
    }
    // The tokenizer expects each literal as `{n}` CRLF bytes, whatever line ending the client used.
    this.parts.push(line, Buffer.from('\r\n'));
    this.buffer = rest;
    this.literals += 1;
    const size = Number(marker[1]);
    this.pending = { size };
    const [tag = '', command = ''] = (this.parts[0] as Buffer).subarray(0, 64).toString('latin1').split(' ');
    return {
      kind: 'literal',
      tag,
      command: command.toUpperCase(),
      size,
      sync: marker[2] === '',
      count: this.literals,
    };
  }

  acceptLiteral(): void {
    if (!this.pending) return;
    this.literalRemaining = this.pending.size;
    this.pending = null;
  }

  /**
   * Abandons a command whose synchronizing literal was refused: the client never got `+`, so it sends
   * no literal bytes and treats the command as failed (RFC 3501 §7.5).
   */
  skipCommand(): void {
    this.resetCommand();
  }

  private resetCommand(): void {
    this.parts = [];
    this.literals = 0;
    this.pending = null;
    this.literalRemaining = -1;
  }
}

export type Token =
  | { type: 'atom'; value: string }
  | { type: 'string'; value: string }
  | { type: 'list'; items: Token[] }
  /** `BODY[…]<…>` and friends (RFC 3501 §6.4.5): the section is tokenized like a list. */
  | { type: 'section'; name: string; section: Token[]; partial: PartialRange | null };

export interface PartialRange {
  start: number;
  count: number | null;
}

export interface Command {
  tag: string;
  /** Upper-cased. */
  name: string;
  args: Token[];
}

export interface TokenizeLimits {
  /** Deepest parenthesised list or section accepted (RFC 3501 sets none; real commands use 2 or 3). */
  maxDepth: number;
}

const MAX_TAG_LENGTH = 256;
const SECTION_ATOMS = new Set(['BODY', 'BODY.PEEK', 'BINARY', 'BINARY.PEEK', 'BINARY.SIZE']);

/** tag = 1*<any ASTRING-CHAR except "+"> (RFC 3501 §9). */
function isTagChar(c: number): boolean {
  return c > 0x20 && c < 0x7f && !'(){%*"\\+'.includes(String.fromCharCode(c));
}

/** Bytes that end an atom; `]` only inside a section (elsewhere it is an ASTRING-CHAR). */
function endsAtom(c: number, inSection: boolean): boolean {
  return c === 0x20 || c === 0x28 || c === 0x29 || c === 0x22 || (inSection && c === 0x5d);
}

class Tokenizer {
  private pos = 0;

  constructor(
    private readonly data: Buffer,
    private readonly tag: string,
    private readonly limits: TokenizeLimits,
  ) {}

  private fail(message: string, fatal = false): never {
    throw new ImapParseError(message, this.tag, fatal);
  }

  atEnd(): boolean {
    return this.pos >= this.data.length;
  }

  skipSpaces(): void {
    while (this.data[this.pos] === 0x20) this.pos += 1;
  }

  /** Tokens until the end of input, or until `close` (a `)` or `]`) which is consumed. */
  sequence(depth: number, close: number | null): Token[] {
    if (depth > this.limits.maxDepth) this.fail('Too deeply nested', true);
    const tokens: Token[] = [];
    for (;;) {
      this.skipSpaces();
      if (this.atEnd()) {
        if (close !== null) this.fail('Unterminated list');
        return tokens;
      }
      const c = this.data[this.pos] as number;
      if (c === close) {
        this.pos += 1;
        return tokens;
      }
      tokens.push(this.token(depth, close === 0x5d));
    }
  }

  private token(depth: number, inSection: boolean): Token {
    const c = this.data[this.pos] as number;
    if (c === 0x28) {
      this.pos += 1;
      return { type: 'list', items: this.sequence(depth + 1, 0x29) };
    }
    if (c === 0x29) this.fail('Unexpected )');
    if (c === 0x22) return this.quoted();
    if (c === 0x7b) return this.literal();
    return this.atom(depth, inSection);
  }

  private quoted(): Token {
    const bytes: number[] = [];
    this.pos += 1;
    for (;;) {
      if (this.atEnd()) this.fail('Unterminated quoted string');
      const c = this.data[this.pos] as number;
      this.pos += 1;
      if (c === 0x22) break;
      if (c === CR || c === LF || c === 0) this.fail('Invalid character in quoted string');
      if (c === 0x5c) {
        const escaped = this.data[this.pos];
        if (escaped !== 0x22 && escaped !== 0x5c) this.fail('Invalid escape in quoted string');
        this.pos += 1;
        bytes.push(escaped);
      } else {
        bytes.push(c);
      }
    }
    return { type: 'string', value: Buffer.from(bytes).toString('utf8') };
  }

  private literal(): Token {
    const match = /^\{(\d{1,11})\+?\}\r\n/.exec(
      this.data.subarray(this.pos, this.pos + 16).toString('latin1'),
    );
    if (!match) this.fail('Invalid literal');
    const size = Number(match[1]);
    const start = this.pos + match[0].length;
    if (start + size > this.data.length) this.fail('Truncated literal');
    this.pos = start + size;
    return { type: 'string', value: this.data.subarray(start, start + size).toString('utf8') };
  }

  private atom(depth: number, inSection: boolean): Token {
    const start = this.pos;
    while (!this.atEnd()) {
      const c = this.data[this.pos] as number;
      if (endsAtom(c, inSection)) break;
      if (c < 0x20 || c === 0x7f) this.fail('Invalid character');
      if (c === 0x7b) this.fail('Invalid literal');
      if (
        c === 0x5b &&
        SECTION_ATOMS.has(this.data.subarray(start, this.pos).toString('latin1').toUpperCase())
      ) {
        return this.section(this.data.subarray(start, this.pos).toString('latin1').toUpperCase(), depth);
      }
      this.pos += 1;
    }
    if (this.pos === start) this.fail('Expected an atom');
    return { type: 'atom', value: this.data.subarray(start, this.pos).toString('utf8') };
  }

  private section(name: string, depth: number): Token {
    this.pos += 1;
    const section = this.sequence(depth + 1, 0x5d);
    let partial: PartialRange | null = null;
    if (this.data[this.pos] === 0x3c) {
      const match = /^<(\d{1,10})(?:\.(\d{1,10}))?>/.exec(
        this.data.subarray(this.pos, this.pos + 24).toString('latin1'),
      );
      if (!match) this.fail('Invalid partial');
      const count = match[2] === undefined ? null : Number(match[2]);
      if (count === 0) this.fail('Invalid partial');
      partial = { start: Number(match[1]), count };
      this.pos += match[0].length;
    }
    if (!this.atEnd() && !endsAtom(this.data[this.pos] as number, false)) this.fail('Invalid section');
    return { type: 'section', name, section, partial };
  }
}

/** Tokenizes one command from the framer: `tag SP command [SP arguments]`. */
export function parseCommand(data: Buffer, limits: TokenizeLimits): Command {
  const space = data.indexOf(0x20);
  const tagEnd = space < 0 ? data.length : space;
  const tagBytes = data.subarray(0, tagEnd);
  if (tagBytes.length === 0 || tagBytes.length > MAX_TAG_LENGTH || !tagBytes.every(isTagChar)) {
    throw new ImapParseError(tagBytes.length > MAX_TAG_LENGTH ? 'Tag too long' : 'Invalid tag');
  }
  const tag = tagBytes.toString('latin1');
  if (space < 0) throw new ImapParseError('Missing command', tag);
  const tokenizer = new Tokenizer(data.subarray(space + 1), tag, limits);
  const [first, ...args] = tokenizer.sequence(0, null);
  if (first?.type !== 'atom') throw new ImapParseError('Missing command', tag);
  return { tag, name: first.value.toUpperCase(), args };
}

/** An atom or string argument (`astring`), or null when the token is neither. */
export function astring(token: Token | undefined): string | null {
  return token && (token.type === 'atom' || token.type === 'string') ? token.value : null;
}
