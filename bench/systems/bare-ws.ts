/**
 * Baseline for stream fan-out: a bare `ws` server that, like `GET /v1/ws?after=0` replaying the event log,
 * sends each client `count` event frames of `frameBytes` bytes (the mean size LoftBox's frames had) when
 * it connects.
 *
 *   node dist/bench/systems/bare-ws.mjs <count> <frameBytes>
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const count = Number(process.argv[2] ?? 400);
const frameBytes = Number(process.argv[3] ?? 1500);
const frame = (i: number) => {
  const envelope = {
    type: 'event',
    event: { id: `evt_${i}`, type: 'message.inbound', data: { pad: '' } },
    cursor: String(i),
  };
  const pad = Math.max(0, frameBytes - JSON.stringify(envelope).length);
  return JSON.stringify({ ...envelope, event: { ...envelope.event, data: { pad: 'x'.repeat(pad) } } });
};
const server = createServer();
const wss = new WebSocketServer({ server });
wss.on('connection', (ws) => {
  for (let i = 1; i <= count; i++) {
    ws.send(frame(i));
  }
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`listening http 127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => {
  wss.close();
  server.close(() => process.exit(0));
});
