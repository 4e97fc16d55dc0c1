import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import selfsigned from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';

const run = promisify(execFile);

interface Pair {
  cert: string;
  key: string;
  fingerprint: string;
}

async function makePair(commonName: string): Promise<Pair> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: commonName }], {
    keySize: 2048,
    algorithm: 'sha256',
  });
  return { cert: pems.cert, key: pems.private, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}

/** SMTP replies off any socket, cleartext or TLS: everything received, and waits for whole replies. */
class Replies {
  text = '';
  private wake: (() => void) | null = null;
  closed = false;

  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('latin1');
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  /** The next complete reply (its last line is `NNN text`), removed from what was received. */
  next(timeoutMs = 10_000): Promise<string> {
    return this.until(/^(?:\d{3}-[^\r\n]*\r\n)*\d{3} [^\r\n]*\r\n/, timeoutMs);
  }

  /** Everything up to the end of `pattern`'s first match, removed from what was received. */
  async until(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.wake?.();
    }, timeoutMs);
    try {
      for (;;) {
        const found = pattern.exec(this.text);
        if (found) {
          const taken = this.text.slice(0, found.index + found[0].length);
          this.text = this.text.slice(taken.length);
          return taken;
        }
        if (this.closed || timedOut)
          throw new Error(`no ${String(pattern)}; received ${JSON.stringify(this.text)}`);
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

interface Session {
  socket: net.Socket;
  replies: Replies;
  send(line: string): Promise<string>;
}

function session(socket: net.Socket): Session {
  const replies = new Replies(socket);
  return {
    socket,
    replies,
    send: async (line) => {
      socket.write(`${line}\r\n`);
      return replies.next();
    },
  };
}

async function openMx(port: number): Promise<Session> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const mx = session(socket);
  expect(await mx.replies.next()).toMatch(/^220 /);
  return mx;
}

/** Hands the cleartext socket to a TLS client; what the server sends after that is read encrypted. */
async function upgrade(plain: Session): Promise<Session & { socket: tls.TLSSocket }> {
  plain.socket.removeAllListeners('data');
  const secure = tls.connect({ socket: plain.socket, rejectUnauthorized: false, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  return session(secure) as Session & { socket: tls.TLSSocket };
}

async function startTlsOnMx(port: number): Promise<Session & { socket: tls.TLSSocket }> {
  const mx = await openMx(port);
  expect(await mx.send('EHLO client.test')).toMatch(/^250-[\s\S]*STARTTLS/);
  expect(await mx.send('STARTTLS')).toMatch(/^220 /);
  return upgrade(mx);
}

/** `openssl s_client` with stdin closed: it handshakes, prints the session and exits. */
function sClient(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('openssl', ['s_client', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdin.end();
    child.on('close', (code) => resolve({ code, output }));
  });
}

let server: TestServer;
let box: Awaited<ReturnType<TestServer['mailbox']>>;
let certDir: string;
let first: Pair;

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'loftbox-mx-tls-'));
  first = await makePair('first.test');
  writeFileSync(join(certDir, 'cert.pem'), first.cert);
  writeFileSync(join(certDir, 'key.pem'), first.key);
  server = await startTestServer({
    tlsCert: join(certDir, 'cert.pem'),
    tlsKey: join(certDir, 'key.pem'),
  });
  box = await server.mailbox('tls-inbox');
});
afterAll(async () => {
  await server.close();
  rmSync(certDir, { recursive: true, force: true });
});

async function newest(subject: string): Promise<Json> {
  await server.running.inbound.idle();
  const inbox = await server.api('GET', `/v1/mailboxes/${box.mailboxId}/inbox`, { key: box.key });
  const message = (inbox.body.data as Json[]).find((m) => m.subject === subject);
  expect(message).toBeDefined();
  const raw = await server.api('GET', `/v1/messages/${message.id}/raw`, { key: box.key });
  return { ...message, raw: raw.text };
}

