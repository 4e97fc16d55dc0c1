import type { DeliveryRow } from '../db/repos/deliveries.js';
import type { Deps } from '../deps.js';
import { aboutMessage, appendEvent, type EventType } from '../events/log.js';
import { toIso } from '../lib/clock.js';
import { messageView } from '../messages/views.js';
import { recordComplaint } from './complaints.js';
import { aggregateStatus } from './queue.js';
import type { ParsedReport } from './reports.js';

const VERP_TOKEN = /^bounces\+([a-z2-7]{20})@/;

export function verpToken(address: string): string | null {
  return VERP_TOKEN.exec(address)?.[1] ?? null;
}

/**
 * A report that came back to one delivery's VERP address: an RFC 3464 DSN bounces (or, for a
 * "delivered" report, confirms) that recipient; an RFC 5965 complaint marks it complained. Hard
 * bounces (5.x.x) and complaints suppress the address for the org. Mail that is not a report, or
 * that names another recipient, changes nothing.
 */
export function applyReport(deps: Deps, token: string, report: ParsedReport | null, inboundId: string): void {
  const delivery = deps.repos.deliveries.byVerpToken(token);
  if (!delivery) return;
  if (!report) {
    deps.log.info(
      { event: 'outbound.return_path_not_report', delivery_id: delivery.id, inbound_id: inboundId },
      'ignored',
    );
    return;
  }
  if (report.kind === 'arf') {
    settle(deps, delivery, 'complained', {
      status: '5.7.0',
      diagnostic: report.feedbackType,
      suppress: 'complaint',
    });
    const message = deps.repos.messages.get(delivery.org_id, delivery.message_id);
    if (message) {
      deps.db.transaction(() =>
        recordComplaint(deps, message, {
          recipient: delivery.recipient,
          source: 'return_path',
          feedbackType: report.feedbackType,
        }),
      )();
    }
    return;
  }
  const entry = report.recipients.find(
    (r) => r.finalRecipient === delivery.recipient || r.originalRecipient === delivery.recipient,
  );
  if (!entry) {
    deps.log.info(
      { event: 'outbound.dsn_other_recipient', delivery_id: delivery.id },
      'DSN names another recipient',
    );
    return;
  }
  if (entry.action === 'failed') {
    settle(deps, delivery, 'bounced', {
      status: entry.status,
      diagnostic: entry.diagnosticCode,
      suppress: entry.status.startsWith('5') ? 'hard_bounce' : null,
    });
  } else if (entry.action === 'delivered') {
    settle(deps, delivery, 'delivered', {
      status: entry.status,
      diagnostic: entry.diagnosticCode,
      suppress: null,
    });
  }
}

const EVENT: Record<string, EventType> = {
  bounced: 'message.bounced',
  complained: 'message.complained',
  delivered: 'message.delivered',
};

function settle(
  deps: Deps,
  delivery: DeliveryRow,
  status: 'bounced' | 'complained' | 'delivered',
  detail: { status: string; diagnostic: string | null; suppress: 'hard_bounce' | 'complaint' | null },
): void {
  const at = toIso(deps.clock.now());
  const message = deps.repos.messages.get(delivery.org_id, delivery.message_id);
  if (!message) return;
  deps.db.transaction(() => {
    deps.repos.deliveries.update(
      delivery.id,
      {
        status,
        next_attempt_at: null,
        last_status: detail.status,
        last_response: (detail.diagnostic ?? `${status} report`).slice(0, 1000),
      },
      at,
    );
    if (detail.suppress) {
      deps.repos.suppressions.upsert({
        id: deps.ids.uuid(),
        org_id: delivery.org_id,
        address: delivery.recipient,
        reason: detail.suppress,
        source_message_id: message.id,
        created_at: at,
        expires_at: null,
      });
    }
    const deliveries = deps.repos.deliveries.forMessage(delivery.org_id, message.id);
    deps.repos.messages.setStatus(delivery.org_id, message.id, aggregateStatus(message.status, deliveries));
    const updated = deps.repos.messages.get(delivery.org_id, message.id) ?? message;
    appendEvent(deps, {
      ...aboutMessage(deps, message),
      type: EVENT[status] ?? 'message.bounced',
      data: {
        recipient: delivery.recipient,
        status: detail.status,
        diagnostic: detail.diagnostic,
        message: messageView(updated, deps.repos.attachments.forMessage(delivery.org_id, message.id)),
      },
    });
  })();
  deps.log.info(
    { event: `outbound.${status}_report`, delivery_id: delivery.id, status: detail.status },
    'report applied',
  );
}
