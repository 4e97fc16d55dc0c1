import type { DeliveryRow } from '../db/repos/deliveries.js';
import type { MessageRow } from '../db/repos/messages.js';
import type { Deps } from '../deps.js';
import { aboutMessage, appendEvent } from '../events/log.js';
import { addMs, toIso, toIsoCeil } from '../lib/clock.js';
import { returnPathHostFor } from '../domains/records.js';
import { messageView } from '../messages/views.js';
import { withRequestId } from '../lib/request-context.js';
import { WorkerLoop } from '../lib/worker-loop.js';
import { GroupCommit } from '../db/group-commit.js';
import type { DeliveryJob, Transport, TransportResult } from './transports.js';

/** Rejects with the abort reason once `signal` is aborted; never settles otherwise. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_resolve, reject) => {
    const fail = () => reject(signal.reason as Error);
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}

export interface QueueTransports {
  /** Recipients on domains this server hosts. */
  local: Transport;
  /** Everyone else, per LOFTBOX_DELIVERY. */
  remote: Transport;
}

/** Why an attempt was cut short: its deadline passed, or the server is shutting down. */
class AttemptAborted extends Error {
  constructor(readonly why: 'deadline' | 'shutdown') {
    super(why === 'deadline' ? 'attempt deadline passed' : 'server shutting down');
  }
}

interface InFlight {
  delivery: DeliveryRow;
  abort: AbortController;
  done: Promise<void>;
}

/** Message status from its recipients' deliveries (CONTRACT §3 outgoing statuses). */
export function aggregateStatus(current: string, deliveries: DeliveryRow[]): string {
  if (deliveries.length === 0) return current;
  const statuses = deliveries.map((d) => d.status);
  if (statuses.some((s) => s === 'held')) return current;
  if (statuses.some((s) => s === 'queued' || s === 'sending' || s === 'deferred')) {
    return deliveries.some((d) => d.attempts > 0 || d.status === 'sending') ? 'sending' : current;
  }
  for (const terminal of ['delivered', 'sent', 'bounced', 'complained'] as const) {
    if (statuses.includes(terminal)) return terminal;
  }
  return statuses.every((s) => s === 'cancelled') ? current : 'failed';
}

/**
 * The delivery queue: leases due deliveries and runs each attempt on its own, so a hung MX holds only
 * its own attempt (never a batch): as attempts finish, more are leased. Leasing is fair: at most
 * `domainConcurrency` attempts per recipient domain, and organizations take turns. Each attempt has a
 * hard deadline; the outcome is classified and recorded with its events in one transaction, shared with
 * the outcomes that finish alongside it (group commit); the attempt ends only once that has committed.
 * Start-up reclaims a dead process's leases at once; a lease that runs out is taken over too.
 */
export class DeliveryQueue {
  private readonly loop: WorkerLoop;
  /**
   * Results finishing together, and the lease taken meanwhile, share a commit; an attempt ends only once
   * its result is durable.
   */
  private readonly results: GroupCommit;
  private readonly inFlight = new Map<string, InFlight>();
  private completed = 0;
  /**
   * Attempts started per organization since the queue was last idle: organizations take turns by it,
   * so one with a backlog gets its next slot only after the others have had theirs.
   */
  private readonly turns = new Map<string, number>();
  private stopping = false;
  /** The time the last run looked for due work at; null when it could not look (no free slot). */
  private checkedAt: Date | null = null;

  constructor(
    private readonly deps: Deps,
    private readonly transports: QueueTransports,
  ) {
    this.loop = new WorkerLoop(() => this.startDue(), deps.config.queuePoll, {
      name: 'outbound',
      log: deps.log,
      sleepMs: () => this.sleepMs(),
    });
    // Results share the server's commits, unless told to wait for one another within a window of their own.
    const window = deps.config.deliveryRecordWindow;
    this.results = window > 0 ? new GroupCommit(deps.db, window) : deps.commits;
  }

