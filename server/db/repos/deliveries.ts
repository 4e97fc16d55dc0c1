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

/** Most due deliveries read at a time from one organization's queue while leasing. */
const MAX_PAGE = 256;

/**
 * Up to this many due deliveries, the lease finds the organizations to read among them; past it, it skips
 * through every organization with waiting deliveries, due or not, which costs a seek each.
 */
const DUE_SAMPLE = 512;

/** What the lease reads of a due delivery to place it: all in the index, so passing one over costs little. */
type Placed = Pick<DeliveryRow, 'id' | 'domain' | 'next_attempt_at'>;

export class DeliveriesRepo {
  constructor(
    private readonly db: Db,
    private readonly dueSample = DUE_SAMPLE,
  ) {}

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
   * twice, even when their lease has run out. Deliveries to a domain with every slot busy when the lease
   * begins cannot be leased and take no turn: an organization's backlog to one saturated destination does
   * not put its mail to others behind everyone else's.
   *
   * It reads the queue in that order and stops once `limit` are chosen: each organization's due
   * deliveries by index, earliest first (the n-th is its turn n), merged across organizations by turn;
   * those to a saturated domain are left out where the index is read, and one whose domain runs out of
   * slots during this lease is passed over. So a lease reads about as many deliveries as it leases, not
   * the backlog: with one destination's backlog waiting on its slots, every wake of the queue used to read
   * the whole of it (bench/PROFILE.md, the lease).
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
    const inFlight = JSON.stringify(options.inFlight);
    this.returnExpiredLeases(now, inFlight);
    const slots = new Map<string, number>(Object.entries(options.busyDomains));
    const full = JSON.stringify(
      Object.entries(options.busyDomains)
        .filter(([, busy]) => busy >= options.perDomain)
        .map(([domain]) => domain),
    );
    const queues = [...this.orgsWithDue(now)].map((orgId) => {
      const due = this.dueOf(orgId, now, inFlight, options.limit, full);
      return { turn: options.busyOrgs[orgId] ?? 0, due, head: due.next().value ?? undefined };
    });
    const chosen: Placed[] = [];
    while (chosen.length < options.limit) {
      // The next in the merged order: the lowest turn, then the earliest, then the lowest id.
      let next: (typeof queues)[number] | undefined;
      for (const queue of queues) {
        if (queue.head && (!next?.head || before(queue.turn, queue.head, next.turn, next.head))) next = queue;
      }
      const row = next?.head;
      if (!next || !row) break;
      next.turn += 1;
      next.head = next.due.next().value ?? undefined;
      const slot = (slots.get(row.domain) ?? 0) + 1;
      if (slot > options.perDomain) continue;
      slots.set(row.domain, slot);
      chosen.push(row);
    }
    if (chosen.length === 0) return [];
    const leased = new Map(
      (
        this.db
          .prepare(
            `UPDATE deliveries SET status = 'sending', lease_until = ?, updated_at = ?
             WHERE id IN (SELECT value FROM json_each(?)) RETURNING *`,
          )
          .all(leaseUntil, now, JSON.stringify(chosen.map((row) => row.id))) as DeliveryRow[]
      ).map((row) => [row.id, row]),
    );
    return chosen.flatMap((row) => leased.get(row.id) ?? []);
  }

  /**
   * A lease that ran out and is held by no attempt of this process: the delivery waits again, due at once
   * (its next attempt time is already past), as at start-up (`reclaimLeases`).
   */
  private returnExpiredLeases(now: string, inFlight: string): void {
    this.db
      .prepare(
        `UPDATE deliveries SET status = CASE WHEN attempts > 0 THEN 'deferred' ELSE 'queued' END,
           next_attempt_at = COALESCE(next_attempt_at, @now), lease_until = NULL, updated_at = @now
         WHERE status = 'sending' AND lease_until < @now AND id NOT IN (SELECT value FROM json_each(@inFlight))`,
      )
      .run({ now, inFlight });
  }

  /**
   * The organizations that may have due deliveries: read off the due ones when there are few (scheduled
   * sends and retries waiting for later are not visited), else every organization with waiting ones.
   */
  private orgsWithDue(now: string): Iterable<string> {
    const due = this.db
      .prepare(
        `SELECT org_id FROM deliveries INDEXED BY deliveries_due
         WHERE status IN ('queued', 'deferred') AND next_attempt_at <= ? LIMIT ?`,
      )
      .all(now, this.dueSample + 1) as { org_id: string }[];
    return due.length > this.dueSample ? this.waitingOrgs() : new Set(due.map((row) => row.org_id));
  }

  /** Each organization with waiting deliveries, by skipping through the index from one to the next. */
  private *waitingOrgs(): Generator<string> {
    const next = this.db.prepare(
      `SELECT org_id FROM deliveries INDEXED BY deliveries_waiting_org
       WHERE status IN ('queued', 'deferred') AND org_id > ? ORDER BY org_id LIMIT 1`,
    );
    for (
      let row = next.get('') as { org_id: string } | undefined;
      row;
      row = next.get(row.org_id) as { org_id: string } | undefined
    ) {
      yield row.org_id;
    }
  }

  /**
   * An organization's due deliveries not held by this process nor for a domain in `full` (JSON), earliest
   * first, a page at a time: the first as large as the lease, the next ones doubling.
   */
  private *dueOf(
    orgId: string,
    now: string,
    inFlight: string,
    first: number,
    full: string,
  ): Generator<Placed> {
    const page = this.db.prepare(
      `SELECT id, domain, next_attempt_at FROM deliveries INDEXED BY deliveries_waiting_org
       WHERE status IN ('queued', 'deferred') AND org_id = @orgId AND next_attempt_at <= @now
         AND (next_attempt_at, id) > (@at, @id) AND id NOT IN (SELECT value FROM json_each(@inFlight))
         AND domain NOT IN (SELECT value FROM json_each(@full))
       ORDER BY next_attempt_at, id LIMIT @page`,
    );
    let after = { at: '', id: '' };
    for (let size = Math.max(1, first); ; size = Math.min(2 * size, MAX_PAGE)) {
      const rows = page.all({ orgId, now, inFlight, full, page: size, ...after }) as Placed[];
      yield* rows;
      const last = rows.at(-1);
      if (rows.length < size || !last) return;
      after = { at: last.next_attempt_at ?? '', id: last.id };
    }
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

/** Whether a (at turn `turnA`) comes before b in the lease's order: turn, then due time, then id. */
function before(turnA: number, a: Placed, turnB: number, b: Placed): boolean {
  if (turnA !== turnB) return turnA < turnB;
  const at = a.next_attempt_at ?? '';
  const bt = b.next_attempt_at ?? '';
  return at !== bt ? at < bt : a.id < b.id;
}
