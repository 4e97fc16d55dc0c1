import type { Logger } from '../lib/logger.js';

export interface Job {
  name: string;
  run(): Promise<unknown> | unknown;
}

/**
 * Runs housekeeping jobs on an interval. Jobs read time from the injected clock, so tests run them
 * directly with a fake clock; the interval itself is configuration, shrunk in black-box tests.
 */
export class Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly jobs: Job[],
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  /** Runs every job once, one after another; a tick that overlaps a running one is skipped. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = (async () => {
      for (const job of this.jobs) {
        try {
          const result = await job.run();
          this.log.debug({ event: 'job.ran', job: job.name, result }, 'job ran');
        } catch (err) {
          this.log.error({ event: 'job.failed', job: job.name, err }, 'job failed');
        }
      }
    })();
    try {
      await this.running;
    } finally {
      this.running = null;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
