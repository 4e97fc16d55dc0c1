import nodemailer from 'nodemailer';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/lib/clock.js';
import { createResolver, type DnsResolve } from '../../server/lib/resolver.js';
import { startDnsServer, type DnsZoneServer } from '../harness/dns.js';
import { startFakeMx, type FakeMx } from '../harness/fake-mx.js';
import { startTestServer, type TestServer } from '../harness/server.js';

let dns: DnsZoneServer;
let clock: ManualClock;

beforeAll(async () => {
  dns = await startDnsServer();
});
afterAll(async () => {
  await dns.close();
});
afterEach(() => {
  dns.queries.length = 0;
});

const cached = (maxEntries = 100): DnsResolve => {
  clock = new ManualClock();
  return createResolver(dns.server, 2000, { maxEntries, clock });
};
/** Queries the zone server has answered for `name` (any case) and `type`. */
const asked = (name: string, type: string) =>
  dns.queries.filter((q) => q.name === name.toLowerCase() && q.type === type).length;
const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'answer',
    (err: { code?: string }) => err.code,
  );

describe('DNS answer cache', () => {
  it('reuses an A answer for its TTL, then asks again and sees the change', async () => {
    dns.set('ttl.cache.test', { A: ['192.0.2.1'], TTL: 120 });
    const resolve = cached();
    expect(await resolve('ttl.cache.test', 'A')).toEqual(['192.0.2.1']);
    dns.set('ttl.cache.test', { A: ['192.0.2.2'], TTL: 120 });
    clock.advance(119_000);
    expect(await resolve('TTL.Cache.Test.', 'A')).toEqual(['192.0.2.1']);
    expect(asked('ttl.cache.test', 'A')).toBe(1);
    clock.advance(1_000);
    expect(await resolve('ttl.cache.test', 'A')).toEqual(['192.0.2.2']);
    expect(asked('ttl.cache.test', 'A')).toBe(2);
  });

  it('caps a long TTL at five minutes and does not keep a TTL of 0', async () => {
    dns.set('long.cache.test', { AAAA: ['2001:db8::1'], TTL: 86_400 });
    dns.set('zero.cache.test', { A: ['192.0.2.3'], TTL: 0 });
    const resolve = cached();
    await resolve('long.cache.test', 'AAAA');
    clock.advance(299_000);
    await resolve('long.cache.test', 'AAAA');
    expect(asked('long.cache.test', 'AAAA')).toBe(1);
    clock.advance(1_000);
    await resolve('long.cache.test', 'AAAA');
    expect(asked('long.cache.test', 'AAAA')).toBe(2);

    await resolve('zero.cache.test', 'A');
    await resolve('zero.cache.test', 'A');
    expect(asked('zero.cache.test', 'A')).toBe(2);
  });

  it('keeps MX and TXT answers (no TTL from node) for 60 seconds', async () => {
    dns.set('mx.cache.test', {
      MX: [{ exchange: 'in.mx.cache.test', priority: 10 }],
      TXT: [['v=spf1 ', '-all']],
    });
    const resolve = cached();
    expect(await resolve('mx.cache.test', 'MX')).toEqual([{ exchange: 'in.mx.cache.test', priority: 10 }]);
    expect(await resolve('mx.cache.test', 'TXT')).toEqual([['v=spf1 ', '-all']]);
    clock.advance(59_000);
    await resolve('mx.cache.test', 'MX');
    await resolve('mx.cache.test', 'TXT');
    expect([asked('mx.cache.test', 'MX'), asked('mx.cache.test', 'TXT')]).toEqual([1, 1]);
    clock.advance(1_000);
    await resolve('mx.cache.test', 'MX');
    expect(asked('mx.cache.test', 'MX')).toBe(2);
  });

  it('caches NXDOMAIN and NODATA for 30 seconds (RFC 2308), with the codes callers expect', async () => {
    dns.remove('missing.cache.test');
    dns.set('nodata.cache.test', { A: ['192.0.2.4'] });
    const resolve = cached();
    expect(await codeOf(resolve('missing.cache.test', 'TXT'))).toBe('ENOTFOUND');
    expect(await codeOf(resolve('nodata.cache.test', 'MX'))).toBe('ENODATA');
    dns.set('missing.cache.test', { TXT: ['now here'] });
    clock.advance(29_000);
    expect(await codeOf(resolve('missing.cache.test', 'TXT'))).toBe('ENOTFOUND');
    expect(await codeOf(resolve('nodata.cache.test', 'MX'))).toBe('ENODATA');
    expect([asked('missing.cache.test', 'TXT'), asked('nodata.cache.test', 'MX')]).toEqual([1, 1]);
    clock.advance(1_000);
    expect(await resolve('missing.cache.test', 'TXT')).toEqual([['now here']]);
  });

  it('does not cache a lookup that failed for another reason (a server that does not answer)', async () => {
    dns.stall('stalled.cache.test');
    const resolve = createResolver(dns.server, 100, { maxEntries: 100, clock: new ManualClock() });
    expect(await codeOf(resolve('stalled.cache.test', 'TXT'))).toBe('ETIMEOUT');
    const afterFirst = asked('stalled.cache.test', 'TXT');
    expect(await codeOf(resolve('stalled.cache.test', 'TXT'))).toBe('ETIMEOUT');
    expect(asked('stalled.cache.test', 'TXT')).toBeGreaterThan(afterFirst);
  });

  it('asks once for concurrent lookups of the same name', async () => {
    dns.set('burst.cache.test', { TXT: ['v=spf1 -all'] });
    const resolve = cached();
    const answers = await Promise.all(Array.from({ length: 8 }, () => resolve('burst.cache.test', 'TXT')));
    expect(answers).toEqual(Array.from({ length: 8 }, () => [['v=spf1 -all']]));
    expect(asked('burst.cache.test', 'TXT')).toBe(1);
  });

  it('holds at most maxEntries answers, evicting the least recently used', async () => {
    for (const n of ['a', 'b', 'c']) dns.set(`${n}.lru.cache.test`, { A: ['192.0.2.5'] });
    const resolve = cached(2);
    await resolve('a.lru.cache.test', 'A');
    await resolve('b.lru.cache.test', 'A');
    await resolve('a.lru.cache.test', 'A');
    await resolve('c.lru.cache.test', 'A');
    await resolve('a.lru.cache.test', 'A');
    await resolve('b.lru.cache.test', 'A');
    expect(['a', 'b', 'c'].map((n) => asked(`${n}.lru.cache.test`, 'A'))).toEqual([1, 2, 1]);
  });

  it('asks afresh when told to (domain verification), and keeps the fresh answer', async () => {
    dns.set('fresh.cache.test', { TXT: ['old'] });
    const resolve = cached();
    await resolve('fresh.cache.test', 'TXT');
    dns.set('fresh.cache.test', { TXT: ['new'] });
    expect(await resolve('fresh.cache.test', 'TXT', { fresh: true })).toEqual([['new']]);
    expect(await resolve('fresh.cache.test', 'TXT')).toEqual([['new']]);
    expect(asked('fresh.cache.test', 'TXT')).toBe(2);
  });

  it('hands each caller its own copy of a cached answer', async () => {
    dns.set('copy.cache.test', { MX: [{ exchange: 'in.copy.cache.test', priority: 5 }] });
    const resolve = cached();
    const first = (await resolve('copy.cache.test', 'MX')) as { priority: number }[];
    first[0]!.priority = 99;
    first.push({ priority: 1 });
    expect(await resolve('copy.cache.test', 'MX')).toEqual([{ exchange: 'in.copy.cache.test', priority: 5 }]);
    // TXT answers are arrays of strings (one record split into chunks): the inner arrays are copies too.
    dns.set('txt.copy.cache.test', { TXT: ['v=spf1 -all'] });
    const txt = (await resolve('txt.copy.cache.test', 'TXT')) as string[][];
    txt[0]![0] = 'v=spf1 +all';
    txt[0]!.push('include:evil.test');
    expect(await resolve('txt.copy.cache.test', 'TXT')).toEqual([['v=spf1 -all']]);
  });

  it('asks every time with a size of 0', async () => {
    dns.set('off.cache.test', { A: ['192.0.2.6'] });
    const resolve = cached(0);
    await resolve('off.cache.test', 'A');
    await resolve('off.cache.test', 'A');
    expect(asked('off.cache.test', 'A')).toBe(2);
  });
});

