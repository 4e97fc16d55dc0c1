import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BACKSTOP_CHECKPOINT_FRAMES,
  scheduleWalCheckpoints,
  WRITER_CHECKPOINT_FRAMES,
  type CheckpointRunner,
} from '../../server/db/checkpoint-schedule.js';
import type { Db } from '../../server/db/open.js';
import { checkpointWal } from '../../server/db/wal-checkpoint.js';
import { migratedDatabase, type MigratedDatabase } from '../harness/database.js';
import { captureLogs } from '../harness/logs.js';
import { startTestServer, type TestServer } from '../harness/server.js';
import { until } from '../harness/wait.js';
import { walIndex } from '../harness/wal-index.js';

const writerThreshold = (db: Db) => db.pragma('wal_autocheckpoint', { simple: true }) as number;

describe('WAL checkpoints on a worker thread', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('a worker copies what the server commits into the database file, the writer keeping only a backstop', async () => {
    server = await startTestServer({ workerThreads: 1, dbCheckpointInterval: 5 });
    const file = join(server.dataDir, 'loftbox.db');
    const { key } = await server.mailbox('ckpt');
    for (let i = 0; i < 5; i += 1) {
      const made = await server.api('POST', '/v1/agents', { key, body: { name: `agent ${i}` } });
      expect(made.status).toBe(201);
    }
    expect(writerThreshold(server.deps.db)).toBe(BACKSTOP_CHECKPOINT_FRAMES);
    // Far fewer frames than the writer's backstop: only the worker copies them.
    expect(walIndex(file).frames).toBeLessThan(BACKSTOP_CHECKPOINT_FRAMES);
    await until(() => {
      const wal = walIndex(file);
      return wal.frames > 0 && wal.copied === wal.frames;
    }, 'the log copied whole');
  });

  it('with no worker threads the writer checkpoints, as SQLite does by default', async () => {
    server = await startTestServer({ workerThreads: 0, dbCheckpointInterval: 5 });
    expect(writerThreshold(server.deps.db)).toBe(WRITER_CHECKPOINT_FRAMES);
  });
});

describe('the checkpoint schedule', () => {
  let store: MigratedDatabase | undefined;
  afterEach(() => {
    store?.remove();
    store = undefined;
  });

  function database(): { db: Db; file: string } {
    store = migratedDatabase('loftbox-ckpt-');
    store.db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    return { db: store.db, file: store.db.name };
  }

  const write = (target: Db, rows: number) => {
    const insert = target.prepare('INSERT INTO notes (body) VALUES (?)');
    for (let i = 0; i < rows; i += 1) insert.run('x'.repeat(2000));
  };

  it('hands checkpoints back to the writer while the worker fails, and takes them again when it recovers', async () => {
    const { db: target, file } = database();
    const { log, lines } = captureLogs();
    let failing = true;
    const runner: CheckpointRunner = {
      checkpointWal: (path) =>
        failing ? Promise.reject(new Error('the worker is gone')) : Promise.resolve(checkpointWal(path)),
    };
    const schedule = scheduleWalCheckpoints({ db: target, file, runner, intervalMs: 5, log });
    try {
      write(target, 20);
      await until(() => lines.some((l) => l.event === 'db.checkpoint_failed'), 'the failure logged');
      expect(writerThreshold(target)).toBe(WRITER_CHECKPOINT_FRAMES);
      expect(walIndex(file).copied).toBe(0);
      // Failing again does not log again.
      write(target, 1);
      await until(() => writerThreshold(target) === WRITER_CHECKPOINT_FRAMES, 'still the writer');
      failing = false;
      await until(() => lines.some((l) => l.event === 'db.checkpoint_resumed'), 'the worker resumed');
      expect(writerThreshold(target)).toBe(BACKSTOP_CHECKPOINT_FRAMES);
      await until(() => {
        const wal = walIndex(file);
        return wal.frames > 0 && wal.copied === wal.frames;
      }, 'the log copied whole');
      expect(lines.filter((l) => l.event === 'db.checkpoint_failed')).toHaveLength(1);
    } finally {
      await schedule.stop();
    }
  });

  it('gives checkpoints to the writer for good when no worker can take them', async () => {
    const { db: target, file } = database();
    const { log, lines } = captureLogs();
    const runner: CheckpointRunner = { checkpointWal: () => Promise.resolve(null) };
    const schedule = scheduleWalCheckpoints({ db: target, file, runner, intervalMs: 5, log });
    try {
      expect(writerThreshold(target)).toBe(BACKSTOP_CHECKPOINT_FRAMES);
      write(target, 1);
      await until(() => lines.some((l) => l.event === 'db.checkpoint_on_writer'), 'the hand-back logged');
      expect(writerThreshold(target)).toBe(WRITER_CHECKPOINT_FRAMES);
    } finally {
      await schedule.stop();
    }
  });

  it('asks for no checkpoint while nothing new is committed', async () => {
    const { db: target, file } = database();
    const { log } = captureLogs();
    // Each pass of the schedule reads total_changes(); counting those reads counts the passes.
    let passes = 0;
    const prepare = target.prepare.bind(target);
    target.prepare = ((sql: string) => {
      if (sql.includes('total_changes()')) passes += 1;
      return prepare(sql);
    }) as typeof target.prepare;
    let asked = 0;
    const runner: CheckpointRunner = {
      checkpointWal: (path) => {
        asked += 1;
        return Promise.resolve(checkpointWal(path));
      },
    };
    const schedule = scheduleWalCheckpoints({ db: target, file, runner, intervalMs: 1, log });
    try {
      write(target, 3);
      await until(() => {
        const wal = walIndex(file);
        return wal.frames > 0 && wal.copied === wal.frames;
      }, 'the log copied whole');
      const askedBefore = asked;
      const passesBefore = passes;
      await until(() => passes >= passesBefore + 5, 'five more passes');
      expect(asked).toBe(askedBefore);
      write(target, 1);
      await until(() => asked > askedBefore, 'a checkpoint for the new write');
    } finally {
      await schedule.stop();
    }
  });
});
