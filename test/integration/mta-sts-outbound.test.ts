import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import selfsigned from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeMx, type FakeMx } from '../harness/fake-mx.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { ConsoleClient } from '../harness/console-client.js';

/**
 * Outbound MTA-STS (RFC 8461) against real things on loopback: the DNS zone server publishes the
 * `_mta-sts` TXT records and MX hosts, an HTTPS server serves the policies with a certificate from a
 * test CA (trusted through LOFTBOX_OUTBOUND_CA_FILE), and two fake MX hosts offer STARTTLS on one
 * port: 127.0.0.2 with a certificate for the names the tests route to it, 127.0.0.3 with one for
 * `mx.other.test` only.
 */

interface Pem {
  cert: string;
  key: string;
}

async function makeCa(): Promise<Pem> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'LoftBox test CA' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

async function makeLeaf(ca: Pem, names: string[]): Promise<Pem> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: names[0] ?? 'leaf' }], {
    keySize: 2048,
    algorithm: 'sha256',
    ca,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** Policies by host name (`mta-sts.<domain>`); `reply` overrides the answer (500, a redirect). */
interface PolicyHost {
  body: string;
  reply?: { status: number; headers?: Record<string, string> };
  /** Sends the headers, then a byte of body now and then, never finishing. */
  drip?: boolean;
  fetches: number;
}

let server: TestServer;
let right: FakeMx;
let wrong: FakeMx;
let cleartext: FakeMx;
let strangerCa: FakeMx;
let https: Server;
let dir: string;
const policies = new Map<string, PolicyHost>();
const OWNER = 'sts-owner@example.com';
let box: { key: string; mailboxId: string };

const POLICY_DOMAINS = [
  'wrong.test',
  'right.test',
  'trial.test',
  'multi.test',
  'offpolicy.test',
  'cache.test',
  'sticky.test',
  'redirect.test',
  'notls.test',
  'drip.test',
  'badca.test',
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loftbox-mta-sts-'));
  const ca = await makeCa();
  writeFileSync(join(dir, 'ca.pem'), ca.cert);
  const [rightCert, wrongCert, policyCert] = await Promise.all([
    makeLeaf(ca, ['mx.right.test', 'mx.multi.test', 'mx.rogue.test', 'mx.sticky.test', 'mx.cache.test']),
    makeLeaf(ca, ['mx.other.test']),
    // `untrusted.test` is left out: its policy host presents a certificate for other names.
    makeLeaf(
      ca,
      POLICY_DOMAINS.map((d) => `mta-sts.${d}`),
    ),
  ]);
  right = await startFakeMx({ host: '127.0.0.2', tls: rightCert });
  wrong = await startFakeMx({ host: '127.0.0.3', port: right.port, tls: wrongCert });
  cleartext = await startFakeMx({ host: '127.0.0.4', port: right.port });
  // The right name, but from a CA nobody trusts.
  const stranger = await makeCa();
  strangerCa = await startFakeMx({
    host: '127.0.0.5',
    port: right.port,
    tls: await makeLeaf(stranger, ['mx.badca.test']),
  });
  https = createServer({ ...policyCert }, (req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    const policy = policies.get(host);
    if (!policy || req.url !== '/.well-known/mta-sts.txt') {
      res.writeHead(404).end();
      return;
    }
    policy.fetches += 1;
    if (policy.reply) {
      res.writeHead(policy.reply.status, policy.reply.headers).end();
      return;
    }
    if (policy.drip) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const drip = setInterval(() => res.write('v'), 200);
      res.on('close', () => clearInterval(drip));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(policy.body);
  });
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  server = await startTestServer({
    delivery: 'direct',
    outboundPort: right.port,
    outboundMtaStsPort: (https.address() as { port: number }).port,
    outboundCaFile: join(dir, 'ca.pem'),
    outboundRequireTlsDomains: 'strict.test',
    retrySchedule: [60_000],
    outboundTimeout: 5000,
    mailboxSendRate: 1000,
    // Kept connections outlive any test's pauses: reuse is exercised throughout.
    outboundPoolIdle: 600_000,
  });
  const org = await server.signupOrg(OWNER);
  const agent = await server.api('POST', '/v1/agents', { key: org.key, body: { name: 'STS sender' } });
  const mailbox = await server.api('POST', `/v1/agents/${agent.body.id}/mailboxes`, {
    key: org.key,
    body: { local_part: 'sts-sender' },
  });
  box = { key: org.key, mailboxId: mailbox.body.id };
});

