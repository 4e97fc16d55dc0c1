/**
 * Inbound throughput: messages fully processed per second (accepted, authenticated, parsed, threaded,
 * scored, stored, event written) by the real server — the built bundle, as its own process — under
 * concurrent SMTP sessions, against a bare smtp-server that discards, measured in the same run with the
 * same client. Also the server's RSS after the run.
 *
 *   npm run build && npx tsx bench/inbound.ts [messages=2000] [connections=20]
 */
import Database from 'better-sqlite3';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { startDnsServer } from '../test/harness/dns.js';
import { spawnServer } from '../test/harness/spawn.js';
import { sendLoad } from './smtp-load.js';

const total = Number(process.argv[2] ?? 2000);
const connections = Number(process.argv[3] ?? 20);
const body = `${'The quick brown fox jumps over the lazy dog. '.repeat(20)}\r\n`.repeat(8);
const sender = 'bench@sender.test';

async function bare(): Promise<number> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      stream.on('data', () => {});
      stream.on('end', () => callback());
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  const result = await sendLoad({ port, total, connections, from: sender, to: 'b@sink.test', body });
  await new Promise<void>((resolve) => server.close(resolve));
  return result.accepted / result.seconds;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function loftbox(): Promise<{ rate: number; acceptRate: number; rss: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'loftbox-bench-'));
  const dns = await startDnsServer({ 'sender.test': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] } });
  const server = await spawnServer({
    LOFTBOX_DATA_DIR: dataDir,
    LOFTBOX_DNS_SERVERS: dns.server,
    LOFTBOX_LOG_LEVEL: 'warn',
    LOFTBOX_SIGNUP_LIMIT_PER_IP: '1000',
  });
  try {
    const smtpPort = Number((await server.waitFor(/^listening smtp \S+:(\d+)$/m))[1]);
    // An unclaimed agent account receives from its owner only, so the owner is the sender.
    const signup = (await (
      await fetch(`${server.url}/v1/auth/agent-signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ owner_email: sender }),
      })
    ).json()) as { mailbox_address: string };
    const started = performance.now();
    const sent = await sendLoad({
      port: smtpPort,
      total,
      connections,
      from: sender,
      to: signup.mailbox_address,
      body,
    });
    const db = new Database(join(dataDir, 'loftbox.db'), { readonly: true });
    const count = db.prepare("SELECT COUNT(*) AS n FROM messages WHERE direction = 'incoming'");
    while ((count.get() as { n: number }).n < sent.accepted) await new Promise((r) => setTimeout(r, 5));
    const seconds = (performance.now() - started) / 1000;
    db.close();
    return {
      rate: sent.accepted / seconds,
      acceptRate: sent.accepted / sent.seconds,
      rss: rssMb(server.child.pid ?? 0),
    };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    await dns.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const baseline = await bare();
const real = await loftbox();
console.log(`messages: ${total}, connections: ${connections}`);
console.log(`bare smtp-server (discard):      ${baseline.toFixed(0)} msg/s`);
console.log(`loftbox accepted (250, durable): ${real.acceptRate.toFixed(0)} msg/s`);
console.log(`loftbox fully processed:         ${real.rate.toFixed(0)} msg/s`);
console.log(`ratio processed / bare:          ${(real.rate / baseline).toFixed(2)}`);
console.log(`server rss after run:            ${real.rss.toFixed(0)} MB`);
