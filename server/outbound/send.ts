import { createHash } from 'node:crypto';
import { recordAudit, type AuditOrigin } from '../audit/record.js';
import { sendAuditEntry } from './send-audit.js';
import type { DeliveryRow } from '../db/repos/deliveries.js';
import type { MailboxRow } from '../db/repos/mailboxes.js';
import type { MessageRow } from '../db/repos/messages.js';
import type { OrganizationRow } from '../db/repos/organizations.js';
import type { ThreadRow } from '../db/repos/threads.js';
import type { Deps } from '../deps.js';
import { aboutMessage, appendEvent, appendThreadCreated, type EventType } from '../events/log.js';
import { DAY_MS, toIso } from '../lib/clock.js';
import { ApiError, conflict, forbidden, notFound, tooManyRequests } from '../lib/errors.js';
import { randomBase32 } from '../lib/ids.js';
import { storeAttachments } from '../messages/attachments.js';
import { messageView } from '../messages/views.js';
import { subjectKey } from '../messages/threading.js';
import type { AttachmentInput } from '../seams.js';
import { renderBodies } from './render-bodies.js';
import { signingKey } from '../domains/dkim-keys.js';
import { evaluatePolicies, withLoopHold, type PolicyVerdict } from './policies.js';
import { checkLoop, nextHops } from './loop-guard.js';
import {
  checkSendBudgets,
  checkSendConstraints,
  recordBudgetedSend,
  type BudgetedSend,
} from './send-constraints.js';
import { systemMailbox } from '../accounts/system-identity.js';
import { isUnknownHostedRecipient } from '../domains/routing.js';

/** A send request after validation (the route's zod schema): addresses lower-cased, bodies decoded. */
export interface SendRequest {
  mailbox_id: string;
  to: string[];
  cc: string[];
  bcc: string[];
  reply_to: string[];
  subject: string;
  body_text?: string | undefined;
  body_html?: string | undefined;
  body_markdown?: string | undefined;
  in_reply_to?: string | undefined;
  references: string[];
  headers: Record<string, string>;
  metadata: Record<string, unknown>;
  attachments: AttachmentInput[];
  send_at?: Date | undefined;
}

export interface SendResult {
  message: MessageRow;
  replayed: boolean;
}

export interface SendContext {
  org: OrganizationRow;
  /** Who asked: the API key id (or the SMTP-authenticated key), kept for the audit trail. */
  actor: string;
  idempotencyKey?: string | undefined;
  /** The canonical request, hashed to tell a replay from a different request under the same key. */
  requestForHash: unknown;
  /** Where the send came from, for its audit row (written in the send's own transaction). */
  origin?: AuditOrigin | undefined;
}

const IDEMPOTENCY_WINDOW_MS = DAY_MS;

// Step: idempotency — the same key and body answer with the original message.
function replayed(deps: Deps, ctx: SendContext, requestHash: string): MessageRow | null {
  if (!ctx.idempotencyKey) return null;
  const since = toIso(new Date(deps.clock.now().getTime() - IDEMPOTENCY_WINDOW_MS));
  const prior = deps.repos.idempotency.get(ctx.org.id, ctx.idempotencyKey, since);
  if (!prior) return null;
  if (prior.request_hash !== requestHash) {
    throw conflict('idempotency_conflict', 'This Idempotency-Key was used with a different request.');
  }
  return deps.repos.messages.get(ctx.org.id, prior.message_id) ?? null;
}

// Step: complaints have not paused the mailbox's sending (CONTRACT §13; resumed by an admin).
function assertNotSuspended(mailbox: MailboxRow): void {
  if (mailbox.suspended_at) {
    throw forbidden(
      'mailbox_suspended',
      'Sending from this mailbox is suspended after recipient complaints; an admin can resume it with POST /v1/mailboxes/{id}/resume.',
    );
  }
}

