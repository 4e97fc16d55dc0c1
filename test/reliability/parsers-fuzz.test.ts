import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DmarcReportError,
  parseDmarcAttachment,
  parseDmarcXml,
  type DmarcLimits,
  DEFAULT_DMARC_LIMITS,
} from '../../server/domains/dmarc-report.js';
import { CommandFramer, ImapParseError, parseCommand } from '../../server/imap/parser.js';
import { parseMessage } from '../../server/inbound/parse.js';
import { fuzzOptions } from './fuzz.js';

/**
 * TESTPLAN §11 fuzzing: the parsers that see hostile bytes first are total. The IMAP framer and
 * tokenizer return or throw ImapParseError; MIME parsing always yields a message; DMARC report parsing
 * returns reports or rejects with a DmarcReportError that is not hiding a programming error.
 */

/** Heap growth allowed across a whole property (generous: a leak grows without bound, GC noise does not). */
const HEAP_BOUND = 256 * 1024 * 1024;

function heapGrowth(before: number): number {
  return process.memoryUsage().heapUsed - before;
}

/** Byte strings that look like the protocol, so runs reach deep states instead of failing at byte one. */
const imapInput = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        'a1 ',
        'A0001 ',
        '* ',
        '+ ',
        'LOGIN ',
        'SELECT ',
        'UID FETCH ',
        'FETCH ',
        'SEARCH ',
        'BODY.PEEK[',
        'BODY[1.2.MIME]',
        'HEADER.FIELDS (',
        '<0.100>',
        '1:*',
        '(',
        ')',
        '[',
        ']',
        '"',
        '\\',
        '{5}\r\n',
        '{3+}\r\n',
        '{99999999999}\r\n',
        '~{4}\r\n',
        'NIL ',
        '\r\n',
        '\n',
        '\r',
        '\x00',
        '%*',
      ),
      fc.string({ maxLength: 40 }),
    ),
    { maxLength: 60 },
  )
  .map((parts) => Buffer.from(parts.join(''), 'latin1'));

function runImap(input: Buffer, splits: number[]): void {
  const framer = new CommandFramer();
  const chunks: Buffer[] = [];
  let at = 0;
  for (const split of [...splits].sort((a, b) => a - b)) {
    const end = Math.min(input.length, split);
    if (end > at) chunks.push(input.subarray(at, end));
    at = Math.max(at, end);
  }
  chunks.push(input.subarray(at));
  for (const chunk of chunks) {
    framer.push(chunk);
    // Each frame consumes input or waits for more, so this ends; the cap turns a hang into a failure.
    for (let guard = 0; guard < 10_000; guard++) {
      const frame = framer.next({ maxLineBytes: 8192 });
      if (!frame) break;
      if (frame.kind === 'line-too-long') return;
      if (frame.kind === 'literal') {
        if (frame.size <= 65_536) framer.acceptLiteral();
        else framer.skipCommand();
        continue;
      }
      try {
        const command = parseCommand(frame.data, { maxDepth: 16 });
        expect(typeof command.name).toBe('string');
      } catch (err) {
        if (!(err instanceof ImapParseError)) throw err;
      }
      expect(guard).toBeLessThan(9_999);
    }
  }
}

const headerName = fc.constantFrom(
  'From',
  'To',
  'Cc',
  'Subject',
  'Message-ID',
  'In-Reply-To',
  'References',
  'Content-Type',
  'Content-Transfer-Encoding',
  'Content-Disposition',
  'MIME-Version',
  'Date',
  'Received',
);
const headerValue = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.constantFrom(
    'multipart/mixed; boundary="b"',
    'multipart/alternative; boundary=b',
    'multipart/mixed; boundary=""',
    'text/plain; charset=iso-2022-jp',
    'text/plain; charset=utf-7',
    'text/html; charset=no-such-charset',
    'message/rfc822',
    "attachment; filename*0*=utf-8''%2e%2e; filename*1=/etc/passwd",
    'base64',
    'quoted-printable',
    '=?utf-8?B?////?=',
    '=?utf-8?Q?a=40b.test?= <x@y.test>',
    '=?x-unknown?Q?=FF=FE?=',
    '"A\r\n B" <a@b.test>',
  ),
);
const bodyPiece = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.constantFrom(
    '--b\r\n',
    '--b--\r\n',
    '--b',
    '\r\n\r\n',
    '=\r\n',
    '=4',
    '====',
    '\x00',
    'QUJD',
    '\xff\xfe',
  ),
);
const mimeInput = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.from(bytes)),
  fc
    .tuple(
      fc.array(fc.tuple(headerName, headerValue), { maxLength: 12 }),
      fc.array(fc.tuple(fc.array(fc.tuple(headerName, headerValue), { maxLength: 4 }), bodyPiece), {
        maxLength: 30,
      }),
      fc.integer({ min: 0, max: 60 }),
    )
    .map(([headers, parts, nesting]) => {
      const head = headers.map(([n, v]) => `${n}: ${v}\r\n`).join('');
      const open = 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'.repeat(nesting);
      const body = parts
        .map(([h, b]) => `--b\r\n${h.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n${b}\r\n`)
        .join('');
      return Buffer.from(`${head}\r\n${open}${body}--b--\r\n`, 'latin1');
    }),
);

