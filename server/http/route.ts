import type { Context } from 'koa';
import type { z } from 'zod';
import type { AuthContext } from '../accounts/api-keys.js';
import type { AuditAction } from '../audit/record.js';
import type { Deps } from '../deps.js';
import type { Scope } from '../policy/scopes.js';

export type Method = 'get' | 'post' | 'patch' | 'delete';

/** Who may call a route: nobody in particular, any valid key, or a key holding a scope. */
export type Access = { public: true } | { scope: Scope | null };

export interface RouteResponse {
  description: string;
  schema?: z.ZodType;
  /** Defaults to application/json when a schema is given. */
  contentType?: string;
}

export interface HandlerInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  auth: AuthContext;
  deps: Deps;
  ctx: Context;
}

export interface HandlerResult {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  contentType?: string;
}

/**
 * A mutating route names its audit action; a successful call appends one audit row (the HTTP router
 * and the console bridge both do it, so every caller is covered). The target id is the id of the
 * resource the route answers with, else the path's `{id}`, unless `targetId` says otherwise.
 */
export interface AuditCall<P, B> {
  params: P;
  body: B;
  result: HandlerResult;
  deps: Deps;
  orgId: string;
}

export interface RouteAudit<P, B> {
  action: AuditAction;
  target: string;
  /** Resolve public ids (`dom_…`, `mb_…`) here: the log keeps the resource's `id`. */
  targetId?(call: AuditCall<P, B>): string | null;
  details?(call: AuditCall<P, B>): Record<string, unknown>;
}

/**
 * One route: its path (OpenAPI syntax), access rule, the zod schemas that validate its input and
 * describe its output, and its handler. The router and openapi.json are both built from this list,
 * so the document cannot drift from what the server accepts.
 */
export interface RouteDef<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
> {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  access: Access;
  params?: P;
  query?: Q;
  body?: B;
  /** Largest accepted JSON body for this route, when it differs from the server default. */
  bodyLimit?: number;
  responses: Record<number, RouteResponse>;
  audit?: RouteAudit<z.output<P>, z.output<B>>;
  handler(input: HandlerInput<z.output<P>, z.output<Q>, z.output<B>>): Promise<HandlerResult> | HandlerResult;
}

/** Identity helper that keeps each route's handler typed by its own schemas. */
export function route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(
  def: RouteDef<P, Q, B>,
): RouteDef {
  return def as unknown as RouteDef;
}

export const koaPath = (path: string): string => path.replace(/\{(\w+)\}/g, ':$1');
