import type { Db } from './open.js';

/**
 * Why the database refused a write when the request itself was fine: another writer holds the lock
 * (busy), no room for new pages (full), or the file cannot be written at all (unavailable). Each means
 * "try again later" — SMTP 451, HTTP 503 — never "this input is wrong".
 */
export type StorageFault = 'busy' | 'full' | 'unavailable';

export function storageFault(err: unknown): StorageFault | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  if (/^SQLITE_(BUSY|LOCKED)/.test(code)) return 'busy';
  if (code === 'SQLITE_FULL') return 'full';
  if (/^SQLITE_(IOERR|READONLY|CANTOPEN|PROTOCOL)/.test(code)) return 'unavailable';
  return null;
}

/**
 * Whether a write could start now, without waiting: takes and drops the write lock, and checks that
 * the page limit leaves room. Cheap enough for a health check; never holds the lock across an await.
 */
export function canWrite(db: Db): boolean {
  const busyTimeout = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma('busy_timeout = 0');
  try {
    db.exec('BEGIN IMMEDIATE');
    db.exec('ROLLBACK');
  } catch {
    return false;
  } finally {
    db.pragma(`busy_timeout = ${busyTimeout}`);
  }
  const pages = db.pragma('page_count', { simple: true }) as number;
  const limit = db.pragma('max_page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  return pages < limit || free > 0;
}
