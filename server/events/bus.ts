import { EventEmitter } from 'node:events';

/**
 * In-process notice that the event log grew. It carries no data: listeners read the log itself, so
 * a missed or early notice can never lose or invent an event.
 */
export class EventBus extends EventEmitter<{ appended: [orgId: string, seq: number] }> {
  constructor() {
    super();
    this.setMaxListeners(0);
  }

  /** Called inside the appending transaction; listeners run after it has committed. */
  notify(orgId: string, seq: number): void {
    queueMicrotask(() => this.emit('appended', orgId, seq));
  }
}
