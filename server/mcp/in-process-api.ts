import type { Context } from 'koa';
import type { AuthContext } from '../accounts/api-keys.js';
import { ToolCallFailure, type ApiRequest, type ToolApi } from '../../cli/mcp/tools.js';
import { callApiAs } from '../console/api-bridge.js';
import type { Deps } from '../deps.js';
import { ApiError } from '../lib/errors.js';

const stringQuery = (query: ApiRequest['query']): Record<string, string | undefined> =>
  Object.fromEntries(
    Object.entries(query ?? {}).map(([name, value]) => [
      name,
      value === undefined ? undefined : String(value),
    ]),
  );

/**
 * Tools run through the API's own route handlers in process (the console's bridge): the same
 * validation, scope check and org-scoped lookups as REST, acting with the caller's key.
 */
export function inProcessApi(deps: Deps, ctx: Context, auth: AuthContext): ToolApi {
  return {
    async call<T>(request: ApiRequest): Promise<T> {
      try {
        return await callApiAs<T>(deps, ctx, auth, 'API key', request.method, request.path, {
          params: request.params ?? {},
          query: stringQuery(request.query),
          body: request.body,
          ...(request.headers ? { headers: request.headers } : {}),
        });
      } catch (err) {
        if (err instanceof ApiError) {
          throw new ToolCallFailure(err.status, err.code, err.message, err.extra.details ?? []);
        }
        deps.log.error(
          { event: 'mcp.tool_failed', err, route: `${request.method} ${request.path}` },
          'mcp tool failed',
        );
        throw new ToolCallFailure(500, 'internal_error', 'The server failed to complete this call.');
      }
    },
    eventsMayHaveArrived(ms: number): Promise<void> {
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          deps.bus.off('appended', onAppended);
          ctx.res.off('close', done);
          resolve();
        };
        const onAppended = (orgId: string) => {
          if (orgId === auth.org.id) done();
        };
        const timer = setTimeout(done, ms);
        deps.bus.on('appended', onAppended);
        ctx.res.once('close', done);
      });
    },
  };
}
