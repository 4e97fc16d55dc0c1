import { z } from 'zod';
import type { AttemptRow } from '../../db/repos/deliveries.js';
import { MessageView } from '../../messages/views.js';
import { cancelWaiting, retryNow } from '../../outbound/delivery-actions.js';
import { route, type HandlerResult } from '../route.js';
import { pageOf, uuidParam } from '../schemas.js';
import { loadMessageFor } from './key-scope.js';
import { fullMessage, loadMessage } from './messages.js';

const tag = 'Sending';

const DeliveryAttempt = z
  .object({
    attempt: z.number().int(),
    outcome: z.string(),
    status: z.string().nullable(),
    response: z.string().nullable(),
    mx_host: z.string().nullable(),
    duration_ms: z.number().int(),
    created_at: z.string(),
    tls: z.object({ version: z.string(), cipher: z.string() }).nullable().meta({
      description: 'The TLS session of the attempt; null for cleartext or when no session was made',
    }),
    tls_verified: z
      .boolean()
      .nullable()
      .meta({ description: 'The MX certificate was valid for its host name; null without TLS' }),
    mta_sts_mode: z.enum(['none', 'testing', 'enforce']).nullable().meta({
      description:
        "The recipient domain's MTA-STS mode applied (RFC 8461); null for local delivery and relay",
    }),
    tls_failure: z.string().nullable().meta({
      description:
        'Why TLS fell short of the policy: the reason an enforce (or require-TLS) attempt was deferred, or what testing recorded',
    }),
  })
  .meta({ id: 'DeliveryAttempt' });

const DeliveryTimeline = z
  .object({
    id: z.string(),
    recipient: z.string(),
    status: z.string(),
    next_attempt_at: z.string().nullable(),
    created_at: z.string(),
    attempts: z.array(DeliveryAttempt),
  })
  .meta({ id: 'DeliveryTimeline' });

const attemptView = (a: AttemptRow) => ({
  attempt: a.attempt,
  outcome: a.outcome,
  status: a.status,
  response: a.response,
  mx_host: a.mx_host,
  duration_ms: a.duration_ms,
  created_at: a.created_at,
  tls: a.tls_version ? { version: a.tls_version, cipher: a.tls_cipher ?? '' } : null,
  tls_verified: a.tls_verified === null ? null : a.tls_verified === 1,
  mta_sts_mode: a.mta_sts_mode as 'none' | 'testing' | 'enforce' | null,
  tls_failure: a.tls_failure,
});

const messageIdOf = (result: HandlerResult): string | null => (result.body as { id?: string }).id ?? null;

/** The queue of one outgoing message: try deferred recipients now, or stop the ones still waiting. */
export const deliveryRoutes = [
  route({
    method: 'get',
    path: '/v1/messages/{id}/deliveries',
    tag,
    summary:
      'The delivery timeline of an outgoing message: per recipient, every attempt with its TLS and MTA-STS record',
    access: { scope: 'message:read' },
    params: z.object({ id: uuidParam }),
    responses: {
      200: {
        description: 'One entry per recipient (at most the recipient limit, so never more than one page)',
        schema: pageOf(DeliveryTimeline),
      },
    },
    handler({ params, auth, deps }) {
      const message = loadMessageFor(deps, auth, params.id);
      const attempts = deps.repos.deliveries.attemptsForMessage(auth.org.id, message.id);
      const data = deps.repos.deliveries.forMessage(auth.org.id, message.id).map((d) => ({
        id: d.id,
        recipient: d.recipient,
        status: d.status,
        next_attempt_at: d.next_attempt_at,
        created_at: d.created_at,
        attempts: attempts.filter((a) => a.delivery_id === d.id).map(attemptView),
      }));
      return { body: { data, next_cursor: null } };
    },
  }),
  route({
    method: 'post',
    path: '/v1/messages/{id}/retry',
    tag,
    summary:
      'Try the deferred recipients of an outgoing message now instead of at their next scheduled attempt',
    access: { scope: 'message:send' },
    audit: { action: 'message.retry', target: 'message', targetId: ({ result }) => messageIdOf(result) },
    params: z.object({ id: uuidParam }),
    responses: {
      200: { description: 'The message; its deferred recipients are due now', schema: MessageView },
      409: { description: 'nothing_to_retry: no recipient is deferred' },
    },
    handler({ params, auth, deps }) {
      const message = loadMessageFor(deps, auth, params.id);
      retryNow(deps, auth.org.id, message.id);
      return { body: fullMessage(deps, loadMessage(deps, auth.org.id, message.id)) };
    },
  }),
  route({
    method: 'post',
    path: '/v1/messages/{id}/cancel',
    tag,
    summary:
      'Cancel the recipients of an outgoing message still queued or deferred; one in flight finishes its attempt',
    access: { scope: 'message:send' },
    audit: { action: 'message.cancel', target: 'message', targetId: ({ result }) => messageIdOf(result) },
    params: z.object({ id: uuidParam }),
    responses: {
      200: {
        description: 'The message: `failed` when no recipient got it, otherwise what its recipients reached',
        schema: MessageView,
      },
      409: { description: 'nothing_to_cancel, or delivery_in_flight while an attempt is running' },
    },
    handler({ params, auth, deps }) {
      const message = loadMessageFor(deps, auth, params.id);
      cancelWaiting(deps, auth.org.id, message.id, auth.key.id);
      return { body: fullMessage(deps, loadMessage(deps, auth.org.id, message.id)) };
    },
  }),
];