// Step: the mailbox belongs to the org and may send.
function sendingMailbox(deps: Deps, orgId: string, id: string): MailboxRow {
  const mailbox = deps.repos.mailboxes.get(orgId, id);
  if (!mailbox) throw notFound('mailbox');
  if (mailbox.status === 'deleted' || mailbox.active !== 1) {
    throw conflict('mailbox_inactive', 'This mailbox is deleted or deactivated and cannot send.');
  }
  assertNotSuspended(mailbox);
  if (mailbox.domain_id) {
    // Sending from a custom domain needs it verified now: a flagged or deleted domain holds its mail.
    const domain = deps.repos.domains.get(orgId, mailbox.domain_id);
    if (domain?.status !== 'verified') {
      throw conflict(
        'domain_not_verified',
        `${mailbox.domain} is not verified for sending; check GET /v1/domains/{id}/status.`,
      );
    }
  }
  return mailbox;
}

// Step: restricted (unclaimed) orgs mail their owner only (CONTRACT §4).
function checkRestricted(org: OrganizationRow, recipients: string[]): void {
  if (org.origin !== 'agent_signup' || org.signup_status === 'verified') return;
  const strangers = recipients.filter((r) => r !== org.owner_email);
  if (strangers.length > 0) {
    throw forbidden(
      'restricted_recipient',
      `Until the owner claims this account it can only send to ${org.owner_email}. Claim it to lift the restriction.`,
    );
  }
}

// Step: recipients on domains this server hosts must exist now. Delivery would only end in the MX's
// 550 5.1.1 after the caller was told "queued", so the whole send is refused and nothing is stored.
function checkHostedRecipients(deps: Deps, request: SendRequest): void {
  const unknown = (['to', 'cc', 'bcc'] as const).flatMap((field) =>
    request[field]
      .map((address, i) => ({ path: `${field}[${i}]`, address }))
      .filter(({ address }) => isUnknownHostedRecipient(deps, address)),
  );
  if (unknown.length === 0) return;
  const names = [...new Set(unknown.map((u) => u.address))];
  throw new ApiError(
    422,
    'recipient_not_found',
    `No mailbox exists at ${names.join(', ')}; nothing was sent.`,
    { details: unknown.map((u) => ({ path: u.path, message: `no mailbox at ${u.address}` })) },
  );
}

// Step: suppressed recipients (hard bounces, complaints, manual) are refused.
function checkSuppressions(deps: Deps, orgId: string, recipients: string[]): void {
  const hits = deps.repos.suppressions.active(orgId, recipients, toIso(deps.clock.now()));
  if (hits.length > 0) {
    throw new ApiError(
      409,
      'recipient_suppressed',
      `Suppressed recipient: ${hits.map((h) => h.address).join(', ')}.`,
    );
  }
}

const utcDayStart = (now: Date) =>
  new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
/** The UTC day as stored timestamps begin (`YYYY-MM-DD`), the daily limit's key. */
const utcDay = (now: Date) => toIso(now).slice(0, 10);
const secondsToUtcMidnight = (now: Date) => (utcDayStart(now).getTime() + DAY_MS - now.getTime()) / 1000;

// Step: the daily cap per org (reset at UTC midnight). Read again inside the persisting transaction,
// because concurrent sends all pass an earlier read while they compose.
function checkDailyLimit(deps: Deps, org: OrganizationRow): void {
  const now = deps.clock.now();
  const limit = org.daily_send_limit ?? deps.config.dailySendLimit;
  if (deps.repos.messages.sentOn(org.id, utcDay(now)) >= limit) {
    throw tooManyRequests(
      'daily_limit_reached',
      `The daily limit of ${limit} messages is reached.`,
      secondsToUtcMidnight(now),
    );
  }
}

