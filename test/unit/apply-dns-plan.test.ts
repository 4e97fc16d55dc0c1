import { describe, expect, it } from 'vitest';
import { applyDns, type DesiredRecord } from '../../cli/dns-providers/index.js';
import {
  checkRecord,
  errorText,
  cloudflareContent,
  cloudflareTxtContent,
  mostSpecificZones,
  parseCharacterStrings,
  planCloudflare,
  planRoute53,
  route53TxtValue,
  route53Value,
  splitCharacterStrings,
  zoneNameCandidates,
  type CloudflareRecord,
  type Route53RecordSet,
} from '../../cli/dns-providers/plan.js';

const a = (n: number) => 'a'.repeat(n);
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

const txt = (host: string, value: string): DesiredRecord => ({
  purpose: 'ownership',
  type: 'TXT',
  host,
  value,
});
const mx = (value: string, priority?: number): DesiredRecord => ({
  purpose: 'inbound',
  type: 'MX',
  host: 'example.com',
  value,
  ...(priority != null ? { priority } : {}),
});
const address = (type: 'A' | 'AAAA', value: string): DesiredRecord => ({
  purpose: 'mta_sts_host',
  type,
  host: 'mta-sts.example.com',
  value,
});
const cname = (value: string): DesiredRecord => ({
  purpose: 'return_path',
  type: 'CNAME',
  host: 'bounces.example.com',
  value,
});

describe('TXT character-strings: at most 255 bytes each, never splitting a character', () => {
  it.each([
    ['255 ASCII bytes stay one string', a(255), [255]],
    ['256 ASCII bytes become 255 + 1', a(256), [255, 1]],
    ['a 2048-bit DKIM record (410 bytes) becomes 255 + 155', a(410), [255, 155]],
    ['253 + a 2-byte é is exactly 255 bytes: one string', `${a(253)}é`, [255]],
    ['254 + a 2-byte é would be 256: é moves whole to the next string', `${a(254)}é`, [254, 2]],
    ['254 + a 4-byte emoji: the emoji moves whole', `${a(254)}😀`, [254, 4]],
    ['128 two-byte characters: 127 fit (254 bytes), the last moves', 'é'.repeat(128), [254, 2]],
    ['255 double quotes count one byte each before escaping', '"'.repeat(255), [255]],
    ['256 backslashes split like any byte', '\\'.repeat(256), [255, 1]],
  ])('%s', (_name, value, sizes) => {
    const chunks = splitCharacterStrings(value);
    expect(chunks.map(bytes)).toEqual(sizes);
    expect(chunks.join('')).toBe(value);
  });
});

describe('Route 53 TXT values: quoted, escaped, octal for non-ASCII bytes, and they read back', () => {
  it.each([
    ['plain', 'loftbox-verification=abc', '"loftbox-verification=abc"'],
    ['spaces stay inside one string', 'v=DMARC1; p=none', '"v=DMARC1; p=none"'],
    ['quotes and backslashes are escaped', 'say "hi" \\o/', '"say \\"hi\\" \\\\o/"'],
    ['UTF-8 bytes become octal escapes', 'é', '"\\303\\251"'],
    ['two strings at the 255-byte mark', a(256), `"${a(255)}" "a"`],
    ['255 quotes: one string of 255 escaped quotes', '"'.repeat(255), `"${'\\"'.repeat(255)}"`],
  ])('%s', (_name, value, expected) => {
    expect(route53TxtValue(value)).toBe(expected);
    expect(parseCharacterStrings(expected, 8)).toBe(value);
  });

  it.each([`${a(254)}é`, `${a(300)}"${a(300)}`, '😀'.repeat(70), 'mixé "quoted" \\ text'])(
    'round-trips %#',
    (value) => {
      expect(parseCharacterStrings(route53TxtValue(value), 8)).toBe(value);
    },
  );
});

