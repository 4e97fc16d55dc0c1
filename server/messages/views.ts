import { z } from 'zod';
import type { AttachmentRow } from '../db/repos/attachments.js';
import type { DeliveryRow } from '../db/repos/deliveries.js';
import type { EventRow } from '../db/repos/events.js';
import type { MessageRow } from '../db/repos/messages.js';
import type { ThreadRow } from '../db/repos/threads.js';
import { extractedTextOf } from './extracted-text.js';

/**
 * Response shapes of messages, threads, attachments and events (CONTRACT §3, §6). They live here, not
 * in the HTTP layer, because events carry the same Message the API returns.
 */

const timestamp = z.string().meta({ format: 'date-time' });
const nullableTime = timestamp.nullable();

export const AttachmentView = z
  .object({
    id: z.string(),
    filename: z.string(),
    content_type: z.string(),
    size_bytes: z.number().int(),
    content_id: z.string().nullable(),
    inline: z.boolean(),
  })
  .meta({ id: 'Attachment' });

export const attachmentView = (row: AttachmentRow): z.infer<typeof AttachmentView> => ({
  id: row.id,
  filename: row.filename,
  content_type: row.content_type,
  size_bytes: row.size_bytes,
  content_id: row.content_id,
  inline: row.inline === 1,
});

const AuthVerdict = z
  .string()
  .meta({ description: 'pass, fail, softfail, neutral, none, temperror, permerror' });

export const MessageView = z
  .object({
    id: z.string(),
    public_id: z.string(),
    org_id: z.string(),
    mailbox_id: z.string(),
    agent_id: z.string(),
    thread_id: z.string(),
    direction: z.enum(['incoming', 'outgoing']),
    status: z.string(),
    from: z.string().nullable(),
    from_name: z.string().nullable(),
    to: z.array(z.string()),
    cc: z.array(z.string()),
    bcc: z.array(z.string()),
    reply_to: z.array(z.string()),
    subject: z.string(),
    body_text: z.string().nullable(),
    body_html: z.string().nullable(),
    body_markdown: z.string().nullable(),
    extracted_text: z.string().nullable(),
    message_id_header: z.string().nullable(),
    in_reply_to: z.string().nullable(),
    references: z.array(z.string()),
    labels: z.array(z.string()),
    metadata: z.record(z.string(), z.unknown()),
    attachments: z.array(AttachmentView),
    auth: z
      .object({
        spf: AuthVerdict,
        dkim: AuthVerdict,
        dmarc: AuthVerdict,
        arc: AuthVerdict,
        // Additive: the hop into our MX over STARTTLS (absent on messages stored before it existed).
        tls: z.object({ version: z.string(), cipher: z.string() }).nullable().optional(),
      })
      .catchall(z.unknown())
      .nullable(),
    injection_score: z.number().nullable(),
    injection_categories: z.array(z.string()),
    injection_risk: z
      .object({
        score: z.number(),
        categories: z.array(z.string()),
        signals: z.array(z.record(z.string(), z.unknown())),
      })
      .nullable(),
    automated: z.boolean().meta({
      description:
        'Incoming mail that looks machine-sent (auto-replies, lists, bounces, our own mail coming back)',
    }),
    automation_reasons: z.array(
      z.enum([
        'auto_submitted',
        'precedence',
        'list_id',
        'list_unsubscribe',
        'null_sender',
        'auto_response_suppress',
        'own_message',
      ]),
    ),
    hops: z
      .number()
      .int()
      .nullable()
      .meta({ description: 'X-LoftBox-Hops: how many agent messages in a row led to this one' }),
    size_bytes: z.number().int(),
    acked_at: nullableTime,
    archived_at: nullableTime,
    trashed_at: nullableTime,
    scheduled_at: nullableTime,
    sent_at: nullableTime,
    delivered_at: nullableTime,
    received_at: nullableTime,
    created_at: timestamp,
    delivery: z.record(z.string(), z.unknown()).nullable(),
    approval: z.record(z.string(), z.unknown()).nullable().meta({
      description:
        '{policy_id, reason, detail, decided_by, decided_at, decision_reason}; a hold by the loop guard has reason "loop_suspected", no policy_id, and says why in detail',
    }),
  })
  .meta({ id: 'Message' });

export type MessageViewT = z.infer<typeof MessageView>;

interface StoredAddress {
  address: string;
  name?: string;
}

const parseJson = <T>(value: string | null, fallback: T): T => (value ? (JSON.parse(value) as T) : fallback);
const addresses = (value: string): string[] => parseJson<StoredAddress[]>(value, []).map((a) => a.address);

