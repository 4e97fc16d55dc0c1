import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { code, RawSmtp } from '../harness/smtp.js';

const run = promisify(execFile);

let server: TestServer;
let box: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  server = await startTestServer({ maxMessageBytes: 200_000, maxRecipients: 3 });
  box = await server.mailbox('support');
});
afterAll(async () => {
  await server.close();
});

const transport = () =>
  nodemailer.createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true });

async function inbox(key = box.key, mailboxId = box.mailboxId) {
  await server.running.inbound.idle();
  return (await server.api('GET', `/v1/mailboxes/${mailboxId}/inbox`, { key })).body.data as Json[];
}

describe('mail over real SMTP lands in the inbox', () => {
  it('stores a nodemailer message with its fields, thread, auth and injection risk', async () => {
    const info = await transport().sendMail({
      from: 'Alice Example <alice@sender.test>',
      to: box.address,
      subject: 'Hello from nodemailer',
      text: 'First line.\nSecond line.',
      messageId: '<first-1@sender.test>',
    });
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/);
    const [message] = await inbox();
    expect(message).toMatchObject({
      direction: 'incoming',
      status: 'received',
      from: 'alice@sender.test',
      from_name: 'Alice Example',
      to: [box.address],
      subject: 'Hello from nodemailer',
      message_id_header: '<first-1@sender.test>',
      mailbox_id: box.mailboxId,
      agent_id: box.agentId,
    });
    expect(message?.public_id).toMatch(/^msg_/);
    expect(message?.body_text).toContain('Second line.');
    expect(message?.auth).toMatchObject({ spf: expect.any(String), dkim: 'none', dmarc: expect.any(String) });
    expect(message?.injection_risk).toMatchObject({ score: 0, categories: [] });

    const thread = await server.api('GET', `/v1/threads/${message?.thread_id}`, { key: box.key });
    expect(thread.body).toMatchObject({ subject: 'Hello from nodemailer', message_count: 1 });
    const raw = await server.api('GET', `/v1/messages/${message?.id}/raw`, { key: box.key });
    expect(raw.headers.get('content-type')).toContain('message/rfc822');
    // Our verdict on top (RFC 8601 §5), then our trace header.
    expect(raw.text).toMatch(/^Received-SPF: [^\r\n]*\r\nAuthentication-Results: /);
    expect(raw.text).toMatch(/\r\nReceived: from /);
    expect(raw.text).toContain('Subject: Hello from nodemailer');
  });

  it('writes the raw message once for all its mailboxes, and serves it under our own header', async () => {
    const other = await server.mailbox('sales');
    const { db } = server.deps;
    const count = (table: string) =>
      (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    const blobsBefore = count('blobs');
    await transport().sendMail({
      from: 'alice@sender.test',
      to: [box.address, other.address],
      subject: 'To both desks',
      text: 'Once on disk.',
    });
    const bySubject = (messages: Json[]) => messages.find((m) => m.subject === 'To both desks');
    const forBox = bySubject(await inbox());
    const forOther = bySubject(await inbox(other.key, other.mailboxId));
    expect(forBox && forOther).toBeTruthy();
    // One blob: the bytes the MX accepted, shared by both messages; no second copy under our header.
    expect(count('blobs')).toBe(blobsBefore + 1);
    const accepted = server.deps.repos.blobs.get(
      (
        db.prepare('SELECT raw_hash FROM inbound ORDER BY received_at DESC, rowid DESC LIMIT 1').get() as {
          raw_hash: string;
        }
      ).raw_hash,
    );
    for (const [message, key] of [
      [forBox, box.key],
      [forOther, other.key],
    ] as const) {
      const raw = await server.api('GET', `/v1/messages/${message?.id}/raw`, { key });
      const body = Buffer.from(raw.text, 'latin1');
      expect(raw.text).toMatch(/^Received-SPF: [^\r\n]*\r\nAuthentication-Results: /);
      expect(accepted && body.subarray(body.length - accepted.length).equals(accepted)).toBe(true);
      expect(message?.size_bytes).toBe(body.length);
    }
  });

  it('threads a reply by In-Reply-To, and ack removes it from the inbox but not from messages', async () => {
    await transport().sendMail({
      from: 'bob@sender.test',
      to: box.address,
      subject: 'Quarterly numbers',
      text: 'Can you check the numbers?',
      messageId: '<q-1@sender.test>',
    });
    await transport().sendMail({
      from: 'bob@sender.test',
      to: box.address,
      subject: 'Something else entirely',
      text: 'Following up.\n\nOn Mon, Jan 1, 2030 at 9:00 AM Bob <bob@sender.test> wrote:\n> Can you check the numbers?',
      inReplyTo: '<q-1@sender.test>',
      references: ['<q-1@sender.test>'],
      messageId: '<q-2@sender.test>',
    });
    const messages = await inbox();
    const first = messages.find((m) => m.message_id_header === '<q-1@sender.test>');
    const reply = messages.find((m) => m.message_id_header === '<q-2@sender.test>');
    expect(reply?.thread_id).toBe(first?.thread_id);
    expect(reply?.in_reply_to).toBe('<q-1@sender.test>');
    expect(reply?.extracted_text).toBe('Following up.');
    // A message that quotes nothing has its text as its reply text: the row holds that text once, and
    // the API and the message.inbound event still carry both.
    expect(first?.extracted_text).toBe('Can you check the numbers?');
    const { db } = server.deps;
    const row = (id: string) =>
      db.prepare('SELECT body_text, extracted_text FROM messages WHERE id = ?').get(id) as {
        body_text: string;
        extracted_text: string | null;
      };
    expect(row(first?.id).body_text.trim()).toBe('Can you check the numbers?');
    expect(row(first?.id).extracted_text).toBeNull();
    expect(row(reply?.id).extracted_text).toBe('Following up.');
    const inboundEvent = db
      .prepare("SELECT data FROM events WHERE type = 'message.inbound' AND message_id = ?")
      .get(first?.id) as { data: string };
    expect(JSON.parse(inboundEvent.data).message.extracted_text).toBe('Can you check the numbers?');

    const ack = await server.api('POST', `/v1/mailboxes/${box.mailboxId}/inbox/ack`, {
      key: box.key,
      body: { message_ids: [first?.id, reply?.public_id, '00000000-0000-7000-8000-000000000000'] },
    });
    expect(ack.body).toEqual({ acked: 2 });
    const again = await server.api('POST', `/v1/mailboxes/${box.mailboxId}/inbox/ack`, {
      key: box.key,
      body: { message_ids: [first?.id] },
    });
    expect(again.body).toEqual({ acked: 0 });
    const remaining = await inbox();
    expect(remaining.map((m) => m.id)).not.toContain(first?.id);
    const listed = await server.api('GET', `/v1/messages?thread_id=${first?.thread_id}`, { key: box.key });
    expect(listed.body.data).toHaveLength(2);
    expect(listed.body.data[0].acked_at).not.toBeNull();
    const threadMessages = await server.api('GET', `/v1/threads/${first?.thread_id}/messages`, {
      key: box.key,
    });
    expect(threadMessages.body.data.map((m: { id: string }) => m.id)).toEqual([first?.id, reply?.id]);
  });

  it('threads a "Re:" reply without headers by subject and a shared participant', async () => {
    await transport().sendMail({
      from: 'carol@sender.test',
      to: box.address,
      subject: 'Invoice 42',
      text: 'Here.',
    });
    await transport().sendMail({
      from: 'carol@sender.test',
      to: box.address,
      subject: 'RE: Invoice 42',
      text: 'And?',
    });
    await transport().sendMail({
      from: 'dave@other.test',
      to: box.address,
      subject: 'Re: Invoice 42',
      text: 'Me too',
    });
    const messages = (await inbox()).filter((m) => /Invoice 42/.test(m.subject));
    expect(messages).toHaveLength(3);
    expect(messages[1]?.thread_id).toBe(messages[0]?.thread_id);
    expect(messages[2]?.thread_id).not.toBe(messages[0]?.thread_id);
  });

  it('accepts mail from python smtplib', async () => {
    const script = [
      'import smtplib, sys',
      'from email.message import EmailMessage',
      'm = EmailMessage()',
      "m['From'] = 'py@sender.test'",
      `m['To'] = '${box.address}'`,
      "m['Subject'] = 'From python'",
      "m.set_content('Sent by smtplib')",
      `s = smtplib.SMTP('127.0.0.1', ${server.smtpPort})`,
      's.send_message(m)',
      's.quit()',
    ].join('\n');
    await run('python3', ['-c', script]);
    const message = (await inbox()).find((m) => m.subject === 'From python');
    expect(message?.body_text).toContain('Sent by smtplib');
  });

  it('accepts mail from swaks', async (context) => {
    const which = await run('sh', ['-c', 'command -v swaks || true']);
    if (!which.stdout.trim()) context.skip();
    await run('swaks', [
      '--server',
      `127.0.0.1:${server.smtpPort}`,
      '--from',
      'swaks@sender.test',
      '--to',
      box.address,
      '--header',
      'Subject: From swaks',
      '--body',
      'Sent by swaks',
    ]);
    const message = (await inbox()).find((m) => m.subject === 'From swaks');
    expect(message?.from).toBe('swaks@sender.test');
  });
});

