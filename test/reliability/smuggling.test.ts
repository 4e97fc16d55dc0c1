import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { code, RawSmtp } from '../harness/smtp.js';

/**
 * TESTPLAN §3 S1/S2 for both SMTP doors. Only `<CRLF>.<CRLF>` ends DATA (RFC 5321 §4.1.1.4); every
 * look-alike terminator stays inside the first message, and the repository's S2 policy is "normalize":
 * what is stored has no bare CR or LF left.
 */
const VARIANTS = ['\n.\n', '\n.\r\n', '\r\n.\n', '\r.\r', '\r.\r\n', '\r\n.\r', '\n.\r', '\r\n\x00.\r\n'];

let server: TestServer;
let sender: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  server = await startTestServer({ signupLimitPerIp: 1000 });
  sender = await server.mailbox('smuggle-sender');
});
afterAll(async () => {
  await server.close();
});

const smuggled = (victim: string) =>
  `MAIL FROM:<evil@evil.test>\r\nRCPT TO:<${victim}>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n`;

/** Subjects of every message the server holds, in any org or mailbox, that mention the smuggled one. */
const smuggledAnywhere = () =>
  server.deps.db.prepare(`SELECT subject FROM messages WHERE subject LIKE '%smuggled%'`).all() as {
    subject: string;
  }[];

async function inboxOf(box: { key: string; mailboxId: string }): Promise<Json[]> {
  const res = await server.api('GET', `/v1/mailboxes/${box.mailboxId}/inbox?limit=100`, { key: box.key });
  return res.body.data as Json[];
}

async function rawOf(box: { key: string }, id: string): Promise<string> {
  return (await server.api('GET', `/v1/messages/${id}/raw`, { key: box.key })).text;
}

async function drain() {
  for (let i = 0; i < 10; i++) if ((await server.running.queue.tick()) === 0) break;
  await server.running.inbound.idle();
}

/** Runs one transaction whose body carries `variant` and a second transaction; returns the replies seen. */
async function smuggle(
  smtp: RawSmtp,
  options: { from: string; to: string; headers: string; variant: string },
): Promise<{ data: number; final: string; quit: number }> {
  expect(code(await smtp.command(`MAIL FROM:<${options.from}>`))).toBe(250);
  expect(code(await smtp.command(`RCPT TO:<${options.to}>`))).toBe(250);
  const data = code(await smtp.command('DATA'));
  smtp.write(`${options.headers}Subject: one\r\n\r\nbody${options.variant}${smuggled(options.to)}`);
  const final = await smtp.reply();
  // Any reply to a smuggled command would sit in front of QUIT's 221.
  const quit = code(await smtp.command('QUIT'));
  return { data, final, quit };
}

describe('SMTP smuggling matrix (S1, S2)', () => {
  it('offers no BDAT/CHUNKING on the MX or on submission, and refuses the verb', async () => {
    const mx = await RawSmtp.open(server.smtpPort);
    const submission = await RawSmtp.openTls(server.running.ports['submission-tls'] ?? 0);
    try {
      for (const smtp of [mx, submission]) {
        const ehlo = await smtp.command('EHLO client.test');
        expect(code(ehlo)).toBe(250);
        expect(ehlo).not.toMatch(/CHUNKING|BDAT/i);
        expect(code(await smtp.command('BDAT 5 LAST'))).toBeGreaterThanOrEqual(500);
      }
    } finally {
      mx.close();
      submission.close();
    }
  });

  for (const variant of VARIANTS) {
    it(`MX: ${JSON.stringify(variant)} stays inside one message`, async () => {
      const target = await server.mailbox(`mx-smuggle-${VARIANTS.indexOf(variant)}`);
      const smtp = await RawSmtp.open(server.smtpPort);
      try {
        expect(code(await smtp.command('EHLO client.test'))).toBe(250);
        const replies = await smuggle(smtp, {
          from: 'a@sender.test',
          to: target.address,
          headers: '',
          variant,
        });
        expect(replies).toMatchObject({ data: 354, quit: 221 });
        expect(code(replies.final)).toBe(250);
      } finally {
        smtp.close();
      }
      await server.running.inbound.idle();
      const messages = await inboxOf(target);
      expect(messages.map((m) => m.subject)).toEqual(['one']);
      const accepted = server.deps.db
        .prepare(`SELECT count(*) AS n FROM inbound WHERE recipients LIKE ?`)
        .get(`%${target.address}%`) as { n: number };
      expect(accepted.n).toBe(1);
      expect(smuggledAnywhere()).toEqual([]);
      const raw = await rawOf(target, messages[0]?.id as string);
      expect(raw.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    });

    it(`submission (AUTH over TLS): ${JSON.stringify(variant)} stays inside one message`, async () => {
      const peer = await server.mailbox(`sub-smuggle-${VARIANTS.indexOf(variant)}`);
      const smtp = await RawSmtp.openTls(server.running.ports['submission-tls'] ?? 0);
      try {
        expect(code(await smtp.command('EHLO client.test'))).toBe(250);
        const plain = Buffer.from(`\0${sender.address}\0${sender.key}`).toString('base64');
        expect(code(await smtp.command(`AUTH PLAIN ${plain}`))).toBe(235);
        const replies = await smuggle(smtp, {
          from: sender.address,
          to: peer.address,
          headers: `From: <${sender.address}>\r\nTo: <${peer.address}>\r\n`,
          variant,
        });
        expect(replies).toMatchObject({ data: 354, quit: 221 });
        expect(replies.final).toMatch(/^250 2\.0\.0 Ok: queued as msg_/);
      } finally {
        smtp.close();
      }
      await drain();
      const received = await inboxOf(peer);
      expect(received.map((m) => m.subject)).toEqual(['one']);
      const sent = await server.api(
        'GET',
        `/v1/messages?direction=outgoing&mailbox_id=${sender.mailboxId}&q=${encodeURIComponent(peer.address)}`,
        { key: sender.key },
      );
      expect((sent.body.data as Json[]).map((m) => m.subject)).toEqual(['one']);
      expect(smuggledAnywhere()).toEqual([]);
      for (const [box, id] of [
        [peer, received[0]?.id],
        [sender, sent.body.data[0]?.id],
      ] as const) {
        expect((await rawOf(box, id as string)).replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
      }
    });
  }
});
