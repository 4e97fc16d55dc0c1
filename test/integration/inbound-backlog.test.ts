import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs } from '../harness/logs.js';
import { startTestServer, type TestServer } from '../harness/server.js';
import { until } from '../harness/wait.js';

/**
 * The MX accepts faster than the pipeline processes, so under a flood the backlog must wait in the
 * database, not in memory (LOFTBOX_INBOUND_QUEUE): past the cap an accepted message is left there and
 * read back in acceptance order as the pipeline catches up. Order per mailbox must survive the round
 * trip: a reply stored before the message it answers would start a thread of its own.
 */
const logs = captureLogs();
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ inboundQueue: 3, inboundPrepareTimeoutMs: 1500 }, { log: logs.log });
  // The first sender's lookups go unanswered, so its message holds the mailbox up until the deadline
  // while the rest pile up behind it.
  server.dns.stall('slow.test');
});
afterAll(async () => {
  await server.close();
});

describe('inbound backlog', () => {
  it('keeps what does not fit in memory in the database and stores it all, in order, in one thread', async () => {
    const box = await server.mailbox('flooded');
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: server.smtpPort,
      secure: false,
      ignoreTLS: true,
      pool: true,
    });
    const total = 15;
    const ids = Array.from({ length: total }, (_, i) => `<m${i}@fast.test>`);
    await transport.sendMail({
      from: 'first@slow.test',
      to: box.address,
      subject: 'Chain',
      text: 'The first message.',
      messageId: ids[0],
    });
    for (let i = 1; i < total; i++) {
      await transport.sendMail({
        from: 'next@fast.test',
        to: box.address,
        subject: 'Re: Chain',
        text: `Reply ${i}.`,
        messageId: ids[i],
        inReplyTo: ids[i - 1],
        references: ids.slice(0, i),
      });
    }
    transport.close();

    await until(() => logs.lines.some((l) => l.event === 'inbound.backlog'), 'the backlog to be noticed');
    await until(
      () =>
        (
          server.deps.db.prepare("SELECT COUNT(*) AS n FROM inbound WHERE state = 'accepted'").get() as {
            n: number;
          }
        ).n === 0,
      'every accepted message to be processed',
      30_000,
    );
    await server.running.inbound.idle();

    const stored = server.deps.db
      .prepare('SELECT message_id_header, thread_id FROM messages WHERE mailbox_id = ? ORDER BY rowid')
      .all(box.mailboxId) as { message_id_header: string; thread_id: string }[];
    expect(stored.map((m) => m.message_id_header)).toEqual(ids);
    expect(new Set(stored.map((m) => m.thread_id)).size).toBe(1);
  }, 60_000);
});
