import { z } from 'zod';
import { cursorExpired, RESYNC_MESSAGE } from '../../events/log.js';
import { ApiError } from '../../lib/errors.js';
import { EventView, eventView } from '../../messages/views.js';
import { route } from '../route.js';
import { limitParam, opt } from '../schemas.js';
import { loadMailboxFor } from './key-scope.js';
import { constraintsOf } from '../../policy/key-constraints.js';

/** Event cursors are the log sequence number; opaque to clients, shared with the WebSocket stream. */
export function parseEventCursor(cursor: string | undefined): number {
  if (cursor === undefined || cursor === '') return 0;
  if (!/^\d{1,15}$/.test(cursor))
    throw new ApiError(400, 'invalid_cursor', 'The cursor is not one this server issued.');
  return Number(cursor);
}

export const eventRoutes = [
  route({
    method: 'get',
    path: '/v1/events',
    tag: 'Events',
    summary: "The org's event log, oldest first; pass next_cursor as ?after= to continue",
    access: { scope: 'event:read' },
    query: z.object({
      after: opt(z.string().max(40)),
      event_type: opt(z.string().max(60)),
      agent_id: opt(z.string().max(100)),
      mailbox_id: opt(z.string().max(100)),
      limit: limitParam,
    }),
    responses: {
      200: {
        description: 'Events',
        schema: z.object({ data: z.array(EventView), next_cursor: z.string().nullable() }),
      },
      410: { description: 'The cursor is older than the event retention (`resync_required`)' },
    },
    handler({ query, auth, deps }) {
      const after = parseEventCursor(query.after);
      if (query.after && cursorExpired(deps, after))
        throw new ApiError(410, 'resync_required', RESYNC_MESSAGE);
      const mailboxId = query.mailbox_id ? loadMailboxFor(deps, auth, query.mailbox_id).id : undefined;
      const bound = constraintsOf(auth.key).mailbox_ids;
      const rows = deps.repos.events.list(
        auth.org.id,
        after,
        {
          type: query.event_type,
          agentId: query.agent_id,
          mailboxId,
          ...(bound ? { mailboxIds: bound } : {}),
        },
        query.limit ?? 20,
      );
      const last = rows[rows.length - 1];
      return {
        body: { data: rows.map(eventView), next_cursor: last ? String(last.seq) : (query.after ?? null) },
      };
    },
  }),
];