// Step: unclaimed orgs all mail the same owner address, so one person's inbox gets one daily cap
// shared by every unclaimed org naming it — otherwise chaining self-signups multiplies the org cap.
function checkUnclaimedOwnerLimit(deps: Deps, org: OrganizationRow): void {
  if (org.origin !== 'agent_signup' || org.signup_status === 'verified') return;
  const now = deps.clock.now();
  const limit = deps.config.unclaimedOwnerDailyLimit;
  const sent = deps.repos.messages.countFromUnclaimedOrgsSince(org.owner_email, toIso(utcDayStart(now)));
  if (sent >= limit) {
    throw tooManyRequests(
      'daily_limit_reached',
      `Unclaimed accounts may send ${org.owner_email} at most ${limit} messages a day. Claim this account to lift the limit.`,
      secondsToUtcMidnight(now),
    );
  }
}

// Step: the per-mailbox burst limit; an in-memory counter that counts each attempt as it is made.
function checkBurst(deps: Deps, mailbox: MailboxRow): void {
  const burst = deps.limits.perMailbox.hit(mailbox.id);
  if (!burst.allowed) {
    throw tooManyRequests(
      'rate_limited',
      'This mailbox is sending too fast. Slow down.',
      burst.retryAfterSeconds,
    );
  }
}

/** `in_reply_to` may name one of our messages (either id form) or carry a Message-ID header value. */
function resolveParent(deps: Deps, orgId: string, reference: string | undefined): MessageRow | string | null {
  if (!reference) return null;
  if (/^<.+>$/.test(reference)) return reference;
  const message = deps.repos.messages.get(orgId, reference);
  if (!message)
    throw new ApiError(422, 'validation_error', 'in_reply_to names no message of this organization.', {
      details: [{ path: 'in_reply_to', message: 'unknown message' }],
    });
  return message;
}

interface Threading {
  inReplyTo: string | null;
  references: string[];
  thread: ThreadRow | null;
  /** The message being answered, when it is ours (a stored id, or a Message-ID of this mailbox). */
  parent: MessageRow | null;
  /** X-LoftBox-Hops of agent mail; null for the server's own mail. */
  hops: number | null;
}

// Step: find the thread the reply continues, by our stored Message-IDs.
function threading(deps: Deps, mailbox: MailboxRow, request: SendRequest): Threading {
  const parent = resolveParent(deps, mailbox.org_id, request.in_reply_to);
  const parentId = typeof parent === 'string' ? parent : (parent?.message_id_header ?? null);
  const parentRefs =
    parent && typeof parent !== 'string' ? (JSON.parse(parent.references_ids) as string[]) : [];
  const references = [
    ...new Set([...parentRefs, ...request.references, ...(parentId ? [parentId] : [])]),
  ].slice(-50);
  const known = deps.repos.messages.byMessageIds(mailbox.org_id, mailbox.id, [...references].reverse());
  const threadId =
    typeof parent !== 'string' && parent?.mailbox_id === mailbox.id ? parent.thread_id : known[0]?.thread_id;
  const parentRow =
    typeof parent === 'string' ? (known.find((m) => m.message_id_header === parent) ?? null) : parent;
  return {
    inReplyTo: parentId,
    references,
    thread: threadId ? (deps.repos.threads.get(mailbox.org_id, threadId) ?? null) : null,
    parent: parentRow,
    hops: nextHops(parentRow),
  };
}

// Step: key constraints — the acting key's mailboxes, reply-only, recipients and send budget
// (CONTRACT §12). A reply-only key must answer a message we hold in a thread of this mailbox.
function checkKeyConstraints(
  deps: Deps,
  ctx: SendContext,
  mailbox: MailboxRow,
  recipients: string[],
  thread: Threading,
): BudgetedSend {
  const answersThreadOfMailbox =
    thread.inReplyTo !== null &&
    thread.thread?.mailbox_id === mailbox.id &&
    deps.repos.messages.byMessageIds(mailbox.org_id, mailbox.id, [thread.inReplyTo]).length > 0;
  return checkSendConstraints(deps, ctx.org.id, ctx.actor, {
    mailboxId: mailbox.id,
    recipients,
    answersThreadOfMailbox,
  });
}

