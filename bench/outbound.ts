/**
 * Outbound throughput, against baselines measured in the same run:
 * - messages per second from API accept to delivered at a local sink (DKIM, queue, direct SMTP
 *   delivery; the built server as its own process) vs nodemailer sending the same messages straight
 *   to the same sink;
 * - API send requests per second (201s, durable) vs a bare Koa JSON handler.
 *
 *   npm run build && npx tsx bench/outbound.ts [messages=1000] [concurrency=20]
 */
import { bodyParser } from '@koa/bodyparser';
import Koa from 'koa';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { startDnsServer } from '../test/harness/dns.js';
import { apiJson, onboard, spawnServer } from '../test/harness/spawn.js';

const total = Number(process.argv[2] ?? 1000);
const concurrency = Number(process.argv[3] ?? 20);
const text = 'The quick brown fox jumps over the lazy dog. '.repeat(40);

async function startSink(): Promise<{ port: number; count(): number; close(): Promise<void> }> {
  let received = 0;
  const sink = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    maxClients: 1000,
    onData(stream, _session, callback) {
      stream.on('data', () => {});
      stream.on('end', () => {
        received += 1;
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  return {
    port: (sink.server.address() as { port: number }).port,
    count: () => received,
    close: () => new Promise<void>((resolve) => sink.close(resolve)),
  };
}

async function inParallel(count: number, work: (i: number) => Promise<void>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await work(next++);
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

async function nodemailerBaseline(port: number): Promise<number> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    pool: true,
    maxConnections: concurrency,
    ignoreTLS: true,
  });
  const rate = await inParallel(total, async (i) => {
    await transport.sendMail({ from: 'a@bench.test', to: 'b@sink.test', subject: `bench ${i}`, text });
  });
  transport.close();
  return rate;
}

async function koaBaseline(): Promise<number> {
  const app = new Koa();
  app.use(bodyParser());
  app.use((ctx) => {
    ctx.status = 201;
    ctx.body = { ok: true, received: (ctx.request.body as { subject?: string }).subject };
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  const rate = await inParallel(total, async (i) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: ['b@sink.test'], subject: `bench ${i}`, body_text: text }),
    });
    await res.arrayBuffer();
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return rate;
}

async function loftbox(
  sinkPort: number,
  delivered: () => number,
): Promise<{ api: number; endToEnd: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'loftbox-bench-out-'));
  const dns = await startDnsServer({
    'sink.test': { MX: [{ exchange: 'mx.sink.test', priority: 10 }] },
    'mx.sink.test': { A: ['127.0.0.1'] },
  });
  const server = await spawnServer({
    LOFTBOX_DATA_DIR: dataDir,
    LOFTBOX_DEV: '1',
    LOFTBOX_LOG_LEVEL: 'info',
    LOFTBOX_DNS_SERVERS: dns.server,
    LOFTBOX_DELIVERY: 'direct',
    LOFTBOX_OUTBOUND_PORT: String(sinkPort),
    LOFTBOX_OUTBOUND_ALLOW: '127.0.0.0/8',
    LOFTBOX_DAILY_SEND_LIMIT: '1000000',
    LOFTBOX_MAILBOX_SEND_RATE: '1000000',
    LOFTBOX_DOMAIN_CONCURRENCY: String(concurrency),
    LOFTBOX_QUEUE_POLL: '50ms',
  });
  try {
    const { key, mailboxId } = await onboard(server, { email: 'bench@bench.test', localPart: 'bench' });
    const before = delivered();
    const started = performance.now();
    const api = await inParallel(total, async (i) => {
      const res = await apiJson(`${server.url}/v1/messages`, {
        key,
        body: { mailbox_id: mailboxId, to: ['b@sink.test'], subject: `bench ${i}`, body_text: text },
      });
      if (!res.id) throw new Error(`send failed: ${JSON.stringify(res)}`);
    });
    while (delivered() - before < total) await new Promise((resolve) => setTimeout(resolve, 5));
    return { api, endToEnd: total / ((performance.now() - started) / 1000) };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    await dns.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const sink = await startSink();
const nodemailerRate = await nodemailerBaseline(sink.port);
const koaRate = await koaBaseline();
const real = await loftbox(sink.port, sink.count);
await sink.close();
console.log(`messages: ${total}, concurrency: ${concurrency}`);
console.log(`nodemailer straight to the sink:        ${nodemailerRate.toFixed(0)} msg/s`);
console.log(`loftbox API accept -> delivered (DKIM): ${real.endToEnd.toFixed(0)} msg/s`);
console.log(`ratio loftbox / nodemailer:             ${(real.endToEnd / nodemailerRate).toFixed(2)}`);
console.log(`bare Koa JSON POST:                     ${koaRate.toFixed(0)} req/s`);
console.log(`loftbox POST /v1/messages (201):        ${real.api.toFixed(0)} req/s`);
console.log(`ratio loftbox / bare Koa:               ${(real.api / koaRate).toFixed(2)}`);
