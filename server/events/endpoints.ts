import type { WebhookRow } from '../db/repos/webhooks.js';
import type { Deps } from '../deps.js';
import { toIso } from '../lib/clock.js';
import { ApiError, notFound } from '../lib/errors.js';
import { seal } from '../lib/seal.js';
import { newWebhookSecret } from './signing.js';
import { checkWebhookUrl, ForbiddenTargetError } from '../lib/ssrf.js';
import { SECRET_PURPOSE } from './webhook-dispatcher.js';

/*
 * Webhook endpoints as a service: the webhook routes and mailbox creation (`webhook_url`) both
 * register endpoints through here, so neither route module depends on the other.
 */

function webhookPolicy(deps: Deps) {
  return { allow: deps.config.webhookAllow ? deps.config.webhookAllow.split(',') : [] };
}

/** CONTRACT §6: internal targets are refused when the webhook is created (and again at connect time). */
export function safeWebhookUrl(deps: Deps, value: string): string {
  try {
    return checkWebhookUrl(value, webhookPolicy(deps)).toString();
  } catch (err) {
    const reason =
      err instanceof ForbiddenTargetError ? `not a public target (${err.reason})` : 'not a valid http(s) URL';
    throw new ApiError(422, 'validation_error', `The webhook URL is ${reason}.`, {
      details: [{ path: 'url', message: reason }],
    });
  }
}

/** The org's own mailboxes by id or public id, as stored on an endpoint; another org's id is a 404. */
export function ownMailboxIds(deps: Deps, orgId: string, ids: string[] | undefined): string | null {
  if (!ids || ids.length === 0) return null;
  const own = ids.map((id) => {
    const mailbox = deps.repos.mailboxes.get(orgId, id);
    if (!mailbox) throw notFound('mailbox');
    return mailbox.id;
  });
  return JSON.stringify([...new Set(own)]);
}

/** Creates an endpoint for an agent; its secret is returned here and never again. */
export function createWebhook(
  deps: Deps,
  orgId: string,
  agentId: string,
  input: { url: string; event_types: string[]; mailbox_ids?: string[] | undefined },
): { row: WebhookRow; secret: string } {
  const secret = newWebhookSecret();
  const now = toIso(deps.clock.now());
  const row: WebhookRow = {
    id: deps.ids.uuid(),
    org_id: orgId,
    agent_id: agentId,
    url: safeWebhookUrl(deps, input.url),
    event_types: JSON.stringify([...new Set(input.event_types)]),
    mailbox_ids: ownMailboxIds(deps, orgId, input.mailbox_ids),
    secret_sealed: seal(deps.secret, SECRET_PURPOSE, secret),
    previous_secret_sealed: null,
    previous_secret_expires_at: null,
    status: 'active',
    disabled_reason: null,
    // Only events from now on: a new endpoint is not flooded with history (replay covers that).
    cursor_seq: deps.repos.events.maxSeq(),
    consecutive_failures: 0,
    created_at: now,
    updated_at: now,
  };
  deps.repos.webhooks.insert(row);
  return { row, secret };
}
