import { describe, expect, it } from 'vitest';
import {
  checkWebhookUrl,
  createGuardedDispatcher,
  ForbiddenTargetError,
  isForbiddenAddress,
} from '../../server/lib/ssrf.js';

const open = { allow: [] };

/** Classification only: nothing here is ever dialed. */
const FORBIDDEN: [address: string, reason: string][] = [
  // IPv4, RFC 6890 special-purpose registry
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['192.168.0.1', 'private'],
  ['169.254.0.1', 'link_local'],
  ['169.254.169.254', 'link_local'],
  ['100.64.0.1', 'carrier_grade_nat'],
  ['100.127.255.255', 'carrier_grade_nat'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.254', 'reserved'],
  ['255.255.255.255', 'broadcast'],
  ['192.0.0.8', 'reserved'],
  ['192.0.0.170', 'reserved'],
  ['192.0.2.1', 'documentation'],
  ['198.51.100.7', 'documentation'],
  ['203.0.113.9', 'documentation'],
  ['198.18.0.1', 'benchmarking'],
  ['198.19.255.255', 'benchmarking'],
  // IPv6
  ['::1', 'loopback'],
  ['::', 'unspecified'],
  ['fc00::1', 'unique_local'],
  ['fd12:3456::1', 'unique_local'],
  ['fe80::1', 'link_local'],
  ['fe80::1%eth0', 'link_local'],
  ['febf:ffff::1', 'link_local'],
  ['ff02::1', 'multicast'],
  ['ff0e::1', 'multicast'],
  // RFC 4291 §2.5.5.2: the embedded IPv4 address decides
  ['::ffff:127.0.0.1', 'ipv4_mapped:loopback'],
  ['::ffff:7f00:1', 'ipv4_mapped:loopback'],
  ['::ffff:10.0.0.1', 'ipv4_mapped:private'],
  ['::ffff:169.254.169.254', 'ipv4_mapped:link_local'],
  ['::ffff:0.0.0.0', 'ipv4_mapped:unspecified'],
  // RFC 6052 and RFC 8215 NAT64, RFC 3056 6to4, RFC 4380 Teredo
  ['64:ff9b::a9fe:a9fe', 'nat64'],
  ['64:ff9b::808:808', 'nat64'],
  ['64:ff9b:1::1', 'nat64'],
  ['2002:a9fe:a9fe::', '6to4'],
  ['2002:808:808::1', '6to4'],
  ['2001::1', 'teredo'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'teredo'],
  ['2001:db8::1', 'documentation'],
  ['3fff::1', 'documentation'],
  ['2001:2::1', 'benchmarking'],
  ['100::1', 'discard'],
  ['::ffff:0:7f00:1', 'ipv4_translated'],
  // Outside 2000::/3: the deprecated IPv4-compatible form and unallocated space
  ['::7f00:1', 'reserved'],
  ['4000::1', 'reserved'],
  ['fec0::1', 'deprecated_site_local'],
];

const PUBLIC = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '::ffff:8.8.8.8', '2606:4700:4700::1111'];

describe('isForbiddenAddress', () => {
  it('covers enough of the special-purpose registry', () => {
    expect(FORBIDDEN.length).toBeGreaterThanOrEqual(40);
  });

  it.each(FORBIDDEN)('refuses %s (%s)', (address, reason) => {
    expect(isForbiddenAddress(address, open)).toBe(reason);
  });

  it.each(PUBLIC)('allows the public address %s', (address) => {
    expect(isForbiddenAddress(address, open)).toBeNull();
  });

  it('refuses what is not a canonical IP literal, so only checked strings reach net.connect', () => {
    for (const address of [
      '',
      'example.com',
      '127.1',
      '0x7f.0.0.1',
      '2130706433',
      '[::1]',
      '1.2.3.4/32',
      '::ffff:1.2.3',
    ]) {
      expect(isForbiddenAddress(address, open), address).toBe('invalid');
    }
  });
});

