import type { InboundRow } from '../db/repos/inbound.js';
import type { MailboxRow } from '../db/repos/mailboxes.js';
import type { MessageRow } from '../db/repos/messages.js';
import type { ThreadRow } from '../db/repos/threads.js';
import type { Deps } from '../deps.js';
import { aboutMessage, appendEvent, appendThreadCreated } from '../events/log.js';
import { toIso } from '../lib/clock.js';
import { storeAttachments } from '../messages/attachments.js';
import { extractedTextToStore } from '../messages/extracted-text.js';
import { messageView } from '../messages/views.js';
import type { InjectionRisk } from '../policy/injection.js';
import type { AuthSummary } from './authenticate.js';
import type { Automation, AutomationReason } from './automation.js';
import { sanitizeFilename } from './filenames.js';
import type { ParsedMessage } from './parse.js';
import { findThread, subjectKey } from '../messages/threading.js';

export interface IncomingForMailbox {
  inbound: InboundRow;
  mailbox: MailboxRow;
  parsed: ParsedMessage;
  auth: AuthSummary;
  extractedText: string;
  risk: InjectionRisk;
  automation: Automation;
  /**
   * The message as clients read it: `prefix` (our Authentication-Results), then the accepted blob
   * `hash`; `size` counts both.
   */
  stored: { hash: string; prefix: Buffer | null; size: number };
}

const MAX_PARTICIPANTS = 50;

/** Our own mail coming back to the mailbox that sent it (reflected by a list or a forwarder). */
function automationReasons(deps: Deps, mailbox: MailboxRow, input: IncomingForMailbox): AutomationReason[] {
  const { messageId } = input.parsed;
  const own =
    messageId !== null &&
    deps.repos.messages
      .byMessageIds(mailbox.org_id, mailbox.id, [messageId])
      .some((m) => m.direction === 'outgoing');
  return own ? [...input.automation.reasons, 'own_message'] : input.automation.reasons;
}

function participantsOf(parsed: ParsedMessage, envelopeFrom: string): string[] {
  const all = [parsed.from, ...parsed.to, ...parsed.cc, ...parsed.replyTo]
    .filter((a): a is NonNullable<typeof a> => a !== null)
    .map((a) => a.address);
  if (all.length === 0 && envelopeFrom) all.push(envelopeFrom);
  return [...new Set(all)].slice(0, MAX_PARTICIPANTS);
}

/**
 * Stores one incoming message for one mailbox, with its thread, attachments, search entry and events,
 * in one transaction. Keyed by (inbound id, mailbox): running it again after a crash changes nothing.
 */
export function storeIncoming(deps: Deps, input: IncomingForMailbox): MessageRow | null {
  const { inbound, mailbox, parsed, auth, risk } = input;
  return deps.db.transaction((): MessageRow | null => {
    if (deps.repos.messages.byInbound(inbound.id, mailbox.id)) return null;
    const now = toIso(deps.clock.now());
    const participants = participantsOf(parsed, inbound.mail_from);
    const reasons = automationReasons(deps, mailbox, input);

    let thread: ThreadRow | null = findThread(deps, mailbox, {
      messageId: parsed.messageId,
      inReplyTo: parsed.inReplyTo,
      references: parsed.references,
      subject: parsed.subject,
      participants,
    });
    let threadCreated = false;
    if (!thread) {
      thread = {
        id: deps.ids.uuid(),
        org_id: mailbox.org_id,
        mailbox_id: mailbox.id,
        subject: parsed.subject,
        subject_key: subjectKey(parsed.subject),
        participants: '[]',
        message_count: 0,
        last_message_at: inbound.received_at,
        created_at: now,
      };
      deps.repos.threads.insert(thread);
      threadCreated = true;
    }
    const threadPeople = [
      ...new Set([...(JSON.parse(thread.participants) as string[]), ...participants]),
    ].slice(0, MAX_PARTICIPANTS);

    const message: MessageRow = {
      id: deps.ids.uuid(),
      public_id: deps.ids.publicId('msg'),
      org_id: mailbox.org_id,
      mailbox_id: mailbox.id,
      agent_id: mailbox.agent_id,
      thread_id: thread.id,
      inbound_id: inbound.id,
      request_id: inbound.request_id ?? null,
      direction: 'incoming',
      status: 'received',
      from_addr: parsed.from
        ? JSON.stringify(parsed.from)
        : inbound.mail_from
          ? JSON.stringify({ address: inbound.mail_from })
          : null,
      to_addrs: JSON.stringify(parsed.to),
      cc_addrs: JSON.stringify(parsed.cc),
      bcc_addrs: '[]',
      reply_to: JSON.stringify(parsed.replyTo),
      envelope_from: inbound.mail_from,
      subject: parsed.subject,
      body_text: parsed.text,
      body_html: parsed.html,
      body_markdown: null,
      extracted_text: extractedTextToStore(parsed.text, input.extractedText),
      message_id_header: parsed.messageId,
      in_reply_to: parsed.inReplyTo,
      references_ids: JSON.stringify(parsed.references),
      labels: '[]',
      metadata: '{}',
      auth: JSON.stringify(auth),
      injection_score: risk.score,
      injection_categories: JSON.stringify(risk.categories),
      injection_signals: JSON.stringify(risk.signals),
      raw_hash: input.stored.hash,
      raw_prefix: input.stored.prefix,
      size_bytes: input.stored.size,
      acked_at: null,
      archived_at: null,
      trashed_at: null,
      scheduled_at: null,
      sent_at: null,
      delivered_at: null,
      received_at: inbound.received_at,
      created_at: now,
      approval_policy_id: null,
      approval_reason: null,
      decided_by: null,
      decided_at: null,
      decision_reason: null,
      automated: reasons.length > 0 ? 1 : 0,
      automation_reasons: JSON.stringify(reasons),
      hops: input.automation.hops,
      approval_detail: null,
    };
    deps.repos.messages.insert(message, {
      addresses: participants.join(' '),
      body: parsed.text.slice(0, 1024 * 1024),
    });

    const attachments = storeAttachments(
      deps,
      mailbox.org_id,
      message.id,
      parsed.attachments.map((a, position) => ({
        ...a,
        filename: sanitizeFilename(a.filename, `attachment-${position + 1}`),
      })),
    );

    deps.repos.threads.recordMessage(mailbox.org_id, thread.id, threadPeople, inbound.received_at);
    // The session that accepted it, whatever work happens to run this step (CONTRACT §6).
    const about = { ...aboutMessage(deps, message, mailbox.address), requestId: inbound.request_id ?? null };
    if (threadCreated) appendThreadCreated(deps, about);
    appendEvent(deps, {
      ...about,
      type: 'message.inbound',
      data: { message: messageView(message, attachments) },
    });
    return message;
  })();
}