afterAll(async () => {
  await server?.close();
  await right?.close();
  await wrong?.close();
  await cleartext?.close();
  await strangerCa?.close();
  await new Promise<void>((resolve) => (https ? https.close(() => resolve()) : resolve()));
  rmSync(dir, { recursive: true, force: true });
});

/** Publishes a domain: MX hosts and their addresses, and optionally an MTA-STS policy. */
function publish(
  domain: string,
  mx: Record<string, string>,
  policy?: { id: string; mode: string; mx: string[]; maxAge?: number },
) {
  server.dns.set(domain, {
    MX: Object.keys(mx).map((exchange, i) => ({ exchange, priority: 10 * (i + 1) })),
  });
  for (const [host, address] of Object.entries(mx)) server.dns.set(host, { A: [address] });
  if (!policy) return;
  server.dns.set(`_mta-sts.${domain}`, { TXT: [`v=STSv1; id=${policy.id};`] });
  server.dns.set(`mta-sts.${domain}`, { A: ['127.0.0.1'] });
  const body = [
    'version: STSv1',
    `mode: ${policy.mode}`,
    ...policy.mx.map((m) => `mx: ${m}`),
    `max_age: ${policy.maxAge ?? 86400}`,
  ].join('\r\n');
  const existing = policies.get(`mta-sts.${domain}`);
  policies.set(`mta-sts.${domain}`, { body: `${body}\r\n`, fetches: existing?.fetches ?? 0 });
}

async function drain(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    if ((await server.running.queue.tick()) === 0) break;
  }
}

/** Lets the server's DNS cache forget what it saw (test answers live 60 s), as time would for a real change. */
const dnsChanged = () => server.clock.advance(61_000);

/** Sends one message to `to`, runs the queue, and answers with its only recipient's timeline. */
async function sendTo(to: string): Promise<{ message: Json; timeline: Json }> {
  const sent = await server.api('POST', '/v1/messages', {
    key: box.key,
    body: { mailbox_id: box.mailboxId, to: [to], subject: `to ${to}`, body_text: 'Hi' },
  });
  expect(sent.status, sent.text).toBe(201);
  await drain();
  const message = (await server.api('GET', `/v1/messages/${sent.body.id}`, { key: box.key })).body;
  const deliveries = await server.api('GET', `/v1/messages/${sent.body.id}/deliveries`, { key: box.key });
  expect(deliveries.status, deliveries.text).toBe(200);
  expect(deliveries.body.data).toHaveLength(1);
  return { message, timeline: deliveries.body.data[0] };
}

const lastAttempt = (timeline: Json): Json => timeline.attempts.at(-1);
const receivedBy = (mx: FakeMx, to: string) => mx.received.filter((m) => m.rcptTo.includes(to)).length;

