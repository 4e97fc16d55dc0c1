import { describe, expect, it } from 'vitest';
import { parseAddressList } from '../../server/imap/addresses.js';
import {
  bodyStructure,
  envelope,
  imapDateTime,
  parseFetchItems,
  renderFetch,
  sectionBytes,
  type SectionSpec,
} from '../../server/imap/fetch.js';
import { bodyStartOf, parseHeaders, parseMime } from '../../server/imap/mime.js';
import { ImapParseError, parseCommand } from '../../server/imap/parser.js';
import { matches, parseSearch, type SearchCandidate } from '../../server/imap/search.js';
import { deepNesting, manyParts, message, multipart, part } from '../fixtures/mime.js';

const inner = message(
  { From: 'Inner <inner@x.test>', Subject: 'inner', 'Content-Type': 'text/plain; charset=utf-8' },
  'inner body\r\n',
);
const alt = multipart('alternative', 'alt', [
  part({ 'Content-Type': 'text/plain; charset="utf-8"' }, 'plain'),
  part(
    { 'Content-Type': 'text/html; charset=utf-8', 'Content-Transfer-Encoding': 'quoted-printable' },
    '<p>html</p>',
  ),
]);
const mixed = multipart('mixed', 'mix', [
  part({ 'Content-Type': alt.contentType }, alt.body),
  part(
    {
      'Content-Type': 'application/pdf; name="a.pdf"',
      'Content-Transfer-Encoding': 'base64',
      'Content-Disposition': 'attachment; filename="a.pdf"',
      'Content-ID': '<c1@x>',
    },
    'JVBERi0=\r\n',
  ),
  part({ 'Content-Type': 'message/rfc822' }, inner.toString('latin1')),
]);
const RAW = message(
  {
    From: '"Doe, John" <john@x.test>',
    To: 'a@b.test, Group: c@d.test, e@f.test;',
    Subject: '=?utf-8?q?h=C3=A9?=',
    'Message-ID': '<m1@x>',
    Date: 'Mon, 1 Jan 2030 10:00:00 +0000',
    'Content-Type': mixed.contentType,
  },
  mixed.body,
);

const section = (part: number[], kind: SectionSpec['kind'], fields: string[] = []) =>
  sectionBytes(RAW, { part, kind, fields }, () => parseMime(RAW))?.toString('latin1') ?? null;

describe('BODYSTRUCTURE and BODY (RFC 3501 §7.4.2)', () => {
  it('describes multipart/mixed with alternative, attachment and message/rfc822', () => {
    const root = parseMime(RAW);
    const innerEnvelope =
      '(NIL "inner" (("Inner" NIL "inner" "x.test")) (("Inner" NIL "inner" "x.test")) (("Inner" NIL "inner" "x.test")) NIL NIL NIL NIL NIL)';
    expect(bodyStructure(RAW, root, true)).toBe(
      '((("text" "plain" ("charset" "utf-8") NIL NIL "7BIT" 5 1 NIL NIL NIL NIL)' +
        '("text" "html" ("charset" "utf-8") NIL NIL "QUOTED-PRINTABLE" 11 1 NIL NIL NIL NIL)' +
        ' "alternative" ("boundary" "alt") NIL NIL NIL)' +
        '("application" "pdf" ("name" "a.pdf") "<c1@x>" NIL "BASE64" 10 NIL ("attachment" ("filename" "a.pdf")) NIL NIL)' +
        `("message" "rfc822" NIL NIL NIL "7BIT" 99 ${innerEnvelope} ("text" "plain" ("charset" "utf-8") NIL NIL "7BIT" 12 1 NIL NIL NIL NIL) 5 NIL NIL NIL NIL)` +
        ' "mixed" ("boundary" "mix") NIL NIL NIL)',
    );
    expect(bodyStructure(RAW, root, false)).toBe(
      '((("text" "plain" ("charset" "utf-8") NIL NIL "7BIT" 5 1)' +
        '("text" "html" ("charset" "utf-8") NIL NIL "QUOTED-PRINTABLE" 11 1) "alternative")' +
        '("application" "pdf" ("name" "a.pdf") "<c1@x>" NIL "BASE64" 10)' +
        `("message" "rfc822" NIL NIL NIL "7BIT" 99 ${innerEnvelope} ("text" "plain" ("charset" "utf-8") NIL NIL "7BIT" 12 1) 5) "mixed")`,
    );
  });

  it('defaults to text/plain us-ascii (RFC 2045 §5.2) and counts lines', () => {
    const simple = Buffer.from('Subject: x\r\n\r\nhello\r\nworld');
    expect(bodyStructure(simple, parseMime(simple), true)).toBe(
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 12 2 NIL NIL NIL NIL)',
    );
  });

  it('degrades malformed multiparts to leaves instead of failing', () => {
    for (const raw of [
      'Content-Type: multipart/mixed\r\n\r\nno boundary',
      'Content-Type: multipart/mixed; boundary=b\r\n\r\nboundary never appears',
      'Content-Type: garbage\r\n\r\nx',
    ]) {
      const bytes = Buffer.from(raw);
      expect(bodyStructure(bytes, parseMime(bytes), true)).toMatch(
        /^\("text" "plain" \("charset" "us-ascii"\)/,
      );
    }
    const unterminated = Buffer.from('Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nlast part');
    expect(bodyStructure(unterminated, parseMime(unterminated), false)).toBe(
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 9 1) "mixed")',
    );
  });

  it('bounds nesting depth and part count', () => {
    const deep = deepNesting(200);
    const structure = bodyStructure(deep, parseMime(deep), true);
    expect(structure.match(/"mixed"/g)).toHaveLength(32);
    expect(structure).toContain('"application" "octet-stream"');
    const many = manyParts(12_000);
    const root = parseMime(many);
    expect(root.children).toHaveLength(9_999);
  });
});

