import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsServer, type DnsZoneServer } from '../harness/dns.js';
import { code, RawSmtp } from '../harness/smtp.js';
import { apiJson, onboard, spawnServer, type SpawnedServer } from '../harness/spawn.js';

let dir: string;
let dns: DnsZoneServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loftbox-kill-'));
  dns = await startDnsServer();
});
afterAll(async () => {
  await dns.close();
  rmSync(dir, { recursive: true, force: true });
});

const smtpPortOf = async (server: SpawnedServer) =>
  Number((await server.waitFor(/^listening smtp \S+:(\d+)$/m))[1]);

describe('durable acceptance', () => {
  it('loses no message when the server is killed with SIGKILL right after the 250', async () => {
    const env = {
      LOFTBOX_DATA_DIR: join(dir, 'data'),
      LOFTBOX_DEV: '1',
      LOFTBOX_SMTP_PORT: '0',
      LOFTBOX_DNS_SERVERS: dns.server,
    };
    const first = await spawnServer(env);
    const { key, mailboxId, address } = await onboard(first, {
      email: 'kill@example.com',
      localPart: 'durable',
    });

    const smtp = await RawSmtp.open(await smtpPortOf(first));
    const subjects = ['durable-1', 'durable-2', 'durable-3'];
    for (const subject of subjects) {
      await smtp.command('EHLO client.test');
      await smtp.command('MAIL FROM:<sender@sender.test>');
      await smtp.command(`RCPT TO:<${address}>`);
      await smtp.command('DATA');
      const reply = await smtp.command(`Subject: ${subject}\r\n\r\nkeep me\r\n.`);
      expect(code(reply)).toBe(250);
    }
    // No QUIT, no waiting for the pipeline: the process dies the moment the last 250 is read.
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    smtp.close();

    const second = await spawnServer(env);
    try {
      const deadline = Date.now() + 15_000;
      let found: string[] = [];
      while (Date.now() < deadline) {
        const inbox = await apiJson(`${second.url}/v1/mailboxes/${mailboxId}/inbox`, { key });
        found = (inbox.data as { subject: string }[]).map((m) => m.subject);
        if (found.length >= subjects.length) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(found.sort()).toEqual(subjects);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
