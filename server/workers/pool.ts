import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import { composeSigned } from '../outbound/compose-signed.js';
import type { Composition, MessageComposer, SigningKey } from '../seams.js';
import {
  degradedFindings,
  examineContent,
  type ContentExaminer,
  type ContentFindings,
} from '../inbound/content.js';
import type { WalCheckpoint } from '../db/wal-checkpoint.js';
import {
  asBuffer,
  RUNNING_ON,
  STARTED_AT,
  wallMs,
  type CheckpointTask,
  type ComposeTask,
  type ExamineTask,
} from './tasks.js';

/**
 * The CPU-heavy, independent steps of the mail pipelines (DESIGN §8), run on worker threads so the
 * event loop that answers SMTP and HTTP and commits to SQLite does not wait for them; with no workers
 * they run on the calling thread: examining inbound mail, composing and signing outbound mail.
 */
export interface WorkerPool extends ContentExaminer, MessageComposer {
  /**
   * Checkpoints a database's write-ahead log on a worker (db/wal-checkpoint.ts); null when no worker can
   * take it, and the writer's connection should checkpoint as SQLite does by default.
   */
  checkpointWal(file: string): Promise<WalCheckpoint | null>;
  /** Ends the workers; a task still running rejects. */
  close(): Promise<void>;
}

export interface PoolOptions {
  /** Worker threads; 0 runs every task on the calling thread. */
  workers: number;
  /** The inbound parse's own deadline, kept inside the task (inbound/content.ts). */
  parseDeadlineMs: number;
  log: Logger;
  /**
   * Past this a worker still on one task is stopped: a backstop for a worker that hangs, not a
   * schedule. Default: the parse deadline plus a minute, which also covers a worker's start.
   */
  hangMs?: number;
  /** The workers' module; tests give one that fails on purpose. */
  module?: WorkerModule;
}

interface WorkerModule {
  filename: string;
}

const HANG_GRACE_MS = 60_000;
/**
 * Tasks posted to one worker before it has finished the first. The worker then goes from one message to
 * the next on its own; with one task at a time it sat idle after each until the main thread, busy
 * committing a batch, got round to posting the next (bench/PROFILE.md, the pipeline stall). The
 * inbound queue's byte budget bounds what these messages can hold in memory.
 */
const TASKS_PER_WORKER = 16;

/** A task past the hang backstop: its worker was stopped, or no worker ever started it. */
class WorkerHung extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerHung';
  }
}
/** One hostile message may exhaust a worker's heap, never the server's. */
const WORKER_HEAP_MB = 512;
/**
 * A worker's young generation. V8's default (three 16 MB semi-spaces at full size) is sized for
 * allocation-heavy single-threaded programs; a worker's objects are one message's parse and die with its
 * task, so a small nursery collects them as well, and the default's growth under load was tens of MB of
 * resident memory per worker (bench/PROFILE.md, memory).
 */
const WORKER_YOUNG_GENERATION_MB = 8;

/**
 * Under the test runner the server runs from TypeScript source, so the workers load tasks.ts through tsx
 * (tasks-from-source.mjs); the build bundles it beside the server as workers.mjs.
 */
function workerModule(): WorkerModule {
  const fromSource = import.meta.url.endsWith('.ts');
  return {
    filename: new URL(fromSource ? './tasks-from-source.mjs' : './workers.mjs', import.meta.url).href,
  };
}

export function workerPool(options: PoolOptions): WorkerPool {
  if (options.workers === 0) {
    return {
      examine: (raw, envelopeFrom) => examineContent(raw, envelopeFrom, options.parseDeadlineMs),
      composeSigned,
      checkpointWal: () => Promise.resolve(null),
      close: () => Promise.resolve(),
    };
  }
  return new ThreadPool(options);
}

