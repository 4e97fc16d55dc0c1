/**
 * Event latency and fan-out, against baselines in the same run:
 * - p50/p99 from the end of SMTP DATA (the final dot written) to the webhook receiver and to a
 *   WebSocket client, with 1 and with 50 concurrent senders;
 * - fan-out throughput (events/s reaching 50 WebSocket clients) vs a bare `ws` broadcast to 50 clients.
 *
 *   npm run build && npx tsx bench/events.ts [messages-per-run=200]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { startDnsServer } from '../test/harness/dns.js';
import { apiJson, onboard, spawnServer } from '../test/harness/spawn.js';
import { Session } from './smtp-load.js';

const perRun = Number(process.argv[2] ?? 200);
const FANOUT_CLIENTS = 50;

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

async function bareBroadcast(count: number): Promise<number> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
  let received = 0;
  const clients = await Promise.all(
    Array.from(
      { length: FANOUT_CLIENTS },
      () =>
        new Promise<WebSocket>((resolve) => {
          const ws = new WebSocket(url);
          ws.on('message', () => (received += 1));
          ws.on('open', () => resolve(ws));
        }),
    ),
  );
  const payload = JSON.stringify({
    type: 'event',
    event: { id: 'evt_x', type: 'message.inbound', data: { message: { subject: 'x'.repeat(1500) } } },
    cursor: '1',
  });
  const started = performance.now();
  for (let i = 0; i < count; i++) for (const client of wss.clients) client.send(payload);
  while (received < count * FANOUT_CLIENTS) await new Promise((resolve) => setTimeout(resolve, 1));
  const rate = count / ((performance.now() - started) / 1000);
  for (const client of clients) client.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  wss.close();
  return rate;
}

const dataDir = mkdtempSync(join(tmpdir(), 'loftbox-bench-events-'));
const dns = await startDnsServer();
const hookArrivals = new Map<string, number>();
const hookServer = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const subject = (
      JSON.parse(Buffer.concat(chunks).toString()) as { data: { message: { subject: string } } }
    ).data.message.subject;
    hookArrivals.set(subject, performance.now());
    res.writeHead(204).end();
  });
});
await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
const hookUrl = `http://127.0.0.1:${(hookServer.address() as { port: number }).port}/hook`;

const server = await spawnServer({
  LOFTBOX_DATA_DIR: dataDir,
  LOFTBOX_DEV: '1',
  LOFTBOX_LOG_LEVEL: 'info',
  LOFTBOX_DNS_SERVERS: dns.server,
  LOFTBOX_WEBHOOK_ALLOW: '127.0.0.1',
  LOFTBOX_SIGNUP_LIMIT_PER_IP: '1000',
});
try {
  const smtpPort = Number((await server.waitFor(/^listening smtp \S+:(\d+)$/m))[1]);
  const { key, agentId, address } = await onboard(server, { email: 'bench@bench.test', localPart: 'events' });
  await apiJson(`${server.url}/v1/agents/${agentId}/webhooks`, {
    key,
    body: { url: hookUrl, event_types: ['message.inbound'] },
  });

  const wsArrivals = new Map<string, number>();
  let fanoutReceived = 0;
  const wsBase = `${server.url.replace('http', 'ws')}/v1/ws?event_types=message.inbound`;
  const openClient = (onEvent: (subject: string) => void) =>
    new Promise<WebSocket>((resolve) => {
      const ws = new WebSocket(wsBase, { headers: { authorization: `Bearer ${key}` } });
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as {
          type: string;
          event?: { data: { message: { subject: string } } };
        };
        if (frame.type === 'ready') resolve(ws);
        if (frame.type === 'event' && frame.event) onEvent(frame.event.data.message.subject);
      });
    });
  const latencyClient = await openClient((subject) => wsArrivals.set(subject, performance.now()));

  const run = async (senders: number, label: string) => {
    const sent = new Map<string, number>();
    const perSender = Math.ceil(perRun / senders);
    await Promise.all(
      Array.from({ length: senders }, async (_, s) => {
        const session = await Session.open(smtpPort);
        await session.expect(1);
        session.write('EHLO bench.test\r\n');
        await session.expect(1);
        for (let i = 0; i < perSender; i++) {
          const subject = `${label}-${s}-${i}`;
          session.write(`MAIL FROM:<a@outside.test>\r\nRCPT TO:<${address}>\r\nDATA\r\n`);
          await session.expect(3);
          session.write(`Subject: ${subject}\r\n\r\nhello\r\n.\r\n`);
          sent.set(subject, performance.now());
          await session.expect(1);
        }
        session.close();
      }),
    );
    const deadline = Date.now() + 60_000;
    const done = () => [...sent.keys()].every((s) => hookArrivals.has(s) && wsArrivals.has(s));
    while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    const hook = [...sent].map(([s, t]) => (hookArrivals.get(s) ?? NaN) - t);
    const ws = [...sent].map(([s, t]) => (wsArrivals.get(s) ?? NaN) - t);
    console.log(
      `${label.padEnd(12)} webhook p50 ${percentile(hook, 50).toFixed(1)} ms, p99 ${percentile(hook, 99).toFixed(1)} ms; ` +
        `websocket p50 ${percentile(ws, 50).toFixed(1)} ms, p99 ${percentile(ws, 99).toFixed(1)} ms`,
    );
  };
  await run(1, '1 sender');
  await run(50, '50 senders');

  // Fan-out: 50 stream clients replaying the log from the start (no SMTP in the way).
  const events = perRun * 2;
  const started = performance.now();
  const replayers = await Promise.all(
    Array.from(
      { length: FANOUT_CLIENTS },
      () =>
        new Promise<WebSocket>((resolve) => {
          const ws = new WebSocket(`${wsBase}&after=0`, { headers: { authorization: `Bearer ${key}` } });
          ws.on('message', (data) => {
            if (String(data).startsWith('{"type":"event"')) fanoutReceived += 1;
          });
          ws.on('open', () => resolve(ws));
        }),
    ),
  );
  while (fanoutReceived < events * FANOUT_CLIENTS) await new Promise((resolve) => setTimeout(resolve, 1));
  const fanoutRate = events / ((performance.now() - started) / 1000);
  for (const ws of [...replayers, latencyClient]) ws.close();
  const bareRate = await bareBroadcast(events);
  console.log(
    `fan-out to ${FANOUT_CLIENTS} clients: ${fanoutRate.toFixed(0)} events/s; bare ws broadcast ${bareRate.toFixed(0)} events/s; ratio ${(fanoutRate / bareRate).toFixed(2)}`,
  );
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  await dns.close();
  hookServer.close();
  rmSync(dataDir, { recursive: true, force: true });
}