  start(): void {
    const reclaimed = this.deps.repos.deliveries.reclaimLeases(toIso(this.deps.clock.now()));
    if (reclaimed > 0) {
      this.deps.log.info(
        { event: 'outbound.leases_reclaimed', count: reclaimed },
        'reclaimed delivery leases',
      );
    }
    this.deps.wakeQueue = () => this.loop.wake();
    this.loop.start();
  }

  /**
   * Stops leasing, lets attempts in flight finish within the shutdown grace, then drops the rest: their
   * deliveries stay leased and the next start takes them over (at least once). Then the transports close
   * the SMTP connections they keep.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop.stop();
    const pending = [...this.inFlight.values()];
    const grace = setTimeout(() => {
      for (const attempt of pending) attempt.abort.abort(new AttemptAborted('shutdown'));
    }, this.deps.config.shutdownGraceMs);
    await Promise.all(pending.map((attempt) => attempt.done));
    clearTimeout(grace);
    this.transports.local.close?.();
    this.transports.remote.close?.();
  }

  /**
   * Runs everything due now to completion; resolves with the number of attempts finished meanwhile.
   * Tests call it directly; the background loop never waits for attempts.
   */
  async tick(): Promise<number> {
    const before = this.completed;
    for (;;) {
      const started = await this.loop.tick();
      if (started === 0 && this.inFlight.size === 0) return this.completed - before;
      if (this.inFlight.size > 0) await Promise.race([...this.inFlight.values()].map((a) => a.done));
    }
  }

  /**
   * Leases as many due deliveries as there are free slots and starts them; resolves once the lease has
   * committed, not when the attempts end. The lease is a write: it joins the commit of the results
   * finishing alongside it (one fsync for both), and the wakes that come meanwhile make one run after it.
   */
  private async startDue(): Promise<number> {
    this.checkedAt = null;
    if (this.stopping || this.inFlight.size >= this.deps.config.outboundConcurrency) return 0;
    const leased = await this.results.run(() => this.leaseDue());
    if (leased.length === 0 && this.inFlight.size === 0) this.turns.clear();
    for (const delivery of leased) this.begin(delivery);
    return leased.length;
  }

  /** The lease itself, run inside the shared commit: the free slots are counted then. */
  private leaseDue(): DeliveryRow[] {
    const { deps } = this;
    const free = deps.config.outboundConcurrency - this.inFlight.size;
    if (this.stopping || free <= 0) return [];
    const busyDomains: Record<string, number> = {};
    for (const { delivery } of this.inFlight.values()) {
      busyDomains[delivery.domain] = (busyDomains[delivery.domain] ?? 0) + 1;
    }
    const now = deps.clock.now();
    this.checkedAt = now;
    return deps.repos.deliveries.lease(toIso(now), toIso(addMs(now, deps.config.deliveryLease)), {
      limit: free,
      perDomain: deps.config.domainConcurrency,
      busyDomains,
      busyOrgs: Object.fromEntries(this.turns),
      inFlight: [...this.inFlight.keys()],
    });
  }

  /**
   * Between wakes: new work wakes the queue when it commits, a finished attempt when it ends; what comes
   * due later (a retry, a scheduled send, a lease left by a failed record) is slept until, by the
   * injected clock. `queuePoll` is only the safety net for work that arrived without a wake.
   */
  private sleepMs(): number {
    const { deps } = this;
    const poll = deps.config.queuePoll;
    // No free slot: the next attempt to finish wakes the queue.
    if (!this.checkedAt) return poll;
    let next: string | null;
    try {
      // After the time the run looked at, not now: what came due since must not wait for the poll.
      next = deps.repos.deliveries.nextDueAfter(toIso(this.checkedAt), [...this.inFlight.keys()]);
    } catch {
      // The database refused even a read: the safety poll finds out when it is back.
      return poll;
    }
    if (next === null) return poll;
    return Math.min(poll, Math.max(0, Date.parse(next) - deps.clock.now().getTime()));
  }

