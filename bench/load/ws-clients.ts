/**
 * Stream fan-out client: opens `clients` WebSocket connections to one URL at once and counts `event`
 * frames until each has received `perClient`. Prints `{"start":…,"end":…,"frames":…,"bytes":…}`.
 *
 *   node dist/bench/load/ws-clients.mjs <url> <clients> <perClient> [bearer-token]
 */
import WebSocket from 'ws';

const [url, clientsArg, perClientArg, token] = process.argv.slice(2) as [string, string, string, string?];
const clients = Number(clientsArg);
const perClient = Number(perClientArg);
const now = () => performance.timeOrigin + performance.now();
let frames = 0;
let bytes = 0;
const start = now();
await Promise.all(
  Array.from(
    { length: clients },
    () =>
      new Promise<void>((resolve, reject) => {
        let mine = 0;
        const ws = new WebSocket(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
        ws.on('error', reject);
        ws.on('message', (data: Buffer) => {
          if (!data.subarray(0, 16).toString().startsWith('{"type":"event"')) return;
          frames += 1;
          bytes += data.length;
          if (++mine === perClient) {
            ws.close();
            resolve();
          }
        });
      }),
  ),
);
process.stdout.write(`${JSON.stringify({ start, end: now(), frames, bytes })}\n`);
