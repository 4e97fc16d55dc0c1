import type { Db } from '../open.js';

export type DeliveryStatus =
  | 'held'
  | 'queued'
  | 'sending'
  | 'deferred'
  | 'sent'
  | 'delivered'
  | 'failed'
  | 'bounced'
  | 'complained'
  | 'cancelled';

export interface DeliveryRow {
  id: string;
  org_id: string;
  message_id: string;
  recipient: string;
  domain: string;
  verp_token: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string | null;
  lease_until: string | null;
  last_response: string | null;
  last_status: string | null;
  created_at: string;
  updated_at: string;
}

export interface AttemptRow {
  id: string;
  delivery_id: string;
  attempt: number;
  outcome: string;
  status: string | null;
  response: string | null;
  mx_host: string | null;
  duration_ms: number;
  created_at: string;
}

/** States a delivery can still leave on its own. */
export const PENDING: DeliveryStatus[] = ['held', 'queued', 'sending', 'deferred'];

export class DeliveriesRepo {
  constructor(private readonly db: Db) {}

  insert(row: DeliveryRow): void {
    this.db
      .prepare(
        `INSERT INTO deliveries (id, org_id, message_id, recipient, domain, verp_token, status, attempts, next_attempt_at,
           lease_until, last_response, last_status, created_at, updated_at)
         VALUES (@id, @org_id, @message_id, @recipient, @domain, @verp_token, @status, @attempts, @next_attempt_at,
           @lease_until, @last_response, @last_status, @created_at, @updated_at)`,
      )
      .run(row);
  }

  forMessage(orgId: string, messageId: string): DeliveryRow[] {
    return this.db
      .prepare('SELECT * FROM deliveries WHERE org_id = ? AND message_id = ? ORDER BY id')
      .all(orgId, messageId) as DeliveryRow[];
  }

  forMessages(orgId: string, messageIds: string[]): DeliveryRow[] {
    if (messageIds.length === 0) return [];
    return this.db
      .prepare(
        'SELECT * FROM deliveries WHERE org_id = ? AND message_id IN (SELECT value FROM json_each(?)) ORDER BY id',
      )
      .all(orgId, JSON.stringify(messageIds)) as DeliveryRow[];
  }

  /** The queue is not org-scoped: it serves every tenant. A VERP token names exactly one delivery. */
  byVerpToken(token: string): DeliveryRow | undefined {
    return this.db.prepare('SELECT * FROM deliveries WHERE verp_token = ?').get(token) as
      DeliveryRow | undefined;
  }

  /**
   * Leases due deliveries: queued or deferred ones whose time has come, and `sending` ones whose lease
   * ran out (the process holding them died). The lease is the crash-safety mechanism.
   */
  lease(now: string, leaseUntil: string, limit: number): DeliveryRow[] {
    return this.db
      .prepare(
        `UPDATE deliveries SET status = 'sending', lease_until = @leaseUntil, updated_at = @now
         WHERE id IN (
           SELECT id FROM deliveries
           WHERE (status IN ('queued', 'deferred') AND next_attempt_at <= @now)
              OR (status = 'sending' AND lease_until < @now)
           ORDER BY next_attempt_at LIMIT @limit)
         RETURNING *`,
      )
      .all({ now, leaseUntil, limit }) as DeliveryRow[];
  }

  update(
    id: string,
    patch: Partial<
      Pick<
        DeliveryRow,
        'status' | 'attempts' | 'next_attempt_at' | 'lease_until' | 'last_response' | 'last_status'
      >
    >,
    at: string,
  ): void {
    const keys = Object.keys(patch) as (keyof typeof patch)[];
    const sets = keys.map((k) => `${k} = @${k}`).join(', ');
    this.db
      .prepare(`UPDATE deliveries SET ${sets}, updated_at = @at WHERE id = @id`)
      .run({ ...patch, at, id });
  }

  /** Moves held deliveries of a message into the queue (approval) or out of it for good (rejection). */
  releaseHeld(
    orgId: string,
    messageId: string,
    status: 'queued' | 'cancelled',
    nextAttemptAt: string | null,
    at: string,
  ): void {
    this.db
      .prepare(
        `UPDATE deliveries SET status = ?, next_attempt_at = ?, updated_at = ?
         WHERE org_id = ? AND message_id = ? AND status = 'held'`,
      )
      .run(status, nextAttemptAt, at, orgId, messageId);
  }

  addAttempt(row: AttemptRow): void {
    this.db
      .prepare(
        `INSERT INTO delivery_attempts (id, delivery_id, attempt, outcome, status, response, mx_host, duration_ms, created_at)
         VALUES (@id, @delivery_id, @attempt, @outcome, @status, @response, @mx_host, @duration_ms, @created_at)`,
      )
      .run(row);
  }

  attempts(deliveryId: string): AttemptRow[] {
    return this.db
      .prepare('SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt')
      .all(deliveryId) as AttemptRow[];
  }
}