const xmlish = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '<?xml version="1.0"?>',
        '<feedback>',
        '</feedback>',
        '<report_metadata><org_name>x</org_name><report_id>1</report_id>',
        '<date_range><begin>1</begin><end>99999999999999999999</end></date_range></report_metadata>',
        '<policy_published><domain>example.test</domain><p>none</p></policy_published>',
        '<record><row><source_ip>127.0.0.1</source_ip><count>-1</count>',
        '<policy_evaluated><disposition>none</disposition></policy_evaluated></row>',
        '<identifiers><header_from>a.test</header_from></identifiers></record>',
        '<!DOCTYPE x [<!ENTITY e "e">]>',
        '&e;',
        '<![CDATA[',
        ']]>',
        '<record>',
        '</record>',
        '<count>NaN</count>',
        '<begin>1e400</begin>',
      ),
      fc.string({ maxLength: 30 }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

const dmarcInput = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)),
  xmlish.map((xml) => Buffer.from(xml)),
  xmlish.map((xml) => gzipSync(Buffer.from(xml))),
  fc
    .uint8Array({ maxLength: 512 })
    .map((bytes) => Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from(bytes)])),
  fc
    .uint8Array({ maxLength: 512 })
    .map((bytes) => Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.from(bytes)])),
);

/** A DmarcReportError wrapping a TypeError or RangeError is our bug dressed up as a bad report. */
function expectCleanRejection(err: unknown): void {
  expect(err).toBeInstanceOf(DmarcReportError);
  const cause = (err as Error).cause;
  expect(cause instanceof TypeError || cause instanceof RangeError || cause instanceof ReferenceError).toBe(
    false,
  );
}

const SMALL_LIMITS: DmarcLimits = { ...DEFAULT_DMARC_LIMITS, maxInflatedBytes: 64 * 1024 };

describe('parser fuzzing (seeded)', () => {
  it('IMAP framer and tokenizer: total on arbitrary input split at arbitrary points', () => {
    const before = process.memoryUsage().heapUsed;
    fc.assert(
      fc.property(imapInput, fc.array(fc.nat({ max: 4096 }), { maxLength: 8 }), (input, splits) =>
        runImap(input, splits),
      ),
      fuzzOptions(400),
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
        (input) => runImap(input, []),
      ),
      fuzzOptions(200),
    );
    expect(heapGrowth(before)).toBeLessThan(HEAP_BOUND);
  });

  it('MIME: parseMessage always yields a message for hostile structure and bytes', async () => {
    const before = process.memoryUsage().heapUsed;
    await fc.assert(
      fc.asyncProperty(mimeInput, async (raw) => {
        const parsed = await parseMessage(raw);
        expect(typeof parsed.text).toBe('string');
        expect(Array.isArray(parsed.attachments)).toBe(true);
      }),
      fuzzOptions(150),
    );
    expect(heapGrowth(before)).toBeLessThan(HEAP_BOUND);
  });

  it('DMARC reports: reports or a clean DmarcReportError, for XML, gzip, zip-looking and random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        dmarcInput,
        fc.constantFrom(null, 'report.xml', 'report.xml.gz', 'report.zip', 'x.bin'),
        async (content, filename) => {
          try {
            const reports = await parseDmarcAttachment(
              { filename, contentType: 'application/octet-stream', content },
              SMALL_LIMITS,
            );
            expect(Array.isArray(reports)).toBe(true);
          } catch (err) {
            expectCleanRejection(err);
          }
        },
      ),
      fuzzOptions(300),
    );
    await fc.assert(
      fc.asyncProperty(xmlish, async (xml) => {
        try {
          await parseDmarcXml(xml, SMALL_LIMITS);
        } catch (err) {
          expectCleanRejection(err);
        }
      }),
      fuzzOptions(300),
    );
  });
});
