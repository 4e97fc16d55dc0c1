/**
 * Inbound throughput: messages fully processed per second (accepted, authenticated, parsed, threaded,
 * stored, event written) by the real server under concurrent SMTP sessions, against a bare
 * smtp-server that discards, measured in the same run with the same client. Also RSS after the run.
 *
 *   npm run build && npx tsx bench/inbound.ts [messages=2000] [connections=20]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import type * as ServerBundle from '../server/index.js';
import { startDnsServer } from '../test/harness/dns.js';
import { sendLoad } from './smtp-load.js';

// Benchmarks measure the shipped bundle (`npm run build` first), not the sources.
const bundle = new URL('../dist/server/main.mjs', import.meta.url).href;
const { loadConfig, startServer } = (await import(bundle)) as typeof ServerBundle;

const total = Number(process.argv[2] ?? 2000);
const connections = Number(process.argv[3] ?? 20);
const body = `${'The quick brown fox jumps over the lazy dog. '.repeat(20)}\r\n`.repeat(8);

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
  const result = await sendLoad({ port, total, connections, from: 'a@sender.test', to: 'b@sink.test', body });
  await new Promise<void>((resolve) => server.close(resolve));
  return result.accepted / result.seconds;
}

async function loftbox(): Promise<{ rate: number; acceptRate: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'loftbox-bench-'));
  const dns = await startDnsServer({ 'sender.test': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] } });
  const { config } = loadConfig({ env: {} });
  const running = await startServer({
    config: { ...config, dataDir, httpPort: 0, smtpPort: 0, dnsServers: dns.server, logLevel: 'silent' },
    announce: () => {},
  });
  const api = async (path: string, key: string | null, payload: unknown) => {
    const res = await fetch(`${running.httpUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify(payload),
    });
    return (await res.json()) as Record<string, string>;
  };
  const signup = await api('/v1/auth/agent-signup', null, { owner_email: 'bench@sender.test' });
  const org = running.deps.repos.organizations.get(signup.org_id ?? '');
  if (org) running.deps.repos.organizations.markVerified(org.id, new Date().toISOString());
  const to = signup.mailbox_address ?? '';

  const started = performance.now();
  const sent = await sendLoad({
    port: running.smtpPort,
    total,
    connections,
    from: 'a@sender.test',
    to,
    body,
  });
  const count = running.deps.db.prepare("SELECT COUNT(*) AS n FROM messages WHERE direction = 'incoming'");
  while ((count.get() as { n: number }).n < sent.accepted) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - started) / 1000;
  await running.close();
  await dns.close();
  rmSync(dataDir, { recursive: true, force: true });
  return { rate: sent.accepted / seconds, acceptRate: sent.accepted / sent.seconds };
}

const baseline = await bare();
const real = await loftbox();
const rssMb = process.memoryUsage().rss / 1024 / 1024;
console.log(`messages: ${total}, connections: ${connections}`);
console.log(`bare smtp-server (discard):      ${baseline.toFixed(0)} msg/s`);
console.log(`loftbox accepted (250, durable): ${real.acceptRate.toFixed(0)} msg/s`);
console.log(`loftbox fully processed:         ${real.rate.toFixed(0)} msg/s`);
console.log(`ratio processed / bare:          ${(real.rate / baseline).toFixed(2)}`);
console.log(`rss after run:                   ${rssMb.toFixed(0)} MB`);
