import v8 from 'node:v8';
import vm from 'node:vm';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSocket } from '../harness/raw-socket.js';
import { startTestServer, type TestServer } from '../harness/server.js';
import { code, RawSmtp } from '../harness/smtp.js';

type Box = Awaited<ReturnType<TestServer['mailbox']>>;

let server: TestServer;
let box: Box;

// Production defaults for the header and MIME limits; only the size and the per-IP cap are shrunk.
beforeAll(async () => {
  server = await startTestServer({
    maxMessageBytes: 2_500_000,
    smtpDataMemory: 3_000_000,
    connectionsPerIp: 2,
    signupLimitPerIp: 1000,
  });
  box = await server.mailbox('limits');
});
afterAll(async () => {
  await server.close();
});

const port = (name: string) => server.running.ports[name] ?? 0;
const inboundCount = () => server.deps.db.prepare('SELECT COUNT(*) AS n FROM inbound').get();
const hostileStored = () =>
  server.deps.db.prepare("SELECT COUNT(*) AS n FROM messages WHERE subject = 'hostile'").get();

/** TESTPLAN L7 and L8 inputs, each a whole message. */
function hostile(from: string): Record<string, string> {
  const head = `From: ${from}\r\nTo: ${box.address}\r\nSubject: hostile\r\n`;
  const parts = Array.from({ length: 10_000 }, () => '--b\r\nContent-Type: text/plain\r\n\r\nx\r\n').join('');
  let nested = '';
  for (let depth = 199; depth >= 0; depth--) {
    nested = `Content-Type: multipart/mixed; boundary="d${depth}"\r\n\r\n--d${depth}\r\n${nested}\r\n--d${depth}--\r\n`;
  }
  nested = nested.replace(/\r\n$/, '');
  return {
    '100 000 header lines': `${head}${'X-Filler: v\r\n'.repeat(100_000)}\r\nbody\r\n`,
    '2 MB of headers': `${head}${`X-Big: ${'h'.repeat(990)}\r\n`.repeat(2_100)}\r\nbody\r\n`,
    '10 000 MIME parts': `${head}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n${parts}--b--\r\n`,
    'nesting depth 200': `${head}MIME-Version: 1.0\r\n${nested}\r\n`,
  };
}

const expected: Record<string, RegExp> = {
  '100 000 header lines': /^552 5\.3\.4/,
  '2 MB of headers': /^552 5\.3\.4/,
  '10 000 MIME parts': /^554 5\.6\.0/,
  'nesting depth 200': /^554 5\.6\.0/,
};

/** Submission over implicit TLS, logged in as the test mailbox. */
async function submissionSession(): Promise<SMTPConnection> {
  const connection = new SMTPConnection({
    host: '127.0.0.1',
    port: port('submission-tls'),
    secure: true,
    tls: { rejectUnauthorized: false },
  });
  await new Promise<void>((resolve, reject) => {
    connection.once('error', reject);
    connection.connect(() => resolve());
  });
  await new Promise<void>((resolve, reject) =>
    connection.login({ user: box.address, pass: box.key }, (err) => (err ? reject(err) : resolve())),
  );
  return connection;
}

function submit(connection: SMTPConnection, raw: string): Promise<string> {
  return new Promise((resolve) =>
    connection.send({ from: box.address, to: [box.address] }, raw, (err, info) =>
      resolve(err ? String((err as { response?: string }).response) : info.response),
    ),
  );
}

