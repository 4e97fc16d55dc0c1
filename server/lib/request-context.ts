import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The API request or SMTP session the current work is for, so every event appended on its behalf names
 * it (CONTRACT §6) without threading an id through every call.
 */
const context = new AsyncLocalStorage<{ requestId: string | null }>();

/** Runs `work` (and everything it starts) on behalf of this request; `null` detaches it from any caller. */
export function withRequestId<T>(requestId: string | null, work: () => T): T {
  return context.run({ requestId }, work);
}

export function currentRequestId(): string | null {
  return context.getStore()?.requestId ?? null;
}

/** True inside `withRequestId`, even when it set `null` (background work detached from a caller). */
export function inRequestContext(): boolean {
  return context.getStore() !== undefined;
}
