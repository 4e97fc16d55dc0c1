import { z } from 'zod';
import type { MessageRow } from '../../db/repos/messages.js';
import { decodeCursor, toPage } from '../../db/page.js';
import type { Deps } from '../../deps.js';
import { toIso } from '../../lib/clock.js';
import { ApiError, conflict, notFound } from '../../lib/errors.js';
import { MessageView, messageView } from '../../messages/views.js';
import { route } from '../route.js';
import { opt, pageOf, pageQuery, uuidParam } from '../schemas.js';
import { listedMailboxId, loadMessageFor } from './key-scope.js';

const tag = 'Messages';
const MAX_LABELS = 20;
const label = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[^\p{Cc}]+$/u, 'must not contain control characters');
const rfc3339 = z.iso.datetime({ offset: true });

export function loadMessage(deps: Deps, orgId: string, id: string): MessageRow {
  const message = deps.repos.messages.get(orgId, id);
  if (!message) throw notFound('message');
  return message;
}

/** Full Messages for rows, with their attachments fetched in one query. */
export function messageViews(deps: Deps, orgId: string, rows: MessageRow[]) {
  const ids = rows.map((r) => r.id);
  const attachments = deps.repos.attachments.forMessages(orgId, ids);
  const deliveries = deps.repos.deliveries.forMessages(orgId, ids);
  return rows.map((row) =>
    messageView(
      row,
      attachments.filter((a) => a.message_id === row.id),
      deliveries.filter((d) => d.message_id === row.id),
    ),
  );
}

export function fullMessage(deps: Deps, row: MessageRow) {
  return messageView(
    row,
    deps.repos.attachments.forMessage(row.org_id, row.id),
    deps.repos.deliveries.forMessage(row.org_id, row.id),
  );
}

/**
 * User text becomes a conjunction of quoted FTS5 terms, so no query syntax (NEAR, column filters,
 * unbalanced quotes) reaches the engine from outside.
 */
