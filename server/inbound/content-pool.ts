import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import { degradedFindings, examineContent, type ContentFindings } from './content.js';
import type { ContentTask } from './content-worker.js';

/** Examines accepted messages (content.ts), on worker threads or, with no workers, on the calling thread. */
export interface ContentExaminer {
  examine(raw: Buffer, envelopeFrom: string, id: string): Promise<ContentFindings>;
  /** Ends the workers; an examination still running rejects. */
  close(): Promise<void>;
}

export interface ExaminerOptions {
  /** Worker threads; 0 examines on the calling thread. */
  workers: number;
  /** The parse's own deadline, kept inside the worker (content.ts). */
  parseDeadlineMs: number;
  log: Logger;
  /**
   * Past this a worker still on one message is stopped: a backstop for a worker that hangs, not a
   * schedule. Default: the parse deadline plus a minute, which also covers a worker's start.
   */
  hangMs?: number;
  /** The worker's module; tests give one that fails on purpose. */
  worker?: WorkerModule;
}

interface WorkerModule {
  filename: string;
  execArgv: string[];
}

const HANG_GRACE_MS = 60_000;
/** One hostile message may exhaust a worker's heap, never the server's. */
const WORKER_HEAP_MB = 512;

/**
 * Under the test runner the server runs from TypeScript source, so the worker loads its module the same
 * way (through tsx); the build bundles the worker beside the server as content-worker.mjs.
 */
function workerModule(): WorkerModule {
  const fromSource = import.meta.url.endsWith('.ts');
  return fromSource
    ? { filename: new URL('./content-worker.ts', import.meta.url).href, execArgv: ['--import', 'tsx'] }
    : { filename: new URL('./content-worker.mjs', import.meta.url).href, execArgv: [] };
}

export function contentExaminer(options: ExaminerOptions): ContentExaminer {
  if (options.workers === 0) {
    return {
      examine: (raw, envelopeFrom) => examineContent(raw, envelopeFrom, options.parseDeadlineMs),
      close: () => Promise.resolve(),
    };
  }
  return new WorkerExaminer(options);
}

class WorkerExaminer implements ContentExaminer {
  /** Tasks are messages, or null for the warm-up (content-worker.ts `warmUp`), which returns nothing. */
  private readonly pool: Piscina<ContentTask | null, ContentFindings | undefined>;
  private closed = false;

  constructor(private readonly options: ExaminerOptions) {
    this.pool = new Piscina({
      ...(options.worker ?? workerModule()),
      // Started with the server and kept: a worker's start (loading the parser and the scorer) would
      // otherwise be paid by the first message after every quiet spell, and by all queued behind it.
      minThreads: options.workers,
      maxThreads: options.workers,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
      recordTiming: false,
    });
    for (let i = 0; i < options.workers; i++) {
      void this.pool.run(null, { name: 'warmUp' }).catch((err: unknown) => {
        if (!this.closed)
          options.log.warn(
            { event: 'inbound.worker_warm_up_failed', err },
            'a content worker failed to warm up',
          );
      });
    }
  }

  async examine(raw: Buffer, envelopeFrom: string, id: string): Promise<ContentFindings> {
    const abort = new AbortController();
    const hangMs = this.options.hangMs ?? this.options.parseDeadlineMs + HANG_GRACE_MS;
    const timer = setTimeout(() => abort.abort(), hangMs).unref();
    try {
      const task: ContentTask = { raw, envelopeFrom, parseDeadlineMs: this.options.parseDeadlineMs };
      const findings = await this.pool.run(task, { signal: abort.signal });
      if (!findings) throw new Error('the content worker returned no findings');
      return revived(findings);
    } catch (err) {
      if (this.closed) throw err;
      // A worker that crashed, ran out of heap or time on this message: the message is still stored,
      // read directly and scored, and flagged degraded like one the parser could not read.
      this.options.log.warn(
        { event: 'inbound.examine_failed', inbound_id: id, timed_out: abort.signal.aborted, err },
        'examining the message on a worker failed; storing it from the direct reading',
      );
      return degradedFindings(raw, envelopeFrom);
    } finally {
      clearTimeout(timer);
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
    content: Buffer.from(a.content.buffer, a.content.byteOffset, a.content.byteLength),
  }));
  return { ...findings, parsed: { ...findings.parsed, attachments } };
}
