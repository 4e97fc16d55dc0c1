import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupDatabase } from '../../server/backup.js';
import { startTestServer, type TestServer } from '../harness/server.js';

const mode = (path: string) => statSync(path).mode & 0o777;

let parent: string;
let dataDir: string;
let server: TestServer;
let previousUmask: number;

beforeAll(async () => {
  parent = mkdtempSync(join(tmpdir(), 'loftbox-modes-'));
  dataDir = join(parent, 'data');
  // A permissive umask and a world-writable data directory left by an earlier setup.
  previousUmask = process.umask(0);
  mkdirSync(dataDir, { mode: 0o777 });
  chmodSync(dataDir, 0o777);
  server = await startTestServer({ dataDir });
  await server.signupOrg();
});
afterAll(async () => {
  await server.close();
  process.umask(previousUmask);
  rmSync(parent, { recursive: true, force: true });
});

describe('data directory permissions, whatever the umask', () => {
  it('makes the data directory 0700', () => {
    expect(mode(dataDir).toString(8)).toBe('700');
  });

  it('makes the database, its WAL and shared-memory files, the secret and the TLS key 0600', () => {
    const files = ['loftbox.db', 'loftbox.db-wal', 'loftbox.db-shm', 'server.secret', 'tls/self-signed.key'];
    expect(readdirSync(dataDir)).toEqual(expect.arrayContaining(['loftbox.db-wal', 'loftbox.db-shm']));
    for (const file of files) expect(mode(join(dataDir, file)).toString(8), file).toBe('600');
    expect(mode(join(dataDir, 'tls')).toString(8)).toBe('700');
  });

  it('writes backups 0600', async () => {
    const target = join(parent, 'backup.db');
    await backupDatabase(dataDir, target);
    expect(mode(target).toString(8)).toBe('600');
  });
});
