import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface ReceivedHook {
  headers: IncomingHttpHeaders;
  body: string;
  path: string;
}

export interface ReceiverReply {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Hold the answer until this settles (a slow receiver). */
  wait?: Promise<void>;
}

/** A plain node:http webhook receiver on 127.0.0.1:0 that records raw bodies and answers by script. */
export async function startWebhookReceiver(
  script: (hook: ReceivedHook, index: number) => ReceiverReply = () => ({ status: 200 }),
): Promise<{
  url: string;
  received: ReceivedHook[];
  setScript(next: typeof script): void;
  /** The first hook, received already or later, that matches; rejects after `timeoutMs`. */
  waitFor(match: (hook: ReceivedHook) => boolean, timeoutMs?: number): Promise<ReceivedHook>;
  close(): Promise<void>;
}> {
  const received: ReceivedHook[] = [];
  const arrivals = new EventEmitter<{ hook: [ReceivedHook] }>();
  let current = script;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const hook = {
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        path: req.url ?? '/',
      };
      received.push(hook);
      arrivals.emit('hook', hook);
      const reply = current(hook, received.length - 1);
      await reply.wait;
      res.writeHead(reply.status, reply.headers ?? {});
      res.end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    setScript: (next) => (current = next),
    waitFor: (match, timeoutMs = 15_000) =>
      new Promise<ReceivedHook>((resolve, reject) => {
        const already = received.find(match);
        if (already) return resolve(already);
        const onHook = (hook: ReceivedHook) => {
          if (!match(hook)) return;
          clearTimeout(timer);
          arrivals.off('hook', onHook);
          resolve(hook);
        };
        const timer = setTimeout(() => {
          arrivals.off('hook', onHook);
          reject(new Error(`no matching webhook within ${timeoutMs} ms (received ${received.length})`));
        }, timeoutMs);
        arrivals.on('hook', onHook);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
