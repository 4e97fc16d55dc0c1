import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { TlsObservation } from './tls-observation.js';

/**
 * Where a session goes and what it must be. A kept session carries only messages to exactly the same
 * destination under exactly the same TLS requirement: one opened without verified TLS never carries a
 * message that MTA-STS enforce (or LOFTBOX_OUTBOUND_REQUIRE_TLS_DOMAINS) asks verified TLS for.
 * The CAs and credentials are the transport's own, and each transport has its own pool.
 */
export interface Destination {
  /** The address dialed. */
  host: string;
  port: number;
  secure: boolean;
  /** The MX host name: the certificate is checked against it (RFC 8461 §4.2). */
  servername: string;
  /** The reason's prefix when the session must be verified TLS; null when opportunistic TLS will do. */
  requireVerifiedTls: string | null;
}

export interface PoolLimits {
  /** Sessions kept per destination (busy or idle); 0 keeps none. */
  perDestination: number;
  /** Sessions kept over all destinations. */
  total: number;
  /** How long a kept session may sit unused before it is closed. */
  idleMs: number;
}

/** One SMTP connection, for one attempt or kept for the next ones to the same destination. */
export class SmtpSession {
  /** The TLS the session was set up with, which every message it carries was sent over. */
  observed: TlsObservation | null = null;
  /** Transactions it has carried so far: more than 0 when it is being reused. */
  transactions = 0;
  state: 'busy' | 'idle' | 'closed' = 'busy';
  timer: NodeJS.Timeout | null = null;

  constructor(
    readonly connection: SMTPConnection,
    readonly key: string,
    /** Kept for reuse after the attempt; otherwise closed then (a limit was reached). */
    readonly kept: boolean,
  ) {}
}

const keyOf = (d: Destination) =>
  JSON.stringify([d.host, d.port, d.secure, d.servername, d.requireVerifiedTls]);

/**
 * SMTP connection reuse (Postfix's connection cache): a delivery to a destination that has an idle
 * session sends over it instead of dialing, greeting, EHLO and STARTTLS again (the transport resets it
 * with RSET first). Bounded per destination and overall: an attempt that finds every kept session busy
 * opens one of its own, closed after it, so reuse never makes an attempt wait. Idle sessions are closed
 * after `idleMs`; one the server drops is forgotten.
 */
export class SmtpPool {
  private readonly keptByKey = new Map<string, Set<SmtpSession>>();
  private readonly idleByKey = new Map<string, SmtpSession[]>();
  private keptCount = 0;
  private closed = false;

  constructor(
    private readonly limits: PoolLimits,
    private readonly dial: (destination: Destination) => SMTPConnection,
  ) {}

  /** The idle session to the destination used last (the others may run out their idle time), or null. */
  take(destination: Destination): SmtpSession | null {
    const idle = this.idleByKey.get(keyOf(destination));
    for (let session = idle?.pop(); session; session = idle?.pop()) {
      this.clearTimer(session);
      if (session.connection.destroyed) {
        this.forget(session);
        continue;
      }
      session.state = 'busy';
      if (idle?.length === 0) this.idleByKey.delete(session.key);
      return session;
    }
    return null;
  }

  /** A new session, not yet connected: kept for reuse when the destination's and the overall limit allow. */
  open(destination: Destination): SmtpSession {
    const key = keyOf(destination);
    const kept = this.keptByKey.get(key) ?? new Set<SmtpSession>();
    const keep = !this.closed && kept.size < this.limits.perDestination && this.keptCount < this.limits.total;
    const session = new SmtpSession(this.dial(destination), key, keep);
    // A failure while no attempt uses the session has no one to report to: its 'end' forgets it.
    session.connection.on('error', () => {});
    session.connection.on('end', () => this.forget(session));
    if (keep) {
      kept.add(session);
      this.keptByKey.set(key, kept);
      this.keptCount += 1;
    }
    return session;
  }

  /**
   * The attempt is over and the session can carry another message: it waits, idle, for the next one.
   * A session that is not kept, or whose connection is gone, is closed instead.
   */
  release(session: SmtpSession): void {
    if (!session.kept || this.closed || session.connection.destroyed || session.state !== 'busy') {
      this.discard(session);
      return;
    }
    this.park(session);
  }

  /** Closes the session and forgets it: it failed, was dropped, answered 421 or fell short of its TLS requirement. */
  discard(session: SmtpSession): void {
    this.forget(session);
    session.connection.close();
  }

  /** Shutdown: every kept session is closed, an idle one with QUIT. */
  close(): void {
    this.closed = true;
    for (const sessions of [...this.keptByKey.values()]) {
      for (const session of [...sessions]) {
        if (session.state === 'idle') this.quit(session);
        else this.discard(session);
      }
    }
  }

  private park(session: SmtpSession): void {
    session.state = 'idle';
    const idle = this.idleByKey.get(session.key) ?? [];
    idle.push(session);
    this.idleByKey.set(session.key, idle);
    session.timer = setTimeout(() => this.quit(session), this.limits.idleMs);
    session.timer.unref();
  }

  /** Forgets the session and says QUIT; a server that does not answer is hung up on after `idleMs`. */
  private quit(session: SmtpSession): void {
    this.forget(session);
    session.connection.quit();
    setTimeout(() => session.connection.close(), this.limits.idleMs).unref();
  }

  private forget(session: SmtpSession): void {
    if (session.state === 'closed') return;
    session.state = 'closed';
    this.clearTimer(session);
    const idle = this.idleByKey.get(session.key);
    const at = idle?.indexOf(session) ?? -1;
    if (idle && at >= 0) idle.splice(at, 1);
    if (idle?.length === 0) this.idleByKey.delete(session.key);
    const kept = this.keptByKey.get(session.key);
    if (kept?.delete(session)) {
      this.keptCount -= 1;
      if (kept.size === 0) this.keptByKey.delete(session.key);
    }
  }

  private clearTimer(session: SmtpSession): void {
    if (session.timer) clearTimeout(session.timer);
    session.timer = null;
  }
}