/** Tasks are messages, or null for the warm-up (tasks.ts `warmUp`), which returns nothing. */
type Task = ExamineTask | ComposeTask | CheckpointTask | null;
type Result = ContentFindings | Uint8Array | WalCheckpoint | undefined;
/** A task as the pool is given it; `progress` is added per attempt. */
type Work =
  | { name: 'examine'; task: Omit<ExamineTask, 'progress'> }
  | { name: 'composeSigned'; task: Omit<ComposeTask, 'progress'> }
  | { name: 'checkpoint'; task: Omit<CheckpointTask, 'progress'> };

class ThreadPool implements WorkerPool {
  private readonly pool: Piscina<Task, Result>;
  private closed = false;
  /** Settles when every worker has warmed up or failed to; messages wait for it, not beside it. */
  private readonly ready: Promise<void>;
  /** Set when no worker could warm up: mail is then examined and composed on the main thread. */
  private inline = false;
  /** Workers the watchdog has stopped: a task failing after one may have been on it. */
  private stops = 0;

  constructor(private readonly options: PoolOptions) {
    this.pool = new Piscina({
      ...(options.module ?? workerModule()),
      // Started with the server and kept: a worker's start (loading the parser and the scorer) would
      // otherwise be paid by the first message after every quiet spell, and by all queued behind it.
      minThreads: options.workers,
      maxThreads: options.workers,
      resourceLimits: {
        maxOldGenerationSizeMb: WORKER_HEAP_MB,
        maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB,
      },
      recordTiming: false,
      // Piscina posts a task with an AbortSignal only to an otherwise idle worker, so the hang backstop
      // is the watchdog below, not a signal.
      concurrentTasksPerWorker: TASKS_PER_WORKER,
    });
    // Errors a worker raises outside any task (its module failing to load, for one) come to the pool;
    // unheard, they were an uncaught exception that stopped the server. Piscina replaces the worker; a
    // task waiting for it still fails or hits the hang backstop.
    this.pool.on('error', (err: unknown) => {
      if (!this.closed) options.log.error({ event: 'worker.error', err }, 'a worker thread failed');
    });
    const warmUps = Array.from({ length: options.workers }, () => this.pool.run(null, { name: 'warmUp' }));
    this.ready = Promise.allSettled(warmUps).then((settled) => {
      const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (this.closed || failures.length === 0) return;
      // A worker that cannot examine the made-up message (its module missing from a broken install, say)
      // will not take real work either: each task would fail there, or wait for a worker that never starts.
      if (failures.length === settled.length) this.inline = true;
      options.log.error(
        { event: this.inline ? 'worker.unavailable' : 'worker.warm_up_failed', err: failures[0]?.reason },
        this.inline
          ? 'worker threads cannot start; examining and composing mail on the main thread'
          : 'a worker thread failed to warm up',
      );
    });
  }

  /**
   * Runs a task on a worker; rejects when it failed there or hung. A task that ran past the hang
   * backstop has its worker stopped (Piscina starts another), and the tasks that were waiting on that
   * worker through no fault of their own are run once more.
   */
  private async run(work: Work, retried = false): Promise<Result> {
    const stopsBefore = this.stops;
    const progress = new BigInt64Array(new SharedArrayBuffer(2 * BigInt64Array.BYTES_PER_ELEMENT));
    try {
      const running = this.pool.run({ ...work.task, progress }, { name: work.name });
      return await this.watched(running, progress);
    } catch (err) {
      const bystander = !(err instanceof WorkerHung) && this.stops > stopsBefore && !this.closed;
      if (bystander && !retried) return this.run(work, true);
      throw err;
    }
  }

