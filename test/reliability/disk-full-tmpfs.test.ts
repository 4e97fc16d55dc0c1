import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsServer, type DnsZoneServer } from '../harness/dns.js';
import { code, RawSmtp } from '../harness/smtp.js';
import { onboard, spawnServer, type SpawnedServer } from '../harness/spawn.js';

/**
 * TESTPLAN D4 with a real ENOSPC: the data directory on a small tmpfs that is filled up while a spawned
 * server runs. Needs root for `mount`; elsewhere it is skipped with a message (storage-faults.test.ts
 * covers SQLITE_FULL everywhere through max_page_count).
 */
let mountPoint: string;
let mounted = false;
let skipReason = '';
let dns: DnsZoneServer;

beforeAll(async () => {
  mountPoint = mkdtempSync(join(tmpdir(), 'loftbox-enospc-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mountPoint], { stdio: 'pipe' });
    mounted = true;
  } catch (err) {
    skipReason = `cannot mount a tmpfs (${(err as Error).message.split('\n')[0]})`;
  }
  dns = await startDnsServer();
});
afterAll(async () => {
  await dns.close();
  if (mounted) execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
  rmSync(mountPoint, { recursive: true, force: true });
});

/** Writes zeros until the filesystem refuses; returns the filler's path. */
function fillDisk(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return path;
}

async function mxSend(port: number, to: string, subject: string, bodyBytes: number): Promise<string> {
  const smtp = await RawSmtp.open(port);
  try {
    await smtp.command('EHLO client.test');
    await smtp.command('MAIL FROM:<someone@sender.test>');
    expect(code(await smtp.command(`RCPT TO:<${to}>`))).toBe(250);
    expect(code(await smtp.command('DATA'))).toBe(354);
    const line = `${'y'.repeat(76)}\r\n`;
    return await smtp.command(
      `Subject: ${subject}\r\n\r\n${line.repeat(Math.ceil(bodyBytes / line.length))}.`,
    );
  } finally {
    smtp.close();
  }
}

describe('disk full on a real filesystem (D4)', () => {
  it('answers 451/503 while the disk is full, stays up, and recovers when space returns', async (ctx) => {
    if (!mounted) {
      console.warn(`skipping the tmpfs ENOSPC test: ${skipReason}`);
      ctx.skip();
    }
    const dataDir = join(mountPoint, 'data');
    let server: SpawnedServer | null = null;
    try {
      server = await spawnServer({
        LOFTBOX_DATA_DIR: dataDir,
        LOFTBOX_DEV: '1',
        LOFTBOX_DNS_SERVERS: dns.server,
        LOFTBOX_JSON_BODY_LIMIT: '10000000',
      });
      const smtpPort = Number((await server.waitFor(/^listening smtp \S+:(\d+)$/m))[1]);
      const box = await onboard(server, { email: 'enospc@example.com', localPart: 'enospc' });
      // Larger than anything the WAL can reuse in place, so the commit has to grow a file.
      const big = statSync(join(dataDir, 'loftbox.db-wal')).size + 2 * 1024 * 1024;
      const filler = fillDisk(mountPoint);

      expect(await mxSend(smtpPort, box.address, 'while-full', big)).toMatch(/^451 4\.3\.\d /);
      const refused = await fetch(`${server.url}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${box.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          mailbox_id: box.mailboxId,
          to: ['someone@remote.test'],
          subject: 'api-while-full',
          body_text: 'z'.repeat(big),
        }),
      });
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(server.child.exitCode).toBeNull();

      unlinkSync(filler);
      expect(await mxSend(smtpPort, box.address, 'after-full', big)).toMatch(/^250 /);
      const inbox = async () =>
        (
          (await (
            await fetch(`${server?.url}/v1/mailboxes/${box.mailboxId}/inbox`, {
              headers: { authorization: `Bearer ${box.key}` },
            })
          ).json()) as { data: { subject: string }[] }
        ).data.map((m) => m.subject);
      const deadline = Date.now() + 15_000;
      let subjects = await inbox();
      while (!subjects.includes('after-full') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        subjects = await inbox();
      }
      expect(subjects).toEqual(['after-full']);
      expect(server.child.exitCode).toBeNull();
    } finally {
      if (server) {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    }
  });
});
