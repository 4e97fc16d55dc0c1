import type { Db } from '../db/open.js';
import type { EventRow } from '../db/repos/events.js';
import type { OrganizationRow } from '../db/repos/organizations.js';

export interface LoginCodeRow {
  id: string;
  email: string;
  code_hash: string;
  attempts: number;
  expires_at: string;
  consumed_at: string | null;
  created_at: string;
}

export interface SessionRow {
  id: string;
  token_hash: string;
  email: string;
  org_id: string;
  user_agent: string | null;
  ip: string | null;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  revoked_at: string | null;
}

/** Console sign-in codes and sessions. Sessions belong to a person (an email), not to one org. */
export class ConsoleRepo {
  constructor(private readonly db: Db) {}

  /** Organizations a person may operate: the verified ones whose owner email is theirs. */
  ownedOrgs(email: string): OrganizationRow[] {
    return this.db
      .prepare(
        "SELECT * FROM organizations WHERE owner_email = ? AND signup_status = 'verified' ORDER BY created_at, id",
      )
      .all(email) as OrganizationRow[];
  }

  replaceCode(row: LoginCodeRow): void {
    this.db.transaction(() => {
      this.db
        .prepare('DELETE FROM console_login_codes WHERE email = ? AND consumed_at IS NULL')
        .run(row.email);
      this.db
        .prepare(
          `INSERT INTO console_login_codes (id, email, code_hash, attempts, expires_at, consumed_at, created_at)
           VALUES (@id, @email, @code_hash, @attempts, @expires_at, @consumed_at, @created_at)`,
        )
        .run(row);
    })();
  }

  liveCode(email: string): LoginCodeRow | undefined {
    return this.db
      .prepare(
        'SELECT * FROM console_login_codes WHERE email = ? AND consumed_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1',
      )
      .get(email) as LoginCodeRow | undefined;
  }

  recordFailedAttempt(id: string): void {
    this.db.prepare('UPDATE console_login_codes SET attempts = attempts + 1 WHERE id = ?').run(id);
  }

  consumeCode(id: string, at: string): void {
    this.db.prepare('UPDATE console_login_codes SET consumed_at = ? WHERE id = ?').run(at, id);
  }

  insertSession(row: SessionRow): void {
    this.db
      .prepare(
        `INSERT INTO console_sessions (id, token_hash, email, org_id, user_agent, ip, created_at, last_seen_at, expires_at, revoked_at)
         VALUES (@id, @token_hash, @email, @org_id, @user_agent, @ip, @created_at, @last_seen_at, @expires_at, @revoked_at)`,
      )
      .run(row);
  }

  sessionByTokenHash(hash: string): SessionRow | undefined {
    return this.db.prepare('SELECT * FROM console_sessions WHERE token_hash = ?').get(hash) as
      SessionRow | undefined;
  }

  sessionsOf(email: string): SessionRow[] {
    return this.db
      .prepare(
        'SELECT * FROM console_sessions WHERE email = ? AND revoked_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 100',
      )
      .all(email) as SessionRow[];
  }

  touchSession(id: string, at: string): void {
    this.db.prepare('UPDATE console_sessions SET last_seen_at = ? WHERE id = ?').run(at, id);
  }

  switchOrg(id: string, orgId: string): void {
    this.db.prepare('UPDATE console_sessions SET org_id = ? WHERE id = ?').run(orgId, id);
  }

  /** Revokes one of a person's sessions; answers whether there was such a live session. */
  revokeSession(email: string, id: string, at: string): boolean {
    return (
      this.db
        .prepare(
          'UPDATE console_sessions SET revoked_at = ? WHERE id = ? AND email = ? AND revoked_at IS NULL',
        )
        .run(at, id, email).changes > 0
    );
  }
}

export interface OverviewCounts {
  held: number;
  blocked_today: number;
  queued: number;
  deferred: number;
  failed_24h: number;
  bounced_24h: number;
  complained_24h: number;
}

/** Read-only counts and the latest events for the overview, all scoped to one organization. */
export class ConsoleStatsRepo {
  constructor(private readonly db: Db) {}

  /** Newest first. */
  recentEvents(orgId: string, limit: number): EventRow[] {
    return this.db
      .prepare('SELECT * FROM events WHERE org_id = ? ORDER BY seq DESC LIMIT ?')
      .all(orgId, limit) as EventRow[];
  }

  overview(orgId: string, dayStart: string, since24h: string): OverviewCounts {
    const messages = this.db
      .prepare(
        `SELECT
           SUM(status = 'pending_approval') AS held,
           SUM(status = 'blocked' AND created_at >= @dayStart) AS blocked_today
         FROM messages WHERE org_id = @orgId AND direction = 'outgoing'`,
      )
      .get({ orgId, dayStart }) as Record<string, number | null>;
    const deliveries = this.db
      .prepare(
        `SELECT
           SUM(status = 'queued') AS queued,
           SUM(status = 'deferred') AS deferred,
           SUM(status = 'failed' AND updated_at >= @since) AS failed_24h,
           SUM(status = 'bounced' AND updated_at >= @since) AS bounced_24h,
           SUM(status = 'complained' AND updated_at >= @since) AS complained_24h
         FROM deliveries WHERE org_id = @orgId`,
      )
      .get({ orgId, since: since24h }) as Record<string, number | null>;
    const n = (v: number | null | undefined) => v ?? 0;
    return {
      held: n(messages.held),
      blocked_today: n(messages.blocked_today),
      queued: n(deliveries.queued),
      deferred: n(deliveries.deferred),
      failed_24h: n(deliveries.failed_24h),
      bounced_24h: n(deliveries.bounced_24h),
      complained_24h: n(deliveries.complained_24h),
    };
  }
}
