import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type ServerConfig } from '../../server/config.js';
import type { Deps } from '../../server/deps.js';
import { ManualClock } from '../../server/lib/clock.js';
import { createLogger, type Logger } from '../../server/lib/logger.js';
import { startServer, type RunningServer } from '../../server/main.js';
import { startDnsServer, type DnsZoneServer } from './dns.js';

export interface TestServer {
  url: string;
  deps: Deps;
  clock: ManualClock;
  running: RunningServer;
  dataDir: string;
  /** The loopback DNS zone every lookup of this server goes to. */
  dns: DnsZoneServer;
  smtpPort: number;
  /** fetch against the server; `key` adds the Bearer header, objects are sent as JSON. */
  api(
    method: string,
    path: string,
    options?: { key?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<ApiResponse>;
  /** The newest 6-digit code mailed to `email` (read from the system mail the server queued). */
  lastCode(email: string): string;
  /** System mail (codes, welcome, claim) queued for `email`, newest first. */
  systemMail(email: string): { kind: string; subject: string; raw: Buffer }[];
  /** Owner signup + verify: a verified org and its admin key. */
  signupOrg(email?: string, name?: string): Promise<{ key: string; orgId: string; keyId: string }>;
  /** A verified org with an agent and a mailbox at `<localPart>@<mail domain>`. */
  mailbox(localPart: string): Promise<{
    key: string;
    keyId: string;
    orgId: string;
    agentId: string;
    mailboxId: string;
    address: string;
  }>;
  close(): Promise<void>;
}

/** Tests inspect arbitrary JSON from the API. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: Json;
  text: string;
}

let counter = 0;

/** A real server in this process: temp data dir, HTTP on 127.0.0.1 port 0, a manual clock. */
export async function startTestServer(
  overrides: Partial<ServerConfig> = {},
  options: { log?: Logger } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'loftbox-test-'));
  const { config } = loadConfig({ env: {} });
  // Whole seconds: stored timestamps have second precision, so tests can compare exactly.
  const clock = new ManualClock(new Date(Math.floor(Date.now() / 1000) * 1000));
  const dns = await startDnsServer();
  const running = await startServer({
    config: {
      ...config,
      dataDir,
      httpPort: 0,
      smtpPort: 0,
      submissionPort: 0,
      submissionTlsPort: 0,
      imapPort: 0,
      imapsPort: 0,
      dnsServers: dns.server,
      logLevel: 'silent',
      jobIntervalMs: 3_600_000,
      // Fake MX hosts listen on loopback, which direct delivery refuses to dial unless allowed.
      outboundAllow: '127.0.0.0/8',
      ...overrides,
    },
    clock,
    log: options.log ?? createLogger('silent'),
    announce: () => {},
  });
  const url = running.httpUrl;

  const api: TestServer['api'] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.key) headers.authorization = `Bearer ${options.key}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${url}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  };

  const systemMail: TestServer['systemMail'] = (email) =>
    (
      running.deps.db
        .prepare(
          `SELECT m.subject, m.metadata, m.raw_hash FROM messages m JOIN system_identity s ON s.org_id = m.org_id
           WHERE m.to_addrs = ? ORDER BY m.id DESC`,
        )
        .all(JSON.stringify([{ address: email.toLowerCase() }])) as {
        subject: string;
        metadata: string;
        raw_hash: string;
      }[]
    ).map((m) => ({
      kind: String((JSON.parse(m.metadata) as { system_kind?: string }).system_kind),
      subject: m.subject,
      raw: running.deps.repos.blobs.get(m.raw_hash) ?? Buffer.alloc(0),
    }));

  const lastCode = (email: string): string => {
    const mail = systemMail(email).find((m) => m.kind === 'signup_code' || m.kind === 'claim_code');
    const match = mail && /\b(\d{6})\b/.exec(mail.subject);
    if (!match?.[1]) throw new Error(`no code mailed to ${email}`);
    return match[1];
  };

  const signupOrg: TestServer['signupOrg'] = async (email, name) => {
    counter += 1;
    const address = email ?? `owner${counter}-${Date.now()}@example.com`;
    const signup = await api('POST', '/v1/auth/signup', {
      body: { email: address, organization_name: name ?? `Org ${counter}` },
    });
    if (signup.status !== 201) throw new Error(`signup failed: ${signup.text}`);
    const verify = await api('POST', '/v1/auth/signup/verify', {
      body: { email: address, verification_token: lastCode(address) },
    });
    if (verify.status !== 200) throw new Error(`verify failed: ${verify.text}`);
    return { key: verify.body.api_key, orgId: verify.body.organization.id, keyId: verify.body.api_key_id };
  };

  const mailbox: TestServer['mailbox'] = async (localPart) => {
    const org = await signupOrg();
    const agent = await api('POST', '/v1/agents', { key: org.key, body: { name: `Agent ${localPart}` } });
    const box = await api('POST', `/v1/agents/${agent.body.id}/mailboxes`, {
      key: org.key,
      body: { local_part: localPart },
    });
    if (box.status !== 201) throw new Error(`mailbox failed: ${box.text}`);
    return { ...org, agentId: agent.body.id, mailboxId: box.body.id, address: box.body.address };
  };

  return {
    url,
    deps: running.deps,
    clock,
    running,
    dataDir,
    dns,
    smtpPort: running.smtpPort,
    api,
    lastCode,
    signupOrg,
    systemMail,
    mailbox,
    async close() {
      await running.close();
      await dns.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
