import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsServer, type DnsZoneServer } from '../harness/dns.js';
import { code, RawSmtp } from '../harness/smtp.js';
import { apiJson, onboard, spawnServer } from '../harness/spawn.js';
import { startWebhookReceiver } from '../harness/webhook-receiver.js';

let dir: string;
let dns: DnsZoneServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loftbox-kill-hook-'));
  dns = await startDnsServer();
});
afterAll(async () => {
  await dns.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('webhooks across a crash', () => {
  it('re-sends the same webhook-id after kill -9 while the receiver was still answering', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let firstArrived: () => void = () => {};
    const arrived = new Promise<void>((resolve) => (firstArrived = resolve));
    const receiver = await startWebhookReceiver((_hook, index) => {
      if (index === 0) {
        firstArrived();
        return { status: 200, wait: held };
      }
      return { status: 200 };
    });
    const env = {
      LOFTBOX_DATA_DIR: join(dir, 'data'),
      LOFTBOX_DEV: '1',
      LOFTBOX_DNS_SERVERS: dns.server,
      LOFTBOX_WEBHOOK_ALLOW: '127.0.0.1',
      LOFTBOX_WEBHOOK_TIMEOUT: '1s',
    };
    try {
      const first = await spawnServer(env);
      const smtpPort = Number((await first.waitFor(/^listening smtp \S+:(\d+)$/m))[1]);
      const { key, agentId, address } = await onboard(first, {
        email: 'owner@hook-kill.test',
        localPart: 'hooked',
      });
      await apiJson(`${first.url}/v1/agents/${agentId}/webhooks`, {
        key,
        body: { url: `${receiver.url}/hook`, event_types: ['message.inbound'] },
      });

      const smtp = await RawSmtp.open(smtpPort);
      await smtp.command('EHLO client.test');
      await smtp.command('MAIL FROM:<someone@outside.test>');
      await smtp.command(`RCPT TO:<${address}>`);
      await smtp.command('DATA');
      expect(code(await smtp.command('Subject: crash me\r\n\r\nbody\r\n.'))).toBe(250);
      smtp.close();

      await arrived;
      first.child.kill('SIGKILL');
      await first.exited;
      release();

      const second = await spawnServer(env);
      try {
        const deadline = Date.now() + 15_000;
        while (receiver.received.length < 2 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(receiver.received.length).toBeGreaterThanOrEqual(2);
        const [before, after] = receiver.received;
        expect(after?.headers['webhook-id']).toBe(before?.headers['webhook-id']);
        expect(JSON.parse(after?.body ?? '{}').data.message.subject).toBe('crash me');
      } finally {
        second.child.kill('SIGTERM');
        await second.exited;
      }
    } finally {
      release();
      await receiver.close();
    }
  });
});
