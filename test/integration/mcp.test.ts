import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNTRUSTED_CLOSE, UNTRUSTED_OPEN } from '../../cli/mcp/tools.js';
import { captureLogs } from '../harness/logs.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import {
  call,
  CONTRACT_TOOLS,
  deliver,
  everyToolOnce,
  expectValidToolList,
  EXTRA_TOOLS,
  INJECTION,
  ok,
} from './mcp-scenario.js';

/** POST /mcp (CONTRACT §11) driven by the SDK's own client over Streamable HTTP. */

let server: TestServer;
let box: Awaited<ReturnType<TestServer['mailbox']>>;
let other: Awaited<ReturnType<TestServer['mailbox']>>;
const clients: Client[] = [];
const logs = captureLogs();

beforeAll(async () => {
  server = await startTestServer(
    {
      signupLimitPerIp: 1000,
      webhookAllow: '127.0.0.1',
      mcpBodyLimit: 256 * 1024,
    },
    { log: logs.log },
  );
  box = await server.mailbox('mcp-home');
  other = await server.mailbox('mcp-other');
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server.close();
});

async function connect(key: string): Promise<Client> {
  const client = new Client({ name: 'loftbox-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  clients.push(client);
  return client;
}

describe('MCP over Streamable HTTP', () => {
  it('lists every contract tool and the extra ones, each with a valid JSON Schema, a description and annotations', async () => {
    await expectValidToolList(await connect(box.key));
  });

  it('calls every tool once on its happy path and once with a bad argument', async () => {
    await everyToolOnce(await connect(box.key), server, box, other);
  });

  it('answers a tool error naming the missing scope for a key without it', async () => {
    const child = await server.api('POST', '/v1/auth/keys', { key: box.key, body: { scopes: ['receive'] } });
    const client = await connect(child.body.api_key);
    const send = await call(client, 'message_send', {
      mailbox_id: box.mailboxId,
      to: ['peer@example.com'],
      subject: 'Nope',
      body_text: 'x',
    });
    expect(send.isError).toBe(true);
    expect(send.json.error).toMatchObject({ code: 'insufficient_scope', status: 403 });
    expect(send.json.error.message).toContain('message:send');
    const keys = await call(client, 'key_list', {});
    expect(keys.json.error.message).toContain('keys:manage');
    const listed = await server.api('GET', `/v1/messages?mailbox_id=${box.mailboxId}&direction=outgoing`, {
      key: box.key,
    });
    expect(listed.body.data).toEqual([]);
    expect((await call(client, 'inbox_list', { mailbox_id: box.mailboxId })).isError).toBe(false);
  });

  it("answers not_found for another organization's ids", async () => {
    const client = await connect(other.key);
    for (const [name, args] of [
      ['agent_get', { agent_id: box.agentId }],
      ['mailbox_list', { agent_id: box.agentId }],
      ['inbox_list', { mailbox_id: box.mailboxId }],
      ['message_send', { mailbox_id: box.mailboxId, to: ['a@example.com'], subject: 's', body_text: 'b' }],
    ] as const) {
      const outcome = await call(client, name, args);
      expect(outcome.isError, name).toBe(true);
      expect(outcome.json.error, name).toMatchObject({ code: 'not_found', status: 404 });
    }
    expect(
      (await call(client, 'inbox_ack', { mailbox_id: other.mailboxId, message_ids: [box.mailboxId] })).json,
    ).toEqual({
      acked: 0,
    });
  });

  it('answers 401 with WWW-Authenticate: Bearer to a missing or bad key, through the SDK and on the wire', async () => {
    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    };
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    for (const auth of [undefined, 'Bearer lb_live_notakey', 'Basic abc']) {
      const res = await server.api('POST', '/mcp', {
        body: initialize,
        headers: auth ? { ...headers, authorization: auth } : headers,
      });
      expect(res.status, auth).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(res.body.error.code).toBe('unauthorized');
    }
    const revoked = await server.api('POST', '/v1/auth/keys', { key: box.key, body: { scopes: ['send'] } });
    await server.api('DELETE', `/v1/auth/keys/${revoked.body.id}`, { key: box.key });
    await expect(connect(revoked.body.api_key)).rejects.toThrow();
    await expect(connect('lb_live_bogus')).rejects.toThrow();
  });

  it('is stateless: GET answers 405, no session id is needed, a foreign Host or Origin is refused, bodies are capped', async () => {
    const get = await server.api('GET', '/mcp', { key: box.key });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const list = { jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} };
    const headers = { accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
    const direct = await server.api('POST', '/mcp', { key: box.key, body: list, headers });
    expect(direct.status).toBe(200);
    expect(direct.headers.get('mcp-session-id')).toBeNull();
    expect(direct.body.result.tools.length).toBe(CONTRACT_TOOLS.length + EXTRA_TOOLS.length);

    const evil = await server.api('POST', '/mcp', {
      key: box.key,
      body: list,
      headers: { ...headers, origin: 'http://evil.test' },
    });
    expect(evil.status).toBe(403);
    const withHost = (target: TestServer, key: string, host: string) =>
      new Promise<number>((resolve, reject) => {
        const url = new URL(target.url);
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path: '/mcp',
            method: 'POST',
            headers: { ...headers, host, authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(list));
      });
    const port = new URL(server.url).port;
    expect(await withHost(server, box.key, `attacker.test:${port}`)).toBe(403);
    expect(await withHost(server, box.key, `127.0.0.1:${port}@attacker.test`)).toBe(403);
    // No LOFTBOX_PUBLIC_URL here: a local client may say localhost.
    expect(await withHost(server, box.key, `localhost:${port}`)).toBe(200);
    const published = await startTestServer({ publicUrl: 'https://mcp.example.test' });
    try {
      const org = await published.signupOrg();
      expect(await withHost(published, org.key, 'mcp.example.test')).toBe(200);
      expect(await withHost(published, org.key, 'mcp.example.test:443')).toBe(200);
      expect(await withHost(published, org.key, `localhost:${new URL(published.url).port}`)).toBe(403);
    } finally {
      await published.close();
    }

    const huge = await server.api('POST', '/mcp', {
      key: box.key,
      headers,
      body: { ...list, params: { pad: 'x'.repeat(300 * 1024) } },
    });
    expect(huge.status).toBe(413);
  });

  it('fences every inbound body as untrusted and warns on a high injection score', async () => {
    await deliver(server, {
      from: 'attacker@example.net',
      to: box.address,
      subject: 'URGENT',
      text: INJECTION,
    });
    await deliver(server, {
      from: 'friend@example.net',
      to: box.address,
      subject: 'Lunch',
      text: 'Noon at <<<the usual>>>?',
    });
    const client = await connect(box.key);
    const inbox = await ok(client, 'inbox_list', { mailbox_id: box.mailboxId });
    const bySubject = new Map<string, Json>(inbox.data.map((m: Json) => [m.subject, m]));
    const hostile = bySubject.get('URGENT');
    const benign = bySubject.get('Lunch');
    expect(hostile.injection_risk.score).toBeGreaterThanOrEqual(0.7);
    expect(hostile._safety_warning).toMatch(/prompt injection/);
    expect(benign._safety_warning).toBeUndefined();
    for (const message of [hostile, benign]) {
      expect(message.body_text.startsWith(`${UNTRUSTED_OPEN}\n`)).toBe(true);
      expect(message.body_text.endsWith(`\n${UNTRUSTED_CLOSE}`)).toBe(true);
    }
    // The sender cannot close the fence early.
    expect(benign.body_text.split(UNTRUSTED_CLOSE)).toHaveLength(2);
    expect(benign.body_text).not.toContain('<<<the usual>>>');
    const event = await ok(client, 'event_list', { event_type: 'message.inbound', limit: 100 });
    const last = event.data.find((e: Json) => e.data.message.subject === 'URGENT');
    expect(last.data.message._safety_warning).toBeTruthy();
    expect(last.data.message.body_text.startsWith(UNTRUSTED_OPEN)).toBe(true);
  });

  it('logs each tool call by name and outcome, never its arguments or the key', async () => {
    const client = await connect(box.key);
    await call(client, 'message_send', {
      mailbox_id: box.mailboxId,
      to: ['peer@example.com'],
      subject: 'Logged subject',
      body_text: 'secret body words',
    });
    await call(client, 'agent_get', { agent_id: other.agentId });
    const calls = logs.lines.filter((l) => l.event === 'mcp.tool_call');
    expect(calls).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ tool: 'message_send', key_id: box.keyId, error: null }),
        expect.objectContaining({ tool: 'agent_get', error: 'not_found' }),
      ]),
    );
    const all = JSON.stringify(logs.lines);
    for (const secret of [box.key, 'secret body words', 'Logged subject']) expect(all).not.toContain(secret);
  });

  it('listens on HTTP with the explicit backlog, so a burst of agents queues instead of being refused', () => {
    const port = new URL(server.url).port;
    // For a listening socket `ss` shows the backlog as Send-Q; the kernel caps it at somaxconn.
    const [state, , sendQ] = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' })
      .trim()
      .split(/\s+/);
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    expect(state).toBe('LISTEN');
    expect(Number(sendQ)).toBe(Math.min(server.deps.config.httpBacklog, somaxconn));
    expect(server.deps.config.httpBacklog).toBeGreaterThan(511);
  });

  it('llms.txt tells agents where the MCP endpoint is', async () => {
    const res = await server.api('GET', '/llms.txt');
    expect(res.text).toContain(`POST ${server.url}/mcp`);
    expect(res.text).toContain('loftbox mcp --print-config');
  });

  it('event_wait returns as soon as mail arrives', async () => {
    const client = await connect(box.key);
    let cursor: string | undefined;
    for (;;) {
      const page = await ok(client, 'event_list', { cursor, limit: 100 });
      if (page.data.length === 0) break;
      cursor = page.next_cursor;
    }
    const waiting = ok(client, 'event_wait', { cursor, event_type: 'message.inbound', timeout_seconds: 60 });
    await deliver(server, { from: 'friend@example.net', to: box.address, subject: 'Wake up', text: 'hi' });
    const woke = await waiting;
    expect(woke.data.map((e: Json) => e.data.message.subject)).toEqual(['Wake up']);
  });
});
