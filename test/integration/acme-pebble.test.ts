import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../server/lib/clock.js';
import { captureLogs } from '../harness/logs.js';
import {
  pebbleAvailable,
  pebbleHttps,
  pebbleRelay,
  startPebble,
  PEBBLE,
  type Pebble,
  type PebbleRelay,
} from '../harness/pebble.js';
import { startDnsServer, type DnsZoneServer, type ZoneRecords } from '../harness/dns.js';
import { startTestServer, type TestServer } from '../harness/server.js';
import { until } from '../harness/wait.js';
import { ConsoleClient } from '../harness/console-client.js';

if (!pebbleAvailable)
  console.warn(`[acme tests] skipped: ${PEBBLE} is not installed (apt-get install pebble)`);

const MX = 'mx.example.test';
const PUBLIC = 'www.example.test';
const MTA_STS = 'mta-sts.example.test';
const OWNER = 'owner@example.test';
/** The records that decide a domain's verification (the mta-sts ones never do). */
const GATING = ['ownership', 'inbound', 'dkim', 'return_path'];

let server: TestServer;
/** The zone pebble resolves through: what a CA sees, which a tenant's records can make differ from ours. */
let caDns: DnsZoneServer;
let ownerKey = '';
let pebble: Pebble;
let relay: PebbleRelay;
let root: string;
let rootFile: string;
const logs = captureLogs();

const events = (name: string) => logs.lines.filter((line) => line.event === name);

/** Reads from a plain socket until `pattern` matches what arrived. */
function readUntil(socket: Socket, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!pattern.test(text)) return;
      socket.off('data', onData);
      resolve(text);
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Completes a TLS handshake that must verify against pebble's root for `servername`. */
function verifiedTls(options: tls.ConnectionOptions): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ ...options, ca: root, servername: MX, rejectUnauthorized: true });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      socket.destroy();
      resolve(peer);
    });
    socket.once('error', reject);
  });
}

/** SMTP STARTTLS (RFC 3207) on the MX or submission port, then a verified handshake. */
async function smtpStartTls(port: number): Promise<tls.PeerCertificate> {
  const socket = netConnect(port, '127.0.0.1');
  await readUntil(socket, /^220 .*\r\n/m);
  socket.write('EHLO client.example.test\r\n');
  await readUntil(socket, /^250 .*\r\n/m);
  socket.write('STARTTLS\r\n');
  await readUntil(socket, /^220 .*\r\n/m);
  return verifiedTls({ socket });
}

/** IMAP STARTTLS through openssl s_client, which verifies the chain and the host name itself. */
function imapStartTlsVerified(port: number): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(
      'openssl',
      [
        's_client',
        '-starttls',
        'imap',
        '-connect',
        `127.0.0.1:${port}`,
        '-CAfile',
        rootFile,
        '-verify_hostname',
        MX,
        '-verify_return_error',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdin.end();
    child.on('close', () => resolve(output));
  });
}

/** Signs an org owner into the console (emailed code) and returns the overview page's HTML. */
async function consoleOverview(email: string): Promise<string> {
  const browser = new ConsoleClient(server);
  await browser.signIn(email);
  return (await browser.request('GET', '/console')).text;
}

/** Records both the server and the CA resolve alike. */
function publish(name: string, records: ZoneRecords): void {
  server.dns.set(name, records);
  caDns.set(name, records);
}

/** A custom domain added and verified by the owner (only the records that gate verification). */
async function verifiedDomain(domain: string): Promise<void> {
  const added = await server.api('POST', '/v1/domains', { key: ownerKey, body: { domain } });
  const records = (await server.api('GET', `/v1/domains/${added.body.id}/dns`, { key: ownerKey })).body
    .records as { purpose: string; type: string; host: string; value: string }[];
  for (const record of records.filter((r) => GATING.includes(r.purpose))) {
    if (record.type === 'TXT') server.dns.set(record.host, { TXT: [record.value.match(/.{1,255}/g) ?? []] });
    if (record.type === 'MX') server.dns.set(record.host, { MX: [{ exchange: record.value, priority: 10 }] });
    if (record.type === 'CNAME') server.dns.set(record.host, { CNAME: record.value });
  }
  const verified = await server.api('POST', `/v1/domains/${added.body.id}/verify`, { key: ownerKey });
  expect(verified.body.status).toBe('verified');
}

