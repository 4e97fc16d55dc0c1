import { describe, expect, it } from 'vitest';
import { mxMatches, parseStsPolicy, parseStsRecord } from '../../server/outbound/mta-sts-policy.js';

describe('parseStsRecord (RFC 8461 §3.1)', () => {
  it('reads the id of the one v=STSv1 record, joining its strings', () => {
    expect(parseStsRecord(['v=STSv1; id=20160831085700Z;'])).toBe('20160831085700Z');
    expect(parseStsRecord([['v=STSv1; ', 'id=abc123']])).toBe('abc123');
    expect(parseStsRecord(['v=spf1 -all', 'v=STSv1;id=x1; ext=1'])).toBe('x1');
  });

  it('finds no policy in none, two, or malformed records', () => {
    expect(parseStsRecord([])).toBeNull();
    expect(parseStsRecord(['v=STSv1; id=a;', 'v=STSv1; id=b;'])).toBeNull();
    expect(parseStsRecord(['v=STSv1;'])).toBeNull();
    expect(parseStsRecord(['v=STSv1; id=has-dash;'])).toBeNull();
    expect(parseStsRecord([`v=STSv1; id=${'a'.repeat(33)};`])).toBeNull();
    expect(parseStsRecord(['v=STSv1; id=ok; garbage'])).toBeNull();
    expect(parseStsRecord(['v=STSv2; id=ok;'])).toBeNull();
  });
});

describe('parseStsPolicy (RFC 8461 §3.2)', () => {
  const policy = (...lines: string[]) => lines.join('\r\n') + '\r\n';

  it('parses a policy with CRLF or LF lines and several mx patterns', () => {
    expect(
      parseStsPolicy(
        policy(
          'version: STSv1',
          'mode: enforce',
          'mx: mail.example.com',
          'mx: *.Example.net',
          'max_age: 604800',
        ),
      ),
    ).toEqual({ mode: 'enforce', mx: ['mail.example.com', '*.example.net'], maxAge: 604800 });
    expect(parseStsPolicy('version: STSv1\nmode: testing\nmx: mx.a.test\nmax_age: 0')).toEqual({
      mode: 'testing',
      mx: ['mx.a.test'],
      maxAge: 0,
    });
  });

  it('ignores unknown keys and keeps the first of a repeated key', () => {
    expect(
      parseStsPolicy(
        policy('version: STSv1', 'mode: testing', 'mode: enforce', 'ext_key: 1', 'mx: a.test', 'max_age: 60'),
      ),
    ).toEqual({ mode: 'testing', mx: ['a.test'], maxAge: 60 });
  });

  it('accepts mode none without mx', () => {
    expect(parseStsPolicy(policy('version: STSv1', 'mode: none', 'max_age: 86400'))).toEqual({
      mode: 'none',
      mx: [],
      maxAge: 86400,
    });
  });

  it.each([
    ['a wrong version', policy('version: STSv2', 'mode: enforce', 'mx: a.test', 'max_age: 60')],
    ['no version', policy('mode: enforce', 'mx: a.test', 'max_age: 60')],
    ['an unknown mode', policy('version: STSv1', 'mode: strict', 'mx: a.test', 'max_age: 60')],
    ['max_age over a year', policy('version: STSv1', 'mode: enforce', 'mx: a.test', 'max_age: 31557601')],
    ['a negative max_age', policy('version: STSv1', 'mode: enforce', 'mx: a.test', 'max_age: -1')],
    ['no max_age', policy('version: STSv1', 'mode: enforce', 'mx: a.test')],
    ['enforce without mx', policy('version: STSv1', 'mode: enforce', 'max_age: 60')],
    [
      'a wildcard deeper than the first label',
      policy('version: STSv1', 'mode: enforce', 'mx: a.*.test', 'max_age: 60'),
    ],
    ['a bare wildcard', policy('version: STSv1', 'mode: enforce', 'mx: *', 'max_age: 60')],
    ['a line without a colon', policy('version: STSv1', 'mode: enforce', 'mx a.test', 'max_age: 60')],
    ['HTML instead of a policy', '<html><body>not found</body></html>'],
  ])('rejects %s', (_name, text) => {
    expect(parseStsPolicy(text)).toEqual({ error: expect.any(String) });
  });
});

describe('mxMatches (RFC 8461 §4.1)', () => {
  it('matches literally, case-insensitively, ignoring a trailing dot', () => {
    expect(mxMatches(['mail.example.com'], 'MAIL.example.com.')).toBe(true);
    expect(mxMatches(['mail.example.com'], 'mail2.example.com')).toBe(false);
  });

  it('lets a wildcard stand for exactly one leftmost label', () => {
    expect(mxMatches(['*.example.com'], 'mx1.example.com')).toBe(true);
    expect(mxMatches(['*.example.com'], 'example.com')).toBe(false);
    expect(mxMatches(['*.example.com'], 'a.b.example.com')).toBe(false);
    expect(mxMatches(['*.example.com'], 'mx1.badexample.com')).toBe(false);
  });
});
