import type { Logger } from 'pino';
import type { Db } from './open.js';
import type { WalCheckpoint } from './wal-checkpoint.js';

/** SQLite's default: the writer checkpoints after any commit that leaves this many frames in the log. */
export const WRITER_CHECKPOINT_FRAMES = 1000;
/**
 * With a worker checkpointing, the writer's own checkpoint stays as a backstop at ten times that. The
 * log can only start over from its beginning when a write begins with every frame copied; a worker
 * copying beside a steady stream of commits may keep finding new frames, and the backstop then copies
 * the few left on the writer, between two commits, so the log stays bounded (about 40 MB).
 */
export const BACKSTOP_CHECKPOINT_FRAMES = 10_000;

export interface CheckpointRunner {
  /** Null when no worker can checkpoint (workers/pool.ts). */
  checkpointWal(file: string): Promise<WalCheckpoint | null>;
}

export interface CheckpointScheduleOptions {
  db: Db;
  file: string;
  runner: CheckpointRunner;
  /** How often to look for committed changes to copy; 0 leaves checkpoints to the writer. */
  intervalMs: number;
  log: Logger;
}

export interface WalCheckpoints {
  /** Stops scheduling and waits for a checkpoint in flight, before the workers and the database close. */
  stop(): Promise<void>;
}

/**
 * Moves checkpoints off the main thread. A checkpoint copies the pages committed to the write-ahead log
 * into the database file and fsyncs both; left to SQLite it runs on the connection that commits, inside
 * the commit, which is the event loop: 9 % of the main thread's time under inbound load, each one a
 * stall as long as copying 1,000 pages and two fsyncs take (bench/PROFILE.md, checkpoints). Here a
 * worker runs it whenever the writer has committed changes since the log was last copied whole.
 * Durability does not move: every commit is fsynced to the log before it is answered, as before.
 */
export function scheduleWalCheckpoints(options: CheckpointScheduleOptions): WalCheckpoints {
  const { db, file, runner, intervalMs, log } = options;
  if (intervalMs === 0) return { stop: () => Promise.resolve() };
  const writerThreshold = (frames: number) => db.pragma(`wal_autocheckpoint = ${frames}`);
  const changes = () => (db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  writerThreshold(BACKSTOP_CHECKPOINT_FRAMES);

  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> | null = null;
  /** total_changes() when the log was last found copied whole: nothing to do until it moves. */
  let copiedAt = -1;
  let failing = false;
  let last: WalCheckpoint | null = null;

  const schedule = (ms: number) => {
    if (stopped) return;
    const run = () => {
      timer = null;
      inFlight = pass()
        .catch((err: unknown) => {
          log.error({ event: 'db.checkpoint_schedule_failed', err }, 'checkpoint schedule failed; retrying');
          schedule(intervalMs);
        })
        .finally(() => (inFlight = null));
    };
    timer = setTimeout(run, ms);
    timer.unref();
  };

  const pass = async (): Promise<void> => {
    const seen = changes();
    if (seen === copiedAt) return schedule(intervalMs);
    let done: WalCheckpoint | null;
    try {
      done = await runner.checkpointWal(file);
    } catch (err) {
      if (!failing) {
        failing = true;
        writerThreshold(WRITER_CHECKPOINT_FRAMES);
        log.warn(
          { event: 'db.checkpoint_failed', err },
          'checkpointing on a worker failed; the writer checkpoints',
        );
      }
      return schedule(intervalMs);
    }
    if (done === null) {
      writerThreshold(WRITER_CHECKPOINT_FRAMES);
      log.info(
        { event: 'db.checkpoint_on_writer' },
        'no worker thread can checkpoint; the writer checkpoints',
      );
      return;
    }
    if (failing) {
      failing = false;
      writerThreshold(BACKSTOP_CHECKPOINT_FRAMES);
      log.info({ event: 'db.checkpoint_resumed' }, 'checkpointing on a worker again');
    }
    const whole = !done.busy && done.checkpointedFrames >= done.walFrames;
    if (whole) copiedAt = seen;
    // Frames copied and more left (committed while it copied): go on at once. Nothing copied (a reader
    // still on older frames, another checkpoint holding the lock): wait, rather than spin.
    schedule(!whole && copiedSince(last, done) > 0 ? 0 : intervalMs);
    last = done;
  };

  schedule(intervalMs);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight;
    },
  };
}

/** Frames this checkpoint copied that the one before had not: the log starts over after a whole copy. */
function copiedSince(before: WalCheckpoint | null, now: WalCheckpoint): number {
  const restarted =
    !before || now.walFrames < before.walFrames || now.checkpointedFrames < before.checkpointedFrames;
  return restarted ? now.checkpointedFrames : now.checkpointedFrames - before.checkpointedFrames;
}
