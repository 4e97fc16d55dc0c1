import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CLI } from '../harness/spawn.js';
import { startTestServer, type TestServer } from '../harness/server.js';

// util-linux `script` gives the CLI a pseudo-terminal; without it the test is skipped, visibly.
const hasScript = spawnSync('sh', ['-c', 'command -v script'], { stdio: 'ignore' }).status === 0;
if (!hasScript)
  console.warn('cli-tty: `script` (util-linux) is not installed; the pseudo-TTY test is skipped.');

let server: TestServer;
let home: string;

beforeAll(async () => {
  if (!hasScript) return;
  assertBuilt();
  server = await startTestServer();
  home = mkdtempSync(join(tmpdir(), 'loftbox-cli-tty-'));
});

afterAll(async () => {
  await server?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe.skipIf(!hasScript)('register on a terminal', () => {
  it('prompts for the 6-digit code and finishes with the code typed in', async () => {
    const email = 'tty-owner@cli-e2e.example';
    const child = spawn(
      'script',
      ['-qfec', `${process.execPath} ${CLI} register --owner-email ${email}`, '/dev/null'],
      {
        // No CI here: prompting is exactly what is under test.
        env: {
          PATH: process.env.PATH ?? '',
          HOME: home,
          LOFTBOX_CONFIG_DIR: home,
          LOFTBOX_BASE_URL: server.url,
          NO_COLOR: '1',
          TERM: 'xterm',
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let screen = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const prompted = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no code prompt on the terminal:\n${screen}`)), 20_000);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        screen += chunk;
        if (screen.includes(`Enter the 6-digit code sent to ${email}:`)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    try {
      await prompted;
      child.stdin.write(`${server.lastCode(email)}\r`);
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    expect(screen).toContain('A 6-digit verification code was sent to');
    expect(screen).toContain('Registered:');
  });
});
