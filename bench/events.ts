/**
 * Event latency and fan-out, LoftBox in its own process:
 * - p99 from the end of SMTP DATA (the final dot written, by a sender in its own process) to the webhook
 *   receiver and to a WebSocket client (both in this orchestrating process), at 1 and 50 senders; the
 *   targets are absolute, so there is no baseline; measured after 50 unmeasured warm-up messages;
 * - fan-out: 50 stream clients (one separate process) replaying the event log, vs the same client
 *   process against a bare `ws` server (its own process) sending the same number of frames of the same
 *   size.
 *
 *   npm run build && npx tsx bench/events.ts [messages-per-run=100]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { startDnsServer } from '../test/harness/dns.js';
import { apiJson, onboard } from '../test/harness/spawn.js';
import { run, runScript } from './lib/load.js';
import { table, type Row } from './lib/report.js';
import { script } from './lib/scripts.js';
import { startBaseline, startLoftbox, type System } from './lib/system.js';

const FANOUT_CLIENTS = 50;
const WARM_UP_MESSAGES = 50;
const now = () => performance.timeOrigin + performance.now();

/** Nearest rank: of 100 values the p99 is the 99th smallest, not the largest. */
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};

interface FanoutResult {
  start: number;
  end: number;
  frames: number;
  bytes: number;
}

async function fanout(url: string, perClient: number, token?: string): Promise<FanoutResult> {
  const args = [url, FANOUT_CLIENTS, perClient, ...(token ? [token] : [])];
  return runScript<FanoutResult>('ws-clients', args);
}

async function bareFanout(perClient: number, frameBytes: number): Promise<number> {
  const server: System = await startBaseline('bare-ws', [String(perClient), String(frameBytes)]);
  try {
    const result = await fanout(server.url.replace('http', 'ws'), perClient);
    return (perClient / (result.end - result.start)) * 1000;
  } finally {
    await server.stop();
  }
}

export async function events(options: { perRun: number }): Promise<Row[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'loftbox-bench-events-'));
  const dns = await startDnsServer();
  const hookArrivals = new Map<string, number>();
  const hookServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const payload = JSON.parse(Buffer.concat(chunks).toString()) as {
        data: { message: { subject: string } };
      };
      hookArrivals.set(payload.data.message.subject, now());
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
  const hookUrl = `http://127.0.0.1:${(hookServer.address() as { port: number }).port}/hook`;
  const server = await startLoftbox({
    LOFTBOX_DATA_DIR: dataDir,
    LOFTBOX_DEV: '1',
    LOFTBOX_DNS_SERVERS: dns.server,
    LOFTBOX_WEBHOOK_ALLOW: '127.0.0.1',
  });
  try {
    const smtpPort = await server.port('smtp');
    const { key, agentId, address } = await onboard(server, {
      email: 'bench@bench.test',
      localPart: 'events',
    });
    await apiJson(`${server.url}/v1/agents/${agentId}/webhooks`, {
      key,
      body: { url: hookUrl, event_types: ['message.inbound'] },
    });
    const wsBase = `${server.url.replace('http', 'ws')}/v1/ws?event_types=message.inbound`;
    const wsArrivals = new Map<string, number>();
    const latencyClient = await new Promise<WebSocket>((resolve) => {
      const ws = new WebSocket(wsBase, { headers: { authorization: `Bearer ${key}` } });
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as {
          type: string;
          event?: { data: { message: { subject: string } } };
        };
        if (frame.type === 'ready') resolve(ws);
        if (frame.type === 'event' && frame.event) wsArrivals.set(frame.event.data.message.subject, now());
      });
    });

    const latency = async (senders: number, messages = options.perRun, label = `s${senders}`) => {
      const sent = new Map<string, number>();
      const perSender = Math.ceil(messages / senders);
      const sender = await script('load/smtp-latency');
      await run(
        process.execPath,
        [sender, String(smtpPort), address, String(senders), String(perSender), label],
        (line) => {
          const match = /^sent (\S+) (\S+)$/.exec(line);
          if (match) sent.set(match[1] ?? '', Number(match[2]));
        },
      );
      const deadline = Date.now() + 120_000;
      const done = () => [...sent.keys()].every((s) => hookArrivals.has(s) && wsArrivals.has(s));
      while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      return {
        hook: percentile(
          [...sent].map(([s, t]) => (hookArrivals.get(s) ?? NaN) - t),
          99,
        ),
        ws: percentile(
          [...sent].map(([s, t]) => (wsArrivals.get(s) ?? NaN) - t),
          99,
        ),
        count: sent.size,
      };
    };
    // Latency is measured on a warm server, as in any latency benchmark: the first messages after a
    // start also pay for V8 compiling the code they run, which says nothing about the steady state.
    await latency(1, WARM_UP_MESSAGES, 'warm');
    const one = await latency(1);
    const fifty = await latency(50);
    latencyClient.close();

    const logged = WARM_UP_MESSAGES + one.count + fifty.count;
    const real = await fanout(`${wsBase}&after=0`, logged, key);
    const realRate = (logged / (real.end - real.start)) * 1000;
    const frameBytes = Math.round(real.bytes / real.frames);
    const bareRate = await bareFanout(logged, frameBytes);
    return [
      ...(
        [
          [one, '1 sender'],
          [fifty, '50 senders'],
        ] as const
      ).flatMap(([r, who]) => [
        {
          figure: `DATA → webhook p99, ${who} (${r.count} msgs)`,
          value: r.hook,
          unit: 'ms',
          target: { on: 'value', below: 50 },
        } satisfies Row,
        {
          figure: `DATA → WebSocket p99, ${who}`,
          value: r.ws,
          unit: 'ms',
          target: { on: 'value', below: 20 },
        } satisfies Row,
      ]),
      {
        figure: `stream fan-out to ${FANOUT_CLIENTS} clients (${logged} events, ~${frameBytes} B frames)`,
        value: realRate,
        unit: 'events/s',
        baseline: { label: 'bare ws, same frames', value: bareRate },
        target: { on: 'ratio', atLeast: 0.8 },
      },
    ];
  } finally {
    await server.stop();
    await dns.close();
    hookServer.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(table(await events({ perRun: Number(process.argv[2] ?? 100) })));
}
