import { z } from 'zod';
import type { MessageRow } from '../../db/repos/messages.js';
import { decodeCursor, encodeCursor, toPage } from '../../db/page.js';
import type { Deps } from '../../deps.js';
import { addMs, toIso, toIsoCeil } from '../../lib/clock.js';
import { tooManyRequests } from '../../lib/errors.js';
import { MessageView } from '../../messages/views.js';
import { route } from '../route.js';
import { opt, pageOf, pageQuery, uuidParam } from '../schemas.js';
import { messageViews } from './messages.js';
import { loadMailboxFor } from './key-scope.js';
import { loadMailbox } from './mailboxes.js';

const tag = 'Inbox';

/** Longest lease: SQS's ceiling for a visibility timeout (12 h). */
const MAX_LEASE_SECONDS = 43_200;
const MAX_WAIT_SECONDS = 60;

const inboxQuery = pageQuery.extend({
  lease: opt(z.coerce.number().int().min(1).max(MAX_LEASE_SECONDS)).meta({
    description:
      'Seconds to lease the returned messages for: no other poll gets them until the lease ends or they are acked. ' +
      'A message never acked comes back once its lease ends; an ack after that still succeeds.',
  }),
  wait: opt(z.coerce.number().int().min(0).max(MAX_WAIT_SECONDS)).meta({
    description: `Long-poll: with nothing to return, hold the request up to this many seconds (≤ ${MAX_WAIT_SECONDS}) until a message arrives; an empty page when it ends.`,
  }),
});

interface InboxRequest {
  orgId: string;
  mailboxId: string;
  afterId: string | null;
  limit: number;
  leaseSeconds: number | undefined;
}

/**
 * One look at the inbox. Without a lease one extra row tells whether another page exists; with one,
 * only rows handed out may be leased, so a full page is taken to mean there may be more.
 */
function take(deps: Deps, req: InboxRequest): { rows: MessageRow[]; next_cursor: string | null } {
  const now = deps.clock.now();
  if (req.leaseSeconds === undefined) {
    const rows = deps.repos.messages.inbox(req.orgId, req.mailboxId, req.afterId, req.limit + 1, toIso(now));
    const page = toPage(rows, req.limit, (r) => r);
    return { rows: page.data, next_cursor: page.next_cursor };
  }
  // Rounded up, so a lease never ends before the seconds asked for.
  const leaseUntil = toIsoCeil(addMs(now, req.leaseSeconds * 1000));
  const rows = deps.repos.messages.inbox(
    req.orgId,
    req.mailboxId,
    req.afterId,
    req.limit,
    toIso(now),
    leaseUntil,
  );
  const last = rows[rows.length - 1];
  return { rows, next_cursor: rows.length === req.limit && last ? encodeCursor(last.id) : null };
}

/** How long until a lease held by another poll ends (its messages become available to this one). */
function untilNextLeaseEnds(deps: Deps, req: InboxRequest): number {
  const now = deps.clock.now();
  const next = deps.repos.messages.nextLeaseEnd(req.orgId, req.mailboxId, toIso(now));
  return next === null ? Infinity : Math.max(1, Date.parse(next) - now.getTime());
}

export const inboxRoutes = [
  route({
    method: 'get',
    path: '/v1/mailboxes/{id}/inbox',
    tag,
    summary:
      'Unacknowledged incoming messages not leased to another poll, oldest first (poll with a lease, process, then ack)',
    access: { scope: 'message:read' },
    params: z.object({ id: uuidParam }),
    query: inboxQuery,
    responses: {
      200: { description: 'A page of messages', schema: pageOf(MessageView) },
      429: { description: 'Too many long-polls are waiting; retry after Retry-After' },
    },
    async handler({ params, query, auth, deps, ctx }) {
      const mailbox = loadMailboxFor(deps, auth, params.id);
      const req: InboxRequest = {
        orgId: auth.org.id,
        mailboxId: mailbox.id,
        afterId: decodeCursor(query.cursor),
        limit: query.limit ?? 20,
        leaseSeconds: query.lease,
      };
      let page = take(deps, req);
      if (page.rows.length === 0 && query.wait) {
        if (deps.bus.waiters >= deps.config.inboxMaxWaiters) {
          throw tooManyRequests('too_many_waiters', 'Too many long-polls are waiting; retry shortly.', 1);
        }
        // The client hanging up ends the wait (nothing was handed out yet, so nothing is leased).
        const gone = new AbortController();
        const onClose = () => gone.abort();
        ctx.res.once('close', onClose);
        const deadline = performance.now() + query.wait * 1000;
        try {
          for (;;) {
            const remaining = deadline - performance.now();
            if (remaining <= 0) break;
            // Woken by any append for the org (after it committed), so mail arriving is seen at once.
            const outcome = await deps.bus.waitForAppend(
              req.orgId,
              Math.min(remaining, untilNextLeaseEnds(deps, req)),
              gone.signal,
            );
            if (outcome === 'closed') {
              // Shutting down: the connection must not linger as keep-alive after this answer.
              ctx.set('Connection', 'close');
              break;
            }
            if (gone.signal.aborted) break;
            page = take(deps, req);
            if (page.rows.length > 0) break;
          }
        } finally {
          ctx.res.off('close', onClose);
        }
      }
      return { body: { data: messageViews(deps, req.orgId, page.rows), next_cursor: page.next_cursor } };
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
      const mailbox = loadMailboxFor(deps, auth, params.id);
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
