import type { Context } from 'koa';
import type { Deps } from '../deps.js';
import { ApiError } from '../lib/errors.js';
import { auditRouteCall, requestOrigin } from '../http/audit-hook.js';
import { zodDetails } from '../http/middleware/errors.js';
import type { Method, RouteDef } from '../http/route.js';
import { allRoutes } from '../http/routes/index.js';
import { sessionActor, type ConsoleIdentity } from './sessions.js';

/**
 * The console acts through the API's own route definitions, in process: the same zod validation,
 * the same scope check and the same org-scoped lookups (another org's id is 404), so nothing the API
 * would refuse is possible from the console.
 */
export interface ApiCall {
  params?: Record<string, string>;
  query?: Record<string, string | undefined>;
  body?: unknown;
}

const byKey = new Map<string, RouteDef>(allRoutes.map((def) => [`${def.method} ${def.path}`, def]));

function parse(def: RouteDef, part: 'params' | 'query' | 'body', value: unknown): unknown {
  const schema = def[part];
  if (!schema) return value;
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new ApiError(422, 'validation_error', 'The request is invalid.', {
      details: zodDetails(result.error, part === 'body' ? null : part === 'params' ? 'path' : 'query'),
    });
  }
  return result.data;
}

export async function callApi<T = unknown>(
  deps: Deps,
  ctx: Context,
  who: ConsoleIdentity,
  method: Method,
  path: string,
  call: ApiCall = {},
): Promise<T> {
  const def = byKey.get(`${method} ${path}`);
  if (!def || 'public' in def.access)
    throw new Error(`console: no authenticated API route ${method} ${path}`);
  const scope = def.access.scope;
  if (scope && !who.auth.effective.has(scope)) {
    throw new ApiError(403, 'insufficient_scope', `This session lacks the "${scope}" scope.`);
  }
  const query = Object.fromEntries(
    Object.entries(call.query ?? {}).filter(([, v]) => v !== undefined && v !== ''),
  );
  const params = parse(def, 'params', call.params ?? {});
  const body = parse(def, 'body', call.body ?? {});
  ctx.state.auditActor = sessionActor(who);
  const result = await def.handler({
    params,
    query: parse(def, 'query', query),
    body,
    auth: who.auth,
    deps,
    ctx,
  });
  if (def.audit) auditRouteCall(deps, def, requestOrigin(ctx, who.auth), who.auth, { params, body }, result);
  return result.body as T;
}
