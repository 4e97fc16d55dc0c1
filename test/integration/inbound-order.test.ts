import nodemailer, { type SendMailOptions } from 'nodemailer';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs } from '../harness/logs.js';
import { startTestServer, type TestServer } from '../harness/server.js';
import { until } from '../harness/wait.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(prepareTimeoutMs: number) {
  const logs = captureLogs();
  const server = await startTestServer({ inboundPrepareTimeoutMs: prepareTimeoutMs }, { log: logs.log });
  servers.push(server);
  // Any name under slow.test goes unanswered: that sender's SPF and DMARC lookups hang.
  server.dns.stall('slow.test');
  return { server, logs };
}

async function send(server: TestServer, options: SendMailOptions) {
  await nodemailer
    .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
    .sendMail(options);
}

function stored(server: TestServer, mailboxId: string) {
  return server.deps.db
    .prepare(
      'SELECT subject, thread_id, auth, raw_hash, raw_prefix FROM messages WHERE mailbox_id = ? ORDER BY rowid',
    )
    .all(mailboxId) as {
    subject: string;
    thread_id: string;
    auth: string;
    raw_hash: string;
    raw_prefix: Buffer | null;
  }[];
}

describe('inbound storing order', () => {
  it('stores mail for another org while a message with hanging DNS is still being prepared', async () => {
    const { server } = await start(600_000);
    const slowBox = await server.mailbox('waits');
    const otherOrg = await server.mailbox('flows');

    await send(server, { from: 'a@slow.test', to: slowBox.address, subject: 'slow', text: 'x' });
    await until(
      () => server.dns.queries.some((q) => q.name.endsWith('slow.test')),
      'the slow sender to be looked up',
    );
    await send(server, { from: 'b@fast.test', to: slowBox.address, subject: 'behind slow', text: 'x' });
    await send(server, { from: 'c@fast.test', to: otherOrg.address, subject: 'other org', text: 'x' });

    await until(() => stored(server, otherOrg.mailboxId).length === 1, 'the other org to get its mail');
    // Same mailbox: the later message waits its turn behind the one still preparing.
    expect(stored(server, slowBox.mailboxId)).toEqual([]);
    const waiting = server.deps.db
      .prepare("SELECT count(*) AS n FROM inbound WHERE state = 'accepted'")
      .get();
    expect(waiting).toEqual({ n: 2 });
  }, 60_000);

  it('stores a message past the deadline with temperror verdicts, and keeps a mailbox in order', async () => {
    const { server, logs } = await start(300);
    const box = await server.mailbox('ordered');

    await send(server, {
      from: 'a@slow.test',
      to: box.address,
      subject: 'question',
      text: 'Does this arrive first?',
      messageId: '<question-1@slow.test>',
    });
    await send(server, {
      from: 'b@fast.test',
      to: box.address,
      subject: 'an answer',
      text: 'Yes.',
      inReplyTo: '<question-1@slow.test>',
      references: ['<question-1@slow.test>'],
    });
    await server.running.inbound.idle();

    const messages = stored(server, box.mailboxId);
    expect(messages.map((m) => m.subject)).toEqual(['question', 'an answer']);
    // The reply was threaded onto the question, so the question was stored first.
    expect(messages[1]?.thread_id).toBe(messages[0]?.thread_id);
    expect(JSON.parse(messages[0]?.auth ?? '{}')).toMatchObject({ spf: 'temperror', dkim: 'temperror' });
    expect(JSON.parse(messages[1]?.auth ?? '{}')).toMatchObject({ spf: 'none' });
    const first = messages[0];
    const raw = (first && server.deps.repos.blobs.rawOf(first)?.toString('latin1')) ?? '';
    expect(raw).toMatch(new RegExp(`^Authentication-Results: ${server.deps.mxHost.replace(/\./g, '\\.')};`));
    expect(raw).toContain('spf=temperror');
    expect(logs.lines.filter((l) => l.event === 'inbound.auth_deadline')).toHaveLength(1);
    // Raw mail is kept once: each message points at the accepted copy, our header kept beside it.
    const pairs = server.deps.db
      .prepare(
        'SELECT i.raw_hash AS accepted, m.raw_hash AS stored FROM inbound i JOIN messages m ON m.inbound_id = i.id WHERE m.mailbox_id = ?',
      )
      .all(box.mailboxId) as { accepted: string; stored: string }[];
    expect(pairs).toHaveLength(2);
    for (const pair of pairs) expect(pair.accepted).toBe(pair.stored);
  }, 60_000);
});
