import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs } from '../harness/logs.js';
import { startTestServer, type TestServer } from '../harness/server.js';
import { until } from '../harness/wait.js';

/**
 * The MX accepts faster than the pipeline processes, so under a flood the backlog must wait in the
 * database, not in memory (LOFTBOX_INBOUND_QUEUE, LOFTBOX_INBOUND_QUEUE_BYTES): past the cap an accepted message is left there and
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

/** A reply chain of `total` messages from a fast sender behind a first one from the stalled sender. */
async function sendChain(
  target: TestServer,
  address: string,
  total: number,
  padding = '',
): Promise<string[]> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: target.smtpPort,
    secure: false,
    ignoreTLS: true,
    pool: true,
  });
  const ids = Array.from({ length: total }, (_, i) => `<m${i}@fast.test>`);
  await transport.sendMail({
    from: 'first@slow.test',
    to: address,
    subject: 'Chain',
    text: `The first message.\n${padding}`,
    messageId: ids[0],
  });
  for (let i = 1; i < total; i++) {
    await transport.sendMail({
      from: 'next@fast.test',
      to: address,
      subject: 'Re: Chain',
      text: `Reply ${i}.\n${padding}`,
      messageId: ids[i],
      inReplyTo: ids[i - 1],
      references: ids.slice(0, i),
    });
  }
  transport.close();
  return ids;
}

/** Waits until nothing accepted is left, then reads the mailbox back in storage order. */
async function storedChain(target: TestServer, mailboxId: string) {
  await until(
    () =>
      (
        target.deps.db.prepare("SELECT COUNT(*) AS n FROM inbound WHERE state = 'accepted'").get() as {
          n: number;
        }
      ).n === 0,
    'every accepted message to be processed',
    30_000,
  );
  await target.running.inbound.idle();
  return target.deps.db
    .prepare('SELECT message_id_header, thread_id FROM messages WHERE mailbox_id = ? ORDER BY rowid')
    .all(mailboxId) as { message_id_header: string; thread_id: string }[];
}

describe('inbound backlog', () => {
  it('keeps what does not fit in memory in the database and stores it all, in order, in one thread', async () => {
    const box = await server.mailbox('flooded');
    const ids = await sendChain(server, box.address, 15);
    await until(() => logs.lines.some((l) => l.event === 'inbound.backlog'), 'the backlog to be noticed');
    const stored = await storedChain(server, box.mailboxId);
    expect(stored.map((m) => m.message_id_header)).toEqual(ids);
    expect(new Set(stored.map((m) => m.thread_id)).size).toBe(1);
  }, 60_000);

  it('bounds the bytes held as well as the count: large messages wait in the database past the byte budget', async () => {
    const bytesLogs = captureLogs();
    // Room for a thousand messages by count, but only about three of these 20 kB ones by bytes.
    const target = await startTestServer(
      { inboundQueue: 1000, inboundQueueBytes: 64 * 1024, inboundPrepareTimeoutMs: 1500 },
      { log: bytesLogs.log },
    );
    try {
      target.dns.stall('slow.test');
      const box = await target.mailbox('large');
      const ids = await sendChain(target, box.address, 10, `${'large body line '.repeat(60)}\n`.repeat(20));
      await until(
        () => bytesLogs.lines.some((l) => l.event === 'inbound.backlog'),
        'the byte budget to be reached',
      );
      const backlog = bytesLogs.lines.find((l) => l.event === 'inbound.backlog') as {
        in_memory: number;
        bytes_in_memory: number;
      };
      expect(backlog.in_memory).toBeLessThanOrEqual(4);
      expect(backlog.bytes_in_memory).toBeLessThanOrEqual(64 * 1024);
      const stored = await storedChain(target, box.mailboxId);
      expect(stored.map((m) => m.message_id_header)).toEqual(ids);
      expect(new Set(stored.map((m) => m.thread_id)).size).toBe(1);
    } finally {
      await target.close();
    }
  }, 60_000);

  it('takes one message above the byte budget on its own rather than never', async () => {
    const target = await startTestServer({ inboundQueueBytes: 1024 });
    try {
      const box = await target.mailbox('huge');
      const ids = await sendChain(target, box.address, 3, 'x'.repeat(4000));
      const stored = await storedChain(target, box.mailboxId);
      expect(stored.map((m) => m.message_id_header)).toEqual(ids);
    } finally {
      await target.close();
    }
  }, 60_000);
});