describe('outbound MTA-STS, enforce', () => {
  it('does not deliver to an MX whose certificate names it but comes from an untrusted CA', async () => {
    publish(
      'badca.test',
      { 'mx.badca.test': '127.0.0.5' },
      { id: 'b1', mode: 'enforce', mx: ['mx.badca.test'] },
    );
    const { timeline } = await sendTo('agent@badca.test');
    expect(timeline.status).toBe('deferred');
    expect(receivedBy(strangerCa, 'agent@badca.test')).toBe(0);
    const attempt = lastAttempt(timeline);
    expect(attempt.mta_sts_mode).toBe('enforce');
    expect(attempt.tls_verified).toBe(false);
    expect(attempt.response).toMatch(/^mta_sts_enforce: /);
  });

  it('does not deliver to an MX whose certificate is for another name: deferred with the reason', async () => {
    publish(
      'wrong.test',
      { 'mx.wrong.test': '127.0.0.3' },
      { id: 'w1', mode: 'enforce', mx: ['mx.wrong.test'] },
    );
    const mailsBefore = wrong.attempts;
    const { message, timeline } = await sendTo('agent@wrong.test');
    expect(timeline.status).toBe('deferred');
    expect(message.status).toBe('sending');
    expect(wrong.attempts).toBe(mailsBefore);
    expect(receivedBy(wrong, 'agent@wrong.test')).toBe(0);
    const attempt = lastAttempt(timeline);
    expect(attempt.outcome).toBe('deferred');
    expect(attempt.status).toBe('4.7.5');
    expect(attempt.response).toBe(
      'mta_sts_enforce: certificate for mx.other.test does not match mx.wrong.test',
    );
    expect(attempt.tls).toEqual({
      version: expect.stringMatching(/^TLSv1\.[23]$/),
      cipher: expect.any(String),
    });
    expect(attempt.tls_verified).toBe(false);
    expect(attempt.mta_sts_mode).toBe('enforce');
    expect(attempt.tls_failure).toBe(attempt.response);
    expect(message.delivery.last_response).toBe(attempt.response);
  });

  it('delivers over verified TLS to an MX with a certificate for its name', async () => {
    publish(
      'right.test',
      { 'mx.right.test': '127.0.0.2' },
      { id: 'r1', mode: 'enforce', mx: ['mx.right.test'] },
    );
    const { timeline } = await sendTo('agent@right.test');
    expect(timeline.status).toBe('delivered');
    expect(receivedBy(right, 'agent@right.test')).toBe(1);
    const attempt = lastAttempt(timeline);
    expect(attempt.mx_host).toBe('mx.right.test');
    expect(attempt.tls).not.toBeNull();
    expect(attempt.tls_verified).toBe(true);
    expect(attempt.mta_sts_mode).toBe('enforce');
    expect(attempt.tls_failure).toBeNull();
  });

  it('never dials an MX host the policy does not name, even the preferred one', async () => {
    publish(
      'multi.test',
      { 'mx.rogue.test': '127.0.0.2', 'mx.multi.test': '127.0.0.2' },
      { id: 'm1', mode: 'enforce', mx: ['*.multi.test'] },
    );
    const { timeline } = await sendTo('agent@multi.test');
    expect(timeline.status).toBe('delivered');
    expect(timeline.attempts.map((a: Json) => a.mx_host)).toEqual(['mx.multi.test']);
    expect(server.dns.queries.some((q) => q.name === 'mx.rogue.test')).toBe(false);
  });

  it('defers when no MX host matches the policy', async () => {
    publish(
      'offpolicy.test',
      { 'mx.rogue.test': '127.0.0.2' },
      { id: 'o1', mode: 'enforce', mx: ['mx.offpolicy.test'] },
    );
    const before = receivedBy(right, 'agent@offpolicy.test');
    const { timeline } = await sendTo('agent@offpolicy.test');
    expect(timeline.status).toBe('deferred');
    expect(receivedBy(right, 'agent@offpolicy.test')).toBe(before);
    expect(lastAttempt(timeline).response).toBe(
      'mta_sts_enforce: no MX host of offpolicy.test (mx.rogue.test) matches the policy (mx: mx.offpolicy.test)',
    );
  });
});

