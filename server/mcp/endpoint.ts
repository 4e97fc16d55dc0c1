import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware, Next } from 'koa';
import type { AuthContext } from '../accounts/api-keys.js';
import { buildMcpServer } from '../../cli/mcp/server.js';
import type { Deps } from '../deps.js';
import { requireKey } from '../http/middleware/auth.js';
import { ApiError } from '../lib/errors.js';
import { VERSION } from '../version.js';
import { inProcessApi } from './in-process-api.js';

export const MCP_PATH = '/mcp';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Hosts a browser may reach us by: the public URL's, so a rebound DNS name is refused. Without
 * LOFTBOX_PUBLIC_URL the server is reached locally: its bound address or a loopback name.
 */
function allowedHost(deps: Deps, host: string): boolean {
  const expected = new URL(deps.publicUrl());
  let given: URL;
  try {
    given = new URL(`${expected.protocol}//${host}`);
  } catch {
    return false;
  }
  if (given.username || given.password || given.pathname !== '/' || given.search) return false;
  // new URL drops a default port on both sides, so "host" and "host:443" compare equal.
  if (given.host === expected.host) return true;
  return deps.config.publicUrl === null && given.port === expected.port && LOOPBACK_NAMES.has(given.hostname);
}

/** DNS-rebinding guard (MCP transport spec, "Security Warning"): Host and any Origin must be ours. */
function checkOrigin(deps: Deps, ctx: Context): void {
  if (!allowedHost(deps, ctx.get('host'))) {
    throw new ApiError(403, 'forbidden_host', 'This host name is not served here.');
  }
  const origin = ctx.get('origin');
  if (origin && origin !== new URL(deps.publicUrl()).origin) {
    throw new ApiError(403, 'forbidden_origin', 'Requests from this origin are refused.');
  }
}

/**
 * Stateless: a fresh MCP server and transport per request, bound to the caller's key. The SDK is
 * imported on the first request (module cache after that), not at start.
 */
async function serve(deps: Deps, ctx: Context, auth: AuthContext): Promise<void> {
  const server = await buildMcpServer(inProcessApi(deps, ctx, auth), VERSION, (tool, error) =>
    deps.log.info(
      { event: 'mcp.tool_call', tool, key_id: auth.key.id, org_id: auth.org.id, error },
      'mcp tool call',
    ),
  );
  const { StreamableHTTPServerTransport } =
    await import('@modelcontextprotocol/sdk/server/streamableHttp.js');
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  ctx.res.once('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  ctx.respond = false;
  await transport.handleRequest(ctx.req, ctx.res, ctx.request.body);
}

/**
 * `POST /mcp` (CONTRACT §11): the Model Context Protocol over Streamable HTTP. Every tool acts
 * through the REST route of its twin, with the key given here.
 */
export function mcpEndpoint(deps: Deps): Middleware {
  const parseBody = bodyParser({
    enableTypes: ['json'],
    jsonLimit: deps.config.mcpBodyLimit,
  }) as unknown as Middleware;
  const authenticate = requireKey(deps, null);
  return async (ctx: Context, next: Next) => {
    if (ctx.path !== MCP_PATH) return next();
    if (ctx.method !== 'POST') {
      // Stateless server: no SSE stream to GET and no session to DELETE.
      throw new ApiError(405, 'method_not_allowed', 'Use POST for /mcp.', { headers: { Allow: 'POST' } });
    }
    checkOrigin(deps, ctx);
    await authenticate(ctx, async () => {
      if (!ctx.is('application/json')) {
        throw new ApiError(
          415,
          'unsupported_media_type',
          'Send JSON-RPC with Content-Type: application/json.',
        );
      }
      await parseBody(ctx, async () => {
        await serve(deps, ctx, ctx.state.auth as AuthContext);
      });
    });
  };
}
