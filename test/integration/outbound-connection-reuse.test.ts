import { afterEach, describe, expect, it } from 'vitest';
import { directDeliveryServer } from '../harness/direct-delivery.js';
import { startFakeMx, type FakeMx } from '../harness/fake-mx.js';
import type { TestServer } from '../harness/server.js';
import { until } from '../harness/wait.js';

/**
 * SMTP connection reuse in direct delivery, against fake MX hosts on loopback that log every command
 * with the connection it came on.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Sends one message to each recipient and waits until every delivery has ended. */
async function sendEach(server: TestServer, recipients: string[]): Promise<void> {
  const box = await server.mailbox(`reuse${Math.random().toString(36).slice(2, 8)}`);
  for (const to of recipients) {
    const res = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: { mailbox_id: box.mailboxId, to: [to], subject: `to ${to}`, body_text: 'hello' },
    });
    expect(res.status, res.text).toBe(201);
  }
  const pending = () =>
    (
      server.running.deps.db
        .prepare(`SELECT COUNT(*) AS n FROM deliveries WHERE status IN ('queued', 'sending')`)
        .get() as { n: number }
    ).n;
  await until(() => pending() === 0, 'every delivery to end');
}

/** Every attempt at a recipient of `domain`, as (recipient, outcome), in recipient order. */
function attempts(server: TestServer, domain = 'ok.test'): { recipient: string; outcome: string }[] {
  return server.running.deps.db
    .prepare(
      `SELECT d.recipient, a.outcome FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
       WHERE d.domain = ? ORDER BY d.recipient`,
    )
    .all(domain) as { recipient: string; outcome: string }[];
}

/** The MAIL and RSET commands each connection sent, in order, e.g. `MAIL RSET MAIL`. */
function transactionsByConnection(mx: FakeMx): string[] {
  const byConnection = new Map<string, string[]>();
  for (const { connection, command } of mx.commands) {
    if (command !== 'MAIL' && command !== 'RSET') continue;
    byConnection.set(connection, [...(byConnection.get(connection) ?? []), command]);
  }
  return [...byConnection.values()].map((commands) => commands.join(' '));
}

/** Kept connections outlive any pause of a loaded machine: only the idle test shrinks it. */
const IDLE = 600_000;

const recipients = (n: number, domain = 'ok.test') =>
  Array.from({ length: n }, (_, i) => `r${String(i).padStart(2, '0')}@${domain}`);

