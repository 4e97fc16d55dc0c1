import Koa from 'koa';
import { consoleEntry, mountConsole } from './console/router.js';
import type { Deps } from './deps.js';
import { errorHandler } from './http/middleware/errors.js';
import { requestId } from './http/middleware/request-id.js';
import { buildRouter } from './http/router.js';
import { allRoutes } from './http/routes/index.js';
import { mcpEndpoint } from './mcp/endpoint.js';

/** The one HTTP application: the API, the operator console and the MCP endpoint, over the same deps. */
export function createApp(deps: Deps): Koa {
  // Each proxy appends the address it saw, so only the last `hops` entries are not the client's own
  // words; Koa's maxIpsCount keeps exactly those and ctx.ip is the leftmost of them.
  const hops = deps.config.trustProxyHops;
  const app = new Koa({ proxy: hops > 0, maxIpsCount: hops });
  app.silent = true;
  const router = buildRouter(deps, allRoutes);
  app.use(requestId);
  app.use(errorHandler(deps.log));
  app.use(consoleEntry);
  mountConsole(app, deps);
  app.use(mcpEndpoint(deps));
  app.use(router.routes());
  // Non-throwing mode keeps the Allow header on 405 (RFC 9110 §15.5.6); the error handler adds the body.
  app.use(router.allowedMethods());
  return app;
}