const uniqueRecipients = (request: SendRequest) => [
  ...new Set([...request.to, ...request.cc, ...request.bcc]),
];

/**
 * The send checklist of CONTRACT §5, each step named: idempotency → mailbox → restricted mode →
 * hosted recipients exist → suppressions → key constraints → limits → approval policies → compose and sign → loop guard → persist
 * (message, deliveries, events, idempotency key; one transaction, durable) → the caller answers 201.
 */
export async function sendMessage(deps: Deps, ctx: SendContext, request: SendRequest): Promise<SendResult> {
  const requestHash = createHash('sha256').update(JSON.stringify(ctx.requestForHash)).digest('hex');
  const prior = replayed(deps, ctx, requestHash);
  if (prior) return { message: prior, replayed: true };

  const mailbox = sendingMailbox(deps, ctx.org.id, request.mailbox_id);
  const recipients = uniqueRecipients(request);
  checkRestricted(ctx.org, recipients);
  checkHostedRecipients(deps, request);
  checkSuppressions(deps, ctx.org.id, recipients);
  const thread = threading(deps, mailbox, request);
  const budgeted = checkKeyConstraints(deps, ctx, mailbox, recipients, thread);
  checkDailyLimit(deps, ctx.org);
  checkUnclaimedOwnerLimit(deps, ctx.org);
  checkBurst(deps, mailbox);
  const policyVerdict = evaluatePolicies(deps.repos.approvalPolicies.enabled(ctx.org.id), {
    mailbox,
    recipients,
    metadata: request.metadata,
  });

  const composed = await composeSigned(deps, mailbox, request, thread);

  // Check and insert are one synchronous unit of an IMMEDIATE transaction: no await can slip between
  // them, and no other connection can insert between the count and our row. Concurrent sends share the
  // transaction (group commit), each unit seeing the rows of the units before it; 201 follows the commit.
  return deps.commits.run((): SendResult => {
    // A concurrent request with the same key may have committed while we composed.
    const raced = replayed(deps, ctx, requestHash);
    if (raced) return { message: raced, replayed: true };
    checkDailyLimit(deps, ctx.org);
    checkUnclaimedOwnerLimit(deps, ctx.org);
    checkSendBudgets(deps, budgeted);
    // Step: loop guard — a send that would continue a mail loop is held like a policy hold. It
    // counts the thread's messages, so like the daily limit it runs where concurrent sends queue.
    const verdict = withLoopHold(
      policyVerdict,
      checkLoop(deps, {
        org: ctx.org,
        mailbox,
        recipients,
        parent: thread.parent,
        thread: thread.thread,
        hops: thread.hops ?? 1,
      }),
    );
    const message = persist(deps, { mailbox, request, verdict, thread, recipients, ...composed });
    recordBudgetedSend(deps, budgeted, message.id);
    if (ctx.origin) recordAudit(deps, ctx.origin, sendAuditEntry(message, verdict));
    if (ctx.idempotencyKey) {
      deps.repos.idempotency.put({
        org_id: ctx.org.id,
        key: ctx.idempotencyKey,
        request_hash: requestHash,
        message_id: message.id,
        created_at: toIso(deps.clock.now()),
      });
    }
    return { message, replayed: false };
  });
}

export interface SystemMail {
  to: string;
  subject: string;
  text: string;
  /** signup_code, welcome, claim_code: kept in metadata and shown in the operator's view. */
  kind: string;
  /** A forward to the operator carries the original message (message/rfc822). */
  attachments?: AttachmentInput[];
}

/**
 * The server's own mail (codes, welcome, claim) through the same pipeline — composed, DKIM-signed,
 * persisted with a delivery row, queued and retried — from the system mailbox. None of the tenant
 * checks apply: these messages are how tenants come to exist.
 */