function deliveryView(deliveries: DeliveryRow[]) {
  const latest = [...deliveries].sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1))[0];
  const pending = deliveries
    .map((d) => d.next_attempt_at)
    .filter((t): t is string => t !== null)
    .sort();
  return {
    attempts: deliveries.reduce((sum, d) => sum + d.attempts, 0),
    last_response: latest?.last_response ?? null,
    next_attempt_at: pending[0] ?? null,
    recipients: deliveries.map((d) => ({
      address: d.recipient,
      status: d.status,
      attempts: d.attempts,
      last_status: d.last_status,
      last_response: d.last_response,
      next_attempt_at: d.next_attempt_at,
    })),
  };
}

export function messageView(
  row: MessageRow,
  attachments: AttachmentRow[],
  deliveries: DeliveryRow[] = [],
): MessageViewT {
  const from = parseJson<StoredAddress | null>(row.from_addr, null);
  const incoming = row.direction === 'incoming';
  const categories = parseJson<string[]>(row.injection_categories, []);
  return {
    id: row.id,
    public_id: row.public_id,
    org_id: row.org_id,
    mailbox_id: row.mailbox_id,
    agent_id: row.agent_id,
    thread_id: row.thread_id,
    direction: row.direction,
    status: row.status,
    from: from?.address ?? null,
    from_name: from?.name || null,
    to: addresses(row.to_addrs),
    cc: addresses(row.cc_addrs),
    bcc: addresses(row.bcc_addrs),
    reply_to: addresses(row.reply_to),
    subject: row.subject,
    body_text: row.body_text,
    body_html: row.body_html,
    body_markdown: row.body_markdown,
    extracted_text: extractedTextOf(row),
    message_id_header: row.message_id_header,
    in_reply_to: row.in_reply_to,
    references: parseJson<string[]>(row.references_ids, []),
    labels: parseJson<string[]>(row.labels, []),
    metadata: parseJson<Record<string, unknown>>(row.metadata, {}),
    attachments: attachments.map(attachmentView),
    auth: incoming ? parseJson(row.auth, null) : null,
    injection_score: row.injection_score,
    injection_categories: categories,
    injection_risk:
      incoming && row.injection_score !== null
        ? { score: row.injection_score, categories, signals: parseJson(row.injection_signals, []) }
        : null,
    automated: row.automated === 1,
    automation_reasons: parseJson(row.automation_reasons, []),
    hops: row.hops,
    size_bytes: row.size_bytes,
    acked_at: row.acked_at,
    archived_at: row.archived_at,
    trashed_at: row.trashed_at,
    scheduled_at: row.scheduled_at,
    sent_at: row.sent_at,
    delivered_at: row.delivered_at,
    received_at: row.received_at,
    created_at: row.created_at,
    delivery: incoming ? null : deliveryView(deliveries),
    approval:
      row.approval_policy_id || row.approval_reason || row.decided_at
        ? {
            policy_id: row.approval_policy_id,
            reason: row.approval_reason,
            detail: row.approval_detail,
            decided_by: row.decided_by,
            decided_at: row.decided_at,
            decision_reason: row.decision_reason,
          }
        : null,
  };
}

export const ThreadView = z
  .object({
    id: z.string(),
    mailbox_id: z.string(),
    subject: z.string(),
    participants: z.array(z.string()),
    message_count: z.number().int(),
    last_message_at: timestamp,
    created_at: timestamp,
  })
  .meta({ id: 'Thread' });

export const threadView = (row: ThreadRow): z.infer<typeof ThreadView> => ({
  id: row.id,
  mailbox_id: row.mailbox_id,
  subject: row.subject,
  participants: parseJson<string[]>(row.participants, []),
  message_count: row.message_count,
  last_message_at: row.last_message_at,
  created_at: row.created_at,
});

export const EventView = z
  .object({
    id: z.string(),
    type: z.string(),
    created_at: timestamp,
    org_id: z.string(),
    agent_id: z.string().nullable(),
    mailbox_id: z.string().nullable(),
    mailbox: z.string().nullable(),
    thread_id: z.string().nullable(),
    message_id: z.string().nullable(),
    request_id: z
      .string()
      .nullable()
      .meta({ description: 'The API request (X-Request-Id) or SMTP session that caused the event' }),
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'Event' });

export const eventView = (row: EventRow): z.infer<typeof EventView> => ({
  id: row.id,
  type: row.type,
  created_at: row.created_at,
  org_id: row.org_id,
  agent_id: row.agent_id,
  mailbox_id: row.mailbox_id,
  mailbox: row.mailbox,
  thread_id: row.thread_id,
  message_id: row.message_id,
  request_id: row.request_id,
  data: JSON.parse(row.data) as Record<string, unknown>,
});
