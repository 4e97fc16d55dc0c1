import { request, type Dispatcher } from 'undici';
import { recordAudit, SYSTEM_ORIGIN } from '../audit/record.js';
import type { EventRow } from '../db/repos/events.js';
import type { WebhookJobRow, WebhookRow } from '../db/repos/webhooks.js';
import type { Deps } from '../deps.js';
import { addMs, toIso, toIsoCeil } from '../lib/clock.js';
import { unseal } from '../lib/seal.js';
import { eventView } from '../messages/views.js';
import { addJobsFor } from './fanout.js';
import { appendEvent } from './log.js';
import { signDelivery } from './signing.js';
import { WorkerLoop } from '../lib/worker-loop.js';

export const SECRET_PURPOSE = 'webhook-secret';
/** What an attempt keeps of the receiver's answer (Outline keeps the same). */
const RESPONSE_EXCERPT_BYTES = 1024;
const FANOUT_BATCH = 500;
const LEASE_BATCH = 100;

export interface AttemptResult {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  excerpt: string | null;
  retryAfterSeconds: number | null;
}

/** Signing secrets in force: the current one, and the previous one during its 24 h overlap. */
export function activeSecrets(deps: Deps, webhook: WebhookRow): string[] {
  const secrets = [unseal(deps.secret, SECRET_PURPOSE, webhook.secret_sealed)];
  const now = toIso(deps.clock.now());
  if (
    webhook.previous_secret_sealed &&
    webhook.previous_secret_expires_at &&
    webhook.previous_secret_expires_at > now
  ) {
    secrets.push(unseal(deps.secret, SECRET_PURPOSE, webhook.previous_secret_sealed));
  }
  return secrets;
}

/** Reads at most the first KiB of the answer and drops the rest: a receiver streaming forever costs nothing. */
async function excerpt(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= RESPONSE_EXCERPT_BYTES) break;
  }
  body.destroy();
  return Buffer.concat(chunks).subarray(0, RESPONSE_EXCERPT_BYTES).toString('utf8');
}

/** One POST of one event. Redirects are failures and are not followed (CONTRACT §6). */
export async function postEvent(
  deps: Deps,
  dialer: Dispatcher,
  webhook: WebhookRow,
  event: EventRow,
  cancel?: AbortSignal,
): Promise<AttemptResult> {
  const body = JSON.stringify(eventView(event));
  const headers = signDelivery({
    eventId: event.id,
    eventType: event.type,
    timestamp: Math.floor(deps.clock.now().getTime() / 1000),
    body,
    secrets: activeSecrets(deps, webhook),
  });
  const started = performance.now();
  const timeout = deps.config.webhookTimeout;
  const timedOut = AbortSignal.timeout(timeout);
  const abort = cancel ? AbortSignal.any([timedOut, cancel]) : timedOut;
  try {
    const response = await request(webhook.url, {
      method: 'POST',
      body,
      headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'LoftBox-Webhooks/1' },
      dispatcher: dialer,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      signal: abort,
    });
    const text = await excerpt(response.body);
    const retryAfter = Number(response.headers['retry-after']);
    return {
      statusCode: response.statusCode,
      error: response.statusCode >= 200 && response.statusCode < 300 ? null : `HTTP ${response.statusCode}`,
      durationMs: Math.round(performance.now() - started),
      excerpt: text,
      retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 86_400) : null,
    };
  } catch (err) {
    const error = err as Error & { cause?: Error };
    const reason = error.cause?.message ?? error.message;
    return {
      statusCode: null,
      error: timedOut.aborted ? `timed out after ${timeout} ms` : reason.slice(0, 500),
      durationMs: Math.round(performance.now() - started),
      excerpt: null,
      retryAfterSeconds: null,
    };
  }
}

/** After a database fault the dispatcher pauses 1 s, doubling up to a minute, then tries again. */
const FAULT_BACKOFF_MIN_MS = 1000;
const FAULT_BACKOFF_MAX_MS = 60_000;

