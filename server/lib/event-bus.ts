import { EventEmitter } from 'node:events';

export type WaitOutcome = 'appended' | 'timeout' | 'closed';

/**
 * In-process notice that the event log grew. It carries no data: listeners read the log itself, so
 * a missed or early notice can never lose or invent an event.
 */
export class EventBus extends EventEmitter<{ appended: [orgId: string, seq: number]; closed: [] }> {
  private waiting = 0;
  private closed = false;

  constructor() {
    super();
    this.setMaxListeners(0);
  }

  /** Called inside the appending transaction; listeners run after it has committed. */
  notify(orgId: string, seq: number): void {
    queueMicrotask(() => this.emit('appended', orgId, seq));
  }

  /** Long-polls waiting right now (a bounded number may wait at once). */
  get waiters(): number {
    return this.waiting;
  }

  /**
   * Resolves at the next append for `orgId` (after it committed), when `ms` pass, when `signal` aborts
   * (the client went away) or at shutdown. Callers bound `waiters` themselves before calling.
   */
  waitForAppend(orgId: string, ms: number, signal?: AbortSignal): Promise<WaitOutcome> {
    if (this.closed) return Promise.resolve('closed');
    this.waiting += 1;
    return new Promise<WaitOutcome>((resolve) => {
      const finish = (outcome: WaitOutcome) => {
        clearTimeout(timer);
        this.off('appended', onAppended);
        this.off('closed', onClosed);
        signal?.removeEventListener('abort', onAbort);
        this.waiting -= 1;
        resolve(outcome);
      };
      const onAppended = (appendedOrg: string) => {
        if (appendedOrg === orgId) finish('appended');
      };
      const onClosed = () => finish('closed');
      const onAbort = () => finish('timeout');
      const timer = setTimeout(() => finish('timeout'), ms);
      this.on('appended', onAppended);
      this.once('closed', onClosed);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Shutdown: every waiting long-poll answers now and no new one waits. */
  close(): void {
    this.closed = true;
    this.emit('closed');
  }
}