describe('SMTP connection reuse', () => {
  it('sends many messages to one domain over fewer connections, each exactly once with its envelope, with RSET between them', async () => {
    const { mx, server } = await directDeliveryServer(cleanups, {
      domainConcurrency: 3,
      outboundPoolIdle: IDLE,
    });
    const to = recipients(9);
    await sendEach(server, to);

    expect(mx.received.map((m) => m.rcptTo)).toHaveLength(9);
    expect(mx.received.flatMap((m) => m.rcptTo).sort()).toEqual(to);
    for (const mail of mx.received) {
      expect(mail.mailFrom).toMatch(/^bounces\+[^@]+@/);
    }
    expect(attempts(server)).toEqual(to.map((recipient) => ({ recipient, outcome: 'delivered' })));
    // At most one connection per attempt in flight at once, each carrying several messages.
    expect(mx.connections).toBeLessThanOrEqual(3);
    expect(new Set(mx.received.map((m) => m.connection)).size).toBe(mx.connections);
    // RFC 5321 §4.1.1.5: each message after a connection's first starts with RSET.
    for (const sequence of transactionsByConnection(mx)) expect(sequence).toMatch(/^MAIL( RSET MAIL)*$/);
    expect(mx.commands.filter((c) => c.command === 'RSET')).toHaveLength(9 - mx.connections);
  });

  it('delivers every message once, with no failure recorded, when the server drops a reused connection at MAIL FROM', async () => {
    let hungUp = 0;
    const { mx, server } = await directDeliveryServer(
      cleanups,
      { domainConcurrency: 1, outboundPoolIdle: IDLE },
      {
        playbook: {
          hangUp: (transaction) => {
            if (transaction !== 2) return false;
            hungUp += 1;
            return true;
          },
        },
      },
    );
    const to = recipients(5);
    await sendEach(server, to);

    expect(hungUp).toBeGreaterThan(0);
    expect(mx.received.flatMap((m) => m.rcptTo).sort()).toEqual(to);
    expect(attempts(server)).toEqual(to.map((recipient) => ({ recipient, outcome: 'delivered' })));
  });

  it('closes a connection that answers 421 mid-session and sends the message on a new one', async () => {
    const refusedOn: string[] = [];
    const { mx, server } = await directDeliveryServer(cleanups, {
      domainConcurrency: 1,
      outboundPoolIdle: IDLE,
    });
    // One attempt at a time: the last command logged is this MAIL FROM.
    mx.playbook.mailFrom = (_address, _attempt, transaction) => {
      if (transaction !== 3) return null;
      refusedOn.push(mx.commands.at(-1)?.connection ?? '');
      return { code: 421, message: '4.7.0 Too many messages, closing' };
    };
    const to = recipients(6);
    await sendEach(server, to);

    expect(refusedOn.length).toBeGreaterThan(0);
    expect(mx.received.flatMap((m) => m.rcptTo).sort()).toEqual(to);
    expect(attempts(server)).toEqual(to.map((recipient) => ({ recipient, outcome: 'delivered' })));
    // Nothing more was sent on a connection after its 421.
    for (const connection of refusedOn) {
      const commands = mx.commands.filter((c) => c.connection === connection).map((c) => c.command);
      expect(commands.at(-1)).toBe('MAIL');
    }
  });

  it('closes an idle connection with QUIT after LOFTBOX_OUTBOUND_POOL_IDLE', async () => {
    const { mx, server } = await directDeliveryServer(cleanups, { outboundPoolIdle: 100 });
    await sendEach(server, recipients(2));
    await until(() => mx.open === 0, 'the idle connection to close');
    expect(mx.commands.at(-1)?.command).toBe('QUIT');
  });

  it('keeps at most LOFTBOX_OUTBOUND_POOL_SIZE connections per destination and closes every kept one at shutdown', async () => {
    const { mx, server } = await directDeliveryServer(cleanups, {
      outboundPoolSize: 1,
      outboundPoolIdle: IDLE,
      domainConcurrency: 3,
    });
    await sendEach(server, recipients(6));
    // Connections beyond the kept one close after their message.
    await until(() => mx.open === 1, 'only the kept connection to stay open');
    expect(mx.received.flatMap((m) => m.rcptTo).sort()).toEqual(recipients(6));
    const quitted = () => mx.commands.filter((c) => c.command === 'QUIT').map((c) => c.connection);
    expect(quitted()).toEqual([]);

    await server.running.close();
    await until(() => mx.open === 0, 'shutdown to close the kept connection');
    expect(quitted()).toHaveLength(1);
    expect(mx.received.map((m) => m.connection)).toContain(quitted()[0]);
  });

  it('never carries one destination’s mail over another’s connection', async () => {
    const { mx, server } = await directDeliveryServer(cleanups, {
      domainConcurrency: 2,
      outboundPoolIdle: IDLE,
    });
    const other: FakeMx = await startFakeMx({ host: '127.0.0.3', port: mx.port });
    cleanups.splice(1, 0, () => other.close());
    server.dns.set('other.test', { MX: [{ exchange: 'mx.other.test', priority: 10 }] });
    server.dns.set('mx.other.test', { A: ['127.0.0.3'] });
    const mine = recipients(4);
    const theirs = recipients(4, 'other.test');
    await sendEach(
      server,
      mine.flatMap((m, i) => [m, theirs[i] ?? '']),
    );

    expect(mx.received.flatMap((m) => m.rcptTo).sort()).toEqual(mine);
    expect(other.received.flatMap((m) => m.rcptTo).sort()).toEqual(theirs);
    expect(mx.connections).toBeLessThan(4);
    expect(other.connections).toBeLessThan(4);
  });
});
