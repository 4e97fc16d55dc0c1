import type { ServerTarget } from './setting.js';
import { REASONS, type Reason } from './reasons.js';

export interface NextStep {
  command: string;
}

/** What the server said, kept apart from the CLI's own wording so agents can read both. */
export interface ApiErrorInfo {
  status: number;
  code: string;
  requestId: string | null;
  retryAfter: number | null;
}

/** The one error document `--json` prints on stdout (CLI.md "Errors for agents"). */
export interface Envelope {
  status: 'error' | 'action_required';
  reason: Reason;
  message: string;
  next: NextStep[];
  userActionRequired: boolean;
  api?: ApiErrorInfo;
  /** The server the command talked to and where that choice came from (flag, env, config, default). */
  server?: ServerTarget;
  /** `send --wait`: the message and each recipient's outcome when the wait ended. */
  delivery?: unknown;
}

export interface CliErrorOptions {
  /** Commands that fix it; built only from user input and ids, never from mail content. */
  next?: string[];
  userActionRequired?: boolean;
  api?: ApiErrorInfo;
  /** Human mode: a line explaining the rule, printed between the failure and the fix. */
  hint?: string;
  server?: ServerTarget;
  delivery?: unknown;
}

/** A failure the CLI reports and maps to an exit code; anything else thrown is an internal error. */
export class CliError extends Error {
  constructor(
    readonly reason: Reason,
    message: string,
    readonly options: CliErrorOptions = {},
  ) {
    super(message);
    this.name = 'CliError';
  }

  get exitCode(): number {
    return REASONS[this.reason].exit;
  }

  envelope(): Envelope {
    const status = REASONS[this.reason].status;
    return {
      status,
      reason: this.reason,
      message: this.message,
      next: (this.options.next ?? []).map((command) => ({ command })),
      userActionRequired: this.options.userActionRequired ?? status === 'action_required',
      ...(this.options.api ? { api: this.options.api } : {}),
      ...(this.options.server ? { server: this.options.server } : {}),
      ...(this.options.delivery !== undefined ? { delivery: this.options.delivery } : {}),
    };
  }

  /** The same error as the invocation reports it: `next` commands completed, the server named. */
  retarget(next: (command: string) => string, server: ServerTarget | undefined): CliError {
    const options: CliErrorOptions = {
      ...this.options,
      ...(this.options.next ? { next: this.options.next.map(next) } : {}),
      ...(server ? { server } : {}),
    };
    const copy = new CliError(this.reason, this.message, options);
    copy.stack = this.stack;
    return copy;
  }
}

export const usageError = (message: string, next?: string[]): CliError =>
  new CliError('usage_error', message, next ? { next } : {});

/** Quotes a value for a POSIX shell when it is not plainly safe, so `next` commands can be pasted. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The fields of the client's ApiError that the mapping reads (a type, so this file imports no client). */
export interface ApiErrorLike {
  status: number;
  code: string;
  message: string;
  requestId: string | null;
  retryAfter: number | null;
  details: { path: string; message: string }[];
}

/** HTTP errors to CLI reasons: 401/403 are exit 4, everything else a failure with its reason. */
export function fromApiError(err: ApiErrorLike): CliError {
  const api: ApiErrorInfo = {
    status: err.status,
    code: err.code,
    requestId: err.requestId,
    retryAfter: err.retryAfter,
  };
  const details = err.details.map((d) => `${d.path}: ${d.message}`).join('; ');
  const message = details ? `${err.message} (${details})` : err.message;
  if (err.status === 401) {
    return new CliError('unauthorized', `The server refused the API key: ${message}`, {
      api,
      userActionRequired: true,
      next: ['loftbox login --with-key', 'loftbox whoami'],
    });
  }
  if (err.status === 403) {
    return new CliError('forbidden', message, {
      api,
      userActionRequired: true,
      hint: 'The key lacks a scope for this, or the account is restricted until its owner claims it.',
      next: ['loftbox whoami'],
    });
  }
  if (err.status === 404) return new CliError('not_found', message, { api });
  if (err.status === 409) return new CliError('conflict', message, { api });
  if (err.status === 429) {
    const wait = err.retryAfter ? ` Retry after ${err.retryAfter} s.` : '';
    return new CliError('rate_limited', `${message}${wait}`, { api });
  }
  if (err.code === 'recipient_not_found') {
    return new CliError('recipient_not_found', message, {
      api,
      hint: 'That server hosts the domain and has no such mailbox, so nothing was sent. Check the address with whoever gave it.',
    });
  }
  if (err.status === 400 || err.status === 413 || err.status === 422) {
    return new CliError('validation_failed', message, { api });
  }
  if (err.status >= 500) return new CliError('server_error', message, { api });
  return new CliError('api_error', message, { api });
}
