import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryQueue } from '../../server/outbound/queue.js';
import { captureTransport, directTransport } from '../../server/outbound/transports.js';
import { startFakeMx } from '../harness/fake-mx.js';
import type { startTestServer } from '../harness/server.js';
import { type Json, type TestServer } from '../harness/server.js';
import { until } from '../harness/wait.js';
import { directDeliveryServer } from '../harness/direct-delivery.js';
import { captureLogs } from '../harness/logs.js';

/** A raw TCP stand-in for a misbehaving MX, on the same port as the fake MX (another loopback address). */
interface RawMx {
  /** Sockets currently open. */
  open: Set<Socket>;
  /** Resolves once a client has connected. */
  connected: Promise<void>;
  close(): Promise<void>;
}

async function startRawMx(host: string, port: number, onSocket: (socket: Socket) => void): Promise<RawMx> {
  const open = new Set<Socket>();
  let connected: () => void = () => {};
  const mx: RawMx = {
    open,
    connected: new Promise<void>((resolve) => (connected = resolve)),
    close: async () => {},
  };
  const server: Server = createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
    connected();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  mx.close = () => {
    for (const socket of open) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return mx;
}

/** Greets, then answers EHLO with `250-` lines forever, one at a time: idle timeouts never fire. */
const dripper = (socket: Socket) => {
  socket.write('220 drip.test ESMTP\r\n');
  socket.once('data', () => {
    socket.write('250-drip.test\r\n');
    const timer = setInterval(() => socket.write('250-STILL-THINKING\r\n'), 50);
    socket.on('close', () => clearInterval(timer));
  });
};

/** Accepts the connection and never says a word. */
const silent = () => {};

/** Log lines written by a logger, parsed, for asserting stable event names. */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(overrides: Parameters<typeof startTestServer>[0] = {}) {
  return directDeliveryServer(cleanups, { signupLimitPerIp: 1000, ...overrides });
}

async function sendAs(server: TestServer, box: { key: string; mailboxId: string }, to: string) {
  const res = await server.api('POST', '/v1/messages', {
    key: box.key,
    body: { mailbox_id: box.mailboxId, to: [to], subject: `to ${to}`, body_text: 'hello' },
  });
  expect(res.status).toBe(201);
  return res.body as Json;
}

const messageOf = async (server: TestServer, key: string, id: string): Promise<Json> =>
  (await server.api('GET', `/v1/messages/${id}`, { key })).body;

describe('a hung MX holds only its own attempt', () => {
  it('keeps delivering to other destinations and orgs while one MX drips and another never greets, and close() does not wait for them', async () => {
    const { mx, server } = await setup({
      // Every deadline far away: only the absence of a batch barrier can get the other mail out.
      outboundTimeout: 600_000,
      outboundPhaseTimeout: 600_000,
      outboundAttemptTimeout: 600_000,
      shutdownGraceMs: 200,
    });
    const drip = await startRawMx('127.0.0.3', mx.port, dripper);
    cleanups.push(() => drip.close());
    const mute = await startRawMx('127.0.0.4', mx.port, silent);
    cleanups.push(() => mute.close());
    server.dns.set('drip.test', { MX: [{ exchange: 'mx.drip.test', priority: 10 }] });
    server.dns.set('mx.drip.test', { A: ['127.0.0.3'] });
    server.dns.set('mute.test', { MX: [{ exchange: 'mx.mute.test', priority: 10 }] });
    server.dns.set('mx.mute.test', { A: ['127.0.0.4'] });
    const a = await server.mailbox('alpha');
    const b = await server.mailbox('beta');

    const dripped = await sendAs(server, a, 'someone@drip.test');
    const muted = await sendAs(server, a, 'someone@mute.test');
    await drip.connected;
    await mute.connected;

    const fromA = await sendAs(server, a, 'x@ok.test');
    const fromB = await sendAs(server, b, 'y@ok.test');
    await until(async () => (await messageOf(server, a.key, fromA.id)).status === 'delivered', 'org A mail');
    await until(async () => (await messageOf(server, b.key, fromB.id)).status === 'delivered', 'org B mail');
    expect(mx.received.map((m) => m.rcptTo[0]).sort()).toEqual(['x@ok.test', 'y@ok.test']);
    // The hung sessions are still open: the other mail did not wait for them to end.
    expect(drip.open.size).toBe(1);
    expect(mute.open.size).toBe(1);
    expect((await messageOf(server, a.key, dripped.id)).delivery.recipients[0].status).toBe('sending');
    expect((await messageOf(server, a.key, muted.id)).delivery.recipients[0].status).toBe('sending');

    // Shutdown drops the hung sessions after its grace instead of waiting for the peers.
    await server.running.close();
    await until(() => drip.open.size === 0 && mute.open.size === 0, 'hung sessions dropped');
  });

  it('ends an attempt at its phase deadline when the MX drips 250- lines, and defers it', async () => {
    const { mx, server } = await setup({
      outboundTimeout: 600_000,
      outboundPhaseTimeout: 300,
      outboundAttemptTimeout: 600_000,
    });
    const drip = await startRawMx('127.0.0.3', mx.port, dripper);
    cleanups.push(() => drip.close());
    server.dns.set('drip.test', { MX: [{ exchange: 'mx.drip.test', priority: 10 }] });
    server.dns.set('mx.drip.test', { A: ['127.0.0.3'] });
    const a = await server.mailbox('alpha');
    const sent = await sendAs(server, a, 'someone@drip.test');

    await server.running.queue.tick();
    await until(
      async () => (await messageOf(server, a.key, sent.id)).delivery.recipients[0].status === 'deferred',
      'the dripping attempt to be deferred',
    );
    const recipient = (await messageOf(server, a.key, sent.id)).delivery.recipients[0];
    expect(recipient.last_response).toMatch(/no complete reply within 300 ms/);
    expect(recipient.next_attempt_at).not.toBeNull();
    await until(() => drip.open.size === 0, 'the dripping session to be dropped');
  });

  it('ends an attempt at the attempt deadline when the MX never greets, and defers it', async () => {
    const { mx, server } = await setup({
      outboundTimeout: 600_000,
      outboundPhaseTimeout: 600_000,
      outboundAttemptTimeout: 300,
    });
    const mute = await startRawMx('127.0.0.4', mx.port, silent);
    cleanups.push(() => mute.close());
    server.dns.set('mute.test', { MX: [{ exchange: 'mx.mute.test', priority: 10 }] });
    server.dns.set('mx.mute.test', { A: ['127.0.0.4'] });
    const a = await server.mailbox('alpha');
    const sent = await sendAs(server, a, 'someone@mute.test');

    await server.running.queue.tick();
    await until(
      async () => (await messageOf(server, a.key, sent.id)).delivery.recipients[0].status === 'deferred',
      'the silent attempt to be deferred',
    );
    const recipient = (await messageOf(server, a.key, sent.id)).delivery.recipients[0];
    expect(recipient.last_response).toMatch(/cut short/);
    await until(() => mute.open.size === 0, 'the silent session to be dropped');
  });
});

describe('fairness between organizations', () => {
  it("serves another org's mail next instead of after one org's whole backlog", async () => {
    const { mx, server } = await setup({ outboundConcurrency: 1, domainConcurrency: 1 });
    const { deps } = server.running;
    const a = await server.mailbox('alpha');
    const b = await server.mailbox('beta');
    await server.running.queue.stop();
    for (const n of [1, 2, 3, 4]) await sendAs(server, a, `a${n}@ok.test`);
    await sendAs(server, b, 'b1@ok.test');

    const queue = new DeliveryQueue(deps, { local: captureTransport(deps), remote: directTransport(deps) });
    queue.start();
    cleanups.push(() => queue.stop());
    await queue.tick();
    expect(mx.received.map((m) => m.rcptTo[0])).toEqual([
      'a1@ok.test',
      'b1@ok.test',
      'a2@ok.test',
      'a3@ok.test',
      'a4@ok.test',
    ]);
  });
});

describe('how much of a domain one attempt tries', () => {
  it('dials at most LOFTBOX_OUTBOUND_MAX_MX hosts and LOFTBOX_OUTBOUND_MAX_ADDRESSES addresses, then defers', async () => {
    const { mx, server } = await setup({ outboundMaxMx: 2, outboundMaxAddresses: 3 });
    const hosts = ['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
    const dials = new Map<string, number>(hosts.map((h) => [h, 0]));
    for (const host of hosts) {
      // Every host is busy (RFC 5321 §3.8: 421 at the greeting), so each one passes to the next.
      const busy = await startRawMx(host, mx.port, (socket) => {
        dials.set(host, (dials.get(host) ?? 0) + 1);
        socket.end('421 4.3.2 busy\r\n');
      });
      cleanups.push(() => busy.close());
    }
    server.dns.set('many.test', {
      MX: [1, 2, 3, 4].map((n) => ({ exchange: `mx${n}.many.test`, priority: n * 10 })),
    });
    server.dns.set('mx1.many.test', { A: ['127.0.0.3', '127.0.0.4'] });
    server.dns.set('mx2.many.test', { A: ['127.0.0.5', '127.0.0.6'] });
    server.dns.set('mx3.many.test', { A: ['127.0.0.3'] });
    server.dns.set('mx4.many.test', { A: ['127.0.0.4'] });
    const a = await server.mailbox('alpha');
    const sent = await sendAs(server, a, 'someone@many.test');
    await server.running.queue.tick();

    expect(Object.fromEntries(dials)).toEqual({
      '127.0.0.3': 1,
      '127.0.0.4': 1,
      '127.0.0.5': 1,
      '127.0.0.6': 0,
    });
    expect((await messageOf(server, a.key, sent.id)).delivery.recipients[0].status).toBe('deferred');
  });
});

describe('database faults under the delivery queue', () => {
  it('logs, backs off and keeps going when leasing or recording fails, then delivers once the fault is gone', async () => {
    const { mx, server } = await setup({ deliveryLease: 60_000 });
    const { deps } = server.running;
    // The server's own queue stands aside; this one logs to a buffer the test reads.
    await server.running.queue.stop();
    const capture = captureLogs();
    const queueDeps = { ...deps, log: capture.log, config: { ...deps.config, queuePoll: 20 } };
    const queue = new DeliveryQueue(queueDeps, {
      local: captureTransport(queueDeps),
      remote: directTransport(queueDeps),
    });
    cleanups.push(() => queue.stop());
    const a = await server.mailbox('alpha');
    const sent = await sendAs(server, a, 'x@ok.test');

    deps.db.exec(
      `CREATE TRIGGER test_fail_lease BEFORE UPDATE ON deliveries BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END`,
    );
    queue.start();
    await until(
      () => capture.lines.map((l) => l.event).filter((e) => e === 'worker.failed').length >= 2,
      'failures logged',
    );
    expect(mx.received).toHaveLength(0);
    deps.db.exec('DROP TRIGGER test_fail_lease');
    await until(async () => (await messageOf(server, a.key, sent.id)).status === 'delivered', 'delivery');

    // Recording the outcome fails: logged, the loop goes on, the lease is taken over once it runs out.
    deps.db.exec(
      `CREATE TRIGGER test_fail_record BEFORE INSERT ON delivery_attempts BEGIN SELECT RAISE(ABORT, 'database is locked (test)'); END`,
    );
    const second = await sendAs(server, a, 'y@ok.test');
    await until(
      () => capture.lines.map((l) => l.event).includes('outbound.attempt_failed'),
      'record failure logged',
    );
    deps.db.exec('DROP TRIGGER test_fail_record');
    // Stored times have second precision: a whole second past the lease.
    server.clock.advance(61_000);
    await until(async () => (await messageOf(server, a.key, second.id)).status === 'delivered', 'retry');
  });
});

describe('start-up', () => {
  it("takes over the previous process's leases at once, not after the lease runs out", async () => {
    const { mx, server } = await setup({ deliveryLease: 3_600_000 });
    const { deps } = server.running;
    await server.running.queue.stop();
    const a = await server.mailbox('alpha');
    const sent = await sendAs(server, a, 'x@ok.test');
    // What a process killed mid-attempt leaves behind: the delivery leased for another hour.
    const leaseUntil = new Date(server.clock.now().getTime() + 3_600_000).toISOString();
    deps.db
      .prepare(`UPDATE deliveries SET status = 'sending', lease_until = ? WHERE message_id = ?`)
      .run(leaseUntil, sent.id);

    const restarted = new DeliveryQueue(deps, {
      local: captureTransport(deps),
      remote: directTransport(deps),
    });
    restarted.start();
    cleanups.push(() => restarted.stop());
    await restarted.tick();
    expect((await messageOf(server, a.key, sent.id)).status).toBe('delivered');
    expect(mx.received.map((m) => m.rcptTo[0])).toEqual(['x@ok.test']);
  });
});

describe('direct delivery and the private-address guard', () => {
  it('refuses an MX that resolves to loopback unless LOFTBOX_OUTBOUND_ALLOW lists it, and tries the next MX', async () => {
    const { mx, server } = await setup({ outboundAllow: '127.0.0.3/32' });
    const backup = await startFakeMx({ host: '127.0.0.3', port: mx.port });
    cleanups.push(() => backup.close());
    server.dns.set('guarded.test', {
      MX: [
        { exchange: 'mx1.guarded.test', priority: 10 },
        { exchange: 'mx2.guarded.test', priority: 20 },
      ],
    });
    server.dns.set('mx1.guarded.test', { A: ['127.0.0.2'] });
    server.dns.set('mx2.guarded.test', { A: ['127.0.0.3'] });
    server.dns.set('inside.test', { MX: [{ exchange: 'mx.inside.test', priority: 10 }] });
    server.dns.set('mx.inside.test', { A: ['127.0.0.2'] });
    const a = await server.mailbox('alpha');

    const refused = await sendAs(server, a, 'someone@inside.test');
    const fallback = await sendAs(server, a, 'someone@guarded.test');
    await server.running.queue.tick();

    expect(mx.attempts).toBe(0);
    const recipient = (await messageOf(server, a.key, refused.id)).delivery.recipients[0];
    expect(recipient.status).toBe('deferred');
    expect(recipient.last_response).toMatch(/loopback address \(127\.0\.0\.2\)/);
    expect((await messageOf(server, a.key, fallback.id)).status).toBe('delivered');
    expect(backup.received.map((m) => m.rcptTo[0])).toEqual(['someone@guarded.test']);
  });
});

describe('what the tenant sees of a remote reply', () => {
  it("shows the code of a refused greeting but not the remote server's banner", async () => {
    const { mx, server } = await setup();
    const banner = await startRawMx('127.0.0.3', mx.port, (socket) =>
      socket.end('554 5.7.1 SECRET-BANNER mx7.internal.corp Postfix 3.1.4 (Debian) says no\r\n'),
    );
    cleanups.push(() => banner.close());
    server.dns.set('banner.test', { MX: [{ exchange: 'mx.banner.test', priority: 10 }] });
    server.dns.set('mx.banner.test', { A: ['127.0.0.3'] });
    const a = await server.mailbox('alpha');
    const sent = await sendAs(server, a, 'someone@banner.test');
    await server.running.queue.tick();

    const message = await messageOf(server, a.key, sent.id);
    const events = (await server.api('GET', '/v1/events?limit=100', { key: a.key })).body.data as Json[];
    const shown = JSON.stringify({ message, events: events.filter((e) => e.message_id === sent.id) });
    expect(message.delivery.recipients[0].last_response).toMatch(/^554 5\.7\.1\b/);
    expect(shown).not.toMatch(/SECRET-BANNER|internal\.corp|Postfix/);
  });
});
