import { z } from 'zod';
import { sanitizeFilename } from '../../inbound/filenames.js';
import { toIso, DAY_MS } from '../../lib/clock.js';
import { ApiError, conflict } from '../../lib/errors.js';
import { aboutMessage, appendEvent } from '../../events/log.js';
import { MessageView } from '../../messages/views.js';
import { sendMessage } from '../../outbound/send.js';
import { requestOrigin } from '../audit-hook.js';
import { route } from '../route.js';
import { email, metadata, opt, uuidParam } from '../schemas.js';
import { fullMessage, loadMessage } from './messages.js';
import { loadMessageFor } from './key-scope.js';

const tag = 'Sending';

/** CONTRACT §5: header values with CR, LF or NUL are refused, never folded or stripped. */
const oneLine = (max: number) =>
  z
    .string()
    .max(max)
    .refine((v) => !/[\r\n\0]/.test(v), 'must not contain CR, LF or NUL');

const addressList = z
  .union([email, z.array(email)])
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .pipe(z.array(z.string()).max(1000));

/** Header names a caller may not set: the composer owns them, or they would forge trace and auth. */
const RESERVED_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'in-reply-to',
  'references',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'content-disposition',
  'return-path',
  'received',
  'dkim-signature',
  'arc-seal',
  'arc-message-signature',
  'arc-authentication-results',
  'authentication-results',
  'sender',
  'resent-from',
  'resent-to',
  'resent-date',
  'resent-message-id',
  // The loop guard's headers (CONTRACT §12): agent mail is always auto-generated and counts its hops.
  'auto-submitted',
  'x-loftbox-hops',
]);
// RFC 5322 §3.6.8: a field name is printable US-ASCII except the colon.
const headerName = z
  .string()
  .min(1)
  .max(76)
  .regex(/^[\x21-\x39\x3b-\x7e]+$/, 'must be a header field name')
  .refine((name) => !RESERVED_HEADERS.has(name.toLowerCase()), 'this header is set by the server');

const base64 = z
  .string()
  .transform((v) => v.replace(/\s+/g, ''))
  .refine((v) => v.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(v), 'must be base64');

const Attachment = z.object({
  filename: oneLine(255).min(1),
  content_type: opt(z.string().regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i, 'must be type/subtype')),
  content: base64,
  content_id: opt(oneLine(250)),
  inline: opt(z.boolean()),
});

const SendBody = z
  .object({
    mailbox_id: z.string().min(1).max(100),
    to: addressList,
    cc: opt(addressList),
    bcc: opt(addressList),
    reply_to: opt(addressList),
    subject: oneLine(998),
    body_text: opt(z.string()),
    body_html: opt(z.string()),
    body_markdown: opt(z.string()),
    in_reply_to: opt(oneLine(998)),
    references: opt(z.array(oneLine(998)).max(50)),
    headers: opt(z.record(headerName, oneLine(998))),
    metadata: opt(metadata),
    attachments: opt(z.array(Attachment).max(100)),
    send_at: opt(z.iso.datetime({ offset: true })),
  })
  .refine((v) => v.body_text !== undefined || v.body_html !== undefined || v.body_markdown !== undefined, {
    message: 'give at least one of body_text, body_html, body_markdown',
    path: ['body_text'],
  })
  .refine((v) => v.to.length > 0, { message: 'at least one recipient', path: ['to'] });

const DecisionBody = z.object({ reason: opt(z.string().trim().max(1000)) });

