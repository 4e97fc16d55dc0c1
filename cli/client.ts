import { fetch as undiciFetch } from 'undici';
import { CliError } from './errors.js';

/** The slice of `fetch` the client uses; undici's and Node's both fit, and tests pass their own. */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
  arrayBuffer(): Promise<ArrayBuffer>;
}>;

export const defaultFetch: FetchLike = (url, init) => undiciFetch(url, init);

export interface ErrorDetail {
  path: string;
  message: string;
}

/** An HTTP error answer in the API's one error shape (CONTRACT §1). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
    readonly retryAfter: number | null,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  /** Public routes (signup, verify) go without the key even when one is configured. */
  auth?: boolean;
}

export interface ClientOptions {
  baseUrl: string;
  apiKey?: string | undefined;
  fetch: FetchLike;
  signal: AbortSignal;
  /** `--debug`: one line per request and response on stderr; the key is never part of it. */
  trace?: ((line: string) => void) | undefined;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

interface ErrorBody {
  error?: {
    code?: unknown;
    message?: unknown;
    request_id?: unknown;
    retry_after?: unknown;
    details?: unknown;
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toApiError(status: number, headers: { get(name: string): string | null }, text: string): ApiError {
  const error = (parseJson(text) as ErrorBody | undefined)?.error;
  const headerRetry = Number(headers.get('retry-after'));
  const retryAfter =
    typeof error?.retry_after === 'number'
      ? error.retry_after
      : Number.isFinite(headerRetry) && headerRetry > 0
        ? headerRetry
        : null;
  const details = Array.isArray(error?.details)
    ? (error.details as ErrorDetail[]).filter((d) => typeof d?.path === 'string')
    : [];
  return new ApiError(
    status,
    typeof error?.code === 'string' ? error.code : `http_${status}`,
    typeof error?.message === 'string' ? error.message : `The server answered HTTP ${status}.`,
    typeof error?.request_id === 'string' ? error.request_id : headers.get('x-request-id'),
    retryAfter,
    details,
  );
}

/** A typed client for the LoftBox HTTP API: the only way the CLI reaches the server. */
export class ApiClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  get hasKey(): boolean {
    return Boolean(this.options.apiKey);
  }

  url(path: string, query: Query = {}): string {
    const url = new URL(`${this.baseUrl}${path}`);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
    }
    return url.toString();
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, query ? { query } : {});
  }

  post<T>(path: string, body?: unknown, options: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return this.request<T>('POST', path, { ...options, body: body ?? {} });
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body });
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (options.auth !== false && this.options.apiKey) {
      headers.authorization = `Bearer ${this.options.apiKey}`;
    }
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const response = await this.send(method, this.url(path, options.query), headers, body);
    const text = await response.text();
    if (response.status >= 400) throw toApiError(response.status, response.headers, text);
    return (text === '' ? undefined : parseJson(text)) as T;
  }

  /** Fetches a signed URL (attachments): no Authorization header, the token in the URL is the credential. */
  async download(url: string): Promise<Uint8Array> {
    const response = await this.send('GET', url, {}, undefined);
    if (response.status >= 400) throw toApiError(response.status, response.headers, await response.text());
    return new Uint8Array(await response.arrayBuffer());
  }

  private async send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): ReturnType<FetchLike> {
    const { signal, trace } = this.options;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const started = Date.now();
    trace?.(`> ${method} ${redactUrl(url)}`);
    try {
      const response = await this.options.fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.any([signal, timeout]),
      });
      trace?.(`< ${response.status} ${method} ${redactUrl(url)} (${Date.now() - started} ms)`);
      return response;
    } catch (err) {
      if (signal.aborted) throw new CliError('interrupted', 'Interrupted.');
      if (timeout.aborted) {
        throw new CliError(
          'network_error',
          `${this.baseUrl} did not answer within ${this.timeoutMs / 1000} s.`,
          {
            next: ['loftbox whoami'],
          },
        );
      }
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new CliError('network_error', `Could not reach ${this.baseUrl} (${why}).`, {
        hint: 'Is the server running? The address comes from --base-url, LOFTBOX_BASE_URL or the config file.',
        next: ['loftbox whoami'],
      });
    }
  }
}

/** Signed download URLs carry a token; traces show where a request went, not the credential. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&]+/g, '$1***');
}
