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

  /** Every endpoint of one org, active or not: a disabled one keeps its jobs for when it is re-enabled. */
  forOrg(orgId: string): WebhookRow[] {
    return this.db.prepare('SELECT * FROM webhooks WHERE org_id = ?').all(orgId) as WebhookRow[];
  }

  update(orgId: string, id: string, patch: WebhookPatch, at: string): void {
    const keys = Object.keys(patch) as (keyof WebhookPatch)[];
    const sets = keys.map((k) => `${k} = @${k}`).join(', ');
    this.db
      .prepare(`UPDATE webhooks SET ${sets}, updated_at = @at WHERE org_id = @orgId AND id = @id`)
      .run({ ...patch, at, orgId, id });
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

  /** Whether any job waits (due or not, leased or not): a read, where leasing takes the write lock. */
  hasPendingJobs(): boolean {
    return (
      this.db.prepare("SELECT 1 AS one FROM webhook_jobs WHERE status = 'pending' LIMIT 1").get() !==
      undefined
    );
  }

  /**
   * Leases the oldest due job of each active endpoint not in `busy` (one per endpoint, so one endpoint's
   * backlog never crowds out another's); a lease that ran out (a crash mid-delivery) makes a job due again.
   * With `webhookId` only that endpoint is considered.
   */
  leaseHeads(
    now: string,
    leaseUntil: string,
    busy: readonly string[],
    limit: number,
    webhookId: string | null = null,
  ): WebhookJobRow[] {
    return this.db
      .prepare(
        `UPDATE webhook_jobs SET lease_until = @leaseUntil
         WHERE rowid IN (
           SELECT head FROM (
             SELECT (SELECT j.rowid FROM webhook_jobs j
                     WHERE j.webhook_id = w.id AND j.status = 'pending' AND j.next_attempt_at <= @now
                       AND (j.lease_until IS NULL OR j.lease_until < @now)
                     ORDER BY j.event_seq LIMIT 1) AS head
             FROM webhooks w
             WHERE w.status = 'active' AND (@webhookId IS NULL OR w.id = @webhookId)
               AND w.id NOT IN (SELECT value FROM json_each(@busy)))
           WHERE head IS NOT NULL LIMIT @limit)
         RETURNING *`,
      )
      .all({ now, leaseUntil, busy: JSON.stringify(busy), limit, webhookId }) as WebhookJobRow[];
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

  /** Attempts recorded before `before`: they outlive their events by no more than the log's retention. */
  deleteAttemptsBefore(before: string): number {
    return this.db.prepare('DELETE FROM webhook_attempts WHERE created_at < ?').run(before).changes;
  }
}