describe('one cache for mail authentication and delivery', () => {
  let server: TestServer;
  let mx: FakeMx;

  beforeAll(async () => {
    mx = await startFakeMx({ host: '127.0.0.2' });
    server = await startTestServer({ delivery: 'direct', outboundPort: mx.port });
  });
  afterAll(async () => {
    await server.close();
    await mx.close();
  });

  it("delivery reuses the MX answer the sender's SPF check fetched", async () => {
    const box = await server.mailbox('shared-cache');
    server.dns.set('peer.test', {
      MX: [{ exchange: 'mx.peer.test', priority: 10 }],
      TXT: ['v=spf1 mx -all'],
    });
    server.dns.set('mx.peer.test', { A: ['127.0.0.2'] });
    await nodemailer
      .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
      .sendMail({ from: 'alice@peer.test', to: box.address, subject: 'Hello', text: 'Hi' });
    await server.running.inbound.idle();
    const mxQueries = () => server.dns.queries.filter((q) => q.name === 'peer.test' && q.type === 'MX');
    expect(mxQueries()).toHaveLength(1);

    const sent = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: {
        mailbox_id: box.mailboxId,
        to: ['alice@peer.test'],
        subject: 'Re: Hello',
        body_text: 'Hi back',
      },
    });
    expect(sent.status).toBe(201);
    for (let i = 0; i < 20 && (await server.running.queue.tick()) > 0; i++);
    expect(mx.received.some((m) => m.rcptTo.includes('alice@peer.test'))).toBe(true);
    expect(mxQueries()).toHaveLength(1);
  });
});
