import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { z } from 'zod';
import type { Deps } from '../deps.js';
import { ApiError } from '../lib/errors.js';
import { auditRouteCall, requestOrigin } from './audit-hook.js';
import { requireKey } from './middleware/auth.js';
import { zodDetails } from './middleware/errors.js';
import { koaPath, type RouteDef } from './route.js';

function parsePart(schema: z.ZodType | undefined, value: unknown, location: string | null): unknown {
  if (!schema) return value;
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new ApiError(422, 'validation_error', 'The request is invalid.', {
      details: zodDetails(result.error, location),
    });
  }
  return result.data;
}

function hasBody(ctx: Context): boolean {
  return Boolean(ctx.request.length) || ctx.get('transfer-encoding') !== '';
}

function handle(deps: Deps, def: RouteDef): Middleware {
  return async (ctx) => {
    if (def.body && hasBody(ctx) && !ctx.is('application/json', '+json')) {
      throw new ApiError(415, 'unsupported_media_type', 'Send JSON with Content-Type: application/json.');
    }
    const params = parsePart(def.params, ctx.params, 'path');
    const query = parsePart(def.query, { ...ctx.query }, 'query');
    const body = parsePart(def.body, ctx.request.body ?? {}, null);
    const result = await def.handler({ params, query, body, auth: ctx.state.auth, deps, ctx });
    if (def.audit)
      auditRouteCall(deps, def, requestOrigin(ctx, ctx.state.auth), ctx.state.auth, { params, body }, result);
    ctx.status = result.status ?? 200;
    for (const [name, value] of Object.entries(result.headers ?? {})) ctx.set(name, value);
    if (result.contentType) ctx.type = result.contentType;
    if (result.body !== undefined) ctx.body = result.body;
  };
}

export function buildRouter(deps: Deps, routes: RouteDef[]): Router {
  const router = new Router();
  for (const def of routes) {
    const chain: Middleware[] = [];
    if (!('public' in def.access)) chain.push(requireKey(deps, def.access.scope));
    if (def.body) {
      chain.push(
        bodyParser({
          enableTypes: ['json'],
          extendTypes: { json: ['application/json', 'application/*+json'] },
          jsonLimit: def.bodyLimit ?? deps.config.jsonBodyLimit,
        }) as unknown as Middleware,
      );
    }
    chain.push(handle(deps, def));
    router[def.method](koaPath(def.path), ...chain);
  }
  return router;
}
