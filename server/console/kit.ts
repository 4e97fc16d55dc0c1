import type { Context } from 'koa';
import type { Deps } from '../deps.js';
import { ApiError } from '../lib/errors.js';
import type { Html } from './html.js';
import type { PageContext } from './layout.js';
import type { ConsoleIdentity } from './sessions.js';

/** What the console's route modules share: rendering, the page context and the signed-in person. */
export interface ConsoleKit {
  deps: Deps;
  render(ctx: Context, body: Html, status?: number): void;
  pageOf(ctx: Context): PageContext;
  need(ctx: Context): ConsoleIdentity;
  formField(ctx: Context, name: string): string;
}

export const formField = (ctx: Context, name: string): string => {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string'
    ? value
    : Array.isArray(value) && typeof value[0] === 'string'
      ? value[0]
      : '';
};
export const formList = (ctx: Context, name: string): string[] => {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return (Array.isArray(value) ? value : [value]).filter(
    (v): v is string => typeof v === 'string' && v !== '',
  );
};
export const isHtmx = (ctx: Context) => ctx.get('hx-request') === 'true';

/** A refused change (validation, conflict) is told on the page; anything else propagates. */
export function refusal(err: unknown): string {
  if (!(err instanceof ApiError) || err.status >= 500 || err.status === 404) throw err;
  const details = err.extra.details?.map((d) => `${d.path}: ${d.message}`).join('; ');
  return details ? `${err.message} ${details}` : err.message;
}
