import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness/server.js';

let server: TestServer;
let box: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  server = await startTestServer();
  box = await server.mailbox('wired-imap');
});
afterAll(async () => {
  await server.close();
});

describe('the IMAP listeners of a running server', () => {
  it('shows mail submitted over SMTP in Sent, byte-equal to the API, and a reply in INBOX', async () => {
    await nodemailer
      .createTransport({
        host: '127.0.0.1',
        port: server.running.ports['submission-tls'] ?? 0,
        secure: true,
        auth: { user: box.address, pass: box.key },
        tls: { rejectUnauthorized: false },
      })
      .sendMail({ from: box.address, to: box.address, subject: 'Note to self', text: 'over submission' });
    for (let i = 0; i < 5; i++) if ((await server.running.queue.tick()) === 0) break;
    await server.running.inbound.idle();

    const client = new ImapFlow({
      host: '127.0.0.1',
      port: server.running.ports.imaps ?? 0,
      secure: true,
      tls: { rejectUnauthorized: false },
      auth: { user: box.address, pass: box.key },
      logger: false,
    });
    await client.connect();
    try {
      const folders = (await client.list()).map((f) => [f.path, f.specialUse ?? null]);
      expect(folders).toEqual(
        expect.arrayContaining([
          ['INBOX', '\\Inbox'],
          ['Sent', '\\Sent'],
        ]),
      );
      for (const folder of ['Sent', 'INBOX']) {
        const lock = await client.getMailboxLock(folder);
        try {
          const message = await client.fetchOne('*', { source: true, envelope: true });
          expect(message && message.envelope?.subject).toBe('Note to self');
          const direction = folder === 'Sent' ? 'outgoing' : 'incoming';
          const listed = await server.api(
            'GET',
            `/v1/messages?direction=${direction}&mailbox_id=${box.mailboxId}`,
            { key: box.key },
          );
          const raw = await server.api('GET', `/v1/messages/${listed.body.data[0].id}/raw`, { key: box.key });
          expect(message && message.source?.toString('latin1')).toBe(raw.text);
        } finally {
          lock.release();
        }
      }
    } finally {
      await client.logout();
    }
  });
});