describe('outbound MTA-STS, an MX without STARTTLS', () => {
  it('enforce: defers without sending; testing (after a policy update): delivers and records it', async () => {
    publish(
      'notls.test',
      { 'mx.notls.test': '127.0.0.4' },
      { id: 'n1', mode: 'enforce', mx: ['mx.notls.test'] },
    );
    const refused = await sendTo('a@notls.test');
    expect(refused.timeline.status).toBe('deferred');
    expect(cleartext.attempts).toBe(0);
    expect(lastAttempt(refused.timeline)).toMatchObject({
      tls: null,
      tls_verified: null,
      mta_sts_mode: 'enforce',
      response: 'mta_sts_enforce: no TLS with mx.notls.test (STARTTLS not offered or refused)',
    });

    publish(
      'notls.test',
      { 'mx.notls.test': '127.0.0.4' },
      { id: 'n2', mode: 'testing', mx: ['*.other.test'] },
    );
    dnsChanged();
    const delivered = await sendTo('b@notls.test');
    expect(delivered.timeline.status).toBe('delivered');
    expect(receivedBy(cleartext, 'b@notls.test')).toBe(1);
    expect(lastAttempt(delivered.timeline)).toMatchObject({
      tls: null,
      mta_sts_mode: 'testing',
      tls_failure:
        'mta_sts_testing: MX mx.notls.test is not named by the policy (mx: *.other.test); no TLS with mx.notls.test (STARTTLS not offered or refused)',
    });
  });
});

describe('outbound MTA-STS, testing and no policy', () => {
  it('testing: delivers to the mismatching MX and records the failure', async () => {
    publish(
      'trial.test',
      { 'mx.trial.test': '127.0.0.3' },
      { id: 't1', mode: 'testing', mx: ['mx.trial.test'] },
    );
    const { timeline } = await sendTo('agent@trial.test');
    expect(timeline.status).toBe('delivered');
    expect(receivedBy(wrong, 'agent@trial.test')).toBe(1);
    const attempt = lastAttempt(timeline);
    expect(attempt.tls).not.toBeNull();
    expect(attempt.tls_verified).toBe(false);
    expect(attempt.mta_sts_mode).toBe('testing');
    expect(attempt.tls_failure).toBe(
      'mta_sts_testing: certificate for mx.other.test does not match mx.trial.test',
    );
  });

  it('no policy: opportunistic STARTTLS as before, certificate not verified, nothing refused', async () => {
    publish('plain.test', { 'mx.plain.test': '127.0.0.3' });
    const { timeline } = await sendTo('agent@plain.test');
    expect(timeline.status).toBe('delivered');
    const attempt = lastAttempt(timeline);
    expect(attempt.tls).not.toBeNull();
    expect(attempt.tls_verified).toBe(false);
    expect(attempt.mta_sts_mode).toBe('none');
    expect(attempt.tls_failure).toBeNull();
  });

  it('a policy behind a redirect is not followed: no policy applies, and the failure is recorded', async () => {
    publish(
      'redirect.test',
      { 'mx.redirect.test': '127.0.0.3' },
      { id: 'x1', mode: 'enforce', mx: ['mx.redirect.test'] },
    );
    const host = policies.get('mta-sts.redirect.test');
    if (host)
      host.reply = {
        status: 301,
        headers: { location: 'https://mta-sts.right.test/.well-known/mta-sts.txt' },
      };
    const followed = policies.get('mta-sts.right.test')?.fetches;
    const { timeline } = await sendTo('agent@redirect.test');
    expect(timeline.status).toBe('delivered');
    expect(policies.get('mta-sts.right.test')?.fetches).toBe(followed);
    const attempt = lastAttempt(timeline);
    expect(attempt.mta_sts_mode).toBe('none');
    expect(attempt.tls_failure).toBe('MTA-STS policy fetch failed: HTTP 301 (redirects are not followed)');
  });

  it('gives a policy host that drips its body one deadline for the whole fetch, then delivers without it', async () => {
    publish(
      'drip.test',
      { 'mx.right.test': '127.0.0.2' },
      { id: 'd1', mode: 'enforce', mx: ['mx.right.test'] },
    );
    const host = policies.get('mta-sts.drip.test');
    if (host) host.drip = true;
    const { timeline } = await sendTo('agent@drip.test');
    expect(timeline.status).toBe('delivered');
    const attempt = lastAttempt(timeline);
    expect(attempt.mta_sts_mode).toBe('none');
    expect(attempt.tls_failure).toMatch(/^MTA-STS policy fetch failed: /);
  });

  it('a policy host whose certificate is not valid for its name is not believed', async () => {
    publish(
      'untrusted.test',
      { 'mx.untrusted.test': '127.0.0.3' },
      { id: 'u1', mode: 'enforce', mx: ['mx.untrusted.test'] },
    );
    const { timeline } = await sendTo('agent@untrusted.test');
    expect(policies.get('mta-sts.untrusted.test')?.fetches).toBe(0);
    expect(timeline.status).toBe('delivered');
    expect(lastAttempt(timeline).mta_sts_mode).toBe('none');
    expect(lastAttempt(timeline).tls_failure).toMatch(
      /^MTA-STS policy fetch failed: .*(altname|certificate|Hostname)/i,
    );
  });
});

