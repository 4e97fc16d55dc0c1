import net from 'node:net';
import tls from 'node:tls';
import { format } from 'node:util';
import { ImapFlow } from 'imapflow';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLOSE_KEY_REVOKED } from '../../server/events/ws-stream.js';
import { startTestServer, type TestServer } from '../harness/server.js';

let server: TestServer;
let box: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  server = await startTestServer({ signupLimitPerIp: 1000 });
  box = await server.mailbox('revocation');
});
afterAll(async () => {
  await server.close();
});

const port = (name: string) => server.running.ports[name] ?? 0;
/** Generous bound for "promptly": far above the milliseconds it takes, far below any idle timeout. */
const PROMPTLY_MS = 10_000;

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} did not happen`)), PROMPTLY_MS)),
  ]);
}

async function childKey(parentKey: string): Promise<{ id: string; key: string }> {
  const created = await server.api('POST', '/v1/auth/keys', {
    key: parentKey,
    body: { name: 'child', scopes: ['send', 'receive'] },
  });
  expect(created.status).toBe(201);
  return { id: created.body.id, key: created.body.api_key };
}

/** A logged-in submission session; `lines` collects what nodemailer logs, the server's 421 included. */
async function smtpSession(pass: string) {
  const lines: string[] = [];
  const log = (_meta: unknown, ...args: unknown[]) => lines.push(format(...args));
  const connection = new SMTPConnection({
    host: '127.0.0.1',
    port: port('submission-tls'),
    secure: true,
    tls: { rejectUnauthorized: false },
    logger: { trace: log, debug: log, info: log, warn: log, error: log, fatal: log },
  } as ConstructorParameters<typeof SMTPConnection>[0]);
  const ended = new Promise<void>((resolve) => connection.once('end', () => resolve()));
  connection.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    connection.once('error', reject);
    connection.connect(() => resolve());
  });
  try {
    await new Promise<void>((resolve, reject) =>
      connection.login({ user: box.address, pass }, (err) => (err ? reject(err) : resolve())),
    );
  } catch (err) {
    connection.close();
    throw err;
  }
  return { connection, ended, lines };
}

/** An imapflow client idling in INBOX. */
async function imapSession(pass: string) {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port: port('imaps'),
    secure: true,
    auth: { user: box.address, pass },
    tls: { rejectUnauthorized: false },
    logger: false,
  });
  client.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  await client.connect();
  await client.mailboxOpen('INBOX');
  void client.idle().catch(() => undefined);
  return { client, closed };
}

/** A raw IMAP session, to read the exact untagged BYE. */
async function rawImapSession(pass: string) {
  const socket = tls.connect({
    socket: net.connect({ host: '127.0.0.1', port: port('imaps') }),
    rejectUnauthorized: false,
  });
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const until = async (pattern: RegExp) => {
    while (!pattern.test(text)) {
      await within(new Promise((resolve) => socket.once('data', resolve)), `IMAP reply ${pattern}`);
    }
    return (pattern.exec(text) as RegExpExecArray)[0];
  };
  await until(/^\* OK /m);
  socket.write(`a LOGIN "${box.address}" "${pass}"\r\n`);
  await until(/^a OK /m);
  return { socket, until, closed };
}

async function wsSession(key: string) {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/ws`, {
    headers: { authorization: `Bearer ${key}` },
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      if ((JSON.parse(String(data)) as { type: string }).type === 'ready') resolve();
    });
    ws.on('error', reject);
  });
  return { ws, closed };
}

describe('revoking a key ends its live sessions', () => {
  it('ends SMTP, IMAP and WebSocket sessions of the key and its descendants, and only those', async () => {
    const child = await childKey(box.key);
    const grandchild = await childKey(child.key);

    const smtp = await smtpSession(grandchild.key);
    const imap = await imapSession(grandchild.key);
    const rawImap = await rawImapSession(child.key);
    const stream = await wsSession(grandchild.key);
    // Sessions of the owner key, which stays valid, must survive.
    const ownerImap = await rawImapSession(box.key);
    const ownerStream = await wsSession(box.key);

    const revoked = await server.api('DELETE', `/v1/auth/keys/${child.id}`, { key: box.key });
    expect(revoked.body).toMatchObject({ revoked: true, revoked_count: 2 });

    await within(smtp.ended, 'SMTP session end');
    expect(smtp.lines.join('\n')).toMatch(/421 4\.7\.0 The access key of this session was revoked/);
    await within(imap.closed, 'imapflow close');
    expect(await rawImap.until(/^\* BYE [^\r\n]*/m)).toBe('* BYE Access key revoked');
    await within(rawImap.closed, 'raw IMAP close');
    expect(await within(stream.closed, 'WebSocket close')).toEqual({
      code: CLOSE_KEY_REVOKED,
      reason: 'api key revoked',
    });

    ownerImap.socket.write('b NOOP\r\n');
    expect(await ownerImap.until(/^b [^\r\n]*/m)).toMatch(/^b OK/);
    expect(ownerStream.ws.readyState).toBe(WebSocket.OPEN);
    ownerImap.socket.destroy();
    ownerStream.ws.close();

    // And the revoked keys cannot open new sessions.
    await expect(smtpSession(grandchild.key)).rejects.toMatchObject({ responseCode: 535 });
  });
});

describe('a key expiring ends its live sessions', () => {
  it('ends the SMTP, IMAP and WebSocket sessions of a key once its expiry passes, and only those', async () => {
    const created = await server.api('POST', '/v1/auth/keys', {
      key: box.key,
      body: { name: 'short-lived', scopes: ['send', 'receive'], expires_in_days: 1 },
    });
    expect(created.status).toBe(201);
    const key = created.body.api_key as string;
    const smtp = await smtpSession(key);
    const imap = await rawImapSession(key);
    const stream = await wsSession(key);
    const ownerStream = await wsSession(box.key);

    // Before the expiry a sweep ends nothing.
    await server.running.scheduler.tick();
    expect(stream.ws.readyState).toBe(WebSocket.OPEN);

    server.clock.advance(24 * 60 * 60 * 1000 + 1000);
    await server.running.scheduler.tick();
    await within(smtp.ended, 'SMTP session end');
    expect(await imap.until(/^\* BYE [^\r\n]*/m)).toMatch(/^\* BYE/);
    await within(imap.closed, 'raw IMAP close');
    expect((await within(stream.closed, 'WebSocket close')).code).toBe(CLOSE_KEY_REVOKED);
    expect(ownerStream.ws.readyState).toBe(WebSocket.OPEN);
    ownerStream.ws.close();
    await expect(smtpSession(key)).rejects.toMatchObject({ responseCode: 535 });
  });
});