describe('the MX is not an open relay', () => {
  const cases: [string, string, number, RegExp][] = [
    ['external@sender.test', 'someone@external.test', 550, /5\.7\.1/],
    ['spoof@loftbox.localhost', 'someone@external.test', 550, /5\.7\.1/],
    ['', 'someone@external.test', 550, /5\.7\.1/],
    ['external@sender.test', 'nobody@loftbox.localhost', 550, /5\.1\.1/],
    ['external@sender.test', 'user%external.test@loftbox.localhost', 550, /5\.1\.1/],
    ['external@sender.test', 'user@[127.0.0.1]', 550, /5\.7\.1/],
    ['external@sender.test', 'user@[IPv6:::1]', 550, /5\.7\.1/],
    // RFC 5321 §3.6.1: the source route is ignored, leaving an external address that is refused.
    ['external@sender.test', '@loftbox.localhost:user@external.test', 550, /5\.7\.1/],
    ['external@sender.test', '<>', 501, /./],
  ];
  for (const [from, to, expected, enhanced] of cases) {
    it(`refuses RCPT TO:<${to}> from <${from}> with ${expected}`, async () => {
      const smtp = await RawSmtp.open(server.smtpPort);
      try {
        expect(code(await smtp.command('EHLO client.test'))).toBe(250);
        expect(code(await smtp.command(`MAIL FROM:<${from}>`))).toBe(250);
        const reply = await smtp.command(to === '<>' ? 'RCPT TO:<>' : `RCPT TO:<${to}>`);
        expect(code(reply)).toBe(expected);
        expect(reply).toMatch(enhanced);
        expect(code(await smtp.command('DATA'))).toBe(503);
      } finally {
        smtp.close();
      }
    });
  }

  it('accepts a local mailbox and its +tag subaddress', async () => {
    const smtp = await RawSmtp.open(server.smtpPort);
    try {
      await smtp.command('EHLO client.test');
      await smtp.command('MAIL FROM:<x@sender.test>');
      expect(code(await smtp.command(`RCPT TO:<${box.address.replace('@', '+orders@')}>`))).toBe(250);
    } finally {
      smtp.close();
    }
  });
});

