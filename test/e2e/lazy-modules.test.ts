import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assertBuilt, spawnServer } from '../harness/spawn.js';

/**
 * Memory (issue 13): the server bundle imports the ACME client, the MCP SDK and the self-signed
 * certificate generator when first used, not at start. Each kept tens of megabytes of code and
 * source text in every server's heap, used by few (ACME, MCP) or once (the first certificate). So do
 * the MIME parser, composer and DKIM signer, which the worker threads use and the main thread seldom
 * does, and the DMARC report readers.
 */

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const SERVER_BUNDLE = join(DIST, 'server/main.mjs');
const CLI_ENTRY = join(DIST, 'cli/loftbox.mjs');
const CLI_STANDALONE = join(DIST, 'cli/standalone/loftbox.mjs');

/** Every built module: the CLI's entry, its chunks and its self-contained build; the server and workers. */
function builtModules(): string[] {
  assertBuilt();
  return ['cli', 'server'].flatMap((dir) =>
    readdirSync(join(DIST, dir), { recursive: true })
      .map(String)
      .filter((name) => name.endsWith('.mjs'))
      .map((name) => join(DIST, dir, name)),
  );
}

/** What a built module imports statically (`import … from "…"`), as written: relative paths and packages. */
function staticImports(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^import\s+(?:[^;]*?\sfrom\s+)?"([^"]+)";?$/gm)].map(
    ([, spec]) => spec ?? '',
  );
}

/** A module and every module it imports statically, transitively: what loading it parses. */
function staticClosure(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const spec of staticImports(file).filter((s) => s.startsWith('.'))) {
    staticClosure(resolve(dirname(file), spec), seen);
  }
  return seen;
}

/** The packages a built module imports statically: ES modules, which the require cache does not show. */
function staticPackageImports(file: string): string[] {
  return staticImports(file).filter((spec) => !spec.startsWith('.'));
}

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
    for (const lazy of ['acme-client', 'axios', 'ajv', 'selfsigned', 'node-forge', 'mailparser', 'yauzl']) {
      expect(loaded).not.toContain(lazy);
    }
  });

  it('the server bundle imports the composer, the DKIM signer and the XML parser (ES modules) on first use', () => {
    assertBuilt();
    const imports = staticPackageImports(SERVER_BUNDLE);
    // The check sees the bundle's imports at all: delivery's SMTP client is one of them.
    expect(imports).toContain('nodemailer/lib/smtp-connection');
    for (const lazy of [
      'nodemailer/lib/mail-composer',
      'nodemailer/lib/dkim',
      'fast-xml-parser',
      'mailparser',
    ]) {
      expect(imports).not.toContain(lazy);
    }
    // The workers parse, compose and sign every message: their bundle imports the parser where it parses,
    // and their warm-up (tasks.ts) takes all three before the first message.
    const workerBundle = readFileSync(join(DIST, 'server/workers.mjs'), 'utf8');
    expect(workerBundle).toContain('import("mailparser")');
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
  it('no built module has a character beyond ASCII', () => {
    const modules = builtModules();
    expect(modules).toContain(CLI_STANDALONE);
    const offending = modules.filter((file) => /[\u0080-\uffff]/.test(readFileSync(file, 'utf8')));
    expect(offending).toEqual([]);
  });
});

describe('the CLI: `loftbox server` does not parse the CLI proper', () => {
  // V8 keeps the source and parse data of every module a process loads: the CLI's 5 MB cost each server
  // about 25 MB of resident memory for commands it never runs.
  it("the package's entry loads a few kB before it starts the server; the commands wait in a chunk", () => {
    assertBuilt();
    const parsed = [...staticClosure(CLI_ENTRY)];
    const bytes = parsed.reduce((sum, file) => sum + statSync(file).size, 0);
    expect(bytes).toBeLessThan(64 * 1024);
    expect(statSync(CLI_STANDALONE).size).toBeGreaterThan(1024 * 1024);
    // The commands are there, behind the dynamic import that only other commands take.
    expect(readFileSync(CLI_ENTRY, 'utf8')).toMatch(/import\("\.\/chunks\/program-[\w-]+\.mjs"\)/);
  });

  it('the self-contained CLI an installer gets is one file that imports nothing of ours', () => {
    assertBuilt();
    expect([...staticClosure(CLI_STANDALONE)]).toEqual([CLI_STANDALONE]);
    expect(readFileSync(CLI_STANDALONE, 'utf8')).not.toMatch(/import\("\.\//);
  });
});
