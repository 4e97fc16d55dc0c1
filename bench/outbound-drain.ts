/**
 * Delivery throughput alone: `messages` sends are accepted with one `send_at`, so the whole backlog comes
 * due at once, and the figure is queued → delivered at the sink (DKIM, lease, SMTP, result records),
 * without the API accepting in the same loop. `pool` sets LOFTBOX_OUTBOUND_POOL_SIZE (0: a new SMTP
 * connection per delivery), for an A/B on one build.
 *
 *   npm run build && npx tsx bench/outbound-drain.ts [messages=500] [concurrency=20] [pool=concurrency]
 */
import { autocannon } from './lib/load.js';
import { sendingLoftbox } from './outbound.js';

const messages = Number(process.argv[2] ?? 500);
const concurrency = Number(process.argv[3] ?? 20);
const pool = Number(process.argv[4] ?? concurrency);
/** Long enough for every send to be accepted first, even on a loaded machine. */
const DUE_IN_MS = 40_000;

const sending = await sendingLoftbox('drain', {
  concurrency,
  pool,
  // BENCH_CPU_PROF=<dir>: the server writes a CPU profile there when it stops.
  loftbox: process.env.BENCH_CPU_PROF
    ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] }
    : {},
});
try {
  const due = Math.ceil((Date.now() + DUE_IN_MS) / 1000) * 1000;
  const sent = await autocannon({
    url: `${sending.server.url}/v1/messages`,
    connections: concurrency,
    amount: messages,
    headers: { authorization: `Bearer ${sending.key}` },
    body: { ...sending.message, send_at: new Date(due).toISOString() },
  });
  if (sent.failed > 0) throw new Error(`${sent.failed} sends were not accepted`);
  if (Date.now() >= due) throw new Error('the sends took longer than the wait before they came due');
  const delivered = await sending.sink.arrived(messages + 1);
  const rate = (messages / (delivered - due)) * 1000;
  console.log(
    `queued → delivered (${messages} msgs, ${concurrency} per domain, pool ${pool}): ${rate.toFixed(1)} msg/s`,
  );
} finally {
  await sending.stop();
}
