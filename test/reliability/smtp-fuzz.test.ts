import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness/server.js';
import { code, RawSmtp } from '../harness/smtp.js';
import { fuzzOptions } from './fuzz.js';

/**
 * TESTPLAN §11: random SMTP dialogues against the real MX. Every command gets a well-formed reply or a
 * clean close, nothing wedges a session, and after all of it the server still takes a legitimate
 * message. Commands are drawn from real verbs and from the RFC 5321 alphabet (the smtp-proto trick).
 */
let server: TestServer;
let box: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  server = await startTestServer({ signupLimitPerIp: 1000 });
  box = await server.mailbox('fuzz');
});
afterAll(async () => {
  await server.close();
});

const ALPHABET = [...'0123456789abcdefghijklmnopqrstuvwxyz:=-<>,; @.'];
const VERBS = [
  'EHLO client.test',
  'HELO client.test',
  'EHLO',
  'MAIL FROM:<a@sender.test>',
  'MAIL FROM:<>',
  'MAIL FROM:<a@sender.test> SIZE=99999999999',
  'MAIL FROM:<a@sender.test> BODY=8BITMIME SMTPUTF8',
  'MAIL FROM:a@sender.test',
  'RCPT TO:<BOX>',
  'RCPT TO:<nobody@elsewhere.test>',
  'RCPT TO:<>',
  'RCPT TO:<@relay.test:BOX>',
  'DATA',
  'RSET',
  'NOOP',
  'VRFY postmaster',
  'EXPN list',
  'HELP',
  'STARTTLS',
  'AUTH PLAIN AGFAYg==',
  'BDAT 3 LAST',
  'XCLIENT ADDR=192.0.2.1',
  'QUIT',
];

const randomText = (maxLength: number) => fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength });
const line = fc
  .oneof(
    { weight: 5, arbitrary: fc.constantFrom(...VERBS) },
    { weight: 3, arbitrary: randomText(120) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...VERBS), randomText(40)).map(([v, s]) => `${v}${s}`) },
    { weight: 1, arbitrary: fc.integer({ min: 900, max: 6000 }).map((n) => 'x'.repeat(n)) },
  )
  .map((text) => text.replace('BOX', () => box.address));

/**
 * After `220 Ready to start TLS` the server waits for a TLS handshake and discards cleartext sent behind
 * STARTTLS (RFC 3207 §4, TESTPLAN S5): the fuzzer speaks no TLS, so its dialogue ends there.
 */
const tlsStarted = (reply: string): boolean => /^220 .*start TLS/m.test(reply);

/** One command at a time: each gets one reply (or the server closes, cleanly announced). */
async function stepByStep(lines: string[]): Promise<void> {
  const smtp = await RawSmtp.open(server.smtpPort);
  try {
    for (const command of lines) {
      const reply = await smtp.command(command);
      if (reply === '') return;
      expect(reply).toMatch(/^\d{3}[ -]/);
      if (tlsStarted(reply)) return;
      if (code(reply) === 221 || code(reply) === 421) {
        expect(await smtp.reply()).toBe('');
        return;
      }
      if (code(reply) === 354)
        expect(await smtp.command('Subject: fuzz\r\n\r\nfuzz body\r\n.')).toMatch(/^\d{3} /);
    }
    const quit = await smtp.command('QUIT');
    expect(quit === '' || code(quit) === 221).toBe(true);
  } finally {
    smtp.close();
  }
}

/**
 * Everything in one write with arbitrary line breaks (bare CR and LF included), then a terminator and
 * QUIT: the server answers each thing it saw as a command and ends the session.
 */
async function pipelined(lines: string[], breaks: string[]): Promise<void> {
  const smtp = await RawSmtp.open(server.smtpPort);
  try {
    smtp.write(
      lines.map((l, i) => `${l}${breaks[i % breaks.length] ?? '\r\n'}`).join('') + '\r\n.\r\nQUIT\r\n',
    );
    for (let replies = 0; ; replies++) {
      const reply = await smtp.reply();
      if (reply === '') break;
      expect(reply).toMatch(/^\d{3}[ -]/);
      if (tlsStarted(reply)) break;
      expect(replies).toBeLessThan(10_000);
    }
  } finally {
    smtp.close();
  }
}

async function legitimateDelivery(subject: string): Promise<void> {
  const smtp = await RawSmtp.open(server.smtpPort);
  try {
    expect(code(await smtp.command('EHLO client.test'))).toBe(250);
    expect(code(await smtp.command('MAIL FROM:<ok@sender.test>'))).toBe(250);
    expect(code(await smtp.command(`RCPT TO:<${box.address}>`))).toBe(250);
    expect(code(await smtp.command('DATA'))).toBe(354);
    expect(code(await smtp.command(`Subject: ${subject}\r\n\r\nstill works\r\n.`))).toBe(250);
  } finally {
    smtp.close();
  }
  await server.running.inbound.idle();
  const inbox = await server.api('GET', `/v1/mailboxes/${box.mailboxId}/inbox?limit=100`, { key: box.key });
  expect((inbox.body.data as { subject: string }[]).map((m) => m.subject)).toContain(subject);
}

describe('SMTP dialogue fuzzing (seeded)', () => {
  it('answers every command or closes cleanly, and keeps serving', { timeout: 120_000 }, async () => {
    const before = process.memoryUsage().heapUsed;
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 15 }), stepByStep),
      fuzzOptions(30),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { minLength: 1, maxLength: 20 }),
        fc.array(fc.constantFrom('\r\n', '\n', '\r', '\r\r\n', ''), { minLength: 1, maxLength: 5 }),
        pipelined,
      ),
      fuzzOptions(30),
    );
    await legitimateDelivery('after the fuzzing');
    // Generous: a session that leaks its buffers grows by megabytes per run.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(256 * 1024 * 1024);
  });
});
