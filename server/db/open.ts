import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { migrations } from './migrations/index.js';

export type Db = Database.Database;

const SQLITE_CACHE_KIB = 4096;

export interface OpenOptions {
  /** Milliseconds a writer waits for the lock before SQLITE_BUSY (answered as 503 / 451). */
  busyTimeoutMs?: number;
  readonly?: boolean;
}

/**
 * Opens the database with the pragmas our durability promise rests on: WAL with synchronous=FULL, so
 * a commit is on disk (WAL fsynced) before we answer 201/250.
 */
export function openDatabase(file: string, options: OpenOptions = {}): Db {
  if (!options.readonly) restrictToOwner(file);
  const db = new Database(file, { readonly: options.readonly ?? false });
  db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    for (const sidecar of [`${file}-wal`, `${file}-shm`]) {
      if (existsSync(sidecar)) chmodSync(sidecar, 0o600);
    }
  }
  db.pragma('foreign_keys = ON');
  // SQLite's page cache for this connection, in KiB: better-sqlite3 compiles in 16 MB. The pages it
  // would hold are in the kernel's page cache too, so a smaller one costs a copy, not a disk read: the
  // store-scale reads at 1,000,000 messages and inbound throughput measured the same with 4 MB, and each
  // server holds 12 MB less, pinned by the cache's pages among malloc's (bench/PROFILE.md, memory).
  db.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
  // Every stored message, send and accepted unit runs in a savepoint, and SQLite keeps a copy of each
  // page a savepoint changes in a statement journal that spills to a temporary file past 64 KiB: about
  // 90 write calls and 200 kB per inbound message, more than the WAL itself. Held in memory, it is freed
  // as each savepoint is released. Nothing large lands in the temporary store instead: we run no VACUUM,
  // create no temporary tables, and the retention sweeps look rows up by index rather than listing a
  // whole table (migration 0022; bench/PROFILE.md, the statement journal).
  db.pragma('temp_store = MEMORY');
  cacheStatements(db);
  return db;
}

/**
 * The database file is created 0600 before SQLite opens it, whatever the umask: SQLite gives the -wal
 * and -shm files it creates the database file's permissions, and sidecars left by an older start are
 * tightened after the open.
 */
export function restrictToOwner(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
}

/**
 * Repositories call `db.prepare(sql)` where they use it; compiling SQL on every call showed up as a
 * tenth of the inbound pipeline's CPU, so each distinct SQL text is compiled once per connection.
 */
function cacheStatements(db: Db): void {
  const compile = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let statement = cache.get(sql);
    if (!statement) {
      statement = compile(sql);
      cache.set(sql, statement);
    }
    return statement;
  }) as typeof db.prepare;
}

export function migrate(db: Db): number[] {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map(
      (r) => r.version,
    ),
  );
  const ran: number[] = [];
  for (const migration of migrations) {
    if (applied.has(migration.version)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        new Date().toISOString(),
      );
    })();
    ran.push(migration.version);
  }
  return ran;
}
