import { z } from 'zod';
import { decodeCursor, toPage } from '../../db/page.js';
import { MessageView, ThreadView, threadView } from '../../messages/views.js';
import { route } from '../route.js';
import { opt, pageOf, pageQuery, uuidParam } from '../schemas.js';
import { ftsQuery, messageViews } from './messages.js';
import { listedMailboxId, loadThreadFor } from './key-scope.js';

const tag = 'Threads';

export const threadRoutes = [
  route({
    method: 'get',
    path: '/v1/threads',
    tag,
    summary: 'List threads, newest first',
    access: { scope: 'message:read' },
    query: pageQuery.extend({ mailbox_id: opt(z.string().max(100)), q: opt(z.string().max(500)) }),
    responses: { 200: { description: 'A page of threads', schema: pageOf(ThreadView) } },
    handler({ query, auth, deps }) {
      const limit = query.limit ?? 20;
      const mailboxId = listedMailboxId(deps, auth, query.mailbox_id);
      const rows = deps.repos.threads.list(
        auth.org.id,
        { mailboxId, q: query.q ? ftsQuery(query.q) : undefined },
        decodeCursor(query.cursor),
        limit + 1,
      );
      return { body: toPage(rows, limit, threadView) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/threads/{id}',
    tag,
    summary: 'Get a thread',
    access: { scope: 'message:read' },
    params: z.object({ id: uuidParam }),
    responses: { 200: { description: 'The thread', schema: ThreadView } },
    handler({ params, auth, deps }) {
      const thread = loadThreadFor(deps, auth, params.id);
      return { body: threadView(thread) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/threads/{id}/messages',
    tag,
    summary: "A thread's messages in chronological order",
    access: { scope: 'message:read' },
    params: z.object({ id: uuidParam }),
    query: pageQuery,
    responses: { 200: { description: 'A page of messages', schema: pageOf(MessageView) } },
    handler({ params, query, auth, deps }) {
      const thread = loadThreadFor(deps, auth, params.id);
      const limit = query.limit ?? 20;
      const rows = deps.repos.messages.threadMessages(
        auth.org.id,
        thread.id,
        decodeCursor(query.cursor),
        limit + 1,
      );
      const page = toPage(rows, limit, (r) => r);
      return { body: { data: messageViews(deps, auth.org.id, page.data), next_cursor: page.next_cursor } };
    },
  }),
];