describe('ENVELOPE', () => {
  it('keeps values undecoded, expands groups and defaults Sender/Reply-To to From', () => {
    expect(envelope(parseHeaders(RAW, 0, bodyStartOf(RAW, 0, RAW.length)))).toBe(
      '("Mon, 1 Jan 2030 10:00:00 +0000" "=?utf-8?q?h=C3=A9?=" (("Doe, John" NIL "john" "x.test"))' +
        ' (("Doe, John" NIL "john" "x.test")) (("Doe, John" NIL "john" "x.test"))' +
        ' ((NIL NIL "a" "b.test")(NIL NIL "Group" NIL)(NIL NIL "c" "d.test")(NIL NIL "e" "f.test")(NIL NIL NIL NIL))' +
        ' NIL NIL NIL "<m1@x>")',
    );
  });

  it('sends 8-bit header bytes as a literal, byte for byte', () => {
    const raw = Buffer.concat([
      Buffer.from('Subject: '),
      Buffer.from('héllo', 'utf8'),
      Buffer.from('\r\n\r\nx'),
    ]);
    const out = envelope(parseHeaders(raw, 0, bodyStartOf(raw, 0, raw.length)));
    expect(Buffer.from(out, 'latin1').includes(Buffer.from('{6}\r\nhéllo', 'utf8'))).toBe(true);
  });

  it('parses address lists leniently', () => {
    expect(parseAddressList('Ann (comment) <ann@x.test>, "B \\"Q\\"" <b@y.test>, bare@z.test')).toEqual([
      { name: 'Ann', adl: null, mailbox: 'ann', host: 'x.test' },
      { name: 'B "Q"', adl: null, mailbox: 'b', host: 'y.test' },
      { name: null, adl: null, mailbox: 'bare', host: 'z.test' },
    ]);
    expect(parseAddressList('undisclosed-recipients:;')).toEqual([
      { name: null, adl: null, mailbox: 'undisclosed-recipients', host: null },
      { name: null, adl: null, mailbox: null, host: null },
    ]);
    expect(parseAddressList('<@relay.test:user@host.test>')).toEqual([
      { name: null, adl: '@relay.test', mailbox: 'user', host: 'host.test' },
    ]);
    expect(parseAddressList('<<<,,,:::;;;"')).toBeInstanceOf(Array);
  });
});

describe('sections (RFC 3501 §6.4.5)', () => {
  it('addresses header, text, parts, MIME headers and encapsulated messages', () => {
    expect(section([], 'header')).toBe(RAW.subarray(0, RAW.indexOf('\r\n\r\n') + 4).toString('latin1'));
    expect(section([], 'full')).toBe(RAW.toString('latin1'));
    expect(section([1, 1], 'full')).toBe('plain');
    expect(section([1, 2], 'mime')).toBe(
      'Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
    );
    expect(section([2], 'full')).toBe('JVBERi0=\r\n');
    expect(section([3], 'full')).toBe(inner.toString('latin1'));
    expect(section([3], 'header')).toBe(
      'From: Inner <inner@x.test>\r\nSubject: inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n',
    );
    expect(section([3], 'text')).toBe('inner body\r\n');
    expect(section([3, 1], 'full')).toBe('inner body\r\n');
  });

  it('answers null for parts that do not exist or are not messages', () => {
    expect(section([4], 'full')).toBeNull();
    expect(section([1, 1, 1], 'full')).toBeNull();
    expect(section([2], 'header')).toBeNull();
  });

  it('filters header fields in stored order and ends with the empty line', () => {
    expect(section([], 'fields', ['subject', 'from'])).toBe(
      'From: "Doe, John" <john@x.test>\r\nSubject: =?utf-8?q?h=C3=A9?=\r\n\r\n',
    );
    expect(section([3], 'fields-not', ['subject'])).toBe(
      'From: Inner <inner@x.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n',
    );
  });
});