describe('Cloudflare TXT content', () => {
  it.each([
    ['plain values go unquoted', 'loftbox-verification=abc', 'loftbox-verification=abc'],
    ['long plain values go unquoted (Cloudflare splits them)', a(410), a(410)],
    ['a value with quotes goes as quoted strings', 'a "b"', '"a \\"b\\""'],
    ['UTF-8 stays literal when quoted', `${a(254)}é\\`, `"${a(254)}" "é\\\\"`],
  ])('%s', (_name, value, expected) => {
    expect(cloudflareTxtContent(value)).toBe(expected);
    if (expected.startsWith('"')) expect(parseCharacterStrings(expected, 10)).toBe(value);
  });

  it.each([
    ['octal on Route 53', '"\\101"', 8, 'A'],
    ['decimal on Cloudflare (RFC 1035)', '"\\065"', 10, 'A'],
    ['strings are concatenated', '"v=DKIM1; " "p=abc"', 10, 'v=DKIM1; p=abc'],
    ['a bare word is read as a string', 'hello', 10, 'hello'],
  ] as const)('\\DDD escapes and strings: %s', (_name, text, radix, value) => {
    expect(parseCharacterStrings(text, radix)).toBe(value);
  });
});

describe('MX and CNAME values', () => {
  it.each([
    [
      'priority field (what the server sends)',
      mx('mx.loftbox.test', 10),
      '10 mx.loftbox.test.',
      'mx.loftbox.test',
      10,
    ],
    [
      '"N host" value without a priority field',
      mx('20 MX.Loftbox.Test.'),
      '20 mx.loftbox.test.',
      'mx.loftbox.test',
      20,
    ],
    ['priority 0', mx('mx.loftbox.test', 0), '0 mx.loftbox.test.', 'mx.loftbox.test', 0],
  ])('MX from %s', (_name, record, route53, content, priority) => {
    expect(route53Value(record)).toBe(route53);
    expect(cloudflareContent(record)).toEqual({ content, priority });
  });

  it('CNAME targets are absolute on Route 53 and bare on Cloudflare', () => {
    expect(route53Value(cname('RP.loftbox.test'))).toBe('rp.loftbox.test.');
    expect(cloudflareContent(cname('rp.loftbox.test.'))).toEqual({ content: 'rp.loftbox.test' });
  });

  it('A and AAAA values are the bare address on both providers', () => {
    expect(route53Value(address('A', '192.0.2.7'))).toBe('192.0.2.7');
    expect(route53Value(address('AAAA', '2001:db8::7'))).toBe('2001:db8::7');
    expect(cloudflareContent(address('A', '192.0.2.7'))).toEqual({ content: '192.0.2.7' });
  });
});

describe('record checks before any provider call', () => {
  it.each([
    ['a TXT record', txt('_loftbox.example.com', 'loftbox-verification=x'), undefined],
    ['a trailing dot on the host', txt('_dmarc.example.com.', 'v=DMARC1; p=none'), undefined],
    ['an MX with a priority', mx('mx.loftbox.test', 10), undefined],
    ['an MX as "10 host"', mx('10 mx.loftbox.test'), undefined],
    ['an MX without a priority', mx('mx.loftbox.test'), 'the MX record has no priority'],
    [
      'an MX priority out of range',
      mx('mx.loftbox.test', 70000),
      'the MX priority is not an integer from 0 to 65535',
    ],
    ['an MX target that is not a name', mx('not a host', 10), 'the MX target is not a valid DNS name'],
    ['a CNAME target that is not a name', cname('http://x'), 'the CNAME target is not a valid DNS name'],
    ['a host with a space', txt('bad host.example.com', 'x'), 'the host is not a valid DNS name'],
    ['a single-label host', txt('localhost', 'x'), 'the host is not a valid DNS name'],
    ['a 64-character label', txt(`${a(64)}.example.com`, 'x'), 'the host is not a valid DNS name'],
    [
      'a value with a newline',
      txt('x.example.com', 'a\nb'),
      'the value is empty or contains control characters',
    ],
    [
      'a value with ESC',
      txt('x.example.com', 'a\u001b]0;pwn\u0007'),
      'the value is empty or contains control characters',
    ],
    ['an empty value', txt('x.example.com', ''), 'the value is empty or contains control characters'],
    ['an A record', address('A', '192.0.2.7'), undefined],
    ['an AAAA record', address('AAAA', '2001:db8::7'), undefined],
    ['an A value that is not IPv4', address('A', '2001:db8::7'), 'the A value is not an IPv4 address'],
    [
      'an AAAA value that is not IPv6',
      address('AAAA', 'mx.example'),
      'the AAAA value is not an IPv6 address',
    ],
    [
      'an unsupported type',
      { ...txt('x.example.com', '0 issue "ca.test"'), type: 'CAA' } as unknown as DesiredRecord,
      'unsupported record type CAA',
    ],
  ])('%s', (_name, record, problem) => {
    expect(checkRecord(record)).toBe(problem);
  });
});

