import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface DataDir {
  root: string;
  dbFile: string;
}

/**
 * The data directory holds every message, key and secret: only the server's user may enter it. The mode
 * is set, not requested, so neither the umask nor an older, looser directory decides it.
 */
export function prepareDataDir(dir: string): DataDir {
  const root = resolve(dir);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  chmodSync(root, 0o700);
  return { root, dbFile: join(root, 'loftbox.db') };
}

/** The server secret: 32 random bytes created on first start, readable only by the server's user. */
export function loadOrCreateSecret(root: string): Buffer {
  const file = join(root, 'server.secret');
  if (!existsSync(file)) {
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  const secret = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (secret.length < 32) throw new Error(`${file} is damaged: expected 32 bytes of base64`);
  return secret;
}
