import { asyncApiDocument } from '../../events/asyncapi.js';
import { EVENT_TYPES } from '../../events/log.js';
import { ApiError } from '../../lib/errors.js';
import { VERSION } from '../../version.js';
import { route } from '../route.js';

const tag = 'Events';

export const streamRoutes = [
  route({
    method: 'get',
    path: '/v1/ws',
    tag,
    summary: 'WebSocket event stream (upgrade with Authorization: Bearer); see /v1/ws/asyncapi.json',
    access: { scope: 'event:read' },
    responses: { 426: { description: 'A plain GET gets 426: connect with a WebSocket client' } },
    handler() {
      throw new ApiError(426, 'upgrade_required', 'Connect with a WebSocket client (Upgrade: websocket).', {
        headers: { Upgrade: 'websocket' },
      });
    },
  }),
  route({
    method: 'get',
    path: '/v1/ws/asyncapi.json',
    tag,
    summary: 'AsyncAPI 3 description of the event stream',
    access: { public: true },
    responses: { 200: { description: 'AsyncAPI 3.0 document', contentType: 'application/json' } },
    handler({ deps }) {
      return { body: asyncApiDocument(deps.publicUrl(), VERSION, EVENT_TYPES) };
    },
  }),
];
