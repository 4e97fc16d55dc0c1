import { describe, expect, it } from 'vitest';
import { CommandFramer, ImapParseError, parseCommand, type Frame } from '../../server/imap/parser.js';
import {
  inSequenceSet,
  parseSequenceSet,
  selectBySequence,
  selectByUid,
} from '../../server/imap/sequence.js';

const LIMITS = { maxLineBytes: 1024 };
const parse = (text: string | Buffer) =>
  parseCommand(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, { maxDepth: 16 });

/** Feeds bytes and collects frames, accepting every literal. */
function frames(framer: CommandFramer, input: string): Frame[] {
  framer.push(Buffer.from(input, 'latin1'));
  const out: Frame[] = [];
  for (let frame = framer.next(LIMITS); frame; frame = framer.next(LIMITS)) {
    out.push(frame);
    // The session closes the connection here; the framer would report it again.
    if (frame.kind === 'line-too-long') break;
    if (frame.kind === 'literal') framer.acceptLiteral();
  }
  return out;
}

const text = (frame: Frame | null | undefined) =>
  frame?.kind === 'command' ? frame.data.toString('latin1') : `<${frame?.kind}>`;

describe('CommandFramer', () => {
  it('splits lines on CRLF or bare LF and waits for the rest of a line', () => {
    const framer = new CommandFramer();
    expect(frames(framer, 'a NOOP\r\nb CAPA').map(text)).toEqual(['a NOOP']);
    expect(frames(framer, 'BILITY\nc').map(text)).toEqual(['b CAPABILITY']);
    expect(framer.buffered).toBe(1);
  });

  it('announces a synchronizing literal and reads its bytes only once accepted', () => {
    const framer = new CommandFramer();
    framer.push(Buffer.from('a LOGIN {5}\r\nalice {3+}\r\nx\r\ny\r\n'));
    const first = framer.next(LIMITS);
    expect(first).toEqual({ kind: 'literal', tag: 'a', command: 'LOGIN', size: 5, sync: true, count: 1 });
    // Nothing moves until the caller decides.
    expect(framer.next(LIMITS)).toBeNull();
    framer.acceptLiteral();
    const second = framer.next(LIMITS);
    expect(second).toMatchObject({ kind: 'literal', size: 3, sync: false, count: 2 });
    framer.acceptLiteral();
    // The literal holds CRLF; it is data, not a line end.
    expect(text(framer.next(LIMITS))).toBe('a LOGIN {5}\r\nalice {3+}\r\nx\r\ny');
  });

  it('abandons a command whose synchronizing literal was refused', () => {
    const framer = new CommandFramer();
    framer.push(Buffer.from('a APPEND INBOX {99999}\r\nb NOOP\r\n'));
    expect(framer.next(LIMITS)?.kind).toBe('literal');
    framer.skipCommand();
    expect(text(framer.next(LIMITS))).toBe('b NOOP');
  });

  it('reports a line without LF beyond the cap, however it arrives', () => {
    const framer = new CommandFramer();
    for (let i = 0; i < 4; i++) {
      framer.push(Buffer.alloc(300, 0x61));
      const frame = framer.next(LIMITS);
      if (i < 3) expect(frame).toBeNull();
      else expect(frame).toEqual({ kind: 'line-too-long' });
    }
    const long = new CommandFramer();
    expect(frames(long, `${'x'.repeat(1025)}\r\n`)).toEqual([{ kind: 'line-too-long' }]);
    expect(frames(new CommandFramer(), `${'x'.repeat(1024)}\r\n`).map(text)).toEqual(['x'.repeat(1024)]);
  });

  it('never turns an absurd literal count into a number it would wait for', () => {
    const framer = new CommandFramer();
    framer.push(Buffer.from('a LOGIN {99999999999999999999}\r\n'));
    // Too many digits for a literal marker: the line is an ordinary (invalid) command.
    expect(text(framer.next(LIMITS))).toBe('a LOGIN {99999999999999999999}');
  });

  it('discards buffered input (STARTTLS injection)', () => {
    const framer = new CommandFramer();
    framer.push(Buffer.from('a STARTTLS\r\nb LOGIN x y\r\n'));
    expect(text(framer.next(LIMITS))).toBe('a STARTTLS');
    framer.discard();
    expect(framer.next(LIMITS)).toBeNull();
    expect(framer.buffered).toBe(0);
  });
});

