import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CLI } from '../harness/spawn.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { call, deliver, everyToolOnce, expectValidToolList, ok } from '../integration/mcp-scenario.js';
import { doc, makeCli } from './cli-harness.js';

/** `loftbox mcp`: the same tools over stdio, spawned from the built CLI and driven by the SDK's Client. */

let server: TestServer;
let home: string;
let box: Awaited<ReturnType<TestServer['mailbox']>>;
let other: Awaited<ReturnType<TestServer['mailbox']>>;
const clients: Client[] = [];

beforeAll(async () => {
  assertBuilt();
  server = await startTestServer({ signupLimitPerIp: 1000, webhookAllow: '127.0.0.1' });
  home = mkdtempSync(join(tmpdir(), 'loftbox-cli-mcp-'));
  box = await server.mailbox('stdio-home');
  other = await server.mailbox('stdio-other');
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.close();
  rmSync(home, { recursive: true, force: true });
});

/** `loftbox mcp` as a local agent starts it: key and server from the environment, nothing on argv. */
async function stdio(key: string): Promise<Client> {
  const client = new Client({ name: 'loftbox-e2e', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp'],
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        LOFTBOX_CONFIG_DIR: home,
        LOFTBOX_BASE_URL: server.url,
        LOFTBOX_API_KEY: key,
        CI: '1',
      },
      stderr: 'pipe',
    }),
  );
  clients.push(client);
  return client;
}

describe('loftbox mcp over stdio', () => {
  it('lists the tools with valid schemas and runs every tool once on its happy path and once with a bad argument', async () => {
    const client = await stdio(box.key);
    await expectValidToolList(client);
    await everyToolOnce(client, server, box, other);
  });

  it('answers a missing scope, another org and a bad key as tool errors, and refuses to start without a key', async () => {
    const child = await server.api('POST', '/v1/auth/keys', { key: box.key, body: { scopes: ['receive'] } });
    const narrow = await stdio(child.body.api_key);
    const send = await call(narrow, 'message_send', {
      mailbox_id: box.mailboxId,
      to: ['peer@example.com'],
      subject: 'Nope',
      body_text: 'x',
    });
    expect(send.json.error).toMatchObject({ code: 'insufficient_scope', status: 403 });
    expect(send.json.error.message).toContain('message:send');

    const foreign = await call(await stdio(other.key), 'agent_get', { agent_id: box.agentId });
    expect(foreign.json.error).toMatchObject({ code: 'not_found', status: 404 });

    const bad = await call(await stdio('lb_live_notakey'), 'agent_list', {});
    expect(bad.isError).toBe(true);
    expect(bad.json.error).toMatchObject({ code: 'unauthorized', status: 401 });

    const cli = makeCli({ HOME: home, LOFTBOX_CONFIG_DIR: home, LOFTBOX_BASE_URL: server.url });
    const missing = await cli(['mcp', '--json']);
    expect(missing.code).toBe(4);
    expect(doc(missing)).toMatchObject({ reason: 'not_authenticated' });
  });

  it('prints the snippet that registers it with Claude Code, Codex and Cursor, never with a key', async () => {
    const cli = makeCli({ HOME: home, LOFTBOX_CONFIG_DIR: home, LOFTBOX_API_KEY: box.key });
    const claude = await cli(['mcp', '--print-config', 'claude']);
    expect(claude.stdout).toBe('claude mcp add --scope user loftbox -- loftbox mcp\n');
    const codex = await cli(['mcp', '--print-config', 'codex']);
    expect(codex.stdout).toContain('[mcp_servers.loftbox]\ncommand = "loftbox"\nargs = ["mcp"]');
    const cursor = await cli(['mcp', '--print-config', 'cursor', '--json']);
    expect(JSON.parse(doc(cursor).snippet)).toEqual({
      mcpServers: { loftbox: { command: 'loftbox', args: ['mcp'] } },
    });
    for (const run of [claude, codex, cursor]) expect(run.stdout).not.toContain(box.key);
    const unknown = await cli(['mcp', '--print-config', 'emacs']);
    expect(unknown.code).toBe(2);
  });

  it('runs an agent end to end through MCP only: agent, mailbox, send, a reply over SMTP, inbox, ack, thread', async () => {
    const owner = await server.signupOrg('mcp-flow-owner@example.com', 'MCP flow');
    const client = await stdio(owner.key);
    const agent = await ok(client, 'agent_create', { name: 'Concierge', slug: 'concierge' });
    const mailbox = await ok(client, 'mailbox_create', { agent_id: agent.id, local_part: 'concierge' });
    const start = await ok(client, 'event_list', { event_type: 'message.inbound' });
    const sent = await ok(client, 'message_send', {
      mailbox_id: mailbox.id,
      to: ['guest@example.com'],
      subject: 'Your booking',
      body_text: 'Room 12 is ready. Reply with your arrival time.',
      idempotency_key: 'booking-1',
    });
    expect(sent.status).toBe('queued');

    await deliver(server, {
      from: 'Guest <guest@example.com>',
      to: mailbox.address,
      subject: 'Re: Your booking',
      text: 'Arriving at 18:00.',
      inReplyTo: sent.message_id_header,
      references: [sent.message_id_header],
    });
    const woke = await ok(client, 'event_wait', {
      cursor: start.next_cursor ?? undefined,
      event_type: 'message.inbound',
      timeout_seconds: 30,
    });
    expect(woke.data).toHaveLength(1);
    expect(woke.data[0].mailbox_id).toBe(mailbox.id);

    const inbox = await ok(client, 'inbox_list', { mailbox_id: mailbox.id });
    expect(inbox.data).toHaveLength(1);
    const reply = inbox.data[0];
    expect(reply.body_text).toContain('Arriving at 18:00.');
    expect(reply.thread_id).toBe(sent.thread_id);
    expect(await ok(client, 'inbox_ack', { mailbox_id: mailbox.id, message_ids: [reply.id] })).toEqual({
      acked: 1,
    });
    expect((await ok(client, 'inbox_list', { mailbox_id: mailbox.id })).data).toEqual([]);

    const thread = await ok(client, 'thread_messages', { thread_id: sent.thread_id });
    expect(thread.data.map((m: Json) => [m.direction, m.subject])).toEqual([
      ['outgoing', 'Your booking'],
      ['incoming', 'Re: Your booking'],
    ]);
  });
});
