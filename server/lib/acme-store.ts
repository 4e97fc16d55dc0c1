import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** The ACME account key and the certificate it obtained, in `<dataDir>/acme/` (directory 0700, files 0600). */
export interface AcmePaths {
  dir: string;
  accountKey: string;
  cert: string;
  key: string;
}

export function acmePaths(dataDir: string): AcmePaths {
  const dir = join(dataDir, 'acme');
  return {
    dir,
    accountKey: join(dir, 'account.key'),
    cert: join(dir, 'cert.pem'),
    key: join(dir, 'key.pem'),
  };
}

export function prepareAcmeDir(paths: AcmePaths): void {
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  chmodSync(paths.dir, 0o700);
}

/** The obtained pair, or null before the first issuance. */
export function readAcmePair(paths: AcmePaths): { cert: string; key: string } | null {
  if (!existsSync(paths.cert) || !existsSync(paths.key)) return null;
  return { cert: readFileSync(paths.cert, 'utf8'), key: readFileSync(paths.key, 'utf8') };
}

/**
 * Written to a temporary file, flushed and renamed over the old one, so a reader (or a crash) sees the
 * old file or the new one, never half of one. Mode 0600 whatever the umask.
 */
export function writeFileAtomic(file: string, data: string | Buffer): void {
  const temp = `${file}.${process.pid}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(temp, 0o600);
  renameSync(temp, file);
}

/** The key first: a crash between the two renames leaves a pair that fails to load and is re-ordered. */
export function writeAcmePair(paths: AcmePaths, pair: { cert: string; key: string }): void {
  prepareAcmeDir(paths);
  writeFileAtomic(paths.key, pair.key);
  writeFileAtomic(paths.cert, pair.cert);
}
