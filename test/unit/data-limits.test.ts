import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../server/lib/byte-budget.js';
import { DataScanner, type DataLimits, type DataVerdict } from '../../server/smtp/data-limits.js';

const LIMITS: DataLimits = {
  maxBytes: 200_000,
  maxHeaderBytes: 4_000,
  maxHeaderLines: 50,
  maxMimeParts: 20,
  maxMimeDepth: 4,
};

function scan(message: string, splits: number[] = [], budget = new ByteBudget(1_000_000)): DataVerdict {
  const bytes = Buffer.from(message, 'latin1');
  const scanner = new DataScanner(LIMITS, budget);
  let start = 0;
  for (const at of [...new Set(splits.map((s) => s % (bytes.length + 1)))].sort((a, b) => a - b)) {
    scanner.push(bytes.subarray(start, at));
    start = at;
  }
  scanner.push(bytes.subarray(start));
  return scanner.finish();
}

const reason = (verdict: DataVerdict) => (verdict.ok ? 'ok' : verdict.reason);

function multipart(boundary: string, parts: string[]): string {
  return `Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\npreamble\r\n${parts
    .map((p) => `--${boundary}\r\n${p}\r\n`)
    .join('')}--${boundary}--\r\nepilogue\r\n`;
}

function nested(depth: number): string {
  let body = 'Content-Type: text/plain\r\n\r\nleaf';
  for (let d = depth; d > 0; d--) body = multipart(`level${d}`, [body]);
  return body;
}

const TEXT = 'Content-Type: text/plain\r\n\r\nhello';
const CASES: Record<string, string> = {
  ok: `From: a@b.test\r\nSubject: fine\r\n${multipart('outer', [TEXT, nested(2), TEXT])}`,
  header_size: `Subject: many\r\n${'X-H: 1\r\n'.repeat(60)}\r\nbody\r\n`,
  mime_parts: `Subject: parts\r\n${multipart(
    'b',
    Array.from({ length: 21 }, () => TEXT),
  )}`,
  mime_depth: `Subject: deep\r\n${nested(5)}`,
  size: `Subject: big\r\n\r\n${`${'z'.repeat(998)}\r\n`.repeat(250)}`,
};

describe('DataScanner', () => {
  it('gives each limit its own verdict', () => {
    for (const [expected, message] of Object.entries(CASES))
      expect(reason(scan(message)), expected).toBe(expected);
    expect(reason(scan(`Subject: deep enough\r\n${nested(4)}`))).toBe('ok');
    expect(
      reason(
        scan(
          `Subject: parts\r\n${multipart(
            'b',
            Array.from({ length: 20 }, () => TEXT),
          )}`,
        ),
      ),
    ).toBe('ok');
  });

  it('follows embedded messages: message/rfc822 parts count towards the nesting depth', () => {
    const embedded = (inner: string) => `Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n${inner}`;
    expect(reason(scan(`Subject: fwd\r\n${multipart('x', [embedded(nested(2))])}`))).toBe('ok');
    expect(reason(scan(`Subject: fwd\r\n${multipart('x', [embedded(nested(3))])}`))).toBe('mime_depth');
  });

  it('returns the message byte for byte when it passes', () => {
    const verdict = scan(CASES.ok as string, [1, 7, 100, 101]);
    expect(verdict.ok && verdict.raw.toString('latin1')).toBe(CASES.ok);
  });

  it('reaches the same verdict however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(CASES)),
        fc.array(fc.nat(), { maxLength: 40 }),
        (name, splits) => reason(scan(CASES[name] as string, splits)) === name,
      ),
      { numRuns: 200 },
    );
  });

  it('takes what it keeps from the shared budget and gives it all back', () => {
    const budget = new ByteBudget(100);
    expect(reason(scan(CASES.ok as string, [], budget))).toBe('memory');
    expect(budget.used).toBe(0);
    const roomy = new ByteBudget(1_000_000);
    expect(reason(scan(CASES.ok as string, [5, 50], roomy))).toBe('ok');
    expect(roomy.used).toBe(0);
  });
});