describe('outbound MTA-STS policy cache', () => {
  it('refetches only when the TXT id changes or max_age has run out (manual clock)', async () => {
    publish(
      'cache.test',
      { 'mx.cache.test': '127.0.0.2' },
      { id: 'c1', mode: 'enforce', mx: ['mx.cache.test'], maxAge: 600 },
    );
    const host = () => policies.get('mta-sts.cache.test');
    await sendTo('a@cache.test');
    expect(host()?.fetches).toBe(1);
    await sendTo('b@cache.test');
    expect(host()?.fetches).toBe(1);

    publish(
      'cache.test',
      { 'mx.cache.test': '127.0.0.2' },
      { id: 'c2', mode: 'testing', mx: ['mx.cache.test'], maxAge: 600 },
    );
    dnsChanged();
    const changed = await sendTo('c@cache.test');
    expect(host()?.fetches).toBe(2);
    expect(lastAttempt(changed.timeline).mta_sts_mode).toBe('testing');

    server.clock.advance(599_000);
    await sendTo('d@cache.test');
    expect(host()?.fetches).toBe(2);
    server.clock.advance(2_000);
    await sendTo('e@cache.test');
    expect(host()?.fetches).toBe(3);
  });

  it('keeps enforcing an unexpired cached policy when the refetch fails', async () => {
    publish(
      'sticky.test',
      { 'mx.sticky.test': '127.0.0.2' },
      { id: 's1', mode: 'enforce', mx: ['mx.sticky.test'] },
    );
    expect((await sendTo('a@sticky.test')).timeline.status).toBe('delivered');

    // The id changes, the policy host fails, and the MX now presents a certificate for another name.
    server.dns.set('_mta-sts.sticky.test', { TXT: ['v=STSv1; id=s2;'] });
    const host = policies.get('mta-sts.sticky.test');
    if (host) host.reply = { status: 500 };
    server.dns.set('mx.sticky.test', { A: ['127.0.0.3'] });
    dnsChanged();
    const before = wrong.attempts;
    const { timeline } = await sendTo('b@sticky.test');
    expect(host?.fetches).toBe(2);
    expect(timeline.status).toBe('deferred');
    expect(wrong.attempts).toBe(before);
    const attempt = lastAttempt(timeline);
    expect(attempt.mta_sts_mode).toBe('enforce');
    expect(attempt.tls_failure).toBe(
      'mta_sts_enforce: certificate for mx.other.test does not match mx.sticky.test; MTA-STS policy fetch failed: HTTP 500',
    );
  });
});

