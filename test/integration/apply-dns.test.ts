import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyDns, type ApplyOptions, type DesiredRecord } from '../../cli/dns-providers/index.js';
import { startTestServer, type Json } from '../harness/server.js';
import { startFakeCloudflare, type FakeCloudflare, type FakeZone } from '../fixtures/fake-cloudflare.js';
import { startFakeRoute53, type FakeHostedZone, type FakeRoute53 } from '../fixtures/fake-route53.js';

// A real 2048-bit DKIM record, as the server publishes one: about 410 bytes, so over one TXT string.
const DKIM = `v=DKIM1; k=rsa; p=${generateKeyPairSync('rsa', { modulusLength: 2048 })
  .publicKey.export({ type: 'spki', format: 'der' })
  .toString('base64')}`;

/** The five records of CONTRACT §3 for `domain`, shaped like `next_actions`. */
function recordsFor(domain: string): DesiredRecord[] {
  return [
    { purpose: 'ownership', type: 'TXT', host: `_loftbox.${domain}`, value: 'loftbox-verification=tok-123' },
    { purpose: 'inbound', type: 'MX', host: domain, value: 'mx.loftbox.test', priority: 10 },
    { purpose: 'dkim', type: 'TXT', host: `lb1._domainkey.${domain}`, value: DKIM },
    { purpose: 'return_path', type: 'CNAME', host: `bounces.${domain}`, value: 'rp.loftbox.test' },
    {
      purpose: 'dmarc',
      type: 'TXT',
      host: `_dmarc.${domain}`,
      value: 'v=DMARC1; p=none; rua=mailto:dmarc@loftbox.test',
    },
  ];
}

const AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'AKIDLOFTBOXTEST',
  AWS_SECRET_ACCESS_KEY: 'fake-secret',
  AWS_REGION: 'us-east-1',
};
const CF_TOKEN = 'cf-test-token';