  private watched(running: Promise<Result>, progress: BigInt64Array): Promise<Result> {
    const hangMs = this.options.hangMs ?? this.options.parseDeadlineMs + HANG_GRACE_MS;
    return new Promise<Result>((resolve, reject) => {
      const posted = wallMs();
      const check = () => {
        const thread = Number(Atomics.load(progress, RUNNING_ON));
        if (thread === 0) {
          // Still waiting on a worker behind another task. If that one hangs, its own check stops the
          // worker first and this one is run again; only a task no worker takes in twice the backstop
          // is given up.
          if (wallMs() - posted < 2 * hangMs) timer = setTimeout(check, hangMs).unref();
          else reject(new WorkerHung(`no worker started the task in ${2 * hangMs} ms`));
          return;
        }
        const left = Number(Atomics.load(progress, STARTED_AT)) + hangMs - wallMs();
        if (left > 0) {
          timer = setTimeout(check, left).unref();
          return;
        }
        // The task fails when its worker is gone, so the next one cannot be handed to that worker.
        hung = true;
        this.stop(thread);
      };
      let hung = false;
      let timer = setTimeout(check, hangMs).unref();
      running
        .then(resolve, (err: unknown) =>
          reject(
            hung
              ? new WorkerHung(`the worker was still on the task after ${hangMs} ms and was stopped`)
              : err,
          ),
        )
        .finally(() => clearTimeout(timer));
    });
  }

  /** Stops a worker stuck on a task; the tasks it held fail and Piscina replaces it. */
  private stop(thread: number): void {
    const worker = this.pool.threads.find((w) => w.threadId === thread);
    if (!worker) return;
    this.stops += 1;
    this.options.log.warn({ event: 'worker.stopped', thread }, 'stopped a worker thread stuck on a task');
    void worker.terminate();
  }

  async examine(raw: Buffer, envelopeFrom: string, id: string): Promise<ContentFindings> {
    await this.ready;
    if (this.inline) return examineContent(raw, envelopeFrom, this.options.parseDeadlineMs);
    try {
      const task = { raw, envelopeFrom, parseDeadlineMs: this.options.parseDeadlineMs };
      const found = await this.run({ name: 'examine', task });
      if (!found || found instanceof Uint8Array || isCheckpoint(found)) {
        throw new Error('the worker returned no findings');
      }
      return revived(found);
    } catch (err) {
      if (this.closed) throw err;
      // A worker that crashed, ran out of heap or time on this message: the message is still stored,
      // read directly and scored, and flagged degraded like one the parser could not read.
      this.options.log.warn(
        { event: 'inbound.examine_failed', inbound_id: id, timed_out: err instanceof WorkerHung, err },
        'examining the message on a worker failed; storing it from the direct reading',
      );
      return degradedFindings(raw, envelopeFrom);
    }
  }

  /**
   * The same bytes as composing here. Should the worker fail, the message is composed here: a failure
   * that is the message's own (a header nodemailer refuses) then fails here too, and only that is thrown.
   */
  async composeSigned(message: Composition, key: SigningKey): Promise<Buffer> {
    await this.ready;
    if (this.inline) return composeSigned(message, key);
    try {
      const raw = await this.run({ name: 'composeSigned', task: { message, key } });
      if (!(raw instanceof Uint8Array)) throw new Error('the worker returned no message');
      return asBuffer(raw);
    } catch (err) {
      if (this.closed) throw err;
      const raw = await composeSigned(message, key);
      this.options.log.warn(
        { event: 'outbound.compose_failed', timed_out: err instanceof WorkerHung, err },
        'composing the message on a worker failed; composed it on the main thread',
      );
      return raw;
    }
  }

  async checkpointWal(file: string): Promise<WalCheckpoint | null> {
    await this.ready;
    if (this.inline) return null;
    const done = await this.run({ name: 'checkpoint', task: { file } });
    if (!isCheckpoint(done)) throw new Error('the worker returned no checkpoint');
    return done;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool.destroy();
  }
}

/** A task's result is a checkpoint's when it counts frames (the other results are findings or bytes). */
function isCheckpoint(result: Result): result is WalCheckpoint {
  return typeof result === 'object' && !(result instanceof Uint8Array) && 'walFrames' in result;
}

/** Buffers cross the thread boundary as plain Uint8Arrays; the pipeline stores Buffers. */
function revived(findings: ContentFindings): ContentFindings {
  const attachments = findings.parsed.attachments.map((a) => ({
    ...a,
    content: asBuffer(a.content),
  }));
  return { ...findings, parsed: { ...findings.parsed, attachments } };
}
