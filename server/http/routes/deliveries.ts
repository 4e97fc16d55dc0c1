import { z } from 'zod';
import { MessageView } from '../../messages/views.js';
import { cancelWaiting, retryNow } from '../../outbound/delivery-actions.js';
import { route, type HandlerResult } from '../route.js';
import { uuidParam } from '../schemas.js';
import { fullMessage, loadMessage } from './messages.js';

const tag = 'Sending';

const messageIdOf = (result: HandlerResult): string | null => (result.body as { id?: string }).id ?? null;

/** The queue of one outgoing message: try deferred recipients now, or stop the ones still waiting. */
export const deliveryRoutes = [
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
      const message = loadMessage(deps, auth.org.id, params.id);
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
      const message = loadMessage(deps, auth.org.id, params.id);
      cancelWaiting(deps, auth.org.id, message.id, auth.key.id);
      return { body: fullMessage(deps, loadMessage(deps, auth.org.id, message.id)) };
    },
  }),
];