export async function sendSystemMessage(deps: Deps, mail: SystemMail): Promise<MessageRow> {
  const mailbox = systemMailbox(deps);
  const request: SendRequest = {
    mailbox_id: mailbox.id,
    to: [mail.to],
    cc: [],
    bcc: [],
    reply_to: [],
    subject: mail.subject,
    body_text: mail.text,
    references: [],
    headers: { 'Auto-Submitted': 'auto-generated' },
    metadata: { system_kind: mail.kind },
    attachments: mail.attachments ?? [],
  };
  const thread: Threading = { inReplyTo: null, references: [], thread: null, parent: null, hops: null };
  const composed = await composeSigned(deps, mailbox, request, thread);
  return deps.db.transaction(() =>
    persist(deps, {
      mailbox,
      request,
      verdict: { action: 'send' },
      thread,
      recipients: [mail.to],
      ...composed,
    }),
  )();
}

// Step: compose and sign; the stored bytes are exactly what every attempt sends.
async function composeSigned(deps: Deps, mailbox: MailboxRow, request: SendRequest, thread: Threading) {
  const now = deps.clock.now();
  const id = deps.ids.uuid();
  const messageIdHeader = `<${id}@${mailbox.domain}>`;
  const bodies = renderBodies({
    text: request.body_text,
    html: request.body_html,
    markdown: request.body_markdown,
  });
  const raw = await deps.composer.composeSigned(
    {
      from: { address: mailbox.address, name: mailbox.display_name },
      to: request.to,
      cc: request.cc,
      replyTo: request.reply_to,
      subject: request.subject,
      text: bodies.text,
      html: bodies.html,
      attachments: request.attachments,
      headers: request.headers,
      messageId: messageIdHeader,
      inReplyTo: thread.inReplyTo,
      references: thread.references,
      date: now,
      hops: thread.hops,
    },
    signingKey(deps, mailbox.domain),
  );
  if (raw.length > deps.config.maxMessageBytes) {
    throw new ApiError(
      413,
      'message_too_large',
      `The message is larger than ${deps.config.maxMessageBytes} bytes.`,
    );
  }
  return { id, messageIdHeader, raw, bodies };
}

function statusFor(verdict: PolicyVerdict, sendAt: Date | undefined, now: Date): string {
  if (verdict.action === 'block') return 'blocked';
  if (verdict.action === 'require_approval') return 'pending_approval';
  return sendAt && sendAt > now ? 'scheduled' : 'queued';
}

const EVENT_FOR_STATUS: Record<string, EventType> = {
  blocked: 'message.blocked',
  pending_approval: 'message.pending_approval',
  scheduled: 'message.queued',
  queued: 'message.queued',
};

