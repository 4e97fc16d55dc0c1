import { ApiError, type ApiClient } from '../client.js';
import { CliError } from '../errors.js';
import { fillPath, ToolCallFailure, type ApiRequest, type ToolApi } from './tools.js';

/** How often `event_wait` re-reads the event log over HTTP while it waits. */
const EVENT_POLL_MS = 1000;

/** Tools over the HTTP API with the CLI's own client: the same routes, the same answers, as REST. */
export function httpApi(
  client: ApiClient,
  sleep: (ms: number, signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
): ToolApi {
  return {
    async call<T>(request: ApiRequest): Promise<T> {
      const hasBody = request.method === 'post' || request.method === 'patch';
      try {
        return await client.request<T>(request.method.toUpperCase(), fillPath(request.path, request.params), {
          ...(request.query ? { query: request.query } : {}),
          ...(hasBody ? { body: request.body ?? {} } : {}),
          ...(request.headers ? { headers: request.headers } : {}),
        });
      } catch (err) {
        if (err instanceof ApiError)
          throw new ToolCallFailure(err.status, err.code, err.message, err.details);
        if (err instanceof CliError) throw new ToolCallFailure(0, err.reason, err.message);
        throw err;
      }
    },
    eventsMayHaveArrived: (ms) => sleep(Math.min(ms, EVENT_POLL_MS), signal),
  };
}
