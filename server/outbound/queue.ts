import type { DeliveryRow } from '../db/repos/deliveries.js';
import type { MessageRow } from '../db/repos/messages.js';
import type { Deps } from '../deps.js';
import { aboutMessage, appendEvent } from '../events/log.js';
import { addMs, toIso, toIsoCeil } from '../lib/clock.js';
import { returnPathHostFor } from '../domains/records.js';
import { messageView } from '../messages/views.js';
import { WorkerLoop } from '../lib/worker-loop.js';
import type { Transport, TransportResult } from './transports.js';

export interface QueueTransports {
  /** Recipients on domains this server hosts. */
  local: Transport;
  /** Everyone else, per LOFTBOX_DELIVERY. */
  remote: Transport;
}

/** Leased per tick; bounded so one tick never holds a huge batch of leases. */
const LEASE_BATCH = 100;

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
 * The delivery queue: leases due deliveries (a lease that runs out is taken over, so a crash mid-
 * attempt only delays), runs them with a per-domain concurrency cap, classifies the outcome, and
 * records it with its events in one transaction.
 */
export class DeliveryQueue {
  private readonly loop: WorkerLoop;
  private readonly inFlight = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  constructor(
    private readonly deps: Deps,
    private readonly transports: QueueTransports,
  ) {
    this.loop = new WorkerLoop(
      () => this.runDue(),
      deps.config.queuePoll,
      (err) => deps.log.error({ event: 'queue.run_failed', err }, 'delivery queue run failed'),
    );
  }

  start(): void {
    this.deps.wakeQueue = () => this.loop.wake();
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Runs everything due now; resolves with the number of attempts made. Tests call it directly. */
  tick(): Promise<number> {
    return this.loop.tick();
  }

  private async runDue(): Promise<number> {
    let attempts = 0;
    for (;;) {
      const now = this.deps.clock.now();
      const leased = this.deps.repos.deliveries.lease(
        toIso(now),
        toIso(addMs(now, this.deps.config.deliveryLease)),
        LEASE_BATCH,
      );
      if (leased.length === 0) return attempts;
      await Promise.all(
        leased.map((delivery) => this.withDomainSlot(delivery.domain, () => this.attempt(delivery))),
      );
      attempts += leased.length;
    }
  }

  private async withDomainSlot<T>(domain: string, work: () => Promise<T>): Promise<T> {
    while ((this.inFlight.get(domain) ?? 0) >= this.deps.config.domainConcurrency) {
      await new Promise<void>((resolve) =>
        this.waiting.set(domain, [...(this.waiting.get(domain) ?? []), resolve]),
      );
    }
    this.inFlight.set(domain, (this.inFlight.get(domain) ?? 0) + 1);
    try {
      return await work();
    } finally {
      this.inFlight.set(domain, (this.inFlight.get(domain) ?? 1) - 1);
      this.waiting.get(domain)?.shift()?.();
    }
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

  private async attempt(delivery: DeliveryRow): Promise<void> {
    const { deps } = this;
    const message = deps.repos.messages.get(delivery.org_id, delivery.message_id);
    const raw = message?.raw_hash ? deps.repos.blobs.get(message.raw_hash) : undefined;
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
    let result: TransportResult;
    try {
      result = await (local ? this.transports.local : this.transports.remote).deliver({
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
      });
    } catch (err) {
      result = {
        outcome: 'deferred',
        category: 'other',
        status: '4.3.0',
        retryAfterSeconds: null,
        response: (err as Error).message,
        host: null,
      };
    }
    this.record(delivery, message, result, Math.round(performance.now() - started));
  }

  /** Next attempt time: the schedule's step for this attempt, or the server's own "try again in". */
  private nextAttempt(attempts: number, result: TransportResult, now: Date): Date {
    const schedule = this.deps.config.retrySchedule;
    const step = schedule[Math.min(attempts - 1, schedule.length - 1)] ?? 60_000;
    return addMs(now, Math.max(step, (result.retryAfterSeconds ?? 0) * 1000));
  }

  private record(
    delivery: DeliveryRow,
    message: MessageRow,
    result: TransportResult,
    durationMs: number,
  ): void {
    const { deps } = this;
    const now = deps.clock.now();
    const at = toIso(now);
    const attempts = delivery.attempts + 1;
    const expired = now.getTime() - new Date(delivery.created_at).getTime() >= deps.config.deliveryLifetime;
    const giveUp = result.outcome === 'deferred' && expired;
    const status = giveUp ? 'failed' : result.outcome;
    const next = status === 'deferred' ? toIsoCeil(this.nextAttempt(attempts, result, now)) : null;
    const response = result.response.slice(0, 1000);
    deps.db.transaction(() => {
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
    })();
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