describe('STARTTLS on the MX', () => {
  it('completes an openssl s_client -starttls smtp handshake with the configured certificate', async () => {
    const result = await sClient([
      '-starttls',
      'smtp',
      '-connect',
      `127.0.0.1:${server.smtpPort}`,
      '-servername',
      'localhost',
    ]);
    expect(result.output).toMatch(/subject=CN ?= ?first\.test/);
    expect(result.output).toMatch(/New, TLSv1\.[23], Cipher is/);
  });

  it('accepts python smtplib.starttls(), records the hop in the Received header and auth.tls', async () => {
    const script = [
      'import smtplib, ssl',
      'from email.message import EmailMessage',
      'm = EmailMessage()',
      "m['From'] = 'py@sender.test'",
      `m['To'] = '${box.address}'`,
      "m['Subject'] = 'Over STARTTLS'",
      "m.set_content('encrypted hop')",
      `s = smtplib.SMTP('127.0.0.1', ${server.smtpPort})`,
      'ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE',
      's.starttls(context=ctx)',
      's.send_message(m)',
      's.quit()',
    ].join('\n');
    await run('python3', ['-c', script]);
    const message = await newest('Over STARTTLS');
    expect(message.auth.tls).toEqual({ version: 'TLSv1.3', cipher: expect.stringMatching(/^TLS_/) });
    const received = /^Received:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*/m.exec(message.raw as string)?.[0] ?? '';
    expect(received).toContain(`with ESMTPS (TLSv1.3 ${message.auth.tls.cipher as string}) id `);
  });

  it('still takes mail from a plaintext-only sender (opportunistic, RFC 3207), with auth.tls null', async () => {
    const plain = nodemailer.createTransport({
      host: '127.0.0.1',
      port: server.smtpPort,
      secure: false,
      ignoreTLS: true,
    });
    const info = await plain.sendMail({
      from: 'plain@sender.test',
      to: box.address,
      subject: 'In the clear',
      text: 'no TLS here',
      // A sender's own trace header claiming TLS is not our record of the hop.
      headers: {
        Received: 'from a by b with ESMTPS (TLSv1.3 TLS_FORGED) id 1; Mon, 1 Jan 2024 00:00:00 +0000',
      },
    });
    expect(info.response).toMatch(/^250 /);
    const message = await newest('In the clear');
    expect(message.auth.tls).toBeNull();
    expect(message.raw).toMatch(/with ESMTP id /);
    expect(message.raw).toContain('TLS_FORGED');
  });

  it('refuses TLS 1.1 and accepts TLS 1.2 and 1.3 on every TLS listener', async () => {
    const ports = server.running.ports;
    const listeners: [string, string[]][] = [
      ['smtp', ['-starttls', 'smtp', '-connect', `127.0.0.1:${server.smtpPort}`]],
      ['submission', ['-starttls', 'smtp', '-connect', `127.0.0.1:${ports.submission ?? 0}`]],
      ['submission-tls', ['-connect', `127.0.0.1:${ports['submission-tls'] ?? 0}`]],
      ['imap', ['-starttls', 'imap', '-connect', `127.0.0.1:${ports.imap ?? 0}`]],
      ['imaps', ['-connect', `127.0.0.1:${ports.imaps ?? 0}`]],
    ];
    for (const [name, base] of listeners) {
      // SECLEVEL=0 lets the client offer TLS 1.1 at all, so it is the server that says no.
      const old = await sClient([...base, '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
      expect({ name, output: old.output }).not.toMatchObject({
        output: expect.stringMatching(/New, TLSv1\.1/),
      });
      expect({ name, code: old.code }).not.toEqual({ name, code: 0 });
      for (const [flag, version] of [
        ['-tls1_2', 'TLSv1.2'],
        ['-tls1_3', 'TLSv1.3'],
      ] as const) {
        const result = await sClient([...base, flag]);
        expect({ name, output: result.output }).toMatchObject({
          output: expect.stringContaining(`New, ${version}, Cipher is`),
        });
      }
    }
  });

  it('never runs a command pipelined behind STARTTLS (TESTPLAN S5)', async () => {
    const mx = await openMx(server.smtpPort);
    expect(await mx.send('EHLO client.test')).toMatch(/^250-/);
    mx.socket.write('STARTTLS\r\nMAIL FROM:<injected@x>\r\n');
    expect(await mx.replies.next()).toMatch(/^220 /);
    const secure = await upgrade(mx);
    // Nothing was answered in the clear after the 220, and nothing arrives over TLS unasked.
    expect(mx.replies.text).toBe('');
    expect(secure.replies.text).toBe('');
    // The first reply over TLS is the EHLO's; had MAIL run, RCPT would now be accepted.
    expect(await secure.send('EHLO client.test')).toMatch(/^250-/);
    expect(await secure.send(`RCPT TO:<${box.address}>`)).toMatch(/^503 /);
    secure.socket.destroy();
  });
});

describe('LOFTBOX_MX_REQUIRE_TLS', () => {
  let strict: TestServer;
  beforeAll(async () => {
    strict = await startTestServer({ mxRequireTls: true });
  });
  afterAll(async () => {
    await strict.close();
  });

  it('answers MAIL before STARTTLS with 530 5.7.0, and takes it after', async () => {
    const mx = await openMx(strict.smtpPort);
    expect(await mx.send('EHLO client.test')).toMatch(/^250-/);
    expect(await mx.send('MAIL FROM:<plain@sender.test>')).toMatch(
      /^530 5\.7\.0 Must issue a STARTTLS command first/,
    );
    mx.socket.destroy();
    const secure = await startTlsOnMx(strict.smtpPort);
    expect(await secure.send('EHLO client.test')).toMatch(/^250-/);
    expect(await secure.send('MAIL FROM:<tls@sender.test>')).toMatch(/^250 /);
    secure.socket.destroy();
  });
});

/** The certificate each TLS listener presents to a new connection, by listener name. */
async function presented(): Promise<Record<string, string>> {
  const ports = server.running.ports;
  const implicit = async (port: number | undefined) => {
    const socket = tls.connect({ port: port ?? 0, host: '127.0.0.1', rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    const fingerprint = socket.getPeerCertificate().fingerprint256;
    socket.destroy();
    return fingerprint;
  };
  const mx = await startTlsOnMx(server.smtpPort);
  const submission = await openMx(ports.submission ?? 0);
  expect(await submission.send('EHLO client.test')).toMatch(/^250-/);
  expect(await submission.send('STARTTLS')).toMatch(/^220 /);
  const submissionTls = await upgrade(submission);
  const imapPlain = net.connect({ port: ports.imap ?? 0, host: '127.0.0.1' });
  const imap = session(imapPlain);
  await imap.replies.until(/^\* OK .*\r\n/);
  imapPlain.write('t1 STARTTLS\r\n');
  await imap.replies.until(/^t1 OK .*\r\n/m);
  const imapTls = await upgrade(imap);
  const result = {
    smtp: mx.socket.getPeerCertificate().fingerprint256,
    submission: submissionTls.socket.getPeerCertificate().fingerprint256,
    'submission-tls': await implicit(ports['submission-tls']),
    imap: imapTls.socket.getPeerCertificate().fingerprint256,
    imaps: await implicit(ports.imaps),
  };
  for (const socket of [mx.socket, submissionTls.socket, imapTls.socket]) socket.destroy();
  return result;
}

const everywhere = (fingerprint: string) =>
  Object.fromEntries(['smtp', 'submission', 'submission-tls', 'imap', 'imaps'].map((n) => [n, fingerprint]));

describe('certificates that reload live', () => {
  it('serves a certificate replaced on disk to the next connection on every listener, open sessions carry on, a bad file keeps the old one', async () => {
    expect(await presented()).toEqual(everywhere(first.fingerprint));

    // Sessions opened before the swap: an SMTP one in a transaction, an IMAP one on 993.
    const smtp = await startTlsOnMx(server.smtpPort);
    expect(await smtp.send('EHLO client.test')).toMatch(/^250-/);
    expect(await smtp.send('MAIL FROM:<before@sender.test>')).toMatch(/^250 /);
    const imapSocket = tls.connect({
      port: server.running.ports.imaps ?? 0,
      host: '127.0.0.1',
      rejectUnauthorized: false,
    });
    const imap = session(imapSocket);
    await imap.replies.until(/^\* OK .*\r\n/);

    const second = await makePair('second.test');
    const reloaded = new Promise((resolve) => server.running.certificates.once('reloaded', resolve));
    writeFileSync(join(certDir, 'key.pem'), second.key);
    writeFileSync(join(certDir, 'cert.pem'), second.cert);
    await reloaded;
    expect(await presented()).toEqual(everywhere(second.fingerprint));

    expect(smtp.socket.getPeerCertificate().fingerprint256).toBe(first.fingerprint);
    expect(await smtp.send(`RCPT TO:<${box.address}>`)).toMatch(/^250 /);
    expect(await smtp.send('DATA')).toMatch(/^354 /);
    expect(await smtp.send('Subject: Across the swap\r\n\r\nstill here\r\n.')).toMatch(/^250 /);
    smtp.socket.destroy();
    imapSocket.write('n1 NOOP\r\n');
    expect(await imap.replies.until(/^n1 .*\r\n/m)).toMatch(/n1 OK/);
    imapSocket.destroy();
    expect((await newest('Across the swap')).auth.tls).toMatchObject({ version: 'TLSv1.3' });

    const failed = new Promise((resolve) => server.running.certificates.once('reload_failed', resolve));
    writeFileSync(join(certDir, 'cert.pem'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n');
    await failed;
    expect(await presented()).toEqual(everywhere(second.fingerprint));
  });
});
