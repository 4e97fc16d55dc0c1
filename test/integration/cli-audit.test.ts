import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultFetch } from '../../cli/client.js';
import { memoryConfigStore } from '../../cli/config.js';
import type { CliDeps } from '../../cli/context.js';
import { EXIT } from '../../cli/exit-codes.js';
import { runCli } from '../../cli/program.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';

/** `loftbox audit` (issue 14 D) in process, against a real server over loopback HTTP. */
let server: TestServer;
let org: Awaited<ReturnType<TestServer['signupOrg']>>;

beforeAll(async () => {
  server = await startTestServer();
  org = await server.signupOrg();
});
afterAll(async () => {
  await server.close();
});

async function loftbox(argv: string[], key = org.key) {
  let stdout = '';
  let stderr = '';
  const deps: CliDeps = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    stdin: Readable.from([]),
    stdinKind: 'other',
    isTTY: { stdout: false, stderr: false },
    env: { LOFTBOX_BASE_URL: server.url, LOFTBOX_API_KEY: key },
    config: memoryConfigStore({}, '/fake/config.json'),
    fetch: defaultFetch,
    openWebSocket: () => {
      throw new Error('no WebSocket here');
    },
    prompts: {
      input: async () => '',
      password: async () => '',
      confirm: async () => false,
    },
    sleep: async () => {},
    signal: new AbortController().signal,
    hostname: 'devbox.example',
    cwd: '/tmp',
    runServer: async () => {},
  };
  const code = await runCli(argv, deps);
  return { code, stdout, stderr };
}

describe('loftbox audit', () => {
  it('lists, filters and pages the audit log as JSON and as a table', async () => {
    const first = await server.api('POST', '/v1/agents', { key: org.key, body: { name: 'One' } });
    await server.api('POST', '/v1/agents', { key: org.key, body: { name: 'Two' } });
    await server.api('DELETE', `/v1/agents/${first.body.id}`, { key: org.key });

    const all = await loftbox(['audit', '--json']);
    expect(all.code, all.stderr + all.stdout).toBe(EXIT.ok);
    const doc = JSON.parse(all.stdout) as Json;
    expect(doc.data.map((e: Json) => e.action)).toEqual(['agent.delete', 'agent.create', 'agent.create']);

    const deletes = JSON.parse(
      (await loftbox(['audit', '--action', 'agent.delete', '--json'])).stdout,
    ) as Json;
    expect(deletes.data).toHaveLength(1);
    const about = JSON.parse((await loftbox(['audit', '--target', first.body.id, '--json'])).stdout) as Json;
    expect(about.data.map((e: Json) => e.action)).toEqual(['agent.delete', 'agent.create']);
    const mine = JSON.parse(
      (await loftbox(['audit', '--actor', org.keyId, '--since', '1h', '--json'])).stdout,
    );
    expect(mine.data).toHaveLength(3);

    const page = JSON.parse((await loftbox(['audit', '--limit', '2', '--json'])).stdout) as Json;
    expect(page.data).toHaveLength(2);
    expect(page.nextCursor).toEqual(expect.any(String));
    const rest = JSON.parse(
      (await loftbox(['audit', '--limit', '2', '--cursor', page.nextCursor, '--json'])).stdout,
    );
    expect(rest.data).toHaveLength(1);

    const table = await loftbox(['audit']);
    expect(table.stdout).toMatch(/ACTION/);
    expect(table.stdout).toContain('agent.delete');
  });

  it('refuses a bad --since as a usage error and a key without org:manage with the API’s 403', async () => {
    expect((await loftbox(['audit', '--since', 'yesterday'])).code).toBe(EXIT.usage);
    const child = await server.api('POST', '/v1/auth/keys', { key: org.key, body: { scopes: ['send'] } });
    const refused = await loftbox(['audit', '--json'], child.body.api_key);
    expect(refused.code).not.toBe(EXIT.ok);
    expect(JSON.parse(refused.stdout)).toMatchObject({ status: 'error' });
  });
});
