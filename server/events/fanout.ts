import type { EventRow } from '../db/repos/events.js';
import type { WebhookRow } from '../db/repos/webhooks.js';
import type { Deps } from '../deps.js';

/**
 * Does an event belong to this endpoint: its org; its agent, or no agent at all (org-level events such
 * as `domain.verified` and `dmarc.report.received` go to every endpoint of the org); its mailboxes if it
 * is limited to some (then org-level events are not its business); its types.
 */
export function subscribed(webhook: WebhookRow, event: EventRow): boolean {
  if (event.org_id !== webhook.org_id) return false;
  if (event.agent_id !== null && event.agent_id !== webhook.agent_id) return false;
  const types = JSON.parse(webhook.event_types) as string[];
  if (!types.includes('*') && !types.includes(event.type)) return false;
  const mailboxes = webhook.mailbox_ids ? (JSON.parse(webhook.mailbox_ids) as string[]) : null;
  return !mailboxes || (event.mailbox_id !== null && mailboxes.includes(event.mailbox_id));
}

/**
 * Jobs for the subscribed endpoints among `endpoints` (the event's org's). An endpoint's `cursor_seq` is
 * where it started: it gets only events logged after it was created.
 */
export function addJobsFor(deps: Deps, event: EventRow, endpoints: WebhookRow[], at: string): void {
  for (const webhook of endpoints) {
    if (event.seq <= webhook.cursor_seq || !subscribed(webhook, event)) continue;
    deps.repos.webhooks.addJob({
      webhook_id: webhook.id,
      event_seq: event.seq,
      event_id: event.id,
      status: 'pending',
      attempts: 0,
      next_attempt_at: at,
      lease_until: null,
      created_at: at,
    });
  }
}

/**
 * Fan-out at append time: the event's jobs commit with the event itself, so the dispatcher has nothing
 * to fan out and no transaction of its own to pay for. Only when the fan-out mark is right behind this
 * event: if older events still wait for the dispatcher's pass, this one waits too, so every endpoint
 * still gets its jobs in log order.
 *
 * A failure here must not undo the change the event describes: the jobs are inserted under a savepoint
 * and, should it fail, the mark stays put and the dispatcher's next pass fans the event out. When SQLite
 * itself rolled the caller's transaction back (a full disk, an I/O error), the caller has to know.
 */
export function fanOutAppended(deps: Deps, event: EventRow): void {
  const { db, repos } = deps;
  const inCallerTransaction = db.inTransaction;
  try {
    if (repos.events.mark('webhook_fanout') !== event.seq - 1) return;
    const endpoints = repos.webhooks.forOrg(event.org_id);
    // Most orgs have no endpoint: moving the mark is one statement, with nothing to undo beside it, so it
    // needs no savepoint of its own (two statements fewer for each event).
    if (endpoints.length === 0) return repos.events.setMark('webhook_fanout', event.seq);
    db.transaction(() => {
      addJobsFor(deps, event, endpoints, event.created_at);
      repos.events.setMark('webhook_fanout', event.seq);
    })();
  } catch (err) {
    if (inCallerTransaction && !db.inTransaction) throw err;
    deps.log.warn(
      { event: 'webhook.fanout_deferred', event_seq: event.seq, err },
      'webhook jobs left to the dispatcher pass',
    );
  }
}
