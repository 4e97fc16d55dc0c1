/**
 * Delivery throughput alone: `messages` sends are accepted with one `send_at`, so the whole backlog comes
 * due at once, and the figure is queued → delivered at the sink (DKIM, lease, SMTP, result records),
 * without the API accepting in the same loop. `pool` sets LOFTBOX_OUTBOUND_POOL_SIZE (0: a new SMTP
 * connection per delivery), for an A/B on one build.
 *
 *   npm run build && npx tsx bench/outbound-drain.ts [messages=500] [concurrency=20] [pool=concurrency]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDnsServer } from '../test/harness/dns.js';
import { apiJson, onboard } from '../test/harness/spawn.js';
import { autocannon } from './lib/load.js';
import { startLoftbox } from './lib/system.js';
import { startSink } from './outbound.js';
import { BODY_TEXT } from './load/payload.js';

const messages = Number(process.argv[2] ?? 500);
const concurrency = Number(process.argv[3] ?? 20);
const pool = Number(process.argv[4] ?? concurrency);
/** Long enough for every send to be accepted first, even on a loaded machine. */
const DUE_IN_MS = 40_000;

const sink = await startSink();
const dataDir = mkdtempSync(join(tmpdir(), 'loftbox-bench-drain-'));
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
    LOFTBOX_DOMAIN_CONCURRENCY: String(concurrency),
    LOFTBOX_OUTBOUND_POOL_SIZE: String(pool),
    LOFTBOX_QUEUE_POLL: '50ms',
  },
  // BENCH_CPU_PROF=<dir>: the server writes a CPU profile there when it stops.
  process.env.BENCH_CPU_PROF
    ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] }
    : {},
);
try {
  const { key, mailboxId } = await onboard(server, { email: 'bench@bench.test', localPart: 'bench' });
  const message = { mailbox_id: mailboxId, to: ['b@sink.test'], subject: 'bench', body_text: BODY_TEXT };
  await apiJson(`${server.url}/v1/messages`, { key, body: message });
  await sink.arrived(1);
  const due = Math.ceil((Date.now() + DUE_IN_MS) / 1000) * 1000;
  const sent = await autocannon({
    url: `${server.url}/v1/messages`,
    connections: concurrency,
    amount: messages,
    headers: { authorization: `Bearer ${key}` },
    body: { ...message, send_at: new Date(due).toISOString() },
  });
  if (sent.failed > 0) throw new Error(`${sent.failed} sends were not accepted`);
  if (Date.now() >= due) throw new Error('the sends took longer than the wait before they came due');
  const delivered = await sink.arrived(messages + 1);
  const rate = (messages / (delivered - due)) * 1000;
  console.log(
    `queued → delivered (${messages} msgs, ${concurrency} per domain, pool ${pool}): ${rate.toFixed(1)} msg/s`,
  );
} finally {
  await server.stop();
  await sink.system.stop();
  await dns.close();
  rmSync(dataDir, { recursive: true, force: true });
}
