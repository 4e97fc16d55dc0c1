import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openDatabase, type Db } from '../../server/db/open.js';

export interface MigratedDatabase {
  db: Db;
  /** Closes the database and deletes its directory. */
  remove(): void;
}

/** A SQLite file with the server's schema, opened as the server opens it, in a directory of its own. */
export function migratedDatabase(prefix: string): MigratedDatabase {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const db = openDatabase(join(dir, 'loftbox.db'));
  migrate(db);
  return {
    db,
    remove() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
