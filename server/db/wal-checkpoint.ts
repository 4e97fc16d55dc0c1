import Database from 'better-sqlite3';

/** What one PASSIVE checkpoint found and did, in WAL frames (pages). */
export interface WalCheckpoint {
  /** Another checkpoint held the lock, so this one copied nothing. */
  busy: boolean;
  /** Frames in the write-ahead log. */
  walFrames: number;
  /** Of those, frames now copied into the database file (all of them when the log is checkpointed). */
  checkpointedFrames: number;
}

/**
 * The connection a worker thread checkpoints through, one per database file, kept for the thread's life.
 * It only ever checkpoints: its page cache stays small, and a checkpoint copies frames without it.
 */
const connections = new Map<string, Database.Database>();

function connection(file: string): Database.Database {
  let db = connections.get(file);
  if (!db) {
    db = new Database(file, { fileMustExist: true });
    // A checkpoint syncs the log before copying and the database file after (https://sqlite.org/wal.html
    // §Checkpointing): with FULL, as on the writer's connection, what it copies is durable before the log
    // can be reused.
    db.pragma('synchronous = FULL');
    db.pragma('cache_size = -256');
    connections.set(file, db);
  }
  return db;
}

/**
 * Copies what it can of the write-ahead log into the database file without waiting for readers or the
 * writer (PASSIVE, https://sqlite.org/c3ref/wal_checkpoint_v2.html). Run on a worker thread, the copying
 * and its two fsyncs no longer hold up the main thread's event loop after a commit.
 */
export function checkpointWal(file: string): WalCheckpoint {
  const [row] = connection(file).pragma('wal_checkpoint(PASSIVE)') as {
    busy: number;
    log: number;
    checkpointed: number;
  }[];
  return { busy: row?.busy === 1, walFrames: row?.log ?? 0, checkpointedFrames: row?.checkpointed ?? 0 };
}