/**
 * Webhook delivery from the event log. An event's jobs, for the endpoints of its own org, are normally
 * inserted by the append itself (events/fanout.ts); a fan-out pass catches up on any it left. Each endpoint then drains its own due jobs one at a time in log order, retried on the schedule,
 * at least once (a crash mid-attempt is retried after the lease). Endpoints drain independently: one
 * that never answers holds only its own slot, for at most the webhook timeout per attempt, while every
 * other endpoint keeps being served. A database fault is logged and the dispatcher backs off; it never
 * takes the process down.
 */
export class WebhookDispatcher {
  private readonly loop: WorkerLoop;
  private readonly onAppended = () => this.loop.wake();
  /** Endpoints with a drain running, by webhook id. */
  private readonly draining = new Map<string, Promise<void>>();
  private readonly shutdown = new AbortController();
  private attempts = 0;
  private faults = 0;
  private pausedUntil = 0;

  constructor(
    private readonly deps: Deps,
    private readonly dialer: Dispatcher,
  ) {
    this.loop = new WorkerLoop(() => this.pass(), 1000, { name: 'webhooks', log: deps.log });
  }

  start(): void {
    this.deps.bus.on('appended', this.onAppended);
    this.loop.start();
  }

  /** Stops passes and cancels deliveries in flight; their leases run out and they are retried on start. */
  async stop(): Promise<void> {
    this.deps.bus.off('appended', this.onAppended);
    this.shutdown.abort();
    await this.loop.stop();
    await this.idle();
  }

  /**
   * Runs a pass and waits for the deliveries in flight; resolves with the number of attempts made
   * meanwhile. Tests call it to deliver everything due at the current (injected) clock.
   */
  async tick(): Promise<number> {
    const before = this.attempts;
    await this.loop.tick();
    await this.idle();
    return this.attempts - before;
  }

  private async idle(): Promise<void> {
    while (this.draining.size > 0) await Promise.all(this.draining.values());
  }

  /** Fans out, then starts a drain for every endpoint with a due job and none running. Never rejects. */
  private async pass(): Promise<number> {
    if (this.paused()) return 0;
    try {
      this.fanOut();
      let started = 0;
      // Every commit that logs an event wakes the dispatcher; with no job waiting (no endpoint for those
      // events), a read says so and the lease, a write, is not taken.
      if (!this.deps.repos.webhooks.hasPendingJobs()) {
        this.faults = 0;
        return 0;
      }
      for (;;) {
        const heads = this.lease(null);
        for (const job of heads) this.drain(job);
        started += heads.length;
        if (heads.length < LEASE_BATCH) break;
      }
      this.faults = 0;
      return started;
    } catch (err) {
      this.fault(err);
      return 0;
    }
  }

  private lease(webhookId: string | null): WebhookJobRow[] {
    const now = this.deps.clock.now();
    return this.deps.repos.webhooks.leaseHeads(
      toIso(now),
      toIso(addMs(now, this.deps.config.webhookTimeout * 3)),
      webhookId ? [] : [...this.draining.keys()],
      LEASE_BATCH,
      webhookId,
    );
  }

  /** One endpoint's deliveries, one after another in log order, until none is due. */
  private drain(first: WebhookJobRow): void {
    const webhookId = first.webhook_id;
    const running = (async () => {
      try {
        let job: WebhookJobRow | undefined = first;
        while (job && !this.shutdown.signal.aborted) {
          await this.attempt(job);
          job = this.paused() ? undefined : this.lease(webhookId)[0];
        }
      } catch (err) {
        this.fault(err);
      } finally {
        this.draining.delete(webhookId);
      }
    })();
    this.draining.set(webhookId, running);
  }

  private paused(): boolean {
    return this.deps.clock.now().getTime() < this.pausedUntil;
  }

  private fault(err: unknown): void {
    this.faults += 1;
    const waitMs = Math.min(FAULT_BACKOFF_MIN_MS * 2 ** (this.faults - 1), FAULT_BACKOFF_MAX_MS);
    this.pausedUntil = this.deps.clock.now().getTime() + waitMs;
    this.deps.log.error(
      { event: 'webhook.dispatch_failed', err, retry_in_ms: waitMs },
      'webhook dispatcher failed; backing off',
    );
  }

