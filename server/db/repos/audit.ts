import type { Db } from '../open.js';

export interface AuditRow {
  id: string;
  org_id: string;
  at: string;
  actor_type: 'key' | 'session' | 'system';
  actor_id: string | null;
  actor_label: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  request_id: string | null;
  ip: string | null;
  /** JSON object. */
  details: string;
}

export interface AuditFilter {
  actorId?: string | undefined;
  action?: string | undefined;
  targetId?: string | undefined;
  /** RFC 3339 bounds on `at`, exclusive. */
  after?: string | undefined;
  before?: string | undefined;
}

/** Append-only: there is no update; rows leave by retention or with their organization. */
export class AuditRepo {
  constructor(private readonly db: Db) {}

  insert(row: AuditRow): void {
    this.db
      .prepare(
        `INSERT INTO audit_log (id, org_id, at, actor_type, actor_id, actor_label, action, target_type,
           target_id, request_id, ip, details)
         VALUES (@id, @org_id, @at, @actor_type, @actor_id, @actor_label, @action, @target_type,
           @target_id, @request_id, @ip, @details)`,
      )
      .run(row);
  }

  /** Newest first; `beforeId` is the last id of the previous page. */
  list(orgId: string, filter: AuditFilter, beforeId: string | null, limit: number): AuditRow[] {
    return this.db
      .prepare(
        `SELECT * FROM audit_log WHERE org_id = @orgId
           AND (@beforeId IS NULL OR id < @beforeId)
           AND (@actorId IS NULL OR actor_id = @actorId)
           AND (@action IS NULL OR action = @action)
           AND (@targetId IS NULL OR target_id = @targetId)
           AND (@after IS NULL OR at > @after)
           AND (@before IS NULL OR at < @before)
         ORDER BY id DESC LIMIT @limit`,
      )
      .all({
        orgId,
        beforeId,
        actorId: filter.actorId ?? null,
        action: filter.action ?? null,
        targetId: filter.targetId ?? null,
        after: filter.after ?? null,
        before: filter.before ?? null,
        limit,
      }) as AuditRow[];
  }

  /** Deletes up to `limit` rows older than `before`; returns how many went. */
  deleteOlderThan(before: string, limit: number): number {
    return this.db
      .prepare('DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? LIMIT ?)')
      .run(before, limit).changes;
  }
}