describe('zone inference: most specific first, public zones only', () => {
  const zone = (id: string, name: string, priv = false) => ({ id, name, private: priv });
  it.each([
    ['the only public zone containing the host', 'x.example.com', [zone('A', 'example.com.')], ['A']],
    [
      'the most specific of two',
      '_dmarc.mail.example.com',
      [zone('A', 'example.com.'), zone('B', 'mail.example.com.')],
      ['B'],
    ],
    [
      'the zone apex itself',
      'example.com',
      [zone('A', 'example.com.'), zone('B', 'mail.example.com.')],
      ['A'],
    ],
    [
      'a more specific private zone is ignored',
      'x.mail.example.com',
      [zone('A', 'example.com.'), zone('P', 'mail.example.com.', true)],
      ['A'],
    ],
    [
      'a split-horizon private twin is ignored',
      'x.example.com',
      [zone('P', 'example.com.', true), zone('A', 'example.com.')],
      ['A'],
    ],
    [
      'labels must match whole: notexample.com is not inside example.com',
      'notexample.com',
      [zone('A', 'example.com.')],
      [],
    ],
    ['no zone at all', 'x.example.com', [zone('O', 'other.test.')], []],
    [
      'duplicate public zones are all returned (the caller refuses)',
      'x.example.com',
      [zone('A', 'example.com.'), zone('B', 'Example.COM')],
      ['A', 'B'],
    ],
  ])('%s', (_name, host, zones, ids) => {
    expect(mostSpecificZones(host, zones).map((z) => z.id)).toEqual(ids);
  });

  it.each([
    ['lb1._domainkey.example.com', ['lb1._domainkey.example.com', '_domainkey.example.com', 'example.com']],
    ['Example.COM.', ['example.com']],
  ])('Cloudflare zone names for %s', (host, names) => {
    expect(zoneNameCandidates(host)).toEqual(names);
  });
});