describe('allow-list', () => {
  it('allows exact addresses and CIDR members, and nothing next to them', () => {
    const policy = { allow: ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00:1::/32'] };
    expect(isForbiddenAddress('127.0.0.1', policy)).toBeNull();
    expect(isForbiddenAddress('127.0.0.2', policy)).toBe('loopback');
    expect(isForbiddenAddress('10.20.30.40', policy)).toBeNull();
    expect(isForbiddenAddress('11.0.0.1', policy)).toBeNull(); // public anyway
    expect(isForbiddenAddress('172.16.0.1', policy)).toBe('private');
    expect(isForbiddenAddress('::1', policy)).toBeNull();
    expect(isForbiddenAddress('fd00:1:ffff::1', policy)).toBeNull();
    expect(isForbiddenAddress('fd00:2::1', policy)).toBe('unique_local');
  });

  it('extends an allowed IPv4 address or range to its IPv4-mapped spelling', () => {
    const policy = { allow: ['127.0.0.1', '10.0.0.0/8'] };
    expect(isForbiddenAddress('::ffff:127.0.0.1', policy)).toBeNull();
    expect(isForbiddenAddress('::ffff:7f00:1', policy)).toBeNull();
    expect(isForbiddenAddress('::ffff:10.9.8.7', policy)).toBeNull();
    expect(isForbiddenAddress('::ffff:127.0.0.2', policy)).toBe('ipv4_mapped:loopback');
    // Translation prefixes are not the same address and stay refused.
    expect(isForbiddenAddress('64:ff9b::7f00:1', policy)).toBe('nat64');
  });

  it('does not let an IPv4 range match IPv6 addresses or the reverse', () => {
    expect(isForbiddenAddress('::1', { allow: ['0.0.0.0/0'] })).toBe('loopback');
    expect(isForbiddenAddress('127.0.0.1', { allow: ['::/0'] })).toBe('loopback');
  });

  it('rejects malformed entries loudly, and the dialer does so when it is built', () => {
    for (const entry of ['127.1', '10/8', '10.0.0.0/33', '::1/129', 'example.com', '', '10.0.0.0/8/8']) {
      expect(() => isForbiddenAddress('8.8.8.8', { allow: [entry] }), entry).toThrow(TypeError);
    }
    expect(() =>
      createGuardedDispatcher({ resolve: async () => [], policy: { allow: ['10.0.0.0/x'] } }),
    ).toThrow(TypeError);
  });
});

describe('checkWebhookUrl', () => {
  const refusals: [url: string, reason: string, target: string][] = [
    // WHATWG URL normalises every IPv4 spelling to 127.0.0.1 before we look.
    ['http://2130706433/', 'loopback', '127.0.0.1'],
    ['http://0x7f.0.0.1/', 'loopback', '127.0.0.1'],
    ['http://017700000001/', 'loopback', '127.0.0.1'],
    ['http://127.1/', 'loopback', '127.0.0.1'],
    ['http://0/', 'unspecified', '0.0.0.0'],
    ['http://169.254.169.254/latest/meta-data/', 'link_local', '169.254.169.254'],
    ['https://[::1]:8443/', 'loopback', '::1'],
    ['http://[::ffff:127.0.0.1]/', 'ipv4_mapped:loopback', '::ffff:7f00:1'],
    ['http://[::ffff:7f00:1]/', 'ipv4_mapped:loopback', '::ffff:7f00:1'],
    ['http://[64:ff9b::a9fe:a9fe]/', 'nat64', '64:ff9b::a9fe:a9fe'],
    ['http://[2002:a9fe:a9fe::]/', '6to4', '2002:a9fe:a9fe::'],
    ['http://[2001:db8::1]/', 'documentation', '2001:db8::1'],
    ['http://localhost/', 'localhost', 'localhost'],
    ['http://localhost./', 'localhost', 'localhost.'],
    ['http://LOCALHOST:3000/', 'localhost', 'localhost'],
    ['http://localhost%2e/', 'localhost', 'localhost.'],
    ['http://sub.localhost/', 'localhost', 'sub.localhost'],
    ['ftp://example.com/', 'scheme', 'ftp:'],
    ['file:///etc/passwd', 'scheme', 'file:'],
    ['gopher://example.com/', 'scheme', 'gopher:'],
    ['http://user:pw@example.com/', 'credentials', 'example.com'],
    ['https://token@example.com/', 'credentials', 'example.com'],
  ];

  it.each(refusals)('refuses %s (%s)', (url, reason, target) => {
    let caught: unknown;
    try {
      checkWebhookUrl(url, open);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ForbiddenTargetError);
    expect(caught).toMatchObject({ reason, target });
  });

  it('throws TypeError for what is not a URL', () => {
    for (const url of ['', 'example.com/hook', 'http://', 'http://[::1/', 'http://exa mple.com/']) {
      expect(() => checkWebhookUrl(url, open), url).toThrow(TypeError);
    }
  });

  it('returns the normalised URL for public targets and names (names are checked again at connect time)', () => {
    expect(checkWebhookUrl('HTTPS://Hooks.Example.COM:443/a/../b?x=1', open).href).toBe(
      'https://hooks.example.com/b?x=1',
    );
    expect(checkWebhookUrl('http://8.8.8.8:8080/hook', open).href).toBe('http://8.8.8.8:8080/hook');
    expect(checkWebhookUrl('http://[2606:4700:4700::1111]/', open).href).toBe(
      'http://[2606:4700:4700::1111]/',
    );
    expect(checkWebhookUrl('http://localhost.example.com/', open).hostname).toBe('localhost.example.com');
  });

  it('lets the allow-list open literal addresses but never localhost names', () => {
    const policy = { allow: ['127.0.0.1'] };
    expect(checkWebhookUrl('http://127.0.0.1:8080/hook', policy).host).toBe('127.0.0.1:8080');
    expect(checkWebhookUrl('http://2130706433/', policy).hostname).toBe('127.0.0.1');
    expect(checkWebhookUrl('http://[::ffff:127.0.0.1]/', policy).hostname).toBe('[::ffff:7f00:1]');
    expect(() => checkWebhookUrl('http://127.0.0.2/', policy)).toThrow(ForbiddenTargetError);
    expect(() => checkWebhookUrl('http://localhost/', policy)).toThrow(ForbiddenTargetError);
  });
});
