import type { Deps } from '../deps.js';
import { aboutMessage, appendEvent } from '../events/log.js';
import { toIso } from '../lib/clock.js';
import { conflict, notFound } from '../lib/errors.js';
import { messageView } from '../messages/views.js';
import { aggregateStatus } from './queue.js';

/**
 * What a person (or a key with `message:send`) may do to an outgoing message already in the queue:
 * try its deferred recipients now, or stop the recipients still waiting. A delivery in flight is
 * never interrupted: its attempt finishes and is recorded as usual.
 */

/** Deferred recipients become due now; the queue wakes. 409 when nothing is deferred. */
export function retryNow(deps: Deps, orgId: string, messageId: string): void {
  const message = deps.repos.messages.get(orgId, messageId);
  if (!message || message.direction !== 'outgoing') throw notFound('message');
  const retried = deps.repos.deliveries.retryDeferred(orgId, message.id, toIso(deps.clock.now()));
  if (retried === 0) {
    throw conflict('nothing_to_retry', `No recipient of this message is deferred (it is ${message.status}).`);
  }
  deps.wakeQueue();
}

/**
 * Recipients still queued or deferred are cancelled. The message settles from its recipients: a
 * message none of whose recipients got it ends `failed` (with a `message.failed` event saying it was
 * cancelled), one that reached some keeps what they reached. 409 when no recipient is waiting.
 */
export function cancelWaiting(deps: Deps, orgId: string, messageId: string, cancelledBy: string): void {
  const message = deps.repos.messages.get(orgId, messageId);
  if (!message || message.direction !== 'outgoing') throw notFound('message');
  const now = toIso(deps.clock.now());
  deps.db.transaction(() => {
    const reason = `cancelled by ${cancelledBy}`;
    const cancelled = deps.repos.deliveries.cancelWaiting(orgId, message.id, reason, now);
    if (cancelled === 0) {
      const inFlight = deps.repos.deliveries
        .forMessage(orgId, message.id)
        .some((delivery) => delivery.status === 'sending');
      throw inFlight
        ? conflict('delivery_in_flight', 'The message is being delivered right now; try again in a moment.')
        : conflict('nothing_to_cancel', `No recipient of this message is waiting (it is ${message.status}).`);
    }
    const deliveries = deps.repos.deliveries.forMessage(orgId, message.id);
    const settled = aggregateStatus(message.status, deliveries);
    const waiting = deliveries.some((d) => ['held', 'queued', 'sending', 'deferred'].includes(d.status));
    // Every recipient cancelled leaves the aggregate where it was; nothing will move it on, so it fails.
    const status = waiting || settled !== message.status ? settled : 'failed';
    deps.repos.messages.setStatus(orgId, message.id, status);
    if (status === 'failed') {
      const updated = deps.repos.messages.get(orgId, message.id) ?? message;
      appendEvent(deps, {
        ...aboutMessage(deps, message),
        type: 'message.failed',
        data: {
          reason: 'cancelled',
          cancelled_by: cancelledBy,
          message: messageView(updated, deps.repos.attachments.forMessage(orgId, message.id), deliveries),
        },
      });
    }
  })();
}