const health = async () => (await server.api('GET', '/health')).body.tls;

/** Wakes the renewal loop and waits for the `count`-th log line of `event`. */
async function renewalRun(event: string, count: number): Promise<Record<string, unknown>> {
  server.running.acme?.loop.wake();
  await until(() => events(event).length >= count, `${event} #${count}`, 60_000);
  return events(event)[count - 1] as Record<string, unknown>;
}

describe.skipIf(!pebbleAvailable)('ACME certificates from a real CA (pebble)', () => {
  beforeAll(async () => {
    const https = await pebbleHttps();
    relay = await pebbleRelay();
    server = await startTestServer(
      {
        mailDomain: 'example.test',
        mxHost: MX,
        publicUrl: `http://${PUBLIC}`,
        acmeEmail: 'ops@example.test',
        acmeDirectory: relay.directoryUrl,
        acmeCaFile: https.caFile,
        acmeHttpHost: '127.0.0.1',
        acmeHttpPort: 0,
        acmePollInterval: 50,
        acmeRetry: 3_600_000,
      },
      { log: logs.log },
    );
    caDns = await startDnsServer();
    for (const name of [MX, PUBLIC, MTA_STS]) publish(name, { A: ['127.0.0.1'] });
    pebble = await startPebble({
      https,
      httpPort: server.running.ports['acme-http'] ?? 0,
      dnsServer: caDns.server,
    });
    relay.target(pebble.acmePort);
    root = await pebble.root();
    rootFile = join(server.dataDir, 'pebble-root.pem');
    writeFileSync(rootFile, root);
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await relay?.close();
    await caDns?.close();
    await pebble?.close();
  });

  it('obtains a certificate for the public, MX and mta-sts names and serves it on every TLS port', async () => {
    await renewalRun('acme.issued', 1);
    // The first order may have run before the test's DNS answered for mta-sts; the next check adds it.
    server.running.acme?.loop.wake();
    await until(async () => (await health()).names.includes(MTA_STS), 'mta-sts in the certificate', 60_000);
    const status = await health();
    expect(status).toMatchObject({ source: 'acme', names: [MTA_STS, MX, PUBLIC], last_error: null });
    expect(status.days_left).toBeGreaterThan(30);

    const { ports } = server.running;
    const served = [
      await smtpStartTls(server.smtpPort),
      await smtpStartTls(ports.submission ?? 0),
      await verifiedTls({ host: '127.0.0.1', port: ports['submission-tls'] ?? 0 }),
      await verifiedTls({ host: '127.0.0.1', port: ports.imaps ?? 0 }),
    ];
    for (const peer of served) expect(peer.serialNumber).toBe(status.serial);
    expect(await imapStartTlsVerified(ports.imap ?? 0)).toMatch(/Verify return code: 0 \(ok\)/);

    const acmeDir = join(server.dataDir, 'acme');
    expect(statSync(acmeDir).mode & 0o777).toBe(0o700);
    for (const file of ['account.key', 'key.pem', 'cert.pem']) {
      expect(statSync(join(acmeDir, file)).mode & 0o777, file).toBe(0o600);
    }
  });

  /** The server caches DNS answers (test answers live 60 s, NXDOMAIN 30 s): a changed record is seen after that. */
  const dnsChanged = () => server.clock.advance(61_000);

  it('adds mta-sts.<domain> of a verified custom domain once it points at us, without failing the order before', async () => {
    ownerKey = (await server.signupOrg(OWNER)).key;
    await verifiedDomain('custom.test');

    // Verified, but its mta-sts host is not published: the certificate is left as it is.
    const ordered = events('acme.ordering').length;
    await server.running.acme?.loop.tick();
    expect(events('acme.ordering').length).toBe(ordered);

    // One address elsewhere is enough for a CA to fail the validation: still left out.
    publish('mta-sts.custom.test', { A: ['127.0.0.1', '127.0.0.3'] });
    dnsChanged();
    await server.running.acme?.loop.tick();
    expect(events('acme.ordering').length).toBe(ordered);

    publish('mta-sts.custom.test', { A: ['127.0.0.1'] });
    dnsChanged();
    const issued = await renewalRun('acme.issued', events('acme.issued').length + 1);
    expect(issued).toMatchObject({ reason: 'names_changed' });
    expect(issued.names).toEqual(['mta-sts.custom.test', MTA_STS, MX, PUBLIC]);
    // Anyone may read /health: it counts the customer domain's name but does not show it.
    expect(await health()).toMatchObject({ names: [MTA_STS, MX, PUBLIC], hosted_names: 1 });
  });

  it("sets aside a customer's mta-sts name the CA cannot validate, and keeps everyone's certificate", async () => {
    await verifiedDomain('shaky.test');
    // We see it pointing at us; the CA sees it elsewhere (split DNS, a stale record at a provider).
    server.dns.set('mta-sts.shaky.test', { A: ['127.0.0.1'] });
    caDns.set('mta-sts.shaky.test', { A: ['127.0.0.3'] });
    dnsChanged();
    const before = await health();
    const failures = events('acme.renew_failed').length;

    const setAside = await renewalRun('acme.names_set_aside', 1);
    expect(setAside).toMatchObject({ names: ['mta-sts.shaky.test'] });
    await server.running.acme?.loop.tick();
    expect(events('acme.renew_failed').length).toBe(failures);
    expect(await health()).toMatchObject({
      serial: before.serial,
      hosted_names: 1,
      last_error: null,
      next_attempt_at: null,
    });
  });

  it('renews when the clock reaches 30 days before expiry, and every port serves the new certificate', async () => {
    const before = await health();
    const issued = events('acme.issued').length;
    server.clock.set(new Date(Date.parse(before.not_after) - 20 * DAY_MS));
    const renewed = await renewalRun('acme.issued', issued + 1);
    expect(renewed).toMatchObject({ reason: 'expiring' });
    expect(renewed.serial).not.toBe(before.serial);
    const after = await health();
    expect(after.serial).toBe(renewed.serial);
    const peer = await verifiedTls({ host: '127.0.0.1', port: server.running.ports.imaps ?? 0 });
    expect(peer.serialNumber).toBe(after.serial);
    expect(new X509Certificate((await smtpStartTls(server.smtpPort)).raw).serialNumber).toBe(after.serial);
  });

  it('backs off after a failing challenge, reports it in /health, the console and the log, and warns of the near expiry', async () => {
    const current = await health();
    // The MX name now points where nothing answers HTTP-01: pebble's validation is refused.
    publish(MX, { A: ['127.0.0.2'] });
    server.clock.set(new Date(Date.parse(current.not_after) - 10 * DAY_MS));
    const failed = await renewalRun('acme.renew_failed', 1);
    expect(failed).toMatchObject({ attempt: 1, reason: 'expiring' });
    const firstTry = Date.parse(String(failed.next_try)) - server.clock.now().getTime();
    expect(firstTry).toBe(3_600_000);
    const reported = await health();
    expect(reported.serial).toBe(current.serial);
    // The CA's own account of the failed validation, naming the name that failed.
    expect(reported.last_error).toMatch(/mx\.example\.test: .*127\.0\.0\.2.*connection refused/);
    expect(reported.last_error).not.toContain('shaky.test');
    expect(reported.next_attempt_at).toBe(failed.next_try);
    expect(reported.expiring).toBe(true);

    // Before the back-off ends a check orders nothing.
    const ordered = events('acme.ordering').length;
    await server.running.acme?.loop.tick();
    expect(events('acme.ordering').length).toBe(ordered);

    server.clock.advance(3_600_000);
    const second = await renewalRun('acme.renew_failed', 2);
    expect(second).toMatchObject({ attempt: 2 });
    expect(Date.parse(String(second.next_try)) - server.clock.now().getTime()).toBe(2 * 3_600_000);

    const page = await consoleOverview(OWNER);
    expect(page).toContain('Server certificate');
    expect(page).toContain(`${(await health()).days_left} days left`);
    expect(page).toMatch(/The last ACME order failed: .*mx\.example\.test: .*connection refused/);

    await server.running.scheduler.tick();
    expect(events('tls.cert_expiring').at(-1)).toMatchObject({
      source: 'acme',
      days_left: 9,
      last_error: expect.stringMatching(/mx\.example\.test: .*connection refused/),
    });
  });
});
