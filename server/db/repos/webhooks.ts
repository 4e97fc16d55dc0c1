import type { Db } from '../open.js';

export interface WebhookRow {
  id: string;
  org_id: string;
  agent_id: string;
  url: string;
  event_types: string;
  mailbox_ids: string | null;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: string | null;
  status: 'active' | 'disabled';
  disabled_reason: string | null;
  cursor_seq: number;
  consecutive_failures: number;
  created_at: string;
  updated_at: string;
}

export interface WebhookJobRow {
  webhook_id: string;
  event_seq: number;
  event_id: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: string | null;
  lease_until: string | null;
  created_at: string;
}

export interface WebhookAttemptRow {
  id: string;
  webhook_id: string;
  event_id: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  response_excerpt: string | null;
  created_at: string;
}

export type WebhookPatch = Partial<
  Pick<
    WebhookRow,
    | 'url'
    | 'event_types'
    | 'mailbox_ids'
    | 'status'
    | 'disabled_reason'
    | 'secret_sealed'
    | 'previous_secret_sealed'
    | 'previous_secret_expires_at'
    | 'consecutive_failures'
  >
>;

export class WebhooksRepo {
  constructor(private readonly db: Db) {}

  insert(row: WebhookRow): void {
    this.db
      .prepare(
        `INSERT INTO webhooks (id, org_id, agent_id, url, event_types, mailbox_ids, secret_sealed, previous_secret_sealed,
           previous_secret_expires_at, status, disabled_reason, cursor_seq, consecutive_failures, created_at, updated_at)
         VALUES (@id, @org_id, @agent_id, @url, @event_types, @mailbox_ids, @secret_sealed, @previous_secret_sealed,
           @previous_secret_expires_at, @status, @disabled_reason, @cursor_seq, @consecutive_failures, @created_at, @updated_at)`,
      )
      .run(row);
  }

  get(orgId: string, id: string): WebhookRow | undefined {
    return this.db.prepare('SELECT * FROM webhooks WHERE org_id = ? AND id = ?').get(orgId, id) as
      WebhookRow | undefined;
  }

  forAgent(orgId: string, agentId: string, afterId: string | null, limit: number): WebhookRow[] {
    return this.db
      .prepare(
        'SELECT * FROM webhooks WHERE org_id = ? AND agent_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?',
      )
      .all(orgId, agentId, afterId, afterId, limit) as WebhookRow[];
  }

  /** For the dispatcher, which holds jobs rather than an org. */
  byId(id: string): WebhookRow | undefined {
    return this.db.prepare('SELECT * FROM webhooks WHERE id = ?').get(id) as WebhookRow | undefined;
  }

  /** The dispatcher serves every tenant's active endpoints. */
  active(): WebhookRow[] {
    return this.db.prepare("SELECT * FROM webhooks WHERE status = 'active'").all() as WebhookRow[];
  }

  update(orgId: string, id: string, patch: WebhookPatch, at: string): void {
    const keys = Object.keys(patch) as (keyof WebhookPatch)[];
    const sets = keys.map((k) => `${k} = @${k}`).join(', ');
    this.db
      .prepare(`UPDATE webhooks SET ${sets}, updated_at = @at WHERE org_id = @orgId AND id = @id`)
      .run({ ...patch, at, orgId, id });
  }

  advanceCursor(id: string, seq: number): void {
    this.db.prepare('UPDATE webhooks SET cursor_seq = MAX(cursor_seq, ?) WHERE id = ?').run(seq, id);
  }

  delete(orgId: string, id: string): void {
    this.db.prepare('DELETE FROM webhooks WHERE org_id = ? AND id = ?').run(orgId, id);
  }

  addJob(row: WebhookJobRow): void {
    this.db
      .prepare(
        `INSERT OR IGNORE INTO webhook_jobs (webhook_id, event_seq, event_id, status, attempts, next_attempt_at, lease_until, created_at)
         VALUES (@webhook_id, @event_seq, @event_id, @status, @attempts, @next_attempt_at, @lease_until, @created_at)`,
      )
      .run(row);
  }

  /** Due jobs, oldest event first; a lease that ran out (a crash mid-delivery) makes a job due again. */
  leaseDue(now: string, leaseUntil: string, limit: number): WebhookJobRow[] {
    return this.db
      .prepare(
        `UPDATE webhook_jobs SET lease_until = @leaseUntil
         WHERE rowid IN (
           SELECT j.rowid FROM webhook_jobs j JOIN webhooks w ON w.id = j.webhook_id
           WHERE j.status = 'pending' AND w.status = 'active' AND j.next_attempt_at <= @now
             AND (j.lease_until IS NULL OR j.lease_until < @now)
           ORDER BY j.event_seq LIMIT @limit)
         RETURNING *`,
      )
      .all({ now, leaseUntil, limit }) as WebhookJobRow[];
  }

  job(webhookId: string, eventSeq: number): WebhookJobRow | undefined {
    return this.db
      .prepare('SELECT * FROM webhook_jobs WHERE webhook_id = ? AND event_seq = ?')
      .get(webhookId, eventSeq) as WebhookJobRow | undefined;
  }

  updateJob(
    webhookId: string,
    eventSeq: number,
    patch: Pick<WebhookJobRow, 'status' | 'attempts' | 'next_attempt_at' | 'lease_until'>,
  ): void {
    this.db
      .prepare(
        `UPDATE webhook_jobs SET status = @status, attempts = @attempts, next_attempt_at = @next_attempt_at,
           lease_until = @lease_until WHERE webhook_id = @webhookId AND event_seq = @eventSeq`,
      )
      .run({ ...patch, webhookId, eventSeq });
  }

  addAttempt(row: WebhookAttemptRow): void {
    this.db
      .prepare(
        `INSERT INTO webhook_attempts (id, webhook_id, event_id, attempt, status_code, error, duration_ms, response_excerpt, created_at)
         VALUES (@id, @webhook_id, @event_id, @attempt, @status_code, @error, @duration_ms, @response_excerpt, @created_at)`,
      )
      .run(row);
  }

  attempts(webhookId: string, afterId: string | null, limit: number): WebhookAttemptRow[] {
    return this.db
      .prepare(
        'SELECT * FROM webhook_attempts WHERE webhook_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?',
      )
      .all(webhookId, afterId, afterId, limit) as WebhookAttemptRow[];
  }
}
