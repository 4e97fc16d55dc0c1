import type { MessagePort } from 'node:worker_threads';
import type { DnsResolve } from './resolver.js';

/**
 * DNS for a worker thread, answered by the main thread's resolver over a MessagePort: one cache and one
 * clock for every lookup the server makes, wherever the code asking runs (mail authentication runs on the
 * content workers). The answer or the error crosses as plain data; an error keeps its `code`, which
 * callers read (ENOTFOUND and ENODATA are "does not exist", RFC 2308; anything else is a temporary error).
 */

interface Question {
  id: number;
  name: string;
  rrtype: string;
}

type Reply = { id: number; values: unknown[] } | { id: number; error: { message: string; code?: string } };

/** Main thread: answers the questions arriving on `port` from `resolve`, until the port closes. */
export function serveDns(port: MessagePort, resolve: DnsResolve): void {
  port.on('message', (question: Question) => {
    resolve(question.name, question.rrtype).then(
      (values) => port.postMessage({ id: question.id, values } satisfies Reply),
      (err: unknown) => {
        const { message, code } = err as { message?: string; code?: string };
        const error = { message: message ?? String(err), ...(code ? { code } : {}) };
        port.postMessage({ id: question.id, error } satisfies Reply);
      },
    );
  });
  // The worker's lifetime, not this port, decides when the process may end.
  port.unref();
}

/** Worker thread: a resolver that asks over `port` (served by `serveDns`). */
export function resolveOverPort(port: MessagePort): DnsResolve {
  const waiting = new Map<number, { resolve: (values: unknown[]) => void; reject: (err: Error) => void }>();
  let next = 0;
  port.on('message', (reply: Reply) => {
    const asker = waiting.get(reply.id);
    if (!asker) return;
    waiting.delete(reply.id);
    // Held open only while a question waits: an idle port must not keep the thread alive.
    if (waiting.size === 0) port.unref();
    if ('values' in reply) asker.resolve(reply.values);
    else {
      const { message, code } = reply.error;
      asker.reject(Object.assign(new Error(message), code ? { code } : {}));
    }
  });
  port.unref();
  return (name, rrtype) =>
    new Promise((resolve, reject) => {
      next += 1;
      if (waiting.size === 0) port.ref();
      waiting.set(next, { resolve, reject });
      port.postMessage({ id: next, name, rrtype } satisfies Question);
    });
}
