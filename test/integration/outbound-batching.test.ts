import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryQueue } from '../../server/outbound/queue.js';
import { captureTransport, directTransport } from '../../server/outbound/transports.js';
import type { Json } from '../harness/server.js';
import { until } from '../harness/wait.js';
import { directDeliveryServer } from '../harness/direct-delivery.js';
import { captureLogs } from '../harness/logs.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('delivery results committed together', () => {
  it('keeps the others when one result cannot be written, commits each before anyone sees its event, and delivers the lost one again after its lease', async () => {
    const { mx, server } = await directDeliveryServer(cleanups, { deliveryLease: 60_000 });
    const { deps } = server.running;
    await server.running.queue.stop();
    const capture = captureLogs();
    // A long window: the three results, finishing close together, share a commit.
    const queueDeps = { ...deps, log: capture.log, config: { ...deps.config, deliveryRecordWindow: 1000 } };
    const queue = new DeliveryQueue(queueDeps, {
      local: captureTransport(queueDeps),
      remote: directTransport(queueDeps),
    });
    cleanups.push(() => queue.stop());

    const box = await server.mailbox('batch');
    const sent = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: {
        mailbox_id: box.mailboxId,
        to: ['x@ok.test', 'y@ok.test', 'z@ok.test'],
        subject: 'three at once',
        body_text: 'hello',
      },
    });
    expect(sent.status, sent.text).toBe(201);
    const messageId = (sent.body as Json).id as string;
    const deliveryOf = (recipient: string) =>
      deps.db
        .prepare('SELECT id, status, attempts FROM deliveries WHERE message_id = ? AND recipient = ?')
        .get(messageId, recipient) as { id: string; status: string; attempts: number };
    const poisoned = deliveryOf('y@ok.test').id;

    // Whatever hears of an event reads it from another connection: it must already be committed.
    const reader = new Database(deps.db.name, { readonly: true });
    cleanups.push(() => void reader.close());
    const uncommitted: number[] = [];
    const onAppended = (_org: string, seq: number) => {
      if (!reader.prepare('SELECT 1 FROM events WHERE seq = ?').get(seq)) uncommitted.push(seq);
    };
    deps.bus.on('appended', onAppended);
    cleanups.push(() => void deps.bus.off('appended', onAppended));

    deps.db.exec(
      `CREATE TEMP TRIGGER fail_one_record BEFORE INSERT ON main.delivery_attempts
         WHEN NEW.delivery_id = '${poisoned}'
         BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END`,
    );
    try {
      await queue.tick();
    } finally {
      deps.db.exec('DROP TRIGGER temp.fail_one_record');
    }
    expect(mx.received.map((m) => m.rcptTo[0]).sort()).toEqual(['x@ok.test', 'y@ok.test', 'z@ok.test']);
    expect(deliveryOf('x@ok.test')).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(deliveryOf('z@ok.test')).toMatchObject({ status: 'delivered', attempts: 1 });
    // The lost result leaves its delivery leased, as a crash would: logged, not delivered in the books.
    expect(deliveryOf('y@ok.test')).toMatchObject({ status: 'sending', attempts: 0 });
    expect(
      capture.lines.filter((l) => l.event === 'outbound.attempt_failed').map((l) => l.delivery_id),
    ).toEqual([poisoned]);

    // Once its lease has run out (stored times have second precision), it is delivered again: at least once.
    server.clock.advance(61_000);
    await queue.tick();
    expect(mx.received.map((m) => m.rcptTo[0]).sort()).toEqual([
      'x@ok.test',
      'y@ok.test',
      'y@ok.test',
      'z@ok.test',
    ]);
    expect(deliveryOf('y@ok.test')).toMatchObject({ status: 'delivered', attempts: 1 });
    const events = await server.api('GET', '/v1/events', { key: box.key });
    const delivered = ((events.body as Json).data as Json[]).filter((e) => e.type === 'message.delivered');
    expect(delivered.map((e) => e.data.recipient as string).sort()).toEqual([
      'x@ok.test',
      'y@ok.test',
      'z@ok.test',
    ]);
    const message = await server.api('GET', `/v1/messages/${messageId}`, { key: box.key });
    expect((message.body as Json).status).toBe('delivered');
    expect(uncommitted).toEqual([]);
  });
});