describe('header and MIME limits, decided while streaming (TESTPLAN L7, L8)', () => {
  for (const name of Object.keys(expected)) {
    it(`MX: ${name} is refused at the dot, nothing is stored, and the session goes on`, async () => {
      const message = hostile('sender@outside.test')[name] as string;
      const before = inboundCount();
      const smtp = await RawSmtp.open(server.smtpPort);
      try {
        await smtp.command('EHLO client.test');
        await smtp.command('MAIL FROM:<sender@outside.test>');
        expect(code(await smtp.command(`RCPT TO:<${box.address}>`))).toBe(250);
        expect(code(await smtp.command('DATA'))).toBe(354);
        smtp.write(message);
        expect(await smtp.command('.')).toMatch(expected[name] as RegExp);
        expect(code(await smtp.command('NOOP'))).toBe(250);
      } finally {
        smtp.close();
      }
      await server.running.inbound.idle();
      expect(inboundCount()).toEqual(before);
      expect(hostileStored()).toEqual({ n: 0 });
    });
  }

  for (const name of Object.keys(expected)) {
    it(`submission: ${name} is refused at the dot before any parse, nothing is stored`, async () => {
      const message = hostile(box.address)[name] as string;
      const connection = await submissionSession();
      try {
        expect(await submit(connection, message)).toMatch(expected[name] as RegExp);
        // The session is still usable: a normal message goes through afterwards.
        const ok = `From: ${box.address}\r\nTo: ${box.address}\r\nSubject: fine\r\n\r\nhello\r\n`;
        expect(await submit(connection, ok)).toMatch(/^250/);
      } finally {
        connection.close();
      }
      expect(hostileStored()).toEqual({ n: 0 });
    });
  }

  it('accepts ordinary nested MIME: a forwarded message with attachments', async () => {
    const inner = [
      'Content-Type: multipart/mixed; boundary="inner"',
      '',
      '--inner',
      'Content-Type: text/plain',
      '',
      'inner text',
      '--inner',
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: base64',
      '',
      'AAAA',
      '--inner--',
    ].join('\r\n');
    const message = [
      `From: sender@outside.test`,
      `To: ${box.address}`,
      'Subject: forwarded',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="outer"',
      '',
      '--outer',
      'Content-Type: text/plain',
      '',
      'see below',
      '--outer',
      'Content-Type: message/rfc822',
      '',
      'From: someone@else.test',
      'Subject: inner',
      inner,
      '--outer--',
      '',
    ].join('\r\n');
    const smtp = await RawSmtp.open(server.smtpPort);
    try {
      await smtp.command('EHLO client.test');
      await smtp.command('MAIL FROM:<sender@outside.test>');
      await smtp.command(`RCPT TO:<${box.address}>`);
      await smtp.command('DATA');
      smtp.write(message);
      expect(await smtp.command('.')).toMatch(/^250/);
    } finally {
      smtp.close();
    }
  });

  it('submission: a message far past SIZE is read to the dot and refused with 552 5.3.4, never held whole (TESTPLAN L6)', async () => {
    // A real garbage collector in this process, so what is measured is what is still held.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const total = 96 * 1024 * 1024;
    const block = Buffer.from(`${'x'.repeat(1022)}\r\n`.repeat(64));
    // A raw client that honours backpressure, so what this process holds is the server's share.
    const smtp = await RawSmtp.openTls(port('submission-tls'));
    try {
      await smtp.command('EHLO client.test');
      const plain = Buffer.from(`\0${box.address}\0${box.key}`).toString('base64');
      expect(code(await smtp.command(`AUTH PLAIN ${plain}`))).toBe(235);
      expect(code(await smtp.command(`MAIL FROM:<${box.address}>`))).toBe(250);
      expect(code(await smtp.command(`RCPT TO:<${box.address}>`))).toBe(250);
      expect(code(await smtp.command('DATA'))).toBe(354);
      gc();
      const base = process.memoryUsage().arrayBuffers;
      let peak = 0;
      const sample = setInterval(() => {
        gc();
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
      }, 250);
      try {
        await smtp.writeDrained(`From: ${box.address}\r\nTo: ${box.address}\r\nSubject: huge\r\n\r\n`);
        for (let sent = 0; sent < total; sent += block.length) await smtp.writeDrained(block);
        expect(await smtp.command('.')).toMatch(/^552 5\.3\.4/);
      } finally {
        clearInterval(sample);
      }
      // 96 MB went through; what stayed in memory is bounded by the 2.5 MB limit plus socket and TLS
      // buffers, where holding the message would pass 96 MB. Those buffers measured 8–18 MB on an idle
      // machine and up to 42 MB with the rest of the suite loading both cores (the sampler's gc runs
      // less often), so the bound is half the message: still far from holding it whole.
      expect(peak).toBeLessThan(total / 2);
    } finally {
      smtp.close();
    }
  }, 120_000);
});

describe('memory held by DATA across sessions', () => {
  it('refuses with 452 4.3.1 a message that would pass the shared budget, and accepts the one holding it', async () => {
    const body = (subject: string, bytes: number) =>
      `Subject: ${subject}\r\n\r\n${`${'y'.repeat(998)}\r\n`.repeat(Math.ceil(bytes / 1000))}`;
    const open = async () => {
      const smtp = await RawSmtp.open(server.smtpPort);
      await smtp.command('EHLO client.test');
      await smtp.command('MAIL FROM:<big@outside.test>');
      expect(code(await smtp.command(`RCPT TO:<${box.address}>`))).toBe(250);
      expect(code(await smtp.command('DATA'))).toBe(354);
      return smtp;
    };
    const first = await open();
    const second = await open();
    try {
      first.write(body('holding', 2_000_000));
      await expect
        .poll(() => server.deps.dataMemory.used, { timeout: 10_000 })
        .toBeGreaterThanOrEqual(2_000_000);
      second.write(body('over budget', 1_500_000));
      expect(await second.command('.')).toMatch(/^452 4\.3\.1/);
      expect(await first.command('.')).toMatch(/^250 /);
    } finally {
      first.close();
      second.close();
    }
    expect(server.deps.dataMemory.used).toBe(0);
  });
});