describe('Route 53 plan: UPSERT of the union, conflict for a different CNAME', () => {
  const set = (values: string[], extra: Partial<Route53RecordSet> = {}): Route53RecordSet => ({
    ttl: 3600,
    values,
    ...extra,
  });
  const ownership = txt('_loftbox.example.com', 'loftbox-verification=x');
  const dmarc = txt('_dmarc.example.com', 'v=DMARC1; p=none');
  it.each([
    [
      'TXT, nothing there',
      ownership,
      [],
      false,
      { action: 'upsert', values: ['"loftbox-verification=x"'], ttl: 300 },
    ],
    [
      'TXT beside another value keeps it and its TTL',
      ownership,
      [set(['"google-site-verification=y"'])],
      false,
      { action: 'upsert', values: ['"google-site-verification=y"', '"loftbox-verification=x"'], ttl: 3600 },
    ],
    [
      'TXT already there',
      ownership,
      [set(['"other"', '"loftbox-verification=x"'])],
      false,
      { action: 'skip' },
    ],
    [
      'TXT already there, split differently',
      ownership,
      [set(['"loftbox-" "verification=x"'])],
      false,
      { action: 'skip' },
    ],
    [
      'MX beside a backup MX',
      mx('mx.loftbox.test', 10),
      [set(['20 backup.example.net.'])],
      false,
      { action: 'upsert', values: ['20 backup.example.net.', '10 mx.loftbox.test.'], ttl: 3600 },
    ],
    [
      'MX already there (case, dot)',
      mx('mx.loftbox.test', 10),
      [set(['10 MX.LOFTBOX.TEST'])],
      false,
      { action: 'skip' },
    ],
    [
      'MX with the same host at another priority is added, not changed',
      mx('mx.loftbox.test', 10),
      [set(['20 mx.loftbox.test.'])],
      false,
      { action: 'upsert', values: ['20 mx.loftbox.test.', '10 mx.loftbox.test.'], ttl: 3600 },
    ],
    [
      'CNAME, nothing there',
      cname('rp.loftbox.test'),
      [],
      false,
      { action: 'upsert', values: ['rp.loftbox.test.'] },
    ],
    ['CNAME already there', cname('rp.loftbox.test'), [set(['RP.loftbox.test.'])], false, { action: 'skip' }],
    ['CNAME elsewhere', cname('rp.loftbox.test'), [set(['old.example.net.'])], false, { action: 'conflict' }],
    [
      'CNAME elsewhere with overwrite keeps its TTL',
      cname('rp.loftbox.test'),
      [set(['old.example.net.'])],
      true,
      { action: 'upsert', values: ['rp.loftbox.test.'], ttl: 3600 },
    ],
    [
      'SPF beside a verification TXT is merged',
      txt('example.com', 'v=spf1 include:loftbox.test ~all'),
      [set(['"google-site-verification=y"'])],
      false,
      { action: 'upsert', values: ['"google-site-verification=y"', '"v=spf1 include:loftbox.test ~all"'] },
    ],
    [
      'a different DMARC policy is a conflict, not a second policy',
      dmarc,
      [set(['"other"', '"v=DMARC1; p=reject"'])],
      false,
      { action: 'conflict' },
    ],
    [
      'a different DMARC policy with overwrite is replaced, other values kept',
      dmarc,
      [set(['"other"', '"v=DMARC1; p=reject"'])],
      true,
      { action: 'upsert', values: ['"other"', '"v=DMARC1; p=none"'], ttl: 3600 },
    ],
    [
      'an MTA-STS record with an older policy id is a conflict: two would void the policy',
      txt('_mta-sts.example.com', 'v=STSv1; id=new'),
      [set(['"v=STSv1; id=old"'])],
      false,
      { action: 'conflict' },
    ],
    [
      'an older MTA-STS id with overwrite is replaced',
      txt('_mta-sts.example.com', 'v=STSv1; id=new'),
      [set(['"v=STSv1; id=old"'])],
      true,
      { action: 'upsert', values: ['"v=STSv1; id=new"'], ttl: 3600 },
    ],
    [
      'a TLS-RPT record sending reports elsewhere is a conflict',
      txt('_smtp._tls.example.com', 'v=TLSRPTv1; rua=mailto:tlsrpt@loftbox.test'),
      [set(['"v=TLSRPTv1; rua=mailto:tls@example.com"'])],
      false,
      { action: 'conflict' },
    ],
    [
      'an old DKIM key at the selector, split in strings, is a conflict',
      txt('lb1._domainkey.example.com', 'v=DKIM1; k=rsa; p=NEW'),
      [set(['"v=DKIM1; k=rsa; " "p=OLD"'])],
      false,
      { action: 'conflict' },
    ],
    ['an alias record set', cname('rp.loftbox.test'), [set([], { alias: true })], true, { action: 'error' }],
    [
      'weighted record sets',
      ownership,
      [set(['"a"'], { setIdentifier: 'one' }), set(['"b"'], { setIdentifier: 'two' })],
      false,
      { action: 'error' },
    ],
  ] as const)('%s', (_name, record, existing, overwrite, expected) => {
    expect(planRoute53(record, [...existing], overwrite)).toMatchObject(expected);
  });
});

