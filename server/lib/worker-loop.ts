import type { Logger } from './logger.js';
import { withRequestId } from './request-context.js';

export interface WorkerLoopOptions {
  /** Names the worker in the `worker.failed` log event. */
  name: string;
  log: Logger;
  /** Longest wait after repeated failures; the wait doubles from `idleMs` up to it. */
  maxBackoffMs?: number;
  /** How long to sleep after a run nothing asked to repeat; `idleMs` when not given. */
  sleepMs?: () => number;
}

const DEFAULT_MAX_BACKOFF_MS = 60_000;

/**
 * A self-scheduling worker (the delivery queue, the webhook dispatcher): a wake runs the work now; a
 * wake while it runs makes it run again straight after; otherwise it runs every `idleMs` (or after
 * `sleepMs()`, for a worker that knows when its next work comes due). `tick()` is
 * what tests call to run it to completion at the current (injected) clock.
 *
 * A failing run (the database locked, full or gone read-only) must not end the process or the loop:
 * the scheduled run logs `worker.failed`, waits longer after each failure in a row, and keeps going.
 */
export class WorkerLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private rerun = false;
  private stopped = false;
  private failures = 0;

  constructor(
    private readonly work: () => Promise<number>,
    private readonly idleMs: number,
    private readonly options?: WorkerLoopOptions,
  ) {}

  start(): void {
    this.schedule(0);
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) this.rerun = true;
    else this.schedule(0);
  }

  /** Runs the work once (or joins the run in progress); rejects when it fails, for direct callers. */
  async tick(): Promise<number> {
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    // A wake from inside a request must not make the whole batch look caused by that request (CONTRACT §6).
    this.running = withRequestId(null, async () => this.work());
    let failed = false;
    try {
      const done = await this.running;
      this.failures = 0;
      return done;
    } catch (err) {
      failed = true;
      this.failures += 1;
      throw err;
    } finally {
      this.running = null;
      if (!this.stopped) this.schedule(failed ? this.backoff() : this.rerun ? 0 : this.sleep());
      this.rerun = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => 0);
  }

  private sleep(): number {
    return this.options?.sleepMs?.() ?? this.idleMs;
  }

  private backoff(): number {
    const max = this.options?.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    return Math.min(max, Math.max(this.idleMs, 1) * 2 ** Math.min(this.failures - 1, 20));
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.tick().catch((err: unknown) =>
        this.options?.log.error(
          {
            event: 'worker.failed',
            worker: this.options.name,
            failures: this.failures,
            retry_in_ms: this.backoff(),
            err,
          },
          'background worker failed; retrying',
        ),
      );
    }, ms);
    this.timer.unref();
  }
}
