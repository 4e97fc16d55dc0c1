import type { SMTPServer, SMTPServerSession } from 'smtp-server';
import type { Logger } from '../lib/logger.js';
import type { ConnectionLimits } from '../policy/connection-limits.js';
import { REPLIES, smtpError, type SmtpReply } from '../lib/smtp-replies.js';

export interface SmtpSessionGuardOptions {
  /** Listener name for logs: `smtp` or `submission`. */
  name: string;
  connections: ConnectionLimits;
  /** Absolute lifetime of a session, however busy it keeps itself. */
  sessionTimeoutMs: number;
  /** Absolute time one DATA transfer may take. */
  dataTimeoutMs: number;
}

interface Tracked {
  release(): void;
  deadline: NodeJS.Timeout;
  data: NodeJS.Timeout | null;
}

/**
 * What smtp-server leaves to the application about who may hold a connection and for how long:
 * per-IP connection and rate caps (421 4.7.0 at connect), an absolute session deadline and a DATA
 * deadline (421 4.4.2, RFC 5321 §4.5.3.2 timeouts). The idle timeout alone is reset by every byte, so
 * without these a client dripping a byte a minute would keep its slot for ever.
 */
export class SmtpSessionGuard {
  private server: SMTPServer | null = null;
  private readonly sessions = new Map<string, Tracked>();

  constructor(
    private readonly log: Logger,
    private readonly options: SmtpSessionGuardOptions,
  ) {}

  attach(server: SMTPServer): void {
    this.server = server;
  }

  /** smtp-server's `onConnect`. */
  onConnect(session: SMTPServerSession, callback: (err?: Error | null) => void): void {
    const admission = this.options.connections.admit(session.remoteAddress);
    if (!admission.ok) {
      this.log.warn(
        {
          event: `${this.options.name}.connection_refused`,
          reason: admission.reason,
          remote_ip: session.remoteAddress,
        },
        'connection refused',
      );
      const reply =
        admission.reason === 'too_many_connections' ? REPLIES.tooManyConnections : REPLIES.connectingTooFast;
      return callback(smtpError(reply));
    }
    const deadline = setTimeout(
      () => this.end(session.id, REPLIES.sessionTooLong, 'session_deadline'),
      this.options.sessionTimeoutMs,
    );
    deadline.unref();
    this.sessions.set(session.id, { release: admission.release, deadline, data: null });
    callback();
  }

  /** smtp-server's `onClose`. */
  onClose(session: SMTPServerSession): void {
    const tracked = this.sessions.get(session.id);
    if (!tracked) return;
    this.sessions.delete(session.id);
    clearTimeout(tracked.deadline);
    if (tracked.data) clearTimeout(tracked.data);
    tracked.release();
  }

  dataStarted(session: SMTPServerSession): void {
    const tracked = this.sessions.get(session.id);
    if (!tracked) return;
    if (tracked.data) clearTimeout(tracked.data);
    tracked.data = setTimeout(
      () => this.end(session.id, REPLIES.dataTooSlow, 'data_deadline'),
      this.options.dataTimeoutMs,
    );
    tracked.data.unref();
  }

  dataEnded(session: SMTPServerSession): void {
    const tracked = this.sessions.get(session.id);
    if (tracked?.data) clearTimeout(tracked.data);
    if (tracked) tracked.data = null;
  }

  /** Ends a live session with a 421 (RFC 5321 §3.8: the server may close with 421 at any time). */
  end(sessionId: string, reply: SmtpReply, reason: string): void {
    for (const connection of this.server?.connections ?? []) {
      if (connection.id !== sessionId) continue;
      this.log.info(
        {
          event: `${this.options.name}.session_ended`,
          reason,
          session: sessionId,
          remote_ip: connection.remoteAddress,
        },
        'session ended by the server',
      );
      // smtp-server closes the connection after sending any 421.
      connection.send(reply.code, reply.message, false);
      return;
    }
  }
}
