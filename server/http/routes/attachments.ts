import { z } from 'zod';
import { addMs, toIso } from '../../lib/clock.js';
import { ApiError, notFound } from '../../lib/errors.js';
import { signDownload, verifyDownload } from '../../messages/download-token.js';
import { AttachmentView, attachmentView } from '../../messages/views.js';
import { route } from '../route.js';
import { uuidParam } from '../schemas.js';
import { constraintsOf, mailboxAllowed } from '../../policy/key-constraints.js';
import { loadMessageFor } from './key-scope.js';

const tag = 'Attachments';
const DOWNLOAD_TTL_MS = 15 * 60_000;

export const attachmentRoutes = [
  route({
    method: 'get',
    path: '/v1/messages/{id}/attachments',
    tag,
    summary: "A message's attachments",
    access: { scope: 'message:read' },
    params: z.object({ id: uuidParam }),
    responses: { 200: { description: 'Attachments', schema: z.object({ data: z.array(AttachmentView) }) } },
    handler({ params, auth, deps }) {
      const message = loadMessageFor(deps, auth, params.id);
      return {
        body: { data: deps.repos.attachments.forMessage(auth.org.id, message.id).map(attachmentView) },
      };
    },
  }),
  route({
    method: 'get',
    path: '/v1/attachments/{id}/url',
    tag,
    summary: 'A signed download URL, valid 15 minutes, usable without the API key',
    access: { scope: 'message:read' },
    params: z.object({ id: uuidParam }),
    responses: {
      200: { description: 'Signed URL', schema: z.object({ url: z.string(), expires_at: z.string() }) },
    },
    handler({ params, auth, deps }) {
      const attachment = deps.repos.attachments.get(auth.org.id, params.id);
      const message = attachment && deps.repos.messages.get(auth.org.id, attachment.message_id);
      // A mailbox-bound key sees another mailbox's attachment as unknown (CONTRACT §12).
      if (!attachment || !message || !mailboxAllowed(constraintsOf(auth.key), message.mailbox_id)) {
        throw notFound('attachment');
      }
      const expires = addMs(deps.clock.now(), DOWNLOAD_TTL_MS);
      const token = signDownload(deps.secret, attachment.id, expires);
      return {
        body: {
          url: `${deps.publicUrl()}/v1/attachments/${attachment.id}/download?token=${token}`,
          expires_at: toIso(expires),
        },
      };
    },
  }),
  route({
    method: 'get',
    path: '/v1/attachments/{id}/download',
    tag,
    summary: 'Download with a signed token (no API key)',
    access: { public: true },
    params: z.object({ id: uuidParam }),
    query: z.object({ token: z.string().min(1).max(1000) }),
    responses: {
      200: { description: 'The attachment bytes', contentType: 'application/octet-stream' },
      403: { description: 'invalid or expired token' },
    },
    handler({ params, query, deps, ctx }) {
      const named = verifyDownload(deps.secret, query.token, deps.clock.now());
      if (named !== params.id)
        throw new ApiError(403, 'invalid_token', 'The download link is invalid or has expired.');
      const attachment = deps.repos.attachments.getById(named);
      const data = attachment ? deps.repos.blobs.get(attachment.blob_hash) : undefined;
      if (!attachment || !data) throw notFound('attachment');
      // Served as a download in a sandbox: attacker-made HTML or SVG must never run on our origin.
      ctx.attachment(attachment.filename);
      return {
        body: data,
        contentType: attachment.content_type,
        headers: {
          'X-Content-Type-Options': 'nosniff',
          'Content-Security-Policy': "sandbox; default-src 'none'",
          'Cache-Control': 'private, no-store',
        },
      };
    },
  }),
];
