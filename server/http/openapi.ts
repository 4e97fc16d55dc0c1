import {
  createDocument,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponseObject,
} from 'zod-openapi';
import { z } from 'zod';
import { VERSION } from '../version.js';
import type { RouteDef } from './route.js';
import { errorBody } from './schemas.js';

const ERROR_STATUSES: Record<number, string> = {
  401: 'Missing, unknown, revoked or expired API key.',
  403: 'The key lacks the scope this route needs.',
  404: 'Unknown id, or one that belongs to another organization.',
  422: 'The request failed validation; `details` lists each problem.',
  429: 'Rate or daily limit reached; see `Retry-After`.',
};

type ParamsSchema = NonNullable<ZodOpenApiOperationObject['requestParams']>['path'];

/** openapi.json is generated from the same route list and zod schemas that validate requests. */
export function buildOpenApi(routes: RouteDef[], serverUrl: string): ReturnType<typeof createDocument> {
  const paths: ZodOpenApiPathsObject = {};
  for (const def of routes) {
    const responses: Record<string, ZodOpenApiResponseObject> = {};
    for (const [status, response] of Object.entries(def.responses)) {
      responses[status] = {
        description: response.description,
        ...(response.schema
          ? { content: { [response.contentType ?? 'application/json']: { schema: response.schema } } }
          : response.contentType
            ? { content: { [response.contentType]: { schema: z.string() } } }
            : {}),
      };
    }
    const isPublic = 'public' in def.access;
    const errorStatuses = [
      ...(isPublic ? [] : [401, 403]),
      ...(def.params ? [404] : []),
      ...(def.body || def.query ? [422] : []),
    ];
    for (const status of errorStatuses) {
      responses[String(status)] ??= {
        description: ERROR_STATUSES[status] ?? 'Error',
        content: { 'application/json': { schema: errorBody } },
      };
    }
    const operation: ZodOpenApiOperationObject = {
      summary: def.summary,
      tags: [def.tag],
      operationId: `${def.method}${def.path.replace(/[{}]/g, '').replace(/[^a-zA-Z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      security: isPublic ? [] : [{ bearer: [] }],
      ...('scope' in def.access && def.access.scope
        ? { description: `Requires scope \`${def.access.scope}\`.` }
        : {}),
      requestParams: {
        ...(def.params ? { path: def.params as ParamsSchema } : {}),
        ...(def.query ? { query: def.query as ParamsSchema } : {}),
      },
      ...(def.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: def.body } } } }
        : {}),
      responses: responses as ZodOpenApiOperationObject['responses'],
    };
    paths[def.path] = { ...paths[def.path], [def.method]: operation };
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'LoftBox API',
      version: VERSION,
      description:
        'Email infrastructure for AI agents: mailboxes, sending, inbound mail, events and oversight.',
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API key (lb_live_…)' } },
    },
    paths,
  });
}
