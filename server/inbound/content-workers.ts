import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import { degradedFindings, examineContent, type ContentFindings } from './content.js';
import { asBuffer, type ExamineTask } from './content-tasks.js';

/**
 * The CPU-heavy, independent steps of the inbound pipeline (DESIGN §8), run on worker threads so the
 * event loop that answers SMTP and HTTP and commits to SQLite does not wait for them; with no workers
 * they run on the calling thread. Composing and DKIM-signing outbound mail stay on the main thread: moved
 * here they made API sends slower on the 2-core machine, because each finished send then arrived on a
 * turn of its own and committed alone (bench/PROFILE.md).
 */
export interface WorkerPool {
  /** Inbound: parse, extract the reply, score injection risk, classify automation (content.ts). */
  examine(raw: Buffer, envelopeFrom: string, id: string): Promise<ContentFindings>;
  /** Ends the workers; a task still running rejects. */
  close(): Promise<void>;
}

export interface PoolOptions {
  /** Worker threads; 0 runs every task on the calling thread. */
  workers: number;
  /** The inbound parse's own deadline, kept inside the task (content.ts). */
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

/** A worker stopped because it was still on one task past the hang backstop. */
class WorkerHung extends Error {
  constructor(ms: number) {
    super(`the worker was still on the task after ${ms} ms and was stopped`);
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
 * Under the test runner the server runs from TypeScript source, so the workers load content-tasks.ts
 * through tsx (content-tasks-from-source.mjs); the build bundles it beside the server as
 * content-workers.mjs.
 */
function workerModule(): WorkerModule {
  const fromSource = import.meta.url.endsWith('.ts');
  return {
    filename: new URL(
      fromSource ? './content-tasks-from-source.mjs' : './content-workers.mjs',
      import.meta.url,
    ).href,
  };
}

export function workerPool(options: PoolOptions): WorkerPool {
  if (options.workers === 0) {
    return {
      examine: (raw, envelopeFrom) => examineContent(raw, envelopeFrom, options.parseDeadlineMs),
      close: () => Promise.resolve(),
    };
  }
  return new ThreadPool(options);
}

/** Tasks are messages, or null for the warm-up (content-tasks.ts `warmUp`), which returns nothing. */
type Task = ExamineTask | null;
type Result = ContentFindings | undefined;

class ThreadPool implements WorkerPool {
  private readonly pool: Piscina<Task, Result>;
  private closed = false;

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
    });
    // Errors a worker raises outside any task (its module failing to load, for one) come to the pool;
    // unheard, they were an uncaught exception that stopped the server. Piscina replaces the worker; a
    // task waiting for it still fails or hits the hang backstop.
    this.pool.on('error', (err: unknown) => {
      if (!this.closed) options.log.error({ event: 'worker.error', err }, 'a worker thread failed');
    });
    for (let i = 0; i < options.workers; i++) {
      void this.pool.run(null, { name: 'warmUp' }).catch((err: unknown) => {
        if (!this.closed) {
          options.log.warn({ event: 'worker.warm_up_failed', err }, 'a worker thread failed to warm up');
        }
      });
    }
  }

  /** Examines on a worker, stopping the worker if it hangs; rejects when the task failed there. */
  private async run(task: ExamineTask): Promise<Result> {
    const abort = new AbortController();
    const hangMs = this.options.hangMs ?? this.options.parseDeadlineMs + HANG_GRACE_MS;
    const timer = setTimeout(() => abort.abort(), hangMs).unref();
    try {
      return await this.pool.run(task, { name: 'examine', signal: abort.signal });
    } catch (err) {
      throw abort.signal.aborted ? new WorkerHung(hangMs) : err;
    } finally {
      clearTimeout(timer);
    }
  }

  async examine(raw: Buffer, envelopeFrom: string, id: string): Promise<ContentFindings> {
    const task: ExamineTask = { raw, envelopeFrom, parseDeadlineMs: this.options.parseDeadlineMs };
    try {
      const findings = await this.run(task);
      if (!findings) throw new Error('the worker returned no findings');
      return revived(findings);
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

  async close(): Promise<void> {
    this.closed = true;
    await this.pool.destroy();
  }
}

/** Buffers cross the thread boundary as plain Uint8Arrays; the pipeline stores Buffers. */
function revived(findings: ContentFindings): ContentFindings {
  const attachments = findings.parsed.attachments.map((a) => ({
    ...a,
    content: asBuffer(a.content),
  }));
  return { ...findings, parsed: { ...findings.parsed, attachments } };
}