describe('limits', () => {
  it('advertises SIZE and refuses an oversized message after reading it to the end, storing nothing', async () => {
    const before = server.deps.db.prepare('SELECT COUNT(*) AS n FROM inbound').get() as { n: number };
    const smtp = await RawSmtp.open(server.smtpPort);
    try {
      expect(await smtp.command('EHLO client.test')).toMatch(/SIZE 200000/);
      expect(code(await smtp.command('MAIL FROM:<big@sender.test> SIZE=300000'))).toBe(552);
      await smtp.command('MAIL FROM:<big@sender.test>');
      await smtp.command(`RCPT TO:<${box.address}>`);
      expect(code(await smtp.command('DATA'))).toBe(354);
      smtp.write(`Subject: big\r\n\r\n${'x'.repeat(998)}\r\n`.repeat(300));
      const reply = await smtp.command('.');
      expect(reply).toMatch(/^552 5\.3\.4/);
      expect(code(await smtp.command('NOOP'))).toBe(250);
    } finally {
      smtp.close();
    }
    const after = server.deps.db.prepare('SELECT COUNT(*) AS n FROM inbound').get() as { n: number };
    expect(after.n).toBe(before.n);
  });

  it('answers 452 4.5.3 past the recipient limit and still delivers to the first ones', async () => {
    const others = [
      await server.mailbox('limit-a'),
      await server.mailbox('limit-b'),
      await server.mailbox('limit-c'),
    ];
    const smtp = await RawSmtp.open(server.smtpPort);
    try {
      await smtp.command('EHLO client.test');
      await smtp.command('MAIL FROM:<many@sender.test>');
      for (const other of others) expect(code(await smtp.command(`RCPT TO:<${other.address}>`))).toBe(250);
      expect(await smtp.command(`RCPT TO:<${box.address}>`)).toMatch(/^452 4\.5\.3/);
      await smtp.command('DATA');
      expect(code(await smtp.command('Subject: fan-out\r\n\r\nhello\r\n.'))).toBe(250);
    } finally {
      smtp.close();
    }
    for (const other of others) {
      const messages = await inbox(other.key, other.mailboxId);
      expect(messages.map((m) => m.subject)).toEqual(['fan-out']);
    }
    expect((await inbox()).some((m) => m.subject === 'fan-out')).toBe(false);
  });

  it('refuses a looping message with 554 5.4.6', async () => {
    const smtp = await RawSmtp.open(server.smtpPort);
    try {
      await smtp.command('EHLO client.test');
      await smtp.command('MAIL FROM:<loop@sender.test>');
      await smtp.command(`RCPT TO:<${box.address}>`);
      await smtp.command('DATA');
      const received = 'Received: from a by b; Mon, 1 Jan 2030 00:00:00 +0000\r\n'.repeat(30);
      expect(await smtp.command(`${received}Subject: loop\r\n\r\nx\r\n.`)).toMatch(/^554 5\.4\.6/);
    } finally {
      smtp.close();
    }
  });
});