describe('Cloudflare plan: create beside the others, update a CNAME only with overwrite', () => {
  const rec = (content: string, priority?: number, id = 'r1'): CloudflareRecord => ({
    id,
    content,
    priority,
  });
  const dkim = `v=DKIM1; k=rsa; p=${a(400)}`;
  it.each([
    ['TXT, nothing there', txt('x.example.com', 'v=1'), [], false, { action: 'create', content: 'v=1' }],
    [
      'TXT beside another',
      txt('x.example.com', 'v=1'),
      [rec('"other"')],
      false,
      { action: 'create', content: 'v=1' },
    ],
    ['TXT stored quoted', txt('x.example.com', 'v=1'), [rec('"v=1"')], false, { action: 'skip' }],
    ['TXT stored unquoted', txt('x.example.com', 'v=1'), [rec('v=1')], false, { action: 'skip' }],
    [
      'long TXT stored as split strings',
      txt('x.example.com', dkim),
      [rec(route53TxtValue(dkim))],
      false,
      { action: 'skip' },
    ],
    [
      'MX beside a backup',
      mx('mx.loftbox.test', 10),
      [rec('backup.example.net', 20)],
      false,
      { action: 'create', content: 'mx.loftbox.test', priority: 10 },
    ],
    ['MX already there', mx('mx.loftbox.test', 10), [rec('MX.loftbox.test', 10)], false, { action: 'skip' }],
    [
      'a different DMARC policy is a conflict',
      txt('_dmarc.example.com', 'v=DMARC1; p=none'),
      [rec('other', undefined, 'o1'), rec('"v=DMARC1; p=reject"', undefined, 'd1')],
      false,
      { action: 'conflict' },
    ],
    [
      'a different DMARC policy with overwrite updates that record only',
      txt('_dmarc.example.com', 'v=DMARC1; p=none'),
      [rec('other', undefined, 'o1'), rec('v=DMARC1; p=reject', undefined, 'd1')],
      true,
      { action: 'update', id: 'd1', content: 'v=DMARC1; p=none' },
    ],
    ['CNAME already there', cname('rp.loftbox.test'), [rec('rp.loftbox.test')], false, { action: 'skip' }],
    ['CNAME elsewhere', cname('rp.loftbox.test'), [rec('old.example.net')], false, { action: 'conflict' }],
    [
      'CNAME elsewhere with overwrite',
      cname('rp.loftbox.test'),
      [rec('old.example.net', undefined, 'cn1')],
      true,
      { action: 'update', id: 'cn1', content: 'rp.loftbox.test' },
    ],
  ] as const)('%s', (_name, record, existing, overwrite, expected) => {
    expect(planCloudflare(record, [...existing], overwrite)).toMatchObject(expected);
  });
});

describe('provider errors in details', () => {
  it.each([
    ['a plain error', new Error('boom'), 'boom'],
    [
      'a named SDK error',
      Object.assign(new Error('No hosted zone'), { name: 'NoSuchHostedZone' }),
      'NoSuchHostedZone: No hosted zone',
    ],
    [
      'a connection error with its causes',
      new Error('Connection error.', {
        cause: new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') }),
      }),
      'Connection error: fetch failed: connect ECONNREFUSED',
    ],
    ['response text with control characters', new Error('400 {\n "bad"\u001b[2J }'), '400 {  "bad" [2J }'],
    ['a thrown string', 'nope', 'nope'],
  ])('%s', (_name, err, text) => {
    expect(errorText(err)).toBe(text);
  });
});

describe('applyDns dry-run', () => {
  it('answers per record in order, reporting a bad record as an error', async () => {
    const records = [txt('_loftbox.example.com', 'v=1'), txt('bad host', 'v=1'), mx('mx.loftbox.test', 10)];
    const outcomes = await applyDns({
      provider: 'route53',
      records,
      dryRun: true,
      overwrite: false,
      env: {},
    });
    expect(outcomes.map((o) => [o.record, o.result])).toEqual([
      [records[0], 'dry-run'],
      [records[1], 'error'],
      [records[2], 'dry-run'],
    ]);
    expect(outcomes[0]!.detail).toBe(
      'would UPSERT TXT _loftbox.example.com. = "v=1" in the most specific public hosted zone that contains it, keeping any existing values',
    );
    expect(outcomes[1]!.detail).toBe('the host is not a valid DNS name');
  });

  it('warns that a second DMARC policy would be a conflict', async () => {
    const [outcome] = await applyDns({
      provider: 'route53',
      records: [txt('_dmarc.example.com', 'v=DMARC1; p=none')],
      dryRun: true,
      overwrite: false,
      env: {},
    });
    expect(outcome!.detail).toContain(
      'unless a different DMARC record exists (conflict without --overwrite), keeping other values',
    );
  });

  it('names the given zone and the overwrite rule', async () => {
    const [outcome] = await applyDns({
      provider: 'cloudflare',
      records: [cname('rp.loftbox.test')],
      dryRun: true,
      overwrite: true,
      zoneId: 'zone-1',
      env: {},
    });
    expect(outcome!.detail).toBe(
      'would set CNAME bounces.example.com = rp.loftbox.test in zone zone-1, replacing a different CNAME record (--overwrite)',
    );
  });
});
