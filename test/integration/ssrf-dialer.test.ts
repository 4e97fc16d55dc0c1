import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { request, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createGuardedDispatcher,
  ForbiddenTargetError,
  type GuardedDialerOptions,
  type Resolve,
} from '../../server/lib/ssrf.js';

/**
 * The guarded dialer against a real receiver on loopback. Stub resolvers stand in for DNS; they only
 * ever hand out 127.0.0.1 or addresses the guard must refuse before a socket exists (the one public
 * address, in (d), comes paired with a private one), and every dialer here has a tripwire in onConnect,
 * so even a broken guard cannot send traffic off this machine's loopback.
 */

type ConnectInfo = Parameters<NonNullable<GuardedDialerOptions['onConnect']>>[0];

let receiver: Server;
let port: number;
const received: { host: string | undefined; remote: string | undefined }[] = [];
/** (e): every address any dialer in this file attempted, and every address any stub handed out. */
const dialed: string[] = [];
const handedOut: string[] = [];
const dispatchers: Dispatcher[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    received.push({ host: req.headers.host, remote: req.socket.remoteAddress });
    // A fresh connection per request, so every request goes through the connector (and its lookup).
    res.writeHead(200, { connection: 'close', 'content-type': 'text/plain' }).end('ok');
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  port = (receiver.address() as AddressInfo).port;
});

afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((dispatcher) => dispatcher.close()));
});

afterAll(async () => {
  receiver.close();
  await once(receiver, 'close');
});

function guarded(resolve: Resolve, allow: string[] = []) {
  const onConnect = vi.fn((info: ConnectInfo) => {
    dialed.push(info.address);
    if (info.address !== '127.0.0.1') throw new Error(`tripwire: the test tried to dial ${info.address}`);
  });
  const dispatcher = createGuardedDispatcher({ resolve, policy: { allow }, onConnect });
  dispatchers.push(dispatcher);
  return { dispatcher, onConnect };
}

/** A stub DNS zone: fixed answers per record type for one name; anything else does not exist. */
function zone(name: string, records: { A?: string[]; AAAA?: string[] }) {
  return vi.fn<Resolve>(async (query, rrtype) => {
    const answers = query === name && (rrtype === 'A' || rrtype === 'AAAA') ? (records[rrtype] ?? []) : [];
    handedOut.push(...answers);
    if (answers.length === 0) throw Object.assign(new Error(`queryA ENODATA ${query}`), { code: 'ENODATA' });
    return answers;
  });
}

function forbiddenIn(err: unknown): ForbiddenTargetError | undefined {
  for (let cause: unknown = err; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof ForbiddenTargetError) return cause;
  }
  return undefined;
}

async function refusal(url: string, dispatcher: Dispatcher): Promise<ForbiddenTargetError> {
  const before = received.length;
  const outcome = await request(url, { dispatcher }).then(
    async (response) => `answered ${response.statusCode}: ${await response.body.text()}`,
    (err: unknown) => err,
  );
  const forbidden = forbiddenIn(outcome);
  if (!forbidden) throw new Error(`expected a ForbiddenTargetError, got ${String(outcome)}`);
  expect(received.length).toBe(before);
  return forbidden;
}