export function ftsQuery(q: string): string | undefined {
  const terms = q
    .split(/\s+/)
    .map((t) => t.replace(/"/g, '""'))
    .filter((t) => t !== '')
    .slice(0, 20);
  return terms.length === 0 ? undefined : terms.map((t) => `"${t}"`).join(' ');
}

const idParams = z.object({ id: uuidParam });

function stateRoute(
  path: 'archive' | 'unarchive' | 'trash',
  summary: string,
  apply: (deps: Deps, message: MessageRow) => void,
) {
  return route({
    method: 'post',
    path: `/v1/messages/{id}/${path}`,
    tag,
    summary,
    access: { scope: 'message:archive' },
    audit: { action: `message.${path}`, target: 'message' },
    params: idParams,
    responses: { 200: { description: 'The message', schema: MessageView } },
    handler({ params, auth, deps }) {
      const message = loadMessageFor(deps, auth, params.id);
      apply(deps, message);
      return { body: fullMessage(deps, loadMessage(deps, auth.org.id, message.id)) };
    },
  });
}

export const messageRoutes = [
  route({
    method: 'get',
    path: '/v1/messages',
    tag,
    summary: 'List and search messages, newest first',
    access: { scope: 'message:read' },
    query: pageQuery.extend({
      mailbox_id: opt(z.string().max(100)),
      thread_id: opt(z.string().max(100)),
      direction: opt(z.enum(['incoming', 'outgoing'])),
      status: opt(z.string().max(40)),
      label: opt(label),
      q: opt(z.string().max(500)).meta({ description: 'Full-text search over subject, addresses and text.' }),
      after: opt(rfc3339),
      before: opt(rfc3339),
    }),
    responses: { 200: { description: 'A page of messages', schema: pageOf(MessageView) } },
    handler({ query, auth, deps }) {
      const limit = query.limit ?? 20;
      const mailboxId = listedMailboxId(deps, auth, query.mailbox_id);
      const rows = deps.repos.messages.list(
        auth.org.id,
        {
          mailboxId,
          threadId: query.thread_id,
          direction: query.direction,
          status: query.status,
          label: query.label,
          q: query.q ? ftsQuery(query.q) : undefined,
          after: query.after ? toIso(new Date(query.after)) : undefined,
          before: query.before ? toIso(new Date(query.before)) : undefined,
        },
        decodeCursor(query.cursor),
        limit + 1,
      );
      const page = toPage(rows, limit, (r) => r);
      return { body: { data: messageViews(deps, auth.org.id, page.data), next_cursor: page.next_cursor } };
    },
  }),
  route({
    method: 'get',
    path: '/v1/messages/{id}',
    tag,
    summary: 'Get a message by id or public id',
    access: { scope: 'message:read' },
    params: idParams,
    responses: { 200: { description: 'The message', schema: MessageView } },
    handler({ params, auth, deps }) {
      return { body: fullMessage(deps, loadMessageFor(deps, auth, params.id)) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/messages/{id}/raw',
    tag,
    summary: 'The stored RFC 5322 bytes',
    access: { scope: 'message:read' },
    params: idParams,
    responses: { 200: { description: 'message/rfc822', contentType: 'message/rfc822' } },
    handler({ params, auth, deps }) {
      const message = loadMessageFor(deps, auth, params.id);
      const raw = deps.repos.blobs.rawOf(message);
      if (!raw) throw new ApiError(404, 'not_found', 'This message has no stored source.');
      return { body: raw, contentType: 'message/rfc822' };
    },
  }),
  route({
    method: 'post',
    path: '/v1/messages/{id}/labels',
    tag,
    summary: 'Add labels (set union, at most 20)',
    access: { scope: 'message:label' },
    audit: {
      action: 'message.label_add',
      target: 'message',
      details: ({ body }) => ({ labels: body.labels }),
    },
    params: idParams,
    body: z.object({ labels: z.array(label).min(1).max(MAX_LABELS) }),
    responses: { 200: { description: 'The message', schema: MessageView } },
    handler({ params, body, auth, deps }) {
      const message = loadMessageFor(deps, auth, params.id);
      const labels = [...new Set([...(JSON.parse(message.labels) as string[]), ...body.labels])];
      if (labels.length > MAX_LABELS) {
        throw new ApiError(422, 'too_many_labels', `A message holds at most ${MAX_LABELS} labels.`);
      }
      deps.repos.messages.setLabels(auth.org.id, message.id, labels);
      return { body: fullMessage(deps, loadMessage(deps, auth.org.id, message.id)) };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/messages/{id}/labels/{label}',
    tag,
    summary: 'Remove a label (idempotent)',
    access: { scope: 'message:label' },
    audit: {
      action: 'message.label_remove',
      target: 'message',
      details: ({ params }) => ({ label: params.label }),
    },
    params: z.object({ id: uuidParam, label }),
    responses: { 200: { description: 'The message', schema: MessageView } },
    handler({ params, auth, deps }) {
      const message = loadMessageFor(deps, auth, params.id);
      const labels = (JSON.parse(message.labels) as string[]).filter((l) => l !== params.label);
      deps.repos.messages.setLabels(auth.org.id, message.id, labels);
      return { body: fullMessage(deps, loadMessage(deps, auth.org.id, message.id)) };
    },
  }),
  stateRoute('archive', 'Archive (idempotent)', (deps, m) => {
    if (!m.archived_at)
      deps.repos.messages.setTimestamp(m.org_id, m.id, 'archived_at', toIso(deps.clock.now()));
  }),
  stateRoute('unarchive', 'Unarchive (idempotent)', (deps, m) => {
    deps.repos.messages.setTimestamp(m.org_id, m.id, 'archived_at', null);
  }),
  stateRoute('trash', 'Move to trash (idempotent); an outgoing message still in flight is 409', (deps, m) => {
    const inFlight = deps.repos.deliveries
      .forMessage(m.org_id, m.id)
      .some(
        (d) =>
          d.status === 'queued' || d.status === 'sending' || d.status === 'deferred' || d.status === 'held',
      );
    if (inFlight)
      throw conflict('message_in_flight', 'The message is still being delivered; trash it once it settles.');
    if (!m.trashed_at)
      deps.repos.messages.setTimestamp(m.org_id, m.id, 'trashed_at', toIso(deps.clock.now()));
  }),
];
