import { afterEach, beforeEach, expect, it } from 'vitest';
import { migratedDatabase, type MigratedDatabase } from '../harness/database.js';

let store: MigratedDatabase;
beforeEach(() => {
  store = migratedDatabase('loftbox-pragmas-');
});
afterEach(() => store.remove());

it('opens the database the way the durability promise and the memory budget need', () => {
  const { db } = store;
  const pragma = (name: string) => db.pragma(name, { simple: true });
  // A 250/201 is on disk: the WAL is fsynced at every commit (DESIGN §6).
  expect(pragma('journal_mode')).toBe('wal');
  expect(pragma('synchronous')).toBe(2);
  expect(pragma('foreign_keys')).toBe(1);
  // 4 MiB of page cache, not better-sqlite3's 16 MB (bench/PROFILE.md, memory); negative means KiB.
  expect(pragma('cache_size')).toBe(-4096);
  // Savepoints' statement journals in memory, not spilled to a temporary file (bench/PROFILE.md).
  expect(pragma('temp_store')).toBe(2);
});
