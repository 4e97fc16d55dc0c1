import Database from 'better-sqlite3';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, type SpawnedServer } from '../harness/spawn.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'loftbox-faults-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function stop(server: SpawnedServer): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  await server.exited;
}

describe('a server process and faults nothing caught', () => {
  it('keeps serving while another process holds the database lock, and logs what failed', async () => {
    const dataDir = join(dir, 'locked');
    const server = await spawnServer({ LOFTBOX_DATA_DIR: dataDir });
    const locker = new Database(join(dataDir, 'loftbox.db'));
    try {
      // Every background write now waits out the busy timeout and fails with SQLITE_BUSY: the delivery
      // queue's lease is one (the webhook dispatcher, with no job waiting, does not write at all).
      locker.exec('BEGIN IMMEDIATE');
      await server.waitFor(/"event":"worker\.failed","worker":"outbound"/, 45_000);
      locker.exec('ROLLBACK');
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(200);
      expect(server.child.exitCode).toBeNull();
    } finally {
      locker.close();
      await stop(server);
    }
  }, 90_000);

  it('logs a stray rejection and keeps serving; logs an uncaught exception and exits 1', async () => {
    const trigger = new URL('../fixtures/fault-trigger.mjs', import.meta.url).href;
    const faults = join(dir, 'faults');
    writeFileSync(faults, '');
    const server = await spawnServer({
      LOFTBOX_DATA_DIR: join(dir, 'policy'),
      LOFTBOX_TEST_FAULT_FILE: faults,
      NODE_OPTIONS: `--import=${trigger}`,
    });
    try {
      appendFileSync(faults, 'reject\n');
      await server.waitFor(
        /"event":"process\.unhandled_rejection".*stray rejection raised by the test/,
        30_000,
      );
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(200);

      appendFileSync(faults, 'throw\n');
      await server.waitFor(
        /"event":"process\.uncaught_exception".*uncaught exception raised by the test/,
        30_000,
      );
      expect((await server.exited).code).toBe(1);
    } finally {
      await stop(server);
    }
  }, 90_000);
});
