import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsServer, type DnsZoneServer } from '../harness/dns.js';
import { startFakeMx, type FakeMx } from '../harness/fake-mx.js';
import { apiJson, onboard, spawnServer } from '../harness/spawn.js';

let dir: string;
let dns: DnsZoneServer;
let mx: FakeMx;
let releaseHeld: () => void = () => {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loftbox-kill-out-'));
  dns = await startDnsServer({
    'dest.test': { MX: [{ exchange: 'mx.dest.test', priority: 10 }] },
    'mx.dest.test': { A: ['127.0.0.1'] },
  });
  mx = await startFakeMx();
});
afterAll(async () => {
  releaseHeld();
  await mx.close();
  await dns.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('delivery across a crash', () => {
  it('delivers after kill -9 mid-delivery, with the same Message-ID, without waiting for the lease', async () => {
    const env = {
      LOFTBOX_DATA_DIR: join(dir, 'data'),
      LOFTBOX_DEV: '1',
      LOFTBOX_DNS_SERVERS: dns.server,
      LOFTBOX_DELIVERY: 'direct',
      LOFTBOX_OUTBOUND_PORT: String(mx.port),
      LOFTBOX_OUTBOUND_ALLOW: '127.0.0.0/8',
      // Start-up reclaims the dead process's leases at once: with an hour-long lease the test only
      // passes if the restarted server does not wait for the lease to run out.
      LOFTBOX_DELIVERY_LEASE: '1h',
      LOFTBOX_QUEUE_POLL: '100ms',
      LOFTBOX_RETRY_SCHEDULE: '100ms',
    };
    // The first DATA is answered only after the server is dead: it dies mid-delivery.
    let dataSeen: () => void = () => {};
    const firstData = new Promise<void>((resolve) => (dataSeen = resolve));
    const held = new Promise<null>((resolve) => (releaseHeld = () => resolve(null)));
    mx.playbook = {
      data: (_raw, attempt) => {
        if (attempt !== 1) return null;
        dataSeen();
        return held;
      },
    };
    const first = await spawnServer(env);
    const { key, mailboxId } = await onboard(first, { email: 'owner@outbound-kill.test', localPart: 'out' });
    const sent = await apiJson(`${first.url}/v1/messages`, {
      key,
      body: {
        mailbox_id: mailboxId,
        to: ['someone@dest.test'],
        subject: 'Survive a crash',
        body_text: 'still here',
      },
    });
    expect(sent.status).toBe('queued');
    await firstData;
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    releaseHeld();

    const second = await spawnServer(env);
    try {
      const deadline = Date.now() + 20_000;
      let status = '';
      while (Date.now() < deadline && status !== 'delivered') {
        status = (await apiJson(`${second.url}/v1/messages/${sent.id}`, { key })).status;
        if (status !== 'delivered') await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(status).toBe('delivered');
      // At least once: the MX may also keep the first copy, whose reply the dead server never read
      // (TESTPLAN D7). Every copy carries the same Message-ID, so the recipient can tell.
      expect(mx.attempts).toBe(2);
      expect(mx.received.length).toBeGreaterThanOrEqual(1);
      expect(mx.received.length).toBeLessThanOrEqual(2);
      for (const copy of mx.received) {
        expect(copy.raw.toString()).toContain(`Message-ID: ${sent.message_id_header}`);
      }
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