  private begin(delivery: DeliveryRow): void {
    this.turns.set(delivery.org_id, (this.turns.get(delivery.org_id) ?? 0) + 1);
    const abort = new AbortController();
    const deadline = setTimeout(
      () => abort.abort(new AttemptAborted('deadline')),
      this.deps.config.outboundAttemptTimeout,
    );
    // Delivery events name the request of the send that queued the message (CONTRACT §6).
    const requestId = this.deps.repos.messages.requestIdOf(delivery.org_id, delivery.message_id);
    const done = withRequestId(requestId, () => this.attempt(delivery, abort.signal))
      .catch((err: unknown) =>
        // The database failed under the attempt (locked, full, read-only): the delivery stays leased
        // and is taken over when its lease runs out or at the next start.
        this.deps.log.error(
          { event: 'outbound.attempt_failed', delivery_id: delivery.id, err },
          'delivery attempt could not be recorded',
        ),
      )
      .finally(() => {
        clearTimeout(deadline);
        this.inFlight.delete(delivery.id);
        this.completed += 1;
        this.loop.wake();
      });
    this.inFlight.set(delivery.id, { delivery, abort, done });
  }

  /** Domains this server receives for: the managed one and live verified custom domains. */
  private hosted(domain: string): boolean {
    if (domain === this.deps.config.mailDomain) return true;
    const custom = this.deps.repos.domains.liveByName(domain);
    return custom?.status === 'verified' || custom?.status === 'failed';
  }

  /** VERP host: a custom domain's own return-path name (aligned SPF), or ours. */
  private returnPath(message: MessageRow): string {
    const mailbox = this.deps.repos.mailboxes.get(message.org_id, message.mailbox_id);
    return mailbox?.domain_id ? returnPathHostFor(this.deps, mailbox.domain) : this.deps.returnPathHost;
  }

  private async attempt(delivery: DeliveryRow, signal: AbortSignal): Promise<void> {
    const { deps } = this;
    const message = deps.repos.messages.get(delivery.org_id, delivery.message_id);
    const raw = message ? deps.repos.blobs.rawOf(message) : undefined;
    if (!message || !raw) {
      deps.repos.deliveries.update(
        delivery.id,
        { status: 'cancelled', lease_until: null },
        toIso(deps.clock.now()),
      );
      return;
    }
    const local = this.hosted(delivery.domain);
    const started = performance.now();
    const job: DeliveryJob = {
      // Local recipients see the sending mailbox as the envelope sender (their inbound rules apply to
      // it); remote ones get the VERP address so bounces find this delivery.
      envelopeFrom: local
        ? ((JSON.parse(message.from_addr ?? '{}') as { address?: string }).address ?? '')
        : `bounces+${delivery.verp_token}@${this.returnPath(message)}`,
      kind: String((JSON.parse(message.metadata) as { system_kind?: unknown }).system_kind ?? 'outbound'),
      recipient: delivery.recipient,
      domain: delivery.domain,
      raw,
      orgId: delivery.org_id,
      messageId: message.message_id_header ?? '',
      signal,
    };
    let result: TransportResult;
    try {
      result = await Promise.race([
        (local ? this.transports.local : this.transports.remote).deliver(job),
        aborted(signal),
      ]);
    } catch (err) {
      if (err instanceof AttemptAborted && err.why === 'shutdown') return;
      result = {
        outcome: 'deferred',
        category: err instanceof AttemptAborted ? 'timeout' : 'other',
        status: err instanceof AttemptAborted ? '4.4.2' : '4.3.0',
        retryAfterSeconds: null,
        response:
          err instanceof AttemptAborted
            ? `no outcome within ${deps.config.outboundAttemptTimeout} ms; the attempt was cut short`
            : (err as Error).message,
        host: null,
      };
    }
    if (signal.reason instanceof AttemptAborted && signal.reason.why === 'shutdown') return;
    await this.record(delivery, message, result, Math.round(performance.now() - started));
  }

