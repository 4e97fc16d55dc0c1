import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assertBuilt, spawnServer } from '../harness/spawn.js';

/**
 * Memory (issue 13): the server bundle imports the ACME client, the MCP SDK and the self-signed
 * certificate generator when first used, not at start. Each kept tens of megabytes of code and
 * source text in every server's heap, used by few (ACME, MCP) or once (the first certificate).
 */

const SERVER_BUNDLE = fileURLToPath(new URL('../../dist/server/main.mjs', import.meta.url));
const CLI_BUNDLE = fileURLToPath(new URL('../../dist/cli/loftbox.mjs', import.meta.url));
const WORKERS_BUNDLE = fileURLToPath(new URL('../../dist/server/workers.mjs', import.meta.url));

/** The npm packages whose CommonJS files a fresh Node process holds after importing the bundle. */
function packagesLoadedByImport(): string[] {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(SERVER_BUNDLE)});
    const names = Object.keys(createRequire(import.meta.url).cache).map(
      (file) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(file)?.[1] ?? '',
    );
    console.log(JSON.stringify([...new Set(names)]));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1) ?? '[]') as string[];
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'loftbox-lazy-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('server bundle: optional modules load on first use', () => {
  it('importing the server loads neither acme-client (nor axios), the MCP SDK (ajv) nor selfsigned', () => {
    assertBuilt();
    const loaded = packagesLoadedByImport();
    // A package the server needs at start is there: the check sees CommonJS loads at all.
    expect(loaded).toContain('mailauth');
    for (const lazy of ['acme-client', 'axios', 'ajv', 'selfsigned', 'node-forge']) {
      expect(loaded).not.toContain(lazy);
    }
  });

  it('the built server still generates its self-signed certificate and answers POST /mcp', async () => {
    const server = await spawnServer({ LOFTBOX_DATA_DIR: join(dir, 'data'), LOFTBOX_DEV: '1' });
    try {
      const health = (await (await fetch(`${server.url}/health`)).json()) as Record<string, unknown>;
      expect(JSON.stringify(health)).toContain('self-signed');
      const signup = (await (
        await fetch(`${server.url}/v1/auth/agent-signup`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ owner_email: 'owner@example.com' }),
        })
      ).json()) as { api_key: string };
      const response = await fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${signup.api_key}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { result: { tools: { name: string }[] } };
      expect(body.result.tools.map((t) => t.name)).toContain('agent_create');
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});

describe('bundles: pure ASCII source', () => {
  // V8 keeps each module's source while it runs, as a two-byte string if one character is beyond
  // Latin-1: the CLI bundle cost 10 MB instead of 5 in every CLI and server process.
  it.each([CLI_BUNDLE, SERVER_BUNDLE, WORKERS_BUNDLE])('%s has no character beyond ASCII', (bundle) => {
    assertBuilt();
    const text = readFileSync(bundle, 'utf8');
    expect(text.match(/[\u0080-\uffff]/g) ?? []).toEqual([]);
  });
});