const BLOCKED: [address: string, reason: string][] = [
  ['127.0.0.1', 'loopback'],
  ['127.0.0.2', 'loopback'],
  ['0.0.0.0', 'unspecified'],
  ['10.0.0.1', 'private'],
  ['172.16.0.1', 'private'],
  ['192.168.1.1', 'private'],
  ['169.254.169.254', 'link_local'],
  ['100.64.0.1', 'carrier_grade_nat'],
  ['224.0.0.1', 'multicast'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.255', 'broadcast'],
  ['192.0.0.1', 'reserved'],
  ['192.0.2.1', 'documentation'],
  ['198.18.0.1', 'benchmarking'],
  ['198.51.100.1', 'documentation'],
  ['203.0.113.1', 'documentation'],
  ['::1', 'loopback'],
  ['::', 'unspecified'],
  ['fc00::1', 'unique_local'],
  ['fe80::1', 'link_local'],
  ['ff02::1', 'multicast'],
  ['::ffff:127.0.0.1', 'ipv4_mapped:loopback'],
  ['::ffff:169.254.169.254', 'ipv4_mapped:link_local'],
  ['64:ff9b::a9fe:a9fe', 'nat64'],
  ['64:ff9b:1::1', 'nat64'],
  ['2002:a9fe:a9fe::', '6to4'],
  ['2001::1', 'teredo'],
  ['2001:db8::1', 'documentation'],
  ['100::1', 'discard'],
];

describe('(a) a name resolving into a blocked range is refused before connect', () => {
  it.each(BLOCKED)('victim.test → %s (%s)', async (address, reason) => {
    const resolve = zone('victim.test', isIP(address) === 4 ? { A: [address] } : { AAAA: [address] });
    const { dispatcher, onConnect } = guarded(resolve);
    const err = await refusal(`http://victim.test:${port}/hook`, dispatcher);
    expect(err).toMatchObject({ reason, target: address });
    expect(onConnect).not.toHaveBeenCalled();
    expect(resolve.mock.calls.map(([, rrtype]) => rrtype).sort()).toEqual(['A', 'AAAA']);
  });

  it.each([
    [`http://127.0.0.1:PORT/`, 'loopback'],
    [`http://[::1]:PORT/`, 'loopback'],
    [`http://169.254.169.254:PORT/latest/meta-data/`, 'link_local'],
    [`http://[::ffff:7f00:1]:PORT/`, 'ipv4_mapped:loopback'],
  ])('a literal address is checked without a lookup: %s', async (url, reason) => {
    const resolve = zone('unused.test', {});
    const { dispatcher, onConnect } = guarded(resolve);
    const err = await refusal(url.replace('PORT', String(port)), dispatcher);
    expect(err.reason).toBe(reason);
    expect(resolve).not.toHaveBeenCalled();
    expect(onConnect).not.toHaveBeenCalled();
  });
});

describe('(b) DNS rebinding', () => {
  /** Answers 127.0.0.1 to the first A query and 127.0.0.2 to any later one; re-armed per request. */
  function rebinding() {
    let aQueries = 0;
    return vi.fn<Resolve>(async (name, rrtype) => {
      expect(name).toBe('rebind.test');
      if (rrtype !== 'A') throw Object.assign(new Error(`queryAaaa ENODATA ${name}`), { code: 'ENODATA' });
      const answer = aQueries++ === 0 ? '127.0.0.1' : '127.0.0.2';
      handedOut.push(answer);
      return [answer];
    });
  }

  it('resolves once per request and dials exactly the checked address, keeping the Host header', async () => {
    let stub = rebinding();
    const { dispatcher, onConnect } = guarded((name, rrtype) => stub(name, rrtype), ['127.0.0.1']);
    const before = received.length;
    for (let i = 0; i < 2; i++) {
      stub = rebinding();
      const response = await request(`http://rebind.test:${port}/hook`, {
        method: 'POST',
        body: '{}',
        dispatcher,
      });
      expect(response.statusCode).toBe(200);
      expect(await response.body.text()).toBe('ok');
      expect(stub.mock.calls.filter(([, rrtype]) => rrtype === 'A')).toHaveLength(1);
      expect(stub.mock.calls.filter(([, rrtype]) => rrtype === 'AAAA')).toHaveLength(1);
    }
    expect(onConnect.mock.calls.map(([info]) => info)).toEqual([
      { hostname: 'rebind.test', address: '127.0.0.1', port },
      { hostname: 'rebind.test', address: '127.0.0.1', port },
    ]);
    expect(received.slice(before)).toEqual([
      { host: `rebind.test:${port}`, remote: '127.0.0.1' },
      { host: `rebind.test:${port}`, remote: '127.0.0.1' },
    ]);
  });

  it('refuses the rebound answer instead of dialing it', async () => {
    const stub = rebinding();
    const { dispatcher, onConnect } = guarded(stub, ['127.0.0.1']);
    const first = await request(`http://rebind.test:${port}/`, { dispatcher });
    await first.body.text();
    const err = await refusal(`http://rebind.test:${port}/`, dispatcher);
    expect(err).toMatchObject({ reason: 'loopback', target: '127.0.0.2' });
    expect(onConnect.mock.calls.map(([info]) => info.address)).toEqual(['127.0.0.1']);
  });

  it('sends the original hostname as TLS SNI while dialing the checked address', async () => {
    const servernames: string[] = [];
    // No certificate: the handshake is refused right after the SNI callback has seen the name.
    const tls = createTlsServer({
      SNICallback: (servername, callback) => {
        servernames.push(servername);
        callback(new Error('no certificate in this test'));
      },
    });
    tls.listen(0, '127.0.0.1');
    await once(tls, 'listening');
    const tlsPort = (tls.address() as AddressInfo).port;
    try {
      const { dispatcher, onConnect } = guarded(zone('sni.test', { A: ['127.0.0.1'] }), ['127.0.0.1']);
      await expect(request(`https://sni.test:${tlsPort}/`, { dispatcher })).rejects.toThrow();
      expect(onConnect).toHaveBeenCalledWith({ hostname: 'sni.test', address: '127.0.0.1', port: tlsPort });
      expect(servernames).toEqual(['sni.test']);
    } finally {
      tls.close();
    }
  });
});

describe('(c) loopback without an allow-list', () => {
  it('refuses the same loopback target before connect', async () => {
    const resolve = zone('rebind.test', { A: ['127.0.0.1'] });
    const { dispatcher, onConnect } = guarded(resolve, []);
    const err = await refusal(`http://rebind.test:${port}/hook`, dispatcher);
    expect(err).toMatchObject({ reason: 'loopback', target: '127.0.0.1' });
    expect(onConnect).not.toHaveBeenCalled();
  });
});

describe('(d) mixed answers fail closed', () => {
  it.each([
    ['a public and a private A record', { A: ['8.8.8.8', '10.0.0.1'] }, ['127.0.0.1'], 'private'],
    [
      'a public A record and a link-local AAAA record',
      { A: ['8.8.8.8'], AAAA: ['fe80::1'] },
      [],
      'link_local',
    ],
    [
      'an allowed address first, then a private one',
      { A: ['127.0.0.1', '192.168.0.1'] },
      ['127.0.0.1'],
      'private',
    ],
    [
      'an allowed A record and a mapped-loopback AAAA',
      { A: ['127.0.0.1'], AAAA: ['::ffff:127.0.0.2'] },
      ['127.0.0.1'],
      'ipv4_mapped:loopback',
    ],
  ])('%s', async (_label, records, allow, reason) => {
    const { dispatcher, onConnect } = guarded(zone('mixed.test', records), allow);
    const err = await refusal(`http://mixed.test:${port}/`, dispatcher);
    expect(err.reason).toBe(reason);
    expect(onConnect).not.toHaveBeenCalled();
  });

  it('a name without addresses is a lookup failure, not a connection', async () => {
    const { dispatcher, onConnect } = guarded(zone('empty.test', {}), ['127.0.0.1']);
    await expect(request(`http://empty.test:${port}/`, { dispatcher })).rejects.toMatchObject({
      code: 'ENOTFOUND',
    });
    expect(onConnect).not.toHaveBeenCalled();
  });

  it('a resolver failure other than "no records" is passed on, not treated as empty', async () => {
    const servfail = vi.fn<Resolve>(async (name, rrtype) => {
      if (rrtype === 'AAAA')
        throw Object.assign(new Error(`queryAaaa ESERVFAIL ${name}`), { code: 'ESERVFAIL' });
      handedOut.push('127.0.0.1');
      return ['127.0.0.1'];
    });
    const { dispatcher, onConnect } = guarded(servfail, ['127.0.0.1']);
    await expect(request(`http://flaky.test:${port}/`, { dispatcher })).rejects.toMatchObject({
      code: 'ESERVFAIL',
    });
    expect(onConnect).not.toHaveBeenCalled();
  });
});

describe('(e) containment', () => {
  // Declared last: vitest runs a file's tests in order, so this sees every attempt made above.
  it('never dialed anything but 127.0.0.1, and every other address a stub handed out was refused', () => {
    const refusedAnswers = new Set(handedOut.filter((address) => address !== '127.0.0.1'));
    expect(refusedAnswers.size).toBeGreaterThan(BLOCKED.length);
    expect(new Set(dialed)).toEqual(new Set(['127.0.0.1']));
    expect(new Set(received.map(({ remote }) => remote))).toEqual(new Set(['127.0.0.1']));
  });
});