export const outgoingRoutes = [
  route({
    method: 'post',
    path: '/v1/messages',
    tag,
    summary: 'Send a message (CONTRACT §5); honours Idempotency-Key',
    access: { scope: 'message:send' },
    body: SendBody,
    // base64 attachments inflate by a third; the composed message is checked against the real limit.
    bodyLimit: 40 * 1024 * 1024,
    responses: {
      201: {
        description:
          'Accepted: queued, scheduled, pending_approval (by a policy, or by the loop guard with approval.reason "loop_suspected") or blocked',
        schema: MessageView,
      },
      403: { description: 'restricted_recipient: an unclaimed account may only mail its owner' },
      409: { description: 'recipient_suppressed, idempotency_conflict, mailbox_inactive' },
      413: { description: 'message_too_large' },
      422: {
        description:
          'validation_error; recipient_not_found: a recipient on a domain this server hosts has no mailbox (details name each; nothing is queued)',
      },
      429: {
        description:
          "daily_limit_reached (the org's daily cap, or for an unclaimed org the cap shared by every unclaimed org mailing the same owner) or rate_limited, with Retry-After",
      },
    },
    async handler({ body, auth, deps, ctx }) {
      const recipients = body.to.length + (body.cc?.length ?? 0) + (body.bcc?.length ?? 0);
      if (recipients > deps.config.maxRecipients) {
        throw new ApiError(
          422,
          'validation_error',
          `At most ${deps.config.maxRecipients} recipients per message.`,
          {
            details: [{ path: 'to', message: `more than ${deps.config.maxRecipients} recipients` }],
          },
        );
      }
      let sendAt: Date | undefined;
      if (body.send_at) {
        sendAt = new Date(body.send_at);
        const ahead = sendAt.getTime() - deps.clock.now().getTime();
        if (ahead <= 0 || ahead > 30 * DAY_MS) {
          throw new ApiError(
            422,
            'validation_error',
            'send_at must be in the future and at most 30 days ahead.',
            {
              details: [{ path: 'send_at', message: 'must be a future time within 30 days' }],
            },
          );
        }
      }
      const key = ctx.get('idempotency-key');
      if (key && !/^[\x21-\x7e]{1,255}$/.test(key)) {
        throw new ApiError(
          400,
          'invalid_idempotency_key',
          'Idempotency-Key must be 1–255 printable ASCII characters.',
        );
      }
      const result = await sendMessage(
        deps,
        {
          org: auth.org,
          actor: auth.key.id,
          idempotencyKey: key || undefined,
          requestForHash: body,
          origin: requestOrigin(ctx, auth),
        },
        {
          mailbox_id: body.mailbox_id,
          to: body.to,
          cc: body.cc ?? [],
          bcc: body.bcc ?? [],
          reply_to: body.reply_to ?? [],
          subject: body.subject,
          body_text: body.body_text,
          body_html: body.body_html,
          body_markdown: body.body_markdown,
          in_reply_to: body.in_reply_to,
          references: body.references ?? [],
          headers: body.headers ?? {},
          metadata: body.metadata ?? {},
          attachments: (body.attachments ?? []).map((a, i) => ({
            filename: sanitizeFilename(a.filename, `attachment-${i + 1}`),
            contentType: (a.content_type ?? 'application/octet-stream').toLowerCase(),
            content: Buffer.from(a.content, 'base64'),
            contentId: a.content_id ?? null,
            inline: a.inline ?? false,
          })),
          send_at: sendAt,
        },
      );
      return {
        status: 201,
        body: fullMessage(deps, result.message),
        ...(result.replayed ? { headers: { 'Idempotent-Replayed': 'true' } } : {}),
      };
    },
  }),
  route({
    method: 'post',
    path: '/v1/messages/{id}/approve',
    tag,
    summary: 'Approve a message held by an approval policy; it enters the queue',
    access: { scope: 'approval:decide' },
    audit: {
      action: 'message.approve',
      target: 'message',
      details: ({ body }) => ({ reason: body.reason ?? null }),
    },
    params: z.object({ id: uuidParam }),
    body: DecisionBody,
    responses: {
      200: { description: 'Approved', schema: MessageView },
      409: { description: 'not pending approval' },
    },
    handler({ params, body, auth, deps }) {
      const message = loadMessageFor(deps, auth, params.id);
      if (message.status !== 'pending_approval') {
        throw conflict('not_pending_approval', `The message is ${message.status}, not pending_approval.`);
      }
      const now = deps.clock.now();
      const due =
        message.scheduled_at && new Date(message.scheduled_at) > now ? message.scheduled_at : toIso(now);
      const status = due === toIso(now) ? 'queued' : 'scheduled';
      deps.db.transaction(() => {
        deps.repos.messages.recordDecision(auth.org.id, message.id, {
          status,
          decided_by: auth.key.id,
          decided_at: toIso(now),
          decision_reason: body.reason ?? null,
        });
        deps.repos.deliveries.releaseHeld(auth.org.id, message.id, 'queued', due, toIso(now));
        const updated = fullMessage(deps, loadMessage(deps, auth.org.id, message.id));
        const base = aboutMessage(deps, message);
        appendEvent(deps, {
          ...base,
          type: 'message.approved',
          data: { message: updated, reason: body.reason ?? null },
        });
        appendEvent(deps, { ...base, type: 'message.queued', data: { message: updated } });
      })();
      deps.wakeQueue();
      return { body: fullMessage(deps, loadMessage(deps, auth.org.id, message.id)) };
    },
  }),
  route({
    method: 'post',
    path: '/v1/messages/{id}/reject',
    tag,
    summary: 'Reject a held message; final',
    access: { scope: 'approval:decide' },
    audit: {
      action: 'message.reject',
      target: 'message',
      details: ({ body }) => ({ reason: body.reason ?? null }),
    },
    params: z.object({ id: uuidParam }),
    body: DecisionBody,
    responses: {
      200: { description: 'Rejected', schema: MessageView },
      409: { description: 'not pending approval' },
    },
    handler({ params, body, auth, deps }) {
      const message = loadMessageFor(deps, auth, params.id);
      if (message.status !== 'pending_approval') {
        throw conflict('not_pending_approval', `The message is ${message.status}, not pending_approval.`);
      }
      const now = toIso(deps.clock.now());
      deps.db.transaction(() => {
        deps.repos.messages.recordDecision(auth.org.id, message.id, {
          status: 'rejected',
          decided_by: auth.key.id,
          decided_at: now,
          decision_reason: body.reason ?? null,
        });
        deps.repos.deliveries.releaseHeld(auth.org.id, message.id, 'cancelled', null, now);
        appendEvent(deps, {
          ...aboutMessage(deps, message),
          type: 'message.rejected',
          data: {
            message: fullMessage(deps, loadMessage(deps, auth.org.id, message.id)),
            reason: body.reason ?? null,
          },
        });
      })();
      return { body: fullMessage(deps, loadMessage(deps, auth.org.id, message.id)) };
    },
  }),
];
