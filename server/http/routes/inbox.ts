import { z } from 'zod';
import { decodeCursor, toPage } from '../../db/page.js';
import { toIso } from '../../lib/clock.js';
import { MessageView } from '../../messages/views.js';
import { route } from '../route.js';
import { pageOf, pageQuery, uuidParam } from '../schemas.js';
import { loadMailbox } from './mailboxes.js';
import { messageViews } from './messages.js';

const tag = 'Inbox';

export const inboxRoutes = [
  route({
    method: 'get',
    path: '/v1/mailboxes/{id}/inbox',
    tag,
    summary: 'Unacknowledged incoming messages, oldest first (poll, process, then ack)',
    access: { scope: 'message:read' },
    params: z.object({ id: uuidParam }),
    query: pageQuery,
    responses: { 200: { description: 'A page of messages', schema: pageOf(MessageView) } },
    handler({ params, query, auth, deps }) {
      const mailbox = loadMailbox(deps, auth.org.id, params.id);
      const limit = query.limit ?? 20;
      const rows = deps.repos.messages.inbox(auth.org.id, mailbox.id, decodeCursor(query.cursor), limit + 1);
      const page = toPage(rows, limit, (r) => r);
      return { body: { data: messageViews(deps, auth.org.id, page.data), next_cursor: page.next_cursor } };
    },
  }),
  route({
    method: 'post',
    path: '/v1/mailboxes/{id}/inbox/ack',
    tag,
    summary: 'Acknowledge processed messages; ids of other mailboxes are ignored and not counted',
    // Ack changes state (the message leaves the inbox), so reading alone is not enough (CONTRACT §2).
    access: { scope: 'message:archive' },
    audit: {
      action: 'inbox.ack',
      target: 'mailbox',
      targetId: ({ params, deps, orgId }) => loadMailbox(deps, orgId, params.id).id,
      details: ({ body }) => ({ message_ids: body.message_ids }),
    },
    params: z.object({ id: uuidParam }),
    body: z.object({ message_ids: z.array(z.string().min(1).max(100)).min(1).max(500) }),
    responses: {
      200: { description: 'How many were newly acknowledged', schema: z.object({ acked: z.number().int() }) },
    },
    handler({ params, body, auth, deps }) {
      const mailbox = loadMailbox(deps, auth.org.id, params.id);
      const acked = deps.repos.messages.ack(
        auth.org.id,
        mailbox.id,
        body.message_ids,
        toIso(deps.clock.now()),
      );
      return { body: { acked } };
    },
  }),
];