  /** Next attempt time: the schedule's step for this attempt, or the server's own "try again in". */
  private nextAttempt(attempts: number, result: TransportResult, now: Date): Date {
    const schedule = this.deps.config.retrySchedule;
    const step = schedule[Math.min(attempts - 1, schedule.length - 1)] ?? 60_000;
    return addMs(now, Math.max(step, (result.retryAfterSeconds ?? 0) * 1000));
  }

  private async record(
    delivery: DeliveryRow,
    message: MessageRow,
    result: TransportResult,
    durationMs: number,
  ): Promise<void> {
    const { deps } = this;
    const now = deps.clock.now();
    const at = toIso(now);
    const attempts = delivery.attempts + 1;
    const expired = now.getTime() - new Date(delivery.created_at).getTime() >= deps.config.deliveryLifetime;
    const giveUp = result.outcome === 'deferred' && expired;
    const status = giveUp ? 'failed' : result.outcome;
    const next = status === 'deferred' ? toIsoCeil(this.nextAttempt(attempts, result, now)) : null;
    const response = result.response.slice(0, 1000);
    const write = () => {
      deps.repos.deliveries.addAttempt({
        id: deps.ids.uuid(),
        delivery_id: delivery.id,
        attempt: attempts,
        outcome: status,
        status: result.status,
        response,
        mx_host: result.host,
        duration_ms: durationMs,
        created_at: at,
        tls_version: result.security?.tls?.version ?? null,
        tls_cipher: result.security?.tls?.cipher ?? null,
        tls_verified: result.security?.verified == null ? null : Number(result.security.verified),
        mta_sts_mode: result.security?.mtaSts ?? null,
        tls_failure: result.security?.failure?.slice(0, 1000) ?? null,
      });
      deps.repos.deliveries.update(
        delivery.id,
        {
          status,
          attempts,
          next_attempt_at: next,
          lease_until: null,
          last_response: giveUp ? `gave up after ${attempts} attempts: ${response}` : response,
          last_status: giveUp ? '4.4.7' : result.status,
        },
        at,
      );
      if (status === 'failed' && result.category === 'mailbox_unknown') {
        deps.repos.suppressions.upsert({
          id: deps.ids.uuid(),
          org_id: delivery.org_id,
          address: delivery.recipient,
          reason: 'hard_bounce',
          source_message_id: message.id,
          created_at: at,
          expires_at: null,
        });
      }
      const deliveries = deps.repos.deliveries.forMessage(delivery.org_id, message.id);
      const messageStatus = aggregateStatus(message.status, deliveries);
      deps.repos.messages.setStatus(delivery.org_id, message.id, messageStatus, {
        ...(status === 'delivered' || status === 'sent' ? { sent_at: at } : {}),
        ...(status === 'delivered' ? { delivered_at: at } : {}),
      });
      const updated = deps.repos.messages.get(delivery.org_id, message.id) ?? message;
      const eventType =
        status === 'delivered'
          ? 'message.delivered'
          : status === 'sent'
            ? 'message.sent'
            : status === 'deferred'
              ? 'message.deferred'
              : 'message.failed';
      appendEvent(deps, {
        ...aboutMessage(deps, message),
        type: eventType,
        data: {
          recipient: delivery.recipient,
          attempt: attempts,
          status: giveUp ? '4.4.7' : result.status,
          category: result.category,
          response,
          next_attempt_at: next,
          message: messageView(updated, deps.repos.attachments.forMessage(delivery.org_id, message.id)),
        },
      });
    };
    await this.results.run(write);
    deps.log.info(
      {
        event: 'outbound.attempt',
        delivery_id: delivery.id,
        message_id: message.id,
        outcome: status,
        status: result.status,
        category: result.category,
        attempt: attempts,
        duration_ms: durationMs,
      },
      'delivery attempt',
    );
  }
}