describe('per-IP connection caps', () => {
  it('answers 421 4.7.0 to a third connection from one address on the MX and submission, not to others', async () => {
    for (const listener of [server.smtpPort, port('submission')]) {
      const held = [
        await RawSmtp.open(listener, { localAddress: '127.0.0.7' }),
        await RawSmtp.open(listener, { localAddress: '127.0.0.7' }),
      ];
      try {
        for (const client of held) expect(client.greeting).toMatch(/^220 /);
        const third = await RawSmtp.open(listener, { localAddress: '127.0.0.7' });
        expect(third.greeting).toMatch(/^421 4\.7\.0 /);
        await third.waitClosed();
        const elsewhere = await RawSmtp.open(listener, { localAddress: '127.0.0.1' });
        expect(elsewhere.greeting).toMatch(/^220 /);
        elsewhere.close();
        // A slot freed by a closed connection can be used again.
        (held.pop() as RawSmtp).close();
        await expect
          .poll(async () => {
            const again = await RawSmtp.open(listener, { localAddress: '127.0.0.7' });
            again.close();
            return again.greeting.slice(0, 3);
          })
          .toBe('220');
      } finally {
        for (const client of held) client.close();
      }
    }
  });

  it('answers * BYE to a third IMAP connection from one address', async () => {
    const held = [
      await RawSocket.open(port('imap'), '127.0.0.7'),
      await RawSocket.open(port('imap'), '127.0.0.7'),
    ];
    try {
      for (const client of held) await client.until(/^\* OK /m);
      const third = await RawSocket.open(port('imap'), '127.0.0.7');
      expect(await third.until(/^\* BYE [^\r\n]*/m)).toMatch(/Too many connections/);
      await third.waitClosed();
      const elsewhere = await RawSocket.open(port('imap'), '127.0.0.1');
      expect(await elsewhere.until(/^\* (OK|BYE) /m)).toBe('* OK ');
      elsewhere.destroy();
    } finally {
      for (const client of held) client.destroy();
    }
  });
});

describe('connection rate and session deadlines', () => {
  let timed: TestServer;
  beforeAll(async () => {
    timed = await startTestServer({
      connectRatePerIp: 3,
      smtpSessionTimeout: 6_000,
      smtpDataTimeout: 1_000,
    });
  });
  afterAll(async () => {
    await timed.close();
  });

  it('answers 421 4.7.0 to an address opening connections faster than the rate cap', async () => {
    for (let i = 0; i < 3; i++) {
      const client = await RawSmtp.open(timed.smtpPort, { localAddress: '127.0.0.8' });
      expect(client.greeting).toMatch(/^220 /);
      client.close();
    }
    const refused = await RawSmtp.open(timed.smtpPort, { localAddress: '127.0.0.8' });
    expect(refused.greeting).toMatch(/^421 4\.7\.0 /);
    for (let i = 0; i < 3; i++) {
      const client = await RawSocket.open(timed.running.ports.imap ?? 0, '127.0.0.8');
      expect(await client.until(/^\* (OK|BYE) /m)).toBe('* OK ');
      client.destroy();
    }
    const refusedImap = await RawSocket.open(timed.running.ports.imap ?? 0, '127.0.0.8');
    expect(await refusedImap.until(/^\* (OK|BYE) /m)).toBe('* BYE ');
  });

  it('ends a session that keeps itself busy past the session deadline with 421 4.4.2', async () => {
    const client = await RawSocket.open(timed.smtpPort, '127.0.0.1');
    await client.until(/^220 /m);
    // A byte every 50 ms keeps the idle timer from ever firing: only the absolute deadline can end it.
    const drip = client.drip('NOOP\r\n', 50);
    try {
      expect(await client.until(/^421 4\.4\.2 Session time limit[^\r\n]*/m, 20_000)).toBeTruthy();
      await client.waitClosed();
    } finally {
      drip.stop();
      client.destroy();
    }
  });

  it('ends a DATA transfer that drips past the DATA deadline with 421 4.4.2, storing nothing', async () => {
    const box2 = await timed.mailbox('drip');
    const before = timed.deps.db.prepare('SELECT COUNT(*) AS n FROM inbound').get();
    const client = await RawSocket.open(timed.smtpPort, '127.0.0.1');
    await client.until(/^220 /m);
    client.write(
      `EHLO client.test\r\nMAIL FROM:<slow@outside.test>\r\nRCPT TO:<${box2.address}>\r\nDATA\r\n`,
    );
    await client.until(/^354 /m);
    const drip = client.drip('Subject: slow\r\n', 50);
    try {
      expect(await client.until(/^421 4\.4\.2 Message transfer time limit[^\r\n]*/m, 20_000)).toBeTruthy();
      await client.waitClosed();
    } finally {
      drip.stop();
      client.destroy();
    }
    expect(timed.deps.db.prepare('SELECT COUNT(*) AS n FROM inbound').get()).toEqual(before);
  });
});
