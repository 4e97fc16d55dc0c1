import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsServer, type DnsZoneServer } from '../harness/dns.js';
import type { Json } from '../harness/server.js';
import { code, RawSmtp } from '../harness/smtp.js';
import { spawnServer } from '../harness/spawn.js';
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

async function json(url: string, init: { key?: string; body?: unknown } = {}): Promise<Json> {
  const res = await fetch(url, {
    method: init.body ? 'POST' : 'GET',
    headers: {
      ...(init.body ? { 'content-type': 'application/json' } : {}),
      ...(init.key ? { authorization: `Bearer ${init.key}` } : {}),
    },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  return res.json();
}

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
      const email = 'owner@hook-kill.test';
      await json(`${first.url}/v1/auth/signup`, { body: { email, organization_name: 'Hook kill' } });
      const verification = await first.waitFor(/verification code for owner@hook-kill\.test: (\d{6})/);
      const { api_key: key } = await json(`${first.url}/v1/auth/signup/verify`, {
        body: { email, verification_token: verification[1] },
      });
      const agent = await json(`${first.url}/v1/agents`, { key, body: { name: 'Hooked' } });
      const mailbox = await json(`${first.url}/v1/agents/${agent.id}/mailboxes`, {
        key,
        body: { local_part: 'hooked' },
      });
      await json(`${first.url}/v1/agents/${agent.id}/webhooks`, {
        key,
        body: { url: `${receiver.url}/hook`, event_types: ['message.inbound'] },
      });

      const smtp = await RawSmtp.open(smtpPort);
      await smtp.command('EHLO client.test');
      await smtp.command('MAIL FROM:<someone@outside.test>');
      await smtp.command(`RCPT TO:<${mailbox.address}>`);
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
