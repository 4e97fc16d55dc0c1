/**
 * Outbound, each system in its own process and loaded from another, against baselines in the same run:
 * - API accept → delivered at a sink (a bare smtp-server process): LoftBox with DKIM, queue and direct
 *   SMTP delivery, loaded by autocannon, vs nodemailer (pooled) sending the same messages to the same sink;
 * - `POST /v1/messages` requests per second (durable 201s) vs bare Koa answering the same JSON body, and
 *   vs bare Koa that first inserts each request into SQLite (WAL, synchronous=FULL), all by autocannon.
 *
 * The HTTP load runs for a time (`seconds`), not a count, so its rate is not rounded to whole seconds
 * (bench/lib/load.ts); nodemailer sends `messages`, timed by the sink.
 *
 *   npm run build && npx tsx bench/outbound.ts [messages=500] [concurrency=20] [seconds=5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startDnsServer } from '../test/harness/dns.js';
import { apiJson, onboard } from '../test/harness/spawn.js';
import { BODY_TEXT } from './load/payload.js';
import { autocannon, runScript, type HttpResult } from './lib/load.js';
import { usagePer, type Usage } from './lib/proc.js';
import { table, type Row } from './lib/report.js';
import { startBaseline, startLoftbox, type StartOptions, type System } from './lib/system.js';

export interface OutboundOptions {
  /** Sent by the nodemailer baseline; also the count of the API load when `seconds` is not given. */
  messages: number;
  /** How long the API load runs (autocannon). */
  seconds?: number;
  concurrency: number;
  loftbox?: StartOptions;
  /** Called when setup is done and the measured load starts (bench/profile.ts cuts startup off there). */
  onLoad?: () => void;
}

const message = { to: ['b@sink.test'], subject: 'bench', body_text: BODY_TEXT };

/** A sink process that reports each message; resolves with the epoch ms at which `count` had arrived. */
export async function startSink(): Promise<{ system: System; arrived(count: number): Promise<number> }> {
  const system = await startBaseline('bare-smtp', ['--report']);
  return {
    system,
    arrived: async (count) =>
      Number((await system.waitFor(new RegExp(`^received ${count} (\\S+)$`, 'm'), 180_000))[1]),
  };
}

async function nodemailerToSink(options: OutboundOptions): Promise<number> {
  const sink = await startSink();
  try {
    const port = await sink.system.port('smtp');
    const sent = await runScript<{ start: number }>('nodemailer-send', [
      port,
      options.messages,
      options.concurrency,
    ]);
    return (options.messages / ((await sink.arrived(options.messages)) - sent.start)) * 1000;
  } finally {
    await sink.system.stop();
  }
}