describe('FETCH items', () => {
  const items = (text: string) =>
    parseFetchItems(parseCommand(Buffer.from(`t FETCH 1 ${text}`), { maxDepth: 16 }).args[1], 't');

  it('expands macros and echoes section names', () => {
    expect(items('FAST').map((i) => i.kind)).toEqual(['flags', 'internaldate', 'size']);
    const [peek] = items('BODY.PEEK[HEADER.FIELDS (From x-Custom)]<5.10>');
    expect(peek).toMatchObject({
      kind: 'section',
      label: 'BODY[HEADER.FIELDS (From x-Custom)]',
      partial: { start: 5, count: 10 },
    });
  });

  it('refuses unknown items, MIME without a part and BINARY (not advertised)', () => {
    for (const bad of [
      '(FLAGS BOGUS)',
      'BODY[MIME]',
      'BODY[1.BOGUS]',
      'BINARY[1]',
      '()',
      'BODY[HEADER.FIELDS]',
    ]) {
      expect(() => items(bad)).toThrow(ImapParseError);
    }
  });

  it('renders a FETCH response with the body as a literal and partials by origin', () => {
    const chunks = renderFetch(
      {
        seq: 3,
        uid: 7,
        seen: true,
        internalDate: new Date('2030-01-02T03:04:05Z'),
        size: RAW.length,
        raw: RAW,
      },
      items('(UID FLAGS INTERNALDATE RFC822.SIZE BODY[]<0.4> BODY[2])'),
    );
    expect(Buffer.concat(chunks).toString('latin1')).toBe(
      `* 3 FETCH (UID 7 FLAGS (\\Seen) INTERNALDATE "02-Jan-2030 03:04:05 +0000" RFC822.SIZE ${RAW.length}` +
        ' BODY[]<0> {4}\r\nFrom BODY[2] {10}\r\nJVBERi0=\r\n)\r\n',
    );
    expect(imapDateTime(new Date('2030-11-21T09:00:00Z'))).toBe('"21-Nov-2030 09:00:00 +0000"');
  });
});

describe('SEARCH', () => {
  const parse = (text: string) =>
    parseSearch(parseCommand(Buffer.from(`t SEARCH ${text}`), { maxDepth: 16 }).args, 't');
  const candidate: SearchCandidate = {
    seq: 2,
    meta: { uid: 5, seen: false, internalDate: new Date('2030-01-02T23:59:00Z'), size: 500 },
    fields: {
      uid: 5,
      from: 'Doe, John <john@x.test>',
      to: 'a@b.test',
      cc: '',
      bcc: '',
      subject: 'Héllo there',
      body: 'Twelve crates',
    },
    raw: () => RAW,
    lastSeq: 9,
    lastUid: 40,
  };
  const hit = (text: string) => matches(parse(text).key, candidate);

  it('matches text, dates, flags, sets and combinations', () => {
    expect(hit('FROM JOHN SUBJECT "héllo"')).toBe(true);
    expect(hit('BODY crates TO b.test')).toBe(true);
    expect(hit('TEXT m1@x')).toBe(true);
    expect(hit('HEADER Message-ID m1')).toBe(true);
    expect(hit('SINCE 2-Jan-2030 BEFORE 3-Jan-2030 ON 2-Jan-2030')).toBe(true);
    expect(hit('SENTON 1-Jan-2030')).toBe(true);
    expect(hit('UNSEEN UNDELETED NOT SEEN LARGER 100 SMALLER 1000')).toBe(true);
    expect(hit('OR FLAGGED UID 5:6')).toBe(true);
    expect(hit('2,4 UID 40:*')).toBe(false);
    expect(hit('(FROM nobody) ')).toBe(false);
  });

  it('parses CHARSET and refuses malformed or runaway criteria', () => {
    expect(parse('CHARSET UTF-8 ALL').charset).toBe('UTF-8');
    for (const bad of [
      '',
      'BOGUS',
      'SINCE 32-Jan-2030',
      'SINCE yesterday',
      'LARGER x',
      'OR ALL',
      `${'NOT '.repeat(100)}ALL`,
    ]) {
      expect(() => parse(bad)).toThrow(ImapParseError);
    }
  });
});
