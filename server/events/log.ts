import type { MessageRow } from '../db/repos/messages.js';
import type { Deps } from '../deps.js';
import { threadView } from '../messages/views.js';
import { toIso } from '../lib/clock.js';
import { fanOutAppended } from './fanout.js';
import { currentRequestId } from '../lib/request-context.js';

export type EventType =
  | 'message.inbound'
  | 'thread.created'
  | 'message.queued'
  | 'message.pending_approval'
  | 'message.loop_suspected'
  | 'message.approved'
  | 'message.rejected'
  | 'message.blocked'
  | 'message.sent'
  | 'message.delivered'
  | 'message.deferred'
  | 'message.failed'
  | 'message.bounced'
  | 'message.complained'
  | 'mailbox.suspended'
  | 'mailbox.resumed'
  | 'domain.verified'
  | 'domain.failed'
  | 'dmarc.report.received'
  | 'tls.report.received'
  | 'webhook.disabled';

/** Every type a webhook may subscribe to and the stream may filter on, in CONTRACT §6 order. */
export const EVENT_TYPES: readonly EventType[] = [
  'message.inbound',
  'thread.created',
  'message.queued',
  'message.pending_approval',
  'message.loop_suspected',
  'message.approved',
  'message.rejected',
  'message.blocked',
  'message.sent',
  'message.delivered',
  'message.deferred',
  'message.failed',
  'message.bounced',
  'message.complained',
  'mailbox.suspended',
  'mailbox.resumed',
  'domain.verified',
  'domain.failed',
  'dmarc.report.received',
  'tls.report.received',
  'webhook.disabled',
];

export interface NewEvent {
  type: EventType;
  orgId: string;
  agentId?: string | null;
  mailboxId?: string | null;
  mailbox?: string | null;
  threadId?: string | null;
  messageId?: string | null;
  /** The request or SMTP session that caused it; defaults to the one the current work runs for. */
  requestId?: string | null;
  data: Record<string, unknown>;
}

/**
 * Appends to the event log. Call it inside the transaction of the change it describes, so the log
 * never disagrees with the state (CONTRACT §6).
 */
export function appendEvent(deps: Deps, event: NewEvent): string {
  const id = deps.ids.publicId('evt');
  const row = {
    id,
    org_id: event.orgId,
    type: event.type,
    agent_id: event.agentId ?? null,
    mailbox_id: event.mailboxId ?? null,
    mailbox: event.mailbox ?? null,
    thread_id: event.threadId ?? null,
    message_id: event.messageId ?? null,
    request_id: event.requestId !== undefined ? event.requestId : currentRequestId(),
    data: JSON.stringify(event.data),
    created_at: toIso(deps.clock.now()),
  };
  const seq = deps.repos.events.append(row);
  fanOutAppended(deps, { ...row, seq });
  deps.bus.notify(event.orgId, seq);
  return id;
}

/**
 * The routing fields of an event about one message: its org, agent, mailbox (id and address), thread
 * and id. The address is looked up unless the caller already holds the mailbox. The request is the
 * current one (an approve) or else the one that created the message (a scheduled send coming due).
 */
export function aboutMessage(
  deps: Deps,
  message: MessageRow,
  mailboxAddress?: string,
): Omit<NewEvent, 'type' | 'data'> {
  return {
    orgId: message.org_id,
    agentId: message.agent_id,
    mailboxId: message.mailbox_id,
    mailbox: mailboxAddress ?? deps.repos.mailboxes.get(message.org_id, message.mailbox_id)?.address ?? null,
    threadId: message.thread_id,
    messageId: message.id,
    requestId: currentRequestId() ?? message.request_id ?? null,
  };
}

/** `thread.created` for a message that started a new thread (the event is about the thread alone). */
export function appendThreadCreated(deps: Deps, about: Omit<NewEvent, 'type' | 'data'>): void {
  const thread = about.threadId ? deps.repos.threads.get(about.orgId, about.threadId) : undefined;
  appendEvent(deps, {
    ...about,
    messageId: null,
    type: 'thread.created',
    data: { thread: thread ? threadView(thread) : null },
  });
}

/**
 * Has the log's own retention deleted events after this cursor? Then a consumer resuming from it would
 * silently miss them, so it must resync instead (CONTRACT §7 `resync_required`).
 */
export function cursorExpired(deps: Deps, afterSeq: number): boolean {
  return afterSeq < deps.repos.events.mark('retention_floor');
}

export const RESYNC_MESSAGE =
  'Events after this cursor are past the event retention; read the current state and start from a new cursor.';
