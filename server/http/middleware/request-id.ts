import type { Middleware } from 'koa';
import { randomBase32 } from '../../lib/ids.js';
import { withRequestId } from '../../lib/request-context.js';

const SAFE_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** Every response carries X-Request-Id; a sane incoming one is kept so traces join across proxies. */
export const requestId: Middleware = async (ctx, next) => {
  const incoming = ctx.get('x-request-id');
  const id = SAFE_ID.test(incoming) ? incoming : `req_${randomBase32(20)}`;
  ctx.state.requestId = id;
  ctx.set('X-Request-Id', id);
  // Everything the request does (and the events it appends) runs under its id.
  await withRequestId(id, next);
};
