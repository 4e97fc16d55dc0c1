import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyAuthenticator } from '../../server/imap/auth.js';
import { createImapServer, type ImapServerOptions } from '../../server/imap/server.js';
import { startTestServer, type TestServer } from '../harness/server.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const hasPython = spawnSync('python3', ['-c', 'import imaplib, ssl']).status === 0;
const hasCurlImaps = /\bimaps\b/.test(spawnSync('curl', ['--version'], { encoding: 'utf8' }).stdout ?? '');
if (!hasOpenssl)
  console.warn('IMAP integration tests skipped: openssl is missing (needed for a test certificate)');
if (!hasPython) console.warn('IMAP python imaplib test skipped: python3 with imaplib/ssl is missing');
if (!hasCurlImaps) console.warn('IMAP curl test skipped: curl without imaps support');

type Box = Awaited<ReturnType<TestServer['mailbox']>>;
type ImapServer = ReturnType<typeof createImapServer>;

let server: TestServer;
let certDir: string;
let tlsMaterial: { key: string; cert: string };
let box: Box;
let other: Box;
let imaps: ImapServer;
let imapsPort: number;
let starttls: ImapServer;
let starttlsPort: number;

async function listen(
  options: Partial<ImapServerOptions> = {},
): Promise<{ server: ImapServer; port: number }> {
  const imap = createImapServer(server.deps, {
    tls: tlsMaterial,
    implicitTls: true,
    allowPlainLogin: false,
    auth: createKeyAuthenticator(server.deps),
    ...options,
  });
  await new Promise<void>((resolve) => imap.listen(0, '127.0.0.1', resolve));
  return { server: imap, port: (imap.address() as AddressInfo).port };
}

/** Runs a client program without blocking the event loop the server under test runs on. */
function run(file: string, args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'buffer', timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr: stderr.toString() });
    });
  });
}

const closeServer = (imap: ImapServer) => new Promise<void>((resolve) => imap.close(() => resolve()));

type Mail = Parameters<ReturnType<typeof nodemailer.createTransport>['sendMail']>[0];

async function deliver(mail: Mail): Promise<void> {
  await nodemailer
    .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
    .sendMail(mail);
  await server.running.inbound.idle();
}

/** The API's raw bytes of the message with this UID in the mailbox's folder. */
async function apiRaw(mailbox: Box, direction: 'incoming' | 'outgoing', uid: number): Promise<Buffer> {
  const row = server.deps.db
    .prepare('SELECT public_id FROM messages WHERE mailbox_id = ? AND direction = ? AND imap_uid = ?')
    .get(mailbox.mailboxId, direction, uid) as { public_id: string };
  const response = await fetch(`${server.url}/v1/messages/${row.public_id}/raw`, {
    headers: { authorization: `Bearer ${mailbox.key}` },
  });
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

function client(mailbox: Box, port = imapsPort, password = mailbox.key): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: true,
    tls: { rejectUnauthorized: false },
    auth: { user: mailbox.address, pass: password },
    logger: false,
    disableAutoIdle: true,
  });
}

/** A byte-level client for the conversations imapflow would never have. */
class RawImap {
  private buffer = '';
  private waiters: (() => void)[] = [];
  closed = false;
  greeting = '';

  private constructor(private socket: net.Socket) {
    this.listen(socket);
  }

