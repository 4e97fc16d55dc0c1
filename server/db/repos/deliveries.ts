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
  /** The TLS session of the attempt (null: cleartext, or no SMTP session at all). */
  tls_version: string | null;
  tls_cipher: string | null;
  /** 1 when the MX certificate was valid for its host name; null when no TLS session was made. */
  tls_verified: number | null;
  /** MTA-STS mode applied (RFC 8461): none, testing or enforce; null for local and relay attempts. */
  mta_sts_mode: string | null;
  /** Why TLS fell short of what the policy asked for (delivered anyway under testing). */
  tls_failure: string | null;
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
   *
   * Fair by construction: no recipient domain gets more than `perDomain` attempts in flight (counting
   * `busyDomains`, those already running), and organizations take turns — each one's n-th due delivery
   * (counting the `busyOrgs` turns it has already had) comes before anyone's (n+1)-th — so one tenant's
   * backlog or one slow destination cannot take every slot. Deliveries `inFlight` in this process are never leased
   * twice, even when their lease has run out.
   */
  lease(
    now: string,
    leaseUntil: string,
    options: {
      limit: number;
      perDomain: number;
      busyDomains: Record<string, number>;
      busyOrgs: Record<string, number>;
      inFlight: string[];
    },
  ): DeliveryRow[] {
    return this.db
      .prepare(
        `UPDATE deliveries SET status = 'sending', lease_until = @leaseUntil, updated_at = @now
         WHERE id IN (
           SELECT id FROM (
             SELECT due.id, due.next_attempt_at, due.org_turn,
               ROW_NUMBER() OVER (PARTITION BY due.domain ORDER BY due.org_turn, due.next_attempt_at, due.id)
                 + COALESCE(busy_domain.n, 0) AS domain_slot
             FROM (
               SELECT d.id, d.domain, d.next_attempt_at,
                 ROW_NUMBER() OVER (PARTITION BY d.org_id ORDER BY d.next_attempt_at, d.id)
                   + COALESCE(busy_org.n, 0) AS org_turn
               FROM deliveries d
               LEFT JOIN (SELECT key AS name, value AS n FROM json_each(@busyOrgs)) busy_org
                 ON busy_org.name = d.org_id
               WHERE ((d.status IN ('queued', 'deferred') AND d.next_attempt_at <= @now)
                   OR (d.status = 'sending' AND d.lease_until < @now))
                 AND d.id NOT IN (SELECT value FROM json_each(@inFlight))) due
             LEFT JOIN (SELECT key AS name, value AS n FROM json_each(@busyDomains)) busy_domain
               ON busy_domain.name = due.domain)
           WHERE domain_slot <= @perDomain
           ORDER BY org_turn, next_attempt_at, id
           LIMIT @limit)
         RETURNING *`,
      )
      .all({
        now,
        leaseUntil,
        limit: options.limit,
        perDomain: options.perDomain,
        busyDomains: JSON.stringify(options.busyDomains),
        busyOrgs: JSON.stringify(options.busyOrgs),
        inFlight: JSON.stringify(options.inFlight),
      }) as DeliveryRow[];
  }

  /**
   * The earliest time after `now` at which a delivery comes due: a queued or deferred one's next attempt,
   * or the end of a lease held by no attempt of this process (`inFlight`). The queue sleeps until then.
   */
  nextDueAfter(now: string, inFlight: string[]): string | null {
    const row = this.db
      .prepare(
        `SELECT MIN(at) AS at FROM (
           SELECT MIN(next_attempt_at) AS at FROM deliveries WHERE status = 'queued' AND next_attempt_at > @now
           UNION ALL
           SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'deferred' AND next_attempt_at > @now
           UNION ALL
           SELECT MIN(lease_until) FROM deliveries WHERE status = 'sending' AND lease_until > @now
             AND id NOT IN (SELECT value FROM json_each(@inFlight)))`,
      )
      .get({ now, inFlight: JSON.stringify(inFlight) }) as { at: string | null };
    return row.at;
  }

  /**
   * Start-up: every `sending` row was leased by a process that is gone (one node runs the queue), so its
   * lease is dead now; the deliveries are due at once instead of after the lease would have run out.
   */
  reclaimLeases(now: string): number {
    return this.db
      .prepare(
        `UPDATE deliveries SET status = CASE WHEN attempts > 0 THEN 'deferred' ELSE 'queued' END,
           next_attempt_at = @now, lease_until = NULL, updated_at = @now
         WHERE status = 'sending'`,
      )
      .run({ now }).changes;
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

  /** Makes a message's deferred deliveries due now; returns how many. */
  retryDeferred(orgId: string, messageId: string, now: string): number {
    return this.db
      .prepare(
        `UPDATE deliveries SET next_attempt_at = @now, updated_at = @now
         WHERE org_id = @orgId AND message_id = @messageId AND status = 'deferred'`,
      )
      .run({ orgId, messageId, now }).changes;
  }

  /** Takes a message's waiting deliveries (queued or deferred, not in flight) out of the queue for good. */
  cancelWaiting(orgId: string, messageId: string, reason: string, now: string): number {
    return this.db
      .prepare(
        `UPDATE deliveries SET status = 'cancelled', lease_until = NULL, last_response = @reason, updated_at = @now
         WHERE org_id = @orgId AND message_id = @messageId AND status IN ('queued', 'deferred')`,
      )
      .run({ orgId, messageId, reason, now }).changes;
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
        `INSERT INTO delivery_attempts (id, delivery_id, attempt, outcome, status, response, mx_host, duration_ms, created_at,
           tls_version, tls_cipher, tls_verified, mta_sts_mode, tls_failure)
         VALUES (@id, @delivery_id, @attempt, @outcome, @status, @response, @mx_host, @duration_ms, @created_at,
           @tls_version, @tls_cipher, @tls_verified, @mta_sts_mode, @tls_failure)`,
      )
      .run(row);
  }

  /** Every attempt at every recipient of one message, in attempt order per delivery. */
  attemptsForMessage(orgId: string, messageId: string): AttemptRow[] {
    return this.db
      .prepare(
        `SELECT a.* FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
         WHERE d.org_id = ? AND d.message_id = ? ORDER BY a.delivery_id, a.attempt`,
      )
      .all(orgId, messageId) as AttemptRow[];
  }

  attempts(deliveryId: string): AttemptRow[] {
    return this.db
      .prepare('SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt')
      .all(deliveryId) as AttemptRow[];
  }
}