describe('LOFTBOX_OUTBOUND_REQUIRE_TLS_DOMAINS', () => {
  it('requires a verified certificate for a listed domain that publishes no policy', async () => {
    publish('strict.test', { 'mx.strict.test': '127.0.0.3' });
    const before = wrong.attempts;
    const { timeline } = await sendTo('agent@strict.test');
    expect(timeline.status).toBe('deferred');
    expect(wrong.attempts).toBe(before);
    const attempt = lastAttempt(timeline);
    expect(attempt.response).toBe('require_tls: certificate for mx.other.test does not match mx.strict.test');
    expect(attempt.mta_sts_mode).toBe('none');
    expect(attempt.tls_verified).toBe(false);
  });
});

describe('TLS requirements and SMTP connection reuse', () => {
  it('never sends mail that needs verified TLS over a kept connection opened without that requirement', async () => {
    publish('lax.test', { 'mx.strict.test': '127.0.0.3' });
    publish('strict.test', { 'mx.strict.test': '127.0.0.3' });
    const first = lastAttempt((await sendTo('one@lax.test')).timeline);
    expect(first).toMatchObject({ outcome: 'delivered', tls_verified: false, mta_sts_mode: 'none' });
    const opened = wrong.connections;

    // Same address, port and MX name, but LOFTBOX_OUTBOUND_REQUIRE_TLS_DOMAINS lists strict.test.
    const { timeline } = await sendTo('agent@strict.test');
    expect(timeline.status).toBe('deferred');
    expect(lastAttempt(timeline).response).toBe(
      'require_tls: certificate for mx.other.test does not match mx.strict.test',
    );
    expect(receivedBy(wrong, 'agent@strict.test')).toBe(0);
    expect(wrong.connections).toBe(opened + 1);

    // Mail that needs no more than opportunistic TLS goes on over the kept connection, recorded as it was.
    const again = lastAttempt((await sendTo('two@lax.test')).timeline);
    expect(again).toMatchObject({ outcome: 'delivered', tls_verified: false, mta_sts_mode: 'none' });
    expect(again.tls).toEqual(first.tls);
    expect(wrong.connections).toBe(opened + 1);
    const lax = wrong.received.filter((m) => m.rcptTo[0]?.endsWith('@lax.test')).map((m) => m.connection);
    expect(new Set(lax).size).toBe(1);
  });

  it('reuses a connection opened under MTA-STS enforce for the next enforce delivery, recorded as verified', async () => {
    publish(
      'right.test',
      { 'mx.right.test': '127.0.0.2' },
      { id: 'r1', mode: 'enforce', mx: ['mx.right.test'] },
    );
    await sendTo('first@right.test');
    const opened = right.connections;
    const { timeline } = await sendTo('second@right.test');
    expect(timeline.status).toBe('delivered');
    expect(right.connections).toBe(opened);
    expect(lastAttempt(timeline)).toMatchObject({
      tls_verified: true,
      mta_sts_mode: 'enforce',
      tls_failure: null,
    });
    expect(lastAttempt(timeline).tls).not.toBeNull();
  });
});

describe('delivery timeline route', () => {
  it('answers 404 for another organization’s message', async () => {
    const { message } = await sendTo('agent@right.test');
    const other = await server.mailbox('sts-other');
    const res = await server.api('GET', `/v1/messages/${message.id}/deliveries`, { key: other.key });
    expect(res.status).toBe(404);
  });

  it("shows each attempt's TLS, verification, MTA-STS mode and failure in the console timeline", async () => {
    const { message } = await sendTo('other@wrong.test');
    const browser = new ConsoleClient(server);
    await browser.signIn(OWNER);
    const page = await browser.request('GET', `/console/messages/${message.id}`);
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/TLSv1\.[23] [A-Z0-9_]+, certificate not verified · MTA-STS enforce/);
    expect(page.text).toContain(
      'mta_sts_enforce: certificate for mx.other.test does not match mx.wrong.test',
    );
  });
});
