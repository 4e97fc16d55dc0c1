import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { storageFault } from '../../db/storage-faults.js';
import { ApiError, type ErrorDetail } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';

/** Writes the one error body of CONTRACT §1. */
export function sendError(ctx: Context, error: ApiError): void {
  ctx.status = error.status;
  const body: Record<string, unknown> = {
    code: error.code,
    message: error.message,
    status: error.status,
    request_id: ctx.state.requestId as string,
  };
  if (error.extra.retryAfter !== undefined) {
    body.retry_after = error.extra.retryAfter;
    ctx.set('Retry-After', String(error.extra.retryAfter));
  }
  if (error.extra.details) body.details = error.extra.details;
  for (const [name, value] of Object.entries(error.extra.headers ?? {})) ctx.set(name, value);
  ctx.body = { error: body };
}

export function zodDetails(error: z.ZodError, prefix: string | null): ErrorDetail[] {
  return error.issues.map((issue) => ({
    path: [...(prefix ? [prefix] : []), ...issue.path.map(String)].join('.') || '(root)',
    message: issue.message,
  }));
}

/** Errors thrown by body parsing and routing carry an HTTP status we translate into our codes. */
function translate(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  if (err instanceof z.ZodError) {
    return new ApiError(422, 'validation_error', 'The request is invalid.', {
      details: zodDetails(err, null),
    });
  }
  const status = (err as { status?: unknown }).status;
  if (typeof status !== 'number' || status < 400 || status >= 500) return null;
  const type = (err as { type?: string }).type;
  if (status === 413) return new ApiError(413, 'payload_too_large', 'The request body is too large.');
  if (status === 415)
    return new ApiError(415, 'unsupported_media_type', 'Send JSON with Content-Type: application/json.');
  if (status === 400 && (type === 'entity.parse.failed' || /JSON/i.test((err as Error).message))) {
    return new ApiError(400, 'invalid_json', 'The request body is not valid JSON.');
  }
  if (status === 405)
    return new ApiError(405, 'method_not_allowed', 'That method is not allowed on this path.');
  if (status === 404) return new ApiError(404, 'not_found', 'No such route.');
  return new ApiError(status, 'bad_request', 'The request could not be processed.');
}

/** Statuses the router leaves without a body: no such path, no such method here, no such method at all. */
const UNROUTED: Record<number, () => ApiError> = {
  404: () => new ApiError(404, 'not_found', 'No such route.'),
  405: () => new ApiError(405, 'method_not_allowed', 'That method is not allowed on this path.'),
  501: () => new ApiError(501, 'not_implemented', 'The server does not implement that method.'),
};

/** Seconds a client should wait: a held lock clears quickly, a full or failing disk needs an operator. */
const STORAGE_RETRY_AFTER = { busy: 1, full: 30, unavailable: 30 } as const;

function storageError(err: unknown): ApiError | null {
  const fault = storageFault(err);
  if (!fault) return null;
  return fault === 'busy'
    ? new ApiError(503, 'storage_busy', 'Storage is busy. Retry shortly.', {
        retryAfter: STORAGE_RETRY_AFTER.busy,
      })
    : new ApiError(503, 'storage_unavailable', 'Storage cannot accept writes right now. Retry later.', {
        retryAfter: STORAGE_RETRY_AFTER[fault],
      });
}

export function errorHandler(log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.body === undefined || ctx.body === null) {
        const unrouted = UNROUTED[ctx.status];
        if (unrouted) sendError(ctx, unrouted());
      }
    } catch (err) {
      const known = translate(err);
      if (known) {
        sendError(ctx, known);
        return;
      }
      const storage = storageError(err);
      if (storage) {
        log.warn(
          {
            event: 'http.storage_unavailable',
            request_id: ctx.state.requestId,
            sqlite_code: (err as { code?: string }).code,
          },
          'storage refused a write',
        );
        sendError(ctx, storage);
        return;
      }
      log.error(
        {
          event: 'http.internal_error',
          request_id: ctx.state.requestId,
          err,
          method: ctx.method,
          path: ctx.path,
        },
        'unhandled error',
      );
      sendError(ctx, new ApiError(500, 'internal_error', 'Something went wrong on our side.'));
    }
  };
}