  private listen(socket: net.Socket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.wake();
    });
    const gone = () => {
      this.closed = true;
      this.wake();
    };
    socket.on('close', gone);
    socket.on('error', gone);
  }

  static async open(port: number, secure: boolean): Promise<RawImap> {
    const socket = secure
      ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false })
      : net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once(secure ? 'secureConnect' : 'connect', resolve);
      socket.once('error', reject);
    });
    const raw = new RawImap(socket);
    raw.greeting = await raw.until(/^\* (OK|BYE)[^\n]*\r\n/m);
    return raw;
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Waits for the buffer to match, then consumes and returns everything up to the end of the match. */
  async until(pattern: RegExp, timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.buffer);
      if (match) {
        const text = this.buffer.slice(0, match.index + match[0].length);
        this.buffer = this.buffer.slice(text.length);
        return text;
      }
      if (this.closed || Date.now() > deadline) {
        throw new Error(`no match for ${pattern}; buffered: ${JSON.stringify(this.buffer.slice(0, 500))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Everything received within `ms` (for asserting that nothing arrives). */
  async drain(ms: number): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    const text = this.buffer;
    this.buffer = '';
    return text;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends one command and returns its responses through the tagged reply. */
  async command(tag: string, text: string): Promise<string> {
    this.write(`${tag} ${text}\r\n`);
    return this.until(new RegExp(`^${tag} (OK|NO|BAD)[^\\n]*\\r\\n`, 'm'));
  }

  async login(mailbox: Box): Promise<void> {
    expect(await this.command('L1', `LOGIN "${mailbox.address}" "${mailbox.key}"`)).toMatch(/^L1 OK/m);
  }

  /** STARTTLS on the same socket: the server's next bytes are a TLS handshake. */
  async upgrade(): Promise<void> {
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
    this.socket.removeAllListeners('error');
    const secured = tls.connect({ socket: this.socket, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secured.once('secureConnect', resolve);
      secured.once('error', reject);
    });
    this.socket = secured;
    this.listen(secured);
  }

  async waitClosed(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(this.closed).toBe(true);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** What a write command could change: every message row of the mailbox and its folder rows. */
function mailboxSnapshot(mailbox: Box): unknown {
  return {
    messages: server.deps.db
      .prepare(
        `SELECT id, direction, imap_uid, acked_at, archived_at, trashed_at, labels, raw_hash FROM messages
         WHERE mailbox_id = ? ORDER BY id`,
      )
      .all(mailbox.mailboxId),
    folders: server.deps.db
      .prepare('SELECT * FROM imap_folders WHERE mailbox_id = ? ORDER BY folder')
      .all(mailbox.mailboxId),
  };
}

describe.skipIf(!hasOpenssl)('read-only IMAP', () => {
  beforeAll(async () => {
    server = await startTestServer({ signupLimitPerIp: 1000, loginFailLimit: 1000 });
    certDir = mkdtempSync(join(tmpdir(), 'loftbox-imap-cert-'));
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        '/CN=localhost',
        '-days',
        '1',
        '-keyout',
      ].concat(join(certDir, 'k.pem'), '-out', join(certDir, 'c.pem')),
      { stdio: 'ignore' },
    );
    expect(made.status).toBe(0);
    tlsMaterial = {
      key: readFileSync(join(certDir, 'k.pem'), 'utf8'),
      cert: readFileSync(join(certDir, 'c.pem'), 'utf8'),
    };

    box = await server.mailbox('imap-agent');
    other = await server.mailbox('imap-other');
    await deliver({
      from: 'Alice <alice@sender.test>',
      to: box.address,
      subject: 'Invoice 42',
      text: 'Please pay the invoice.\r\n',
    });
    await deliver({
      from: 'bob@sender.test',
      to: box.address,
      subject: 'Photos',
      text: 'See attached.',
      attachments: [{ filename: 'a.txt', content: 'attachment body' }],
    });
    await deliver({
      from: 'carol@sender.test',
      to: other.address,
      subject: 'Other org secret',
      text: 'canary-b',
    });
    const sent = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: {
        mailbox_id: box.mailboxId,
        to: ['friend@dest.test'],
        subject: 'Outgoing hello',
        body_text: 'Hi',
      },
    });
    expect(sent.status).toBe(201);

    ({ server: imaps, port: imapsPort } = await listen());
    ({ server: starttls, port: starttlsPort } = await listen({ implicitTls: false }));
  });

  afterAll(async () => {
    await Promise.all([imaps && closeServer(imaps), starttls && closeServer(starttls)]);
    await server?.close();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  it('imapflow logs in over implicit TLS, lists, selects, fetches and searches', async () => {
    const imap = client(box);
    await imap.connect();
    try {
      const folders = await imap.list();
      expect(folders.map((f) => f.path).sort()).toEqual(['INBOX', 'Sent']);
      expect(folders.find((f) => f.path === 'Sent')?.specialUse).toBe('\\Sent');

      const inbox = await imap.mailboxOpen('INBOX');
      expect(inbox.exists).toBe(2);
      expect(inbox.readOnly).toBe(true);
      expect(Number(inbox.uidValidity)).toBeGreaterThan(0);

      const messages = [];
      for await (const message of imap.fetch('1:*', {
        uid: true,
        flags: true,
        envelope: true,
        bodyStructure: true,
        source: true,
        size: true,
        internalDate: true,
      })) {
        messages.push(message);
      }
      expect(messages.map((m) => m.uid)).toEqual([1, 2]);
      const [first, second] = messages;
      expect(first?.envelope?.subject).toBe('Invoice 42');
      expect(first?.envelope?.from?.[0]).toMatchObject({ name: 'Alice', address: 'alice@sender.test' });
      expect(first?.envelope?.to?.[0]?.address).toBe(box.address);
      expect(first?.flags?.has('\\Seen')).toBe(false);
      expect(first?.bodyStructure?.type).toBe('text/plain');
      expect(second?.bodyStructure?.type).toBe('multipart/mixed');
      expect(second?.bodyStructure?.childNodes?.[1]).toMatchObject({
        part: '2',
        disposition: 'attachment',
        dispositionParameters: { filename: 'a.txt' },
      });
      for (const message of messages) {
        const raw = await apiRaw(box, 'incoming', message.uid);
        expect(message.source?.equals(raw)).toBe(true);
        expect(message.size).toBe(raw.length);
      }

      const part = await imap.fetchOne('2', { bodyParts: ['2', '2.mime'], headers: ['subject'] });
      expect(part && part.bodyParts?.get('2')?.toString()).toBe(
        Buffer.from('attachment body').toString('base64'),
      );
      expect(part && part.headers?.toString()).toBe('Subject: Photos\r\n\r\n');
      expect(part && part.bodyParts?.get('2.mime')?.toString()).toMatch(
        /^Content-Type: text\/plain; name=a.txt\r\n/,
      );

      expect(await imap.search({ from: 'alice' }, { uid: true })).toEqual([1]);
      expect(await imap.search({ subject: 'photos' }, { uid: true })).toEqual([2]);
      expect(await imap.search({ body: 'pay the invoice' }, { uid: true })).toEqual([1]);
      expect(await imap.search({ since: server.clock.now() }, { uid: true })).toEqual([1, 2]);
      const today = server.clock.now();
      const midnight = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()));
      expect(await imap.search({ before: midnight }, { uid: true })).toEqual([]);
      expect(await imap.search({ seen: false, uid: '2:*' }, { uid: true })).toEqual([2]);
      // Nothing of the other org's mailbox is ever visible.
      expect(await imap.search({ body: 'canary-b' }, { uid: true })).toEqual([]);

      const sentBox = await imap.mailboxOpen('Sent');
      expect(sentBox.exists).toBe(1);
      const sent = await imap.fetchOne('1', { envelope: true, source: true, flags: true });
      expect(sent && sent.envelope?.subject).toBe('Outgoing hello');
      expect(sent && sent.flags?.has('\\Seen')).toBe(true);
      expect(sent && sent.source?.equals(await apiRaw(box, 'outgoing', 1))).toBe(true);
    } finally {
      await imap.logout();
    }
  });

  it('IDLE sees a message delivered by SMTP as EXISTS within a second', async () => {
    const imap = client(box);
    await imap.connect();
    try {
      await imap.mailboxOpen('INBOX');
      const exists = new Promise<{ count: number; at: number }>((resolve) =>
        imap.on('exists', (data: { count: number }) => resolve({ count: data.count, at: Date.now() })),
      );
      void imap.idle();
      // Give the IDLE command time to be in place before the delivery.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await deliver({ from: 'dave@sender.test', to: box.address, subject: 'While idling', text: 'ping' });
      const delivered = Date.now();
      const seen = await exists;
      expect(seen.count).toBe(3);
      expect(seen.at - delivered).toBeLessThan(1_000);
    } finally {
      await imap.logout();
    }
  });

  it('reports acks as flag changes and serves the read-only commands over a raw session', async () => {
    const raw = await RawImap.open(imapsPort, true);
    try {
      await raw.login(box);
      const select = await raw.command('a', 'EXAMINE INBOX');
      expect(select).toMatch(/^\* 3 EXISTS\r\n/m);
      expect(select).toMatch(/^\* OK \[PERMANENTFLAGS \(\)\]/m);
      expect(select).toMatch(/^\* OK \[UIDNEXT 4\]/m);
      expect(select).toMatch(/^a OK \[READ-ONLY\]/m);
      const status = await raw.command('b', 'STATUS Sent (MESSAGES UNSEEN UIDNEXT UIDVALIDITY RECENT)');
      expect(status).toMatch(/^\* STATUS "Sent" \(MESSAGES 1 UNSEEN 0 UIDNEXT 2 UIDVALIDITY \d+ RECENT 0\)/m);
      expect(await raw.command('c', 'LIST "" ""')).toMatch(/^\* LIST \(\\Noselect\) "\/" ""/m);
      expect(await raw.command('d', 'LIST "" "%"')).toMatch(
        /^\* LIST \(\\HasNoChildren \\Sent\) "\/" "Sent"/m,
      );
      expect(await raw.command('e', 'LSUB "" "in*"')).toMatch(
        /^\* LSUB \(\\HasNoChildren\) "\/" "INBOX"\r\ne OK/m,
      );
      expect(await raw.command('f', 'UID FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])')).toMatch(
        /^\* 1 FETCH \(UID 1 FLAGS \(\) BODY\[HEADER.FIELDS \(SUBJECT\)\] \{23\}\r\nSubject: Invoice 42\r\n\r\n\)/m,
      );
      expect(await raw.command('g', 'UID SEARCH FROM alice')).toMatch(/^\* SEARCH 1\r\n/m);
      expect(await raw.command('h', 'SEARCH CHARSET KOI8-R ALL')).toMatch(/^h NO \[BADCHARSET/m);
      expect(await raw.command('i', 'FETCH 9 FLAGS')).toMatch(/^i BAD/m);
      expect(await raw.command('j', 'ID NIL')).toMatch(/^\* ID \("name" "LoftBox"/m);

      const id = (
        server.deps.db
          .prepare(
            "SELECT public_id FROM messages WHERE mailbox_id = ? AND direction = 'incoming' AND imap_uid = 1",
          )
          .get(box.mailboxId) as { public_id: string }
      ).public_id;
      const ack = await server.api('POST', `/v1/mailboxes/${box.mailboxId}/inbox/ack`, {
        key: box.key,
        body: { message_ids: [id] },
      });
      expect(ack.body.acked).toBe(1);
      expect(await raw.command('k', 'NOOP')).toMatch(/^\* 1 FETCH \(UID 1 FLAGS \(\\Seen\)\)\r\nk OK/m);
      expect(await raw.command('l', 'SEARCH SEEN')).toMatch(/^\* SEARCH 1\r\n/m);

      raw.write('m IDLE\r\n');
      await raw.until(/^\+ idling\r\n/m);
      raw.write('DONE\r\n');
      await raw.until(/^m OK IDLE terminated/m);
      expect(await raw.command('n', 'LOGOUT')).toMatch(/^\* BYE[^\n]*\r\nn OK/m);
    } finally {
      raw.close();
    }
  });

  it('python imaplib logs in, selects, searches and fetches byte-equal bodies', async ({ skip }) => {
    if (!hasPython) skip();
    const script = `
import imaplib, json, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL('127.0.0.1', int(sys.argv[1]), ssl_context=ctx)
m.login(sys.argv[2], sys.argv[3])
typ, count = m.select('INBOX', readonly=True)
typ, found = m.uid('search', None, 'SUBJECT', '"Invoice"')
typ, data = m.uid('fetch', '1', '(RFC822)')
m.logout()
print(json.dumps({'count': count[0].decode(), 'found': found[0].decode(), 'raw': data[0][1].hex()}))
`;
    const python = await run('python3', ['-c', script, String(imapsPort), box.address, box.key]);
    expect(python.stderr).toBe('');
    const out = JSON.parse(python.stdout.toString()) as { count: string; found: string; raw: string };
    expect(out.count).toBe('3');
    expect(out.found).toBe('1');
    expect(Buffer.from(out.raw, 'hex').equals(await apiRaw(box, 'incoming', 1))).toBe(true);
  });

  it('curl fetches a message over imaps', async ({ skip }) => {
    if (!hasCurlImaps) skip();
    const curl = await run('curl', [
      '-k',
      '-s',
      '--max-time',
      '15',
      `imaps://127.0.0.1:${imapsPort}/INBOX;UID=2`,
      '-u',
      `${box.address}:${box.key}`,
    ]);
    expect(curl.code).toBe(0);
    expect(curl.stdout.equals(await apiRaw(box, 'incoming', 2))).toBe(true);
  });

  it('STARTTLS: no login before TLS, and commands injected after STARTTLS are never executed', async () => {
    const raw = await RawImap.open(starttlsPort, false);
    try {
      const caps = await raw.command('a', 'CAPABILITY');
      expect(caps).toMatch(/^\* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED /m);
      expect(caps).not.toMatch(/AUTH=PLAIN/);
      expect(await raw.command('b', `LOGIN "${box.address}" "${box.key}"`)).toMatch(
        /^b NO \[PRIVACYREQUIRED\]/m,
      );
      expect(await raw.command('c', 'AUTHENTICATE PLAIN')).toMatch(/^c NO \[PRIVACYREQUIRED\]/m);

      // TESTPLAN S5: the injected LOGIN rides in the same cleartext write as STARTTLS.
      raw.write(`d STARTTLS\r\ne LOGIN "${box.address}" "${box.key}"\r\n`);
      await raw.until(/^d OK[^\n]*\r\n/m);
      await raw.upgrade();
      expect(await raw.drain(300)).toBe('');
      expect(await raw.command('f', 'SELECT INBOX')).toMatch(/^f BAD Log in first/m);
      const secured = await raw.command('g', 'CAPABILITY');
      expect(secured).toMatch(/AUTH=PLAIN/);
      expect(secured).not.toMatch(/STARTTLS|LOGINDISABLED/);
      expect(await raw.command('h', 'STARTTLS')).toMatch(/^h BAD/m);
      const plain = Buffer.from(`\0${box.address}\0${box.key}`).toString('base64');
      raw.write('i AUTHENTICATE PLAIN\r\n');
      await raw.until(/^\+ \r\n/m);
      raw.write(`${plain}\r\n`);
      expect(await raw.until(/^i (OK|NO|BAD)[^\n]*\r\n/m)).toMatch(/^i OK \[CAPABILITY /m);
    } finally {
      raw.close();
    }
  });

  it('closes a connection that sends garbage instead of a TLS handshake after STARTTLS', async () => {
    const raw = await RawImap.open(starttlsPort, false);
    raw.write('a STARTTLS\r\n');
    await raw.until(/^a OK[^\n]*\r\n/m);
    raw.write(Buffer.from('this is not a TLS client hello\r\n'.repeat(20)));
    await raw.waitClosed();
    const next = await RawImap.open(starttlsPort, false);
    expect(await next.command('b', 'NOOP')).toMatch(/^b OK/m);
    next.close();
  });

  it('allows LOGIN before TLS only when configured for development', async () => {
    const dev = await listen({ implicitTls: false, allowPlainLogin: true });
    const raw = await RawImap.open(dev.port, false);
    try {
      expect(await raw.command('a', 'CAPABILITY')).toMatch(/STARTTLS AUTH=PLAIN/);
      await raw.login(box);
    } finally {
      raw.close();
      await closeServer(dev.server);
    }
  });

  it('refuses every write command with NO [CANNOT] and changes nothing', async () => {
    const before = mailboxSnapshot(box);
    const raw = await RawImap.open(imapsPort, true);
    try {
      await raw.login(box);
      expect(await raw.command('a', 'SELECT INBOX')).toMatch(/^a OK \[READ-ONLY\]/m);
      for (const command of [
        'STORE 1 +FLAGS (\\Seen \\Deleted)',
        'UID STORE 1 FLAGS (\\Flagged)',
        'COPY 1 Sent',
        'UID COPY 1:* Sent',
        'MOVE 1 Sent',
        'UID MOVE 1 Sent',
        'EXPUNGE',
        'UID EXPUNGE 1',
        'CREATE Archive',
        'DELETE INBOX',
        'RENAME Sent Old',
        'SUBSCRIBE Sent',
        'UNSUBSCRIBE INBOX',
        'APPEND INBOX {5+}\r\nhello',
      ]) {
        expect(await raw.command('w', command), command).toMatch(/^w NO \[CANNOT\]/m);
      }
      // A synchronizing APPEND is refused before the client is invited to send the message.
      raw.write('s APPEND INBOX (\\Seen) {310}\r\n');
      expect(await raw.until(/^s [^\n]*\r\n/m)).toMatch(/^s NO \[CANNOT\]/m);
      expect(await raw.command('t', 'CLOSE')).toMatch(/^t OK/m);
      expect(await raw.command('u', 'NOOP')).toMatch(/^u OK/m);
    } finally {
      raw.close();
    }
    const imap = client(box);
    await imap.connect();
    try {
      await imap.mailboxOpen('INBOX');
      expect(await imap.messageFlagsAdd('1:*', ['\\Deleted'])).toBe(false);
      await expect(imap.mailboxCreate('New')).rejects.toThrow();
    } finally {
      await imap.logout();
    }
    expect(mailboxSnapshot(box)).toEqual(before);
  });

  it('refuses a wrong key, a key of another org and a key without receive scope', async () => {
    const child = await server.api('POST', '/v1/auth/keys', {
      key: box.key,
      body: { scopes: ['domain:read'] },
    });
    expect(child.status).toBe(201);
    const reader = await server.api('POST', '/v1/auth/keys', { key: box.key, body: { scopes: ['receive'] } });
    for (const password of ['lb_live_wrong', other.key, child.body.api_key as string]) {
      const imap = client(box, imapsPort, password);
      await expect(imap.connect()).rejects.toThrow();
    }
    const raw = await RawImap.open(imapsPort, true);
    try {
      expect(await raw.command('a', `LOGIN "${other.address}" "${box.key}"`)).toMatch(
        /^a NO \[AUTHENTICATIONFAILED\]/m,
      );
      // Addresses are case-insensitive; a receive-only child key is enough.
      expect(await raw.command('b', `LOGIN "${box.address.toUpperCase()}" "${reader.body.api_key}"`)).toMatch(
        /^b OK/m,
      );
    } finally {
      raw.close();
    }
  });

  describe('hostile input closes only that connection', () => {
    async function secondClientWorks(): Promise<void> {
      const raw = await RawImap.open(imapsPort, true);
      try {
        await raw.login(box);
        expect(await raw.command('x', 'EXAMINE INBOX')).toMatch(/^x OK/m);
      } finally {
        raw.close();
      }
    }

    it('a 200 KiB line without CRLF: BYE and close', async () => {
      const raw = await RawImap.open(imapsPort, true);
      raw.write(Buffer.alloc(200 * 1024, 0x61));
      expect(await raw.until(/^\* BYE[^\n]*\r\n/m)).toMatch(/too long/);
      await raw.waitClosed();
      await secondClientWorks();
    });

    it('a huge literal before login, or any literal outside LOGIN: BYE and close, nothing read', async () => {
      for (const line of ['a LOGIN {999999999}\r\n', 'a LOGIN {999999999+}\r\n', 'a CAPABILITY {5}\r\n']) {
        const raw = await RawImap.open(imapsPort, true);
        raw.write(line);
        const reply = await raw.until(/^\* BYE[^\n]*\r\n/m);
        expect(reply).not.toMatch(/^\+/m);
        await raw.waitClosed();
      }
      // A small literal in LOGIN is fine.
      const raw = await RawImap.open(imapsPort, true);
      raw.write(`a LOGIN {${box.address.length}}\r\n`);
      await raw.until(/^\+ [^\n]*\r\n/m);
      raw.write(`${box.address} {${box.key.length}+}\r\n${box.key}\r\n`);
      expect(await raw.until(/^a (OK|NO|BAD)[^\n]*\r\n/m)).toMatch(/^a OK/m);
      raw.close();
      await secondClientWorks();
    });

    it('5000-deep parentheses: BAD and close', async () => {
      const raw = await RawImap.open(imapsPort, true);
      raw.write(`a ID ${'('.repeat(5000)}${')'.repeat(5000)}\r\n`);
      expect(await raw.until(/^a BAD[^\n]*\r\n/m)).toMatch(/nested/);
      await raw.waitClosed();
      await secondClientWorks();
    });

    it('a 5000-byte tag is answered untagged and the session goes on', async () => {
      const raw = await RawImap.open(imapsPort, true);
      try {
        raw.write(`${'t'.repeat(5000)} NOOP\r\n`);
        expect(await raw.until(/^\* BAD[^\n]*\r\n/m)).toMatch(/Tag too long/);
        expect(await raw.command('a', 'NOOP')).toMatch(/^a OK/m);
      } finally {
        raw.close();
      }
    });

    it('an oversized literal after login is refused with [TOOBIG] and the session goes on', async () => {
      const raw = await RawImap.open(imapsPort, true);
      try {
        await raw.login(box);
        raw.write('a SELECT {99999999}\r\n');
        expect(await raw.until(/^a [^\n]*\r\n/m)).toMatch(/^a BAD \[TOOBIG\]/m);
        raw.write('b SELECT {5}\r\n');
        await raw.until(/^\+ [^\n]*\r\n/m);
        raw.write('INBOX\r\n');
        expect(await raw.until(/^b (OK|NO|BAD)[^\n]*\r\n/m)).toMatch(/^b OK/m);
      } finally {
        raw.close();
      }
    });

    it('connection cap, pre-auth timeout and failed-login limit', async () => {
      const tight = await listen({ implicitTls: false, limits: { maxClients: 2, preAuthTimeoutMs: 300 } });
      try {
        const first = await RawImap.open(tight.port, false);
        const second = await RawImap.open(tight.port, false);
        const third = await RawImap.open(tight.port, false);
        // The greeting of a refused connection is its BYE.
        expect(third.greeting).toMatch(/^\* BYE Too many connections/);
        await third.waitClosed();
        expect(first.greeting).toMatch(/^\* OK \[CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED /);
        await first.until(/^\* BYE Autologout[^\n]*\r\n/m, 2_000);
        await first.waitClosed();
        second.close();
      } finally {
        await closeServer(tight.server);
      }
      // A locked-out login (the shared SMTP/IMAP guard) is refused and the connection closed.
      const locked = await listen({ auth: { login: () => ({ ok: false, reason: 'locked' }) } });
      const refused = await RawImap.open(locked.port, true);
      expect(await refused.command('a', `LOGIN "${box.address}" "${box.key}"`)).toMatch(
        /^a NO \[AUTHENTICATIONFAILED\] Too many failed logins/m,
      );
      await refused.waitClosed();
      await closeServer(locked.server);

      const raw = await RawImap.open(imapsPort, true);
      for (const tag of ['a', 'b', 'c']) {
        expect(await raw.command(tag, `LOGIN "${box.address}" "lb_live_nope"`)).toMatch(
          /NO \[AUTHENTICATIONFAILED\]/,
        );
      }
      await raw.until(/^\* BYE[^\n]*\r\n/m);
      await raw.waitClosed();
    });
  });

  it('FETCH 1:* streams a folder larger than one batch, in sequence order', async () => {
    const bulk = await server.mailbox('imap-bulk');
    await deliver({ from: 'bulk@sender.test', to: bulk.address, subject: 'bulk 0', text: 'x'.repeat(2000) });
    const template = server.deps.db
      .prepare("SELECT * FROM messages WHERE mailbox_id = ? AND direction = 'incoming'")
      .get(bulk.mailboxId) as Parameters<typeof server.deps.repos.messages.insert>[0];
    server.deps.db.transaction(() => {
      for (let i = 1; i < 450; i++) {
        server.deps.repos.messages.insert(
          {
            ...template,
            id: server.deps.ids.uuid(),
            public_id: server.deps.ids.publicId('msg'),
            inbound_id: null,
          },
          { addresses: '', body: '' },
        );
      }
    })();
    const raw = await RawImap.open(imapsPort, true);
    try {
      await raw.login(bulk);
      expect(await raw.command('a', 'EXAMINE INBOX')).toMatch(/^\* 450 EXISTS/m);
      const out = await raw.command('b', 'FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])');
      const seqs = [...out.matchAll(/^\* (\d+) FETCH \(UID (\d+) /gm)].map((m) => [
        Number(m[1]),
        Number(m[2]),
      ]);
      expect(seqs).toHaveLength(450);
      expect(seqs.every(([seq, uid], i) => seq === i + 1 && uid === i + 1)).toBe(true);
    } finally {
      raw.close();
    }
  });

  it('keeps UIDVALIDITY and UIDs when the IMAP listener restarts', async () => {
    const snapshot = async (port: number) => {
      const imap = client(box, port);
      await imap.connect();
      try {
        const opened = await imap.mailboxOpen('INBOX');
        const uids = await imap.search({ all: true }, { uid: true });
        return { uidValidity: String(opened.uidValidity), uidNext: opened.uidNext, uids };
      } finally {
        await imap.logout();
      }
    };
    const before = await snapshot(imapsPort);
    // Closing the listener says BYE to sessions still open (an idling client would otherwise hold it).
    const idling = await RawImap.open(imapsPort, true);
    await idling.login(box);
    await idling.command('a', 'SELECT INBOX');
    idling.write('b IDLE\r\n');
    await idling.until(/^\+ idling\r\n/m);
    await closeServer(imaps);
    expect(await idling.until(/^\* BYE[^\n]*\r\n/m)).toMatch(/shutting down/);
    ({ server: imaps, port: imapsPort } = await listen());
    expect(await snapshot(imapsPort)).toEqual(before);
    expect(before.uids).toEqual([1, 2, 3]);
  });
});
