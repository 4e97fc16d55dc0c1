/**
 * A self-scheduling worker (the delivery queue, the webhook dispatcher): a wake runs the work now; a
 * wake while it runs makes it run again straight after; otherwise it runs every `idleMs`. `tick()` is
 * what tests call to run it to completion at the current (injected) clock.
 */
export class WorkerLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private rerun = false;
  private stopped = false;

  constructor(
    private readonly work: () => Promise<number>,
    private readonly idleMs: number,
    /** A failed run (the database busy or full) is reported here; the loop runs again on schedule. */
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.schedule(0);
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) this.rerun = true;
    else this.schedule(0);
  }

  async tick(): Promise<number> {
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    this.running = this.work();
    try {
      return await this.running;
    } finally {
      this.running = null;
      if (!this.stopped) this.schedule(this.rerun ? 0 : this.idleMs);
      this.rerun = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick().catch(this.onError), ms);
    this.timer.unref();
  }
}
