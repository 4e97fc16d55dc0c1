/** One field-level validation problem, as returned in `error.details`. */
export interface ErrorDetail {
  path: string;
  message: string;
}

/**
 * An error that maps to the API error body of CONTRACT §1. Anything else thrown in a request is an
 * internal error and is logged, never shown.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: { details?: ErrorDetail[]; retryAfter?: number; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (what = 'resource'): ApiError =>
  new ApiError(404, 'not_found', `The ${what} does not exist.`);

export const conflict = (code: string, message: string): ApiError => new ApiError(409, code, message);

export const badRequest = (code: string, message: string): ApiError => new ApiError(400, code, message);

export const forbidden = (code: string, message: string): ApiError => new ApiError(403, code, message);

export const tooManyRequests = (code: string, message: string, retryAfterSeconds: number): ApiError =>
  new ApiError(429, code, message, { retryAfter: Math.max(1, Math.ceil(retryAfterSeconds)) });