describe('parseCommand', () => {
  it('reads tag, upper-cased command and arguments', () => {
    expect(parse('A1 login "al\\"ice" {3}\r\np w')).toEqual({
      tag: 'A1',
      name: 'LOGIN',
      args: [
        { type: 'string', value: 'al"ice' },
        { type: 'string', value: 'p w' },
      ],
    });
  });

  it('parses nested lists and NIL', () => {
    expect(parse('t ID ("name" NIL ("x"))').args).toEqual([
      {
        type: 'list',
        items: [
          { type: 'string', value: 'name' },
          { type: 'atom', value: 'NIL' },
          { type: 'list', items: [{ type: 'string', value: 'x' }] },
        ],
      },
    ]);
  });

  it('parses fetch sections with field lists and partials', () => {
    const [set, items] = parse(
      't FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (FROM "To")]<0.100> body[1.2.MIME])',
    ).args;
    expect(set).toEqual({ type: 'atom', value: '1:*' });
    expect(items).toEqual({
      type: 'list',
      items: [
        { type: 'atom', value: 'UID' },
        {
          type: 'section',
          name: 'BODY.PEEK',
          section: [
            { type: 'atom', value: 'HEADER.FIELDS' },
            {
              type: 'list',
              items: [
                { type: 'atom', value: 'FROM' },
                { type: 'string', value: 'To' },
              ],
            },
          ],
          partial: { start: 0, count: 100 },
        },
        { type: 'section', name: 'BODY', section: [{ type: 'atom', value: '1.2.MIME' }], partial: null },
      ],
    });
  });

  it('keeps brackets in ordinary atoms (mailbox names)', () => {
    expect(parse('t SELECT [Gmail]/Sent').args).toEqual([{ type: 'atom', value: '[Gmail]/Sent' }]);
  });

  it('refuses bad tags, including a 5000-byte one, without echoing them', () => {
    for (const bad of ['+ NOOP', '* NOOP', 'a(b NOOP', `${'t'.repeat(5000)} NOOP`, '']) {
      const err = (() => {
        try {
          parse(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ImapParseError);
      expect((err as ImapParseError).tag).toBeNull();
    }
  });

  it('refuses malformed strings and literals with the tag', () => {
    for (const bad of [
      't LOGIN "open',
      't LOGIN "a\\x"',
      't LOGIN {5}\r\nab',
      't LOGIN {3}ab',
      't X (a',
      't X a)',
    ]) {
      expect(() => parse(bad)).toThrow(ImapParseError);
      try {
        parse(bad);
      } catch (e) {
        expect((e as ImapParseError).tag).toBe('t');
      }
    }
  });

  it('caps nesting: 16 levels parse, deeper input is fatal, 5000 levels do not overflow the stack', () => {
    expect(() => parse(`t X ${'('.repeat(16)}${')'.repeat(16)}`)).not.toThrow();
    for (const depth of [17, 5000]) {
      try {
        parse(`t X ${'('.repeat(depth)}${')'.repeat(depth)}`);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(ImapParseError);
        expect((e as ImapParseError).fatal).toBe(true);
      }
    }
  });

  it('is total on arbitrary bytes: returns or throws ImapParseError', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 256;
    const alphabet = Buffer.from('t (){}[]<>."\\*%:,+0123456789 BODY.PEEK HEADER\r\n\0\xff', 'latin1');
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(
        Array.from(
          { length: 1 + (i % 60) },
          () => alphabet[Math.floor(random()) % alphabet.length] as number,
        ),
      );
      try {
        parse(Buffer.concat([Buffer.from('t '), bytes]));
      } catch (e) {
        expect(e).toBeInstanceOf(ImapParseError);
      }
    }
  });
});

describe('sequence sets', () => {
  it('parses numbers, ranges and *', () => {
    expect(parseSequenceSet('1,3:5,7:*,*')).toEqual([
      { from: 1, to: 1 },
      { from: 3, to: 5 },
      { from: 7, to: '*' },
      { from: '*', to: '*' },
    ]);
  });

  it('refuses zero, leading zeros, junk and numbers beyond 2^32-1', () => {
    for (const bad of ['0', '01', '1:', ':2', '1,,2', 'a', '4294967296', '1:2:3', '']) {
      expect(() => parseSequenceSet(bad)).toThrow(ImapParseError);
    }
    expect(parseSequenceSet('4294967295')).toEqual([{ from: 4294967295, to: 4294967295 }]);
  });

  it('selects by sequence number; explicit numbers past the end are invalid, * ranges are cut', () => {
    expect(selectBySequence(parseSequenceSet('2,4:3,1'), 5)).toEqual([0, 1, 2, 3]);
    expect(selectBySequence(parseSequenceSet('4:*'), 5)).toEqual([3, 4]);
    expect(selectBySequence(parseSequenceSet('9:*'), 5)).toEqual([4]);
    expect(selectBySequence(parseSequenceSet('6'), 5)).toBeNull();
    expect(selectBySequence(parseSequenceSet('1:*'), 0)).toEqual([]);
  });

  it('selects by UID: gaps skipped, n:* includes the last message (RFC 3501 §6.4.8)', () => {
    const uids = [2, 5, 9, 10];
    expect(selectByUid(parseSequenceSet('1:5'), uids)).toEqual([0, 1]);
    expect(selectByUid(parseSequenceSet('50:*'), uids)).toEqual([3]);
    expect(selectByUid(parseSequenceSet('3,4,6'), uids)).toEqual([]);
    expect(selectByUid(parseSequenceSet('1:*'), [])).toEqual([]);
  });

  it('answers membership for SEARCH keys', () => {
    const set = parseSequenceSet('2:4,*');
    expect([1, 2, 4, 5, 9].map((n) => inSequenceSet(set, n, 9))).toEqual([false, true, true, false, true]);
  });

  it('costs no more for a set repeating 1:* thousands of times', () => {
    const set = parseSequenceSet(Array.from({ length: 16_000 }, () => '1:*').join(','));
    const started = Date.now();
    expect(selectBySequence(set, 100_000)).toHaveLength(100_000);
    expect(
      selectByUid(
        set,
        Array.from({ length: 100_000 }, (_, i) => i + 1),
      ),
    ).toHaveLength(100_000);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