describe('SMTP smuggling and line endings', () => {
  const variants = ['\n.\n', '\n.\r\n', '\r\n.\n', '\r.\r', '\r.\r\n', '\r\n.\r', '\n.\r', '\r\n\x00.\r\n'];
  for (const variant of variants) {
    it(`keeps ${JSON.stringify(variant)} inside one message`, async () => {
      const target = await server.mailbox(`smuggle-${variants.indexOf(variant)}`);
      const smtp = await RawSmtp.open(server.smtpPort);
      try {
        await smtp.command('EHLO client.test');
        await smtp.command('MAIL FROM:<a@sender.test>');
        await smtp.command(`RCPT TO:<${target.address}>`);
        expect(code(await smtp.command('DATA'))).toBe(354);
        smtp.write(
          `Subject: one\r\n\r\nbody${variant}MAIL FROM:<evil@sender.test>\r\nRCPT TO:<${target.address}>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n`,
        );
        expect(code(await smtp.reply())).toBe(250);
        expect(code(await smtp.command('QUIT'))).toBe(221);
      } finally {
        smtp.close();
      }
      const messages = await inbox(target.key, target.mailboxId);
      expect(messages.map((m) => m.subject)).toEqual(['one']);
      const raw = await server.api('GET', `/v1/messages/${messages[0]?.id}/raw`, { key: target.key });
      // Normalised: no bare CR or LF survives in what we store.
      expect(raw.text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    });
  }
});

describe('trace and authentication headers', () => {
  it('renames every Authentication-Results that claims to be ours, however written, and adds ours', async () => {
    const host = server.deps.mxHost;
    const forgeries = [
      `Authentication-Results: ${host}; spf=pass; dkim=pass; dmarc=pass`,
      `Authentication-Results:\r\n  ${host};\r\n\tspf=pass smtp.mailfrom=forger@sender.test`,
      `Authentication-Results: ${host} 1; dkim=pass header.d=bank.example`,
      `Authentication-Results: (trust me) ${host} (really); dmarc=pass`,
      `authentication-results: ${host.toUpperCase()}.; spf=pass`,
      `Authentication-Results : "${host}"; arc=pass`,
    ];
    const smtp = await RawSmtp.open(server.smtpPort);
    try {
      await smtp.command('EHLO client.test');
      await smtp.command('MAIL FROM:<forger@sender.test>');
      await smtp.command(`RCPT TO:<${box.address}>`);
      await smtp.command('DATA');
      const headers = [...forgeries, 'Authentication-Results: relay.other.example; spf=fail'].join('\r\n');
      expect(code(await smtp.command(`${headers}\r\nSubject: forged auth\r\n\r\ntrust me\r\n.`))).toBe(250);
    } finally {
      smtp.close();
    }
    const message = (await inbox()).find((m) => m.subject === 'forged auth');
    const raw = await server.api('GET', `/v1/messages/${message?.id}/raw`, { key: box.key });
    expect(raw.text.match(/^X-Untrusted-Authentication-Results *:/gim)).toHaveLength(forgeries.length);
    const claims = raw.text.match(/^Authentication-Results *:[^\r\n]*/gim) ?? [];
    // Ours (with the real verdicts) and the other host's, which is not a claim about us.
    expect(claims).toEqual([
      `Authentication-Results: ${host};`,
      'Authentication-Results: relay.other.example; spf=fail',
    ]);
    expect(raw.text.indexOf(`Authentication-Results: ${host};`)).toBeLessThan(
      raw.text.indexOf('Received: from'),
    );
    expect(raw.text).toContain('spf=none');
    expect(message?.auth.dkim).toBe('none');
  });
});