  /**
   * Events the append did not fan out itself (logged while older ones were still waiting, or after a
   * failed fan-out) become jobs here, in log order: one transaction per batch of events, a shared mark in
   * the log saying how far it read.
   */
  private fanOut(): void {
    const { deps } = this;
    const head = deps.repos.events.maxSeq();
    let from = deps.repos.events.mark('webhook_fanout');
    while (from < head) {
      from = deps.db.transaction(() => {
        const events = deps.repos.events.range(from, head, FANOUT_BATCH);
        const byOrg = new Map<string, WebhookRow[]>();
        const at = toIso(deps.clock.now());
        for (const event of events) {
          let endpoints = byOrg.get(event.org_id);
          if (!endpoints) {
            endpoints = deps.repos.webhooks.forOrg(event.org_id);
            byOrg.set(event.org_id, endpoints);
          }
          addJobsFor(deps, event, endpoints, at);
        }
        const through = events.length < FANOUT_BATCH ? head : (events[events.length - 1]?.seq ?? head);
        deps.repos.events.setMark('webhook_fanout', through);
        return through;
      })();
    }
  }

  private async attempt(job: WebhookJobRow): Promise<void> {
    const { deps } = this;
    const webhook = deps.repos.webhooks.byId(job.webhook_id);
    const event = deps.repos.events.bySeq(job.event_seq);
    if (!webhook || webhook.status !== 'active' || !event) return;
    const result = await postEvent(deps, this.dialer, webhook, event, this.shutdown.signal);
    // Cut short by shutdown: not the receiver's failure, so nothing is recorded and the lease runs out.
    if (this.shutdown.signal.aborted) return;
    recordAttempt(deps, webhook, job, event, result);
    this.attempts += 1;
  }
}

/** Records an attempt and moves the job and endpoint on: delivered, retry later, failed, disabled. */
export function recordAttempt(
  deps: Deps,
  webhook: WebhookRow,
  job: WebhookJobRow,
  event: EventRow,
  result: AttemptResult,
): void {
  const now = deps.clock.now();
  const at = toIso(now);
  const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
  const attempts = job.attempts + 1;
  const schedule = deps.config.webhookRetrySchedule;
  const step = schedule[attempts - 1];
  const failures = ok ? 0 : webhook.consecutive_failures + 1;
  const gone = result.statusCode === 410;
  const disable = !ok && (gone || failures >= deps.config.webhookDisableAfter);
  deps.db.transaction(() => {
    deps.repos.webhooks.addAttempt({
      id: deps.ids.uuid(),
      webhook_id: webhook.id,
      event_id: event.id,
      attempt: attempts,
      status_code: result.statusCode,
      error: result.error,
      duration_ms: result.durationMs,
      response_excerpt: result.excerpt,
      created_at: at,
    });
    deps.repos.webhooks.updateJob(webhook.id, job.event_seq, {
      status: ok ? 'delivered' : step === undefined || gone ? 'failed' : 'pending',
      attempts,
      next_attempt_at:
        ok || step === undefined || gone
          ? null
          : toIsoCeil(addMs(now, Math.max(step, (result.retryAfterSeconds ?? 0) * 1000))),
      lease_until: null,
    });
    deps.repos.webhooks.update(
      webhook.org_id,
      webhook.id,
      {
        consecutive_failures: failures,
        ...(disable
          ? {
              status: 'disabled' as const,
              disabled_reason: gone
                ? 'receiver answered 410 Gone'
                : `${failures} consecutive failed deliveries`,
            }
          : {}),
      },
      at,
    );
    if (disable) {
      appendEvent(deps, {
        type: 'webhook.disabled',
        orgId: webhook.org_id,
        agentId: webhook.agent_id,
        data: {
          webhook_id: webhook.id,
          url: webhook.url,
          reason: gone ? 'gone' : 'failures',
          consecutive_failures: failures,
        },
      });
      recordAudit(deps, SYSTEM_ORIGIN, {
        orgId: webhook.org_id,
        action: 'webhook.disable',
        target: { type: 'webhook', id: webhook.id },
        details: { reason: gone ? 'gone' : 'failures', consecutive_failures: failures },
      });
    }
  })();
  deps.log.info(
    {
      event: ok ? 'webhook.delivered' : 'webhook.attempt_failed',
      webhook_id: webhook.id,
      event_id: event.id,
      attempt: attempts,
      status_code: result.statusCode,
      duration_ms: result.durationMs,
      disabled: disable,
    },
    'webhook attempt',
  );
}
