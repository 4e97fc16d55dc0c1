import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { openDatabase, restrictToOwner } from './db/open.js';
import { prepareDataDir } from './data-dir.js';

/**
 * SQLite online backup: consistent while the server keeps writing (WAL lets us read alongside it),
 * copying pages in steps so the writer is never blocked for long.
 */
export async function backupDatabase(
  dataDirPath: string,
  target: string,
): Promise<{ file: string; pages: number }> {
  const { dbFile } = prepareDataDir(dataDirPath);
  if (!existsSync(dbFile)) throw new Error(`no database at ${dbFile}`);
  const file = resolve(target);
  if (existsSync(file)) throw new Error(`${file} exists; refusing to overwrite it`);
  const db = openDatabase(dbFile);
  try {
    // The copy holds everything the live database does, so it gets the same owner-only mode.
    restrictToOwner(file);
    const result = await db.backup(file);
    return { file, pages: result.totalPages };
  } finally {
    db.close();
  }
}
