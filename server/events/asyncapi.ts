/** AsyncAPI 3.0 description of the event stream (GET /v1/ws/asyncapi.json). */
export function asyncApiDocument(
  baseUrl: string,
  version: string,
  eventTypes: readonly string[],
): Record<string, unknown> {
  const wsUrl = new URL(baseUrl);
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'LoftBox event stream',
      version,
      description:
        'Realtime events for the organization of the API key. Frames are JSON text: one `ready`, then `event` frames in log order, each with a cursor. Reconnect with ?after=<last cursor> to resume without gaps or duplicates. A consumer too far behind gets an `error` frame with code `lagged` and is closed; a cursor older than the event retention gets `resync_required` and is closed.',
    },
    servers: {
      loftbox: {
        host: wsUrl.host,
        protocol: wsUrl.protocol === 'https:' ? 'wss' : 'ws',
        pathname: '/v1/ws',
        security: [{ $ref: '#/components/securitySchemes/bearer' }],
      },
    },
    channels: {
      events: {
        address: '/v1/ws',
        parameters: {},
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: {
                event_types: {
                  type: 'string',
                  description: `Comma-separated subset of: ${eventTypes.join(', ')}`,
                },
                agent_id: { type: 'string' },
                mailbox_id: { type: 'string', description: 'UUID or mb_ public id' },
                after: { type: 'string', description: 'Resume after this cursor' },
              },
            },
          },
        },
        messages: {
          ready: { $ref: '#/components/messages/ready' },
          event: { $ref: '#/components/messages/event' },
          error: { $ref: '#/components/messages/error' },
        },
      },
    },
    operations: {
      receiveEvents: {
        action: 'receive',
        channel: { $ref: '#/channels/events' },
        messages: [
          { $ref: '#/channels/events/messages/ready' },
          { $ref: '#/channels/events/messages/event' },
          { $ref: '#/channels/events/messages/error' },
        ],
      },
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'API key with the receive (event:read) scope',
        },
      },
      messages: {
        ready: {
          payload: {
            type: 'object',
            required: ['type', 'cursor'],
            properties: { type: { const: 'ready' }, cursor: { type: 'string' } },
          },
        },
        event: {
          payload: {
            type: 'object',
            required: ['type', 'event', 'cursor'],
            properties: {
              type: { const: 'event' },
              cursor: { type: 'string' },
              event: {
                type: 'object',
                required: ['id', 'type', 'created_at', 'org_id', 'data'],
                properties: {
                  id: { type: 'string' },
                  type: { type: 'string', enum: [...eventTypes] },
                  created_at: { type: 'string', format: 'date-time' },
                  org_id: { type: 'string' },
                  agent_id: { type: ['string', 'null'] },
                  mailbox_id: { type: ['string', 'null'] },
                  mailbox: { type: ['string', 'null'] },
                  thread_id: { type: ['string', 'null'] },
                  message_id: { type: ['string', 'null'] },
                  data: { type: 'object' },
                },
              },
            },
          },
        },
        error: {
          payload: {
            type: 'object',
            required: ['type', 'code'],
            properties: {
              type: { const: 'error' },
              code: { type: 'string', enum: ['lagged', 'resync_required'] },
              message: { type: 'string' },
            },
          },
        },
      },
    },
  };
}