describe('leasing due deliveries', () => {
  it('takes each lease inside the commit shared with delivery results, never as a write of its own', async () => {
    const { mx, server } = await directDeliveryServer(cleanups, { domainConcurrency: 2 });
    const { deps } = server.running;
    await server.running.queue.stop();
    // The repository as the queue sees it, noting whether each lease ran inside a transaction.
    const leases: { inTransaction: boolean; rows: number }[] = [];
    const deliveries = Object.create(deps.repos.deliveries) as typeof deps.repos.deliveries;
    deliveries.lease = (...args) => {
      const inTransaction = deps.db.inTransaction;
      const rows = deps.repos.deliveries.lease(...args);
      leases.push({ inTransaction, rows: rows.length });
      return rows;
    };
    const queueDeps = { ...deps, repos: { ...deps.repos, deliveries } };
    const queue = new DeliveryQueue(queueDeps, {
      local: captureTransport(queueDeps),
      remote: directTransport(queueDeps),
    });
    cleanups.push(() => queue.stop());

    const box = await server.mailbox('leases');
    const to = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => `${n}@ok.test`);
    const sent = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: { mailbox_id: box.mailboxId, to, subject: 'six', body_text: 'hello' },
    });
    expect(sent.status, sent.text).toBe(201);
    await queue.tick();

    expect(mx.received.flatMap((m) => m.rcptTo).sort()).toEqual(to);
    expect(leases.filter((l) => l.rows > 0).length).toBeGreaterThan(0);
    expect(leases.filter((l) => !l.inTransaction)).toEqual([]);
    // Several due deliveries per lease.
    expect(Math.max(...leases.map((l) => l.rows))).toBeGreaterThan(1);
  });
});

describe('waking the delivery queue', () => {
  it('delivers new mail on commit and a retry at its due time, with an hour-long safety poll', async () => {
    let refusals = 0;
    const { mx, server } = await directDeliveryServer(
      cleanups,
      { queuePoll: 3_600_000, retrySchedule: [2_000] },
      {
        playbook: {
          rcptTo: (address) =>
            address === 'later@ok.test' && refusals++ === 0
              ? { code: 451, message: '4.3.0 try again' }
              : null,
        },
      },
    );
    const box = await server.mailbox('wake');
    const send = async (to: string) => {
      const res = await server.api('POST', '/v1/messages', {
        key: box.key,
        body: { mailbox_id: box.mailboxId, to: [to], subject: `to ${to}`, body_text: 'hello' },
      });
      expect(res.status, res.text).toBe(201);
      return (res.body as Json).id as string;
    };
    const recipient = async (id: string) =>
      ((await server.api('GET', `/v1/messages/${id}`, { key: box.key })).body as Json).delivery.recipients[0];

    const now = await send('now@ok.test');
    await until(async () => (await recipient(now)).status === 'delivered', 'delivery woken by the commit');

    const later = await send('later@ok.test');
    await until(async () => (await recipient(later)).status === 'deferred', 'first attempt deferred');
    // The retry comes due on the injected clock; the queue's own timer, not the poll, brings it back.
    server.clock.advance(3_000);
    await until(async () => (await recipient(later)).status === 'delivered', 'retry at its due time');
    expect(mx.received.map((m) => m.rcptTo[0])).toEqual(['now@ok.test', 'later@ok.test']);
  });

  it('delivers a scheduled send at its time with an hour-long safety poll: the send wakes the queue', async () => {
    const { mx, server } = await directDeliveryServer(cleanups, { queuePoll: 3_600_000 });
    const box = await server.mailbox('scheduled');
    const res = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: {
        mailbox_id: box.mailboxId,
        to: ['timed@ok.test'],
        subject: 'timed',
        body_text: 'hello',
        send_at: new Date(server.clock.now().getTime() + 1_000).toISOString(),
      },
    });
    expect(res.status, res.text).toBe(201);
    server.clock.advance(2_000);
    await until(() => mx.received.length === 1, 'the scheduled send delivered at its time');
    expect(mx.received[0]?.rcptTo).toEqual(['timed@ok.test']);
  });
});
