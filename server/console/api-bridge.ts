import type { Context } from 'koa';
import type { AuthContext } from '../accounts/api-keys.js';
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
  /** Request headers a handler reads (e.g. `idempotency-key`), over those of the calling request. */
  headers?: Record<string, string>;
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
  // Handlers the console calls record the signed-in person, not the session's stand-in key.
  ctx.state.auditActor = sessionActor(who);
  return callApiAs<T>(deps, ctx, who.auth, 'session', method, path, call);
}

/** A Koa context whose `get` answers the call's own headers first. */
function withHeaders(ctx: Context, headers: Record<string, string> | undefined): Context {
  if (!headers) return ctx;
  const own = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  return Object.create(ctx, {
    get: { value: (name: string) => own.get(name.toLowerCase()) ?? ctx.get(name) },
  }) as Context;
}

/** The same in-process call for any authenticated caller (`subject` names it in the scope error). */
export async function callApiAs<T = unknown>(
  deps: Deps,
  ctx: Context,
  auth: AuthContext,
  subject: string,
  method: Method,
  path: string,
  call: ApiCall = {},
): Promise<T> {
  const def = byKey.get(`${method} ${path}`);
  if (!def || 'public' in def.access) throw new Error(`no authenticated API route ${method} ${path}`);
  const scope = def.access.scope;
  if (scope && !auth.effective.has(scope)) {
    throw new ApiError(403, 'insufficient_scope', `This ${subject} lacks the "${scope}" scope.`);
  }
  const query = Object.fromEntries(
    Object.entries(call.query ?? {}).filter(([, v]) => v !== undefined && v !== ''),
  );
  const params = parse(def, 'params', call.params ?? {});
  const body = parse(def, 'body', call.body ?? {});
  const result = await def.handler({
    params,
    query: parse(def, 'query', query),
    body,
    auth,
    deps,
    ctx: withHeaders(ctx, call.headers),
  });
  if (def.audit) auditRouteCall(deps, def, requestOrigin(ctx, auth), auth, { params, body }, result);
  return result.body as T;
}
