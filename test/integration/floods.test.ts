import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSocket } from '../harness/raw-socket.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';

/** Eight other hosts on loopback, each trying to hold three connections on every listener. */
const ATTACKERS = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
const PER_ATTACKER = 3;
/** Global caps below the 24 connections the attackers try for, above the 16 the per-IP cap lets them hold. */
const MAX_CLIENTS = 20;

let server: TestServer;
let box: Awaited<ReturnType<TestServer['mailbox']>>;
const attackers: { socket: RawSocket; drip: { stop(): void } | null }[] = [];

beforeAll(async () => {
  server = await startTestServer({
    smtpMaxClients: MAX_CLIENTS,
    imapMaxClients: MAX_CLIENTS,
    connectionsPerIp: 2,
    signupLimitPerIp: 1000,
  });
  box = await server.mailbox('flooded');
});
afterAll(async () => {
  for (const attacker of attackers) {
    attacker.drip?.stop();
    attacker.socket.destroy();
  }
  await server.close();
});

const port = (name: string) => server.running.ports[name] ?? 0;

/**
 * Slowloris (TESTPLAN L10, L11): every attacker opens connections and, once greeted, sends a byte at
 * a time so the idle timeout never fires. Returns the first line each connection got.
 */
async function slowloris(listener: number, greeting: RegExp): Promise<string[]> {
  const firstLines: string[] = [];
  // One at a time, so the only refusals are the per-IP ones (the global cap is never reached).
  for (const address of ATTACKERS) {
    for (let i = 0; i < PER_ATTACKER; i++) {
      const socket = await RawSocket.open(listener, address);
      const attacker: (typeof attackers)[number] = { socket, drip: null };
      attackers.push(attacker);
      const first = await socket.until(greeting);
      // A command line that never ends: no command runs, and every byte resets the idle timer.
      if (!first.startsWith('421') && !first.startsWith('* BYE')) attacker.drip = socket.drip('x', 200);
      else await socket.waitClosed();
      firstLines.push(first);
    }
  }
  return firstLines;
}

describe('floods from many addresses do not lock out a legitimate client', () => {
  it('slowloris on the MX, submission and IMAP: over-cap connections get 421 / BYE, the real sender still delivers', async () => {
    const mx = await slowloris(server.smtpPort, /^(220|421) [^\r\n]*/m);
    const submission = await slowloris(port('submission'), /^(220|421) [^\r\n]*/m);
    const imap = await slowloris(port('imap'), /^\* (OK|BYE) [^\r\n]*/m);

    // Each attacker holds two connections per listener; its third is refused.
    for (const lines of [mx, submission]) {
      expect(lines.filter((l) => l.startsWith('220 '))).toHaveLength(ATTACKERS.length * 2);
      const refused = lines.filter((l) => l.startsWith('421 '));
      expect(refused).toHaveLength(ATTACKERS.length);
      for (const line of refused) expect(line).toMatch(/^421 4\.7\.0 /);
    }
    expect(imap.filter((l) => l.startsWith('* OK '))).toHaveLength(ATTACKERS.length * 2);
    expect(imap.filter((l) => l.startsWith('* BYE '))).toHaveLength(ATTACKERS.length);

    // The legitimate sender on 127.0.0.1 gets through every listener while the floods go on.
    const inbound = await nodemailer
      .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
      .sendMail({ from: 'friend@outside.test', to: box.address, subject: 'through the flood', text: 'hi' });
    expect(inbound.response).toMatch(/^250 /);

    const submitted = await nodemailer
      .createTransport({
        host: '127.0.0.1',
        port: port('submission'),
        secure: false,
        requireTLS: true,
        auth: { user: box.address, pass: box.key },
        tls: { rejectUnauthorized: false },
      })
      .sendMail({
        from: box.address,
        to: 'someone@outside.test',
        subject: 'out through the flood',
        text: 'hi',
      });
    expect(submitted.response).toMatch(/^250 /);

    await server.running.inbound.idle();
    const inbox = await server.api('GET', `/v1/mailboxes/${box.mailboxId}/inbox`, { key: box.key });
    expect(inbox.body.data.map((m: Json) => m.subject)).toContain('through the flood');

    const client = new ImapFlow({
      host: '127.0.0.1',
      port: port('imap'),
      secure: false,
      auth: { user: box.address, pass: box.key },
      tls: { rejectUnauthorized: false },
      logger: false,
    });
    await client.connect();
    try {
      const status = await client.status('INBOX', { messages: true });
      expect(status && status.messages).toBeGreaterThanOrEqual(1);
    } finally {
      await client.logout();
    }

    // The attackers' held connections are still being dripped on: the floods were live throughout.
    expect(attackers.filter((a) => a.drip && !a.socket.closed)).toHaveLength(ATTACKERS.length * 2 * 3);
  }, 60_000);
});
