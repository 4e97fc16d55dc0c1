import { fc, test as property } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { authResultsPrefix, authservId, neutraliseForgedAuthResults } from '../../server/lib/raw-mail.js';

const HOST = 'mx.loftbox.example';

const neutralise = (header: string) =>
  neutraliseForgedAuthResults(
    Buffer.from(`${header}\r\nSubject: s\r\n\r\nbody\r\n`, 'latin1'),
    HOST,
  ).toString('latin1');

describe('forged Authentication-Results (RFC 8601 §5)', () => {
  it.each([
    ['plain', `Authentication-Results: ${HOST}; spf=pass`],
    ['folded before the id', `Authentication-Results:\r\n ${HOST};\r\n spf=pass`],
    ['folded after the id', `Authentication-Results: ${HOST}\r\n\t; dkim=pass`],
    ['versioned', `Authentication-Results: ${HOST} 1; dkim=pass`],
    ['commented', `Authentication-Results: (a (nested) comment) ${HOST} (ours?); dmarc=pass`],
    ['upper case, trailing dot', `AUTHENTICATION-RESULTS: ${HOST.toUpperCase()}.; spf=pass`],
    ['space before the colon', `Authentication-Results  : ${HOST}; spf=pass`],
    ['quoted id', `Authentication-Results: "${HOST}"; spf=pass`],
    ['no results', `Authentication-Results: ${HOST}; none`],
  ])('renames one that is %s', (_name, header) => {
    const out = neutralise(header);
    expect(out.startsWith(`X-Untrusted-${header}\r\nSubject: s\r\n`)).toBe(true);
    expect(out).not.toMatch(/^Authentication-Results/im);
  });

  it.each([
    ['another host', 'Authentication-Results: mx.other.example; spf=pass'],
    ['a host that ends like ours', `Authentication-Results: evil${HOST}; spf=pass`],
    ['our host only in a comment', `Authentication-Results: other.example (${HOST}); spf=pass`],
    ['our host in a property', `Authentication-Results: other.example; spf=pass smtp.mailfrom=a@${HOST}`],
  ])('keeps one from %s', (_name, header) => {
    expect(neutralise(header)).toBe(`${header}\r\nSubject: s\r\n\r\nbody\r\n`);
  });

  it('leaves the body alone, even when it looks like a header', () => {
    const raw = `Subject: s\r\n\r\nAuthentication-Results: ${HOST}; spf=pass\r\n`;
    expect(neutraliseForgedAuthResults(Buffer.from(raw), HOST).toString()).toBe(raw);
  });

  it('reads the authserv-id past comments, folding and a version', () => {
    expect(authservId(' (c) Mx.Example.Org. 1 ; spf=pass')).toBe('mx.example.org');
    expect(authservId('\r\n mx.example.org;')).toBe('mx.example.org');
    expect(authservId(' "mx.example.org" ; none')).toBe('mx.example.org');
  });

  property.prop([
    fc.constantFrom(' ', '\r\n ', '\r\n\t', ' (x) ', '(y)'),
    fc.constantFrom('', ' 1', ' 2 (v)'),
  ])('renames our claim whatever whitespace, comment or version surrounds it', (space, version) => {
    const header = `Authentication-Results:${space}${HOST}${version}${space};${space}spf=pass`;
    expect(neutralise(header)).not.toMatch(/^Authentication-Results/im);
  });

  it('makes our own header a prefix with CRLF line ends, ending where the message begins', () => {
    const prefix = authResultsPrefix(`Authentication-Results: ${HOST};\n spf=none`);
    expect(prefix?.toString()).toBe(`Authentication-Results: ${HOST};\r\n spf=none\r\n`);
    expect(authResultsPrefix('')).toBeNull();
  });
});
