import { request, type Dispatcher } from 'undici';
import type { EventRow } from '../db/repos/events.js';
import type { WebhookJobRow, WebhookRow } from '../db/repos/webhooks.js';
import type { Deps } from '../deps.js';
import { addMs, toIso, toIsoCeil } from '../lib/clock.js';
import { unseal } from '../lib/seal.js';
import { eventView } from '../messages/views.js';
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

/** Does an event belong to this endpoint: its agent, its mailboxes if limited, its types. */
export function subscribed(webhook: WebhookRow, event: EventRow): boolean {
  if (event.agent_id !== webhook.agent_id) return false;
  const types = JSON.parse(webhook.event_types) as string[];
  if (!types.includes('*') && !types.includes(event.type)) return false;
  const mailboxes = webhook.mailbox_ids ? (JSON.parse(webhook.mailbox_ids) as string[]) : null;
  return !mailboxes || (event.mailbox_id !== null && mailboxes.includes(event.mailbox_id));
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
  const abort = AbortSignal.timeout(timeout);
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
      error: abort.aborted ? `timed out after ${timeout} ms` : reason.slice(0, 500),
      durationMs: Math.round(performance.now() - started),
      excerpt: null,
      retryAfterSeconds: null,
    };
  }
}

/**
 * Webhook delivery from the event log: each active endpoint keeps a cursor; new matching events become
 * jobs (fan-out, in the same transaction as the cursor move), and due jobs are POSTed in event order
 * per endpoint, retried on the schedule, at least once (a crash mid-attempt is retried after the lease).
 */
export class WebhookDispatcher {
  private readonly loop: WorkerLoop;
  private readonly onAppended = () => this.loop.wake();

  constructor(
    private readonly deps: Deps,
    private readonly dialer: Dispatcher,
  ) {
    this.loop = new WorkerLoop(
      () => this.run(),
      1000,
      (err) => deps.log.error({ event: 'webhook.run_failed', err }, 'webhook dispatcher run failed'),
    );
  }

  start(): void {
    this.deps.bus.on('appended', this.onAppended);
    this.loop.start();
  }

  stop(): Promise<void> {
    this.deps.bus.off('appended', this.onAppended);
    return this.loop.stop();
  }

  /** Fans out and delivers everything due; resolves with the number of attempts. Tests call it. */
  tick(): Promise<number> {
    return this.loop.tick();
  }

  private async run(): Promise<number> {
    this.fanOut();
    let attempts = 0;
    for (;;) {
      const now = this.deps.clock.now();
      const jobs = this.deps.repos.webhooks.leaseDue(
        toIso(now),
        toIso(addMs(now, this.deps.config.webhookTimeout * 3)),
        LEASE_BATCH,
      );
      if (jobs.length === 0) return attempts;
      const byEndpoint = new Map<string, WebhookJobRow[]>();
      for (const job of jobs)
        byEndpoint.set(job.webhook_id, [...(byEndpoint.get(job.webhook_id) ?? []), job]);
      // Endpoints in parallel; one endpoint's events one after another, in log order.
      await Promise.all(
        [...byEndpoint.values()].map(async (queue) => {
          for (const job of queue) await this.attempt(job);
        }),
      );
      attempts += jobs.length;
    }
  }

  private fanOut(): void {
    const { deps } = this;
    const head = deps.repos.events.maxSeq();
    for (const webhook of deps.repos.webhooks.active()) {
      if (webhook.cursor_seq >= head) continue;
      deps.db.transaction(() => {
        let cursor = webhook.cursor_seq;
        for (;;) {
          const events = deps.repos.events.list(
            webhook.org_id,
            cursor,
            { agentId: webhook.agent_id },
            FANOUT_BATCH,
          );
          for (const event of events) {
            if (!subscribed(webhook, event)) continue;
            deps.repos.webhooks.addJob({
              webhook_id: webhook.id,
              event_seq: event.seq,
              event_id: event.id,
              status: 'pending',
              attempts: 0,
              next_attempt_at: toIso(deps.clock.now()),
              lease_until: null,
              created_at: toIso(deps.clock.now()),
            });
          }
          const last = events[events.length - 1];
          if (!last || events.length < FANOUT_BATCH) break;
          cursor = last.seq;
        }
        deps.repos.webhooks.advanceCursor(webhook.id, head);
      })();
    }
  }

  private async attempt(job: WebhookJobRow): Promise<void> {
    const { deps } = this;
    const webhook = deps.repos.webhooks.byId(job.webhook_id);
    const event = deps.repos.events.bySeq(job.event_seq);
    if (!webhook || webhook.status !== 'active' || !event) return;
    const result = await postEvent(deps, this.dialer, webhook, event);
    recordAttempt(deps, webhook, job, event, result);
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
