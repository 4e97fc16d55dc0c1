import { EventEmitter } from 'node:events';

/**
 * In-process notice that API keys were revoked or expired, so sessions opened with them (SMTP submission, IMAP,
 * the WebSocket stream) end at once instead of living on until they disconnect by themselves.
 * Emitted after the revocation has committed; carries only key ids.
 */
export class KeyRevocations extends EventEmitter<{ revoked: [keyIds: ReadonlySet<string>] }> {
  constructor() {
    super();
    this.setMaxListeners(0);
  }

  announce(keyIds: readonly string[]): void {
    if (keyIds.length > 0) this.emit('revoked', new Set(keyIds));
  }
}