/** An independent reading of a Route 53 TXT value: the quoted strings, unescaped. */
function txtStrings(value: string): string[] {
  return [...value.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map(([, inner = '']) => inner.replace(/\\(.)/g, '$1'));
}

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

beforeAll(() => {
  // The AWS SDK reads its config and credential sources from process.env, whatever env applyDns gets: keep
  // it off the instance metadata service and off any ~/.aws of the machine running the tests.
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
  vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/loftbox-test/aws-config');
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/loftbox-test/aws-credentials');
  for (const name of ['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
    vi.stubEnv(name, undefined);
  }
  for (const name of [
    'CLOUDFLARE_API_TOKEN',
    'CLOUDFLARE_API_KEY',
    'CLOUDFLARE_EMAIL',
    'CLOUDFLARE_BASE_URL',
  ]) {
    vi.stubEnv(name, undefined);
  }
});
afterAll(() => {
  vi.unstubAllEnvs();
});

/** example.com with another TXT value at our ownership name and a backup MX, as a live domain has. */
function route53Zones(extra: FakeHostedZone[] = []): FakeHostedZone[] {
  return [
    // Split-horizon: a private zone of the same name, listed first, must never be chosen.
    { id: 'ZPRIVATE', name: 'example.com.', private: true, records: [] },
    { id: 'ZOTHER', name: 'other.test.', records: [] },
    {
      id: 'ZPUBLIC',
      name: 'example.com.',
      records: [
        { name: 'example.com.', type: 'MX', ttl: 3600, values: ['20 backup-mx.example.net.'] },
        { name: 'example.com.', type: 'TXT', ttl: 300, values: ['"v=spf1 include:_spf.example.net ~all"'] },
        { name: '_loftbox.example.com.', type: 'TXT', ttl: 600, values: ['"other-verification=keep-me"'] },
      ],
    },
    ...extra,
  ];
}

async function route53(zones: FakeHostedZone[] = route53Zones()): Promise<FakeRoute53> {
  // Page size 1: inference has to follow ListHostedZones' NextMarker through every zone.
  const fake = await startFakeRoute53(zones, { pageSize: 1 });
  open.push(fake);
  return fake;
}

function cloudflareZones(): FakeZone[] {
  return [
    { id: 'zone-other', name: 'other.test', records: [] },
    {
      id: 'zone-example',
      name: 'example.com',
      records: [
        {
          id: 'mx-old',
          type: 'MX',
          name: 'example.com',
          content: 'backup-mx.example.net',
          priority: 20,
          ttl: 3600,
        },
        {
          id: 'spf',
          type: 'TXT',
          name: 'example.com',
          content: '"v=spf1 include:_spf.example.net ~all"',
          ttl: 1,
        },
        {
          id: 'txt-old',
          type: 'TXT',
          name: '_loftbox.example.com',
          content: '"other-verification=keep-me"',
          ttl: 1,
        },
      ],
    },
  ];
}

async function cloudflare(zones: FakeZone[] = cloudflareZones()): Promise<FakeCloudflare> {
  const fake = await startFakeCloudflare(zones, CF_TOKEN);
  open.push(fake);
  return fake;
}

const setAt = (fake: FakeRoute53, zoneId: string, name: string, type: string) =>
  fake.zones.find((z) => z.id === zoneId)!.records.find((s) => s.name === name && s.type === type);

const run = (options: Partial<ApplyOptions> & Pick<ApplyOptions, 'provider'>) =>
  applyDns({ records: recordsFor('example.com'), dryRun: false, overwrite: false, env: {}, ...options });

describe('dry-run', () => {
  it.each(['route53', 'cloudflare'] as const)(
    '%s: says what it would do for every record, with no credentials and no request made',
    async (provider) => {
      const r53 = await route53();
      const cf = await cloudflare();
      const outcomes = await run({
        provider,
        dryRun: true,
        endpoints: { route53: r53.endpoint, cloudflare: cf.baseURL },
      });
      expect(outcomes.map((o) => o.result)).toEqual(Array(5).fill('dry-run'));
      expect(r53.requests).toHaveLength(0);
      expect(cf.requests).toHaveLength(0);
      const mx = outcomes[1]!.detail;
      const dkim = outcomes[2]!.detail;
      if (provider === 'route53') {
        expect(mx).toContain('MX example.com. = 10 mx.loftbox.test.');
        expect(dkim).toMatch(/= "v=DKIM1; k=rsa; p=[^"]+" "[^"]+" in/);
      } else {
        expect(mx).toContain('MX example.com = mx.loftbox.test (priority 10)');
        expect(dkim).toContain(DKIM);
      }
      expect(outcomes[3]!.detail).toContain('conflict without --overwrite');
    },
  );
});

describe('Route 53', () => {
  it('applies every record in the public zone, merging with the values already there', async () => {
    const fake = await route53();
    const outcomes = await run({ provider: 'route53', env: AWS_ENV, endpoints: { route53: fake.endpoint } });
    expect(outcomes.map((o) => [o.record.purpose, o.result])).toEqual([
      ['ownership', 'applied'],
      ['inbound', 'applied'],
      ['dkim', 'applied'],
      ['return_path', 'applied'],
      ['dmarc', 'applied'],
    ]);
    // Merge, not replace: the other TXT value and the backup MX are still there, with their own TTLs.
    expect(setAt(fake, 'ZPUBLIC', '_loftbox.example.com.', 'TXT')).toEqual({
      name: '_loftbox.example.com.',
      type: 'TXT',
      ttl: 600,
      values: ['"other-verification=keep-me"', '"loftbox-verification=tok-123"'],
    });
    expect(setAt(fake, 'ZPUBLIC', 'example.com.', 'MX')).toMatchObject({
      ttl: 3600,
      values: ['20 backup-mx.example.net.', '10 mx.loftbox.test.'],
    });
    expect(setAt(fake, 'ZPUBLIC', 'example.com.', 'TXT')!.values).toEqual([
      '"v=spf1 include:_spf.example.net ~all"',
    ]);
    expect(setAt(fake, 'ZPUBLIC', 'bounces.example.com.', 'CNAME')).toMatchObject({
      ttl: 300,
      values: ['rp.loftbox.test.'],
    });
    // Private zones are never chosen: the split-horizon twin was not touched.
    expect(fake.zones.find((z) => z.id === 'ZPRIVATE')!.records).toEqual([]);
    expect(new Set(fake.writes().map((w) => w.path))).toEqual(
      new Set(['/2013-04-01/hostedzone/ZPUBLIC/rrset']),
    );
    // Zone listing followed every page, and requests were signed with the keys from env.
    expect(fake.requests.filter((r) => r.path === '/2013-04-01/hostedzone')).toHaveLength(3);
    expect(fake.requests[0]!.headers.authorization).toContain('Credential=AKIDLOFTBOXTEST/');
  });

  it('sends a 2048-bit DKIM value as several strings of at most 255 bytes', async () => {
    const fake = await route53();
    const [outcome] = await applyDns({
      provider: 'route53',
      records: [recordsFor('example.com')[2]!],
      dryRun: false,
      overwrite: false,
      env: AWS_ENV,
      endpoints: { route53: fake.endpoint },
    });
    expect(outcome!.result).toBe('applied');
    const [write] = fake.writes();
    expect(write!.body).toContain('<Type>TXT</Type>');
    const [value] = setAt(fake, 'ZPUBLIC', 'lb1._domainkey.example.com.', 'TXT')!.values;
    const strings = txtStrings(value!);
    expect(DKIM.length).toBeGreaterThan(255);
    expect(strings.map((s) => s.length)).toEqual([255, DKIM.length - 255]);
    expect(strings.join('')).toBe(DKIM);
  });

  it('skips everything on a second run and writes nothing', async () => {
    const fake = await route53();
    const options = { provider: 'route53', env: AWS_ENV, endpoints: { route53: fake.endpoint } } as const;
    await run(options);
    const writes = fake.writes().length;
    const again = await run(options);
    expect(again.map((o) => o.result)).toEqual(Array(5).fill('skipped'));
    expect(fake.writes()).toHaveLength(writes);
  });

  it('reports a different CNAME as a conflict and replaces it only with overwrite', async () => {
    const zones = route53Zones();
    zones[2]!.records.push({
      name: 'bounces.example.com.',
      type: 'CNAME',
      ttl: 900,
      values: ['old-bounces.example.net.'],
    });
    const fake = await route53(zones);
    const base = { provider: 'route53', env: AWS_ENV, endpoints: { route53: fake.endpoint } } as const;

    const first = await run(base);
    expect(first[3]).toMatchObject({ result: 'conflict' });
    expect(first[3]!.detail).toContain('old-bounces.example.net.');
    expect(first[3]!.detail).toContain('--overwrite');
    expect(first.filter((o) => o.result === 'applied')).toHaveLength(4);
    expect(fake.writes().some((w) => w.body.includes('bounces.example.com'))).toBe(false);
    expect(setAt(fake, 'ZPUBLIC', 'bounces.example.com.', 'CNAME')!.values).toEqual([
      'old-bounces.example.net.',
    ]);

    const second = await run({ ...base, overwrite: true });
    expect(second[3]).toMatchObject({ result: 'applied' });
    expect(setAt(fake, 'ZPUBLIC', 'bounces.example.com.', 'CNAME')).toMatchObject({
      ttl: 900,
      values: ['rp.loftbox.test.'],
    });
  });

  it('reports a different DMARC policy as a conflict instead of publishing a second one', async () => {
    const zones = route53Zones();
    const theirs = '"v=DMARC1; p=reject; rua=mailto:owner@example.com"';
    zones[2]!.records.push({ name: '_dmarc.example.com.', type: 'TXT', ttl: 300, values: [theirs] });
    const fake = await route53(zones);
    const base = { provider: 'route53', env: AWS_ENV, endpoints: { route53: fake.endpoint } } as const;

    const outcomes = await run(base);
    expect(outcomes[4]).toMatchObject({ result: 'conflict' });
    expect(outcomes[4]!.detail).toContain('different DMARC record');
    expect(setAt(fake, 'ZPUBLIC', '_dmarc.example.com.', 'TXT')!.values).toEqual([theirs]);

    const replaced = await run({ ...base, overwrite: true, records: recordsFor('example.com').slice(4) });
    expect(replaced[0]).toMatchObject({ result: 'applied' });
    expect(setAt(fake, 'ZPUBLIC', '_dmarc.example.com.', 'TXT')!.values).toEqual([
      '"v=DMARC1; p=none; rua=mailto:dmarc@loftbox.test"',
    ]);
  });

  it('fails closed: when the existing records cannot be read, nothing is written', async () => {
    const fake = await route53();
    fake.failReads = true;
    const outcomes = await run({ provider: 'route53', env: AWS_ENV, endpoints: { route53: fake.endpoint } });
    expect(outcomes.map((o) => o.result)).toEqual(Array(5).fill('error'));
    for (const o of outcomes) expect(o.detail).toContain('nothing was written');
    expect(fake.writes()).toHaveLength(0);
  });

  it('chooses the most specific public zone for a sub-domain', async () => {
    const fake = await route53(
      route53Zones([
        { id: 'ZMAIL', name: 'mail.example.com.', records: [] },
        { id: 'ZMAILPRIV', name: 'bounces.mail.example.com.', private: true, records: [] },
      ]),
    );
    const outcomes = await applyDns({
      provider: 'route53',
      records: recordsFor('mail.example.com'),
      dryRun: false,
      overwrite: false,
      env: AWS_ENV,
      endpoints: { route53: fake.endpoint },
    });
    expect(outcomes.map((o) => o.result)).toEqual(Array(5).fill('applied'));
    expect(new Set(fake.writes().map((w) => w.path))).toEqual(
      new Set(['/2013-04-01/hostedzone/ZMAIL/rrset']),
    );
  });

  it('uses --zone-id as given, without listing zones, and refuses a host outside it', async () => {
    const fake = await route53();
    const outcomes = await applyDns({
      provider: 'route53',
      records: [recordsFor('example.com')[0]!, recordsFor('other.example.org')[0]!],
      dryRun: false,
      overwrite: false,
      zoneId: 'ZPUBLIC',
      env: AWS_ENV,
      endpoints: { route53: fake.endpoint },
    });
    expect(outcomes.map((o) => o.result)).toEqual(['applied', 'error']);
    expect(outcomes[1]!.detail).toContain('is not inside hosted zone ZPUBLIC');
    expect(fake.requests.some((r) => r.path === '/2013-04-01/hostedzone')).toBe(false);
    expect(fake.writes()).toHaveLength(1);
  });

  it('reports a host no public zone contains as an error', async () => {
    const fake = await route53();
    const [outcome] = await applyDns({
      provider: 'route53',
      records: recordsFor('elsewhere.org').slice(0, 1),
      dryRun: false,
      overwrite: false,
      env: AWS_ENV,
      endpoints: { route53: fake.endpoint },
    });
    expect(outcome).toMatchObject({ result: 'error' });
    expect(outcome!.detail).toContain('no public hosted zone');
    expect(fake.writes()).toHaveLength(0);
  });

  it("applies the records a LoftBox server lists in next_actions, with the server's own DKIM key", async () => {
    const server = await startTestServer();
    open.push(server);
    const org = await server.signupOrg();
    const domain = await server.api('POST', '/v1/domains', { key: org.key, body: { domain: 'example.com' } });
    const status = await server.api('GET', `/v1/domains/${domain.body.id}/status`, { key: org.key });
    const records = status.body.next_actions as DesiredRecord[];
    // The test server's public URL is an IP, so mta-sts.<domain> is an A record there.
    expect(records.map((r) => r.type).sort()).toEqual([
      'A',
      'CNAME',
      'MX',
      'TXT',
      'TXT',
      'TXT',
      'TXT',
      'TXT',
    ]);

    const fake = await route53();
    const outcomes = await applyDns({
      provider: 'route53',
      records,
      dryRun: false,
      overwrite: false,
      env: AWS_ENV,
      endpoints: { route53: fake.endpoint },
    });
    expect(outcomes.map((o) => o.result)).toEqual(Array(8).fill('applied'));
    const dkim = records.find((r) => r.purpose === 'dkim')!;
    expect(Buffer.byteLength(dkim.value)).toBeGreaterThan(255);
    const [value] = setAt(fake, 'ZPUBLIC', `${dkim.host}.`, 'TXT')!.values;
    expect(txtStrings(value!).join('')).toBe(dkim.value);
    const mx = records.find((r) => r.type === 'MX') as Json;
    expect(setAt(fake, 'ZPUBLIC', 'example.com.', 'MX')!.values).toContain(`${mx.priority} ${mx.value}.`);
    const sts = records.find((r) => r.purpose === 'mta_sts_host')!;
    expect(setAt(fake, 'ZPUBLIC', 'mta-sts.example.com.', 'A')!.values).toEqual([sts.value]);
  });
});

describe('Cloudflare', () => {
  const cfRun = (fake: FakeCloudflare, options: Partial<ApplyOptions> = {}) =>
    run({
      provider: 'cloudflare',
      env: { CLOUDFLARE_API_TOKEN: CF_TOKEN },
      endpoints: { cloudflare: fake.baseURL },
      ...options,
    });
  const recordsAt = (fake: FakeCloudflare, name: string, type: string) =>
    fake.zones
      .find((z) => z.id === 'zone-example')!
      .records.filter((r) => r.name === name && r.type === type);

  it('creates the missing records beside the existing ones, with the MX priority in its own field', async () => {
    const fake = await cloudflare();
    const outcomes = await cfRun(fake);
    expect(outcomes.map((o) => o.result)).toEqual(Array(5).fill('applied'));

    const posts = fake.writes().map((w) => w.body as Json);
    expect(posts.every((_, i) => fake.writes()[i]!.method === 'POST')).toBe(true);
    expect(posts.find((p) => p.type === 'MX')).toMatchObject({
      name: 'example.com',
      content: 'mx.loftbox.test',
      priority: 10,
    });
    expect(posts.find((p) => p.type === 'CNAME')).toMatchObject({
      content: 'rp.loftbox.test',
      proxied: false,
    });
    // Cloudflare splits long TXT content itself; the DKIM value goes as one unquoted string.
    expect(posts.find((p) => p.name === 'lb1._domainkey.example.com')).toMatchObject({ content: DKIM });

    expect(recordsAt(fake, 'example.com', 'MX').map((r) => [r.priority, r.content])).toEqual([
      [20, 'backup-mx.example.net'],
      [10, 'mx.loftbox.test'],
    ]);
    expect(recordsAt(fake, '_loftbox.example.com', 'TXT').map((r) => r.content)).toEqual([
      '"other-verification=keep-me"',
      'loftbox-verification=tok-123',
    ]);
    expect(recordsAt(fake, 'example.com', 'TXT')).toHaveLength(1);
  });

  it('finds the zone by walking up the host name, most specific name first', async () => {
    const fake = await cloudflare();
    await cfRun(fake, { records: [recordsFor('example.com')[2]!] });
    const lookups = fake.requests.filter((r) => r.path.endsWith('/zones')).map((r) => r.query.get('name'));
    expect(lookups).toEqual(['lb1._domainkey.example.com', '_domainkey.example.com', 'example.com']);
    expect(fake.requests.every((r) => r.headers.authorization === `Bearer ${CF_TOKEN}`)).toBe(true);
  });

  it('skips everything on a second run and writes nothing', async () => {
    const fake = await cloudflare();
    await cfRun(fake);
    const writes = fake.writes().length;
    const again = await cfRun(fake);
    expect(again.map((o) => o.result)).toEqual(Array(5).fill('skipped'));
    expect(fake.writes()).toHaveLength(writes);
  });

  it('reports a different CNAME as a conflict and updates it only with overwrite', async () => {
    const zones = cloudflareZones();
    zones[1]!.records.push({
      id: 'cname-old',
      type: 'CNAME',
      name: 'bounces.example.com',
      content: 'old-bounces.example.net',
      ttl: 1,
      proxied: true,
    });
    const fake = await cloudflare(zones);
    const cname = [recordsFor('example.com')[3]!];

    const [conflict] = await cfRun(fake, { records: cname });
    expect(conflict).toMatchObject({ result: 'conflict' });
    expect(conflict!.detail).toContain('old-bounces.example.net');
    expect(fake.writes()).toHaveLength(0);

    const [applied] = await cfRun(fake, { records: cname, overwrite: true });
    expect(applied).toMatchObject({ result: 'applied' });
    expect(fake.writes().map((w) => [w.method, w.path])).toEqual([
      ['PATCH', '/client/v4/zones/zone-example/dns_records/cname-old'],
    ]);
    expect(recordsAt(fake, 'bounces.example.com', 'CNAME')).toEqual([
      expect.objectContaining({ id: 'cname-old', content: 'rp.loftbox.test', proxied: false }),
    ]);
  });

  it('fails closed: when the existing records cannot be read, nothing is written', async () => {
    const fake = await cloudflare();
    fake.failReads = true;
    const outcomes = await cfRun(fake, { records: recordsFor('example.com').slice(0, 2) });
    expect(outcomes.map((o) => o.result)).toEqual(['error', 'error']);
    for (const o of outcomes) expect(o.detail).toContain('nothing was written');
    expect(fake.writes()).toHaveLength(0);
  });

  it('reports a missing CLOUDFLARE_API_TOKEN on every record without a request', async () => {
    const fake = await cloudflare();
    const outcomes = await cfRun(fake, { env: {} });
    expect(outcomes.map((o) => o.result)).toEqual(Array(5).fill('error'));
    expect(outcomes[0]!.detail).toContain('CLOUDFLARE_API_TOKEN');
    expect(fake.requests).toHaveLength(0);
  });

  it('uses --zone-id as given and refuses a host outside that zone', async () => {
    const fake = await cloudflare();
    const outcomes = await cfRun(fake, {
      zoneId: 'zone-example',
      records: [recordsFor('example.com')[0]!, recordsFor('example.org')[0]!],
    });
    expect(outcomes.map((o) => o.result)).toEqual(['applied', 'error']);
    expect(outcomes[1]!.detail).toContain('is not inside zone zone-example');
    expect(fake.requests.some((r) => r.path.endsWith('/zones'))).toBe(false);
  });
});