async function bareKoa(options: OutboundOptions, durable: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'loftbox-bench-koa-'));
  const server = await startBaseline('bare-koa', durable ? ['--durable', join(dir, 'koa.db')] : []);
  try {
    return (await autocannon({ ...apiLoad(options), url: `${server.url}/v1/messages`, body: message })).rate;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The API load: for `seconds` when given, else `messages` requests. */
const apiLoad = (options: OutboundOptions) => ({
  connections: options.concurrency,
  ...(options.seconds ? { seconds: options.seconds } : { amount: options.messages }),
});

/** The built server sending direct to a sink, onboarded, with one message already delivered. */
export interface SendingLoftbox {
  server: System;
  sink: Awaited<ReturnType<typeof startSink>>;
  key: string;
  /** The bench message, from the onboarded mailbox. */
  message: typeof message & { mailbox_id: string };
  stop(): Promise<void>;
}

/**
 * LoftBox delivering direct (DKIM, queue, SMTP) to a fresh sink, `concurrency` deliveries per domain and
 * `pool` SMTP connections kept for reuse. One message is sent and delivered first, so the queue and the
 * DKIM key are warm, as they are for the baselines' sink.
 */
export async function sendingLoftbox(
  name: string,
  options: { concurrency: number; pool: number; loftbox?: StartOptions },
): Promise<SendingLoftbox> {
  const sink = await startSink();
  const dataDir = mkdtempSync(join(tmpdir(), `loftbox-bench-${name}-`));
  const dns = await startDnsServer({
    'sink.test': { MX: [{ exchange: 'mx.sink.test', priority: 10 }] },
    'mx.sink.test': { A: ['127.0.0.1'] },
  });
  const server = await startLoftbox(
    {
      LOFTBOX_DATA_DIR: dataDir,
      LOFTBOX_DEV: '1',
      LOFTBOX_DNS_SERVERS: dns.server,
      LOFTBOX_DELIVERY: 'direct',
      LOFTBOX_OUTBOUND_PORT: String(await sink.system.port('smtp')),
      LOFTBOX_OUTBOUND_ALLOW: '127.0.0.0/8',
      LOFTBOX_DAILY_SEND_LIMIT: '1000000',
      LOFTBOX_MAILBOX_SEND_RATE: '1000000',
      LOFTBOX_DOMAIN_CONCURRENCY: String(options.concurrency),
      LOFTBOX_OUTBOUND_POOL_SIZE: String(options.pool),
      LOFTBOX_QUEUE_POLL: '50ms',
    },
    options.loftbox,
  );
  const stop = async () => {
    await server.stop();
    await sink.system.stop();
    await dns.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const { key, mailboxId } = await onboard(server, { email: 'bench@bench.test', localPart: 'bench' });
    const own = { mailbox_id: mailboxId, ...message };
    await apiJson(`${server.url}/v1/messages`, { key, body: own });
    await sink.arrived(1);
    return { server, sink, key, message: own, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The API load against a sending LoftBox (connections kept for reuse, as many as the nodemailer baseline's
 * pool): every request sends `body` over the onboarded mailbox's message; `then` reads the result before
 * the server stops.
 */
async function underApiLoad<T>(
  name: string,
  options: OutboundOptions,
  body: Record<string, unknown>,
  then: (sending: SendingLoftbox, result: HttpResult, before: Usage) => Promise<T>,
): Promise<T> {
  const sending = await sendingLoftbox(name, {
    concurrency: options.concurrency,
    pool: options.concurrency,
    loftbox: options.loftbox,
  });
  try {
    options.onLoad?.();
    const before = sending.server.usage();
    const result = await autocannon({
      ...apiLoad(options),
      url: `${sending.server.url}/v1/messages`,
      headers: { authorization: `Bearer ${sending.key}` },
      body: { ...sending.message, ...body },
    });
    if (result.failed > 0) throw new Error(`${name}: ${result.failed} sends were not accepted`);
    return await then(sending, result, before);
  } finally {
    await sending.stop();
  }
}

export function loftboxOutbound(
  options: OutboundOptions,
): Promise<{ api: number; endToEnd: number; perMessage: Usage }> {
  return underApiLoad('out', options, {}, async (sending, result, before) => {
    // The warm-up message arrived before the load began.
    const delivered = await sending.sink.arrived(result.ok + 1);
    return {
      api: result.rate,
      endToEnd: (result.ok / (delivered - result.start)) * 1000,
      perMessage: usagePer(before, sending.server.usage(), result.ok),
    };
  });
}

/**
 * `POST /v1/messages` alone: every send is scheduled an hour ahead, so no delivery shares the server's
 * time with the API (bench/profile.ts `post`). Resolves with the rate of durable 201s.
 */
export function loftboxPostOnly(options: OutboundOptions): Promise<number> {
  const sendAt = new Date(Date.now() + 3_600_000).toISOString();
  return underApiLoad('post', options, { send_at: sendAt }, (_, result) => Promise.resolve(result.rate));
}

export async function outbound(options: OutboundOptions): Promise<Row[]> {
  const nodemailer = await nodemailerToSink(options);
  const koa = await bareKoa(options, false);
  const koaDurable = await bareKoa(options, true);
  const real = await loftboxOutbound(options);
  const load = options.seconds ? `${options.seconds} s` : `${options.messages} msgs`;
  const concurrent = `${options.concurrency} concurrent`;
  const size = options.seconds
    ? `${load} of API load, ${concurrent}; nodemailer ${options.messages} msgs`
    : `${load}, ${concurrent}`;
  return [
    {
      figure: `API accept → delivered, DKIM (${size})`,
      value: real.endToEnd,
      unit: 'msg/s',
      baseline: { label: 'nodemailer → same sink', value: nodemailer },
      target: { on: 'value', atLeast: 900 },
    },
    {
      figure: `POST /v1/messages, durable 201 (${load}, ${concurrent}, autocannon)`,
      value: real.api,
      unit: 'req/s',
      baseline: { label: 'bare Koa, same JSON', value: koa },
      target: { on: 'ratio', atLeast: 0.5 },
    },
    {
      figure: 'POST /v1/messages vs a durable insert',
      value: real.api,
      unit: 'req/s',
      baseline: { label: 'bare Koa + SQLite insert (FULL)', value: koaDurable },
    },
    // What limits both: each message's CPU from its request to its delivery, over the process and on the
    // main thread (900 msg/s on two cores leaves at most 2.2 ms a message in all).
    { figure: 'send CPU per message, all threads', value: real.perMessage.cpuMs, unit: 'ms' },
    { figure: 'send CPU per message, main thread', value: real.perMessage.mainThreadCpuMs, unit: 'ms' },
    { figure: 'send write calls per message', value: real.perMessage.writeCalls, unit: 'calls' },
    { figure: 'send kB written per message', value: real.perMessage.writeKb, unit: 'kB' },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await outbound({
    messages: Number(process.argv[2] ?? 500),
    concurrency: Number(process.argv[3] ?? 20),
    seconds: Number(process.argv[4] ?? 5),
  });
  console.log(table(rows));
}
