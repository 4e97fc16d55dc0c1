import net from 'node:net';
import tls from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    loginFailLimit: 3,
    loginSpreadClients: 3,
    loginLockout: 60_000,
    signupLimitPerIp: 1000,
  });
});
afterAll(async () => {
  await server.close();
});

type Box = Awaited<ReturnType<TestServer['mailbox']>>;

/** AUTH PLAIN over implicit-TLS submission from `localAddress`: 'ok' or the refusal's reply code. */
async function smtpLogin(localAddress: string, box: Box, pass: string): Promise<'ok' | number> {
  const connection = new SMTPConnection({
    host: '127.0.0.1',
    port: server.running.ports['submission-tls'],
    secure: true,
    localAddress,
    tls: { rejectUnauthorized: false },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      connection.once('error', reject);
      connection.connect(() => resolve());
    });
    await new Promise<void>((resolve, reject) =>
      connection.login({ user: box.address, pass }, (err) => (err ? reject(err) : resolve())),
    );
    return 'ok';
  } catch (err) {
    return (err as { responseCode?: number }).responseCode ?? -1;
  } finally {
    connection.close();
  }
}

/** IMAP LOGIN over implicit TLS from `localAddress`: the tagged reply line. */
async function imapLogin(localAddress: string, box: Box, pass: string): Promise<string> {
  const tcp = net.connect({ host: '127.0.0.1', port: server.running.ports.imaps ?? 0, localAddress });
  const socket = tls.connect({ socket: tcp, rejectUnauthorized: false });
  let text = '';
  const until = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(text);
        if (!match) return;
        socket.off('data', onData);
        resolve(match[0]);
      };
      const onData = (chunk: Buffer) => {
        text += chunk.toString('latin1');
        check();
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`closed; got ${JSON.stringify(text)}`)));
      check();
    });
  try {
    await until(/^\* OK[^\n]*\n/m);
    socket.write(`a LOGIN "${box.address}" "${pass}"\r\n`);
    return (await until(/^a [^\n]*\n/m)).trim();
  } finally {
    socket.destroy();
  }
}

describe('login lockout cannot be turned against the mailbox owner', () => {
  it('locks only the client that failed: the right key still works from a client with no failures', async () => {
    const victim = await server.mailbox('lockout-victim');
    const attacker = '127.0.0.2';
    for (let i = 0; i < 3; i++) expect(await smtpLogin(attacker, victim, `lb_live_wrong${i}`)).toBe(535);
    // No oracle: from the client that failed, the right key is refused too, over SMTP and IMAP.
    expect(await smtpLogin(attacker, victim, victim.key)).toBe(454);
    expect(await imapLogin(attacker, victim, victim.key)).toMatch(/^a NO /);
    // The owner, elsewhere, is not locked out.
    expect(await smtpLogin('127.0.0.1', victim, victim.key)).toBe('ok');
    expect(await imapLogin('127.0.0.1', victim, victim.key)).toMatch(/^a OK /);
  });

  it('under an attack spread over many clients, locks every client that failed there, but not a fresh one', async () => {
    const victim = await server.mailbox('spread-victim');
    // One failure from each of three clients, over both protocols: below the per-client limit.
    expect(await smtpLogin('127.0.0.3', victim, 'lb_live_wrong')).toBe(535);
    expect(await imapLogin('127.0.0.4', victim, 'lb_live_wrong')).toMatch(/^a NO /);
    expect(await smtpLogin('127.0.0.5', victim, 'lb_live_wrong')).toBe(535);
    // Each attacking client has had its one guess: the right key no longer works from any of them.
    expect(await smtpLogin('127.0.0.3', victim, victim.key)).toBe(454);
    expect(await imapLogin('127.0.0.4', victim, victim.key)).toMatch(/^a NO .*Too many failed logins/);
    // A client with no failures still gets in with the right key, and only its first wrong guess counts.
    expect(await smtpLogin('127.0.0.1', victim, victim.key)).toBe('ok');
    expect(await imapLogin('127.0.0.1', victim, victim.key)).toMatch(/^a OK /);
    expect(await smtpLogin('127.0.0.6', victim, 'lb_live_wrong')).toBe(535);
    expect(await smtpLogin('127.0.0.6', victim, victim.key)).toBe(454);
    // Once the window has passed, the owner's key works again from everywhere.
    server.clock.advance(61_000);
    expect(await smtpLogin('127.0.0.3', victim, victim.key)).toBe('ok');
  });
});