// Step: persist — message, thread, one delivery per recipient, search entry and events, together.
function persist(
  deps: Deps,
  input: {
    mailbox: MailboxRow;
    request: SendRequest;
    verdict: PolicyVerdict;
    thread: Threading;
    id: string;
    messageIdHeader: string;
    raw: Buffer;
    bodies: { text: string | null; html: string | null };
    recipients: string[];
  },
): MessageRow {
  const { mailbox, request, verdict, recipients } = input;
  const nowDate = deps.clock.now();
  const now = toIso(nowDate);
  const status = statusFor(verdict, request.send_at, nowDate);
  let thread = input.thread.thread;
  let threadCreated = false;
  if (!thread) {
    thread = {
      id: deps.ids.uuid(),
      org_id: mailbox.org_id,
      mailbox_id: mailbox.id,
      subject: request.subject,
      subject_key: subjectKey(request.subject),
      participants: '[]',
      message_count: 0,
      last_message_at: now,
      created_at: now,
    };
    deps.repos.threads.insert(thread);
    threadCreated = true;
  }
  const people = [
    ...new Set([...(JSON.parse(thread.participants) as string[]), mailbox.address, ...recipients]),
  ].slice(0, 50);
  const asAddresses = (list: string[]) => JSON.stringify(list.map((address) => ({ address })));
  const message: MessageRow = {
    id: input.id,
    public_id: deps.ids.publicId('msg'),
    org_id: mailbox.org_id,
    mailbox_id: mailbox.id,
    agent_id: mailbox.agent_id,
    thread_id: thread.id,
    inbound_id: null,
    direction: 'outgoing',
    status,
    from_addr: JSON.stringify({
      address: mailbox.address,
      ...(mailbox.display_name ? { name: mailbox.display_name } : {}),
    }),
    to_addrs: asAddresses(request.to),
    cc_addrs: asAddresses(request.cc),
    bcc_addrs: asAddresses(request.bcc),
    reply_to: asAddresses(request.reply_to),
    envelope_from: null,
    subject: request.subject,
    body_text: input.bodies.text,
    body_html: input.bodies.html,
    body_markdown: request.body_markdown ?? null,
    extracted_text: null,
    message_id_header: input.messageIdHeader,
    in_reply_to: input.thread.inReplyTo,
    references_ids: JSON.stringify(input.thread.references),
    labels: '[]',
    metadata: JSON.stringify(request.metadata),
    auth: null,
    injection_score: null,
    injection_categories: '[]',
    injection_signals: '[]',
    raw_hash: deps.repos.blobs.put(input.raw),
    raw_prefix: null,
    size_bytes: input.raw.length,
    acked_at: null,
    archived_at: null,
    trashed_at: null,
    scheduled_at: request.send_at ? toIso(request.send_at) : null,
    sent_at: null,
    delivered_at: null,
    received_at: null,
    created_at: now,
    approval_policy_id: verdict.action === 'send' ? null : (verdict.policy?.id ?? null),
    approval_reason: verdict.action === 'send' ? null : verdict.reason,
    decided_by: null,
    decided_at: null,
    decision_reason: null,
    automated: 0,
    automation_reasons: '[]',
    hops: input.thread.hops,
    approval_detail: 'loop' in verdict ? verdict.loop.map((f) => f.detail).join(' ') : null,
  };
  deps.repos.messages.insert(message, { addresses: people.join(' '), body: input.bodies.text ?? '' });

  const attachments = storeAttachments(deps, mailbox.org_id, message.id, request.attachments);

  if (status !== 'blocked') {
    const deliveryStatus = status === 'pending_approval' ? 'held' : 'queued';
    const due =
      status === 'pending_approval'
        ? null
        : toIso(request.send_at && request.send_at > nowDate ? request.send_at : nowDate);
    for (const recipient of recipients) {
      const delivery: DeliveryRow = {
        id: deps.ids.uuid(),
        org_id: mailbox.org_id,
        message_id: message.id,
        recipient,
        domain: recipient.slice(recipient.lastIndexOf('@') + 1),
        verp_token: randomBase32(20),
        status: deliveryStatus,
        attempts: 0,
        next_attempt_at: due,
        lease_until: null,
        last_response: null,
        last_status: null,
        created_at: now,
        updated_at: now,
      };
      deps.repos.deliveries.insert(delivery);
    }
  }
  deps.repos.threads.recordMessage(mailbox.org_id, thread.id, people, now);

  const about = aboutMessage(deps, message, mailbox.address);
  if (threadCreated) appendThreadCreated(deps, about);
  const view = messageView(message, attachments);
  appendEvent(deps, {
    ...about,
    type: EVENT_FOR_STATUS[status] ?? 'message.queued',
    data: {
      message: view,
      ...(verdict.action === 'send' ? {} : { policy_id: verdict.policy?.id ?? null, reason: verdict.reason }),
    },
  });
  if ('loop' in verdict) {
    appendEvent(deps, {
      ...about,
      type: 'message.loop_suspected',
      data: { message: view, reason: verdict.reason, checks: verdict.loop },
    });
  }
  // A scheduled send wakes it too: the queue sleeps until its next due delivery, which may now be this one.
  if (status === 'queued' || status === 'scheduled') deps.wakeQueue();
  return message;
}
