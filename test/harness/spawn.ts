import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli/loftbox.mjs', import.meta.url));

export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does).`);
}

export interface SpawnedServer {
  child: ChildProcessByStdio<null, Readable, Readable>;
  url: string;
  /** Everything the process wrote to stdout so far. */
  output(): string;
  /** Resolves when a stdout line matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the built CLI's `server` command as a real child process and waits for its http listener. */
export async function spawnServer(env: Record<string, string>, args: string[] = []): Promise<SpawnedServer> {
  assertBuilt();
  const child = spawn(process.execPath, [CLI, 'server', ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      LOFTBOX_HTTP_PORT: '0',
      LOFTBOX_SMTP_PORT: '0',
      LOFTBOX_SUBMISSION_PORT: '0',
      LOFTBOX_SUBMISSION_TLS_PORT: '0',
      LOFTBOX_IMAP_PORT: '0',
      LOFTBOX_IMAPS_PORT: '0',
      // Nothing listens there: lookups fail fast on loopback instead of leaving the machine.
      LOFTBOX_DNS_SERVERS: '127.0.0.1:9',
      LOFTBOX_JOB_INTERVAL_MS: '3600000',
      ...env,
    },
    // The server reads no input. A piped stdin also made the bundled server's import of @koa/router fail
    // ("debugModule is not a function") where node_modules is a symlink, as in helper worktrees.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { output, waitFor, exited } = watchOutput(child, 'server', 15_000);
  const listening = await waitFor(/^listening http (\S+):(\d+)$/m);
  return { child, url: `http://${listening[1]}:${listening[2]}`, output, waitFor, exited };
}

/**
 * Watches a child's stdout for lines: `waitFor` resolves on the first match (already written or still
 * to come) and rejects at its timeout or when the process exits first, with stderr in the message.
 */
export function watchOutput(
  child: ChildProcessByStdio<null, Readable, Readable>,
  label: string,
  defaultTimeoutMs: number,
): Pick<SpawnedServer, 'output' | 'waitFor' | 'exited'> {
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve(m: RegExpExecArray): void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const waiter of [...waiters]) {
      const match = waiter.pattern.exec(stdout);
      if (match) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitFor = (pattern: RegExp, timeoutMs = defaultTimeoutMs) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const existing = pattern.exec(stdout);
      if (existing) return resolve(existing);
      const timer = setTimeout(
        () =>
          reject(
            new Error(`${label}: timed out waiting for ${pattern}; stdout:\n${stdout}\nstderr:\n${stderr}`),
          ),
        timeoutMs,
      );
      waiters.push({
        pattern,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
      void exited.then(({ code }) => {
        clearTimeout(timer);
        reject(new Error(`${label} exited (${code}) before ${pattern}; stderr:\n${stderr}`));
      });
    });
  return { output: () => stdout, waitFor, exited };
}

/** Runs the built CLI to completion. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  assertBuilt();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** JSON over HTTP to a spawned server: POST when there is a body, GET otherwise. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- callers read arbitrary API JSON
export async function apiJson(url: string, init: { key?: string; body?: unknown } = {}): Promise<any> {
  const res = await fetch(url, {
    method: init.body ? 'POST' : 'GET',
    headers: {
      ...(init.body ? { 'content-type': 'application/json' } : {}),
      ...(init.key ? { authorization: `Bearer ${init.key}` } : {}),
    },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  return res.json();
}

/**
 * Onboards through the public API of a server started with LOFTBOX_DEV=1: owner signup with the code
 * read from its log, then an agent with one mailbox.
 */
export async function onboard(
  server: SpawnedServer,
  options: { email: string; localPart: string },
): Promise<{ key: string; agentId: string; mailboxId: string; address: string }> {
  const { email } = options;
  await apiJson(`${server.url}/v1/auth/signup`, { body: { email, organization_name: `Org of ${email}` } });
  const escaped = email.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const code = (await server.waitFor(new RegExp(`verification code for ${escaped}: (\\d{6})`)))[1];
  const { api_key: key } = await apiJson(`${server.url}/v1/auth/signup/verify`, {
    body: { email, verification_token: code },
  });
  const agent = await apiJson(`${server.url}/v1/agents`, {
    key,
    body: { name: `Agent ${options.localPart}` },
  });
  const mailbox = await apiJson(`${server.url}/v1/agents/${agent.id}/mailboxes`, {
    key,
    body: { local_part: options.localPart },
  });
  return { key, agentId: agent.id, mailboxId: mailbox.id, address: mailbox.address };
}
